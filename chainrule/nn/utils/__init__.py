"""Helpers over a model's parameters: gradient clipping, flattening to one vector;
and, in :mod:`chainrule.nn.utils.rnn`, padded and packed batches of sequences."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.autograd.versions import bump
from chainrule.nn.utils import rnn  # noqa: F401  (PyTorch's spelling: nn.utils.rnn.pad_sequence)
from chainrule.tensor import Tensor


def _params(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale all gradients together, in place, so that their joint norm is at most ``max_norm``.

    The joint norm is the ``norm_type``-norm of the per-parameter norms (the norm of
    all gradients concatenated); gradients are multiplied by
    min(1, max_norm / (norm + 1e-6)). Returns the norm before clipping.

    >>> import chainrule as cr
    >>> p = cr.nn.Parameter(cr.zeros(2, dtype="float32"))
    >>> p.grad = cr.tensor([3.0, 4.0], dtype="float32")
    >>> float(cr.nn.utils.clip_grad_norm_([p], 1.0))
    5.0
    >>> [round(v, 4) for v in p.grad.tolist()]
    [0.6, 0.8]
    """
    grads = [p.grad.data for p in _params(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return Tensor(0.0)
    if norm_type == np.inf:
        norms = [np.max(np.abs(g)) if g.size else 0.0 for g in grads]
        total = float(np.max(norms))
    else:
        norms = [np.linalg.norm(g.ravel(), norm_type) for g in grads]
        total = float(np.linalg.norm(np.asarray(norms, dtype=np.float64), norm_type))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            f"{total}; set error_if_nonfinite=False to clip anyway"
        )
    coef = min(float(max_norm) / (total + 1e-6), 1.0)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return Tensor(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient element to [-clip_value, clip_value], in place."""
    for p in _params(parameters):
        if p.grad is not None:
            np.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters' values, flattened and joined (a copy, not tracked)."""
    return Tensor(np.concatenate([p.data.ravel() for p in parameters]))


def vector_to_parameters(vec: Any, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters, in place."""
    data = vec.data if isinstance(vec, Tensor) else np.asarray(vec)
    start = 0
    for p in parameters:
        n = p.data.size
        if start + n > data.size:
            raise ValueError("vector_to_parameters: the vector is shorter than the parameters")
        bump(p.data)
        p.data[...] = data[start : start + n].reshape(p.shape)
        start += n
    if start != data.size:
        raise ValueError("vector_to_parameters: the vector is longer than the parameters")
