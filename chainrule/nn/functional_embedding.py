"""``embedding``: rows of a weight looked up by integer index, with PyTorch's options.

- ``max_norm``: before the lookup, each row the input names whose ``norm_type``-norm
  exceeds ``max_norm`` is scaled in place to max_norm / (norm + 1e-7) of itself, as
  PyTorch's ``embedding_renorm_`` does; no gradient passes through that rescaling. The
  change bumps the weight's version, so a graph that saved the old rows refuses to
  run backward instead of using the new ones.
- ``scale_grad_by_freq``: each row's gradient is divided by how often the input names
  that row, by an operation whose value is its input exactly and whose gradient is
  scaled (a - stop(a) + stop(x), with a = x * scale).
- ``sparse=True`` is refused: chainrule's gradients are dense arrays; so is ``max_norm``
  under ``cr.jit`` (compiled code would not repeat the in-place change).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule.autograd.versions import bump
from chainrule.tensor import Tensor, active_tracer, as_tensor

__all__ = ["embedding"]


def embedding(
    input: Any,
    weight: Any,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` picked by integer ``input``; the padding row gets no gradient.

    >>> import chainrule as cr
    >>> cr.nn.functional.embedding(cr.tensor([1, 0]), cr.tensor([[0.0, 1.0], [2.0, 3.0]]))  # rows
    tensor([[2., 3.],
            [0., 1.]])
    >>> w = cr.tensor([[3.0, 4.0], [0.3, 0.4]])
    >>> _ = cr.nn.functional.embedding(cr.tensor([0]), w, max_norm=1.0)  # renormalises row 0
    >>> w.numpy().round(6)
    array([[0.6, 0.8],
           [0.3, 0.4]], dtype=float32)
    """
    if sparse:
        raise NotImplementedError(
            "embedding: sparse=True is not supported (chainrule's gradients are dense; "
            "use sparse=False)"
        )
    batched = getattr(input, "_batched", False)  # inside cr.vmap: each example's indices
    idx = input if batched else _raw(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    w = weight if isinstance(weight, Tensor) else as_tensor(weight)
    if w.ndim != 2:
        raise ValueError(
            f"embedding: the weight must be a matrix (num_embeddings, embedding_dim), got "
            f"shape {w.shape}"
        )
    values = _index_values(idx)
    if values.size and (values.min() < -w.shape[0] or values.max() >= w.shape[0]):
        n = w.shape[0]
        raise IndexError(
            f"embedding: index {int(values.max() if values.max() >= n else values.min())} is out "
            f"of range for {n} embeddings (indices must be in 0..{n - 1}, or -{n}..-1 "
            "counting from the end)"
        )
    if (max_norm is not None or scale_grad_by_freq) and batched:
        raise NotImplementedError(
            "embedding: max_norm and scale_grad_by_freq are not supported inside cr.vmap"
        )
    if max_norm is not None:
        if active_tracer() is not None:
            # Compiled code would not repeat an in-place change made while tracing.
            raise NotImplementedError(
                "embedding: max_norm (an in-place renormalisation of the weight) is not "
                "supported under cr.jit"
            )
        _renorm_rows(w, values, float(max_norm), float(norm_type))
    out = w[idx]
    if scale_grad_by_freq and w.requires_grad:
        out = _scale_grad_by_freq(out, idx, w.shape[0])
    if padding_idx is None:
        return out
    keep = (idx != padding_idx % w.shape[0])[..., None]
    return _f.where(keep, out, w.detach()[idx] if batched else w.data[idx])


def _raw(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _index_values(idx: Any) -> np.ndarray:
    """The values of an index (every example's, inside cr.vmap), for range checks."""
    if getattr(idx, "_batched", False):
        from chainrule.batching.batched import physical_array

        return physical_array(idx)
    return idx


def _renorm_rows(w: Tensor, values: np.ndarray, max_norm: float, norm_type: float) -> None:
    """PyTorch's embedding_renorm_: the named rows scaled in place to norm <= max_norm."""
    data = w.data
    rows = np.unique(values % data.shape[0])
    if rows.size == 0:
        return
    picked = data[rows]
    if norm_type == np.inf:
        norms = np.abs(picked).max(axis=1)
    elif norm_type == 0:
        norms = (picked != 0).sum(axis=1).astype(data.dtype)
    else:
        norms = (np.abs(picked) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    norms = norms.astype(np.float64)  # the scale in double precision, as PyTorch's
    over = norms > max_norm
    if not over.any():
        return
    scale = (max_norm / (norms[over] + 1e-7)).astype(data.dtype)
    bump(data)
    data[rows[over]] *= scale[:, None]


def _scale_grad_by_freq(out: Tensor, idx: np.ndarray, rows: int) -> Tensor:
    """``out`` in value; the gradient of each looked-up row divided by how often the
    input names that row (summed over its occurrences, it is the mean)."""
    positive = idx % rows
    counts = np.bincount(positive.ravel(), minlength=rows)
    scale = (1.0 / counts[positive]).astype(out.dtype)[..., None]
    scaled = out * scale
    # scaled - scaled is exactly 0, so the value is out's to the bit; the gradient is scale.
    return (scaled - scaled.detach()) + out.detach()
