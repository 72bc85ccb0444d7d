"""2-D convolution as one primitive, with its two gradients as primitives.

- ``conv2d(x, w, b)``: the cross-correlation of an NCHW image ``x`` with the
  weight ``w`` (O, C/groups, kh, kw), plus the bias ``b`` (O,) or None.
- ``conv2d_input_grad(g, w)``: the gradient of ``sum(g * conv2d(x, w))`` in ``x``
  (the adjoint of the convolution in its image; ``shape`` is the image's shape).
- ``conv2d_weight_grad(g, x)``: the same gradient in ``w`` (``shape`` is ``w``'s).

The convolution is bilinear in (x, w), so each of the three is linear in each of
its two inputs (the bias aside), and every rule of each is one of the three: the table is closed
under differentiation and higher orders come for free. With ``<a, b>`` the sum of
products, all rules follow from ``<conv2d(x, w), g> = <x, input_grad(g, w)> =
<w, weight_grad(g, x)>``.

Why a primitive rather than im2col + matmul: composed, the GEMM wrote its result
channel-last, and everything after it (bias, ReLU, max-pool, col2im) walked runs
of C floats. Here the result is NCHW from the start. The work goes in chunks of
images (a few MiB of window copies, ``cols``, C*kh*kw by OH*OW per image), so
the copy and the GEMM that reads it share the cache and the GEMMs are few; the bias rides in
the GEMM as one more column of the weight against a row of ones.

The input gradient (col2im: kh*kw strided adds) uses, with stride 1, a grid as
wide as the padded input: each kernel offset's columns are then one run of OH*Wp
floats of the flattened padded image (not OH runs of OW), the GEMM computes Wp - OW
columns fed with zero gradient, and the adds run over whole runs. One more zero row
of padding keeps the last run inside the image. (The forward and the weight
gradient stay on the OW grid: there the extra GEMM columns cost more than the
shorter copies save.)
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from chainrule import conv_backend, gemm_backend
from chainrule.ops import compiled
from chainrule.ops.nn_ops import _geometry
from chainrule.ops.primitive import Primitive, call

#: Bytes of window copies per chunk of images. Measured on a 2-core machine: 1 to 16
#: MiB are alike with one BLAS thread, and with two threads on a busy machine fewer,
#: larger GEMMs stall less (4 MiB: 2.2x torch's step against 3.2x at 1 MiB, paired).
CHUNK_BYTES = 4 << 20


class _Plan:
    """Shapes of one convolution: image (n, c, h, w), weight (o, cg, kh, kw), output
    (oh, ow), and the grid the GEMM computes on: oh rows of ``width`` (ow, or the
    padded width on the wide grid) per image, ``cols`` columns in all."""

    __slots__ = (
        "n", "c", "h", "w", "o", "cg", "og", "kh", "kw", "groups", "stride", "padding",
        "dilation", "oh", "ow", "wide", "width", "hp", "wp", "k", "cols", "chunk",
    )  # fmt: skip

    def __init__(self, x_shape, w_shape, p, itemsize, wide):
        self.n, self.c, self.h, self.w = x_shape
        self.o, self.cg, self.kh, self.kw = w_shape
        stride, padding, dilation, groups = p["stride"], p["padding"], p["dilation"], p["groups"]
        self.groups, self.stride, self.padding, self.dilation = groups, stride, padding, dilation
        self.og = self.o // groups
        self.oh, self.ow = _geometry(x_shape, (self.kh, self.kw), stride, padding, dilation)
        self.hp, self.wp = self.h + 2 * padding[0], self.w + 2 * padding[1]
        # The wide grid needs stride 1; a 1-wide output has no run to lengthen.
        self.wide = wide and tuple(stride) == (1, 1) and self.ow > 1
        self.width = self.wp if self.wide else self.ow
        self.k = self.cg * self.kh * self.kw  # one group's rows of cols
        self.cols = self.oh * self.width
        per_image = self.c * self.kh * self.kw * self.cols * itemsize
        self.chunk = max(1, min(self.n, CHUNK_BYTES // max(per_image, 1)))

    def chunks(self):
        for s in range(0, self.n, self.chunk):
            yield s, min(self.n, s + self.chunk)

    def buffer(self, rows, dtype):
        """A (groups, rows, chunk * cols) buffer: a chunk's images side by side."""
        return np.empty((self.groups, rows, self.chunk * self.cols), dtype=dtype)


def _plan(x_shape, w_shape, dtype, p, wide=False):
    _check(x_shape, w_shape, p["groups"])
    return _Plan(tuple(x_shape), tuple(w_shape), p, np.dtype(dtype).itemsize, wide)


def _check(x_shape, w_shape, groups):
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(
            f"expected an image (N, C, H, W) and a weight (out, in/groups, kh, kw); "
            f"got shapes {tuple(x_shape)} and {tuple(w_shape)}"
        )
    if groups < 1 or x_shape[1] != w_shape[1] * groups or w_shape[0] % groups:
        raise ValueError(
            f"an image of {x_shape[1]} channels and a weight of shape {tuple(w_shape)} "
            f"with groups={groups} (which must divide the {w_shape[0]} out channels, "
            f"and in/groups times groups be the image's channels)"
        )


def _check_grad_shape(g, q: _Plan):
    want = (q.n, q.o, q.oh, q.ow)
    if tuple(g.shape) != want:
        raise ValueError(f"the output gradient has shape {g.shape}, the convolution's is {want}")


def _padded(x, q: _Plan):
    """x with its zero padding (and, on the wide grid, one more zero row at the bottom)."""
    (ph, pw), extra = q.padding, int(q.wide)
    if not (ph or pw or extra):
        return x
    xp = np.zeros((x.shape[0], q.c, q.hp + extra, q.wp), dtype=x.dtype)
    xp[:, :, ph : ph + q.h, pw : pw + q.w] = x
    return xp


def _windows(xp, q: _Plan):
    """A view (N, C, kh, kw, oh, ow) of every window's entries."""
    (sh, sw), (dh, dw) = q.stride, q.dilation
    span = (dh * (q.kh - 1) + 1, dw * (q.kw - 1) + 1)
    win = sliding_window_view(xp, span, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]
    return win[:, :, : q.oh, : q.ow].transpose(0, 1, 4, 5, 2, 3)


def _view(a, shape):
    """``a`` with axes split to ``shape``, never a copy (a copy written into would be
    lost): setting ``shape`` raises where reshape would silently copy."""
    v = a.view()
    v.shape = shape
    return v


def _fill_cols(buf, win, s, e, q: _Plan):
    """The chunk's windows copied into the first k rows of ``buf``: (groups, rows,
    images * oh * ow), images side by side; the chunk's part of ``buf`` is returned."""
    b = e - s
    cols = buf[:, :, : b * q.cols]
    split = (q.groups, q.cg, q.kh, q.kw, b, q.oh, q.ow)
    src = _view(win[s:e], (b, *split[:4], q.oh, q.ow)).transpose(1, 2, 3, 4, 0, 5, 6)
    np.copyto(_view(cols[:, : q.k], split), src)
    return cols


def _compiled(a, q: _Plan, read_in_place: bool = True):
    """The compiled kernels where they serve this convolution's window copies (stride
    1, dilation 1, one group; ``a`` as ``compiled.kernels_for_arrays`` takes it,
    contiguous only if the kernel reads it in place), else None. The loops do no
    bounds checks: the shapes they are given all come from ``q``."""
    if q.groups != 1 or tuple(q.stride) != (1, 1) or tuple(q.dilation) != (1, 1):
        return None
    return compiled.kernels_for_arrays(a, contiguous=read_in_place)


def _col_filler(x, q: _Plan):
    """``fill(buf, s, e)``: images s:e's window copies into ``buf`` (see
    :func:`_fill_cols`), by the compiled im2col where it serves (:func:`_compiled`),
    else by NumPy from a padded copy of ``x``."""
    kernels = _compiled(x, q)
    if kernels is not None:
        return lambda buf, s, e: _copy_cols(kernels, buf, x, s, e, q)
    win = _windows(_padded(x, q), q)
    return lambda buf, s, e: _fill_cols(buf, win, s, e, q)


def _copy_cols(kernels, buf, x, s, e, q: _Plan):
    """:func:`_fill_cols` by the compiled im2col, from the unpadded image."""
    cols = buf[:, :, : (e - s) * q.cols]
    kernels.im2col(x, s, e, q.kh, q.kw, q.padding[0], q.padding[1], q.oh, q.ow, cols[0])
    return cols


def _grad_cols(g, s, e, buf, q: _Plan):
    """The chunk of ``g`` as (groups, o/groups, images * cols), images side by side: on
    the wide grid, with zeros past ``ow``, so those columns add nothing to any sum."""
    b = e - s
    cols = buf[:, :, : b * q.cols]
    grid = _view(cols, (q.groups, q.og, b, q.oh, q.width))
    if q.wide:
        grid[..., q.ow :] = 0
        grid = grid[..., : q.ow]
    np.copyto(grid, g[s:e].reshape(b, q.groups, q.og, q.oh, q.ow).transpose(1, 2, 0, 3, 4))
    return cols


def _common(*arrays):
    dtype = np.result_type(*arrays)
    return dtype, [a.astype(dtype, copy=False) for a in arrays]


def _params(stride, padding, dilation, groups):
    """The geometry parameters as a dict (as the primitives take them)."""
    return {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


# The three computations below go chunk by chunk of images, with one GEMM per chunk
# and group over the chunk's images side by side, reordered into NCHW while in
# cache; the GEMMs by the GEMM backend in use (np.matmul unless one was chosen). One
# GEMM per image was as fast on one thread, but with BLAS's threads on a busy
# machine its hundreds of small threaded calls were measured over ten times slower
# (each waits for a thread to be scheduled).


# ----------------------------------------------------------------- forward
def _conv2d_forward(x, w, b=None, *, stride, padding, dilation, groups):
    dtype, (x, w) = _common(x, w)
    q = _plan(x.shape, w.shape, dtype, _params(stride, padding, dilation, groups))
    if conv_backend.takes(x, w):
        b = None if b is None else b.astype(dtype, copy=False)
        return conv_backend.forward(
            x, w, b, (q.oh, q.ow), _params(stride, padding, dilation, groups)
        )
    fill = _col_filler(x, q)
    w3 = w.reshape(groups, q.og, q.k)
    if b is None:
        buf = q.buffer(q.k, dtype)
    else:
        # The bias as one more column of the weight, against a row of ones under the
        # windows: the GEMM adds it, where a separate pass would read the output again.
        w3 = np.concatenate([w3, b.astype(dtype, copy=False).reshape(groups, q.og, 1)], axis=2)
        buf = q.buffer(q.k + 1, dtype)
        buf[:, q.k] = 1
    out = np.empty((q.n, q.o, q.oh, q.ow), dtype=dtype)
    for s, e in q.chunks():
        cols = fill(buf, s, e)
        y = gemm_backend.matmul(w3, cols)  # (groups, o/groups, b * oh * ow)
        out[s:e] = _view(y, (q.o, e - s, q.oh, q.ow)).transpose(1, 0, 2, 3)
    return out


# ----------------------------------------------------------------- input gradient
def _input_grad_forward(g, w, *, shape, stride, padding, dilation, groups):
    """col2im of w^T g. On the wide grid (stride 1) each kernel offset's columns are
    one run per image and channel, so its add goes over whole runs of oh * wp."""
    dtype, (g, w) = _common(g, w)
    q = _plan(shape, w.shape, dtype, _params(stride, padding, dilation, groups), wide=True)
    _check_grad_shape(g, q)
    if conv_backend.takes(g, w):
        return conv_backend.input_grad(
            g, w, tuple(shape), _params(stride, padding, dilation, groups)
        )
    kernels = _compiled(g, q, read_in_place=False)  # g is copied, channels first
    if kernels is not None:
        return _input_grad_compiled(kernels, g, w, shape, padding)
    wt = np.ascontiguousarray(w.reshape(groups, q.og, q.k).transpose(0, 2, 1))
    # One GEMM for all images (its K, o/groups, is small): chunked, this one was the
    # GEMM that slowed down most with BLAS threads on a busy machine (over 10x).
    gbuf = np.empty((groups, q.og, q.n * q.cols), dtype=dtype)
    d = gemm_backend.matmul(wt, _grad_cols(g, 0, q.n, gbuf, q))  # (groups, k, n * cols)
    d = _view(d, (q.c, q.kh, q.kw, q.n, q.cols))
    acc = np.empty((q.chunk, q.c, q.hp + int(q.wide), q.wp), dtype=dtype)
    dx = np.empty(shape, dtype=dtype)
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    for s, e in q.chunks():  # the adds, a chunk of images at a time (in cache)
        b = e - s
        a = acc[:b]
        a.fill(0)
        flat = _view(a, (b, q.c, a[0, 0].size))
        for i in range(q.kh):
            for j in range(q.kw):
                src = d[:, i, j, s:e].transpose(1, 0, 2)  # (b, c, cols)
                if q.wide:
                    start = i * dh * q.wp + j * dw
                    flat[:, :, start : start + q.cols] += src
                else:
                    r, c = i * dh, j * dw
                    rows = slice(r, r + sh * (q.oh - 1) + 1, sh)
                    a[:, :, rows, c : c + sw * (q.ow - 1) + 1 : sw] += _view(
                        src, (b, q.c, q.oh, q.ow)
                    )
        dx[s:e] = a[:, :, ph : ph + q.h, pw : pw + q.w]
    return dx


def _input_grad_compiled(kernels, g, w, shape, padding):
    """The input gradient with the compiled col2im (stride 1, one group; see
    :func:`_compiled`): one GEMM of W^T with g's channels first, then each image
    plane's kh * kw adds in one pass, on the output's own grid (no wide grid, no
    padded accumulator)."""
    o, c, kh, kw = w.shape
    n, _, oh, ow = g.shape
    wt = np.ascontiguousarray(w.reshape(o, c * kh * kw).T)
    g_cols = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(o, n * oh * ow)
    d = gemm_backend.matmul(wt, g_cols)  # (c * kh * kw, n * oh * ow)
    dx = np.empty(shape, dtype=g.dtype)
    kernels.col2im(d, kh, kw, padding[0], padding[1], oh, ow, dx)
    return dx


# ----------------------------------------------------------------- weight gradient
def _weight_grad_forward(g, x, *, shape, stride, padding, dilation, groups):
    dtype, (g, x) = _common(g, x)
    q = _plan(x.shape, shape, dtype, _params(stride, padding, dilation, groups))
    _check_grad_shape(g, q)
    if conv_backend.takes(g, x):
        return conv_backend.weight_grad(
            g, x, tuple(shape), _params(stride, padding, dilation, groups)
        )
    fill = _col_filler(x, q)
    buf, gbuf = q.buffer(q.k, dtype), q.buffer(q.og, dtype)
    dw = np.zeros((groups, q.og, q.k), dtype=dtype)
    for s, e in q.chunks():
        cols = fill(buf, s, e)
        dw += gemm_backend.matmul(_grad_cols(g, s, e, gbuf, q), cols.transpose(0, 2, 1))
    return dw.reshape(shape)


# ----------------------------------------------------------------- rules
def _conv_vjp_b(g, ans, x, w, b=None, **p):
    return g.sum(axis=(0, 2, 3))


conv2d = Primitive(
    "conv2d",
    _conv2d_forward,
    vjp=(
        lambda g, ans, x, w, b=None, **p: call(conv2d_input_grad, g, w, shape=tuple(x.shape), **p),
        lambda g, ans, x, w, b=None, **p: call(conv2d_weight_grad, g, x, shape=tuple(w.shape), **p),
        _conv_vjp_b,
    ),
    jvp=(
        lambda t, ans, x, w, b=None, **p: call(conv2d, t, w, None, **p),
        lambda t, ans, x, w, b=None, **p: call(conv2d, x, t, None, **p),
        lambda t, ans, x, w, b=None, **p: t.reshape(-1, 1, 1),
    ),
    formula=("w (windows of x)", "x (windows)", "1"),
    doc="Cross-correlation of an NCHW image with a weight (O, C/groups, kh, kw), plus a "
    "bias (or None): PyTorch's conv2d.",
)

conv2d_input_grad = Primitive(
    "conv2d_input_grad",
    _input_grad_forward,
    vjp=(
        lambda G, ans, g, w, **p: call(conv2d, G, w, None, **_conv_params(p)),
        lambda G, ans, g, w, **p: call(
            conv2d_weight_grad, g, G, shape=tuple(w.shape), **_conv_params(p)
        ),
    ),
    jvp=(
        lambda t, ans, g, w, **p: call(conv2d_input_grad, t, w, **p),
        lambda t, ans, g, w, **p: call(conv2d_input_grad, g, t, **p),
    ),
    formula=("w (transposed windows)", "g (transposed windows)"),
    doc="The gradient in the image of sum(g * conv2d(x, w)), for an image of ``shape``.",
)

conv2d_weight_grad = Primitive(
    "conv2d_weight_grad",
    _weight_grad_forward,
    vjp=(
        lambda G, ans, g, x, **p: call(conv2d, x, G, None, **_conv_params(p)),
        lambda G, ans, g, x, **p: call(
            conv2d_input_grad, g, G, shape=tuple(x.shape), **_conv_params(p)
        ),
    ),
    jvp=(
        lambda t, ans, g, x, **p: call(conv2d_weight_grad, t, x, **p),
        lambda t, ans, g, x, **p: call(conv2d_weight_grad, g, t, **p),
    ),
    formula=("x (windows)", "g (windows)"),
    doc="The gradient in the weight of sum(g * conv2d(x, w)), for a weight of ``shape``.",
)


def _conv_params(p):
    """The geometry of a gradient primitive's parameters (without its ``shape``)."""
    return {k: v for k, v in p.items() if k != "shape"}
