"""Collectives as primitives: ``all_reduce``, whose derivative is another all-reduce.

On every rank r, ``y = all_reduce(x, op="sum")`` is y = x_0 + ... + x_{N-1}. The
loss of data-parallel training is the sum (or the mean) of the ranks' losses, so
d loss / d x_r = sum over ranks s of d loss_s / d y_s: the gradient arriving at
each rank's copy of ``y``, all-reduced with the same op. The rule is written with
the primitive itself, so higher orders come as for any other op; the forward and
the rules communicate, so every rank must run them in the same order (as every
MPI collective requires). The communication itself is
:mod:`chainrule.distributed.comm`, imported when the primitive first runs, so
importing chainrule never imports MPI.
"""

from __future__ import annotations

from typing import Any

from chainrule.ops.primitive import Primitive, call


def _all_reduce_forward(x: Any, op: str = "sum") -> Any:
    from chainrule.distributed import comm

    comm.check_op(op, "all_reduce")
    comm.check_same_spec(comm._contiguous(x), "all_reduce")
    return comm.allreduce_array(x, op)


def _all_reduce_rule(g: Any, ans: Any, x: Any, op: str = "sum") -> Any:
    # Linear, and its own adjoint: the same all-reduce, of the gradient (or tangent).
    return call(all_reduce, g, op=op)


all_reduce = Primitive(
    "all_reduce",
    _all_reduce_forward,
    vjp=_all_reduce_rule,
    jvp=_all_reduce_rule,
    formula="1 (the gradient is all-reduced over ranks)",
    doc="Sum (op='sum') or mean (op='mean') of a tensor over the MPI ranks, on every rank.",
)
