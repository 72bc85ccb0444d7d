"""Layer normalisation with its scale and shift as one primitive: ``y = x̂ w + b``
over the last axis, with ``x̂ = (x - mean) rstd`` (``layer_normalize``) and ``w``,
``b`` of shape (n,). It is ``nn.LayerNorm``'s whole computation.

Composed (``layer_normalize``, a product, a sum), the forward makes two more passes
over the activations and the backward five more (``g w``, ``g x̂`` and the two sums
over the rows). Fused, oneDNN computes the forward in one pass and the three
gradients in one more (its layer normalisation with ``use_scale | use_shift``), on
its threads; on NumPy's path the affine map is done in place. The rules are the
composition's: with ``rstd`` and ``x̂`` of the forward,

    d/dx: rstd (gw - mean(gw) - x̂ mean(gw x̂)),  gw = g w  (layer_normalize's rule)
    d/dw: sum over rows of g x̂
    d/db: sum over rows of g

The backward pass computes the three at once and hands each input its own (the
engine asks for them one after another with the same ``g``). A recorded pass that
something differentiates composes them from differentiable operations; one that
nothing differentiates (``cr.jit``'s trace of a gradient) records
``layer_norm_affine_grad`` operations, which the compiled code calls.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops import compiled, offload, saved
from chainrule.ops.errors import refuse_differentiation
from chainrule.ops.linalg import as_rows
from chainrule.ops.normalization import (
    _row_mean,
    normalize,
    rstd_from_var,
    standardize,
)
from chainrule.ops.primitive import Primitive, StepCache, call, pass_is_differentiated

#: Per forward result and input (chainrule.ops.saved): ("onednn", mean, var) or
#: ("numpy", mean, rstd), the rows' statistics its gradient reads; an entry goes
#: with its result.
_saved: dict[int, tuple] = {}
#: The three gradients of a backward step, computed at its first call.
_step = StepCache()


def takes(x, w, b) -> bool:
    """True when ``F.layer_norm`` may use this primitive: a non-empty real float x
    normalised over its last axis, with a scale and a shift of x's dtype and shape
    (n,)."""
    n = x.shape[-1] if x.ndim else 0
    return (
        x.dtype.kind == "f"
        and n > 0
        and x.size > 0
        and all(v is not None and v.dtype == x.dtype and tuple(v.shape) == (n,) for v in (w, b))
    )


def _forward(x, w, b, eps=1e-5):
    on = offload.onednn
    if on is not None:
        done = on.layer_norm(x, eps, w, b)
        if done is not None:
            out, mean, var = done
            saved.keep(_saved, out, (x, eps), ("onednn", mean, var))
            return out
    kernels = compiled.kernels_for(x.dtype) if _compiled_fits(x, w, b) else None
    if kernels is not None:  # one compiled loop (chainrule.ops._numba_norm)
        rows = x.size // x.shape[-1]
        out = np.empty(x.shape, x.dtype)
        mean, rstd = np.empty((2, rows), x.dtype)
        kernels.layer_norm_forward(
            as_rows(x), np.ascontiguousarray(w), np.ascontiguousarray(b), float(eps),
            as_rows(out), mean, rstd,
        )  # fmt: skip
        stats = (mean.reshape(*x.shape[:-1], 1), rstd.reshape(*x.shape[:-1], 1))
        saved.keep(_saved, out, (x, eps), ("numpy", *stats))
        return out
    out, mean, rstd = standardize(x, eps)
    out *= w
    out += b
    saved.keep(_saved, out, (x, eps), ("numpy", mean, rstd))
    return out


def _standardized(ans, x, eps):
    """(x̂, rstd) of x's rows (rstd with the axis kept), from the statistics the
    forward saved for ``ans``, or computed anew."""
    stats = saved.kept(_saved, ans, (x, eps))
    if stats is None or stats[1].size * x.shape[-1] != x.size:
        xhat, _, rstd = standardize(x, eps)
        return xhat, rstd
    kind, mean, spread = stats
    if kind == "numpy":
        rstd = spread
    else:  # oneDNN's per-row mean and variance
        mean, rstd = mean.reshape(*x.shape[:-1], 1), rstd_from_var(spread, x.shape, eps)
    xhat = x - mean
    xhat *= rstd
    return xhat, rstd


def _grads_arrays(g, ans, x, w, b, eps=1e-5, which=0):
    """(dx, dw, db) on arrays, computed once per backward step (see the module doc);
    let go after b's (``which`` 2), the last the engine asks for."""
    return _step.once(g, ans, lambda: _grads_now(g, ans, x, w, b, eps), release=which == 2)


def _grads_now(g, ans, x, w, b, eps):
    stats = saved.kept(_saved, ans, (x, eps))
    result = None
    on = offload.onednn
    if on is not None and stats is not None and stats[0] == "onednn":
        result = on.layer_norm_grad(g, x, stats[1], stats[2], eps, w, b)
    if result is None and stats is not None and stats[0] == "numpy":
        result = _grads_compiled(g, x, w, stats[1], stats[2])
    if result is None:
        n = x.shape[-1]
        xhat, rstd = _standardized(ans, x, eps)
        ones = np.ones(x.size // n, dtype=g.dtype)
        db = ones @ as_rows(g)
        gw = g * xhat
        dw = ones @ as_rows(gw)
        np.multiply(g, w, out=gw)
        dx = np.multiply(xhat, _row_mean(gw * xhat, n))
        np.subtract(gw, dx, out=dx)
        dx -= _row_mean(gw, n)
        dx *= rstd
        result = (dx, dw, db)
    return result


def _compiled_fits(x, w, b) -> bool:
    """Whether the compiled loops may take these arrays: they index w[j] and b[j]
    without bounds checks, so only a contiguous x and a w and b of exactly its last
    axis's shape and its dtype (else NumPy's path broadcasts or refuses, as always)."""
    n = x.shape[-1] if x.ndim else 0
    return (
        n > 0
        and x.flags.c_contiguous
        and all(type(v) is np.ndarray and v.shape == (n,) and v.dtype == x.dtype for v in (w, b))
    )


def _grads_compiled(g, x, w, mean, rstd):
    """(dx, dw, db) by the compiled loop, from the forward's row statistics; None
    where it does not serve (another dtype, statistics of another shape)."""
    dtype = x.dtype
    kernels = compiled.kernels_for(dtype)
    if kernels is None or g.dtype != dtype or mean.dtype != dtype:
        return None
    n = x.shape[-1] if x.ndim else 0
    if not n or w.shape != (n,) or w.dtype != dtype or g.shape != x.shape:
        return None
    rows = x.size // n
    if mean.size != rows:
        return None
    dx = np.empty(x.shape, dtype)
    dw, db = np.zeros((2, n))
    kernels.layer_norm_backward(
        as_rows(np.ascontiguousarray(g)), as_rows(np.ascontiguousarray(x)),
        np.ascontiguousarray(w), mean.reshape(rows), rstd.reshape(rows), as_rows(dx), dw, db,
    )  # fmt: skip
    return dx, dw.astype(dtype), db.astype(dtype)


def _xhat(x, eps):
    return normalize.forward(x, eps) if type(x) is np.ndarray else call(normalize, x, eps=eps)


def _vjp(k: int):
    def rule(g, ans, x, w, b, eps=1e-5):
        if all(type(a) is np.ndarray for a in (g, ans, x, w, b)):
            return _grads_arrays(g, ans, x, w, b, eps, which=k)[k]
        if not pass_is_differentiated():
            return call(layer_norm_affine_grad, g, ans, x, w, b, eps=eps, which=k)
        # Something differentiates this pass: the composition's rules, recorded.
        if k == 2:
            return g  # the engine sums it over the rows (to b's shape)
        xhat = _xhat(x, eps)
        if k == 1:
            return g * xhat
        return normalize.vjps[0](g * w, xhat, x, eps=eps)

    return rule


def _jvp(k: int):
    def rule(t, ans, x, w, b, eps=1e-5):
        if k == 2:
            return t
        xhat = _xhat(x, eps)
        if k == 1:
            return xhat * t
        return normalize.jvps[0](t, xhat, x, eps=eps) * w

    return rule


layer_norm_affine = Primitive(
    "layer_norm_affine",
    _forward,
    vjp=tuple(_vjp(k) for k in range(3)),
    jvp=tuple(_jvp(k) for k in range(3)),
    formula=("w*rstd*(1[i=j]-1/n-xhat_i*xhat_j/n)", "xhat", "1"),
    saves_ans=True,
    doc="(x - mean) / sqrt(var + eps) * w + b over the last axis (biased variance; w "
    "and b of shape (n,)): nn.LayerNorm in one node.",
)

_not_differentiated = refuse_differentiation("layer_norm_affine_grad", "layer_norm_affine")

layer_norm_affine_grad = Primitive(
    "layer_norm_affine_grad",
    lambda g, ans, x, w, b, eps=1e-5, which=0: _grads_arrays(g, ans, x, w, b, eps, which)[which],
    vjp=(_not_differentiated,) * 5,
    jvp=(_not_differentiated,) * 5,  # refused in both modes, never silently zero
    formula=("not differentiated",) * 5,
    doc="layer_norm_affine's gradient in its input ``which`` (0: x, 1: w, 2: b) on "
    "arrays, as one operation for a backward pass that nothing differentiates.",
)
