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


def gemm_backend_step(backend: str, step: Callable[[], float]) -> Callable[[], float]:
    """``step`` with chainrule's GEMM backend set to ``backend`` (cr.set_gemm_backend)
    while it runs, and set back after, since the peers of a case take turns."""

    def run() -> float:
        before = cr.get_gemm_backend()
        cr.set_gemm_backend(backend)
        try:
            return step()
        finally:
            cr.set_gemm_backend(before)

    return run


def require_gemm_backend(backend: str) -> None:
    """Raise the benchmark's Skip when ``backend`` cannot be loaded here."""
    from bench.report import Skip

    before = cr.get_gemm_backend()
    try:
        cr.set_gemm_backend(backend)
    except ImportError as exc:
        raise Skip(str(exc)) from None
    cr.set_gemm_backend(before)
