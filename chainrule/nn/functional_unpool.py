"""Max unpooling, power-average pooling and PyTorch's ``*_with_indices`` spellings of
``torch.nn.functional``: ``max_unpool1d``, ``max_unpool2d``, ``lp_pool1d``,
``lp_pool2d``, ``max_pool1d_with_indices``, ``max_pool2d_with_indices``,
``adaptive_max_pool1d_with_indices``, ``adaptive_max_pool2d_with_indices``.

Unpooling writes each input value at its index in a zero plane (the ``scatter_add``
primitive; the last write to a place wins, as PyTorch's kernel overwrites), and its
gradient is the output's gradient picked at those indices, as PyTorch's. Power-average
pooling is PyTorch's formula over the average pool, composed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule.nn.functional_conv import _tuple
from chainrule.nn.functional_pool import (
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    max_pool1d,
    stride_or_kernel,
)
from chainrule.ops import indexing as _ix
from chainrule.tensor import Tensor, apply, as_tensor

__all__ = [
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "lp_pool1d",
    "lp_pool2d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
]

IntOrSeq = int | Sequence[int]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


# ------------------------------------------------------------------ *_with_indices
def max_pool1d_with_indices(
    input: Any,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: IntOrSeq = 0,
    dilation: IntOrSeq = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Tensor, Tensor]:
    """``max_pool1d``'s (values, indices), whatever ``return_indices`` says (as PyTorch's)."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(
    input: Any,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: IntOrSeq = 0,
    dilation: IntOrSeq = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Tensor, Tensor]:
    """``max_pool2d``'s (values, indices), whatever ``return_indices`` says (as PyTorch's)."""
    from chainrule.nn.functional import max_pool2d  # noqa: PLC0415 (functional imports us)

    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(
    input: Any, output_size: int, return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    """``adaptive_max_pool1d``'s (values, indices), whatever ``return_indices`` says."""
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(
    input: Any, output_size: Any, return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    """``adaptive_max_pool2d``'s (values, indices), whatever ``return_indices`` says."""
    return adaptive_max_pool2d(input, output_size, True)


# ------------------------------------------------------------------ max_unpool
def unpool_output_size(
    in_size: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    output_size: Any,
    op: str,
) -> tuple[int, ...]:
    """PyTorch's unpooled size: (in - 1) * stride + kernel - 2 * padding per axis, or
    ``output_size`` (its last axes), which must lie strictly within a stride of it."""
    default = [(n - 1) * s + k - 2 * p for n, k, s, p in zip(in_size, kernel, stride, padding)]
    if output_size is None:
        size = default
    else:
        size = [int(v) for v in output_size]
        if len(size) == len(kernel) + 2:
            size = size[2:]
        if len(size) != len(kernel):
            raise ValueError(
                f"{op}: output_size should be a sequence of {len(kernel)} or "
                f"{len(kernel) + 2} sizes, got {len(size)}"
            )
        for d, (want, base, s) in enumerate(zip(size, default, stride)):
            if not base - s < want < base + s:
                raise ValueError(
                    f'{op}: invalid output_size "{list(size)}" (dim {d} must be between '
                    f"{base - s} and {base + s})"
                )
    if min(size) < 0:
        raise ValueError(f"{op}: the output size {tuple(size)} must not be negative")
    return tuple(size)


def _unpool(x: Tensor, indices: Any, size: tuple[int, ...], spatial: int, op: str) -> Tensor:
    """Each value of ``x`` (N, C, *in) written at its flat index into a zero (N, C, *size)."""
    idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if idx.dtype != np.int64:
        raise TypeError(f"{op}: indices must be int64 (as max pooling returns), not {idx.dtype}")
    if idx.shape != x.shape:
        raise ValueError(f"{op}: the indices' shape {idx.shape} must equal the input's {x.shape}")
    lead = x.shape[: x.ndim - spatial]
    planes, per_plane = int(np.prod(lead)), int(np.prod(size))
    flat = idx.reshape(planes, int(np.prod(x.shape[x.ndim - spatial :])))
    bad = (flat < 0) | (flat >= per_plane)
    if bad.any():
        raise IndexError(
            f"{op}: found an invalid max index {int(flat[bad][0])} (each output plane "
            f"has {per_plane} places, {tuple(size)})"
        )
    where = (flat + np.arange(planes)[:, None] * per_plane).reshape(-1)
    values = x.reshape(-1)
    # A place named twice (overlapping windows) keeps its last write, as PyTorch's loop;
    # yet every value named gets the gradient of its place, as PyTorch's backward (a
    # gather at the indices) gives it. The earlier writes add x - x: zero in value,
    # the identity in gradient.
    _, last_from_end = np.unique(where[::-1], return_index=True)
    if last_from_end.size != where.size:
        earlier = np.ones(where.size, dtype=bool)
        earlier[where.size - 1 - last_from_end] = False
        values = values - values.detach() * earlier.astype(values.dtype)
    params = {"index": (where,), "shape": (planes * per_plane,)}
    return apply(_ix.scatter_add, (values,), params).reshape(*lead, *size)


def _check_unpool_input(x: Tensor, spatial: int, op: str) -> None:
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(
            f"{op}: expected an input of {spatial + 2} axes (N, C, ...) or {spatial + 1} "
            f"(C, ...), got shape {x.shape}"
        )


def max_unpool1d(
    input: Any,
    indices: Any,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: IntOrSeq = 0,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """A partial inverse of ``max_pool1d``: each value put back at its index (from
    ``max_pool1d(..., return_indices=True)``), zeros elsewhere.

    >>> import chainrule as cr
    >>> import chainrule.nn.functional as F
    >>> out, idx = F.max_pool1d(cr.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2, return_indices=True)
    >>> F.max_unpool1d(out, idx, 2)
    tensor([[[0., 3., 2., 0.]]])
    """
    op = "max_unpool1d"
    x = _t(input)
    _check_unpool_input(x, 1, op)
    k = _tuple(kernel_size, 1, "kernel_size", op)
    s = _tuple(stride_or_kernel(stride, k), 1, "stride", op)
    p = _tuple(padding, 1, "padding", op)
    size = unpool_output_size(x.shape[-1:], k, s, p, output_size, op)
    return _unpool(x, indices, size, 1, op)


def max_unpool2d(
    input: Any,
    indices: Any,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: IntOrSeq = 0,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """A partial inverse of ``max_pool2d``: each value put back at its flat (H, W)
    index (from ``max_pool2d(..., return_indices=True)``), zeros elsewhere."""
    op = "max_unpool2d"
    x = _t(input)
    _check_unpool_input(x, 2, op)
    k = _tuple(kernel_size, 2, "kernel_size", op, one_for_all=True)
    s = _tuple(stride_or_kernel(stride, k), 2, "stride", op, one_for_all=True)
    p = _tuple(padding, 2, "padding", op, one_for_all=True)
    size = unpool_output_size(x.shape[-2:], k, s, p, output_size, op)
    return _unpool(x, indices, size, 2, op)


# ------------------------------------------------------------------ lp_pool
def _power_root(avg: Tensor, count: int, norm_type: float) -> Tensor:
    """PyTorch's (sign(avg) relu(|avg|) * count) ^ (1 / p): the window's sum of x^p to
    the 1/p, with no gradient where that sum is 0 (relu's mask; PyTorch's documented
    behaviour) rather than 0 * inf."""
    total = avg * count
    nonzero = total != 0  # recorded comparison: cr.jit recomputes it per input
    safe = _f.where(nonzero, total, np.ones((), total.dtype))
    at_zero = np.asarray(np.float64(0.0) ** (1.0 / norm_type), dtype=total.dtype)
    return _f.where(nonzero, safe ** (1.0 / norm_type), at_zero)


def _check_norm(norm_type: Any, op: str) -> float:
    if isinstance(norm_type, bool) or not isinstance(norm_type, int | float | np.number):
        raise TypeError(f"{op}: norm_type must be a number, got {norm_type!r}")
    if norm_type == 0:
        raise ValueError(f"{op}: norm_type 0 has no 1/p root (use a positive power)")
    return float(norm_type)


def lp_pool1d(
    input: Any,
    norm_type: float,
    kernel_size: int,
    stride: IntOrSeq | None = None,
    ceil_mode: bool = False,
) -> Tensor:
    """The p-norm of each window of an (N, C, L) or (C, L) input: (sum x^p)^(1/p)
    (PyTorch's formula over ``avg_pool1d``; p = inf is the max of |x|).

    >>> import chainrule as cr
    >>> cr.nn.functional.lp_pool1d(cr.tensor([[[3.0, 4.0]]]), 2, 2)
    tensor([[[5.]]])
    """
    op = "lp_pool1d"
    p = _check_norm(norm_type, op)
    x = _t(input)
    if p == float("inf"):
        return max_pool1d(_f.abs(x), kernel_size, stride, 0, 1, ceil_mode)
    if p == -float("inf"):
        return -max_pool1d(-_f.abs(x), kernel_size, stride, 0, 1, ceil_mode)
    (k,) = _tuple(kernel_size, 1, "kernel_size", op)
    avg = avg_pool1d(x**p, k, stride_or_kernel(stride, k), 0, ceil_mode)
    return _power_root(avg, k, p)


def lp_pool2d(
    input: Any,
    norm_type: float,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    ceil_mode: bool = False,
) -> Tensor:
    """The p-norm of each window of an (N, C, H, W) or (C, H, W) input: (sum x^p)^(1/p)
    (PyTorch's formula over ``avg_pool2d``; p = inf is the max of |x|)."""
    from chainrule.nn.functional import avg_pool2d, max_pool2d  # noqa: PLC0415

    op = "lp_pool2d"
    p = _check_norm(norm_type, op)
    x = _t(input)
    if p == float("inf"):
        return max_pool2d(_f.abs(x), kernel_size, stride, 0, 1, ceil_mode)
    if p == -float("inf"):
        return -max_pool2d(-_f.abs(x), kernel_size, stride, 0, 1, ceil_mode)
    kh, kw = _tuple(kernel_size, 2, "kernel_size", op, one_for_all=True)
    avg = avg_pool2d(x**p, (kh, kw), stride_or_kernel(stride, (kh, kw)), 0, ceil_mode)
    return _power_root(avg, kh * kw, p)
