"""Every operation's result, recorded on HIPS autograd and on chainrule, and the
chainrule operations whose result is autograd's but for the last bits.

Used by ``hips_bitwise.py hvp --trace``. Only recorded operations are seen (those
whose result needs a gradient); to see the operations of a whole Hessian-vector
product, ``hips_bitwise.py`` runs it inside one more reverse pass, so that both of
its passes are recorded (``recording``). The two libraries build different graphs
(different primitives, different intermediate values), so operations are not paired
one to one: a chainrule result is paired with every autograd result of its shape, and
called

- *alike* when one of them is equal to it bit for bit (+0 and -0 count as equal);
- *near* when none is, but one is within ``NEAR`` relative: the same quantity,
  rounded differently;
- neither (a value autograd never forms, such as a partial sum of another order).

A *root* is a near result none of whose operands is near, of an operation that
computed something (a transpose or a reshape only moves numbers): where a
difference is born rather than carried. Roots are what a fix must change.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as onp

#: Relative distance under which two results are the same quantity, rounded apart.
NEAR = 1e-9


@dataclass
class Op:
    name: str
    value: onp.ndarray
    operands: list = field(default_factory=list)  # arrays (copies), or other arguments


@dataclass
class Recording:
    """The operations one library ran, in the order it ran them."""

    ops: list[Op] = field(default_factory=list)


def _snapshot(v: object) -> object:
    # A copy: autograd adds gradient shares in place into arrays it recorded earlier.
    return onp.array(v, copy=True) if isinstance(v, onp.ndarray | onp.generic) else v


@contextlib.contextmanager
def recording(chainrule: bool) -> Iterator[Recording]:
    """Record every operation the library runs (its result and operands) while open."""
    rec = Recording()
    if chainrule:
        # Every recorded operation makes its node through ``new_node``, with its
        # result in the caller's local ``out`` (as chainrule's anomaly mode reads it).
        import chainrule.autograd.function  # noqa: F401  (one of new_node's users)
        from chainrule.autograd import node as node_module
        from chainrule.autograd.anomaly import _NODE_USERS

        plain = node_module.new_node

        def new_node(prim, parents, args, ans, params):
            out = ans if ans is not None else sys._getframe(1).f_locals.get("out")
            rec.ops.append(Op(prim.name, _snapshot(out), [_snapshot(a) for a in args]))
            return plain(prim, parents, args, ans, params)

        modules = [sys.modules[m] for m in _NODE_USERS if m in sys.modules]
        for m in modules:
            m.new_node = new_node
        try:
            yield rec
        finally:
            for m in modules:
                m.new_node = plain
    else:
        import autograd.core as core
        from autograd.tracer import getval

        plain_init = core.VJPNode.__init__

        def init(self, value, fun, args, kwargs, parent_argnums, parents):
            plain_init(self, value, fun, args, kwargs, parent_argnums, parents)
            name = getattr(fun, "__name__", type(fun).__name__)
            operands = [_snapshot(getval(a)) for a in args]
            rec.ops.append(Op(name, _snapshot(getval(value)), operands))

        core.VJPNode.__init__ = init
        try:
            yield rec
        finally:
            core.VJPNode.__init__ = plain_init


def _floats(v: object) -> bool:
    return isinstance(v, onp.ndarray) and v.dtype.kind == "f"


class Matcher:
    """Pairs chainrule results with autograd's of the same shape."""

    def __init__(self, autograd_ops: list[Op]) -> None:
        self.by_shape: dict[tuple, list[tuple[int, Op]]] = {}
        self.exact: set[tuple] = set()
        for i, op in enumerate(autograd_ops):
            if _floats(op.value):
                self.by_shape.setdefault(op.value.shape, []).append((i, op))
                self.exact.add(self._key(op.value))

    @staticmethod
    def _key(a: onp.ndarray) -> tuple:
        return a.shape, a.dtype.str, (a + 0.0).tobytes()  # + 0.0 turns -0 into +0

    def pair(self, value: object) -> tuple[str, int, Op | None, float]:
        """("alike" | "near" | "none", autograd's index, its op, relative distance)."""
        if not _floats(value):
            return "none", -1, None, 0.0
        if self._key(value) in self.exact:
            return "alike", -1, None, 0.0
        best: tuple[str, int, Op | None, float] = ("none", -1, None, 0.0)
        for i, op in self.by_shape.get(value.shape, []):
            if not value.size:
                continue
            scale = max(float(onp.max(onp.abs(op.value))), 1e-300)
            r = float(onp.max(onp.abs(value - op.value))) / scale
            if r < NEAR and (best[0] == "none" or r < best[3]):
                best = ("near", i, op, r)
        return best


def _moved(op: Op) -> bool:
    """True for a result whose every element is an element of its one operand (a
    transpose, a reshape, an index): it moved numbers and computed none, so a
    closeness to some autograd result is a coincidence of values."""
    floats = [a for a in op.operands if _floats(a)]
    return len(floats) == 1 and bool(onp.isin(op.value, floats[0]).all())


@dataclass
class Root:
    """A chainrule operation where a difference from autograd is born."""

    index: int  # in chainrule's recording
    op: Op
    counterpart_index: int  # in autograd's recording
    counterpart: Op
    distance: float  # relative
    operands: list[str]  # each operand: alike, none, or its type
    count: int = 1  # how many times this operation, at these shapes, was one


def roots(chainrule_ops: list[Op], autograd_ops: list[Op]) -> list[Root]:
    """The root differences, in chainrule's order; the same operation at the same
    shapes (a loop over mixture components) is listed once, with a count."""
    m = Matcher(autograd_ops)
    found: dict[tuple, Root] = {}
    for i, op in enumerate(chainrule_ops):
        kind, j, counterpart, distance = m.pair(op.value)
        if kind != "near":
            continue
        kinds = [m.pair(a)[0] if _floats(a) else type(a).__name__ for a in op.operands]
        if "near" in kinds or _moved(op):
            continue  # carried from an operand, not born here
        shapes = tuple(a.shape for a in op.operands if _floats(a))
        signature = (op.name, op.value.shape, shapes, counterpart.name)
        if signature in found:
            found[signature].count += 1
        else:
            found[signature] = Root(i, op, j, counterpart, distance, kinds)
    return list(found.values())
