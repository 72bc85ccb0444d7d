"""Adam and AdamW (Adam with decoupled weight decay)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.optim.optimizer import Optimizer, grads_of


class Adam(Optimizer):
    """PyTorch's Adam. For each parameter p with gradient g, at step t:

    g = g + weight_decay * p                       (L2 penalty, coupled)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g^2
    v_max = max(v_max, v)                          (amsgrad: v_max replaces v below)
    m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
    p = p - lr * m_hat / (sqrt(v_hat) + eps)

    >>> import chainrule as cr
    >>> w = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    >>> opt = cr.optim.Adam([w], lr=0.1)
    >>> (w ** 2).sum().backward()
    >>> opt.step()  # the first step moves each weight by about lr, whatever its gradient's size
    >>> w
    Parameter containing:
    tensor([0.9, 1.9], requires_grad=True)
    """

    _decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        if eps < 0.0:
            raise ValueError(f"invalid epsilon value: {eps}")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"invalid beta parameter at index {i}: {b}")
        if weight_decay < 0:
            raise ValueError(f"invalid weight_decay value: {weight_decay}")
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        wd, amsgrad = group["weight_decay"], group["amsgrad"]
        for p, g in grads_of(group, group["maximize"]):
            w = p.data
            state = self.state.get(p)
            if not state:
                state = self.state[p] = {
                    "step": 0,
                    "exp_avg": np.zeros_like(w),
                    "exp_avg_sq": np.zeros_like(w),
                }
                if amsgrad:
                    state["max_exp_avg_sq"] = np.zeros_like(w)
            t = state["step"] = state["step"] + 1
            if wd:
                if self._decoupled:
                    w *= 1 - lr * wd
                else:
                    g = g + wd * w
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            if amsgrad:
                np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                v = state["max_exp_avg_sq"]
            # m_hat / (sqrt(v_hat) + eps), with the bias corrections folded into scalars.
            denom = np.sqrt(v)
            denom *= 1 / math.sqrt(1 - b2**t)
            denom += eps
            update = m / denom
            update *= lr / (1 - b1**t)
            w -= update


class AdamW(Adam):
    """PyTorch's AdamW: Adam whose weight decay shrinks the weights directly,
    p = p * (1 - lr * weight_decay), before the Adam step (default weight_decay 0.01)."""

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
