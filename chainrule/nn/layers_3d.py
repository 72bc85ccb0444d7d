"""Layers over (N, C, D, H, W) volumes (video, scans), as PyTorch has them (same
arguments, parameter shapes, initialisation, state-dict keys and printed forms):
``Conv3d``, ``ConvTranspose3d``, ``MaxPool3d``, ``AvgPool3d``,
``AdaptiveAvgPool3d``, ``AdaptiveMaxPool3d`` and ``BatchNorm3d``. Each is its
2-D sibling's code with three spatial axes; the work is in ``F.conv3d`` and the
other functions of :mod:`chainrule.nn.functional_conv3d` and
:mod:`chainrule.nn.functional_pool3d`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.dtypes import check_device
from chainrule.nn import functional as F
from chainrule.nn.functional_conv import _tuple
from chainrule.nn.layers_conv import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool2d,
    MaxPool2d,
    _ConvNd,
)
from chainrule.nn.layers_conv_family import ConvTranspose2d
from chainrule.nn.layers_norm import _BatchNorm
from chainrule.tensor import Tensor

__all__ = [
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool3d",
    "AvgPool3d",
    "BatchNorm3d",
    "Conv3d",
    "ConvTranspose3d",
    "MaxPool3d",
]

Triple = int | Sequence[int]


def _tuple3(v: Any) -> tuple[int, int, int]:
    return _tuple(v, 3, "kernel_size, stride, padding and dilation", "Conv3d")  # type: ignore[return-value]


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else tuple(F._t(x).shape)


class Conv3d(_ConvNd):
    """3-D convolution over (N, C, D, H, W) volumes (``F.conv3d``: a sum over the
    kernel's depth of 2-D convolutions).

    Weight (out_channels, in_channels / groups, kd, kh, kw), initialised as PyTorch's;
    ``padding`` ints, ``"valid"`` or ``"same"``; ``padding_mode`` zeros, reflect,
    replicate or circular.

    >>> import chainrule as cr
    >>> conv = cr.nn.Conv3d(2, 4, kernel_size=3, padding=1)
    >>> conv(cr.zeros((1, 2, 5, 6, 7))).shape
    (1, 4, 5, 6, 7)
    """

    _as_tuple = staticmethod(_tuple3)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Triple,
        stride: Triple = 1,
        padding: Triple | str = 0,
        dilation: Triple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        check_device(device, "Conv3d")
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode, dtype,
        )  # fmt: skip

    def forward(self, x: Any) -> Tensor:
        shape = _shape(x)
        if len(shape) in (4, 5) and shape[-4] != self.in_channels:
            raise ValueError(
                f"Conv3d({self.extra_repr()}): the input has {shape[-4]} channels (axis "
                f"{len(shape) - 4}), but this layer expects {self.in_channels} "
                f"(input shape {shape})"
            )
        x, padding = self._pad_input(x)
        return F.conv3d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class ConvTranspose3d(ConvTranspose2d):
    """Transposed 3-D convolution (a convolution's adjoint, used to upsample volumes).

    Weight (in_channels, out_channels / groups, kd, kh, kw), initialised as PyTorch's.
    ``forward(x, output_size)`` may name the output's (D, H, W); the
    ``output_padding`` that gives them is then chosen, as in PyTorch. Everything but
    the signature (PyTorch's, with ``device``) is ``ConvTranspose2d``'s, on triples.

    >>> import chainrule as cr
    >>> up = cr.nn.ConvTranspose3d(4, 2, kernel_size=3, stride=2, padding=1)
    >>> up(cr.zeros((1, 4, 3, 5, 5))).shape
    (1, 2, 5, 9, 9)
    """

    _as_tuple = staticmethod(_tuple3)
    _convolve = staticmethod(F.conv_transpose3d)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Triple,
        stride: Triple = 1,
        padding: Triple = 0,
        output_padding: Triple = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Triple = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        check_device(device, "ConvTranspose3d")
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, output_padding,
            groups, bias, dilation, padding_mode, dtype,
        )  # fmt: skip


class MaxPool3d(MaxPool2d):
    """Largest value of each window of an (N, C, D, H, W) or (C, D, H, W) input; the
    stride defaults to the kernel size (PyTorch's arguments, as ``MaxPool2d``'s).

    >>> import chainrule as cr
    >>> cr.nn.MaxPool3d(2)(cr.randn(2, 4, 6, 8, 8)).shape
    (2, 4, 3, 4, 4)
    """

    @staticmethod
    def _pool(*args: Any) -> Any:
        return F.max_pool3d(*args)


class AvgPool3d(AvgPool2d):
    """Mean of each window of an (N, C, D, H, W) or (C, D, H, W) input (PyTorch's
    arguments, as ``AvgPool2d``'s).

    >>> import chainrule as cr
    >>> cr.nn.AvgPool3d(2)(cr.randn(2, 4, 6, 8, 8)).shape
    (2, 4, 3, 4, 4)
    """

    def forward(self, x: Any) -> Tensor:
        return F.avg_pool3d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )


class AdaptiveAvgPool3d(AdaptiveAvgPool2d):
    """Mean over PyTorch's adaptive windows into ``output_size`` (D, H, W) (None keeps
    that side; see ``F.adaptive_avg_pool3d``).

    >>> import chainrule as cr
    >>> cr.nn.AdaptiveAvgPool3d((1, 2, 2))(cr.randn(2, 4, 5, 6, 7)).shape
    (2, 4, 1, 2, 2)
    """

    def forward(self, x: Any) -> Tensor:
        return F.adaptive_avg_pool3d(x, self.output_size)


class AdaptiveMaxPool3d(AdaptiveMaxPool2d):
    """Maximum over PyTorch's adaptive windows into ``output_size`` (D, H, W);
    ``return_indices`` as ``MaxPool3d``'s.

    >>> import chainrule as cr
    >>> cr.nn.AdaptiveMaxPool3d(2)(cr.randn(2, 4, 5, 6, 7)).shape
    (2, 4, 2, 2, 2)
    """

    def forward(self, x: Any) -> Any:
        return F.adaptive_max_pool3d(x, self.output_size, self.return_indices)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) volumes, per channel C (the code of
    ``BatchNorm2d``: running statistics, momentum, state-dict keys).

    >>> import chainrule as cr
    >>> sorted(cr.nn.BatchNorm3d(3).state_dict())
    ['bias', 'num_batches_tracked', 'running_mean', 'running_var', 'weight']
    """

    _expected_ndims = (5,)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        check_device(device, "BatchNorm3d")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype, bias)
