"""RMSprop."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.optim.optimizer import Optimizer, grads_of


class RMSprop(Optimizer):
    """PyTorch's RMSprop. For each parameter p with gradient g:

    g = g + weight_decay * p
    v = alpha * v + (1 - alpha) * g^2
    a = alpha * a + (1 - alpha) * g;  v~ = v - a^2      (centered; else v~ = v)
    b = momentum * b + g / (sqrt(v~) + eps);  p = p - lr * b     (momentum > 0)
    p = p - lr * g / (sqrt(v~) + eps)                              (otherwise)
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        maximize: bool = False,
    ) -> None:
        if alpha < 0.0:
            raise ValueError(f"invalid alpha value: {alpha}")
        if momentum < 0 or weight_decay < 0 or eps < 0:
            raise ValueError("momentum, weight_decay and eps must be non-negative")
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        wd, mu, centered = group["weight_decay"], group["momentum"], group["centered"]
        for p, g in grads_of(group, group["maximize"]):
            w = p.data
            state = self.state.get(p)
            if not state:
                state = self.state[p] = {"step": 0, "square_avg": np.zeros_like(w)}
                if mu > 0:
                    state["momentum_buffer"] = np.zeros_like(w)
                if centered:
                    state["grad_avg"] = np.zeros_like(w)
            state["step"] += 1
            if wd:
                g = g + wd * w
            v = state["square_avg"]
            v *= alpha
            v += (1 - alpha) * (g * g)
            if centered:
                a = state["grad_avg"]
                a *= alpha
                a += (1 - alpha) * g
                avg = np.sqrt(v - a * a)
            else:
                avg = np.sqrt(v)
            avg += eps
            if mu > 0:
                buf = state["momentum_buffer"]
                buf *= mu
                buf += g / avg
                w -= lr * buf
            else:
                w -= lr * (g / avg)
