"""Reductions over axes: sum, prod, max, min, logsumexp.

``axis`` is NumPy's (an int, a tuple of ints or None for all axes) and
``keepdims`` keeps reduced axes as length 1. A rule first restores the reduced
axes of ``g`` (and of ``ans``) so that they broadcast against the input.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops.activations import _logsumexp_keepdims
from chainrule.ops.primitive import Primitive
from chainrule.ops.rowwise import max_along, sum_along


def _restore_axes(g, axis, keepdims):
    """Reinsert the reduced axes as length 1, so ``g`` broadcasts against the input."""
    if keepdims or axis is None:
        return g  # already broadcastable (a 0-d result broadcasts to anything)
    return np.expand_dims(g, axis)


def _sum_vjp(g, ans, x, axis=None, keepdims=False):
    return np.broadcast_to(_restore_axes(g, axis, keepdims), x.shape)


def _sum_forward(x, axis=None, keepdims=False):
    return sum_along(x, axis, keepdims)


def _max_forward(x, axis=None, keepdims=False):
    return max_along(x, axis, keepdims)


sum = Primitive(  # noqa: A001 - NumPy's name
    "sum",
    _sum_forward,
    vjp=_sum_vjp,
    # Linear: the tangent of a sum is the sum of the tangent.
    jvp=lambda t, ans, x, axis=None, keepdims=False: t.sum(axis=axis, keepdims=keepdims),
    formula="1",
    doc="Sum of the elements over ``axis``.",
)


def _extremum_weights(ans, x, axis, keepdims):
    # Ties share the derivative evenly (as PyTorch's amax/amin do).
    hit = x == _restore_axes(ans, axis, keepdims)
    count = hit.sum(axis=axis, keepdims=True).astype(x.dtype)
    return hit, count


def _extremum_vjp(g, ans, x, axis=None, keepdims=False):
    hit, count = _extremum_weights(ans, x, axis, keepdims)
    return np.where(hit, _restore_axes(g, axis, keepdims) / count, 0)


def _extremum_jvp(t, ans, x, axis=None, keepdims=False):
    hit, count = _extremum_weights(ans, x, axis, keepdims)
    return (np.where(hit, t, 0) / count).sum(axis=axis, keepdims=keepdims)


max = Primitive(  # noqa: A001 - NumPy's name
    "max",
    _max_forward,
    vjp=_extremum_vjp,
    jvp=_extremum_jvp,
    formula="[x=max]/#ties",
    saves_ans=True,
    doc="Largest element over ``axis``; tied maxima share the gradient evenly.",
)
min = Primitive(  # noqa: A001 - NumPy's name
    "min",
    np.min,
    vjp=_extremum_vjp,
    jvp=_extremum_jvp,
    formula="[x=min]/#ties",
    saves_ans=True,
    doc="Smallest element over ``axis``; tied minima share the gradient evenly.",
)


def _product_of_others(x, axis):
    # d prod / d x_i is the product of the other elements. Dividing ans by x_i
    # fails at zeros, so zeros are replaced by 1: with no zero in a slice the
    # product of the others is prod_nz / x_i; with exactly one zero only that
    # element has a non-zero derivative (prod_nz); with two or more, none does.
    is_zero = x == 0
    x_nz = np.where(is_zero, 1, x)
    prod_nz = np.prod(x_nz, axis=axis, keepdims=True)
    zeros = is_zero.sum(axis=axis, keepdims=True)
    return np.where(zeros == 0, prod_nz / x_nz, np.where(is_zero & (zeros == 1), prod_nz, 0))


def _prod_vjp(g, ans, x, axis=None, keepdims=False):
    return _restore_axes(g, axis, keepdims) * _product_of_others(x, axis)


def _prod_jvp(t, ans, x, axis=None, keepdims=False):
    return (t * _product_of_others(x, axis)).sum(axis=axis, keepdims=keepdims)


prod = Primitive(
    "prod",
    np.prod,
    vjp=_prod_vjp,
    jvp=_prod_jvp,
    formula="prod(x)/x_i",
    doc="Product of the elements over ``axis`` (correct gradients at zeros too).",
)


def _logsumexp_log1p(x, axis):
    """log(sum(e^x)) over ``axis`` (kept as length 1), as m + log1p(s): m the largest
    element, s the sum of e^(x - m) over the others. Leaving out the terms that are
    exactly 1 (the maxima) makes the sum small where it is small, which log1p
    resolves and log(1 + s) rounds away (Blanchard, Higham and Higham, 2021). It is
    SciPy's formula, step for step, so ``scipy.special.logsumexp`` (HIPS autograd's
    forward) and this primitive agree to the last bit."""
    if x.dtype.kind != "f" or x.ndim == 0 or x.size == 0:  # (0-d: x itself)
        return _logsumexp_keepdims(x, axis)
    m = max_along(x, axis, keepdims=True)
    if not np.isfinite(m).all():  # inf, -inf or NaN along an axis: no shift to take
        return _logsumexp_keepdims(x, axis)
    e = np.subtract(x, m)
    np.exp(e, out=e)
    top = x == m
    np.copyto(e, 0, where=top)  # the maxima's terms, exactly 1, stay out of the sum
    s = e.sum(axis=axis, keepdims=True)
    # Each slice has at least one maximum, so as many maxima as slices means one
    # each: then dividing by the count and adding its log change nothing.
    if np.count_nonzero(top) == m.size:
        np.log1p(s, out=s)
        s += m
        return s
    ties = top.sum(axis=axis, keepdims=True, dtype=x.dtype)
    return np.log1p(s / ties) + np.log(ties) + m


def _logsumexp_forward(x, axis=None, keepdims=False):
    out = _logsumexp_log1p(x, axis)
    if keepdims:
        return out
    return out.reshape(()) if axis is None else np.squeeze(out, axis=axis)


def _logsumexp_vjp(g, ans, x, axis=None, keepdims=False):
    return _restore_axes(g, axis, keepdims) * np.exp(x - _restore_axes(ans, axis, keepdims))


def _logsumexp_jvp(t, ans, x, axis=None, keepdims=False):
    softmax = np.exp(x - _restore_axes(ans, axis, keepdims))
    return (t * softmax).sum(axis=axis, keepdims=keepdims)


logsumexp = Primitive(
    "logsumexp",
    _logsumexp_forward,
    vjp=_logsumexp_vjp,
    jvp=_logsumexp_jvp,
    formula="softmax(x)",
    saves_ans=True,
    doc="log(sum(e^x)) over ``axis``, computed stably.",
)


def _batch_sum(xb, axis=None, keepdims=False):
    n = xb.ndim - 1
    if axis is None:
        axes = tuple(range(1, n + 1))
    else:
        axes = (axis,) if isinstance(axis, int | np.integer) else axis
        axes = tuple(int(a) % n + 1 for a in axes)
    return np.sum(xb, axis=axes, keepdims=keepdims)


# Batching (jacfwd): sum is linear, so a stack of tangents is summed over shifted axes.
sum.batch = _batch_sum

# sum and prod are holomorphic; max and min select an element (NumPy orders complex
# numbers lexicographically), so the gradient goes where the value came from.
for _prim in (sum, prod, max, min):
    _prim.complex_rules = True
