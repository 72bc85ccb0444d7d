"""Convolution and pooling over NCHW images: ``Conv2d``, ``MaxPool2d``, ``AvgPool2d``,
``AdaptiveAvgPool2d`` (and ``AdaptiveAvgPool1d`` over sequences)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.layers_linear import _empty, _tuple2
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


def _reset_conv(layer: Any, generator: Any) -> None:
    # PyTorch's _ConvNd.reset_parameters: fan_in is weight.shape[1] * the kernel's size
    # (for a transposed convolution that is out_channels / groups, as in PyTorch).
    init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    if layer.bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(layer.weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(layer.bias, -bound, bound, generator)


def _check_groups(name: str, in_channels: int, out_channels: int, groups: int) -> None:
    if groups < 1 or in_channels % groups or out_channels % groups:
        raise ValueError(
            f"{name}: groups={groups} must divide in_channels={in_channels} and "
            f"out_channels={out_channels}"
        )


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _zeros_only(name: str, padding_mode: str) -> None:
    if padding_mode != "zeros":
        raise NotImplementedError(f"{name}: padding_mode {padding_mode!r} (only 'zeros')")


def _check_conv_padding(name: str, padding: Any, padding_mode: str, stride: tuple) -> None:
    """PyTorch's construction-time checks of a convolution's padding arguments."""
    if padding_mode not in PADDING_MODES:
        raise ValueError(
            f"{name}: padding_mode must be one of {list(PADDING_MODES)}, got {padding_mode!r}"
        )
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"{name}: padding must be 'valid', 'same' or ints, got {padding!r}")
        if padding == "same" and any(s != 1 for s in stride):
            raise ValueError(
                f"{name}: padding='same' is not supported for strided convolutions "
                f"(stride={stride})"
            )


def conv_repr(module: Module, *optional: tuple[str, Any, tuple]) -> str:
    """PyTorch's printed form of a convolution layer: channels, kernel size and
    stride, then each ``(name, value, defaults)`` of ``optional`` whose value is not
    one of its defaults (in PyTorch's order, strings unquoted as PyTorch prints
    them: ``padding=same``), and ``bias=False`` when there is none."""
    s = (
        f"{module.in_channels}, {module.out_channels}, kernel_size={module.kernel_size}, "
        f"stride={module.stride}"
    )
    for name, value, defaults in optional:
        if value not in defaults:
            s += f", {name}={value}"
    if module.bias is None:
        s += ", bias=False"
    return s


class _ConvNd(Module):
    """What Conv1d and Conv2d share (PyTorch's ``_ConvNd``): the arguments, the
    parameters' shapes and initialisation, and the printed form. ``_as_tuple``
    turns an int or a sequence into one int per spatial axis."""

    _as_tuple: Any = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] | str = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        _check_groups(name, in_channels, out_channels, groups)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = self._as_tuple(kernel_size)
        self.stride = self._as_tuple(stride)
        _check_conv_padding(name, padding, padding_mode, self.stride)
        self.padding = padding if isinstance(padding, str) else self._as_tuple(padding)
        self.dilation = self._as_tuple(dilation)
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = _empty((out_channels, in_channels // groups, *self.kernel_size), dtype)
        if bias:
            self.bias = _empty((out_channels,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Any = None) -> None:
        _reset_conv(self, generator)

    def _pad_input(self, x: Any) -> tuple[Any, Any]:
        """(input, padding) for the functional convolution: with ``padding_mode`` other
        than zeros, the input padded by F.pad in that mode and no padding left to do
        (PyTorch's order: the amounts per axis, ``'same'`` splitting them as zeros do)."""
        if self.padding_mode == "zeros":
            return x, self.padding
        if self.padding == "same":
            sides = F._same_padding(self.kernel_size, self.dilation)
        elif self.padding == "valid":
            sides = [(0, 0)] * len(self.kernel_size)
        else:
            sides = [(p, p) for p in self.padding]
        amounts = [a for side in reversed(sides) for a in side]  # last axis first
        return F.pad(x, amounts, mode=self.padding_mode), 0

    def extra_repr(self) -> str:
        axes = len(self.kernel_size)
        return conv_repr(
            self,
            ("padding", self.padding, ((0,) * axes,)),
            ("dilation", self.dilation, ((1,) * axes,)),
            ("groups", self.groups, (1,)),
            ("padding_mode", self.padding_mode, ("zeros",)),
        )


class Conv2d(_ConvNd):
    """2-D convolution over NCHW images (one conv2d primitive: window copies and matrix products).

    Weight (out_channels, in_channels / groups, kh, kw), initialised as PyTorch's:
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels / groups * kh * kw.
    ``padding_mode`` zeros (the default), reflect, replicate or circular, as PyTorch's.

    >>> import chainrule as cr
    >>> conv = cr.nn.Conv2d(1, 8, kernel_size=3, padding=1)  # (N, C, H, W) in and out
    >>> conv(cr.randn(2, 1, 28, 28)).shape
    (2, 8, 28, 28)
    """

    _as_tuple = staticmethod(_tuple2)

    def forward(self, x: Any) -> Tensor:
        shape = x.shape if isinstance(x, Tensor) else np.shape(x)
        if len(shape) in (3, 4) and shape[-3] != self.in_channels:
            # Said here, where the layer's own settings can be named; F.conv2d can only
            # speak of the weight's shape.
            raise ValueError(
                f"Conv2d({self.extra_repr()}): the input has {shape[-3]} channels (axis "
                f"{len(shape) - 3}), but this layer expects {self.in_channels} "
                f"(input shape {tuple(shape)})"
            )
        x, padding = self._pad_input(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class MaxPool2d(Module):
    """Largest value of each window; the stride defaults to the kernel size.

    >>> import chainrule as cr
    >>> cr.nn.MaxPool2d(2)(cr.randn(2, 8, 28, 28)).shape  # stride defaults to the window
    (2, 8, 14, 14)
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, x: Any) -> Any:
        return F.max_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """Mean of each window; the stride defaults to the kernel size.

    >>> import chainrule as cr
    >>> cr.nn.AvgPool2d(2, stride=1)(cr.randn(1, 1, 4, 4)).shape
    (1, 1, 3, 3)
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Any) -> Tensor:
        return F.avg_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Mean over PyTorch's adaptive windows into ``output_size`` (e.g. 1: global pooling);
    any size: windows overlap or differ when it does not divide the input's sides
    (see ``F.adaptive_avg_pool2d``).

    >>> import chainrule as cr
    >>> cr.nn.AdaptiveAvgPool2d((1, 1))(cr.randn(2, 8, 5, 7)).shape  # any input size in
    (2, 8, 1, 1)
    """

    def __init__(self, output_size: int | None | Sequence[int | None]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(Module):
    """Mean over PyTorch's adaptive windows of an (N, C, L) or (C, L) input into
    ``output_size`` positions (see ``F.adaptive_avg_pool1d``).

    >>> import chainrule as cr
    >>> cr.nn.AdaptiveAvgPool1d(4)(cr.randn(2, 8, 10)).shape
    (2, 8, 4)
    """

    def __init__(self, output_size: int) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return F.adaptive_avg_pool1d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class MaxPool1d(MaxPool2d):
    """Largest value of each window of an (N, C, L) or (C, L) input (PyTorch's
    arguments, as ``MaxPool2d``'s).

    >>> import chainrule as cr
    >>> cr.nn.MaxPool1d(3, stride=2, ceil_mode=True)(cr.randn(2, 4, 10)).shape
    (2, 4, 5)
    """

    def forward(self, x: Any) -> Any:
        return F.max_pool1d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )


class AvgPool1d(Module):
    """Mean of each window of an (N, C, L) or (C, L) input (PyTorch's arguments).

    >>> import chainrule as cr
    >>> cr.nn.AvgPool1d(2)(cr.randn(2, 4, 10)).shape
    (2, 4, 5)
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        # PyTorch keeps them as 1-tuples here (its printed form shows (3,)).
        one = lambda v: (int(v),) if isinstance(v, int | np.integer) else tuple(v)
        self.kernel_size = one(kernel_size)
        self.stride = one(kernel_size if stride is None else stride)
        self.padding = one(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, x: Any) -> Tensor:
        return F.avg_pool1d(
            x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveMaxPool2d(Module):
    """Maximum over PyTorch's adaptive windows into ``output_size`` (see
    ``F.adaptive_max_pool2d``); ``return_indices`` as ``MaxPool2d``'s.

    >>> import chainrule as cr
    >>> cr.nn.AdaptiveMaxPool2d((2, 3))(cr.randn(2, 8, 5, 7)).shape
    (2, 8, 2, 3)
    """

    def __init__(
        self, output_size: int | None | Sequence[int | None], return_indices: bool = False
    ) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, x: Any) -> Any:
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """Maximum over PyTorch's adaptive windows of an (N, C, L) or (C, L) input.

    >>> import chainrule as cr
    >>> cr.nn.AdaptiveMaxPool1d(4)(cr.randn(2, 8, 10)).shape
    (2, 8, 4)
    """

    def forward(self, x: Any) -> Any:
        return F.adaptive_max_pool1d(x, self.output_size, self.return_indices)
