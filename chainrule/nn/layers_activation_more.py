"""Activation layers over ``chainrule.nn.functional_activation``: PyTorch's constructor
arguments, attribute names and printed form (``PReLU``'s slopes are its ``weight``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.dtypes import check_device
from chainrule.nn import functional_activation as A
from chainrule.nn.layers_linear import param_dtype
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor

__all__ = [
    "CELU",
    "GLU",
    "Hardshrink",
    "Hardsigmoid",
    "Hardswish",
    "PReLU",
    "SELU",
    "Softshrink",
    "Softsign",
    "Tanhshrink",
    "Threshold",
]


class _Inplace(Module):
    """A function of one tensor that takes PyTorch's ``inplace`` flag (True: the input is
    changed in place and returned)."""

    _fn: Any = None

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Any) -> Tensor:
        return type(self)._fn(input, self.inplace)


class Hardswish(_Inplace):
    """x · relu6(x + 3) / 6."""

    _fn = staticmethod(A.hardswish)


class Hardsigmoid(_Inplace):
    """relu6(x + 3) / 6."""

    _fn = staticmethod(A.hardsigmoid)


class SELU(_Inplace):
    """scale · elu(x, alpha), the self-normalising constants."""

    _fn = staticmethod(A.selu)

    def extra_repr(self) -> str:  # PyTorch prints the flag for SELU (not for Hardswish)
        return "inplace=True" if self.inplace else ""


class CELU(Module):
    """x for x > 0, alpha (e^(x / alpha) - 1) otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Any) -> Tensor:
        return A.celu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GLU(Module):
    """a · sigmoid(b), a and b the halves of the input along ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Any) -> Tensor:
        return A.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, input: Any) -> Tensor:
        return A.softsign(input)


class Tanhshrink(Module):
    """x - tanh(x)."""

    def forward(self, input: Any) -> Tensor:
        return A.tanhshrink(input)


class Softshrink(Module):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Any) -> Tensor:
        return A.softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Hardshrink(Softshrink):
    """x where |x| > lambd, else 0."""

    def forward(self, input: Any) -> Tensor:
        return A.hardshrink(input, self.lambd)


class Threshold(Module):
    """x where x > threshold, else ``value``."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input: Any) -> Tensor:
        return A.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"threshold={self.threshold}, value={self.value}{inplace}"


class PReLU(Module):
    """x for x > 0, weight · x otherwise, with learnt slopes: one, or one per channel
    (axis 1), each starting at ``init``.

    >>> import chainrule as cr
    >>> layer = cr.nn.PReLU(num_parameters=2)
    >>> layer(cr.tensor([[-4.0, 4.0], [2.0, -2.0]]))
    tensor([[-1. ,  4. ],
            [ 2. , -0.5]], grad_fn=<where>)
    """

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None
    ) -> None:
        check_device(device, "PReLU")
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(np.full(num_parameters, init, dtype=param_dtype(dtype)))

    def reset_parameters(self) -> None:
        self.weight.data[...] = self.init

    def forward(self, input: Any) -> Tensor:
        return A.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
