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


# Batching (jacfwd pushes a stack of tangents at once): the op applied to an array
# with an extra leading axis, its own axes shifted by one.
def _batched_axes(axis, ndim):
    axes = (axis,) if isinstance(axis, int | np.integer) else axis
    return tuple(int(a) % ndim + 1 for a in axes)


def _batch_transpose(xb, axes=None):
    n = xb.ndim - 1
    order = reversed(range(n)) if axes is None else (int(a) % n for a in axes)
    return xb.transpose((0, *(a + 1 for a in order)))


def _batch_expand_dims(xb, axis):
    n_out = xb.ndim - 1 + (1 if isinstance(axis, int | np.integer) else len(axis))
    return np.expand_dims(xb, _batched_axes(axis, n_out))


def _batch_squeeze(xb, axis=None):
    if axis is None:
        return np.squeeze(xb, tuple(i + 1 for i, n in enumerate(xb.shape[1:]) if n == 1))
    return np.squeeze(xb, _batched_axes(axis, xb.ndim - 1))


def batch_broadcast_to(xb, shape):
    """``xb`` (a batch of arrays) broadcast to ``(batch, *shape)``."""
    inner = xb.shape[1:]
    lead = (1,) * (len(shape) - len(inner))
    return np.broadcast_to(xb.reshape((xb.shape[0], *lead, *inner)), (xb.shape[0], *shape))


reshape.batch = lambda xb, shape: xb.reshape((xb.shape[0], *shape))
transpose.batch = _batch_transpose
expand_dims.batch = _batch_expand_dims
squeeze.batch = _batch_squeeze
broadcast_to.batch = batch_broadcast_to

# Linear maps that only move values: complex values move the same way.
for _prim in (reshape, transpose, expand_dims, squeeze, broadcast_to, concatenate, stack):
    _prim.complex_rules = True
