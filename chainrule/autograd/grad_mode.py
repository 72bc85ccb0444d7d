"""Grad modes: whether operations record a graph.

The flag is a plain class attribute, read on every operation; a thread-local
would cost a lookup per op for a feature (per-thread modes) nobody here needs yet.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class GradMode:
    """Global switch read by every operation (``GradMode.enabled``)."""

    enabled: bool = True


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad record a graph."""
    return GradMode.enabled


class _ModeSwitch:
    """Context manager and decorator that sets the grad mode and restores it."""

    _mode: bool = True

    def __new__(cls, fn: Any = None) -> Any:
        # Bare decorator (``@cr.no_grad`` without parentheses), as PyTorch allows.
        if fn is not None:
            if not callable(fn):
                raise TypeError(f"{cls.__name__}() takes no arguments, or a function to wrap")
            return cls()(fn)
        return super().__new__(cls)

    def __init__(self, fn: Any = None) -> None:
        self._saved: list[bool] = []

    def __enter__(self) -> None:
        self._saved.append(GradMode.enabled)
        GradMode.enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        GradMode.enabled = self._saved.pop()

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_ModeSwitch):  # noqa: N801 - PyTorch's name
    """Do not record operations: ``with cr.no_grad(): ...``, ``@cr.no_grad()`` or
    ``@cr.no_grad``."""

    _mode = False


class enable_grad(_ModeSwitch):  # noqa: N801 - PyTorch's name
    """Record operations again inside a ``no_grad`` block (context or decorator)."""

    _mode = True


class set_grad_enabled:  # noqa: N801 - PyTorch's name
    """Set the grad mode now; used with ``with``, restore the previous mode on exit.

    ``cr.set_grad_enabled(False)`` switches recording off until switched on again;
    ``with cr.set_grad_enabled(is_training): ...`` switches it for the block only.
    """

    def __init__(self, mode: bool) -> None:
        self._previous = GradMode.enabled
        GradMode.enabled = bool(mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        GradMode.enabled = self._previous
