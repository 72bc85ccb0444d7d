"""Reading a recorded graph: its vertices in evaluation order, values and names.

A :class:`Vertex` is either a leaf (an input, or another tensor that requires
grad) or a recorded primitive application. Values come from the graph itself:
a node's output is saved in every consumer's ``args`` (and the root's is the
tensor), so nothing is recomputed.

:func:`backpropagate` runs the chain rule over the vertices with the rules of the
primitive table, keeping what a person wants to see at every step: the upstream
gradient, each local derivative and each product passed down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.autograd.node import Node
from chainrule.explain.errors import ExplainError
from chainrule.ops.broadcast import sum_to
from chainrule.ops.primitive import PRIMITIVES
from chainrule.tensor import Tensor, name_of


@dataclass
class Const:
    """A forward input through which no gradient flows (a number, an array, None)."""

    value: Any


@dataclass(eq=False)
class Vertex:
    name: str
    kind: str  # "input", "leaf" or "node"
    op: str | None = None
    node: Node | None = None
    leaf: Tensor | None = None
    value: np.ndarray | None = None
    # per positional input: a Vertex or a Const
    args: list[Vertex | Const] = field(default_factory=list)
    params: dict | None = None
    # filled by backpropagate
    grad: np.ndarray | None = None
    # (position, input vertex, local derivative value, upstream x local)
    edges: list[tuple[int, Vertex, np.ndarray | None, np.ndarray | None]] = field(
        default_factory=list
    )
    # contributions received: (consumer vertex, position in it, value)
    received: list[tuple[Vertex, int, np.ndarray]] = field(default_factory=list)

    @property
    def is_leaf(self) -> bool:
        return self.kind != "node"

    @property
    def var_inputs(self) -> list[tuple[int, Vertex]]:
        return [(i, a) for i, a in enumerate(self.args) if isinstance(a, Vertex)]

    @property
    def builtin_op(self) -> str | None:
        """The op's name when it is the built-in primitive of that name, else None: a
        user's primitive may share a built-in's name (its own ``exp``) but not its
        meaning, so only built-ins get the named formulas and symbolic forms."""
        if self.node is None or self.op is None:
            return self.op
        return self.op if PRIMITIVES.get(self.op) is self.node.prim else None

    def __repr__(self) -> str:
        return f"<Vertex {self.name} {self.op or self.kind}>"


_NAME_ORDER = "fghijklmnopqrstuvwabcd"
_LEAF_ORDER = "abcdpqrstuvw"


def _name_source(taken: set[str], order: str = _NAME_ORDER):
    suffix = ""
    n = 0
    while True:
        for letter in order:
            name = letter + suffix
            if name not in taken:
                taken.add(name)
                yield name
        n += 1
        suffix = str(n)


def topological(root: Node) -> list[Node | Tensor]:
    """Nodes and leaf tensors reachable from ``root``, inputs before their consumers.

    Depth first, visiting inputs in argument order, without recursion: for the
    seed's sigmoid this is ``z, f, g, h, i``, the order a person evaluates it in.
    """
    order: list[Node | Tensor] = []
    done: set[int] = set()
    stack: list[tuple[Any, int]] = [(root, 0)]
    onstack = {id(root)}
    while stack:
        obj, i = stack[-1]
        parents = obj.parents if isinstance(obj, Node) else ()
        while i < len(parents) and (
            parents[i] is None or id(parents[i]) in done or id(parents[i]) in onstack
        ):
            i += 1
        if i < len(parents):
            stack[-1] = (obj, i + 1)
            child = parents[i]
            onstack.add(id(child))
            stack.append((child, 0))
            continue
        stack.pop()
        onstack.discard(id(obj))
        done.add(id(obj))
        order.append(obj)
    return order


def read_graph(
    out: Tensor, inputs: dict[str, Tensor] | None = None
) -> tuple[list[Vertex], Vertex | None]:
    """The vertices of the graph that produced ``out``, in evaluation order, named.

    ``inputs`` names leaf tensors (explain's inputs). Other leaves and the nodes
    get the name given with ``cr.name`` or a short one: f, g, h, i, ... skipping
    names already taken. Returns (vertices, the vertex of ``out``).
    """
    inputs = inputs or {}
    by_id: dict[int, Vertex] = {}
    input_ids = {id(t): n for n, t in inputs.items()}
    taken = set(inputs)
    if out._node is None:
        if id(out) in input_ids:
            v = Vertex(input_ids[id(out)], "input", leaf=out, value=out.data)
            return [v], v
        return [], None
    order = topological(out._node)
    # user-given names first, so generated ones avoid them
    for obj in order:
        label = obj.extra.get("name") if isinstance(obj, Node) and obj.extra else None
        if isinstance(obj, Tensor) and id(obj) not in input_ids:
            label = name_of(obj)
        if label:
            taken.add(label)
    leaf_names = _name_source(taken, _LEAF_ORDER)
    leaf_label: dict[int, str] = {}
    for obj in order:  # leaves first, so the nodes still read f, g, h, ...
        if isinstance(obj, Tensor) and id(obj) not in input_ids and not name_of(obj):
            leaf_label[id(obj)] = next(leaf_names)
    names = _name_source(taken)
    used: set[str] = set(inputs)
    vertices = []
    for obj in order:
        if isinstance(obj, Tensor):
            if id(obj) in input_ids:
                v = Vertex(input_ids[id(obj)], "input", leaf=obj, value=obj.data)
            else:
                label = name_of(obj) or leaf_label.get(id(obj))
                if not label or label in used:
                    label = next(names)
                v = Vertex(label, "leaf", leaf=obj, value=obj.data)
        else:
            label = obj.extra.get("name") if obj.extra else None
            if not label or label in used:
                label = next(names)
            v = Vertex(label, "node", op=obj.prim.name, node=obj, params=obj.params)
        used.add(v.name)
        by_id[id(obj)] = v
        vertices.append(v)
    # arguments and values: a node's value is in each consumer's saved args
    for v in vertices:
        node = v.node
        if node is None:
            continue
        raw = node.args
        for i, p in enumerate(node.parents):
            if p is None:
                v.args.append(Const(None if raw is None else raw[i]))
            else:
                src = by_id[id(p)]
                v.args.append(src)
                if src.value is None and raw is not None:
                    src.value = np.asarray(raw[i])
        if raw is not None and node.parents and len(raw) > len(node.parents):
            v.args.extend(Const(a) for a in raw[len(node.parents) :])
    root = by_id[id(out._node)]
    root.value = out.data
    for v in vertices:
        if v.value is None and v.node is not None and v.node.ans is not None:
            v.value = v.node.ans
    return vertices, root


def backpropagate(vertices: list[Vertex], root: Vertex, seed: np.ndarray) -> None:
    """The chain rule, vertex by vertex in reverse, with the primitive table's rules.

    Sets each vertex's ``grad`` (d out / d vertex), its ``edges`` (local derivative
    and the product passed to each input) and ``received`` (what each consumer sent).
    The local derivative of an array op is the rule applied to ones: d sum(out)/d in,
    which for an elementwise op is its elementwise derivative.
    """
    for v in vertices:
        v.grad = None
        v.edges = []
        v.received = []
    root.grad = seed
    for v in reversed(vertices):
        node = v.node
        if node is None:
            continue
        if node.args is None:
            raise ExplainError(
                "the graph's saved values were released by a backward pass; explain or "
                "draw it before calling backward(), or pass retain_graph=True"
            )
        g = v.grad if v.grad is not None else np.zeros_like(v.value)
        ones = np.ones_like(v.value)
        params = node.params or {}
        for i, src in v.var_inputs:
            rule = node.prim.vjps[i]
            with np.errstate(all="ignore"):
                passed = rule(g, node.ans, *node.args, **params)
                local = rule(ones, node.ans, *node.args, **params)
            shape = np.shape(src.value)
            dtype = np.asarray(src.value).dtype
            passed = None if passed is None else sum_to(np.asarray(passed), shape).astype(dtype)
            local = None if local is None else sum_to(np.asarray(local), shape).astype(dtype)
            v.edges.append((i, src, local, passed))
            if passed is not None:
                src.received.append((v, i, passed))
                with np.errstate(all="ignore"):  # inf + inf near overflow is the answer
                    src.grad = passed.copy() if src.grad is None else src.grad + passed
    for v in vertices:
        if v.grad is None and v.value is not None:
            v.grad = np.zeros_like(np.asarray(v.value, dtype=float))
