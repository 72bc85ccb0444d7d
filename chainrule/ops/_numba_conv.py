"""The window copies of a stride-1 convolution (im2col) and their adjoint (col2im),
float32, as compiled loops (numba; see :mod:`chainrule.ops.compiled`).

Why compiled: on NumPy's path the copies go through a 7-axis strided view (runs of
OW floats, 14 in B5's second layer) after a padded copy of the image, and col2im is
kh * kw strided adds over a padded accumulator, then a copy out of it. Here the
padding is never written out (out-of-image entries are zeros as they are copied),
and col2im adds the kh * kw contributions of one image plane while the plane is in
cache. B5's second convolution (a (128, 16, 14, 14) image, 3x3, padding 1, 2
cores): the copies 2.2 -> 0.9 ms, the input gradient 5.6 -> 3.4 ms.

Only stride 1, dilation 1 and one group take these (the usual 3x3 "same"
convolution); the caller checks the shapes, as the loops do no bounds checks.
Indices are unsigned where they are computed (np.uint64): numba wraps a signed
index that may be negative around, and that test kept LLVM from vectorising the
inner loops (measured slower than NumPy's copies with signed indices).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from chainrule.ops._numba_math import COMPILE

_U = np.uint64


@njit(**COMPILE)
def im2col(x, start, stop, kh, kw, ph, pw, oh, ow, cols):
    """The windows of images ``start:stop`` of ``x`` (N, C, H, W) into ``cols``
    (at least C * kh * kw rows, (stop - start) * oh * ow columns): row (c, i, j),
    column (image, oy, ox) holds x[image, c, oy + i - ph, ox + j - pw], or 0 where
    that is outside the image (the zero padding)."""
    if ow == x.shape[3]:
        _im2col_same_width(x, start, stop, kh, kw, ph, pw, oh, ow, cols)
    else:
        _im2col_rows(x, start, stop, kh, kw, ph, pw, oh, ow, cols)


@njit(**COMPILE)
def _im2col_same_width(x, start, stop, kh, kw, ph, pw, oh, ow, cols):
    """:func:`im2col` where the output is as wide as the image (a "same" convolution,
    kw = 2 pw + 1): then, for one (c, i, j) and image, the window entries of the
    rows that read the image are the image's own entries shifted by a constant, one
    run of up to oh * ow floats (runs of ow were measured twice as slow: B5's second
    layer, 1.68 -> 0.88 ms). Entries of that run that fall in the padding (its first
    and last columns) read a neighbouring row, and are written over with zeros
    after it; the run is trimmed so that it never reads outside the image."""
    _, channels, h, w = x.shape
    zero = x.dtype.type(0.0)
    flat = x.reshape(-1)
    for c in range(channels):
        for i in range(kh):
            # output rows whose window row i reads the image: oy in [y_lo, y_hi)
            y_lo = min(max(0, ph - i), oh)
            y_hi = max(min(oh, h + ph - i), y_lo)
            for j in range(kw):
                row = cols[(c * kh + i) * kw + j]
                lo = min(max(0, pw - j), ow)
                hi = max(min(ow, w + pw - j), lo)
                for b in range(start, stop):
                    base = (b - start) * oh * ow
                    for q in range(_U(base), _U(base + y_lo * ow)):
                        row[q] = zero
                    for q in range(_U(base + y_hi * ow), _U(base + oh * ow)):
                        row[q] = zero
                    # the run: output (oy, ox) = image (oy + i - ph, ox + j - pw)
                    first = max(0, pw - j)
                    last = (y_hi - y_lo) * ow - max(0, j - pw)
                    if last > first:
                        dst = _U(base + y_lo * ow + first)
                        src = _U(((b * channels + c) * h + y_lo + i - ph) * w + j - pw + first)
                        for q in range(_U(last - first)):
                            row[dst + q] = flat[src + q]
                    for oy in range(y_lo, y_hi):
                        at = _U(base + oy * ow)
                        for q in range(_U(lo)):
                            row[at + q] = zero
                        for q in range(_U(hi), _U(ow)):
                            row[at + q] = zero


@njit(**COMPILE)
def _im2col_rows(x, start, stop, kh, kw, ph, pw, oh, ow, cols):
    """:func:`im2col` in general: each output row's run of ow entries, the part in
    the image copied and the rest zeros."""
    _, channels, h, w = x.shape
    zero = x.dtype.type(0.0)
    width = _U(ow)
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                row = cols[(c * kh + i) * kw + j]
                # columns ox in [lo, hi) read the image, at ox + j - pw, written as
                # ox + shift - w so that every term stays unsigned
                lo = min(max(0, pw - j), ow)  # (a padding wider than the image)
                lo, hi = _U(lo), _U(max(min(ow, w + pw - j), lo))
                shift, uw = _U(j + w - pw), _U(w)
                for b in range(start, stop):
                    for oy in range(oh):
                        y = oy + i - ph
                        base = _U(((b - start) * oh + oy) * ow)
                        if y < 0 or y >= h:
                            for ox in range(width):
                                row[base + ox] = zero
                            continue
                        src = x[b, c, y]
                        for ox in range(lo):
                            row[base + ox] = zero
                        for ox in range(lo, hi):
                            row[base + ox] = src[ox + shift - uw]
                        for ox in range(hi, width):
                            row[base + ox] = zero


@njit(**COMPILE)
def col2im(d, kh, kw, ph, pw, oh, ow, dx):
    """The adjoint of :func:`im2col` over all images: ``dx`` (N, C, H, W) gets, at
    (b, c, y, x), the sum over (i, j) of d[(c, i, j), (b, y + ph - i, x + pw - j)]
    where that output position exists; ``d`` is (C * kh * kw, N * oh * ow). The
    offsets are added in row-major order (i, then j), as NumPy's path adds them."""
    n, channels, h, w = dx.shape
    zero = dx.dtype.type(0.0)
    uw = _U(w)
    for b in range(n):
        for c in range(channels):
            plane = dx[b, c]
            for y in range(h):
                for x in range(w):
                    plane[y, x] = zero
            for i in range(kh):
                y_lo, y_hi = max(0, i - ph), min(h, oh + i - ph)
                for j in range(kw):
                    row = d[(c * kh + i) * kw + j]
                    x_lo, x_hi = _U(max(0, j - pw)), _U(min(w, ow + j - pw))
                    for y in range(y_lo, y_hi):
                        # column (b, y + ph - i, x + pw - j), as base + x - w (unsigned)
                        base = _U((b * oh + y + ph - i) * ow + pw + w) - _U(j)
                        out = plane[y]
                        for x in range(x_lo, x_hi):
                            out[x] += row[base + x - uw]
