"""Where each 3-D pooling window's maximum is, as a primitive: the flat (D, H, W)
index that ``F.max_pool3d`` and ``F.adaptive_max_pool3d`` gather their values at
(the 3-D sibling of :mod:`chainrule.ops.pool_index`).

Why an index and a gather rather than a max of maxima: the gather's gradient sends
each window's gradient to exactly the element PyTorch's backward sends it to (the
first maximum in (d, h, w) row-major order; the last NaN when there are NaNs). A
max over depth of per-slice maxima would split a tie between slices, or send it
to another slice's element. The index depends on the values, so it is an op of its
own (``cr.jit`` computes it again on every call) with no derivative.
"""

from __future__ import annotations

from itertools import product
from typing import Any

import numpy as np

from chainrule.ops.pool_index import _adaptive_offsets, _window_offsets
from chainrule.ops.primitive import Primitive


def _first_max(x: np.ndarray, offsets: list[list[np.ndarray]]) -> np.ndarray:
    """Flat index (d * H * W + h * W + w) of each window's maximum in ``x`` (N, C, D,
    H, W). ``offsets[a][j]`` is the input coordinate of offset j of every window along
    spatial axis a (out of range: padding or an overhang, never taken). As PyTorch's
    kernels: the index starts at the window's first element inside the input, and a
    later element takes it when larger, or NaN."""
    sizes = x.shape[2:]
    best = index = None
    for od, oh, ow in product(*offsets):
        dd, hh, ww = od[:, None, None], oh[None, :, None], ow[None, None, :]
        inside = (dd >= 0) & (dd < sizes[0]) & (hh >= 0) & (hh < sizes[1])
        inside = inside & (ww >= 0) & (ww < sizes[2])
        clip = [np.clip(a, 0, n - 1) for a, n in zip((dd, hh, ww), sizes)]
        v = x[:, :, clip[0], clip[1], clip[2]]
        if best is None:
            best = np.full(v.shape, -np.inf, dtype=np.result_type(v.dtype, np.float32))
            index = np.full(v.shape, -1, dtype=np.int64)
        take = inside & ((v > best) | np.isnan(v) | (index < 0))
        np.copyto(best, v, where=take, casting="unsafe")
        flat = (dd * sizes[1] + hh) * sizes[2] + ww
        np.copyto(index, np.broadcast_to(flat, v.shape), where=take)
    return index


def _window_argmax3d(x, *, kernel_size, stride, padding, dilation, out_size):
    offsets = [
        _window_offsets(k, s, p, d, o)
        for k, s, p, d, o in zip(kernel_size, stride, padding, dilation, out_size)
    ]
    return _first_max(np.asarray(x), offsets)


def _adaptive_argmax3d(x, *, out_size):
    sizes = np.shape(x)[2:]
    return _first_max(np.asarray(x), [_adaptive_offsets(n, o) for n, o in zip(sizes, out_size)])


def _fold_batch_rule(prim: Primitive, xs, flags, size, params) -> Any:
    """vmap: the mapped axis folded into the volumes' N (as the 2-D siblings' rule)."""
    from chainrule.ops import shape as _sh  # noqa: PLC0415 (the engine sits above ops)
    from chainrule.ops.batch_rules import materialize  # noqa: PLC0415
    from chainrule.tensor import apply  # noqa: PLC0415

    x = xs[0] if flags[0] else materialize(xs[0], size)
    folded = apply(_sh.reshape, (x,), {"shape": (size * x.shape[1], *x.shape[2:])})
    out = apply(prim, (folded,), params)
    return apply(_sh.reshape, (out,), {"shape": (size, x.shape[1], *out.shape[1:])})


window_argmax3d = Primitive(
    "window_argmax3d",
    _window_argmax3d,
    differentiable=False,
    doc="Flat (D, H, W) index of each pooling window's first maximum (or NaN) of an "
    "NCDHW input; windows given by kernel_size, stride, padding, dilation and out_size "
    "(PyTorch's max_pool3d indices, ceil mode included).",
)

adaptive_argmax3d = Primitive(
    "adaptive_argmax3d",
    _adaptive_argmax3d,
    differentiable=False,
    doc="Flat (D, H, W) index of each adaptive window's first maximum (or NaN) of an "
    "NCDHW input, windows [floor(i D/OD), ceil((i+1) D/OD)) per axis (PyTorch's "
    "adaptive_max_pool3d indices).",
)

window_argmax3d.vmap = _fold_batch_rule
adaptive_argmax3d.vmap = _fold_batch_rule
