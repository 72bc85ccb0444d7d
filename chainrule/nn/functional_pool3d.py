"""Pooling over (N, C, D, H, W) volumes, as PyTorch has it: ``max_pool3d``,
``avg_pool3d``, ``adaptive_avg_pool3d`` and ``adaptive_max_pool3d``.

- The max poolings find each window's maximum as PyTorch's kernels do (a
  primitive without a derivative, :mod:`chainrule.ops.pool3d_index`) and gather the
  values there; the gather's gradient goes to that one element, ties and NaN as in
  PyTorch, overlapping windows adding up.
- ``avg_pool3d`` is a box sum, separable: along each axis the sum of ``k`` strided
  slices of the zero-padded input, then a division by PyTorch's divisor of each
  window (a product of the per-axis lengths).
- ``adaptive_avg_pool3d`` averages one axis at a time over PyTorch's windows
  [floor(i n/o), ceil((i+1) n/o)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.nn.functional_conv import _adaptive_mean_axis, _tuple
from chainrule.nn.functional_extra import pad
from chainrule.nn.functional_pool import pool_geometry, stride_or_kernel
from chainrule.ops import pool3d_index as _pi3
from chainrule.tensor import Tensor, apply, as_tensor

IntOrTriple = int | Sequence[int]
SizeTriple = int | None | Sequence[int | None]

__all__ = ["adaptive_avg_pool3d", "adaptive_max_pool3d", "avg_pool3d", "max_pool3d"]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _triple(v: Any, name: str, op: str) -> tuple[int, int, int]:
    return _tuple(v, 3, name, op, one_for_all=True)  # type: ignore[return-value]


def _batched(x: Tensor, op: str) -> tuple[Tensor, bool]:
    """A batch of volumes (N, C, D, H, W) and whether ``x`` was one volume (C, D, H, W)."""
    if x.ndim == 4:
        return x.reshape(1, *x.shape), True
    if x.ndim != 5:
        raise ValueError(
            f"{op}: expected an input of shape (N, C, D, H, W) or (C, D, H, W), got "
            f"{tuple(x.shape)}"
        )
    return x, False


def _gather(x: Tensor, index: Tensor) -> Tensor:
    """``x``'s values at flat (D, H, W) ``index`` (N, C, OD, OH, OW), differentiably."""
    n, c = x.shape[:2]
    picked = x.reshape(n, c, -1).gather(2, index.reshape(n, c, -1))
    return picked.reshape(index.shape)


def _unbatch(parts: tuple, unbatched: bool, return_indices: bool) -> Any:
    if unbatched:
        parts = tuple(p[0] for p in parts)
    return parts if return_indices else parts[0]


def max_pool3d(
    input: Any,
    kernel_size: IntOrTriple,
    stride: IntOrTriple | None = None,
    padding: IntOrTriple = 0,
    dilation: IntOrTriple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Largest value of each window of an (N, C, D, H, W) or (C, D, H, W) input (the
    stride defaults to the kernel size); with ``return_indices`` also each maximum's
    flat index in its (D, H, W) volume; with ``ceil_mode`` a last window may overhang
    the end (PyTorch's output size). The gradient goes to the first maximum of each
    window in (d, h, w) order, as PyTorch's.

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.max_pool3d(np.arange(8.0).reshape(1, 1, 2, 2, 2), 2).numpy()
    array([[[[[7.]]]]])
    """
    op = "max_pool3d"
    x, unbatched = _batched(_t(input), op)
    k = _triple(kernel_size, "kernel_size", op)
    s = _triple(stride_or_kernel(stride, k), "stride", op)
    p, d = _triple(padding, "padding", op), _triple(dilation, "dilation", op)
    if any(2 * a > b for a, b in zip(p, k)):
        raise ValueError(f"{op}: padding {p} must be at most half the kernel size {k}")
    out_size = pool_geometry(x.shape[2:], k, s, p, d, ceil_mode, op)
    params = dict(kernel_size=k, stride=s, padding=p, dilation=d, out_size=out_size)
    index = apply(_pi3.window_argmax3d, (x,), params)
    return _unbatch((_gather(x, index), index), unbatched, return_indices)


def _window_sums(x: Tensor, k: Sequence[int], s: Sequence[int], out: Sequence[int]) -> Tensor:
    """Sum of every (k) window with stride (s) of ``x`` (already padded with zeros to
    cover every window), one spatial axis at a time: k strided slices added per axis."""
    for a, (ka, sa, oa) in enumerate(zip(k, s, out)):
        lead = (slice(None),) * (2 + a)
        total = None
        for j in range(ka):
            part = x[(*lead, slice(j, j + sa * (oa - 1) + 1, sa))]
            total = part if total is None else total + part
        assert total is not None
        x = total
    return x


def _divisors(size, kernel, stride, padding, out, count_include_pad) -> np.ndarray:
    """PyTorch's divisor of every window, (OD, OH, OW): the window clipped to the
    padded input (a ceil-mode overhang does not count), then to the input itself
    unless ``count_include_pad``; a product of one length per axis."""
    lengths = []
    for n, k, s, p, o in zip(size, kernel, stride, padding, out):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            lengths.append(end - start)
        else:
            lengths.append(np.minimum(end, n) - np.maximum(start, 0))
    return lengths[0][:, None, None] * lengths[1][None, :, None] * lengths[2][None, None, :]


def avg_pool3d(
    input: Any,
    kernel_size: IntOrTriple,
    stride: IntOrTriple | None = None,
    padding: IntOrTriple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean of each window of an (N, C, D, H, W) or (C, D, H, W) input; padded zeros
    count unless ``count_include_pad=False``; a ceil-mode overhang never counts;
    ``divisor_override`` replaces every divisor (PyTorch's arguments).

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.avg_pool3d(np.arange(8.0).reshape(1, 1, 2, 2, 2), 2).numpy()
    array([[[[[3.5]]]]])
    """
    op = "avg_pool3d"
    x, unbatched = _batched(_t(input), op)
    k = _triple(kernel_size, "kernel_size", op)
    s = _triple(stride_or_kernel(stride, k), "stride", op)
    p = _triple(padding, "padding", op)
    if any(2 * a > b for a, b in zip(p, k)):
        raise ValueError(f"{op}: padding {p} must be at most half the kernel size {k}")
    if divisor_override is not None and (
        not isinstance(divisor_override, int | np.integer) or divisor_override == 0
    ):
        raise ValueError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
    size = x.shape[2:]
    out_size = pool_geometry(size, k, s, p, (1, 1, 1), ceil_mode, op)
    # Zeros for the padding and for a ceil-mode overhang past the end.
    after = [max(p[a], (o - 1) * s[a] + k[a] - size[a] - p[a]) for a, o in enumerate(out_size)]
    amounts = (p[2], after[2], p[1], after[1], p[0], after[0])
    if any(amounts):
        x = pad(x, amounts)
    total = _window_sums(x, k, s, out_size)
    if divisor_override:
        out = total / int(divisor_override)
    else:
        div = _divisors(size, k, s, p, out_size, count_include_pad)
        if div.min() == div.max():  # every window whole: one number
            out = total / int(div.flat[0])
        else:
            out = total / div.astype(total.dtype if total.dtype.kind == "f" else np.float64)
    if x.dtype.kind in "iu":  # PyTorch divides integers in their type: toward zero
        out = out.astype(x.dtype)
    return out[0] if unbatched else out


def _adaptive_sizes(shape: Sequence[int], output_size: SizeTriple, op: str) -> tuple[int, ...]:
    """Three output sizes from an int, None or three (None keeps that axis's size)."""
    if output_size is None or isinstance(output_size, int | np.integer):
        sizes: Sequence[Any] = (output_size,) * 3
    elif isinstance(output_size, Sequence) and not isinstance(output_size, str):
        sizes = output_size
    else:
        raise ValueError(f"{op}: output_size must be an int, None or three, got {output_size!r}")
    if len(sizes) != 3 or not all(v is None or isinstance(v, int | np.integer) for v in sizes):
        raise ValueError(f"{op}: output_size must be an int, None or three, got {output_size!r}")
    out = tuple(n if v is None else int(v) for n, v in zip(shape, sizes))
    if min(out) < 1:
        raise ValueError(f"{op}: output size {out} must be positive")
    return out


def adaptive_avg_pool3d(input: Any, output_size: SizeTriple) -> Tensor:
    """Mean over PyTorch's adaptive windows of an (N, C, D, H, W) or (C, D, H, W)
    input: output cell (i, j, l) averages depths [floor(i D/OD), ceil((i+1) D/OD))
    and the like rows and columns (None keeps that axis).

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.adaptive_avg_pool3d(np.arange(8.0).reshape(1, 1, 2, 2, 2), 1).numpy()
    array([[[[[3.5]]]]])
    """
    op = "adaptive_avg_pool3d"
    x, unbatched = _batched(_t(input), op)
    if x.dtype.kind not in "fc":  # as PyTorch, whose mean has no integer result type
        raise TypeError(f"{op}: expected a floating input, got {x.dtype}")
    out = x
    for a, o in enumerate(_adaptive_sizes(x.shape[2:], output_size, op)):
        out = _adaptive_mean_axis(out, 2 + a, o)
    return out[0] if unbatched else out


def adaptive_max_pool3d(input: Any, output_size: SizeTriple, return_indices: bool = False) -> Any:
    """Maximum over PyTorch's adaptive windows of an (N, C, D, H, W) or (C, D, H, W)
    input (see ``adaptive_avg_pool3d``); with ``return_indices`` also each maximum's
    flat index in its (D, H, W) volume.

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.adaptive_max_pool3d(np.arange(8.0).reshape(1, 1, 2, 2, 2), (1, 2, 1)).numpy()
    array([[[[[5.],
              [7.]]]]])
    """
    op = "adaptive_max_pool3d"
    x, unbatched = _batched(_t(input), op)
    sizes = _adaptive_sizes(x.shape[2:], output_size, op)
    index = apply(_pi3.adaptive_argmax3d, (x,), {"out_size": sizes})
    return _unbatch((_gather(x, index), index), unbatched, return_indices)
