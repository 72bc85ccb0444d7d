"""The decoder half of PyTorch's transformer: ``TransformerDecoderLayer``,
``TransformerDecoder``, and ``Transformer`` (encoder and decoder together), with
PyTorch's arguments, submodule names (state-dict keys: ``self_attn``,
``multihead_attn``, ``linear1``, ``norm3``, ``encoder.layers.0...``,
``decoder.norm``) and initialisation.

>>> import chainrule as cr
>>> _ = cr.nn.manual_seed(0)
>>> model = cr.nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1,
...                           num_decoder_layers=1, dim_feedforward=32, batch_first=True)
>>> mask = cr.nn.Transformer.generate_square_subsequent_mask(5)
>>> model(cr.randn(2, 7, 16), cr.randn(2, 5, 16), tgt_mask=mask).shape
(2, 5, 16)
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.nn import init
from chainrule.nn.layers_attention import (
    MultiheadAttention,
    TransformerEncoder,
    TransformerEncoderLayer,
    _activation_fn,
)
from chainrule.nn.layers_linear import Linear
from chainrule.nn.layers_norm import LayerNorm
from chainrule.nn.layers_shape import Dropout
from chainrule.nn.module import Module, ModuleList
from chainrule.tensor import Tensor, as_tensor


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


class TransformerDecoderLayer(Module):
    """Self-attention over the target, attention to the encoder's output (``memory``),
    then the feed-forward block; each with a residual connection and LayerNorm
    (after, or before with ``norm_first``), as PyTorch's.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``;
    masks as ``MultiheadAttention``'s (True or -inf: masked out).

    >>> import chainrule as cr
    >>> layer = cr.nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, batch_first=True)
    >>> layer(cr.randn(2, 3, 8), cr.randn(2, 5, 8)).shape  # (N, target length, d_model)
    (2, 3, 8)
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
        attn = dict(dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.self_attn = MultiheadAttention(d_model, nhead, **attn)
        self.multihead_attn = MultiheadAttention(d_model, nhead, **attn)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation_fn(activation)
        self.batch_first = batch_first

    def forward(
        self,
        tgt: Any,
        memory: Any,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        x, mem = _t(tgt), _t(memory)
        self_args = (tgt_mask, tgt_key_padding_mask, tgt_is_causal)
        cross_args = (memory_mask, memory_key_padding_mask, memory_is_causal)
        if self.norm_first:
            x = x + self._attend(self.self_attn, self.dropout1, self.norm1(x), None, *self_args)
            x = x + self._attend(
                self.multihead_attn, self.dropout2, self.norm2(x), mem, *cross_args
            )
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._attend(self.self_attn, self.dropout1, x, None, *self_args))
        x = self.norm2(x + self._attend(self.multihead_attn, self.dropout2, x, mem, *cross_args))
        return self.norm3(x + self._ff_block(x))

    @staticmethod
    def _attend(attn, drop, x, mem, mask, padding, is_causal) -> Tensor:
        """Self-attention (``mem`` None) or attention to ``mem``, weights not asked for."""
        kv = x if mem is None else mem
        out = attn(
            x,
            kv,
            kv,
            attn_mask=mask,
            key_padding_mask=padding,
            need_weights=False,
            is_causal=bool(is_causal),
        )[0]
        return drop(out)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer`` in a row (``layers.0``, ...), each
    attending to the same ``memory``, then ``norm`` if given. ``forward(tgt, memory,
    tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``.

    >>> import chainrule as cr
    >>> layer = cr.nn.TransformerDecoderLayer(8, 2, dim_feedforward=16)
    >>> cr.nn.TransformerDecoder(layer, 2)(cr.randn(3, 2, 8), cr.randn(5, 2, 8)).shape
    (3, 2, 8)
    """

    def __init__(
        self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None
    ) -> None:
        super().__init__()
        if not isinstance(num_layers, int | np.integer) or num_layers < 1:
            raise ValueError(
                f"TransformerDecoder: num_layers must be a whole number >= 1, got {num_layers!r}"
            )
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(
        self,
        tgt: Any,
        memory: Any,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        x = _t(tgt)
        for layer in self.layers:
            x = layer(
                x,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=bool(tgt_is_causal),
                memory_is_causal=memory_is_causal,
            )
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """PyTorch's encoder-decoder transformer: ``encoder`` (``num_encoder_layers``
    encoder layers and a final LayerNorm) reads ``src``; ``decoder`` (the same for the
    decoder) reads ``tgt`` and attends to the encoder's output. Every weight with more
    than one axis is re-drawn Glorot-uniform, as PyTorch does; ``custom_encoder`` /
    ``custom_decoder`` replace the halves.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)``.
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Any], Any] = "relu",
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__()
        kw = dict(dtype=dtype, generator=generator)
        layer_kw = dict(
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            activation=activation,
            layer_norm_eps=layer_norm_eps,
            batch_first=batch_first,
            norm_first=norm_first,
            bias=bias,
            **kw,
        )
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(d_model, nhead, **layer_kw),
                num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype),
            )
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(d_model, nhead, **layer_kw),
                num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype),
            )
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p, generator=generator)

    def forward(
        self,
        src: Any,
        tgt: Any,
        src_mask: Any = None,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        src_key_padding_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        src, tgt = _t(src), _t(tgt)
        batched = src.ndim == 3
        axis = 0 if self.batch_first else 1
        if not batched and tgt.ndim != 2 or batched and tgt.ndim != 3:
            raise ValueError(
                f"Transformer: src and tgt must both have 3 axes (or 2, unbatched), got "
                f"shapes {src.shape} and {tgt.shape}"
            )
        if batched and src.shape[axis] != tgt.shape[axis]:
            raise ValueError(
                f"Transformer: the batch sizes of src and tgt (axis {axis}) must be equal, "
                f"got shapes {src.shape} and {tgt.shape}"
            )
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(
                f"Transformer: the last axes of src and tgt must be d_model={self.d_model}, "
                f"got shapes {src.shape} and {tgt.shape}"
            )
        memory = self.encoder(
            src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal
        )
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
        """(sz, sz) float mask: 0 on and below the diagonal, -inf above (a position
        attends to itself and the positions before it), as PyTorch's. ``device`` is
        accepted for PyTorch's signature; only the CPU exists here."""
        if device is not None and str(device) != "cpu":
            raise ValueError(f"generate_square_subsequent_mask: only the CPU, got {device!r}")
        kind = np.dtype(np.float32 if dtype is None else dtype)
        upper = np.triu(np.ones((sz, sz), dtype=bool), 1)
        return as_tensor(np.where(upper, np.array(-np.inf, kind), np.array(0, kind)))
