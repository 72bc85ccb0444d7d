"""Channel-wise dropout, PyTorch's ``dropout1d``, ``dropout2d``, ``dropout3d``: whole
channels (feature maps) zeroed, as after a convolution whose neighbouring outputs
are correlated and element-wise dropout would barely regularise."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.inplace import inplace_flag, require_tensor_flag
from chainrule.nn.rng import as_generator
from chainrule.tensor import Tensor, as_tensor


def feature_dropout(
    input: Any,
    p: float,
    training: bool,
    axes: int,
    name: str,
    generator: Any = None,
    inplace: bool = False,
) -> Tensor:
    """Zero each whole channel with probability ``p`` (one draw per (sample, channel),
    or per channel of an input without a batch axis) and scale the rest by 1/(1-p).
    ``axes`` is how many spatial axes follow the channel; an input with one axis
    fewer has no batch axis. ``inplace=True``: the result is written into ``input``,
    which is returned (unchanged outside training or with p = 0), as PyTorch's."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability must be between 0 and 1, got {p}")
    if inplace:
        require_tensor_flag(name, input)
    x = input if isinstance(input, Tensor) else as_tensor(input)
    if x.ndim not in (axes + 1, axes + 2):
        raise ValueError(
            f"{name}: expected an input of {axes + 2} axes (N, C, ...) or {axes + 1} (C, ...), "
            f"got shape {x.shape}"
        )
    if getattr(x, "_batched", False):
        raise NotImplementedError(f"{name} inside cr.vmap is not supported; use F.dropout")
    if not training or p == 0.0:
        return x
    if inplace:
        return inplace_flag(name, x, lambda t: feature_dropout(t, p, True, axes, name, generator))
    if p == 1.0:
        return x * 0
    lead = x.ndim - axes  # (N, C) or (C,)
    draw = as_generator(generator).random(x.shape[:lead], dtype=np.float32) >= p
    keep = draw.reshape(x.shape[:lead] + (1,) * axes)
    return x * (keep.astype(x.dtype) * (1.0 / (1.0 - p))).astype(x.dtype)


def dropout1d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of an (N, C, L) or (C, L) input with probability ``p``."""
    return feature_dropout(input, p, training, 1, "dropout1d", inplace=inplace)


def dropout2d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of an (N, C, H, W) input with probability ``p``. A 3-D
    input is read as (N, C, L), as PyTorch 2.13 still does (it warns that this will
    change), not as an unbatched (C, H, W)."""
    if inplace:
        require_tensor_flag("dropout2d", input)
    x = input if isinstance(input, Tensor) else as_tensor(input)
    axes = 1 if x.ndim == 3 else 2
    return feature_dropout(x, p, training, axes, "dropout2d", inplace=inplace)


def dropout3d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of an (N, C, D, H, W) or (C, D, H, W) input with probability
    ``p``."""
    return feature_dropout(input, p, training, 3, "dropout3d", inplace=inplace)
