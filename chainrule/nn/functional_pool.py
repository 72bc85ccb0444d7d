"""Pooling beyond the plain window: ``ceil_mode``, ``return_indices``, adaptive max
pooling, and the 1-D poolings (the 2-D ones on a unit height axis), as PyTorch has
them.

The plain max pool is a primitive (``chainrule.ops.nn_ops.max_pool2d``). Here a
max pool whose windows are irregular (an overhanging last window in ceil mode,
adaptive windows of two sizes) or whose indices are asked for finds each window's
maximum as PyTorch's kernels do (``chainrule.ops.pool_index``: row-major, a later
element taken when larger or NaN) and gathers the value from the input there. The
gather's gradient sends each output's gradient to its index, as PyTorch's backward
does (ties: the first maximum; windows that overlap add up).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.ops import nn_ops as _nn
from chainrule.ops import pool_index as _pi
from chainrule.tensor import Tensor, apply, as_tensor

IntPair = int | Sequence[int]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _pair(v: Any, name: str, op: str) -> tuple[int, int]:
    if isinstance(v, int | np.integer):
        return int(v), int(v)
    out = tuple(int(a) for a in v)
    if len(out) == 1:
        return out[0], out[0]
    if len(out) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair, got {v!r}")
    return out  # type: ignore[return-value]


def pool_geometry(
    size: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    ceil_mode: bool,
    op: str,
) -> tuple[int, ...]:
    """PyTorch's pooling output sizes (pooling_output_shape): with ``ceil_mode`` the
    last window may overhang the end, but must start inside the input or its left
    padding. Also PyTorch's checks of the arguments."""
    out = []
    for n, k, s, p, d in zip(size, kernel, stride, padding, dilation):
        if k < 1 or s < 1 or d < 1 or p < 0:
            raise ValueError(
                f"{op}: kernel_size, stride and dilation must be positive and padding "
                f"non-negative, got kernel {tuple(kernel)}, stride {tuple(stride)}, "
                f"padding {tuple(padding)}, dilation {tuple(dilation)}"
            )
        if 2 * p > d * (k - 1) + 1:
            raise ValueError(
                f"{op}: padding {tuple(padding)} must be at most half the (dilated) kernel "
                f"size {tuple(kernel)}"
            )
        span = n + 2 * p - d * (k - 1) - 1
        length = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (length - 1) * s >= n + p:
            length -= 1
        if length < 1:
            raise ValueError(
                f"{op}: the input's spatial size {tuple(size)} is too small for kernel "
                f"{tuple(kernel)} (dilation {tuple(dilation)}, padding {tuple(padding)})"
            )
        out.append(length)
    return tuple(out)


def _gather(x: Tensor, index: Tensor) -> Tensor:
    """``x``'s values at flat spatial ``index`` (N, C, OH, OW), differentiably."""
    n, c, h, w = x.shape
    picked = x.reshape(n, c, h * w).gather(2, index.reshape(n, c, -1))
    return picked.reshape(index.shape)


def _batched(x: Tensor, op: str) -> tuple[Tensor, bool]:
    if x.ndim == 3:
        return x.reshape(1, *x.shape), True
    if x.ndim != 4:
        raise ValueError(
            f"{op}: expected an input of shape (N, C, H, W) or (C, H, W), got {x.shape}"
        )
    return x, False


def max_pool2d_indexed(
    input: Any,
    kernel_size: IntPair,
    stride: IntPair | None,
    padding: IntPair,
    dilation: IntPair,
    ceil_mode: bool,
    return_indices: bool,
    op: str = "max_pool2d",
) -> Any:
    """``F.max_pool2d`` in ceil mode or with indices: the maximum of every window (the
    overhanging part of a ceil-mode window and the padding never win), and with
    ``return_indices`` the flat index of each maximum in its (H, W) plane."""
    x, unbatched = _batched(_t(input), op)
    k = _pair(kernel_size, "kernel_size", op)
    s = (
        k
        if stride is None or (not isinstance(stride, int) and len(stride) == 0)
        else _pair(stride, "stride", op)
    )
    p, d = _pair(padding, "padding", op), _pair(dilation, "dilation", op)
    n, c, h, w = x.shape
    oh, ow = pool_geometry((h, w), k, s, p, d, ceil_mode, op)
    params = dict(kernel_size=k, stride=s, padding=p, dilation=d, out_size=(oh, ow))
    index = apply(_pi.window_argmax, (x,), params)
    out = _gather(x, index)
    if unbatched:
        out, index = out[0], index[0]
    return (out, index) if return_indices else out


def adaptive_max_pool2d(
    input: Any, output_size: int | None | Sequence[int | None], return_indices: bool = False
) -> Any:
    """Maximum over PyTorch's adaptive windows: output cell (i, j) covers rows
    [floor(i H/OH), ceil((i+1) H/OH)) and the like columns (None keeps that side);
    with ``return_indices`` also the flat index of each maximum in its (H, W) plane.

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.adaptive_max_pool2d(np.arange(9.0).reshape(1, 1, 3, 3), 2).numpy()
    array([[[[4., 5.],
             [7., 8.]]]])
    """
    op = "adaptive_max_pool2d"
    x, unbatched = _batched(_t(input), op)
    n, c, h, w = x.shape
    size = output_size if isinstance(output_size, Sequence) else (output_size, output_size)
    if len(size) != 2:
        raise ValueError(f"{op}: output_size must be one or two sizes, got {output_size!r}")
    oh = h if size[0] is None else int(size[0])
    ow = w if size[1] is None else int(size[1])
    if oh < 1 or ow < 1:
        raise ValueError(f"{op}: output size ({oh}, {ow}) must be positive")
    index = apply(_pi.adaptive_argmax, (x,), {"out_size": (oh, ow)})
    out = _gather(x, index)
    if unbatched:
        out, index = out[0], index[0]
    return (out, index) if return_indices else out


def avg_pool2d_divisors(
    size: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    out: Sequence[int],
    count_include_pad: bool,
) -> np.ndarray:
    """PyTorch's divisor of every window, (OH, OW): the window clipped to the padded
    input (so a ceil-mode overhang does not count), then to the input itself unless
    ``count_include_pad``."""
    per_axis = []
    for n, k, s, p, o in zip(size, kernel, stride, padding, out):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            per_axis.append(end - start)
        else:
            per_axis.append(np.minimum(end, n) - np.maximum(start, 0))
    return np.outer(per_axis[0], per_axis[1])


def avg_pool2d_general(
    x: Tensor,
    k: tuple[int, int],
    s: tuple[int, int],
    p: tuple[int, int],
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
    op: str = "avg_pool2d",
) -> Tensor:
    """Window sums by im2col over zeros (the padding, and a ceil-mode overhang), each
    divided by PyTorch's divisor of its window."""
    n, c, h, w = x.shape
    oh, ow = pool_geometry((h, w), k, s, p, (1, 1), ceil_mode, op)
    extent_h, extent_w = (oh - 1) * s[0] + k[0], (ow - 1) * s[1] + k[1]
    bottom, right = max(0, extent_h - h - 2 * p[0]), max(0, extent_w - w - 2 * p[1])
    if bottom or right:
        from chainrule.nn.functional_extra import pad  # noqa: PLC0415 (functional imports us)

        x = pad(x, (0, right, 0, bottom))
    params = {"kernel_size": k, "stride": s, "padding": p, "dilation": (1, 1)}
    cols = apply(_nn.im2col, (x,), params)  # (N*OH*OW, kh*kw*C)
    total = cols.reshape(cols.shape[0], k[0] * k[1], c).sum(axis=1)
    if divisor_override:
        out = total / divisor_override
    else:
        div = avg_pool2d_divisors((h, w), k, s, p, (oh, ow), count_include_pad)
        if div.min() == div.max():  # every window whole: one number
            out = total / int(div.flat[0])
        else:
            out = total / np.tile(div.reshape(-1).astype(total.dtype), n)[:, None]
    return out.reshape(n, oh, ow, c).transpose(0, 3, 1, 2)


def _one_d(name: str, x: Tensor) -> tuple[Tensor, bool]:
    if x.ndim not in (2, 3):
        raise ValueError(f"{name}: expected an input of shape (N, C, L) or (C, L), got {x.shape}")
    unbatched = x.ndim == 2
    x = x.reshape(1, *x.shape) if unbatched else x
    return x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]), unbatched


def _single(v: Any, name: str, op: str) -> int:
    if isinstance(v, int | np.integer):
        return int(v)
    out = tuple(int(a) for a in v)
    if len(out) != 1:
        raise ValueError(f"{op}: {name} must be an int or one int, got {v!r}")
    return out[0]


def max_pool1d(
    input: Any,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Largest value of each window of an (N, C, L) or (C, L) input (max_pool2d on a
    unit height axis); indices are positions along L.

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.max_pool1d(np.array([[[1.0, 3.0, 2.0, 5.0, 4.0]]]), 2).numpy()
    array([[[3., 5.]]])
    """
    from chainrule.nn.functional import max_pool2d  # noqa: PLC0415 (functional imports us)

    op = "max_pool1d"
    x, unbatched = _one_d(op, _t(input))
    k = _single(kernel_size, "kernel_size", op)
    s = (
        k
        if stride is None or (not isinstance(stride, int) and len(stride) == 0)
        else _single(stride, "stride", op)
    )
    p, d = _single(padding, "padding", op), _single(dilation, "dilation", op)
    res = max_pool2d(x, (1, k), (1, s), (0, p), (1, d), ceil_mode, return_indices)
    out, index = res if return_indices else (res, None)
    out = out.reshape(out.shape[0], out.shape[1], out.shape[3])
    out = out[0] if unbatched else out
    if index is None:
        return out
    index = index.reshape(index.shape[0], index.shape[1], index.shape[3])
    return out, (index[0] if unbatched else index)


def avg_pool1d(
    input: Any,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """Mean of each window of an (N, C, L) or (C, L) input (avg_pool2d on a unit height
    axis).

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.avg_pool1d(np.array([[[1.0, 3.0, 2.0, 6.0]]]), 2).numpy()
    array([[[2., 4.]]])
    """
    from chainrule.nn.functional import avg_pool2d  # noqa: PLC0415 (functional imports us)

    op = "avg_pool1d"
    x, unbatched = _one_d(op, _t(input))
    k = _single(kernel_size, "kernel_size", op)
    s = (
        k
        if stride is None or (not isinstance(stride, int) and len(stride) == 0)
        else _single(stride, "stride", op)
    )
    p = _single(padding, "padding", op)
    out = avg_pool2d(x, (1, k), (1, s), (0, p), ceil_mode, count_include_pad)
    out = out.reshape(out.shape[0], out.shape[1], out.shape[3])
    return out[0] if unbatched else out


def adaptive_max_pool1d(input: Any, output_size: int, return_indices: bool = False) -> Any:
    """Maximum over PyTorch's adaptive windows of an (N, C, L) or (C, L) input.

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.adaptive_max_pool1d(np.array([[[1.0, 3.0, 2.0, 5.0, 4.0]]]), 2).numpy()
    array([[[3., 5.]]])
    """
    op = "adaptive_max_pool1d"
    x, unbatched = _one_d(op, _t(input))
    res = adaptive_max_pool2d(x, (1, _single(output_size, "output_size", op)), return_indices)
    out, index = res if return_indices else (res, None)
    out = out.reshape(out.shape[0], out.shape[1], out.shape[3])
    out = out[0] if unbatched else out
    if index is None:
        return out
    index = index.reshape(index.shape[0], index.shape[1], index.shape[3])
    return out, (index[0] if unbatched else index)


__all__ = [
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "avg_pool1d",
    "max_pool1d",
]
