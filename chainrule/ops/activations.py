"""Fused primitives for activations and normalisers.

Each could be composed from simpler primitives, but fused they are numerically
stable (no overflow of e^x at |x| ~ 1000) and cheaper: one node, one rule.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops import compiled, offload
from chainrule.ops.errors import refuse_differentiation
from chainrule.ops.primitive import ELEMENTWISE, Primitive, call, pass_is_differentiated
from chainrule.ops.rowwise import max_along, sum_along


def _sigmoid_forward(x):
    if x.dtype.kind == "c":  # |x| is no ordering for complex x: the plain formula
        return 1 / (1 + np.exp(-x))
    # e^-|x| never overflows; pick the form of 1/(1+e^-x) that divides by >= 1.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


sigmoid = Primitive(
    "sigmoid",
    _sigmoid_forward,
    vjp=lambda g, ans, x: g * (ans * (1 - ans)),
    jvp=lambda t, ans, x: t * (ans * (1 - ans)),
    formula="sigmoid(x)*(1-sigmoid(x))",
    exact=True,
    saves_ans=True,
    doc="The logistic function 1 / (1 + e^-x), computed stably.",
)


def _relu_forward(x):
    return np.maximum(x, 0)


relu = Primitive(
    "relu",
    _relu_forward,
    # The derivative at 0 is taken as 0, as in PyTorch.
    # A multiplication by the 0/1 mask: branch-free, over ten times faster than
    # np.where on a random mask (a NaN upstream stays NaN where x <= 0).
    vjp=lambda g, ans, x: g * (ans > 0),
    jvp=lambda t, ans, x: t * (ans > 0),
    formula="[x>0]",
    exact=True,
    saves_ans=True,
    doc="max(x, 0).",
)


def _logsumexp_keepdims(x, axis):
    m = max_along(x, axis, keepdims=True)
    # All -inf (or inf) along the axis: shifting by inf would give nan.
    if not np.isfinite(m).all():
        m = np.where(np.isfinite(m), m, 0)
    return np.log(sum_along(np.exp(x - m), axis, keepdims=True)) + m


def _exp_shifted(x, m):
    """e^(x - m), in one array: the exponential written over the difference."""
    e = np.subtract(x, m)
    if e.dtype.kind in "fc":
        return np.exp(e, out=e)
    return np.exp(e)


def _last(x, axis) -> bool:
    return axis == -1 or axis == np.ndim(x) - 1


def _compiled_rows(axis, *arrays):
    """The compiled kernels where they serve a softmax along ``axis`` of these
    arrays (one shape, along the last axis; see ``compiled.kernels_for_arrays``),
    else None."""
    x = arrays[0]
    if not _last(x, axis) or any(np.shape(a) != np.shape(x) for a in arrays):
        return None
    return compiled.kernels_for_arrays(*arrays)


def _softmax_compiled(x, axis, safe):
    kernels = _compiled_rows(axis, x)
    if kernels is None:
        return None
    out = np.empty(x.shape, x.dtype)
    kernels.softmax_rows(x.reshape(-1, x.shape[-1]), out.reshape(-1, x.shape[-1]), safe)
    return out


def _softmax_forward(x, axis=-1):
    if offload.onednn is not None and _last(x, axis):
        done = offload.onednn.softmax(x)  # oneDNN's, for all-finite float32 x
        if done is not None:
            return done
    done = _softmax_compiled(x, axis, False)
    if done is not None:
        return done
    e = _exp_shifted(x, max_along(x, axis, keepdims=True))
    e /= sum_along(e, axis, keepdims=True)
    return e


def softmax_jacobian_times(v, ans, axis=-1):
    """ans * (v - sum(v * ans)): the softmax's Jacobian (symmetric) applied to ``v``,
    from the softmax's result ``ans``; on arrays or Tensors (then recorded)."""
    return ans * (v - sum_along(v * ans, axis, keepdims=True))


def _softmax_rule_arrays(v, ans, axis=-1):
    """The softmax's rule on arrays (oneDNN's where it is selected and takes them)."""
    if offload.onednn is not None and _last(ans, axis):
        done = offload.onednn.softmax_grad(v, ans)
        if done is not None:
            return done
    kernels = _compiled_rows(axis, ans, v)
    if kernels is not None:
        out = np.empty(ans.shape, ans.dtype)
        n = ans.shape[-1]
        kernels.softmax_rule_rows(v.reshape(-1, n), ans.reshape(-1, n), out.reshape(-1, n))
        return out
    return softmax_jacobian_times(v, ans, axis)


def _softmax_rule(v, ans, x, axis=-1):
    if type(v) is np.ndarray and type(ans) is np.ndarray:
        return _softmax_rule_arrays(v, ans, axis)
    if not pass_is_differentiated():
        # A recorded pass that nothing differentiates (cr.jit's trace of a gradient):
        # the array rule as one recorded operation, which the compiled code calls.
        return call(softmax_grad, v, ans, axis=axis)
    return softmax_jacobian_times(v, ans, axis)


softmax_grad = Primitive(
    "softmax_grad",
    _softmax_rule_arrays,
    vjp=(refuse_differentiation("softmax_grad", "softmax"),) * 2,
    jvp=(refuse_differentiation("softmax_grad", "softmax"),) * 2,  # never silently zero
    formula=("not differentiated",) * 2,
    doc="softmax's rule on arrays, as one operation for a backward pass that nothing "
    "differentiates (cr.jit compiles it).",
)


softmax = Primitive(
    "softmax",
    _softmax_forward,
    # The Jacobian diag(s) - s s^T is symmetric: one formula serves both modes.
    vjp=_softmax_rule,
    jvp=_softmax_rule,
    formula="softmax(x)*(1[i=j]-softmax(x)_j)",
    saves_ans=True,
    doc="e^x / sum(e^x) along ``axis`` (default: the last), computed stably.",
)


def _safe_softmax_forward(x, axis=-1):
    if offload.onednn is not None and _last(x, axis):
        done = offload.onednn.softmax(x)  # all finite: no row is masked throughout
        if done is not None:
            return done
    done = _softmax_compiled(x, axis, True)
    if done is not None:
        return done
    m = max_along(x, axis, keepdims=True)
    # A row that is -inf throughout (every position masked): shift by 0, so its
    # exponentials are 0 and so is its result, as PyTorch's attention returns.
    if not np.isfinite(m).all():
        m = np.where(m == -np.inf, 0, m)
    e = _exp_shifted(x, m)
    s = sum_along(e, axis, keepdims=True)
    if not s.all():
        s = np.where(s == 0, 1, s)
    e /= s
    return e


safe_softmax = Primitive(
    "safe_softmax",
    _safe_softmax_forward,
    # softmax's rule: where ans is 0 throughout a row, the gradient is 0 there too.
    vjp=softmax.vjps[0],
    jvp=softmax.jvps[0],
    formula="softmax(x)*(1[i=j]-softmax(x)_j)",
    saves_ans=True,
    doc="softmax along ``axis``, except that a row of -inf only (all masked) gives 0s, "
    "not NaNs: the softmax of masked attention scores.",
)


def _log_softmax_forward(x, axis=-1):
    return x - _logsumexp_keepdims(x, axis)


log_softmax = Primitive(
    "log_softmax",
    _log_softmax_forward,
    vjp=lambda g, ans, x, axis=-1: g - np.exp(ans) * sum_along(g, axis, keepdims=True),
    jvp=lambda t, ans, x, axis=-1: t - sum_along(np.exp(ans) * t, axis, keepdims=True),
    formula="1[i=j]-softmax(x)_j",
    saves_ans=True,
    doc="x - logsumexp(x) along ``axis`` (default: the last), computed stably.",
)

# Elementwise in the tangent: a batch of tangents broadcasts through (see elementwise.py).
sigmoid.batch = ELEMENTWISE
relu.batch = ELEMENTWISE

# sigmoid is holomorphic: its rule holds for complex values unchanged. relu is
# NumPy's maximum(x, 0), which orders complex numbers lexicographically: x where
# x > 0 in that order, else 0, and its mask rule is the derivative of exactly that.
sigmoid.complex_rules = True
relu.complex_rules = True
