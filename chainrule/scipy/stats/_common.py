"""Helpers shared by the distributions of ``chainrule.scipy.stats``.

Each distribution's functions are compositions of ``chainrule.numpy`` and
``chainrule.scipy.special`` (whose primitives carry the rules), so they are
differentiable in every argument that is a real variable, to any order, in both
modes. Called without a Tensor they are SciPy's own functions (see ``binding``).
"""

from __future__ import annotations

import math
from typing import Any

import chainrule.numpy as cnp
from chainrule.numpy._core import arg, binding, data
from chainrule.tensor import Tensor

LOG_2PI = math.log(2.0 * math.pi)
LOG_2 = math.log(2.0)

__all__ = [
    "LOG_2",
    "LOG_2PI",
    "arg",
    "binding",
    "cnp",
    "constant_only",
    "data",
    "forward_attribute",
    "standardize",
]


def standardize(x: Any, loc: Any, scale: Any) -> Any:
    """(x - loc) / scale, the standard variable of a location-scale family."""
    return (arg(x) - arg(loc)) / arg(scale)


def constant_only(function: str, argument: str, value: Any, why: str) -> None:
    """Refuse a differentiable Tensor where the argument has no derivative."""
    if isinstance(value, Tensor) and value.requires_grad:
        raise NotImplementedError(
            f"{function}: no derivative with respect to {argument} ({why}); pass it as a constant"
        )


def forward_attribute(dist: Any, module: str, name: str) -> Any:
    """The rest of a SciPy distribution's methods (``rvs``, ``ppf``, ...), without
    derivatives: SciPy's own, refusing a Tensor that requires grad."""
    try:
        return getattr(dist, name)
    except AttributeError:
        raise AttributeError(f"module {module!r} has no attribute {name!r}") from None
