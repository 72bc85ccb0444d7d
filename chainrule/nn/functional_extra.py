"""More of ``torch.nn.functional``: silu, elu, relu6, hardtanh, logsigmoid, softmin,
mish and pad, composed of differentiable operations (so each derivative comes from
the table of primitive rules).

Two habits of PyTorch's own kernels are kept on purpose: ``hardtanh`` and ``relu6``
pass no gradient at their bounds (PyTorch's ``clamp`` does, and so does
``cr.clip``), and the exponential in ``elu`` is taken of the non-positive entries only, so a large
positive input cannot put ``inf * 0 = nan`` into the gradient of the branch not taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule.ops import nn_ops as _nn
from chainrule.tensor import Tensor, as_tensor, unary


def _t(x: Any) -> Tensor:
    return as_tensor(x)


def silu(input: Any, inplace: bool = False) -> Tensor:
    """x · sigmoid(x) (also called swish)."""
    x = _t(input)
    return x * _f.sigmoid(x)


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise."""
    x = _t(input)
    positive = x.data > 0
    # e^x of the non-positive entries only (0 elsewhere): nothing can overflow.
    negative = alpha * (_f.exp(_f.where(positive, np.zeros((), x.dtype), x)) - 1)
    return _f.where(positive, x, negative)


def hardtanh(
    input: Any, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """x limited to [min_val, max_val]; the gradient passes strictly inside only."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    x = _t(input)
    raw = x.data
    low = np.asarray(min_val, dtype=raw.dtype)
    high = np.asarray(max_val, dtype=raw.dtype)
    return _f.where(raw <= min_val, low, _f.where(raw >= max_val, high, x))


def relu6(input: Any, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6), with PyTorch's gradient (none at 0 and 6)."""
    return hardtanh(input, 0.0, 6.0)


def logsigmoid(input: Any) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -unary(_nn.softplus, -_t(input))


def softmin(input: Any, dim: int | None = None) -> Tensor:
    """softmax(-x) along ``dim``."""
    x = _t(input)
    return _f.softmax(-x, -1 if dim is None else dim)


def mish(input: Any, inplace: bool = False) -> Tensor:
    """x · tanh(softplus(x))."""
    x = _t(input)
    return x * _f.tanh(unary(_nn.softplus, x))


def pad(input: Any, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right, top, bottom, ...)``,
    last dimension first, as PyTorch orders it. Modes: constant, reflect, replicate,
    circular. Negative amounts (cropping) are not supported."""
    import chainrule.numpy as cnp  # the differentiable np.pad

    x = _t(input)
    amounts = [int(p) for p in pad]
    if len(amounts) % 2 or len(amounts) // 2 > x.ndim:
        raise ValueError(
            f"pad: expected pairs (left, right, ...) for at most {x.ndim} dimensions, "
            f"got {tuple(pad)}"
        )
    if any(p < 0 for p in amounts):
        raise ValueError(f"pad: negative padding (cropping) is not supported, got {tuple(pad)}")
    modes = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
    if mode not in modes:
        raise ValueError(f"pad: mode must be one of {', '.join(modes)}, got {mode!r}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(amounts) // 2):
        widths[x.ndim - 1 - i] = (amounts[2 * i], amounts[2 * i + 1])
    if mode == "constant":
        return cnp.pad(x, widths, mode="constant", constant_values=value)
    return cnp.pad(x, widths, mode=modes[mode])
