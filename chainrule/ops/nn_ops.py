"""Primitives for neural networks: im2col/col2im, max pooling, fused linear and loss.

- ``im2col`` copies every receptive field of an NCHW image into one row, so a
  convolution is one matrix product; its adjoint ``col2im`` adds the rows back
  into place (overlapping fields add up). Each is the other's VJP and both are
  linear, so each is also its own JVP.
- ``max_pool2d`` picks the largest element of each window. Its gradient goes to
  the first largest element of the window (as in PyTorch); ``max_pool2d_scatter``
  (upstream gradient to those positions) and ``max_pool2d_gather`` (values at
  those positions) are each other's adjoints, so the rules stay differentiable.
- ``linear`` is x @ W^T + b in one node, and ``softmax_cross_entropy`` is
  -sum(q * log_softmax(x)) over the last axis in one node: they are the hot path
  of every training step, so fusing saves nodes and temporaries.
- ``erf`` (for the exact GELU) and ``softplus`` (for stable logistic losses).

Layouts: ``im2col`` rows are ordered (n, oh, ow) and columns (kh, kw, c), channel
fastest, because copying channel-contiguous runs is several times faster than
copying kernel-width runs of three; weights are permuted to match.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from chainrule import conv_backend
from chainrule.ops import activations as _act
from chainrule.ops import compiled
from chainrule.ops.errors import InputError
from chainrule.ops.linalg import as_rows, stack_matmul
from chainrule.ops.primitive import ELEMENTWISE, Primitive, call
from chainrule.ops.rowwise import sum_along
from chainrule.tensor import Tensor


# ----------------------------------------------------------------- geometry
def out_size(n: int, k: int, s: int, p: int, d: int) -> int:
    """Output length of a window of size ``k`` sliding over ``n`` (+2p) by ``s``, dilated ``d``."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _geometry(shape, kernel_size, stride, padding, dilation):
    _, _, h, w = shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw)
    if oh <= 0 or ow <= 0:
        raise ValueError(
            f"the kernel {kh}x{kw} (dilation {dh}x{dw}) does not fit in the input "
            f"{h}x{w} padded by {ph}x{pw}"
        )
    return oh, ow


def _windows(xt, kernel_size, stride, dilation):
    """(N, OH, OW, C, kh, kw) view of every window of a padded NHWC array."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    win = sliding_window_view(xt, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(1, 2))
    return win[:, ::sh, ::sw, :, ::dh, ::dw]


# ----------------------------------------------------------------- im2col
def _im2col_forward(x, kernel_size, stride, padding, dilation):
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW input with 4 axes, got shape {x.shape}")
    n, c = x.shape[:2]
    oh, ow = _geometry(x.shape, kernel_size, stride, padding, dilation)
    (kh, kw), (ph, pw) = kernel_size, padding
    if c == 1:
        return _im2col_one_channel(x, oh, ow, kernel_size, stride, padding, dilation)
    xt = x.transpose(0, 2, 3, 1)
    if ph or pw:
        xt = np.pad(xt, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    win = _windows(xt, kernel_size, stride, dilation)
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * c)


def _im2col_one_channel(x, oh, ow, kernel_size, stride, padding, dilation):
    """im2col of a one-channel image (a network's first layer), built column-major:
    channel-fastest rows would copy one element at a time, while here each kernel
    offset is one copy of whole output rows (~3x faster). The result is the same
    matrix, F-ordered, which BLAS takes as it is."""
    n = x.shape[0]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    xp = x[:, 0]
    if ph or pw:
        xp = np.pad(xp, ((0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((kh, kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):
        r = i * dh
        for j in range(kw):
            q = j * dw
            cols[i, j] = xp[:, r : r + sh * (oh - 1) + 1 : sh, q : q + sw * (ow - 1) + 1 : sw]
    return cols.reshape(kh * kw, n * oh * ow).T


def _col2im_forward(cols, shape, kernel_size, stride, padding, dilation):
    n, c, h, w = shape
    oh, ow = _geometry(shape, kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    cols6 = cols.reshape(n, oh, ow, kh, kw, c)
    out = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=cols.dtype)
    # One vectorised add per kernel offset (kh*kw of them), never per pixel.
    for i in range(kh):
        r = i * dh
        for j in range(kw):
            q = j * dw
            out[:, r : r + sh * (oh - 1) + 1 : sh, q : q + sw * (ow - 1) + 1 : sw] += cols6[
                :, :, :, i, j
            ]
    return out[:, ph : ph + h, pw : pw + w].transpose(0, 3, 1, 2)


def _im2col_linear(t, ans, x, **params):
    return call(im2col, t, **params)


def _col2im_linear(t, ans, cols, shape, **params):
    return call(col2im, t, shape=shape, **params)


im2col = Primitive(
    "im2col",
    _im2col_forward,
    vjp=lambda g, ans, x, **p: call(col2im, g, shape=tuple(x.shape), **p),
    jvp=_im2col_linear,
    formula="1[x in window]",
    doc="Every (kh, kw) window of an NCHW image as one row of a (N*OH*OW, kh*kw*C) matrix.",
)

col2im = Primitive(
    "col2im",
    _col2im_forward,
    vjp=lambda g, ans, cols, shape, **p: call(im2col, g, **p),
    jvp=_col2im_linear,
    formula="1",
    doc="The adjoint of im2col: rows added back into an NCHW image of ``shape``.",
)


# ----------------------------------------------------------------- max pooling
# Pooling works on strided views, one per kernel offset (kh*kw of them): view (i, j)
# holds element (i, j) of every window, so the window maximum is an elementwise
# maximum of the views and nothing is copied per window.
def _pool_views(x, kernel_size, stride, padding, dilation):
    """x padded with -inf, and the index of each kernel offset's strided view into it."""
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW input with 4 axes, got shape {x.shape}")
    oh, ow = _geometry(x.shape, kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    views = []
    for i in range(kh):
        r = i * dh
        for j in range(kw):
            q = j * dw
            views.append(
                (
                    slice(None),
                    slice(None),
                    slice(r, r + sh * (oh - 1) + 1, sh),
                    slice(q, q + sw * (ow - 1) + 1, sw),
                )
            )
    return x, views


def _tiles(x, kernel_size, stride, padding, dilation):
    """True when the windows tile the input without overlap, gaps or padding (a
    kxk pool with stride k): then a window is a pair of axes of a reshaped view."""
    return (
        tuple(stride) == tuple(kernel_size)
        and tuple(padding) == (0, 0)
        and tuple(dilation) == (1, 1)
    )


def _max_pool_forward(x, kernel_size, stride, padding, dilation):
    if conv_backend.pools(x):
        out_hw = _geometry(x.shape, kernel_size, stride, padding, dilation)
        out = conv_backend.max_pool_forward(x, out_hw, kernel_size, stride, padding, dilation)
        if out is not None:
            return out
    xp, views = _pool_views(x, kernel_size, stride, padding, dilation)
    if _tiles(x, kernel_size, stride, padding, dilation) and kernel_size[0] > 1:
        # Rows first: two window rows are whole image rows, so on a channel-last
        # layout each maximum runs over long contiguous stretches (a maximum across
        # window columns runs over one pixel's channels at a time, ~10x slower per
        # element in NumPy). Then the columns, on an array kh times smaller.
        kh, kw = kernel_size
        oh, ow = _geometry(x.shape, kernel_size, stride, padding, dilation)
        if x.flags.c_contiguous:
            kernels = _pool_kernels(x) if (kh, kw) == (2, 2) else None
            if kernels is not None:  # one compiled pass (chainrule.ops._numba_pool)
                n, c, h, w = x.shape
                out = np.empty((n, c, oh, ow), dtype=x.dtype)
                kernels.max_pool_2x2(_planes(x), _planes(out))
                return out
            return _max_pool_tiled_nchw(x, kh, kw, oh, ow)
        rows = [x[:, :, i : i + kh * (oh - 1) + 1 : kh, : kw * ow] for i in range(kh)]
        best = np.maximum(rows[0], rows[1])
        for r in rows[2:]:
            np.maximum(best, r, out=best)
        if kw == 1:
            return best
        out = best[..., 0::kw].copy(order="K")
        for j in range(1, kw):
            np.maximum(out, best[..., j::kw], out=out)
        return out
    # order="K" keeps the input's memory layout (NHWC after a convolution), so the
    # elementwise ops downstream run over matching layouts.
    out = xp[views[0]].copy(order="K")
    for v in views[1:]:
        np.maximum(out, xp[v], out=out)
    return out


def _pool_kernels(*arrays):
    """The compiled kernels where they serve a 2x2 pool of these 4-D arrays (see
    ``compiled.kernels_for_arrays``), else None."""
    if any(np.ndim(a) != 4 for a in arrays):
        return None
    return compiled.kernels_for_arrays(*arrays)


def _planes(a):
    """An NCHW array as (N * C, H, W) planes (a view: the array is C-contiguous)."""
    n, c, h, w = a.shape
    return a.reshape(n * c, h, w)


def _max_pool_tiled_nchw(x, kh, kw, oh, ow, images=8):
    """The same maxima (rows, then columns) on an NCHW image, ``images`` at a time, so
    that the row maxima are still in cache when the columns read them."""
    n, c = x.shape[:2]
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    best = np.empty((min(images, n), c, oh, kw * ow), dtype=x.dtype)
    for s in range(0, n, images):
        xs, b, o = x[s : s + images], best[: min(images, n - s)], out[s : s + images]
        rows = [xs[:, :, i : i + kh * (oh - 1) + 1 : kh, : kw * ow] for i in range(kh)]
        np.maximum(rows[0], rows[1], out=b)
        for r in rows[2:]:
            np.maximum(b, r, out=b)
        if kw == 1:
            o[...] = b
            continue
        np.maximum(b[..., 0::kw], b[..., 1::kw], out=o)
        for j in range(2, kw):
            np.maximum(o, b[..., j::kw], out=o)
    return out


def _first_max_masks(x, m, params):
    """For each kernel offset: its view, and where it holds its window's first maximum
    ``m`` (the pool's output; computed here when not given)."""
    xp, views = _pool_views(x, **params)
    if m is None:
        m = _max_pool_forward(x, **params)
    free = None  # windows whose maximum has not been met yet
    for k, v in enumerate(views):
        hit = xp[v] == m
        if free is None:
            free = ~hit
        else:
            hit &= free
            if k < len(views) - 1:
                np.greater(free, hit, out=free)  # free and not hit
        yield xp, v, hit


def _windows_overlap(kernel_size, stride, dilation):
    return any(k > 1 and (d > 1 or s < k) for k, s, d in zip(kernel_size, stride, dilation))


def _max_pool_gather_forward(y, x, m=None, *, kernel_size, stride, padding, dilation):
    params = dict(kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation)
    (ph, pw) = padding
    yp = np.pad(y, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else y
    out = None
    for _, v, hit in _first_max_masks(x, m, params):
        if out is None:
            out = np.zeros_like(hit, dtype=y.dtype)
        np.copyto(out, yp[v], where=hit)
    return out


def _max_pool_scatter_tiled(g, x, m, kernel_size):
    """The scatter when the windows tile the input: each position gets the gradient
    of its window if it is the window's first maximum (row-major), else zero."""
    (kh, kw), (h, w) = kernel_size, x.shape[2:]
    oh, ow = m.shape[2:]
    if (kh, kw) == (2, 2) and (h, w) == (2 * oh, 2 * ow):
        # The compiled loop reads without bounds checks: only for g and m of the pool's
        # output shape (anything else takes NumPy's calls, which broadcast or refuse).
        fits = type(g) is np.ndarray and g.shape == m.shape == x.shape[:2] + (oh, ow)
        kernels = _pool_kernels(x, m) if fits and g.dtype == np.float32 else None
        if kernels is not None:  # one compiled pass (chainrule.ops._numba_pool)
            out = np.empty_like(x)
            g = np.ascontiguousarray(g)  # (a broadcast gradient, as sum()'s, is copied)
            kernels.max_pool_2x2_scatter(_planes(g), _planes(x), _planes(m), _planes(out))
            return out
        if sys.byteorder == "little":
            return _max_pool_scatter_2x2(g, x, m)
    full = (oh * kh, ow * kw) == (h, w)
    out = np.empty_like(x, dtype=g.dtype) if full else np.zeros_like(x, dtype=g.dtype)
    # One strided view per kernel offset, each the shape of g: on an NCHW image its
    # rows are runs of ow, where a 6-axis view (oh, kh, ow, kw) would make NumPy loop
    # over runs of kw. The window's gradient goes to the first hit; later hits (ties)
    # get what is left, left - left * 1 = exactly zero once a hit has taken it (for a
    # finite gradient; a non-finite one spreads nan over its window, as a mask does).
    left = g.copy(order="K")
    hit = np.empty(m.shape, dtype=bool)
    last = (kh - 1, kw - 1)
    for i in range(kh):
        for j in range(kw):
            o = out[:, :, i : i + kh * (oh - 1) + 1 : kh, j : j + kw * (ow - 1) + 1 : kw]
            xv = x[:, :, i : i + kh * (oh - 1) + 1 : kh, j : j + kw * (ow - 1) + 1 : kw]
            np.multiply(left, np.equal(xv, m, out=hit), out=o)
            if (i, j) != last:
                np.subtract(left, o, out=left)
    return out


def _twice(a):
    """Each entry of a 4-byte array twice in a row along the last axis: the bit
    pattern copied into both halves of a 64-bit word (two contiguous passes, where
    np.repeat copies entry by entry)."""
    u = a.view(np.uint32).astype(np.uint64, order="C")
    u *= 0x1_0000_0001
    return u.view(a.dtype)


def _max_pool_scatter_2x2(g, x, m, images=8):
    """The 2x2 scatter with whole image rows as the unit: row r of every window is
    compared at once with the maxima spread over two columns, and ties within a
    window's row are settled on the two mask bytes read as one 16-bit word. Chunks of
    ``images`` images keep the masks in cache. Entry for entry the same as the
    general way: the first maximum in row-major order gets the gradient."""
    out = np.empty_like(x, dtype=g.dtype)
    if g.dtype.itemsize != 4 or x.dtype.itemsize != 4:  # _twice needs 4-byte entries
        g2, m2 = np.repeat(g, 2, axis=3), np.repeat(m, 2, axis=3)
    else:
        g2 = m2 = None
    # C-ordered masks, whatever x's layout: their bytes are paired below.
    masks = np.empty((2, min(images, x.shape[0]), *m.shape[1:3], x.shape[3]), dtype=bool)
    for s in range(0, x.shape[0], images):
        e = min(x.shape[0], s + images)
        xs, gs = x[s:e], (_twice(g[s:e]) if g2 is None else g2[s:e])
        ms = _twice(m[s:e]) if m2 is None else m2[s:e]
        top = np.equal(xs[:, :, 0::2], ms, out=masks[0, : e - s])
        bottom = np.equal(xs[:, :, 1::2], ms, out=masks[1, : e - s])
        t16, b16 = top.view(np.uint16), bottom.view(np.uint16)
        # Little-endian: the low byte is the window's left column. Clear the right
        # one where the left one holds the maximum too.
        t16 &= ~(t16 << 8)
        b16 &= ~(b16 << 8)
        b16 *= t16 == 0  # the bottom row only where the top row has no maximum
        np.multiply(gs, top, out=out[s:e, :, 0::2])
        np.multiply(gs, bottom, out=out[s:e, :, 1::2])
    return out


def _max_pool_scatter_forward(g, x, m=None, *, kernel_size, stride, padding, dilation):
    params = dict(kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation)
    by_onednn = conv_backend.max_pool_scatter(g, x, m)
    if by_onednn is not None:
        return by_onednn
    if m is not None and _tiles(x, kernel_size, stride, padding, dilation):
        return _max_pool_scatter_tiled(g, x, m, kernel_size)
    (ph, pw) = padding
    n, c, h, w = x.shape
    overlap = _windows_overlap(kernel_size, stride, dilation)
    out = None
    for xp, v, hit in _first_max_masks(x, m, params):
        if out is None:
            out = np.zeros_like(xp, dtype=g.dtype)
        if overlap:
            out[v] += g * hit
        else:  # each position is in one window at most: write, do not add
            np.multiply(g, hit, out=out[v])
    return out[:, :, ph : ph + h, pw : pw + w] if ph or pw else out


# The scatter and gather take the pool's output as an optional third input (the
# window maxima, so they need not be found again); it only says where the maxima
# are, so no gradient flows into it.
max_pool2d = Primitive(
    "max_pool2d",
    _max_pool_forward,
    vjp=lambda g, ans, x, **p: call(max_pool2d_scatter, g, x, ans, **p),
    jvp=lambda t, ans, x, **p: call(max_pool2d_gather, t, x, ans, **p),
    saves_ans=True,
    formula="1[x = window max]",
    doc="Largest element of each (kh, kw) window of an NCHW image.",
)

max_pool2d_scatter = Primitive(
    "max_pool2d_scatter",
    _max_pool_scatter_forward,
    vjp=(lambda g, ans, y, x, m=None, **p: call(max_pool2d_gather, g, x, m, **p), None, None),
    jvp=(lambda t, ans, y, x, m=None, **p: call(max_pool2d_scatter, t, x, m, **p), None, None),
    formula=("1[x = window max]", "0", "0"),
    doc="The gradient of max_pool2d: ``g`` sent to where each window of ``x`` is largest.",
)

max_pool2d_gather = Primitive(
    "max_pool2d_gather",
    _max_pool_gather_forward,
    vjp=(lambda g, ans, y, x, m=None, **p: call(max_pool2d_scatter, g, x, m, **p), None, None),
    jvp=(lambda t, ans, y, x, m=None, **p: call(max_pool2d_gather, t, x, m, **p), None, None),
    formula=("1[x = window max]", "0", "0"),
    doc="``y`` read where each window of ``x`` is largest (the adjoint of the scatter).",
)


# ----------------------------------------------------------------- linear layer
def _linear_forward(x, w, b=None):
    out = stack_matmul(x, w.T)
    if b is None:
        return out
    if out.dtype == np.result_type(out, b):
        out += b
        return out
    return out + b


def _bias_grad(g, b):
    """The bias's gradient, the sum of ``g`` over its leading axes, as a
    vector-matrix product (BLAS; NumPy's sum down the rows of a (2048, 192) block is
    3x slower). Tensors too (a recorded backward pass: the product is
    differentiable), but not vmap's batched ones, which the engine sums (sum_to)."""
    if g.ndim < 2 or g.dtype.kind != "f" or np.ndim(b) != 1:
        return g
    if type(g) is not np.ndarray and (not isinstance(g, Tensor) or g._batched):
        return g
    rows = as_rows(g)
    return np.ones(rows.shape[0], dtype=g.dtype) @ rows


linear = Primitive(
    "linear",
    _linear_forward,
    vjp=(
        lambda g, ans, x, w, b=None: stack_matmul(g, w),
        lambda g, ans, x, w, b=None: stack_matmul(as_rows(g).T, as_rows(x)),
        lambda g, ans, x, w, b=None: _bias_grad(g, b),
    ),
    jvp=(
        lambda t, ans, x, w, b=None: stack_matmul(t, w.T),
        lambda t, ans, x, w, b=None: stack_matmul(x, t.T),
        lambda t, ans, x, w, b=None: t,
    ),
    formula=("W", "x", "1"),
    doc="x @ W^T + b (b may be None), the affine map of a Linear layer, in one node.",
)


# ----------------------------------------------------------------- cross-entropy
def _softmax_cross_entropy_forward(x, q, reduce=False):
    logp = _act._log_softmax_forward(x, axis=-1)
    if np.isfinite(logp).all():
        prod = q * logp
    else:
        # A -inf logit (a masked class) with zero target weight contributes 0, not nan.
        with np.errstate(invalid="ignore"):
            prod = np.where(q == 0, 0, q * logp)
    return -prod.sum() if reduce else -sum_along(prod, -1)


def _per_row(g, reduce):
    # g is d loss / d row loss: one value per row, or one for the summed loss.
    return g if reduce else np.expand_dims(g, -1)


def _sce_vjp_x(g, ans, x, q, reduce=False):
    p = call(_act.softmax, x, axis=-1)
    return _per_row(g, reduce) * (p * sum_along(q, -1, keepdims=True) - q)


def _sce_vjp_q(g, ans, x, q, reduce=False):
    return -(_per_row(g, reduce) * call(_act.log_softmax, x, axis=-1))


def _sce_jvp_x(t, ans, x, q, reduce=False):
    p = call(_act.softmax, x, axis=-1)
    d = (p * sum_along(q, -1, keepdims=True) - q) * t
    return d.sum() if reduce else sum_along(d, -1)


def _sce_jvp_q(t, ans, x, q, reduce=False):
    d = -(t * call(_act.log_softmax, x, axis=-1))
    return d.sum() if reduce else sum_along(d, -1)


softmax_cross_entropy = Primitive(
    "softmax_cross_entropy",
    _softmax_cross_entropy_forward,
    vjp=(_sce_vjp_x, _sce_vjp_q),
    jvp=(_sce_jvp_x, _sce_jvp_q),
    formula=("softmax(x)*sum(q)-q", "-log_softmax(x)"),
    doc="-sum(q * log_softmax(x)) over the last axis (over everything with reduce=True): "
    "cross-entropy of logits x against target weights q, stable for large |x|.",
)


class ClassTargetError(InputError, IndexError):
    """A class target outside 0..classes-1 that is not the ignore_index."""


def _out_of_range(target, valid, classes, ignore_index, name):
    # Runs only once the range check has failed, so it may spend a unique() on naming
    # every offending value (the first few): one bad label is often not the only one.
    bad = np.unique(target[valid & ((target < 0) | (target >= classes))])
    shown = ", ".join(str(int(v)) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
    return (
        f"{name}: target{'s' if bad.size > 1 else ''} {shown} "
        f"{'are' if bad.size > 1 else 'is'} out of range for {classes} classes "
        f"(targets must be in 0..{classes - 1}, or ignore_index={ignore_index})"
    )


def _class_weights_forward(
    target, weight, *, dtype, classes, ignore_index, label_smoothing, mean, name
):
    """q, the weight of each class in each sample's loss -sum(q log p) (over the mean's
    divisor when ``mean``): the one-hot target (or its label-smoothed mix), times the
    class weight, zero for ignored samples. The target's dtype and shape are checked
    by the caller; its values are checked here, on every call."""
    if weight is None and not label_smoothing and target.size:
        lo, hi = target.min(), target.max()
        if lo >= 0 and hi < classes and not lo <= ignore_index <= hi:
            # The common case, plain one-hot targets with none ignored, in five NumPy
            # calls: q is 1 at each sample's class, or 1/N for the mean (divided in
            # q's dtype, as the general way below does).
            q = np.zeros((*target.shape, classes), dtype=dtype)
            kind = np.dtype(dtype).type
            value = kind(1) / kind(target.size) if mean else 1
            q.reshape(-1, classes)[np.arange(target.size), target.reshape(-1)] = value
            return q
    valid = target != ignore_index
    all_valid = bool(valid.all())
    t = target if all_valid else np.where(valid, target, 0)
    if t.size:
        lo, hi = t.min(), t.max()
        if lo < 0 or hi >= classes:
            raise ClassTargetError(_out_of_range(target, valid, classes, ignore_index, name))
    w = None if weight is None else weight.astype(dtype, copy=False)
    if w is None:
        picked = valid.astype(dtype)
        total = float(t.size) if all_valid else float(valid.sum())
    else:
        picked = w[t] if all_valid else np.where(valid, w[t], 0).astype(dtype, copy=False)
        total = float(picked.sum())
    q = np.zeros((*target.shape, classes), dtype=dtype)
    if label_smoothing:
        q += (label_smoothing / classes) * (1 if w is None else w)
        if not all_valid:
            q *= valid[..., None]
    flat = q.reshape(-1, classes)
    flat_t = t.reshape(-1)
    flat[np.arange(flat_t.size), flat_t] += ((1 - label_smoothing) * picked).reshape(-1)
    # With every target ignored, PyTorch's mean is 0/0 = nan but its gradient is 0:
    # q stays zero here and the loss functions add the nan to the value alone.
    if mean and (all_valid or valid.any()):
        with np.errstate(invalid="ignore", divide="ignore"):
            q /= np.asarray(total, dtype=q.dtype)
    return q


class_weights = Primitive(
    "class_weights",
    _class_weights_forward,
    differentiable=False,
    doc="The target weights q of cross-entropy and NLL for integer class targets "
    "(one-hot, label-smoothed, class-weighted, ignored samples zero; divided by the "
    "mean's divisor with mean=True). A primitive so that cr.jit records it.",
)


def _nan_if_none_counted_forward(loss, q, batch_dims=0):
    counted = q.reshape(*q.shape[:batch_dims], -1).any(axis=-1)
    return np.where(counted, loss, np.asarray(np.nan, dtype=loss.dtype))


# PyTorch's mean over no counted target (all ignored) is 0/0 = nan, with gradient 0,
# so a batch of padding alone leaves the weights as they were. class_weights leaves
# q zero then; this puts the nan into the value alone. A primitive (not a check in
# Python) so that cr.jit replays it on every call; batch_dims counts the leading
# axes of q that vmap added, one loss per example.
nan_if_none_counted = Primitive(
    "nan_if_none_counted",
    _nan_if_none_counted_forward,
    vjp=(lambda g, ans, loss, q, **p: g, None),
    jvp=(lambda t, ans, loss, q, **p: t, None),
    formula=("1", "0"),
    doc="The mean loss, or nan where its target weights q are all zero (nothing counted).",
)


# ----------------------------------------------------------------- erf, softplus
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf_forward(x):
    """erf to about 1e-15: a series with positive terms below 2.5, a continued fraction above."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    a = np.abs(x.astype(np.float64))
    out = np.empty_like(a)
    small = a < 2.5
    s = a[small]
    if s.size:
        # erf(x) = 2/sqrt(pi) e^-x^2 sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)): no cancellation.
        term = s.copy()
        total = s.copy()
        two_x2 = 2 * s * s
        for n in range(1, 80):
            term *= two_x2 / (2 * n + 1)
            total += term
            if np.all(term <= 1e-17 * total):
                break
        out[small] = _TWO_OVER_SQRT_PI * np.exp(-s * s) * total
    big = a[~small]
    if big.size:
        # erfc(x) = e^-x^2 / sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))).
        f = big.copy()
        for k in range(50, 0, -1):
            f = big + (k / 2) / f
        out[~small] = 1 - np.exp(-big * big) / (math.sqrt(math.pi) * f)
    return np.copysign(out, x).astype(dtype, copy=False)


def _erf_rule(g, ans, x):
    return g * (np.exp(-(x * x)) * _TWO_OVER_SQRT_PI)


erf = Primitive(
    "erf",
    _erf_forward,
    vjp=_erf_rule,
    jvp=_erf_rule,
    formula="2/sqrt(pi)*exp(-x^2)",
    doc="The error function 2/sqrt(pi) * integral_0^x e^(-t^2) dt.",
)


def _softplus_rule(g, ans, x):
    return g * call(_act.sigmoid, x)


softplus = Primitive(
    "softplus",
    lambda x: np.logaddexp(0, x),
    vjp=_softplus_rule,
    jvp=_softplus_rule,
    formula="sigmoid(x)",
    doc="log(1 + e^x), computed stably.",
)


# ------------------------------------------------------- binary cross-entropy
# PyTorch's BCE, value and gradient: each log is clamped at -100, so p = 0 or 1
# gives a finite loss, and the gradient with respect to p divides by p(1 - p)
# floored at 1e-12. A composite of clipped logs would give the clamp's flat zero
# where PyTorch pushes p back hard (p = 0 with y = 1), and the exact -1/p where
# PyTorch's floor shrinks it (sigmoid saturated at |x| > 28): another training run.
# PyTorch's floor is the float32 1e-12 (9.99999996e-13), in float64 too.
_BCE_FLOOR = float(np.float32(1e-12))


def _bce_logs(p):
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), -100), np.maximum(np.log1p(-p), -100)


def _bce_forward(p, y):
    log_p, log_q = _bce_logs(p)
    return -(y * log_p + (1 - y) * log_q)


def _bce_rule_p(g, ans, p, y):
    return g * (p - y) / np.maximum(p * (1 - p), _BCE_FLOOR)


def _bce_rule_y(g, ans, p, y):
    log_p, log_q = _bce_logs(p)
    return g * (log_q - log_p)


binary_cross_entropy = Primitive(
    "binary_cross_entropy",
    _bce_forward,
    vjp=(_bce_rule_p, _bce_rule_y),
    jvp=(_bce_rule_p, _bce_rule_y),
    formula=("(p-y)/max(p(1-p), 1e-12)", "log(1-p) - log(p)"),
    doc="-(y log p + (1 - y) log(1 - p)), each log clamped at -100 (PyTorch's BCE).",
)
binary_cross_entropy.batch = ELEMENTWISE
