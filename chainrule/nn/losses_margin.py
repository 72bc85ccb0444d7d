"""Multi-class margin losses of ``torch.nn.functional``: ``multi_margin_loss``,
``multilabel_margin_loss`` and ``triplet_margin_with_distance_loss``, composed of
differentiable operations, with PyTorch 2.13's arguments and reductions.

The two multi-class hinges count a term only where it is strictly positive, as
PyTorch's kernels do (no gradient at a hinge of exactly 0); the triplet hinge is
PyTorch's ``clamp_min``, which passes the gradient at 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule.nn.functional_distance import pairwise_distance
from chainrule.nn.losses import _check_reduction, _reduce, legacy_reduction
from chainrule.nn.losses_more import _hinge
from chainrule.tensor import Tensor, as_tensor

__all__ = ["multi_margin_loss", "multilabel_margin_loss", "triplet_margin_with_distance_loss"]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _positive_part(z: Tensor) -> Tensor:
    """z where z > 0, else 0 (no gradient at 0, as PyTorch's margin kernels)."""
    return _f.where(z > 0, z, np.zeros((), z.dtype))  # recorded: cr.jit recomputes it


def _scores(input: Any, name: str) -> tuple[Tensor, bool]:
    """(N, C) scores and whether the input was one vector (C,)."""
    x = _t(input)
    if x.ndim == 1:
        return x.reshape(1, -1), True
    if x.ndim != 2 or (x.shape[1] == 0):
        raise ValueError(
            f"{name}: expected a non-empty vector (C,) or matrix (N, C), got shape {x.shape}"
        )
    return x, False


def _integer_target(target: Any, name: str) -> np.ndarray:
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: the target must hold integer classes, got dtype {t.dtype}")
    return t.astype(np.int64)


def multi_margin_loss(
    input: Any,
    target: Any,
    p: int = 1,
    margin: float = 1.0,
    weight: Any = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """The multi-class hinge: for each sample, sum over classes i != y of
    max(0, margin - x[y] + x[i])^p (times ``weight[y]``), divided by the class count.

    >>> import chainrule as cr
    >>> x = cr.tensor([[0.1, 0.2, 0.4, 0.8]])
    >>> round(cr.nn.functional.multi_margin_loss(x, cr.tensor([3])).item(), 4)
    0.325
    """
    name = "multi_margin_loss"
    reduction = legacy_reduction(size_average, reduce, reduction, name)
    _check_reduction(reduction, name)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    x, single = _scores(input, name)
    n, c = x.shape
    y = _integer_target(target, name)
    if y.shape not in ([(), (1,)] if single else [(n,)]):
        raise ValueError(
            f"{name}: inconsistent target size {np.shape(target)} for input of size "
            f"{x.shape[1:] if single else x.shape}"
        )
    y = y.reshape(-1)
    if y.size and (y.min() < 0 or y.max() >= c):
        raise IndexError(f"{name}: target out of range: classes must lie in [0, {c - 1}]")
    rows = np.arange(n)
    picked = x[rows, y].reshape(n, 1)
    z = _positive_part(x - picked + margin)
    if p == 2:
        z = z * z
    others = np.ones((n, c), dtype=x.dtype)
    others[rows, y] = 0  # the target's own class is no margin violation
    loss = (z * others).sum(axis=1) / c
    if weight is not None:
        w = _t(weight)
        if w.ndim != 1:
            raise ValueError("weight must be one-dimensional")
        if w.shape[0] != c:
            raise ValueError(f"{name}: inconsistent weight size, expected {c} but got {w.shape}")
        loss = loss * w[y]
    if single and reduction == "none":
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def multilabel_margin_loss(
    input: Any,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """The multi-label hinge: ``target`` lists each sample's classes, ended by the first
    -1 (the rest ignored); the loss is, over listed classes j and unlisted classes i,
    the sum of max(0, 1 - (x[j] - x[i])), divided by the class count.

    >>> import chainrule as cr
    >>> x = cr.tensor([[0.1, 0.2, 0.4, 0.8]])
    >>> round(cr.nn.functional.multilabel_margin_loss(x, cr.tensor([[3, 0, -1, 1]])).item(), 4)
    0.85
    """
    name = "multilabel_margin_loss"
    reduction = legacy_reduction(size_average, reduce, reduction, name)
    _check_reduction(reduction, name)
    x, single = _scores(input, name)
    n, c = x.shape
    t = _integer_target(target, name)
    if t.shape != (tuple(x.shape[1:]) if single else x.shape):
        raise ValueError(
            f"{name}: inconsistent target size {t.shape} for input of size "
            f"{(c,) if single else x.shape}"
        )
    t = t.reshape(n, c)
    if t.size and (t.min() < -1 or t.max() >= c):
        raise IndexError(f"{name}: target classes must lie in [-1, {c - 1}], got {t}")
    # Each listed class counted as often as it is listed (PyTorch's loop), up to the first -1.
    listed = np.cumprod(t >= 0, axis=1).astype(bool)
    count = np.zeros((n, c), dtype=x.dtype)
    rows = np.repeat(np.arange(n), c).reshape(n, c)
    np.add.at(count, (rows[listed], t[listed]), 1)
    unlisted = (count == 0).astype(x.dtype)
    # pairs[n, j, i] = 1 - x[j] + x[i]: listed j against unlisted i.
    pairs = _positive_part(x.reshape(n, 1, c) - x.reshape(n, c, 1) + 1)
    weights = count.reshape(n, c, 1) * unlisted.reshape(n, 1, c)
    loss = (pairs * weights).sum(axis=(1, 2)) / c
    if single and reduction == "none":
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def triplet_margin_with_distance_loss(
    anchor: Any,
    positive: Any,
    negative: Any,
    *,
    distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """max(0, margin + d(anchor, positive) - d(anchor, negative)) with any distance
    ``d`` (default ``pairwise_distance``); ``swap`` uses min(d(a, n), d(p, n)).

    >>> import chainrule as cr
    >>> a, p, n = cr.zeros(1, 2), cr.tensor([[3.0, 4.0]]), cr.tensor([[0.0, 1.0]])
    >>> cr.nn.functional.triplet_margin_with_distance_loss(
    ...     a, p, n, distance_function=lambda u, v: ((u - v) ** 2).sum(-1))
    tensor(25.)
    """
    name = "triplet_margin_with_distance_loss"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a, pos, neg = _t(anchor), _t(positive), _t(negative)
    if not a.ndim == pos.ndim == neg.ndim:
        raise ValueError(
            f"{name}: the anchor, positive, and negative tensors are expected to have the same "
            f"number of dimensions, got {a.ndim}-D, {pos.ndim}-D and {neg.ndim}-D"
        )
    distance = pairwise_distance if distance_function is None else distance_function
    d_pos = _t(distance(a, pos))
    d_neg = _t(distance(a, neg))
    if swap:
        d_neg = _f.minimum(d_neg, _t(distance(pos, neg)))
    return _reduce(_hinge(d_pos - d_neg + margin), reduction)
