"""Layer normalisation's core as one primitive: (x - mean) / sqrt(var + eps) over
the last axes.

Composed, it is nine nodes (two means, a square, a root, a division, ...) and
its backward pass twice as many; a transformer makes two per layer. Fused, it is
one node whose rule is the textbook one. Its Jacobian, with x̂ the result and
``rstd = 1 / sqrt(var + eps)``, is

    d x̂ / d x = rstd (I - 1/n - x̂ x̂^T / n)

which is symmetric, so one formula pushes a gradient back and a tangent forward:
``rstd (v - mean(v) - x̂ mean(v x̂))``. The rule uses only operations Tensors
take, so second derivatives are recorded as usual.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops import offload, saved
from chainrule.ops.errors import refuse_differentiation
from chainrule.ops.primitive import Primitive, call, pass_is_differentiated

#: rstd of each forward result over the last axis (the reduced axis kept), for the
#: backward pass of that result and input (chainrule.ops.saved; it goes with the
#: result), so the rule need not recompute it.
_saved_rstd: dict[int, tuple] = {}
#: The same for results oneDNN computed (conv_backend "onednn"): each row's mean and
#: variance, which its gradient primitive reads.
_saved_stats: dict[int, tuple] = {}


def _row_mean(x, n):
    """Mean over the last axis, kept: a matrix-vector product (BLAS), 3-4x faster
    than NumPy's reduction over short rows (64 wide: 30 against 110 us)."""
    return (x @ np.full(n, 1 / n, dtype=x.dtype))[..., None]


def _last_axis_only(x, axes) -> bool:
    return tuple(axes) in ((-1,), (x.ndim - 1,)) and x.dtype.kind == "f" and x.shape[-1] > 0


def _rstd(x, eps, axes):
    centred = x - x.mean(axis=axes, keepdims=True)
    return 1.0 / np.sqrt((centred * centred).mean(axis=axes, keepdims=True) + eps)


def _normalize_forward(x, eps=1e-5, axes=(-1,)):
    if not _last_axis_only(x, axes):
        centred = x - x.mean(axis=axes, keepdims=True)
        var = np.square(centred).mean(axis=axes, keepdims=True)
        var += eps
        np.sqrt(var, out=var)
        centred /= var
        return centred
    if offload.onednn is not None:
        done = offload.onednn.layer_norm(x, eps)
        if done is not None:  # oneDNN's, with its statistics for the rule
            out, mean, var = done
            saved.keep(_saved_stats, out, (x, eps), (mean, var))
            return out
    xhat, _, rstd = standardize(x, eps)
    saved.keep(_saved_rstd, xhat, (x, eps), rstd)
    return xhat


def standardize(x, eps):
    """(x̂, mean, rstd) over x's last axis (mean and rstd with the axis kept): x̂ =
    (x - mean) * rstd, rstd = 1 / sqrt(var + eps), biased variance, BLAS row means."""
    n = x.shape[-1]
    mean = _row_mean(x, n)
    xhat = x - mean
    rstd = _row_mean(xhat * xhat, n)
    rstd += eps
    np.sqrt(rstd, out=rstd)
    np.reciprocal(rstd, out=rstd)
    xhat *= rstd
    return xhat, mean, rstd


def rstd_from_var(var, shape, eps):
    """1 / sqrt(var + eps) of oneDNN's per-row variances, shaped (..., 1) for rows of
    an array of ``shape``."""
    return (1.0 / np.sqrt(var + np.asarray(eps, dtype=var.dtype))).reshape(*shape[:-1], 1)


def _normalize_rule(v, ans, x, eps=1e-5, axes=(-1,)):
    if type(v) is np.ndarray and type(ans) is np.ndarray and _last_axis_only(v, axes):
        return _rule_arrays(v, ans, x, eps)
    if not pass_is_differentiated() and _last_axis_only(v, axes):
        # A recorded pass that nothing differentiates (cr.jit's trace of a gradient):
        # the array formula as one recorded operation.
        return call(normalize_grad, v, ans, x, eps=eps)
    inner = v - v.mean(axis=axes, keepdims=True) - ans * (v * ans).mean(axis=axes, keepdims=True)
    return inner * _rstd(x, eps, axes)


def _rule_arrays(v, ans, x, eps=1e-5):
    """The rule on arrays over the last axis: BLAS row means, in place, with the
    rstd the forward pass saved (recomputed if it saved none for ``ans``)."""
    n = v.shape[-1]
    rstd = saved.kept(_saved_rstd, ans, (x, eps))
    stats = saved.kept(_saved_stats, ans, (x, eps)) if rstd is None else None
    if stats is not None and stats[0].size * n == ans.size:
        on = offload.onednn  # None if NumPy's path was chosen since the forward
        done = None if on is None else on.layer_norm_grad(v, x, *stats, eps)
        if done is not None:
            return done
        rstd = rstd_from_var(stats[1], ans.shape, eps)
    if rstd is None or rstd.shape[:-1] != ans.shape[:-1]:
        rstd = _rstd(x, eps, (-1,))
    out = np.multiply(ans, _row_mean(v * ans, n))
    np.subtract(v, out, out=out)
    out -= _row_mean(v, n)
    out *= rstd
    return out


_not_differentiated = refuse_differentiation("layer_normalize_grad", "layer_normalize")


normalize_grad = Primitive(
    "layer_normalize_grad",
    _rule_arrays,
    vjp=(_not_differentiated,) * 3,
    jvp=(_not_differentiated,) * 3,  # refused in both modes, never silently zero
    formula=("not differentiated",) * 3,
    doc="layer_normalize's rule on arrays (over the last axis), as one operation for a "
    "backward pass that nothing differentiates (cr.jit compiles it).",
)


normalize = Primitive(
    "layer_normalize",
    _normalize_forward,
    vjp=_normalize_rule,
    jvp=_normalize_rule,
    formula="rstd*(1[i=j]-1/n-xhat_i*xhat_j/n)",
    saves_ans=True,
    doc="(x - mean) / sqrt(var + eps) over ``axes`` (the last ones; biased variance): "
    "layer normalisation before its scale and shift.",
)
