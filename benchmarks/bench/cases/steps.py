"""The training step the cases time for chainrule's ``nn`` peers: one closure, so
that B2, B5, B6 and B7 time the same four calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.env import cr


def nn_step(model: Any, optimizer: Any, x: Any, target: Any) -> Callable[[], float]:
    """zero_grad, mean cross-entropy of ``model(x)`` against ``target``, backward, step."""

    def step() -> float:
        optimizer.zero_grad()
        loss = cr.nn.functional.cross_entropy(model(x), target)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step
