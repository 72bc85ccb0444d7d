"""Losses as functions, with PyTorch's names, arguments and defaults.

Re-exported by :mod:`chainrule.nn.functional`, where PyTorch users look for them.
Class scores are on axis 1 (N, C, ...); class targets are integer indices of shape
(N, ...) or probabilities shaped like the scores.

Shape mistakes are refused, not broadcast: a regression target of shape (N,)
against predictions of shape (N, 1) would broadcast to (N, N) and give a loss that
is silently wrong (PyTorch warns there; we raise, naming both shapes). A target may
still broadcast *to* the input's shape (a scalar, or one row for every sample).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule.ops import nn_ops as _nn
from chainrule.tensor import Tensor, apply, as_tensor, unary

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _raw(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


_REDUCTIONS = ("mean", "sum", "none")
_SUM = {"reduce": True}


def _check_reduction(reduction: str, name: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', not {reduction!r}")


def legacy_reduction(
    size_average: Any, reduce: Any, reduction: str, name: str, stacklevel: int = 3
) -> str:
    """PyTorch's legacy rule: either deprecated flag given overrides ``reduction``
    (with PyTorch's warning). They sit where PyTorch puts them in each signature, so
    an old call that passes them by position means what it meant there."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else "mean" if size_average else "sum"
        warnings.warn(
            f"{name}: size_average and reduce args will be deprecated, please use "
            f"reduction='{reduction}' instead.",
            UserWarning,
            stacklevel=stacklevel,  # the caller of the loss function
        )
    return reduction


def _weighted(loss: Tensor, weight: Any, reduction: str, x: Tensor, name: str, by_sum: bool):
    """PyTorch 2.13's elementwise ``weight`` of mse_loss, l1_loss and huber_loss: the
    mean divides by the weights' sum (mse, l1) or by the count (huber)."""
    ws = weight.shape if isinstance(weight, Tensor) else np.shape(weight)
    if tuple(ws) != x.shape:
        raise ValueError(
            f"{name}: weights and input must have the same size, got {ws} and {x.shape}"
        )
    loss = loss * weight
    if reduction == "mean" and by_sum:
        return loss.sum() / _f.sum(weight)
    return _reduce(loss, reduction)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _classes_last(x: Tensor, name: str) -> tuple[Tensor, int, tuple[int, ...]]:
    """Scores with the class axis moved last; the class count; the batch shape."""
    if x.ndim == 0:
        raise ValueError(f"{name}: the input needs a class axis, got a 0-d tensor")
    if x.ndim == 1:
        return x, x.shape[0], ()
    if x.ndim > 2:
        perm = (0, *range(2, x.ndim), 1)
        x = x.transpose(perm)
        return x, x.shape[-1], x.shape[:-1]
    return x, x.shape[1], x.shape[:1]


# What a float target could have meant instead, per loss.
_PROBABILITIES = {
    "cross_entropy": "; class probabilities are floats shaped like the input",
    "nll_loss": "",
}


def _batch_mismatch(
    name: str, input_shape: tuple[int, ...], target_shape: tuple[int, ...], batch: tuple
) -> str:
    shapes = f"(input shape {input_shape}, target shape {target_shape})"
    if batch and target_shape and len(target_shape) == len(batch) and target_shape[0] != batch[0]:
        return (
            f"{name}: the input has a batch of {batch[0]} samples but the target has "
            f"{target_shape[0]} {shapes}"
        )
    return f"{name}: the target must hold one class index per sample, of shape {batch} {shapes}"


def _target_weights(
    target: Any,
    batch: tuple[int, ...],
    classes: int,
    dtype: np.dtype,
    weight: Any,
    ignore_index: int,
    label_smoothing: float,
    mean: bool,
    name: str,
    input_shape: tuple[int, ...],
) -> Tensor:
    """q, the weight of each class in each sample's loss -sum(q log p), divided by the
    mean's divisor when ``mean`` (a node of its own, so that cr.jit records it)."""
    target = _t(target)
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: the target holds {target.dtype} values, but class targets must be "
            f"integer class indices in 0..{classes - 1} (convert them with "
            f".astype(np.int64)){_PROBABILITIES[name]}"
        )
    if target.shape != batch:
        raise ValueError(_batch_mismatch(name, input_shape, target.shape, batch))
    if weight is not None and np.shape(weight) != (classes,):
        raise ValueError(f"{name}: weight must have shape ({classes},), got {np.shape(weight)}")
    return apply(
        _nn.class_weights,
        (target, weight),
        {
            "dtype": dtype,
            "classes": classes,
            "ignore_index": ignore_index,
            "label_smoothing": label_smoothing,
            "mean": mean,
            "name": name,
        },
    )


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy of logits ``input`` (N, C, ...) against class indices or probabilities.

    With class indices, ``label_smoothing`` eps mixes the one-hot target with the
    uniform distribution, (1 - eps) onehot + eps / C; ``weight`` scales each class;
    the mean divides by the summed weights of the non-ignored targets (PyTorch's rule).
    Computed from logits by a fused, stable softmax-cross-entropy primitive.

    >>> import chainrule as cr
    >>> import chainrule.nn.functional as F
    >>> logits = cr.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]])  # raw scores, not probabilities
    >>> F.cross_entropy(logits, cr.tensor([0, 2]))  # class indices as targets
    tensor(0.23954487)
    >>> F.cross_entropy(logits, cr.tensor([0, 2]), label_smoothing=0.1)
    tensor(0.3728782)
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "cross_entropy")
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    x = _t(input)
    if x.dtype.kind != "f":
        raise TypeError(f"cross_entropy: the input must hold floating-point logits, not {x.dtype}")
    xs, classes, batch = _classes_last(x, "cross_entropy")
    if (
        isinstance(target, Tensor)
        and target.dtype.kind == "f"
        or (not isinstance(target, Tensor) and np.asarray(target).dtype.kind == "f")
    ):
        # Class probabilities, shaped like the input.
        tq = _t(target)
        if tq.shape == batch and batch != x.shape:
            # One float per sample: class indices in a float dtype, not probabilities;
            # the class-target check raises the TypeError that says so.
            _target_weights(
                tq, batch, classes, x.dtype, None, 0, 0.0, False, "cross_entropy", x.shape
            )
        if tq.shape != x.shape:
            raise ValueError(
                f"cross_entropy: probability targets must have the input's shape {x.shape}, "
                f"got {tq.shape}"
            )
        if x.ndim > 2:
            tq = tq.transpose((0, *range(2, x.ndim), 1))
        if label_smoothing:
            tq = tq * (1 - label_smoothing) + label_smoothing / classes
        if weight is not None:
            tq = tq * _raw(weight).astype(x.dtype, copy=False)
        per = apply(_nn.softmax_cross_entropy, (xs, tq))
        return _reduce(per, reduction)
    # The mean is a weighted sum: the targets are scaled instead of adding two nodes.
    mean = reduction == "mean"
    q = _target_weights(
        target,
        batch,
        classes,
        x.dtype,
        weight,
        ignore_index,
        label_smoothing,
        mean,
        "cross_entropy",
        x.shape,
    )
    if reduction == "none":
        return apply(_nn.softmax_cross_entropy, (xs, q))
    loss = apply(_nn.softmax_cross_entropy, (xs, q), _SUM)
    return apply(_nn.nan_if_none_counted, (loss, q)) if mean else loss


def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """-input[n, target[n]] (input: log-probabilities (N, C, ...)), weighted and reduced.

    >>> import chainrule as cr
    >>> import chainrule.nn.functional as F
    >>> logits = cr.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    >>> F.nll_loss(F.log_softmax(logits, dim=1), cr.tensor([0, 2]))  # = cross_entropy(logits, ...)
    tensor(0.23954487)
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "nll_loss")
    _check_reduction(reduction, "nll_loss")
    x = _t(input)
    xs, classes, batch = _classes_last(x, "nll_loss")
    mean = reduction == "mean"
    q = _target_weights(
        target, batch, classes, x.dtype, weight, ignore_index, 0.0, mean, "nll_loss", x.shape
    )
    if mean:
        return apply(_nn.nan_if_none_counted, (-(xs * q).sum(), q))
    return _reduce(-(xs * q).sum(axis=-1), reduction)


def _check_target_shape(x: Tensor, target: Any, name: str) -> None:
    """Refuse a target that would broadcast the loss beyond the input's shape."""
    ts = target.shape if isinstance(target, Tensor) else np.shape(target)
    if ts == x.shape:
        return
    try:
        both = np.broadcast_shapes(x.shape, ts)
    except ValueError:
        both = None
    if both != x.shape:
        outcome = "they do not broadcast" if both is None else f"they would broadcast to {both}"
        raise ValueError(
            f"{name}: the target's shape {tuple(ts)} does not match the input's shape "
            f"{x.shape}, and {outcome} (reshape one of them, e.g. input.reshape(-1) or "
            "target.reshape(input.shape))"
        )


def _pointwise_loss(name, term, input, target, size_average, reduce, reduction, weight):
    """A loss of ``term(input - target)``, elementwise, reduced; PyTorch 2.13's
    ``weight`` scales each term and the mean then divides by the weights' sum."""
    reduction = legacy_reduction(size_average, reduce, reduction, name, stacklevel=4)
    _check_reduction(reduction, name)
    x = _t(input)
    _check_target_shape(x, target, name)
    loss = term(x - target)
    if weight is not None:
        return _weighted(loss, weight, reduction, x, name, True)
    return _reduce(loss, reduction)


def mse_loss(
    input: Any,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Tensor:
    """(input - target)^2, reduced. ``target`` has the input's shape or broadcasts to it;
    ``weight`` (the input's shape) scales each term, and the mean divides by its sum."""
    return _pointwise_loss(
        "mse_loss", lambda d: d * d, input, target, size_average, reduce, reduction, weight
    )


def l1_loss(
    input: Any,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Tensor:
    """|input - target|, reduced. ``target`` has the input's shape or broadcasts to it;
    ``weight`` (the input's shape) scales each term, and the mean divides by its sum."""
    return _pointwise_loss(
        "l1_loss", _f.abs, input, target, size_average, reduce, reduction, weight
    )


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """-[p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))], from logits, stably.

    Written as (1 - y) x + (1 + (p - 1) y) softplus(-x), which never takes the log
    of a number that rounded to 0.

    >>> import chainrule as cr
    >>> import chainrule.nn.functional as F
    >>> # sigmoid and binary cross-entropy in one stable step: -log(sigmoid(x)) for target 1
    >>> F.binary_cross_entropy_with_logits(cr.tensor([0.0, 2.0]), cr.tensor([1.0, 1.0]))
    tensor(0.41003758)
    """
    reduction = legacy_reduction(
        size_average, reduce, reduction, "binary_cross_entropy_with_logits"
    )
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    x = _t(input)
    y = target if isinstance(target, Tensor) else _raw(target).astype(x.dtype, copy=False)
    if tuple(np.shape(y)) != x.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: target shape {np.shape(y)} must equal input "
            f"shape {x.shape}"
        )
    sp = unary(_nn.softplus, -x)
    if pos_weight is None:
        loss = (1 - y) * x + sp
    else:
        pw = pos_weight if isinstance(pos_weight, Tensor) else _raw(pos_weight).astype(x.dtype)
        loss = (1 - y) * x + (1 + (pw - 1) * y) * sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """-[y log p + (1 - y) log(1 - p)] for probabilities p; each log is clamped at -100."""
    reduction = legacy_reduction(size_average, reduce, reduction, "binary_cross_entropy")
    _check_reduction(reduction, "binary_cross_entropy")
    p = _t(input)
    pd = p.data
    if pd.size and (pd.min() < 0 or pd.max() > 1):
        raise ValueError("binary_cross_entropy: input probabilities must lie in [0, 1]")
    _check_target_shape(p, target, "binary_cross_entropy")
    y = target if isinstance(target, Tensor) else _raw(target).astype(p.dtype, copy=False)
    loss = apply(_nn.binary_cross_entropy, (p, y))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _robust(x: Tensor, target: Any, width: float, scale: float) -> Tensor:
    """0.5 d^2 / scale where |d| < width, else width / scale * (|d| - 0.5 width).

    Both branches are computed and one kept per element; at |d| = width they meet with
    equal slope, so which side takes the boundary changes neither value nor gradient.
    """
    diff = x - target
    ad = _f.abs(diff)
    quadratic = diff * diff * (0.5 / scale)
    linear = (ad - 0.5 * width) * (width / scale)
    return _f.where(ad < width, quadratic, linear)  # recorded: cr.jit recomputes it


def smooth_l1_loss(
    input: Any,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """0.5 d^2 / beta for |d| < beta, |d| - 0.5 beta otherwise (d = input - target);
    ``beta=0`` is the L1 loss."""
    reduction = legacy_reduction(size_average, reduce, reduction, "smooth_l1_loss")
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    x = _t(input)
    _check_target_shape(x, target, "smooth_l1_loss")
    if beta == 0:
        return _reduce(_f.abs(x - target), reduction)
    return _reduce(_robust(x, target, beta, beta), reduction)


def huber_loss(
    input: Any, target: Any, reduction: str = "mean", delta: float = 1.0, weight: Any = None
) -> Tensor:
    """0.5 d^2 for |d| < delta, delta (|d| - 0.5 delta) otherwise: ``delta`` times
    ``smooth_l1_loss`` with beta = delta. ``weight`` (the input's shape) scales each
    term; the mean then divides by the count, as PyTorch 2.13's does."""
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    x = _t(input)
    _check_target_shape(x, target, "huber_loss")
    if weight is not None:
        return _weighted(_robust(x, target, delta, 1.0), weight, reduction, x, "huber_loss", False)
    return _reduce(_robust(x, target, delta, 1.0), reduction)


def kl_div(
    input: Any,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """target * (log target - input), with ``input`` log-probabilities; 0 where target is 0.

    ``reduction="batchmean"`` divides the sum by the batch size (the true KL divergence
    per sample); ``"mean"`` divides by the number of elements, as PyTorch does.
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "kl_div")
    if reduction not in (*_REDUCTIONS, "batchmean"):
        raise ValueError(
            f"kl_div: reduction must be 'mean', 'batchmean', 'sum' or 'none', not {reduction!r}"
        )
    x = _t(input)
    _check_target_shape(x, target, "kl_div")
    t = target if isinstance(target, Tensor) else _raw(target).astype(x.dtype, copy=False)
    if log_target:
        loss = _f.exp(t) * (t - x)
    else:
        # x log x is taken as 0 at x = 0 (its limit); the log's argument is kept
        # positive so that neither the value nor the gradient sees log(0).
        positive = _raw(t) > 0
        loss = t * _f.log(_f.where(positive, t, 1.0)) - t * x
    if reduction == "batchmean":
        return loss.sum() / (x.shape[0] if x.ndim else 1)
    return _reduce(loss, reduction)
