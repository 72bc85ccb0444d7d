"""PyTorch's ``inplace=True`` on activations and dropouts: the result is written into
the input, which is returned (see :func:`chainrule.tensor_inplace.change_in_place` for
what is recorded and what is refused)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.tensor import Tensor
from chainrule.tensor_inplace import change_in_place, require_tensor


def _flag_hint(name: str) -> str:
    return f"call {name} with inplace=False, which returns a new tensor"


def inplace_flag(
    name: str,
    input: Any,
    compute: Callable[[Tensor], Tensor],
    update: Callable[[np.ndarray], Any] | None = None,
) -> Tensor:
    """``name(input, ..., inplace=True)``: ``compute(input)``'s values written into
    ``input``, which is returned."""
    return change_in_place(
        input, compute, f"{name}(inplace=True)", update=update, hint=_flag_hint(name)
    )


def require_tensor_flag(name: str, input: Any) -> Tensor:
    """``input`` itself if it is a Tensor (for a call that returns it unchanged, as
    dropout outside training does), else the TypeError of ``inplace=True``."""
    require_tensor(input, f"{name}(inplace=True)", _flag_hint(name))
    return input


def inplace_spelling(
    name: str,
    input: Any,
    compute: Callable[[Tensor], Tensor],
    update: Callable[[np.ndarray], Any] | None = None,
) -> Tensor:
    """``name_(input, ...)`` (``F.relu_``): ``compute(input)``'s values written into
    ``input``, which is returned."""
    return change_in_place(
        input,
        compute,
        f"{name}_()",
        update=update,
        hint=f"call F.{name}, which returns a new tensor",
    )


def relu_update(data: np.ndarray) -> None:
    """ReLU written straight into an array (nothing recorded): one pass, no temporary."""
    np.maximum(data, 0, out=data)
