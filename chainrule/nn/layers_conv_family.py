"""More layers of convolutional networks, as PyTorch has them (same arguments,
parameter shapes, initialisation and state-dict keys): ``Conv1d``,
``ConvTranspose2d``, ``ConvTranspose1d`` and ``GroupNorm``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn.layers_conv import _check_groups, _ConvNd, _reset_conv, _zeros_only, conv_repr
from chainrule.nn.layers_linear import _empty, _tuple2, param_dtype
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor


def _tuple1(v: Any) -> tuple[int]:
    if isinstance(v, int | np.integer):
        return (int(v),)
    out = tuple(int(a) for a in v)
    if len(out) != 1:
        raise ValueError(f"a 1-D convolution layer expects one int, got {v!r}")
    return out  # type: ignore[return-value]


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) sequences (as conv2d on a unit height axis).

    Weight (out_channels, in_channels / groups, k), initialised as PyTorch's.

    >>> import chainrule as cr
    >>> conv = cr.nn.Conv1d(2, 4, kernel_size=3, padding=1)
    >>> conv(cr.zeros((8, 2, 10))).shape
    (8, 4, 10)
    """

    _as_tuple = staticmethod(_tuple1)

    def forward(self, x: Any) -> Tensor:
        x, padding = self._pad_input(x)
        if isinstance(padding, tuple):
            padding = padding[0]
        return F.conv1d(
            x, self.weight, self.bias, self.stride[0], padding, self.dilation[0], self.groups
        )


class ConvTranspose2d(Module):
    """Transposed 2-D convolution (a convolution's adjoint, used to upsample).

    Weight (in_channels, out_channels / groups, kh, kw), initialised as PyTorch's.
    ``forward(x, output_size)`` may name the output's height and width; the
    ``output_padding`` that gives them is then chosen, as in PyTorch.

    >>> import chainrule as cr
    >>> up = cr.nn.ConvTranspose2d(4, 2, kernel_size=3, stride=2, padding=1)
    >>> up(cr.zeros((1, 4, 5, 5))).shape, up(cr.zeros((1, 4, 5, 5)), output_size=(10, 10)).shape
    ((1, 2, 9, 9), (1, 2, 10, 10))
    """

    # One int per spatial axis (ConvTranspose1d: one), and the functional form.
    _as_tuple: Any = staticmethod(_tuple2)
    _convolve: Any = staticmethod(F.conv_transpose2d)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        output_padding: int | Sequence[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | Sequence[int] = 1,
        padding_mode: str = "zeros",
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        _zeros_only(name, padding_mode)
        _check_groups(name, in_channels, out_channels, groups)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = self._as_tuple(kernel_size)
        self.stride = self._as_tuple(stride)
        self.padding = self._as_tuple(padding)
        self.output_padding = self._as_tuple(output_padding)
        self.groups = groups
        self.dilation = self._as_tuple(dilation)
        self.padding_mode = padding_mode
        self.weight = _empty((in_channels, out_channels // groups, *self.kernel_size), dtype)
        if bias:
            self.bias = _empty((out_channels,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Any = None) -> None:
        _reset_conv(self, generator)

    def _output_padding(self, x: Any, output_size: Sequence[int] | None) -> tuple[int, ...]:
        if output_size is None:
            return self.output_padding
        axes, name = len(self.kernel_size), type(self).__name__
        size = [int(s) for s in output_size][-axes:]
        if len(size) != axes:
            raise ValueError(f"{name}: output_size needs {axes} sizes, got {output_size}")
        pads = []
        for k in range(axes):
            n = x.shape[x.ndim - axes + k]
            s, p, d, kk = self.stride[k], self.padding[k], self.dilation[k], self.kernel_size[k]
            smallest = (n - 1) * s - 2 * p + d * (kk - 1) + 1
            if not smallest <= size[k] < smallest + max(s, d):
                raise ValueError(
                    f"{name}: output_size {tuple(size)} is not reachable from an "
                    f"input of {tuple(x.shape[-axes:])}: each side must lie in "
                    f"[{smallest}, {smallest + max(s, d) - 1}] on axis {k}"
                )
            pads.append(size[k] - smallest)
        return tuple(pads)

    def forward(self, x: Any, output_size: Sequence[int] | None = None) -> Tensor:
        x = x if isinstance(x, Tensor) else F._t(x)
        return self._convolve(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self._output_padding(x, output_size),
            self.groups,
            self.dilation,
        )

    def extra_repr(self) -> str:
        axes = len(self.kernel_size)
        return conv_repr(
            self,
            ("padding", self.padding, ((0,) * axes,)),
            ("dilation", self.dilation, ((1,) * axes,)),
            ("output_padding", self.output_padding, ((0,) * axes,)),
            ("groups", self.groups, (1,)),
        )


class ConvTranspose1d(ConvTranspose2d):
    """Transposed 1-D convolution over (N, C, L) sequences (``F.conv_transpose1d``, the
    2-D one on a height-1 image). Weight (in_channels, out_channels / groups, k).

    >>> import chainrule as cr
    >>> cr.nn.ConvTranspose1d(4, 2, kernel_size=3, stride=2)(cr.zeros((1, 4, 5))).shape
    (1, 2, 11)
    """

    _as_tuple = staticmethod(_tuple1)
    _convolve = staticmethod(F.conv_transpose1d)


class GroupNorm(Module):
    """Normalise each sample over groups of ``num_channels / num_groups`` channels
    (and every other axis but the batch), then scale and shift each channel.

    >>> import chainrule as cr
    >>> norm = cr.nn.GroupNorm(2, 6)
    >>> sorted(norm.state_dict()), norm(cr.ones((3, 6, 4))).shape
    (['bias', 'weight'], (3, 6, 4))
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        dtype: Any = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels={num_channels} must be divisible by "
                f"num_groups={num_groups}"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        dt = param_dtype(dtype)
        if affine:  # PyTorch 2.13's bias=False: a scale and no shift
            self.weight = Parameter(np.ones(num_channels, dtype=dt))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = Parameter(np.zeros(num_channels, dtype=dt))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> Tensor:
        shape = x.shape if isinstance(x, Tensor) else np.shape(x)
        if len(shape) < 2 or shape[1] != self.num_channels:
            raise ValueError(
                f"GroupNorm({self.extra_repr()}): expected an input of shape (N, "
                f"{self.num_channels}, ...), got {tuple(shape)}"
            )
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class Upsample(Module):
    """``F.interpolate`` as a layer, with PyTorch's arguments: ``size`` or
    ``scale_factor``, ``mode`` (nearest by default), ``align_corners``,
    ``recompute_scale_factor``.

    >>> import chainrule as cr
    >>> cr.nn.Upsample(scale_factor=2, mode="bilinear")(cr.zeros((1, 3, 4, 5))).shape
    (1, 3, 8, 10)
    """

    def __init__(
        self,
        size: int | Sequence[int] | None = None,
        scale_factor: float | Sequence[float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        self.size = size
        # PyTorch keeps factors as floats (2 -> 2.0), which its printed form shows.
        if isinstance(scale_factor, Sequence):
            scale_factor = tuple(float(f) for f in scale_factor)
        elif scale_factor is not None:
            scale_factor = float(scale_factor)
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x: Any) -> Tensor:
        return F.interpolate(
            x,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample`` in nearest mode (PyTorch's older name)."""

    def __init__(
        self, size: int | Sequence[int] | None = None, scale_factor: float | None = None
    ) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample`` in bilinear mode with ``align_corners=True`` (PyTorch's older name)."""

    def __init__(
        self, size: int | Sequence[int] | None = None, scale_factor: float | None = None
    ) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
