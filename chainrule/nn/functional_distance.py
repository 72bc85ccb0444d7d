"""Norms and distances of ``torch.nn.functional``: normalize, cosine_similarity and
pairwise_distance, with PyTorch 2.13's placement of ``eps`` (measured against torch):

- normalize: x / max(||x||_p, eps), the maximum passing no gradient to the norm where
  the norm is below eps;
- cosine_similarity: sum((x1 / n1) * (x2 / n2)) where n = ||x||_2 raised to eps in value
  only: the gradient still flows through the norm itself (torch clamps it in place);
- pairwise_distance: ||x1 - x2 + eps||_p over the last dimension.

Every norm is the ``vector_norm`` primitive, whose gradient at the zero vector is 0, not
0/0: a zero row gives the finite gradients torch gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule.tensor import Tensor, as_tensor
from chainrule.torch_functions import norm as _norm

__all__ = ["cosine_similarity", "normalize", "pairwise_distance"]


def _t(x: Any) -> Tensor:
    return as_tensor(x)


def _floating(x: Tensor, name: str) -> None:
    if x.dtype.kind not in "fc":
        raise TypeError(f"{name}: expected a floating-point input, got dtype {x.dtype}")


def normalize(
    input: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None
) -> Tensor:
    """input / max(||input||_p, eps) over ``dim``: unit vectors along ``dim``.

    >>> import chainrule as cr
    >>> cr.nn.functional.normalize(cr.tensor([[3.0, 4.0]]))
    tensor([[0.6, 0.8]])
    """
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported (use the returned tensor)")
    x = _t(input)
    _floating(x, "normalize")
    if x.ndim == 0:
        raise IndexError("normalize: a 0-d input has no dimension to normalise over")
    n = _norm(x, p, dim, True)
    # PyTorch's clamp_min: below eps the denominator is the constant eps.
    return x / _f.where(n >= eps, n, np.asarray(eps, dtype=n.dtype))  # recorded for cr.jit


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """The cosine of the angle between ``x1`` and ``x2`` along ``dim`` (they broadcast);
    each norm is taken as at least ``eps``.

    >>> import chainrule as cr
    >>> cr.nn.functional.cosine_similarity(cr.tensor([[1.0, 0.0]]), cr.tensor([[1.0, 1.0]]))
    tensor([0.70710677])
    """
    a, b = _t(x1), _t(x2)
    _floating(a, "cosine_similarity")
    _floating(b, "cosine_similarity")
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"cosine_similarity: the shapes {a.shape} and {b.shape} do not broadcast"
        ) from None
    if not -max(len(shape), 1) <= dim < max(len(shape), 1):
        raise IndexError(f"cosine_similarity: dim {dim} is out of range for shape {shape}")
    if a.shape != shape:
        a = _f.broadcast_to(a, shape)
    if b.shape != shape:
        b = _f.broadcast_to(b, shape)
    return (_scaled(a, dim, eps) * _scaled(b, dim, eps)).sum(axis=dim)


def _scaled(x: Tensor, dim: int, eps: float) -> Tensor:
    """x / ||x|| with the norm raised to eps in value only (its gradient is the norm's)."""
    n = _norm(x, 2, dim, True)
    lift = np.maximum(n.data, eps) - n.data  # a constant: the gradient passes unchanged
    return x / (n + lift) if lift.any() else x / n


def pairwise_distance(
    x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """||x1 - x2 + eps||_p over the last dimension (of the broadcast shape).

    >>> import chainrule as cr
    >>> cr.nn.functional.pairwise_distance(cr.tensor([[0.0, 0.0]]), cr.tensor([[3.0, 4.0]]), eps=0)
    tensor([5.])
    """
    a, b = _t(x1), _t(x2)
    _floating(a, "pairwise_distance")
    _floating(b, "pairwise_distance")
    diff = a - b + eps
    if diff.ndim == 0:
        raise ValueError("pairwise_distance: expected inputs with at least one dimension")
    return _norm(diff, p, -1, keepdim)
