"""Anomaly detection: find the operation where an inf or a NaN is born.

``with cr.autograd.detect_anomaly(): ...`` (or ``@cr.autograd.detect_anomaly()``,
or ``cr.autograd.set_detect_anomaly(True)``) makes every recorded operation keep
the line of the user's code that created it, and raises :class:`AnomalyError`
at the first operation whose forward value is not finite though its inputs were,
and at the first backward rule whose gradient is not finite though the gradient
reaching it was. The message names the primitive, the line, the local derivative
(formula and value), the upstream gradient and their product.

A forward value that is legitimately infinite (``log(0) = -inf``) raises too: in
a computation to be differentiated it is almost always where the trouble starts.
(PyTorch only looks at backward values.)

Cost: nothing while no thread has the mode on. Turning it on anywhere swaps the
node factory (:func:`chainrule.autograd.node.new_node`, as imported by the
modules that create nodes) and the backward loop for checking versions (see
:mod:`chainrule.autograd.anomaly_checks`), which do the plain work in threads
where the mode is off; the plain ones come back when the last user turns it off.
The hot path keeps no flag of its own to test.

The mode belongs to the thread (and asyncio task), like the grad mode.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_ANOMALY: ContextVar[bool] = ContextVar("chainrule_detect_anomaly", default=False)

#: How many contexts (threads, tasks) have the mode on; the checking functions are
#: installed while it is above zero. A thread that ends with the mode on leaves its
#: count behind: the checks then stay installed (slower, never wrong).
_users = 0
_users_lock = threading.Lock()

#: Modules whose global ``new_node`` is swapped (those loaded at the time; node's
#: own is swapped too, so that a module imported later takes the current one).
_NODE_USERS = ("chainrule.autograd.node", "chainrule.tensor", "chainrule.autograd.function")


class AnomalyError(RuntimeError):
    """An inf or NaN appeared where the inputs were finite (under anomaly detection)."""


def is_anomaly_enabled() -> bool:
    """True when anomaly detection is on in this thread."""
    return _ANOMALY.get()


def _count(delta: int) -> None:
    global _users
    if not delta:
        return
    with _users_lock:
        before = _users
        _users = max(0, before + delta)
        if (before == 0) != (_users == 0):
            _install(_users > 0)


def _install(on: bool) -> None:
    from chainrule.autograd import anomaly_checks as checks
    from chainrule.autograd import engine

    if on and checks.plain_new_node is None:
        checks.plain_new_node = sys.modules["chainrule.autograd.node"].new_node
        checks.plain_propagate = engine._propagate
    factory = checks.new_node_checked if on else checks.plain_new_node
    for name in _NODE_USERS:
        module = sys.modules.get(name)
        if module is not None:
            module.new_node = factory
    engine._propagate = checks.propagate_checked if on else checks.plain_propagate


def _set(mode: bool) -> tuple[Token, bool]:
    previous = _ANOMALY.get()
    token = _ANOMALY.set(mode)
    _count(int(mode) - int(previous))
    return token, previous


def _restore(token: Token, previous: bool) -> None:
    current = _ANOMALY.get()
    try:
        _ANOMALY.reset(token)
    except ValueError:
        # Entered in another context (a generator resumed elsewhere): set it back.
        _ANOMALY.set(previous)
    _count(int(previous) - int(current))


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """Turn anomaly detection on (or off, ``detect_anomaly(False)``) for a block or a
    function: ``with cr.autograd.detect_anomaly(): loss.backward()``.

    ``check_nan`` is accepted for PyTorch's signature and must be True.

    >>> import chainrule as cr
    >>> x = cr.tensor([0.0], requires_grad=True)
    >>> with cr.autograd.detect_anomaly():  # doctest: +ELLIPSIS
    ...     (x * cr.log(x)).sum().backward()
    Traceback (most recent call last):
        ...
    chainrule.autograd.anomaly.AnomalyError: log at ...: the forward value is -inf ...
    ...
    """

    def __init__(self, mode: Any = True, check_nan: bool = True) -> None:
        if callable(mode):  # a bare decorator: @detect_anomaly
            raise TypeError("use @cr.autograd.detect_anomaly() with parentheses")
        if not check_nan:
            raise ValueError("detect_anomaly(check_nan=False) is not supported")
        self._mode = bool(mode)
        # One object may be entered by several threads at once: each keeps its own
        # stack of what to restore.
        self._saved = threading.local()

    def __enter__(self) -> None:
        self._saved.__dict__.setdefault("stack", []).append(_set(self._mode))

    def __exit__(self, *exc: object) -> None:
        _restore(*self._saved.stack.pop())

    def __call__(self, fn: F) -> F:
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class set_detect_anomaly:  # noqa: N801 - PyTorch's name
    """Set this thread's anomaly detection now; used with ``with``, restore the
    previous setting on exit."""

    def __init__(self, mode: bool) -> None:
        self._token, self._previous = _set(bool(mode))

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _restore(self._token, self._previous)
