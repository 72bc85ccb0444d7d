"""Shape primitives: they move elements around, so their rules move gradients back."""

from __future__ import annotations

import numpy as np

from chainrule.ops.broadcast import sum_to
from chainrule.ops.primitive import Primitive, call, linear_jvp


def _reshape_forward(x, shape):
    return np.reshape(x, shape)


reshape = Primitive(
    "reshape",
    _reshape_forward,
    vjp=lambda g, ans, x, shape: g.reshape(x.shape),
    formula="1",
    doc="The same elements in a new shape (one entry may be -1).",
)


def _transpose_vjp(g, ans, x, axes=None):
    if axes is None:
        return g.transpose()
    # The inverse permutation; axes may be negative, as NumPy allows.
    return g.transpose(tuple(int(i) for i in np.argsort([a % x.ndim for a in axes])))


transpose = Primitive(
    "transpose",
    np.transpose,
    vjp=_transpose_vjp,
    formula="1",
    doc="Axes permuted by ``axes`` (default: reversed).",
)

expand_dims = Primitive(
    "expand_dims",
    np.expand_dims,
    vjp=lambda g, ans, x, axis: g.reshape(x.shape),
    formula="1",
    doc="A new axis of length 1 inserted at ``axis``.",
)

squeeze = Primitive(
    "squeeze",
    np.squeeze,
    vjp=lambda g, ans, x, axis=None: g.reshape(x.shape),
    formula="1",
    doc="Axes of length 1 removed (all of them, or those in ``axis``).",
)


def _sum_to_vjp(g, ans, x, shape):
    return sum_to(g, x.shape)


broadcast_to = Primitive(
    "broadcast_to",
    np.broadcast_to,
    vjp=_sum_to_vjp,
    formula="1",
    doc="x repeated along new or length-1 axes to ``shape`` (gradient: summed back).",
)


def _concatenate_forward(*xs, axis=0):
    return np.concatenate(xs, axis=axis)


def _concatenate_vjp(i, g, ans, *xs, axis=0):
    ax = axis % xs[0].ndim
    start = 0
    for x in xs[:i]:
        start += x.shape[ax]
    index = (slice(None),) * ax + (slice(start, start + xs[i].shape[ax]),)
    return g[index]


concatenate = Primitive(
    "concatenate",
    _concatenate_forward,
    vjp=_concatenate_vjp,
    formula="1",
    variadic=True,
    doc="Arrays joined along an existing axis.",
)


def _concatenate_jvp(i, t, ans, *xs, axis=0):
    # Input i's tangent in its place, zeros in the others' places.
    parts = [t if j == i else np.zeros(x.shape, dtype=x.dtype) for j, x in enumerate(xs)]
    return call(concatenate, *parts, axis=axis)


def _stack_forward(*xs, axis=0):
    return np.stack(xs, axis=axis)


def _stack_vjp(i, g, ans, *xs, axis=0):
    ax = axis % (xs[0].ndim + 1)
    return g[(slice(None),) * ax + (i,)]


stack = Primitive(
    "stack",
    _stack_forward,
    vjp=_stack_vjp,
    formula="1",
    variadic=True,
    doc="Arrays of one shape joined along a new axis.",
)


def _stack_jvp(i, t, ans, *xs, axis=0):
    parts = [t if j == i else np.zeros(x.shape, dtype=x.dtype) for j, x in enumerate(xs)]
    return call(stack, *parts, axis=axis)


# Shape primitives are linear: a tangent goes through the same operation.
for _prim in (reshape, transpose, expand_dims, squeeze, broadcast_to):
    _prim._set_jvp(linear_jvp(_prim))
concatenate._set_jvp(_concatenate_jvp)
stack._set_jvp(_stack_jvp)
