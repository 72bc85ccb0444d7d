"""``InstanceNorm1d/2d/3d`` and ``LocalResponseNorm``: PyTorch's arguments, state-dict
keys (``weight``, ``bias`` when affine; ``running_mean``, ``running_var``,
``num_batches_tracked`` when tracking statistics) and printed form."""

from __future__ import annotations

from typing import Any

from chainrule.dtypes import check_device
from chainrule.nn import functional as F
from chainrule.nn.layers_linear import param_dtype
from chainrule.nn.layers_norm import add_norm_state
from chainrule.nn.module import Module
from chainrule.tensor import Tensor, as_tensor

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm"]


class _InstanceNorm(Module):
    _spatial = 1  # spatial axes of one sample; one axis fewer means an unbatched input

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = param_dtype(dtype)
        # num_batches_tracked is kept for PyTorch's state-dict keys; instance norm
        # never counts (as PyTorch).
        add_norm_state(self, num_features, affine, bias, track_running_stats, dt)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, input: Any) -> Tensor:
        x = as_tensor(input)
        name = type(self).__name__
        batched = self._spatial + 2
        if x.ndim not in (batched - 1, batched):
            raise ValueError(
                f"{name}: expected a {batched - 1}-d (unbatched) or {batched}-d input, got shape "
                f"{x.shape}"
            )
        channels = x.shape[x.ndim - self._spatial - 1]
        if channels != self.num_features and self.affine:
            raise ValueError(
                f"{name}({self.num_features}): the input has {channels} channels, but this "
                f"layer expects {self.num_features} (input shape {x.shape})"
            )
        unbatched = x.ndim == batched - 1
        if unbatched:
            x = x.reshape(1, *x.shape)
        out = F.instance_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            0.0 if self.momentum is None else self.momentum,
            self.eps,
        )
        return out.reshape(out.shape[1:]) if unbatched else out

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) inputs: each sample's channel
    over its length."""

    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) images.

    >>> import chainrule as cr
    >>> norm = cr.nn.InstanceNorm2d(3, affine=True)
    >>> sorted(norm.state_dict())
    ['bias', 'weight']
    """

    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) volumes."""

    _spatial = 3


class LocalResponseNorm(Module):
    """x / (k + alpha * mean of x^2 over ``size`` neighbouring channels)^beta."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Any) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
