"""Activation layers, each a thin module over its ``cr.nn.functional`` function; one
built with ``inplace=True`` changes its input in place, as PyTorch's does."""

from __future__ import annotations

from typing import Any

from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


def _inplace_repr(layer: Module, sep: str = "") -> str:
    """PyTorch's printed flag: ``inplace=True`` when set, nothing otherwise."""
    return f"{sep}inplace=True" if layer.inplace else ""


class ReLU(Module):
    """max(x, 0)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Any) -> Tensor:
        return F.relu(x, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self)


class LeakyReLU(Module):
    """x for x >= 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + _inplace_repr(self, ", ")


class Tanh(Module):
    def forward(self, x: Any) -> Tensor:
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x: Any) -> Tensor:
        return F.sigmoid(x)


class Softplus(Module):
    """log(1 + e^(beta x)) / beta, and x where beta x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, x: Any) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class GELU(Module):
    """x * Phi(x) (exact, with erf) or its tanh approximation."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', not {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class _AlongDim(Module):
    """A function applied along ``dim`` (None: PyTorch's implicit choice, 0 for 0-, 1-
    and 3-D inputs, else 1, with PyTorch's deprecation warning)."""

    _fn: Any = None  # F.softmax or F.log_softmax, set by the subclass

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        # dim None: PyTorch's implicit choice, with its warning (not the last axis)
        return type(self)._fn(x, self.dim, 5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """softmax along ``dim`` (None: PyTorch's implicit choice, 0 for 0-, 1- and 3-D inputs,
    else 1, with its deprecation warning)."""

    _fn = staticmethod(F.softmax)


class LogSoftmax(_AlongDim):
    """log_softmax along ``dim`` (None: PyTorch's implicit choice, as ``Softmax``)."""

    _fn = staticmethod(F.log_softmax)


class Softmin(_AlongDim):
    """softmax(-x) along ``dim`` (None: PyTorch's implicit choice, as ``Softmax``)."""

    _fn = staticmethod(F.softmin)


class SiLU(Module):
    """x * sigmoid(x)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Any) -> Tensor:
        return F.silu(x, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self)


class Mish(Module):
    """x * tanh(softplus(x))."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Any) -> Tensor:
        return F.mish(x, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self)


class LogSigmoid(Module):
    """log(sigmoid(x))."""

    def forward(self, x: Any) -> Tensor:
        return F.logsigmoid(x)


class ELU(Module):
    """x for x > 0, alpha * (e^x - 1) otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, x: Any) -> Tensor:
        return F.elu(x, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + _inplace_repr(self, ", ")


class Hardtanh(Module):
    """x limited to [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, x: Any) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + _inplace_repr(self, ", ")


class ReLU6(Hardtanh):
    """min(max(x, 0), 6)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:  # PyTorch's: the bounds are not printed
        return _inplace_repr(self)
