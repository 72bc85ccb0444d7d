"""More of ``torch.nn.functional``: silu, elu, leaky_relu, relu6, hardtanh, logsigmoid,
softmin, mish and pad, composed of differentiable operations (so each derivative comes from
the table of primitive rules).

Two habits of PyTorch's own kernels are kept on purpose: ``hardtanh`` and ``relu6``
pass no gradient at their bounds (PyTorch's ``clamp`` does, and so does
``cr.clip``), and the exponential in ``elu`` is taken of the non-positive entries only, so a large
positive input cannot put ``inf * 0 = nan`` into the gradient of the branch not taken.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule.nn.inplace import inplace_flag
from chainrule.ops import nn_ops as _nn
from chainrule.tensor import Tensor, as_tensor, unary


def _t(x: Any) -> Tensor:
    return as_tensor(x)


def silu(input: Any, inplace: bool = False) -> Tensor:
    """x · sigmoid(x) (also called swish)."""
    if inplace:
        return inplace_flag("silu", input, silu)
    x = _t(input)
    return x * _f.sigmoid(x)


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise."""
    if inplace:
        return inplace_flag("elu", input, lambda x: elu(x, alpha))
    x = _t(input)
    positive = x > 0  # recorded (not x.data), so that cr.jit recomputes it per input
    # e^x of the non-positive entries only (0 elsewhere): nothing can overflow.
    negative = alpha * (_f.exp(_f.where(positive, np.zeros((), x.dtype), x)) - 1)
    return _f.where(positive, x, negative)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, ``negative_slope * x`` elsewhere."""
    if inplace:
        return inplace_flag("leaky_relu", input, lambda x: leaky_relu(x, negative_slope))
    x = _t(input)
    # x = 0 takes the slope, as in PyTorch (the gradient there is negative_slope).
    # The mask is a recorded comparison, not x.data: cr.jit then computes it again
    # for every input instead of keeping the first call's.
    return _f.where(x > 0, x, x * negative_slope)


def hardtanh(
    input: Any, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """x limited to [min_val, max_val]; the gradient passes strictly inside only."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    if inplace:
        return inplace_flag("hardtanh", input, lambda x: hardtanh(x, min_val, max_val))
    x = _t(input)
    low = np.asarray(min_val, dtype=x.dtype)
    high = np.asarray(max_val, dtype=x.dtype)
    # recorded comparisons (not x.data), so that cr.jit recomputes the masks per input
    return _f.where(x <= min_val, low, _f.where(x >= max_val, high, x))


def relu6(input: Any, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6), with PyTorch's gradient (none at 0 and 6)."""
    if inplace:
        return inplace_flag("relu6", input, relu6)
    return hardtanh(input, 0.0, 6.0)


def logsigmoid(input: Any) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -unary(_nn.softplus, -_t(input))


def implicit_softmax_dim(name: str, ndim: int, stacklevel: int = 3) -> int:
    """PyTorch's axis for a softmax called without ``dim`` (deprecated there, with a
    warning): 0 for 0-, 1- and 3-D inputs, else 1. Not the last axis: on an (N, C, L)
    or (N, C, H, W) input that would silently give other numbers than PyTorch's."""
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to "
        "include dim=X as an argument.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """softmax(-x) along ``dim``; ``dtype`` casts the input first. Without ``dim``,
    PyTorch's implicit choice (see ``implicit_softmax_dim``)."""
    x = _t(input) if dtype is None else _f.astype(input, dtype)
    if dim is None:
        dim = implicit_softmax_dim("softmin", x.ndim, _stacklevel)
    return _f.softmax(-x, dim)


def mish(input: Any, inplace: bool = False) -> Tensor:
    """x · tanh(softplus(x))."""
    if inplace:
        return inplace_flag("mish", input, mish)
    x = _t(input)
    return x * _f.tanh(unary(_nn.softplus, x))


def pad(
    input: Any, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> Tensor:
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right, top, bottom, ...)``,
    last dimension first, as PyTorch orders it. Modes: constant (``value``, default 0),
    reflect, replicate, circular; the last three pad 1, 2 or 3 trailing dimensions of
    an input with one or two more. A negative amount crops that side: before padding
    (constant, circular) or after it (reflect, replicate), as PyTorch does; circular
    pads at most the size left after cropping.

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.pad(np.array([[1.0, 2.0, 3.0]]), (2, -1), mode="reflect").numpy()
    array([[3., 2., 1., 2.]])
    >>> F.pad(np.array([[1.0, 2.0, 3.0]]), (-1, 2), mode="circular").numpy()
    array([[2., 3., 2., 3.]])
    """
    import chainrule.numpy as cnp  # the differentiable np.pad

    x = _t(input)
    amounts = [int(p) for p in pad]
    if len(amounts) % 2 or len(amounts) // 2 > x.ndim:
        raise ValueError(
            f"pad: expected pairs (left, right, ...) for at most {x.ndim} dimensions, "
            f"got {tuple(pad)}"
        )
    modes = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
    if mode not in modes:
        raise ValueError(f"pad: mode must be one of {', '.join(modes)}, got {mode!r}")
    k = len(amounts) // 2
    if mode != "constant":
        if value:
            raise ValueError(f"pad: mode {mode!r} takes no value (got {value})")
        if k not in (1, 2, 3) or x.ndim not in (k + 1, k + 2):
            raise NotImplementedError(
                f"pad: mode {mode!r} pads 1, 2 or 3 trailing dimensions of an input with one "
                f"or two more (as PyTorch); got {len(amounts)} amounts for a {x.ndim}-D input"
            )
    widths = [(0, 0)] * x.ndim
    for i in range(k):
        left, right = amounts[2 * i], amounts[2 * i + 1]
        widths[x.ndim - 1 - i] = (max(0, left), max(0, right))
    # PyTorch crops first, then pads what is left (constant, circular), but reflects
    # and replicates the whole input and crops the result.
    crop_first = mode in ("constant", "circular")
    if crop_first:
        x = _crop(x, amounts)
    for axis, (left, right) in enumerate(widths):
        size = x.shape[axis]
        if mode == "reflect" and max(left, right) >= max(size, 1):
            raise ValueError(
                f"pad: reflect padding ({left}, {right}) must be smaller than dimension "
                f"{axis} of size {size}"
            )
        if mode == "circular" and max(left, right) > size:
            raise ValueError(
                f"pad: circular padding ({left}, {right}) would wrap around dimension {axis} "
                f"of size {size} more than once"
            )
        if mode == "replicate" and (left or right) and size == 0:
            raise ValueError(f"pad: replicate cannot pad the empty dimension {axis}")
    if any(w != (0, 0) for w in widths):
        if mode == "constant":
            x = cnp.pad(x, widths, mode="constant", constant_values=value or 0)
        else:
            x = cnp.pad(x, widths, mode=modes[mode])
    return x if crop_first else _crop(x, amounts)


def _crop(x: Tensor, amounts: list[int]) -> Tensor:
    """``x`` without the sides whose amount is negative (last dimension first)."""
    if all(p >= 0 for p in amounts):
        return x
    index = [slice(None)] * x.ndim
    for i in range(len(amounts) // 2):
        axis = x.ndim - 1 - i
        left, right = amounts[2 * i], amounts[2 * i + 1]
        start, stop = max(0, -left), x.shape[axis] - max(0, -right)
        if stop < start:
            raise ValueError(
                f"pad: cropping ({left}, {right}) leaves less than nothing of dimension "
                f"{axis} (size {x.shape[axis]})"
            )
        index[axis] = slice(start, stop)
    return x[tuple(index)]
