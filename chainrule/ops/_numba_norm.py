"""Layer normalisation with its scale and shift (``layer_norm_affine``), float32, as
two compiled loops (numba; see :mod:`chainrule.ops.compiled`).

NumPy's path makes about six passes over the activations forward (mean, the
centred copy, its square, the variance, the scaling, the affine map) and a dozen
backward; here each row is read and written in cache, once forward and twice
backward. The rows' sums are taken in float64 (NumPy sums float32 in float32,
pairwise), and ``reassoc`` lets LLVM vectorise them: the order of the additions
differs from NumPy's, so results differ from its path in float32's last bits.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from chainrule.ops._numba_math import COMPILE

_SUMS = dict(COMPILE, fastmath={"contract", "reassoc"})


@njit(**_SUMS)
def layer_norm_forward(x, w, b, eps, out, mean, rstd):
    """``out = (x - mean) rstd w + b`` row by row of x (rows, n), with the rows'
    mean and ``1 / sqrt(var + eps)`` (biased variance) written into ``mean`` and
    ``rstd`` (rows,)."""
    rows, n = x.shape
    for r in range(rows):
        total = 0.0
        for j in range(n):
            total += np.float64(x[r, j])
        m = total / n
        spread = 0.0
        for j in range(n):
            d = np.float64(x[r, j]) - m
            spread += d * d
        rs = 1.0 / np.sqrt(spread / n + eps)
        m32, rs32 = np.float32(m), np.float32(rs)
        mean[r] = m32
        rstd[r] = rs32
        for j in range(n):
            out[r, j] = (x[r, j] - m32) * rs32 * w[j] + b[j]


@njit(**_SUMS)
def layer_norm_backward(g, x, w, mean, rstd, dx, dw, db):
    """The three gradients from the forward pass's statistics: ``dx`` (rows, n) =
    rstd (gw - mean(gw) - x̂ mean(gw x̂)) with gw = g w; ``dw`` and ``db`` (n,),
    float64, get the rows' sums of g x̂ and g added."""
    rows, n = x.shape
    for r in range(rows):
        m, rs = mean[r], rstd[r]
        a = 0.0
        c = 0.0
        for j in range(n):
            xh = (x[r, j] - m) * rs
            gj = g[r, j]
            gw = gj * w[j]
            dx[r, j] = gw  # kept rounded: a fused g w - mean(gw) would not cancel to 0
            a += np.float64(gw)
            c += np.float64(gw * xh)
            dw[j] += np.float64(gj * xh)
            db[j] += np.float64(gj)
        a32, c32 = np.float32(a / n), np.float32(c / n)
        for j in range(n):
            xh = (x[r, j] - m) * rs
            dx[r, j] = rs * (dx[r, j] - a32 - xh * c32)
