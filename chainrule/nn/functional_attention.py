"""Attention as functions: ``scaled_dot_product_attention`` (PyTorch's name and
arguments) and the masks both it and ``nn.MultiheadAttention`` turn into additive
biases.

Attention is one ``attention`` primitive (chainrule.ops.attention) where it can
be, and otherwise composed: batched matmuls and one softmax primitive. Masked
positions get a bias of -inf; a query row that every key is masked from gives 0s
(``safe_softmax``), as PyTorch 2.13's ``scaled_dot_product_attention`` does, and
its gradient there is 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.ops import attention as _attention
from chainrule.ops.activations import safe_softmax, softmax
from chainrule.tensor import Tensor, as_tensor

__all__ = ["scaled_dot_product_attention"]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _dtype_of(x: Any) -> np.dtype:
    return x.dtype if isinstance(x, Tensor | np.ndarray) else np.asarray(x).dtype


def mask_bias(mask: Any, dtype: Any, masked_when: bool, name: str) -> Any:
    """An additive bias from a mask: a bool mask gives -inf where it equals
    ``masked_when`` (SDPA masks out False, MultiheadAttention masks out True) and 0
    elsewhere; a float mask is the bias itself (a Tensor keeps its gradient)."""
    kind = _dtype_of(mask).kind
    if kind == "b":
        raw = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
        hit = raw if masked_when else ~raw
        return np.where(hit, np.array(-np.inf, dtype=dtype), np.array(0, dtype=dtype))
    if kind != "f":
        raise TypeError(
            f"{name}: expected a bool or floating-point mask, got dtype {_dtype_of(mask)}"
        )
    return mask if isinstance(mask, Tensor) else np.asarray(mask, dtype=dtype)


def causal_bias(rows: int, cols: int, dtype: Any) -> np.ndarray:
    """0 on and below the diagonal (aligned top-left, as PyTorch's), -inf above."""
    allowed = np.tri(rows, cols, dtype=bool)
    return np.where(allowed, np.array(0, dtype=dtype), np.array(-np.inf, dtype=dtype))


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    bias: Any,
    scale: float,
    dropout_p: float,
    safe: bool,
    need_weights: bool = True,
) -> tuple:
    """softmax(scale q kᵀ + bias) v; returns the output and the (dropped-out) weights.

    Without dropout and when the weights are not wanted, one ``attention`` node
    (chainrule.ops.attention: no copies around the heads); the weights are then None.
    """
    if dropout_p == 0.0 and not need_weights and _attention.takes(q, k, v, bias):
        return _attention.attention(q, k, v, bias, scale=scale, safe=safe), None
    scores = (q * scale) @ k.swapaxes(-1, -2)
    if bias is not None:
        scores = scores + bias
    weights = (safe_softmax if safe else softmax)(scores, axis=-1)
    if dropout_p > 0.0:
        from chainrule.nn.functional import dropout

        weights = dropout(weights, dropout_p, True)
    return weights @ v, weights


def _share_heads(q: Tensor, k: Tensor, v: Tensor, name: str) -> tuple[Tensor, Tensor]:
    """Grouped-query attention: key and value heads (axis -3) repeated so that each
    serves ``q_heads / kv_heads`` consecutive query heads, as PyTorch's enable_gqa."""
    if q.ndim < 3 or k.ndim < 3 or v.ndim < 3:
        raise ValueError(
            f"{name}: enable_gqa needs a heads axis (..., heads, length, features) in query, "
            f"key and value; got shapes {q.shape}, {k.shape}, {v.shape}"
        )
    heads = q.shape[-3]
    out = []
    for x, what in ((k, "key"), (v, "value")):
        if x.shape[-3] < 1 or heads % x.shape[-3]:
            raise ValueError(
                f"{name}: with enable_gqa the query's {heads} heads must be a multiple of the "
                f"{what}'s {x.shape[-3]}; got shapes {q.shape}, {k.shape}, {v.shape}"
            )
        group = heads // x.shape[-3]
        out.append(x if group == 1 else x[..., np.arange(heads) // group, :, :])
    return out[0], out[1]


def scaled_dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(Q K^T * scale + mask) V over the last two axes, PyTorch's semantics.

    ``query`` (..., L, E), ``key`` (..., S, E), ``value`` (..., S, Ev) -> (..., L, Ev).
    ``attn_mask``: bool (True = may attend) or float (added to the scores),
    broadcast to (..., L, S). ``is_causal``: query i attends keys 0..i (no
    ``attn_mask`` then). ``scale`` defaults to 1/sqrt(E). ``dropout_p`` drops
    attention weights (always, as PyTorch's; pass 0 when evaluating). A query that
    may attend no key gets 0s. ``enable_gqa``: grouped-query attention, key and
    value with fewer heads (axis -3) than query, each shared by consecutive query
    heads (PyTorch's repeat_interleave).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> q = cr.tensor(np.ones((1, 2, 3, 4), dtype=np.float32))
    >>> cr.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True).shape
    (1, 2, 3, 4)
    """
    q, k, v = _t(query), _t(key), _t(value)
    name = "scaled_dot_product_attention"
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(
            f"{name}: query, key and value need at least 2 axes (..., length, features), got "
            f"shapes {q.shape}, {k.shape}, {v.shape}"
        )
    if enable_gqa:
        k, v = _share_heads(q, k, v, name)
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"{name}: query (..., L, E) and key (..., S, E) must share E, and key and value "
            f"(..., S, Ev) must share S; got shapes {q.shape}, {k.shape}, {v.shape}"
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{name}: dropout_p must be in [0, 1], got {dropout_p}")
    dtype = np.result_type(q.dtype, k.dtype, v.dtype)
    rows, cols = q.shape[-2], k.shape[-2]
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{name}: give attn_mask or is_causal=True, not both")
        bias: Any = causal_bias(rows, cols, dtype)
    elif attn_mask is not None:
        bias = mask_bias(attn_mask, dtype, False, name)
    else:
        bias = None
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    out, _ = attend(q, k, v, bias, factor, dropout_p, True, need_weights=False)
    return out
