"""Normalisation layers: ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn.layers_linear import param_dtype
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor, active_tracer


def add_norm_state(
    layer: Module, features: int, affine: bool, bias: bool, track: bool, dtype: Any
) -> None:
    """A batch or instance norm's parameters and buffers, registered in PyTorch's order
    (its state-dict keys): ``weight`` (ones) when ``affine``, ``bias`` (zeros) when
    also ``bias`` (PyTorch 2.13's bias=False: a scale, no shift), then
    ``running_mean``, ``running_var``, ``num_batches_tracked`` (None when not
    tracked)."""
    if affine:
        layer.weight = Parameter(np.ones(features, dtype=dtype))
    else:
        layer.register_parameter("weight", None)
    if affine and bias:
        layer.bias = Parameter(np.zeros(features, dtype=dtype))
    else:
        layer.register_parameter("bias", None)
    if track:
        layer.register_buffer("running_mean", Tensor(np.zeros(features, dtype=dtype)))
        layer.register_buffer("running_var", Tensor(np.ones(features, dtype=dtype)))
        layer.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
    else:
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            layer.register_buffer(name, None)


class _BatchNorm(Module):
    _expected_ndims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = param_dtype(dtype)
        add_norm_state(self, num_features, affine, bias, track_running_stats, dt)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x: Any) -> Tensor:
        if x.ndim not in self._expected_ndims:
            raise ValueError(
                f"{type(self).__name__}: expected an input with "
                f"{' or '.join(map(str, self._expected_ndims))} axes, got shape {x.shape}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}): the input has {x.shape[1]} "
                f"features (channels) on axis 1, but this layer expects {self.num_features} "
                f"(input shape {x.shape})"
            )
        momentum = 0.0 if self.momentum is None else self.momentum
        use_batch = self.training or not self.track_running_stats
        tracer = active_tracer()
        if self.training and self.track_running_stats and tracer is not None:
            # Under cr.jit: written back by the compiled code on every call.
            if self.momentum is None:
                tracer.refuse(
                    f"trains a {type(self).__name__} with momentum=None (a cumulative "
                    "average: its momentum is a Python number computed from the count of "
                    "batches)"
                )
            count = self.num_batches_tracked
            tracer.write_back(count, count + 1)
        elif self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked.data)
        return F.batch_norm(
            x,
            self.running_mean if not use_batch or self.training else None,
            self.running_var if not use_batch or self.training else None,
            self.weight,
            self.bias,
            use_batch,
            momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel C.

    >>> import chainrule as cr
    >>> bn = cr.nn.BatchNorm1d(3)
    >>> bn(cr.randn(16, 3)).shape  # in training mode: normalised with the batch's statistics
    (16, 3)
    >>> bn.running_mean.shape, bn.num_batches_tracked
    ((3,), tensor(1))
    """

    _expected_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) images, per channel C."""

    _expected_ndims = (4,)


class LayerNorm(Module):
    """Normalise over the last axes (``normalized_shape``), then scale and shift.

    >>> import chainrule as cr
    >>> cr.nn.LayerNorm(3)(cr.tensor([[1.0, 2.0, 3.0]]))  # each row to mean 0, variance 1
    tensor([[-1.224735...,  0.       ,  1.224735...]], grad_fn=<layer_norm_affine>)
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = (
            (int(normalized_shape),)
            if isinstance(normalized_shape, int | np.integer)
            else tuple(int(n) for n in normalized_shape)
        )
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dt = param_dtype(dtype)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )
