"""Pytrees: nested containers of arrays, flattened to a list of leaves and back.

A *pytree* is a leaf or a node holding pytrees. Nodes are lists, tuples, named
tuples, dicts (their key order is kept) and ``None`` (a node with no children, as
in JAX). Everything else is a leaf: Tensors, NumPy arrays, numbers. This is the one
place that knows these shapes; the function transforms (``cr.grad`` and its
siblings), ``chainrule.misc.flatten`` and the optimizers of ``chainrule.misc`` use it.

>>> import chainrule as cr
>>> leaves, treedef = cr.tree.flatten({"w": [1.0, 2.0], "b": (3.0, None)})
>>> leaves
[1.0, 2.0, 3.0]
>>> cr.tree.unflatten(treedef, [x * 10 for x in leaves])
{'w': [10.0, 20.0], 'b': (30.0, None)}
>>> cr.tree.map(lambda a, b: a + b, [1, (2, 3)], [10, (20, 30)])
[11, (22, 33)]
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

__all__ = ["TreeDef", "flatten", "leaves", "map", "structure", "unflatten"]

_LEAF = "leaf"  # the kind of a leaf's treedef
_NONE = "none"  # None: a node without children


class TreeDef:
    """The structure of a pytree without its leaves; equal structures compare equal.

    ``kind`` is the node's type (``list``, ``tuple``, ``dict``, a namedtuple class),
    or ``"leaf"``, or ``"none"``; ``keys`` are a dict's keys in order.

    >>> import chainrule as cr
    >>> treedef = cr.tree.structure({"w": [1, 2], "b": 3})
    >>> treedef.num_leaves
    3
    """

    __slots__ = ("kind", "keys", "children", "num_leaves", "_hash")

    def __init__(self, kind: Any, keys: tuple, children: tuple[TreeDef, ...]) -> None:
        self.kind = kind
        self.keys = keys
        self.children = children
        self.num_leaves = 1 if kind is _LEAF else sum(c.num_leaves for c in children)
        self._hash = hash((kind, keys, children))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TreeDef)
            and self._hash == other._hash
            and self.kind == other.kind
            and self.keys == other.keys
            and self.children == other.children
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"TreeDef({_describe(self)})"


_LEAF_DEF = TreeDef(_LEAF, (), ())
_NONE_DEF = TreeDef(_NONE, (), ())


def _describe(d: TreeDef) -> str:
    if d.kind is _LEAF:
        return "*"
    if d.kind is _NONE:
        return "None"
    inner = [_describe(c) for c in d.children]
    if issubclass(d.kind, dict):
        body = ", ".join(f"{k!r}: {s}" for k, s in zip(d.keys, inner))
        return "{" + body + "}" if d.kind is dict else f"{d.kind.__name__}({{{body}}})"
    if d.kind is list:
        return "[" + ", ".join(inner) + "]"
    if d.kind is tuple:
        return "(" + ", ".join(inner) + ("," if len(inner) == 1 else "") + ")"
    return f"{d.kind.__name__}(" + ", ".join(inner) + ")"


def _is_namedtuple(kind: type) -> bool:
    return issubclass(kind, tuple) and hasattr(kind, "_fields") and hasattr(kind, "_make")


def _build(obj: Any, out: list, sort_keys: bool) -> TreeDef:
    kind = type(obj)
    if kind is list or kind is tuple:
        return TreeDef(kind, (), tuple([_build(v, out, sort_keys) for v in obj]))
    if obj is None:
        return _NONE_DEF
    if isinstance(obj, dict):
        keys = tuple(sorted(obj)) if sort_keys else tuple(obj)
        return TreeDef(kind, keys, tuple([_build(obj[k], out, sort_keys) for k in keys]))
    if isinstance(obj, tuple | list):
        if isinstance(obj, tuple) and not _is_namedtuple(kind):
            kind = tuple  # another tuple subclass: rebuilt as a plain tuple
        elif isinstance(obj, list):
            kind = list
        return TreeDef(kind, (), tuple([_build(v, out, sort_keys) for v in obj]))
    out.append(obj)
    return _LEAF_DEF


def flatten(tree: Any, *, sort_keys: bool = False) -> tuple[list, TreeDef]:
    """``(leaves, treedef)``: the leaves of ``tree`` in order, and its structure.

    Dicts give their values in key order (their insertion order, or sorted with
    ``sort_keys=True``, as HIPS autograd's ``flatten`` does).

    >>> import chainrule as cr
    >>> cr.tree.flatten({"w": [1, 2], "b": (3, None)})
    ([1, 2, 3], TreeDef({'w': [*, *], 'b': (*, None)}))
    """
    out: list = []
    if type(tree) is not list and type(tree) is not tuple and not _is_node(tree):
        return [tree], _LEAF_DEF  # the common case of one array: no walk
    treedef = _build(tree, out, sort_keys)
    return out, treedef


def _is_node(obj: Any) -> bool:
    return obj is None or isinstance(obj, list | tuple | dict)


def unflatten(treedef: TreeDef, leaves: Any) -> Any:
    """The pytree of structure ``treedef`` whose leaves are ``leaves`` (in order).

    >>> import chainrule as cr
    >>> leaves, treedef = cr.tree.flatten({"w": [1, 2], "b": 3})
    >>> cr.tree.unflatten(treedef, [10, 20, 30])
    {'w': [10, 20], 'b': 30}
    """
    items = list(leaves)
    if len(items) != treedef.num_leaves:
        raise ValueError(
            f"tree.unflatten: the structure {_describe(treedef)} has {treedef.num_leaves} "
            f"leaves, got {len(items)}"
        )
    return _rebuild(treedef, iter(items))


def _rebuild(d: TreeDef, it: Any) -> Any:
    kind = d.kind
    if kind is _LEAF:
        return next(it)
    if kind is _NONE:
        return None
    if kind is list or kind is tuple:
        return kind([_rebuild(c, it) for c in d.children])
    if issubclass(kind, dict):
        pairs = [(k, _rebuild(c, it)) for k, c in zip(d.keys, d.children)]
        return dict(pairs) if kind is dict else kind(pairs)
    return kind._make([_rebuild(c, it) for c in d.children])  # a namedtuple


def leaves(tree: Any) -> list:
    """The leaves of ``tree``, in the order :func:`flatten` gives them.

    >>> import chainrule as cr
    >>> cr.tree.leaves([1, (2, {"a": 3})])
    [1, 2, 3]
    """
    return flatten(tree)[0]


def structure(tree: Any) -> TreeDef:
    """The :class:`TreeDef` of ``tree``.

    >>> import chainrule as cr
    >>> cr.tree.structure([1, (2, 3)])
    TreeDef([*, (*, *)])
    """
    return flatten(tree)[1]


def map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """``tree`` with each leaf ``x`` replaced by ``fn(x, *others)``, where ``others``
    are the leaves at the same place in each tree of ``rest`` (same structure).

    >>> import chainrule as cr
    >>> cr.tree.map(lambda x: x * 2, {"w": [1, 2], "b": 3})
    {'w': [2, 4], 'b': 6}
    >>> cr.tree.map(lambda a, b: a + b, [1, (2, 3)], [10, (20, 30)])
    [11, (22, 33)]
    """
    flat, treedef = flatten(tree)
    others = []
    for i, other in enumerate(rest):
        more, other_def = flatten(other)
        if other_def != treedef:
            raise ValueError(
                f"tree.map: tree {i + 1} of rest has structure {_describe(other_def)}, "
                f"not {_describe(treedef)} as the first"
            )
        others.append(more)
    return unflatten(treedef, builtins.map(fn, flat, *others))
