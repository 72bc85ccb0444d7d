"""A time budget for the symbolic step: SymPy runs in a worker process that is killed.

SymPy is pure Python, but it calls into big-integer arithmetic that never returns
to the interpreter (``x^x^x^x`` at 9 asks for 9^(9^(9^9)) exactly), so neither a
thread that checks a clock nor a signal handler can stop it: only ending the
process does. On Linux the worker is forked, which measured 5-9 ms a call with
NumPy and SymPy already imported; elsewhere it is spawned (a fresh interpreter
that imports chainrule and SymPy, about a second).

The budget is, in order: the ``symbolic_timeout`` given to :func:`cr.explain`
(``--symbolic-timeout`` on the command line), the environment variable
``CHAINRULE_SYMBOLIC_TIMEOUT``, or :data:`DEFAULT_TIMEOUT`. ``inf`` runs SymPy in
this process with no bound (no worker, nothing to fork).
"""

from __future__ import annotations

import inspect
import math
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from chainrule.explain.errors import ExplainError

#: seconds. The slowest graph of our tests (the seed at order 3, 17 nodes) takes
#: about 0.6 s cold; five seconds leave room for a slower machine.
DEFAULT_TIMEOUT = 5.0
ENV_VAR = "CHAINRULE_SYMBOLIC_TIMEOUT"


def resolve_timeout(value: float | str | None = None, source: str = "symbolic_timeout") -> float:
    """The budget in seconds: ``value``, else the environment variable, else the default.
    ``source`` names ``value`` in the error message."""
    if value is None:
        value = os.environ.get(ENV_VAR) or None
        source = ENV_VAR
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ExplainError(f"{source} must be a number of seconds, got {value!r}") from None
    if not seconds > 0:  # also refuses nan
        raise ExplainError(f"{source} must be more than 0 seconds (inf: no limit), got {value!r}")
    return seconds


def _context() -> Any:
    # fork copies the warm interpreter (milliseconds); macOS and Windows default to
    # spawn because forking their system frameworks is unsafe, so they keep it.
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _child(fn: Callable[[Any], Any], arg: Any, conn: Any) -> None:
    try:
        result = fn(arg)
        if inspect.isgenerator(result):
            # each yield is a usable answer so far; the last one is the whole answer
            last = None
            for last in result:
                conn.send(("partial", last))
            result = last
        message = ("ok", result)
    except BaseException as exc:  # the parent reports it; the worker must not die silent
        message = ("failed", f"{type(exc).__name__}: {exc}".rstrip(": "))
    try:
        conn.send(message)
    finally:
        conn.close()


def call_with_timeout(fn: Callable[[Any], Any], arg: Any, timeout: float) -> tuple[str, Any]:
    """``fn(arg)`` within ``timeout`` seconds: ("ok", result), ("timeout", the last
    partial result or None) or ("failed", one line).

    ``fn`` may be a generator function: each value it yields is an answer so far
    (SymPy's derivatives come in a fraction of a second, their simplification can
    take seconds), and a timeout returns the last one. ``fn`` must be a
    module-level function and ``arg`` and the results picklable (a spawned worker
    receives them by pickle).
    """
    if math.isinf(timeout):
        result = fn(arg)
        if inspect.isgenerator(result):
            *_, result = result  # the last answer is the whole answer
        return "ok", result
    ctx = _context()
    receive, send = ctx.Pipe(duplex=False)
    try:
        worker = ctx.Process(target=_child, args=(fn, arg, send), name="chainrule-sympy")
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a process with threads may deadlock the
            # child; here a deadlocked worker is only a slow one, and the budget kills it
            warnings.filterwarnings("ignore", ".*fork.*", DeprecationWarning)
            worker.start()
    except (OSError, RuntimeError, AssertionError, ValueError) as exc:
        receive.close()
        send.close()
        return "failed", f"could not start a worker process ({exc})"
    send.close()  # the worker holds the only writer: EOF means it died
    deadline = time.monotonic() + timeout
    partial = None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not receive.poll(left):
                return "timeout", partial
            try:
                status, payload = receive.recv()
            except (EOFError, OSError):
                return "failed", "the worker process stopped without an answer"
            if status != "partial":
                return status, payload
            partial = payload
    finally:
        if worker.is_alive():
            worker.kill()
        worker.join()
        receive.close()
