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


def _switched(
    get: Callable[[], str], use: Callable[[str], None], backend: str, step: Callable[[], float]
) -> Callable[[], float]:
    """``step`` with a chainrule backend switched to ``backend`` (``use``) while it
    runs, and set back after, since the peers of a case take turns."""

    def run() -> float:
        before = get()
        use(backend)
        try:
            return step()
        finally:
            use(before)

    return run


def _require(get: Callable[[], str], use: Callable[[str], None], backend: str) -> None:
    """Raise the benchmark's Skip when ``backend`` cannot be loaded here."""
    from bench.report import Skip

    before = get()
    try:
        use(backend)
    except ImportError as exc:
        raise Skip(str(exc)) from None
    use(before)


def gemm_backend_step(backend: str, step: Callable[[], float]) -> Callable[[], float]:
    """``step`` with chainrule's GEMM backend set to ``backend`` (cr.set_gemm_backend)."""
    return _switched(cr.get_gemm_backend, cr.set_gemm_backend, backend, step)


def require_gemm_backend(backend: str) -> None:
    """Raise the benchmark's Skip when the GEMM ``backend`` cannot be loaded here."""
    _require(cr.get_gemm_backend, cr.set_gemm_backend, backend)


def conv_backend_step(backend: str, step: Callable[[], float]) -> Callable[[], float]:
    """``step`` with chainrule's convolution backend set to ``backend`` (cr.set_conv_backend)."""
    return _switched(cr.get_conv_backend, cr.set_conv_backend, backend, step)


def require_conv_backend(backend: str) -> None:
    """Raise the benchmark's Skip when the convolution ``backend`` cannot be loaded here."""
    _require(cr.get_conv_backend, cr.set_conv_backend, backend)
