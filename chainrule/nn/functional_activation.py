"""Still more activations of ``torch.nn.functional``: hardswish, hardsigmoid, selu, celu,
glu, softsign, tanhshrink, softshrink, hardshrink, threshold, prelu and softplus with
PyTorch's ``beta`` and ``threshold``.

Each is a composition of differentiable operations, so its derivatives (second ones
included) come from the table of primitive rules. Where a function has a kink, the side
that owns the kink point is chosen to give PyTorch's gradient there (measured against
torch 2.13): hardswish has slope 0 at -3 and 1 at +3; hardsigmoid, hardshrink, softshrink
and threshold pass no gradient at their breakpoints; prelu, selu and celu take their
negative branch at 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule.nn.inplace import inplace_flag
from chainrule.ops import nn_ops as _nn
from chainrule.tensor import Tensor, as_tensor, unary

__all__ = [
    "celu",
    "glu",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "prelu",
    "selu",
    "softplus",
    "softshrink",
    "softsign",
    "tanhshrink",
    "threshold",
]

# SELU's constants (Klambauer et al., 2017), as PyTorch spells them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _t(x: Any) -> Tensor:
    return as_tensor(x)


def _values(x: Tensor) -> Any:
    """What the branch conditions compare: the tensor itself, so that the masks are
    recorded comparisons: ``cr.jit`` computes them again for every input (with the
    array, the first call's masks would be kept), and inside ``cr.vmap`` they are each
    example's."""
    return x


def _const(value: float, like: Tensor) -> np.ndarray:
    """A 0-d constant of ``like``'s dtype (so that float32 stays float32)."""
    return np.asarray(value, dtype=like.dtype)


def hardswish(input: Any, inplace: bool = False) -> Tensor:
    """x · relu6(x + 3) / 6: 0 up to -3, x up from 3, x (x + 3) / 6 between."""
    if inplace:
        return inplace_flag("hardswish", input, hardswish)
    x = _t(input)
    raw = _values(x)
    # -3 belongs to the flat side (slope 0) and 3 to the line (slope 1), as in PyTorch.
    return _f.where(raw <= -3, _const(0, x), _f.where(raw < 3, x * (x + 3) / 6, x))


def hardsigmoid(input: Any, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6: 0 up to -3, 1 from 3, x / 6 + 1/2 between (no gradient at +-3)."""
    if inplace:
        return inplace_flag("hardsigmoid", input, hardsigmoid)
    x = _t(input)
    raw = _values(x)
    return _f.where(raw <= -3, _const(0, x), _f.where(raw >= 3, _const(1, x), x / 6 + 0.5))


def selu(input: Any, inplace: bool = False) -> Tensor:
    """scale · elu(x, alpha) with the self-normalising constants of Klambauer et al."""
    if inplace:
        return inplace_flag("selu", input, selu)
    x = _t(input)
    positive = _values(x) > 0
    # e^x of the non-positive entries only, so that nothing overflows.
    negative = (_f.exp(_f.where(positive, _const(0, x), x)) - 1) * _SELU_ALPHA
    return _f.where(positive, x, negative) * _SELU_SCALE


def celu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (e^(x / alpha) - 1) otherwise (continuously differentiable)."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (the negative branch divides by it)")
    if inplace:
        return inplace_flag("celu", input, lambda x: celu(x, alpha))
    x = _t(input)
    positive = _values(x) > 0
    # e^(x/alpha) of the non-positive entries only, so that nothing overflows.
    scaled = _f.where(positive, _const(0, x), x) / alpha
    return _f.where(positive, x, (_f.exp(scaled) - 1) * alpha)


def glu(input: Any, dim: int = -1) -> Tensor:
    """a · sigmoid(b), where a and b are the two halves of ``input`` along ``dim``."""
    x = _t(input)
    if x.ndim == 0:
        raise ValueError("glu: does not support a 0-d input")
    axis = dim % x.ndim if -x.ndim <= dim < x.ndim else None
    if axis is None:
        raise IndexError(f"glu: dim {dim} is out of range for a {x.ndim}-d input")
    size = x.shape[axis]
    if size % 2:
        raise ValueError(f"glu: halving dimension must be even, but dimension {dim} is size {size}")
    half = size // 2
    first = [slice(None)] * x.ndim
    second = [slice(None)] * x.ndim
    first[axis], second[axis] = slice(0, half), slice(half, size)
    return x[tuple(first)] * _f.sigmoid(x[tuple(second)])


def softsign(input: Any) -> Tensor:
    """x / (1 + |x|)."""
    x = _t(input)
    return x / (_f.abs(x) + 1)


def tanhshrink(input: Any) -> Tensor:
    """x - tanh(x)."""
    x = _t(input)
    return x - _f.tanh(x)


def softshrink(input: Any, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, 0 between (bounds included)."""
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be at least 0, got {lambd}")
    x = _t(input)
    raw = _values(x)
    return _f.where(raw > lambd, x - lambd, _f.where(raw < -lambd, x + lambd, _const(0, x)))


def hardshrink(input: Any, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0 (no gradient at +-lambd)."""
    x = _t(input)
    raw = _values(x)
    return _f.where((raw > lambd) | (raw < -lambd), x, _const(0, x))


def threshold(input: Any, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else ``value`` (no gradient at the threshold itself)."""
    if inplace:
        return inplace_flag("threshold", input, lambda x: _threshold(x, threshold, value))
    return _threshold(_t(input), threshold, value)


def _threshold(x: Tensor, threshold: float, value: float) -> Tensor:
    return _f.where(_values(x) > threshold, x, _const(value, x))


def prelu(input: Any, weight: Any) -> Tensor:
    """x for x > 0, weight · x otherwise; ``weight`` holds one slope, or one per channel
    (axis 1 of the input; a 1-d input has one channel)."""
    x, w = _t(input), _t(weight)
    if w.ndim > 1:
        raise ValueError(f"prelu: the weight must be 0-d or 1-d, got shape {w.shape}")
    channels = x.shape[1] if x.ndim >= 2 else 1
    if w.size not in (1, channels):
        raise ValueError(
            f"prelu: the weight has {w.size} slopes, but the input (shape {x.shape}) has "
            f"{channels} channels on axis 1 (give 1 slope, or one per channel)"
        )
    slope = w.reshape(()) if w.size == 1 else w.reshape((1, channels) + (1,) * (x.ndim - 2))
    return _f.where(_values(x) > 0, x, slope * x)


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, and x itself where beta x > ``threshold`` (PyTorch's
    switch to the linear function, for numerical stability)."""
    x = _t(input)
    if beta == 1:
        smooth = unary(_nn.softplus, x)
        return _f.where(_values(x) > threshold, x, smooth)
    scaled = x * beta
    return _f.where(_values(scaled) > threshold, x, unary(_nn.softplus, scaled) / beta)
