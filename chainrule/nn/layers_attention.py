"""Attention layers: ``MultiheadAttention``, ``TransformerEncoderLayer`` and
``TransformerEncoder``, with PyTorch's arguments, defaults and state-dict keys
(``in_proj_weight``, ``in_proj_bias``, ``out_proj.weight``, ``layers.0.linear1.bias``,
...).

Queries, keys and values are projected by the row blocks of the stacked
``in_proj_weight`` (3E, E); heads are a batch axis of the attention's matmuls.
Self-attention (query, key and value one object) without dropout or returned
weights is one GEMM on all of ``in_proj_weight`` and one ``attention_qkv`` node,
which cuts that projection into q, k, v and heads as views and writes their
gradients side by side (chainrule.ops.attention).

>>> import numpy as np
>>> import chainrule as cr
>>> _ = cr.nn.manual_seed(0)
>>> layer = cr.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16,
...                                       batch_first=True)
>>> encoder = cr.nn.TransformerEncoder(layer, num_layers=2)
>>> encoder(cr.tensor(np.ones((3, 5, 8), dtype=np.float32))).shape
(3, 5, 8)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import functions as _f
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.functional_attention import attend, mask_bias
from chainrule.nn.layers_linear import Linear, _empty
from chainrule.nn.layers_norm import LayerNorm
from chainrule.nn.layers_shape import Dropout
from chainrule.nn.module import Module, ModuleList
from chainrule.ops import attention as _attention
from chainrule.tensor import Tensor, as_tensor


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


class MultiheadAttention(Module):
    """Attention with ``num_heads`` heads over ``embed_dim`` features (PyTorch's).

    ``forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False)`` returns
    ``(output, weights)``: output shaped as ``query``; weights (N, L, S) averaged
    over heads, (N, heads, L, S) with ``average_attn_weights=False``, or None
    without ``need_weights``. Inputs are (L, N, E), (N, L, E) with ``batch_first``,
    or (L, E) unbatched. In both masks True means *masked out*; float masks are
    added to the scores. A query every key is masked from gives NaNs with
    ``need_weights`` and 0s without, as in PyTorch 2.13.

    >>> import chainrule as cr
    >>> mha = cr.nn.MultiheadAttention(64, 4, batch_first=True)
    >>> x = cr.randn(2, 10, 64)
    >>> out, weights = mha(x, x, x)  # self-attention; weights averaged over the heads
    >>> out.shape, weights.shape
    ((2, 10, 64), (2, 10, 10))
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive multiple "
                f"of num_heads ({num_heads})"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        self.embed_dim = embed_dim
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = float(dropout)
        self.batch_first = batch_first
        # PyTorch's parameters, in its order (its state-dict keys): one stacked
        # projection when keys and values have embed_dim features, else three.
        if self._qkv_same_embed_dim:
            self.in_proj_weight = _empty((3 * embed_dim, embed_dim), dtype)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = _empty((embed_dim, embed_dim), dtype)
            self.k_proj_weight = _empty((embed_dim, self.kdim), dtype)
            self.v_proj_weight = _empty((embed_dim, self.vdim), dtype)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = _empty((3 * embed_dim,), dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype, generator=generator)
        if add_bias_kv:  # one more key and value, learnt, after the sequence's
            self.bias_k = _empty((1, 1, embed_dim), dtype)
            self.bias_v = _empty((1, 1, embed_dim), dtype)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn  # and one of zeros after those, per head
        self._reset_parameters(generator)

    def _reset_parameters(self, generator: Any = None) -> None:
        # PyTorch's: Glorot-uniform input projections, zero biases, Glorot-normal
        # bias_k/bias_v; out_proj keeps Linear's own initial weight.
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight, generator=generator)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w, generator=generator)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k, generator=generator)
            init.xavier_normal_(self.bias_v, generator=generator)

    def forward(
        self,
        query: Any,
        key: Any,
        value: Any,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        packed = query is key and key is value  # self-attention: one projection
        q, k, v = _t(query), _t(key), _t(value)
        batched = self._check(q, k, v)
        if not batched:
            q, k, v = q[None], k[None], v[None]
        elif not self.batch_first:
            q, k, v = q.swapaxes(0, 1), k.swapaxes(0, 1), v.swapaxes(0, 1)
        if is_causal and attn_mask is None:
            raise ValueError(
                "MultiheadAttention: is_causal=True is a hint that attn_mask is the causal "
                "mask; it needs attn_mask too"
            )
        n, rows, cols = q.shape[0], q.shape[1], k.shape[1]
        bias = self._bias(attn_mask, key_padding_mask, n, rows, cols, batched, q.dtype)
        scale = 1.0 / math.sqrt(self.head_dim)
        p = self.dropout if self.training else 0.0
        extra = int(self.bias_k is not None) + int(self.add_zero_attn)
        if packed and not extra and not need_weights and p == 0.0 and self._packs(q, bias):
            qkv = F.linear(q, self.in_proj_weight, self.in_proj_bias)
            out = _attention.attention_qkv(qkv, bias, heads=self.num_heads, scale=scale, safe=True)
            return self._finish(out, batched), None
        qh, kh, vh = self._heads(q, k, v)
        if extra:
            kh, vh = self._extra_keys(kh, vh)
            if bias is not None:  # the added keys are never masked
                pad = np.zeros(tuple(bias.shape[:-1]) + (extra,), dtype=q.dtype)
                bias = _f.concatenate([bias, pad], axis=-1)
        # PyTorch computes the weights with a plain softmax when it returns them (NaN
        # rows where every key is masked) and through scaled_dot_product_attention
        # when it does not (0s there).
        out, weights = attend(qh, kh, vh, bias, scale, p, not need_weights, need_weights)
        out = self._finish(out.swapaxes(1, 2).reshape(n, rows, self.embed_dim), batched)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)
        return out, weights if batched else weights[0]

    def _packs(self, q: Tensor, bias: Any) -> bool:
        """Whether self-attention on ``q`` (N, L, E) can be one projection and one
        ``attention_qkv`` node (see the module doc)."""
        if not self._qkv_same_embed_dim:
            return False
        w, b = self.in_proj_weight, self.in_proj_bias
        dtype = np.result_type(q.dtype, w.dtype, *(() if b is None else (b.dtype,)))
        shape = (*q.shape[:-1], 3 * self.embed_dim)
        return _attention.takes_packed(shape, dtype, bias, self.num_heads)

    def _finish(self, out: Tensor, batched: bool) -> Tensor:
        """The output projection of the merged heads (N, L, E), in the inputs' layout."""
        out = self.out_proj(out)
        if not batched:
            return out[0]
        return out if self.batch_first else out.swapaxes(0, 1)

    def _check(self, q: Tensor, k: Tensor, v: Tensor) -> bool:
        name = "MultiheadAttention"
        if q.ndim not in (2, 3) or k.ndim != q.ndim or v.ndim != q.ndim:
            raise ValueError(
                f"{name}: query, key and value must all have 3 axes (or 2, unbatched), got "
                f"shapes {q.shape}, {k.shape}, {v.shape}"
            )
        e, kd, vd = self.embed_dim, self.kdim, self.vdim
        if q.shape[-1] != e or k.shape[-1] != kd or v.shape[-1] != vd:
            raise ValueError(
                f"{name}(embed_dim={e}, kdim={kd}, vdim={vd}): the last axes of query, key "
                f"and value must be {e}, {kd} and {vd}, got shapes {q.shape}, {k.shape}, "
                f"{v.shape}"
            )
        seq = 1 if self.batch_first or q.ndim == 2 else 0
        batch = 0 if self.batch_first else 1
        if k.shape[seq] != v.shape[seq] or (
            q.ndim == 3 and not q.shape[batch] == k.shape[batch] == v.shape[batch]
        ):
            raise ValueError(
                f"{name}: key and value must have the same length, and all three the same "
                f"batch size; got shapes {q.shape}, {k.shape}, {v.shape}"
            )
        return q.ndim == 3

    def _heads(self, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, ...]:
        """Project and split into heads: each (N, heads, length, head_dim).

        Three GEMMs on the row blocks of ``in_proj_weight``, also for self-attention:
        one GEMM on all of it, split afterwards, sends each of q, k, v a gradient
        the size of all three (a slice's adjoint is a scatter into zeros); the
        blocks' scatters are the size of the weight instead. 10-20% faster on B7.
        """
        heads, hd, e = self.num_heads, self.head_dim, self.embed_dim
        b = self.in_proj_bias
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            weights = [w[i * e : (i + 1) * e] for i in range(3)]
        else:
            weights = [self.q_proj_weight, self.k_proj_weight, self.v_proj_weight]
        out = []
        for i, (x, w_i) in enumerate(zip((q, k, v), weights)):
            part = F.linear(x, w_i, None if b is None else b[i * e : (i + 1) * e])
            out.append(part.reshape(x.shape[0], x.shape[1], heads, hd).swapaxes(1, 2))
        return tuple(out)

    def _extra_keys(self, kh: Tensor, vh: Tensor) -> tuple[Tensor, Tensor]:
        """PyTorch's add_bias_kv (bias_k and bias_v as one more key and value of every
        sequence) and add_zero_attn (then a key and value of zeros), on the heads."""
        n, heads, _, hd = kh.shape
        if self.bias_k is not None:
            bk, bv = (b.reshape(1, heads, 1, hd) for b in (self.bias_k, self.bias_v))
            kh = _f.concatenate([kh, _f.broadcast_to(bk, (n, heads, 1, hd))], axis=2)
            vh = _f.concatenate([vh, _f.broadcast_to(bv, (n, heads, 1, hd))], axis=2)
        if self.add_zero_attn:
            zeros = np.zeros((n, heads, 1, hd), dtype=kh.dtype)
            kh = _f.concatenate([kh, zeros], axis=2)
            vh = _f.concatenate([vh, zeros], axis=2)
        return kh, vh

    def _bias(self, attn_mask, key_padding_mask, n, rows, cols, batched, dtype) -> Any:
        name = "MultiheadAttention"
        bias: Any = None
        if attn_mask is not None:
            shape = tuple(attn_mask.shape)
            heads_shape = (n * self.num_heads, rows, cols)
            if shape == heads_shape or (not batched and shape == (self.num_heads, rows, cols)):
                m = mask_bias(attn_mask, dtype, True, name)
                bias = m.reshape(n, self.num_heads, rows, cols)
            elif shape == (rows, cols):
                bias = mask_bias(attn_mask, dtype, True, name)
            else:
                raise ValueError(
                    f"{name}: attn_mask must be shaped (L, S) = {(rows, cols)} or (N * heads, "
                    f"L, S) = {heads_shape}, got {shape}"
                )
        if key_padding_mask is not None:
            want = (n, cols) if batched else (cols,)
            if tuple(key_padding_mask.shape) != want:
                raise ValueError(
                    f"{name}: key_padding_mask must be shaped (N, S) = {want} (or (S,) "
                    f"unbatched), got {tuple(key_padding_mask.shape)}"
                )
            pad = mask_bias(key_padding_mask, dtype, True, name).reshape(n, 1, 1, cols)
            bias = pad if bias is None else bias + pad
        return bias


def add_feed_forward(
    layer: Module,
    blocks: int,
    d_model: int,
    dim_feedforward: int,
    dropout: float,
    activation: str | Callable[[Any], Any],
    layer_norm_eps: float,
    norm_first: bool,
    bias: bool,
    dtype: Any,
    generator: Any,
) -> None:
    """What a transformer layer has after its attention modules, registered in
    PyTorch's order (its state-dict keys): ``linear1``, ``dropout``, ``linear2``, then
    ``norm1`` .. ``norm{blocks}`` and ``dropout1`` .. ``dropout{blocks}``, one of each
    per residual block (2 in an encoder layer, 3 in a decoder layer)."""
    layer.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype, generator=generator)
    layer.dropout = Dropout(dropout)
    layer.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype, generator=generator)
    layer.norm_first = norm_first
    for k in range(1, blocks + 1):
        setattr(layer, f"norm{k}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
    for k in range(1, blocks + 1):
        setattr(layer, f"dropout{k}", Dropout(dropout))
    layer.activation = _activation_fn(activation)


def feed_forward(layer: Any, x: Tensor, last_dropout: Module) -> Tensor:
    """The feed-forward block: linear2(dropout(activation(linear1(x)))), dropped out."""
    return last_dropout(layer.linear2(layer.dropout(layer.activation(layer.linear1(x)))))


def _activation_fn(activation: str | Callable[[Any], Any]) -> Callable[[Any], Any]:
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise ValueError(
        f"TransformerEncoderLayer: activation must be 'relu' or 'gelu', not {activation!r}"
    )


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual connection and
    LayerNorm: after each (post-norm, the default) or before (``norm_first=True``).

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``;
    masks as :class:`MultiheadAttention`'s. ``activation`` is ``"relu"``,
    ``"gelu"`` or a function.

    >>> import chainrule as cr
    >>> layer = cr.nn.TransformerEncoderLayer(64, 4, dim_feedforward=128, batch_first=True)
    >>> layer(cr.randn(2, 10, 64)).shape  # attention and feed-forward, same shape out
    (2, 10, 64)
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Any], Any] = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__()
        kw = dict(dtype=dtype, generator=generator)
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw
        )
        add_feed_forward(
            self, 2, d_model, dim_feedforward, dropout, activation, layer_norm_eps, norm_first,
            bias, dtype, generator,
        )  # fmt: skip
        self.batch_first = batch_first

    def forward(
        self,
        src: Any,
        src_mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool = False,
    ) -> Tensor:
        x = _t(src)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(self, x: Tensor, mask: Any, padding: Any, is_causal: bool) -> Tensor:
        out = self.self_attn(
            x,
            x,
            x,
            attn_mask=mask,
            key_padding_mask=padding,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return self.dropout1(out)

    def _ff_block(self, x: Tensor) -> Tensor:
        return feed_forward(self, x, self.dropout2)


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` in a row (``layers.0``, ``layers.1``,
    ...), then ``norm`` if given. ``forward(src, mask=None, src_key_padding_mask=None,
    is_causal=None)``.

    Each copy starts with the same weights as ``encoder_layer`` (deep copies, as
    PyTorch's).

    >>> import chainrule as cr
    >>> layer = cr.nn.TransformerEncoderLayer(64, 4, batch_first=True, norm_first=True)
    >>> encoder = cr.nn.TransformerEncoder(layer, num_layers=2)  # two copies of the layer
    >>> encoder(cr.randn(2, 10, 64)).shape, len(encoder.layers)
    ((2, 10, 64), 2)
    """

    def __init__(
        self,
        encoder_layer: TransformerEncoderLayer,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(num_layers, int | np.integer) or num_layers < 1:
            raise ValueError(
                f"TransformerEncoder: num_layers must be a whole number >= 1, got {num_layers!r}"
            )
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(
        self,
        src: Any,
        mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool | None = None,
    ) -> Tensor:
        x = _t(src)
        for layer in self.layers:
            x = layer(
                x,
                src_mask=mask,
                src_key_padding_mask=src_key_padding_mask,
                is_causal=bool(is_causal),
            )
        return x if self.norm is None else self.norm(x)
