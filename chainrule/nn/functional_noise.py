"""Random layers of ``torch.nn.functional`` beyond dropout: ``alpha_dropout`` and
``feature_alpha_dropout`` (SELU's dropout) and ``rrelu`` / ``rrelu_`` (the
randomised leaky ReLU). Masks and slopes come from chainrule's generator (other
draws than PyTorch's); what is deterministic, the affine correction and the slopes
outside training, is PyTorch's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule.nn.functional_extra import leaky_relu
from chainrule.nn.inplace import inplace_flag, inplace_spelling, require_tensor_flag
from chainrule.nn.rng import as_generator
from chainrule.tensor import Tensor, as_tensor

__all__ = ["alpha_dropout", "draw_like", "feature_alpha_dropout", "rrelu", "rrelu_"]

# SELU's negative saturation is -alpha * scale; PyTorch's alpha dropout sets dropped
# units to it (this constant is PyTorch's, alpha * scale of SELU).
_SELU_SATURATION = 1.7580993408473766


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def draw_like(x: Tensor, sample: Callable[[tuple[int, ...]], np.ndarray]) -> Any:
    """Random numbers of ``x``'s shape from ``sample(shape)``, in ``x``'s dtype; inside
    ``cr.vmap`` each example draws its own (as ``F.dropout`` does), where drawing the
    logical shape once would give every example the same numbers."""
    if getattr(x, "_batched", False):
        from chainrule.batching.batched import batched_like, physical_shape  # noqa: PLC0415

        return batched_like(x, sample(physical_shape(x)).astype(x.dtype))
    return sample(x.shape).astype(x.dtype)


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _alpha(
    input: Any, p: float, training: bool, inplace: bool, feature: bool, name: str, generator: Any
):
    _check_p(p)
    if inplace:
        x = require_tensor_flag(name, input)
        if not training or p == 0.0 or x.size == 0:
            return x
        return inplace_flag(name, x, lambda t: _alpha(t, p, True, False, feature, name, generator))
    x = _t(input)
    if feature and x.ndim < 2:
        raise ValueError(f"{name}: feature dropout needs at least 2 dimensions, got {x.shape}")
    if not training or p == 0.0 or x.size == 0:
        return x
    if getattr(x, "_batched", False):
        raise NotImplementedError(f"{name} inside cr.vmap is not supported; use F.dropout")
    if p == 1.0:  # PyTorch: the input times zero (a = 1 / sqrt(0) is not taken)
        return x * 0
    # One draw per element, or per (sample, channel) for the feature variant.
    shape = x.shape[:2] + (1,) * (x.ndim - 2) if feature else x.shape
    keep = (as_generator(generator).random(shape, dtype=np.float32) >= p).astype(x.dtype)
    # PyTorch's affine correction: kept x -> a (x + alpha p), dropped -> -a alpha (1 - p),
    # which keeps SELU's zero mean and unit variance.
    a = 1.0 / math.sqrt((_SELU_SATURATION**2 * p + 1) * (1 - p))
    shift = ((keep - 1) * (_SELU_SATURATION * a) + _SELU_SATURATION * a * p).astype(x.dtype)
    return x * (keep * a).astype(x.dtype) + shift


def alpha_dropout(
    input: Any, p: float = 0.5, training: bool = False, inplace: bool = False, generator: Any = None
) -> Tensor:
    """SELU's dropout: in training each element is set to SELU's negative saturation with
    probability ``p``, and the result scaled and shifted (PyTorch's a and b) to keep mean
    0 and variance 1. Not training (the default, as PyTorch's): the input itself.
    ``generator`` draws the mask (chainrule's own keyword).

    >>> import chainrule as cr
    >>> x = cr.ones(3)
    >>> cr.nn.functional.alpha_dropout(x, 0.2) is x
    True
    """
    return _alpha(input, p, training, inplace, False, "alpha_dropout", generator)


def feature_alpha_dropout(
    input: Any, p: float = 0.5, training: bool = False, inplace: bool = False, generator: Any = None
) -> Tensor:
    """``alpha_dropout`` with one draw per channel: whole channels (axis 1 of an input
    of at least 2 axes) are set to the saturation value together."""
    return _alpha(input, p, training, inplace, True, "feature_alpha_dropout", generator)


def _check_bounds(lower: float, upper: float) -> None:
    if lower > upper:
        raise ValueError(
            f"rrelu: lower bound ({lower}) should be less than or equal to the upper bound "
            f"({upper})"
        )


def _rrelu(x: Tensor, lower: float, upper: float, training: bool, generator: Any) -> Tensor:
    if not training:
        return leaky_relu(x, (lower + upper) / 2)
    rng = as_generator(generator)
    slopes = draw_like(x, lambda shape: rng.uniform(lower, upper, shape))
    # x = 0 takes its slope, as PyTorch's (its gradient there is the slope drawn);
    # a recorded comparison, so that cr.jit recomputes the mask per input.
    return _f.where(x > 0, x, x * slopes)


def rrelu(
    input: Any,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
    generator: Any = None,
) -> Tensor:
    """Randomised leaky ReLU: in training each non-positive element gets its own slope
    drawn from U(lower, upper); otherwise the fixed slope (lower + upper) / 2.

    >>> import chainrule as cr
    >>> cr.nn.functional.rrelu(cr.tensor([-1.0, 2.0]), 0.1, 0.3)
    tensor([-0.2,  2. ])
    """
    _check_bounds(lower, upper)
    if inplace:
        return inplace_flag("rrelu", input, lambda x: _rrelu(x, lower, upper, training, generator))
    return _rrelu(_t(input), lower, upper, training, generator)


def rrelu_(
    input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False
) -> Tensor:
    """``F.rrelu(input, lower, upper, training)`` written into ``input``; returns it."""
    _check_bounds(lower, upper)
    return inplace_spelling("rrelu", input, lambda x: _rrelu(x, lower, upper, training, None))
