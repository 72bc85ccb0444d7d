"""More losses of ``torch.nn.functional``: ranking, embedding and margin losses, and the
Poisson and Gaussian negative log-likelihoods, each with PyTorch's arguments (the
deprecated ``size_average`` and ``reduce`` included, which override ``reduction`` as in
PyTorch).

Each is a composition of differentiable operations. The hinges max(0, v) pass the
gradient at v = 0 itself, as PyTorch's ``clamp_min`` does (measured against torch
2.13); values that PyTorch raises to ``eps`` under ``no_grad`` (the variance of
``gaussian_nll_loss``) are raised in value only, so the gradient flows as in torch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule.nn.functional_distance import pairwise_distance
from chainrule.nn.functional_extra import logsigmoid
from chainrule.nn.losses import _check_reduction, _reduce, legacy_reduction
from chainrule.ops import nn_ops as _nn
from chainrule.tensor import Tensor, as_tensor, unary

__all__ = [
    "cosine_embedding_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "multilabel_soft_margin_loss",
    "poisson_nll_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
]

# cosine_embedding_loss's guard on each squared norm: PyTorch's constant is a C++ float,
# 1e-12 rounded to float32, which shows at a zero vector (2e-9 relative in float64).
_EPSILON = float(np.float32(1e-12))


def _t(x: Any) -> Tensor:
    return as_tensor(x)


def _reduction(size_average: Any, reduce: Any, reduction: str, name: str) -> str:
    """PyTorch's legacy rule (``legacy_reduction``), then the three reductions' check."""
    reduction = legacy_reduction(size_average, reduce, reduction, name, stacklevel=4)
    _check_reduction(reduction, name)
    return reduction


def _hinge(v: Tensor) -> Tensor:
    """max(v, 0), passing the gradient at v = 0 (PyTorch's clamp_min)."""
    return _f.where(v >= 0, v, np.zeros((), v.dtype))  # recorded: cr.jit recomputes it


def _like(target: Any, x: Tensor) -> Any:
    """A target in the input's floating dtype (a Tensor target keeps its gradient)."""
    if isinstance(target, Tensor):
        return target if target.dtype == x.dtype else target.astype(x.dtype)
    return np.asarray(target).astype(x.dtype)


def _same_shape(name: str, x: Tensor, target: Any) -> None:
    ts = tuple(np.shape(target))
    if ts != x.shape:
        raise ValueError(f"{name}: the target's shape {ts} must equal the input's {x.shape}")


def margin_ranking_loss(
    input1: Any,
    input2: Any,
    target: Any,
    margin: float = 0.0,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """max(0, -target (input1 - input2) + margin), target +-1 saying which should rank
    higher.

    >>> import chainrule as cr
    >>> F = cr.nn.functional
    >>> F.margin_ranking_loss(cr.tensor([1.0, 2.0]), cr.tensor([2.0, 0.0]), cr.tensor([1.0, 1.0]))
    tensor(0.5)
    """
    reduction = _reduction(size_average, reduce, reduction, "margin_ranking_loss")
    a, b = _t(input1), _t(input2)
    ndims = (a.ndim, b.ndim, np.ndim(target))
    if len(set(ndims)) != 1:
        raise ValueError(
            f"margin_ranking_loss: all inputs need the same number of dimensions, got "
            f"input1 {a.shape}, input2 {b.shape}, target {tuple(np.shape(target))}"
        )
    y = _like(target, a)
    return _reduce(_hinge(-y * (a - b) + margin), reduction)


def hinge_embedding_loss(
    input: Any,
    target: Any,
    margin: float = 1.0,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """x where target = 1, max(0, margin - x) where target = -1 (x: distances)."""
    reduction = _reduction(size_average, reduce, reduction, "hinge_embedding_loss")
    x = _t(input)
    # a Tensor target's masks are recorded comparisons: cr.jit recomputes them per call
    y = target if isinstance(target, Tensor) else np.asarray(target)
    zero = np.zeros((), x.dtype)
    # PyTorch's sum of two masked terms: a target neither 1 nor -1 counts in both.
    loss = _f.where(y != 1, _hinge(margin - x), zero) + _f.where(y != -1, x, zero)
    return _reduce(loss, reduction)


def soft_margin_loss(
    input: Any,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """log(1 + exp(-target * input)), the logistic loss of targets +-1 (computed stably)."""
    reduction = _reduction(size_average, reduce, reduction, "soft_margin_loss")
    x = _t(input)
    _same_shape("soft_margin_loss", x, target)
    return _reduce(unary(_nn.softplus, -_like(target, x) * x), reduction)


def multilabel_soft_margin_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross-entropy of logits against 0/1 labels, averaged over the classes (the
    last axis) and then reduced over the samples."""
    reduction = _reduction(size_average, reduce, reduction, "multilabel_soft_margin_loss")
    x = _t(input)
    _same_shape("multilabel_soft_margin_loss", x, target)
    if x.ndim == 0:
        raise ValueError("multilabel_soft_margin_loss: the input needs a class axis")
    y = _like(target, x)
    loss = -(y * logsigmoid(x) + (1 - y) * logsigmoid(-x))
    if weight is not None:
        loss = loss * weight
    per_sample = loss.sum(axis=-1) / x.shape[-1]
    return _reduce(per_sample, reduction)


def cosine_embedding_loss(
    input1: Any,
    input2: Any,
    target: Any,
    margin: float = 0.0,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """1 - cos(x1, x2) where target = 1, max(0, cos(x1, x2) - margin) where target = -1;
    the cosine along the last axis, each squared norm plus 1e-12 (as float32) as PyTorch."""
    reduction = _reduction(size_average, reduce, reduction, "cosine_embedding_loss")
    a, b = _t(input1), _t(input2)
    if a.shape != b.shape or a.ndim not in (1, 2):
        raise ValueError(
            f"cosine_embedding_loss: expected two inputs of one shape, (N, D) or (D,), got "
            f"{a.shape} and {b.shape}"
        )
    y = target if isinstance(target, Tensor) else np.asarray(target)  # recorded, as above
    if tuple(y.shape) != a.shape[:-1]:
        raise ValueError(
            f"cosine_embedding_loss: the target must have shape {a.shape[:-1]} (one +-1 per "
            f"pair), got {y.shape}"
        )
    dot = (a * b).sum(axis=-1)
    square1 = (a * a).sum(axis=-1) + _EPSILON
    square2 = (b * b).sum(axis=-1) + _EPSILON
    cos = dot / _f.sqrt(square1 * square2)
    zero = np.zeros((), a.dtype)
    loss = _f.where(y == 1, 1 - cos, zero) + _f.where(y == -1, _hinge(cos - margin), zero)
    return _reduce(loss, reduction)


def triplet_margin_loss(
    anchor: Any,
    positive: Any,
    negative: Any,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """max(0, margin + d(anchor, positive) - d(anchor, negative)), d the
    ``pairwise_distance`` (p, eps); ``swap`` uses min(d(a, n), d(p, n)) as the negative's
    distance."""
    reduction = _reduction(size_average, reduce, reduction, "triplet_margin_loss")
    a, pos, neg = _t(anchor), _t(positive), _t(negative)
    if not a.ndim == pos.ndim == neg.ndim:
        raise ValueError(
            f"triplet_margin_loss: anchor, positive and negative need the same number of "
            f"dimensions, got {a.shape}, {pos.shape} and {neg.shape}"
        )
    if margin <= 0:
        raise ValueError(f"triplet_margin_loss: margin must be greater than 0, got {margin}")
    d_pos = pairwise_distance(a, pos, p, eps)
    d_neg = pairwise_distance(a, neg, p, eps)
    if swap:
        d_neg = _f.minimum(d_neg, pairwise_distance(pos, neg, p, eps))
    return _reduce(_hinge(d_pos - d_neg + margin), reduction)


def poisson_nll_loss(
    input: Any,
    target: Any,
    log_input: bool = True,
    full: bool = False,
    size_average: Any = None,
    eps: float = 1e-8,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """exp(input) - target * input (``log_input``), or input - target * log(input + eps);
    ``full`` adds Stirling's term target log target - target + log(2 pi target) / 2 where
    target > 1."""
    reduction = _reduction(size_average, reduce, reduction, "poisson_nll_loss")
    x = _t(input)
    y = _like(target, x)
    loss = _f.exp(x) - y * x if log_input else x - y * _f.log(x + eps)
    if full:
        counted = y > 1  # a recorded comparison when y is a Tensor (cr.jit recomputes it)
        # log of 1 where the term is dropped, so that no log(0) enters a gradient.
        safe = _f.where(counted, y, np.ones((), x.dtype))
        stirling = safe * _f.log(safe) - safe + 0.5 * _f.log(safe * (2 * math.pi))
        loss = loss + _f.where(counted, stirling, np.zeros((), x.dtype))
    return _reduce(loss, reduction)


def gaussian_nll_loss(
    input: Any,
    target: Any,
    var: Any,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """(log var + (input - target)^2 / var) / 2, var raised to at least ``eps`` (in value;
    the gradient flows as if it were not, as in PyTorch). ``var`` is shaped like the
    input, or lacks its last axis, or is 1 in one axis (one variance shared), or a float.
    """
    x = _t(input)
    if isinstance(var, float | int) and not isinstance(var, bool):
        if var < 0:
            raise ValueError("gaussian_nll_loss: var has negative entries")
        v: Any = as_tensor(np.full(x.shape, var, dtype=x.dtype))
    else:
        v = _t(var)
        if v.size and (v.data < 0).any():
            raise ValueError("gaussian_nll_loss: var has negative entries")
        if v.shape != x.shape:
            if x.shape[:-1] == v.shape:
                v = v.reshape(*v.shape, 1)
            elif not (
                v.ndim == x.ndim and sum(vs for xs, vs in zip(x.shape, v.shape) if xs != vs) == 1
            ):
                raise ValueError(
                    f"gaussian_nll_loss: var of shape {v.shape} does not fit the input's "
                    f"shape {x.shape} (give the input's shape, the input's without its last "
                    "axis, or 1 in one axis)"
                )
    _check_reduction(reduction, "gaussian_nll_loss")
    lift = np.maximum(v.data, eps) - v.data  # a constant: the gradient passes unchanged
    if lift.any():
        v = v + lift.astype(v.dtype)
    diff = x - target
    loss = (_f.log(v) + diff * diff / v) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)
