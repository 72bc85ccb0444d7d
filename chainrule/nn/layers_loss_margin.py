"""Loss modules over ``chainrule.nn.losses_margin``: ``MultiMarginLoss``,
``MultiLabelMarginLoss`` and ``TripletMarginWithDistanceLoss``, with PyTorch 2.13's
arguments, buffers and printed form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.nn import losses_margin as L
from chainrule.nn.layers_loss_more import _Loss
from chainrule.tensor import Tensor, as_tensor

__all__ = ["MultiLabelMarginLoss", "MultiMarginLoss", "TripletMarginWithDistanceLoss"]


class MultiMarginLoss(_Loss):
    """The multi-class hinge (``F.multi_margin_loss``); ``weight`` is a buffer, as in
    PyTorch (saved in the state dict)."""

    def __init__(
        self,
        p: int = 1,
        margin: float = 1.0,
        weight: Any = None,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported")
        if weight is not None and as_tensor(weight).ndim != 1:
            raise ValueError("weight must be one-dimensional")
        self.register_buffer("weight", None if weight is None else as_tensor(weight))
        self.p = p
        self.margin = margin

    def forward(self, input: Any, target: Any) -> Tensor:
        return L.multi_margin_loss(
            input, target, self.p, self.margin, self.weight, reduction=self.reduction
        )


class MultiLabelMarginLoss(_Loss):
    """The multi-label hinge (``F.multilabel_margin_loss``)."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return L.multilabel_margin_loss(input, target, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """The triplet loss with any distance (``F.triplet_margin_with_distance_loss``); the
    distance is a child module when it is one (PyTorch prints it so)."""

    def __init__(
        self,
        *,
        distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
        margin: float = 1.0,
        swap: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(None, None, reduction)
        if margin <= 0:
            raise ValueError(
                f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got "
                f"{margin} instead"
            )
        if distance_function is None:
            from chainrule.nn.layers_distance import PairwiseDistance  # noqa: PLC0415

            distance_function = PairwiseDistance()
        self.distance_function = distance_function
        self.margin = margin
        self.swap = swap

    def forward(self, anchor: Any, positive: Any, negative: Any) -> Tensor:
        return L.triplet_margin_with_distance_loss(
            anchor,
            positive,
            negative,
            distance_function=self.distance_function,
            margin=self.margin,
            swap=self.swap,
            reduction=self.reduction,
        )
