"""Per-sample normalisations of ``torch.nn.functional``: instance_norm and
local_response_norm.

instance_norm normalises each (sample, channel) over its spatial positions with the
fused ``normalize`` primitive that layer_norm uses; with running statistics it updates
them in place as PyTorch does (the batch's per-instance means, and unbiased variances,
averaged over the samples), or normalises with them when ``use_input_stats=False``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.functional_extra import pad
from chainrule.ops.normalization import normalize as _normalize
from chainrule.tensor import Tensor, active_tracer, as_tensor

__all__ = ["instance_norm", "local_response_norm"]


def _raw(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def instance_norm(
    input: Any,
    running_mean: Any = None,
    running_var: Any = None,
    weight: Any = None,
    bias: Any = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel of each sample over its spatial axes (N, C, *spatial).

    >>> import chainrule as cr
    >>> x = cr.tensor([[[1.0, 3.0], [0.0, 10.0]]])  # (N=1, C=2, L=2)
    >>> cr.nn.functional.instance_norm(x, eps=0.0)
    tensor([[[-1.,  1.],
             [-1.,  1.]]])
    """
    x = as_tensor(input)
    if x.ndim < 3:
        raise ValueError(
            f"instance_norm: expected an input of shape (N, C, *spatial) with at least one "
            f"spatial axis, got shape {x.shape}"
        )
    n, c = x.shape[:2]
    spatial = tuple(range(2, x.ndim))
    count = int(np.prod(x.shape[2:]))
    shape = (1, c) + (1,) * len(spatial)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError(
                "instance_norm: use_input_stats=False needs running_mean and running_var"
            )
        mean = _raw(running_mean).astype(x.dtype).reshape(shape)
        inv = 1.0 / np.sqrt(_raw(running_var).astype(x.dtype).reshape(shape) + eps)
        out = (x - mean) * inv
    else:
        if count <= 1:
            raise ValueError(
                f"instance_norm: expected more than 1 spatial element when using the input's "
                f"statistics, got input of shape {x.shape}"
            )
        out = _normalize(x, eps=eps, axes=spatial)
        if running_mean is not None or running_var is not None:
            _update_running(x, running_mean, running_var, momentum, spatial, count)
    for name, given in (("weight", weight), ("bias", bias)):
        if given is not None and np.size(_raw(given)) != c:
            raise ValueError(
                f"instance_norm: {name} has {np.size(_raw(given))} elements, but the input "
                f"has {c} channels (input shape {x.shape})"
            )
    if weight is not None:
        out = out * as_tensor(weight).reshape(shape)
    if bias is not None:
        out = out + as_tensor(bias).reshape(shape)
    return out


def _update_running(x: Tensor, running_mean, running_var, momentum, spatial, count) -> None:
    if active_tracer() is not None:
        raise NotImplementedError(
            "instance_norm: updating running statistics under cr.jit is not supported "
            "(call it outside jit, or with track_running_stats=False)"
        )
    data = x.data
    mean = data.mean(axis=spatial)  # (N, C)
    var = data.var(axis=spatial, ddof=1)
    for buffer, batch in ((running_mean, mean), (running_var, var)):
        if buffer is None:
            continue
        raw = _raw(buffer)
        raw *= 1 - momentum
        raw += momentum * batch.mean(axis=0).astype(raw.dtype)


def local_response_norm(
    input: Any, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """x / (k + alpha * mean of x^2 over ``size`` neighbouring channels)^beta, the
    window centred as PyTorch centres it (size // 2 before, (size - 1) // 2 after,
    zeros beyond the edges counted in the mean)."""
    x = as_tensor(input)
    if x.ndim < 3:
        raise ValueError(
            f"local_response_norm: expected an input with 3 or more dimensions, got {x.ndim}"
        )
    if size < 1:
        raise ValueError(f"local_response_norm: size must be at least 1, got {size}")
    if x.size == 0:
        return x
    c = x.shape[1]
    squares = x * x
    # Pad the channel axis: F.pad counts dimensions from the last one.
    amounts = [0, 0] * (x.ndim - 2) + [size // 2, (size - 1) // 2]
    padded = pad(squares, amounts)
    total = padded[:, 0:c]
    for shift in range(1, size):
        total = total + padded[:, shift : shift + c]
    div = (total * (alpha / size) + k) ** beta
    return x / div
