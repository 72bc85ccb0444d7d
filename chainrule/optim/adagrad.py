"""Adagrad."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.optim.optimizer import Optimizer, grads_of


class Adagrad(Optimizer):
    """PyTorch's Adagrad. For each parameter p with gradient g, at step t:

    g = g + weight_decay * p
    clr = lr / (1 + (t - 1) * lr_decay)
    s = s + g^2                       (s starts at initial_accumulator_value)
    p = p - clr * g / (sqrt(s) + eps)
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        maximize: bool = False,
    ) -> None:
        for name, value in (
            ("lr_decay", lr_decay),
            ("weight_decay", weight_decay),
            ("initial_accumulator_value", initial_accumulator_value),
            ("epsilon", eps),
        ):
            if value < 0:
                raise ValueError(f"invalid {name} value: {value}")
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def add_param_group(self, group: dict[str, Any]) -> None:
        # PyTorch creates the accumulators with the group, not at the first step, so a
        # state dict taken before any step already holds them.
        super().add_param_group(group)
        self._init_state(self.param_groups[-1])

    def _init_state(self, group: dict[str, Any]) -> None:
        for p in group["params"]:
            if not self.state.get(p):
                value = group["initial_accumulator_value"]
                self.state[p] = {"step": 0, "sum": np.full_like(p.data, value)}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, decay, wd, eps = group["lr"], group["lr_decay"], group["weight_decay"], group["eps"]
        for p, g in grads_of(group, group["maximize"]):
            state = self.state[p]
            t = state["step"] = state["step"] + 1
            if wd:
                g = g + wd * p.data
            clr = lr / (1 + (t - 1) * decay)
            s = state["sum"]
            s += g * g
            std = np.sqrt(s)
            std += eps
            p.data -= clr * g / std
