"""Stochastic gradient descent, with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.optim.optimizer import Optimizer, grads_of


class SGD(Optimizer):
    """PyTorch's SGD. For each parameter p with gradient g, at step t:

    g = g + weight_decay * p
    b = g                                    (t = 1)
    b = momentum * b + (1 - dampening) * g   (t > 1)
    g = g + momentum * b   if nesterov else   g = b      (when momentum != 0)
    p = p - lr * g

    >>> import chainrule as cr
    >>> w = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    >>> opt = cr.optim.SGD([w], lr=0.1)
    >>> (w ** 2).sum().backward()  # gradient 2w
    >>> opt.step()  # w - 0.1 * 2w
    >>> w
    Parameter containing:
    tensor([0.8, 1.6], requires_grad=True)
    """

    takes_complex = True  # linear in the gradient: p -= lr * grad descends (PyTorch's .grad)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        if momentum < 0:
            raise ValueError(f"invalid momentum value: {momentum}")
        if weight_decay < 0:
            raise ValueError(f"invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, mu, damp = group["lr"], group["momentum"], group["dampening"]
        wd, nesterov = group["weight_decay"], group["nesterov"]
        for p, g in grads_of(group, group["maximize"]):
            if wd:
                g = g + wd * p.data
            if mu:
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = np.array(g, dtype=p.dtype, copy=True)
                else:
                    buf *= mu
                    buf += g if damp == 0 else (1 - damp) * g
                g = g + mu * buf if nesterov else buf
            p.data -= lr * g
