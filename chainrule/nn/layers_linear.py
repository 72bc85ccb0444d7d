"""Linear layers and lookup tables: ``Identity``, ``Linear``, ``Embedding``.

Parameters have the default floating dtype (``cr.set_default_dtype``) unless ``dtype=``
says otherwise; initialisation is PyTorch's,
drawn from ``cr.nn``'s default generator (``cr.nn.manual_seed``) or ``generator=``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.dtypes import as_dtype, check_device, get_default_dtype
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor


def param_dtype(dtype: Any) -> np.dtype:
    """``dtype``, or the default floating dtype (float32 unless ``cr.set_default_dtype``
    changed it), as PyTorch's layers take theirs."""
    return get_default_dtype() if dtype is None else as_dtype(dtype)


def _empty(shape: Sequence[int], dtype: Any) -> Parameter:
    return Parameter(np.zeros(tuple(shape), dtype=param_dtype(dtype)))


def _tuple2(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int | np.integer) else tuple(int(a) for a in v)  # type: ignore[return-value]


class Identity(Module):
    """Returns its input."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Linear(Module):
    """y = x W^T + b, with W of shape (out_features, in_features).

    Initialised as PyTorch does: W and b from U(-1/sqrt(in), 1/sqrt(in)) (Kaiming
    uniform with a = sqrt(5)).

    >>> import chainrule as cr
    >>> layer = cr.nn.Linear(3, 2)  # y = x @ weight.T + bias, weight of shape (2, 3)
    >>> layer(cr.randn(4, 3)).shape
    (4, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = _empty((out_features, in_features), dtype)
        if bias:
            self.bias = _empty((out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Any = None) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, x: Any) -> Tensor:
        return F._linear(
            x,
            self.weight,
            self.bias,
            f"Linear(in_features={self.in_features}, out_features={self.out_features})",
            "this layer",
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Embedding(Module):
    """A table of ``num_embeddings`` vectors, looked up by integer index.

    Initialised from N(0, 1); the ``padding_idx`` row starts at zero and gets no gradient.

    >>> import chainrule as cr
    >>> emb = cr.nn.Embedding(10, 4)  # 10 rows of 4 numbers, looked up by index
    >>> emb(cr.tensor([[1, 2], [3, 4]])).shape
    (2, 2, 4)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Any = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        check_device(device, "Embedding")
        if sparse:
            raise NotImplementedError(
                "Embedding: sparse=True is not supported (chainrule's gradients are dense; "
                "use sparse=False)"
            )
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError("Embedding: padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = _empty((num_embeddings, embedding_dim), dtype)
            self.reset_parameters(generator)
        else:
            given = _weight.data if isinstance(_weight, Tensor) else np.asarray(_weight)
            if given.shape != (num_embeddings, embedding_dim):
                raise ValueError(
                    f"Embedding: _weight has shape {given.shape}, expected "
                    f"{(num_embeddings, embedding_dim)}"
                )
            self.weight = Parameter(given, requires_grad=not _freeze)

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (a matrix), frozen unless told."""
        rows = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if rows.ndim != 2:
            raise ValueError(
                f"Embedding.from_pretrained: embeddings must be 2-d, got shape {rows.shape}"
            )
        return cls(
            rows.shape[0],
            rows.shape[1],
            padding_idx,
            max_norm,
            norm_type,
            scale_grad_by_freq,
            sparse,
            _weight=rows,
            _freeze=freeze,
        )

    def reset_parameters(self, generator: Any = None) -> None:
        init.normal_(self.weight, generator=generator)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, indices: Any) -> Tensor:
        return F.embedding(
            indices,
            self.weight,
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.sparse,
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s
