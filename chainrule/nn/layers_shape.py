"""Layers that move numbers without learning: ``Flatten``, ``Unflatten``, ``Dropout``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


class Flatten(Module):
    """Merge axes ``start_dim`` .. ``end_dim`` (default: all but the batch axis).

    >>> import chainrule as cr
    >>> cr.nn.Flatten()(cr.zeros(2, 3, 4)).shape  # keeps the batch axis
    (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Any) -> Tensor:
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1/(1-p).

    >>> import chainrule as cr
    >>> drop = cr.nn.Dropout(0.5)  # training: zeroes elements, scales the rest by 1/(1-p)
    >>> drop.eval()(cr.ones(3))  # evaluation: the identity
    tensor([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, generator: Any = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace
        self.generator = generator

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training, self.inplace, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size`` (Flatten's inverse).

    >>> import chainrule as cr
    >>> cr.nn.Unflatten(1, (3, 4))(cr.zeros(2, 12)).shape
    (2, 3, 4)
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, x: Any) -> Tensor:
        return F.unflatten(x, self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
