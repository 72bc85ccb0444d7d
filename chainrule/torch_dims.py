"""Dims as PyTorch reads them, shared by :mod:`chainrule.torch_functions` and
:mod:`chainrule.torch_shape`: checked, negative ones wrapped, and NumPy's spelling
(``axis=``, ``keepdims=``) taken as an alternative to PyTorch's."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

NOT_GIVEN: Any = np._NoValue  # "not given": None is a meaningful dim (all of them)
Dim = int | Sequence[int] | None


def check_dim(name: str, dim: Any, shape: tuple[int, ...], extra: int = 0) -> int:
    """``dim`` as an index in [0, ndim + extra); a 0-d tensor has one dim (0 or -1),
    as in PyTorch. Out of range: an IndexError naming the function and the shape."""
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise TypeError(f"{name}(): dim must be an int, not {type(dim).__name__}")
    n = builtins.max(len(shape) + extra, 1)
    if not -n <= dim < n:
        # AxisError is an IndexError and a ValueError: NumPy's and PyTorch's callers
        # catch what they expect.
        raise np.exceptions.AxisError(
            f"{name}(): dim {int(dim)} is out of range for a tensor of shape {tuple(shape)} "
            f"(expected a dim in [{-n}, {n - 1}])"
        )
    return int(dim) % n


def check_dims(name: str, dim: Dim, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """None (all dims), or an int or sequence of ints as a tuple of distinct dims."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int | np.integer) else tuple(dim)
    out = tuple(check_dim(name, d, shape) for d in dims)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}(): dim {dim} names a dim more than once")
    return out


def spelled(name: str, dim: Any, axis: Any, keepdim: Any, keepdims: Any) -> tuple[Any, bool]:
    """dim or NumPy's axis (not both); keepdim or NumPy's keepdims."""
    if axis is not NOT_GIVEN and axis is not None:
        if dim is not None:
            raise TypeError(f"{name}(): give dim or axis, not both")
        dim = axis
    return dim, bool(keepdim) or (keepdims is not NOT_GIVEN and bool(keepdims))


def along(dim: int, index: Any) -> tuple:
    """An index applying ``index`` to dim ``dim`` only."""
    return (slice(None),) * dim + (index,)
