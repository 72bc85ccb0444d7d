"""More layers of ``torch.nn``, over the functions of the same names: ``RMSNorm``,
``Bilinear``, ``AlphaDropout``, ``FeatureAlphaDropout``, ``RReLU``, ``Softmax2d``,
``ChannelShuffle``, ``MaxUnpool1d``, ``MaxUnpool2d``, ``LPPool1d``, ``LPPool2d`` and
``LazyLinear``, with PyTorch 2.13's arguments, parameter names, initialisation and
printed form.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.dtypes import check_device
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.functional_conv import _tuple
from chainrule.nn.functional_pool import stride_or_kernel
from chainrule.nn.layers_linear import Linear, _empty, param_dtype
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor

__all__ = [
    "AlphaDropout",
    "Bilinear",
    "ChannelShuffle",
    "FeatureAlphaDropout",
    "LPPool1d",
    "LPPool2d",
    "LazyLinear",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "RMSNorm",
    "RReLU",
    "Softmax2d",
]


class RMSNorm(Module):
    """Root-mean-square normalisation over the last axes (``normalized_shape``), then a
    learnt scale (``weight``, ones at first; no bias, as PyTorch's). ``eps=None`` is
    the machine epsilon of the input's dtype.

    >>> import chainrule as cr
    >>> norm = cr.nn.RMSNorm(4)
    >>> norm, sorted(norm.state_dict())
    (RMSNorm((4,), eps=None, elementwise_affine=True), ['weight'])
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        check_device(device, "RMSNorm")
        self.normalized_shape = (
            (int(normalized_shape),)
            if isinstance(normalized_shape, int | np.integer)
            else tuple(int(n) for n in normalized_shape)
        )
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=param_dtype(dtype)))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, x: Any) -> Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class Bilinear(Module):
    """y = x1^T A x2 + b for each of ``out_features`` matrices A: weight (out, in1, in2),
    bias (out,), both from U(-1/sqrt(in1), 1/sqrt(in1)) as PyTorch's.

    >>> import chainrule as cr
    >>> cr.nn.Bilinear(3, 4, 5)(cr.ones(2, 3), cr.ones(2, 4)).shape
    (2, 5)
    """

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__()
        check_device(device, "Bilinear")
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = _empty((out_features, in1_features, in2_features), dtype)
        if bias:
            self.bias = _empty((out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Any = None) -> None:
        if self.in1_features <= 0:
            raise ValueError(
                f"in1_features must be > 0, but got (in1_features={self.in1_features})"
            )
        bound = 1 / math.sqrt(self.in1_features)
        init.uniform_(self.weight, -bound, bound, generator)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, input1: Any, input2: Any) -> Tensor:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )


class _DropoutLike(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False, generator: Any = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace
        self.generator = generator

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class AlphaDropout(_DropoutLike):
    """SELU's dropout in training (``F.alpha_dropout``); the identity in evaluation.

    >>> import chainrule as cr
    >>> cr.nn.AlphaDropout(0.2).eval()(cr.ones(3))
    tensor([1., 1., 1.])
    """

    def forward(self, x: Any) -> Tensor:
        return F.alpha_dropout(x, self.p, self.training, self.inplace, self.generator)


class FeatureAlphaDropout(_DropoutLike):
    """SELU's dropout of whole channels in training (``F.feature_alpha_dropout``)."""

    def forward(self, x: Any) -> Tensor:
        return F.feature_alpha_dropout(x, self.p, self.training, self.inplace, self.generator)


class RReLU(Module):
    """Randomised leaky ReLU: random slopes in [lower, upper] in training, the fixed
    slope (lower + upper) / 2 in evaluation.

    >>> import chainrule as cr
    >>> cr.nn.RReLU(0.1, 0.3).eval()(cr.tensor([-1.0, 2.0]))
    tensor([-0.2,  2. ])
    """

    def __init__(
        self,
        lower: float = 1.0 / 8,
        upper: float = 1.0 / 3,
        inplace: bool = False,
        generator: Any = None,
    ) -> None:
        super().__init__()
        self.lower = lower
        self.upper = upper
        self.inplace = inplace
        self.generator = generator

    def forward(self, x: Any) -> Tensor:
        return F.rrelu(x, self.lower, self.upper, self.training, self.inplace, self.generator)

    def extra_repr(self) -> str:
        extra = ", inplace=True" if self.inplace else ""
        return f"lower={self.lower}, upper={self.upper}{extra}"


class Softmax2d(Module):
    """Softmax over the channels (axis -3) of an (N, C, H, W) or (C, H, W) input."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Tensor:
        ndim = x.ndim if isinstance(x, Tensor) else np.ndim(x)
        if ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {ndim}D instead")
        return F.softmax(x, -3)


class ChannelShuffle(Module):
    """``F.channel_shuffle`` as a layer (ShuffleNet)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Any) -> Tensor:
        return F.channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class _MaxUnpoolNd(Module):
    _axes = 0

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
    ) -> None:
        super().__init__()
        name, n = type(self).__name__, self._axes
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", name, one_for_all=True)
        self.stride = _tuple(
            stride_or_kernel(stride, self.kernel_size), n, "stride", name, one_for_all=True
        )
        self.padding = _tuple(padding, n, "padding", name, one_for_all=True)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """``F.max_unpool1d`` as a layer: ``forward(input, indices, output_size=None)``."""

    _axes = 1

    def forward(self, input: Any, indices: Any, output_size: Sequence[int] | None = None):
        return F.max_unpool1d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )


class MaxUnpool2d(_MaxUnpoolNd):
    """``F.max_unpool2d`` as a layer: ``forward(input, indices, output_size=None)``.

    >>> import chainrule as cr
    >>> pool, unpool = cr.nn.MaxPool2d(2, return_indices=True), cr.nn.MaxUnpool2d(2)
    >>> unpool(*pool(cr.ones(1, 1, 4, 4))).shape
    (1, 1, 4, 4)
    """

    _axes = 2

    def forward(self, input: Any, indices: Any, output_size: Sequence[int] | None = None):
        return F.max_unpool2d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )


class _LPPoolNd(Module):
    def __init__(
        self,
        norm_type: float,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, ceil_mode={self.ceil_mode}"
        )


class LPPool1d(_LPPoolNd):
    """``F.lp_pool1d`` as a layer: the p-norm of each window."""

    def forward(self, x: Any) -> Tensor:
        return F.lp_pool1d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class LPPool2d(_LPPoolNd):
    """``F.lp_pool2d`` as a layer: the p-norm of each window."""

    def forward(self, x: Any) -> Tensor:
        return F.lp_pool2d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class LazyLinear(Linear):
    """``Linear`` whose ``in_features`` is the last axis of the first input it sees.

    ``weight`` and ``bias`` exist from the start, empty (shape (0,)), so an optimizer
    may hold them; the first forward fills them in place (PyTorch's initialisation)
    and the layer becomes a ``Linear``, as PyTorch's does.

    >>> import chainrule as cr
    >>> layer = cr.nn.LazyLinear(3)
    >>> layer(cr.ones(2, 5)).shape, layer
    ((2, 3), Linear(in_features=5, out_features=3, bias=True))
    """

    def __init__(
        self,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        Module.__init__(self)
        check_device(device, "LazyLinear")
        self.in_features = 0
        self.out_features = out_features
        self._lazy_generator = generator
        dt = param_dtype(dtype)
        self.weight = Parameter(np.empty((0,), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty((0,), dtype=dt))
        else:
            self.register_parameter("bias", None)

    def has_uninitialized_params(self) -> bool:
        """True until the first forward (or a loaded state dict) gives the shapes."""
        return self.weight.shape == (0,) and self.out_features != 0

    def _materialize(self, in_features: int) -> None:
        # The placeholders' dtype: .double() or .to(dtype) before the first call counts.
        self.weight.data = np.zeros((self.out_features, in_features), dtype=self.weight.dtype)
        if self.bias is not None:
            self.bias.data = np.zeros((self.out_features,), dtype=self.bias.dtype)

    def reset_parameters(self, generator: Any = None) -> None:
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters(generator)

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> Any:
        """Loading gives the weight's shape (as PyTorch's, which materialises here)."""
        weight = state_dict.get("weight") if hasattr(state_dict, "get") else None
        if self.has_uninitialized_params() and weight is not None and np.ndim(weight) == 2:
            self._materialize(int(np.shape(weight)[1]))
        return super().load_state_dict(state_dict, strict)

    def forward(self, x: Any) -> Tensor:
        shape = x.shape if isinstance(x, Tensor) else np.shape(x)
        if len(shape) == 0:
            raise ValueError("LazyLinear: the input needs a last axis to infer in_features from")
        if self.has_uninitialized_params():
            self.in_features = int(shape[-1])
            self._materialize(self.in_features)
            self.reset_parameters(self._lazy_generator)
        elif self.in_features == 0:
            self.in_features = int(self.weight.shape[-1])
        del self._lazy_generator
        self.__class__ = Linear  # PyTorch's cls_to_become: from now on a plain Linear
        return Linear.forward(self, x)
