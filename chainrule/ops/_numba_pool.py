"""2x2 max pooling with stride 2 (a CNN's usual pool), float32, forward and
gradient as one compiled loop each (numba; see :mod:`chainrule.ops.compiled`).

Why compiled: NumPy needs several passes for either (the row maxima, then the
column maxima; for the gradient two comparisons, the tie rule on the mask bytes and
two products), each over strided halves of the image rows. B5's CNN step spent
7.3 ms of 36 in its two pools (2 cores, BENCHMARKS.md); one pass reads each
value once.

Both work on planes: an NCHW image reshaped to (N * C, H, W), C-contiguous.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from chainrule.ops._numba_math import COMPILE


@njit(inline="always")
def _maximum(a, b):
    """``np.maximum(a, b)``: ``a`` where a >= b or a is NaN, else ``b`` (so a NaN
    anywhere wins, and of two equal values, zeros of either sign, the first)."""
    return a if (a >= b or a != a) else b


# The column indices are unsigned (np.uint64): numba wraps a signed index that may be
# negative around, and that test kept LLVM from vectorising these loops (the
# gradient's was then slower than NumPy's passes, measured).
_TWO, _ONE_INDEX = np.uint64(2), np.uint64(1)


@njit(**COMPILE)
def max_pool_2x2(x, out):
    """``out`` (P, OH, OW) gets the maximum of each 2x2 window of ``x`` (P, H, W),
    H >= 2 OH and W >= 2 OW, in NumPy's path's order: the two rows' maxima, column
    by column, then their maximum."""
    planes, oh, ow = out.shape
    for p in range(planes):
        for i in range(oh):
            top, bottom, o = x[p, 2 * i], x[p, 2 * i + 1], out[p, i]
            for j in range(np.uint64(ow)):
                j0 = _TWO * j
                j1 = j0 + _ONE_INDEX
                left = _maximum(top[j0], bottom[j0])
                right = _maximum(top[j1], bottom[j1])
                o[j] = _maximum(left, right)


@njit(**COMPILE)
def max_pool_2x2_scatter(g, x, m, out):
    """``out`` (P, 2 OH, 2 OW) gets each window's gradient ``g`` (P, OH, OW) at the
    window's first maximum in row-major order (where ``x`` equals the pool's output
    ``m``) and zero elsewhere, each as a product of g with 1 or 0, as NumPy's path
    computes it (an infinite or NaN gradient makes NaN over its window; a window
    whose maximum is NaN matches nowhere and gets zeros). Branch-free, so that it
    vectorises: each hit is 1 or 0 times what no earlier position took."""
    planes, oh, ow = g.shape
    one, zero = x.dtype.type(1.0), x.dtype.type(0.0)
    for p in range(planes):
        for i in range(oh):
            top, bottom = x[p, 2 * i], x[p, 2 * i + 1]
            out_top, out_bottom = out[p, 2 * i], out[p, 2 * i + 1]
            gr, mr = g[p, i], m[p, i]
            for j in range(np.uint64(ow)):
                j0 = _TWO * j
                j1 = j0 + _ONE_INDEX
                best, grad = mr[j], gr[j]
                h00 = one if top[j0] == best else zero
                h01 = (one if top[j1] == best else zero) * (one - h00)
                left = one - h00 - h01
                h10 = (one if bottom[j0] == best else zero) * left
                h11 = (one if bottom[j1] == best else zero) * (left - h10)
                out_top[j0] = grad * h00
                out_top[j1] = grad * h01
                out_bottom[j0] = grad * h10
                out_bottom[j1] = grad * h11
