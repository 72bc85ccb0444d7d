"""Where each pooling window's maximum is, as a primitive: the index that
``F.max_pool2d(..., return_indices=True)``, ceil-mode max pooling and adaptive max
pooling gather their values at.

The index depends on the input's values, so it is an operation of its own (not
NumPy run on a Tensor's data inside a layer): ``cr.jit`` records it and computes it
again for every input, and it has no derivative (the values' gradient comes from
the gather that reads them).
"""

from __future__ import annotations

import numpy as np

from chainrule.ops.primitive import Primitive


def _window_offsets(k: int, s: int, p: int, d: int, out: int) -> list[np.ndarray]:
    """Input coordinate of offset j of every window along one axis (out of range in
    the padding or past the end)."""
    starts = np.arange(out) * s - p
    return [starts + d * j for j in range(k)]


def _adaptive_offsets(n: int, out: int) -> list[np.ndarray]:
    """Offset j of every adaptive window [floor(i n/out), ceil((i+1) n/out)) along one
    axis, or n (out of range) where the window is shorter than j + 1."""
    starts = np.array([(i * n) // out for i in range(out)])
    ends = np.array([-((-(i + 1) * n) // out) for i in range(out)])
    return [np.where(starts + j < ends, starts + j, n) for j in range(int((ends - starts).max()))]


def _first_max(x: np.ndarray, rows: list[np.ndarray], cols: list[np.ndarray]) -> np.ndarray:
    """Flat index (row * W + col) of each window's maximum in ``x`` (N, C, H, W); the
    window's offsets are every pair of ``rows`` (OH,) and ``cols`` (OW,) coordinates,
    row-major. As PyTorch's kernels: the index starts at the window's first element
    inside the input, and a later element takes it when larger, or NaN."""
    h, w = x.shape[2:]
    best = index = None
    for r in rows:
        for c in cols:
            rr, cc = r[:, None], c[None, :]
            inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            v = x[:, :, np.clip(rr, 0, h - 1), np.clip(cc, 0, w - 1)]
            if best is None:
                best = np.full(v.shape, -np.inf, dtype=np.result_type(v.dtype, np.float32))
                index = np.full(v.shape, -1, dtype=np.int64)
            take = inside & ((v > best) | np.isnan(v) | (index < 0))
            np.copyto(best, v, where=take, casting="unsafe")
            np.copyto(index, np.broadcast_to(rr * w + cc, v.shape), where=take)
    return index


def _window_argmax(x, *, kernel_size, stride, padding, dilation, out_size):
    rows, cols = (
        _window_offsets(k, s, p, d, o)
        for k, s, p, d, o in zip(kernel_size, stride, padding, dilation, out_size)
    )
    return _first_max(np.asarray(x), rows, cols)


def _adaptive_argmax(x, *, out_size):
    h, w = np.shape(x)[2:]
    return _first_max(
        np.asarray(x), _adaptive_offsets(h, out_size[0]), _adaptive_offsets(w, out_size[1])
    )


window_argmax = Primitive(
    "window_argmax",
    _window_argmax,
    differentiable=False,
    doc="Flat (H, W) index of each pooling window's first maximum (or NaN) of an NCHW "
    "input; windows given by kernel_size, stride, padding, dilation and out_size (PyTorch's "
    "max_pool2d indices, ceil mode included).",
)

adaptive_argmax = Primitive(
    "adaptive_argmax",
    _adaptive_argmax,
    differentiable=False,
    doc="Flat (H, W) index of each adaptive window's first maximum (or NaN) of an NCHW "
    "input, windows [floor(i H/OH), ceil((i+1) H/OH)) (PyTorch's adaptive_max_pool2d "
    "indices).",
)
