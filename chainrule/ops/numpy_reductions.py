"""Reductions and scans behind ``chainrule.numpy``: cumsum, cumprod, std, vector norms.

``var``, ``average``, ``ptp`` and the rest are compositions and need no rule. These
four are primitives because a composition would be wrong or undefined somewhere:
``std`` and the norms are sqrt(...) whose derivative is 0 * inf = NaN at 0, where
the subgradient 0 is wanted; ``cumprod`` divides by the input, which fails at zeros;
``cumsum`` is a primitive for speed (its adjoint is a reversed cumsum).

``axis`` is always an int here (the public functions flatten for ``axis=None``).
"""

from __future__ import annotations

import numpy as np

from chainrule.ops.complex_parts import real_input
from chainrule.ops.primitive import Primitive, call, linear_jvp


def _reversed(x, axis):
    """x reversed along ``axis`` (a basic slice, so it works on arrays and Tensors)."""
    return x[(slice(None),) * (axis % x.ndim) + (slice(None, None, -1),)]


def _cumsum_forward(x, axis):
    return np.cumsum(x, axis=axis)


def _reverse_cumsum(g, axis):
    """out_i = sum_{j >= i} g_j: the adjoint of cumsum."""
    return _reversed(call(cumsum, _reversed(g, axis), axis=axis), axis)


cumsum = Primitive(
    "cumsum",
    _cumsum_forward,
    vjp=lambda g, ans, x, axis: _reverse_cumsum(g, axis),
    formula="1[j>=i]",
    doc="Running sum along ``axis``.",
)
cumsum._set_jvp(linear_jvp(cumsum))


def _cumprod_forward(x, axis):
    return np.cumprod(x, axis=axis)


def _first_zero(x, axis):
    """Masks (as NumPy data): the first zero along ``axis``, and the entries before it
    (inside cr.vmap: batched masks, one per example)."""
    from chainrule.batching.batched import facts

    return facts(x, _zero_masks, axis)


def _zero_masks(data, axis):
    is_zero = data == 0
    zeros_so_far = np.cumsum(is_zero, axis=axis)
    first = is_zero & (zeros_so_far == 1)
    before = zeros_so_far == 0
    return first, before


def any_true(m):
    from chainrule.batching.batched import any_true as batch_any

    return batch_any(m)


def _cumprod_vjp(g, ans, x, axis):
    # Before the first zero of a slice, d ans_j / d x_i = ans_j / x_i (j >= i), so the
    # gradient is a reversed cumsum of g * ans divided by x. At the first zero k,
    # d ans_j / d x_k is the product of the others, the cumprod of x with x_k set to 1.
    # After it, every ans_j also contains x_k = 0 and the derivative vanishes.
    first, before = _first_zero(x, axis)
    safe_x = np.where(before, x, 1)
    regular = _reverse_cumsum(g * ans, axis) / safe_x
    if not any_true(first):
        return regular
    skip_zero = call(cumprod, np.where(first, 1, x), axis=axis)
    at_zero = _reverse_cumsum(g * skip_zero, axis)
    return np.where(before, regular, np.where(first, at_zero, 0))


def _cumprod_jvp(t, ans, x, axis):
    # d ans_j = sum_{i <= j} t_i prod_{m <= j, m != i} x_m: ans_j * cumsum(t / x)_j before
    # the first zero k; from k on only i = k survives: t_k * cumprod(x with x_k = 1)_j.
    first, before = _first_zero(x, axis)
    safe_x = np.where(before, x, 1)
    regular = ans * call(cumsum, np.where(before, t, 0) / safe_x, axis=axis)
    if not any_true(first):
        return regular
    skip_zero = call(cumprod, np.where(first, 1, x), axis=axis)
    t_zero = np.where(first, t, 0).sum(axis=axis, keepdims=True)
    return np.where(before, regular, t_zero * skip_zero)


cumprod = Primitive(
    "cumprod",
    _cumprod_forward,
    vjp=_cumprod_vjp,
    jvp=_cumprod_jvp,
    formula="cumprod(x)_j/x_i [j>=i]",
    saves_ans=True,
    doc="Running product along ``axis`` (gradients right at zeros too).",
)


def _count(shape, axis):
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if isinstance(axis, int | np.integer) else axis
    return int(np.prod([shape[a] for a in axes]))


def _restore(v, axis, keepdims):
    if keepdims or axis is None:
        return v
    return np.expand_dims(v, axis)


def _safe(d):
    return np.where(d == 0, 1, d)


def _std_forward(x, axis=None, ddof=0, keepdims=False):
    real_input(x, "std")
    return np.std(x, axis=axis, ddof=ddof, keepdims=keepdims)


def _std_share(ans, x, axis, ddof, keepdims):
    # d std / d x_i = (x_i - mean) / ((N - ddof) std); where std = 0 every x_i equals
    # the mean, and the subgradient 0 is taken instead of 0/0.
    centred = x - np.mean(x, axis=axis, keepdims=True)
    return centred / (_safe(_restore(ans, axis, keepdims)) * (_count(x.shape, axis) - ddof))


std = Primitive(
    "std",
    _std_forward,
    vjp=lambda g, ans, x, axis=None, ddof=0, keepdims=False: (
        _restore(g, axis, keepdims) * _std_share(ans, x, axis, ddof, keepdims)
    ),
    jvp=lambda t, ans, x, axis=None, ddof=0, keepdims=False: (
        t * _std_share(ans, x, axis, ddof, keepdims)
    ).sum(axis=axis, keepdims=keepdims),
    formula="(x-mean(x))/((N-ddof)*std(x))",
    saves_ans=True,
    doc="Standard deviation over ``axis``; gradient 0 (not NaN) where it is 0.",
)


def _vector_norm_forward(x, ord=2.0, axis=None, keepdims=False):
    real_input(x, "vector_norm")
    a = np.abs(x)
    if ord == 2:
        return np.sqrt(np.sum(a * a, axis=axis, keepdims=keepdims))
    if ord == 1:
        return np.sum(a, axis=axis, keepdims=keepdims)
    return np.sum(a**ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _vector_norm_share(ans, x, ord, axis, keepdims):
    # d ||x||_p / d x_i = sign(x_i) (|x_i| / ||x||)^(p-1). At x = 0 the norm has no
    # derivative; the subgradient 0 is taken (never 0/0 = NaN).
    n = _safe(_restore(ans, axis, keepdims))
    if ord == 2:
        return x / n
    if ord == 1:
        return np.sign(x)
    # |x| is replaced by 1 where x = 0 (the sign makes the share 0 there), so that
    # 0^(p-1) = inf never enters, not even into a second derivative.
    magnitude = np.where(x == 0, 1, np.abs(x))
    return np.sign(x) * (magnitude / n) ** (ord - 1)


vector_norm = Primitive(
    "vector_norm",
    _vector_norm_forward,
    vjp=lambda g, ans, x, ord=2.0, axis=None, keepdims=False: (
        _restore(g, axis, keepdims) * _vector_norm_share(ans, x, ord, axis, keepdims)
    ),
    jvp=lambda t, ans, x, ord=2.0, axis=None, keepdims=False: (
        t * _vector_norm_share(ans, x, ord, axis, keepdims)
    ).sum(axis=axis, keepdims=keepdims),
    formula="sign(x)*(|x|/||x||_p)^(p-1)",
    saves_ans=True,
    doc="(sum |x|^p)^(1/p) over ``axis`` for 0 < p < inf; gradient 0 at x = 0.",
)

# Holomorphic scans: their rules hold for complex values unchanged.
cumsum.complex_rules = True
cumprod.complex_rules = True
