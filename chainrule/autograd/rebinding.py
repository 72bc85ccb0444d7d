"""Whether ``t -= x`` on a recorded tensor rebinds the name (HIPS autograd's meaning)
or changes the tensor in place (PyTorch's).

In HIPS autograd a traced value is a box without in-place operators, so Python
runs ``t -= x`` as ``t = t - x``: a new value, bound to ``t`` only; the array ``t``
was computed from, and any other name for it, keep their values. Its users write
NumPy code with that meaning (HIPS's fluid simulation subtracts in place from a
reshaped array). PyTorch's ``t -= x`` changes the tensor itself, which chainrule
refuses where the gradient could not follow (a view, a leaf).

The function transforms (``cr.grad`` and the rest) called with NumPy arrays and
numbers, as HIPS autograd is called, set this flag while they run the function
(and transforms nested in them keep it), so an augmented assignment that is
recorded follows autograd; called with Tensors, PyTorch's rules stay. Outside a
recorded operation (``no_grad``, values that require no grad) both mean the same
write into the array, which NumPy does too.

The two meanings differ only where the old value is read again after the
assignment, through another name for the same tensor or through memory it shares
(NumPy would see the change there, autograd would not). Until the transform's
function returns, every operation first checks its arguments against what was
rebound, and such a read raises :class:`RebindingError` in one line; so do
results that are such a value. The check is installed only while something has
been rebound, so other code pays nothing for it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

import numpy as np

from chainrule.tensor import Tensor, set_read_guard

_REBINDS: ContextVar[bool] = ContextVar("chainrule_inplace_rebinds", default=False)

#: ``rebinds()``: True while a transform called with NumPy inputs runs its function.
rebinds: Callable[[], bool] = _REBINDS.get

#: Set and reset by the function transforms (``token = set_rebinds(True)``).
set_rebinds = _REBINDS.set
reset_rebinds = _REBINDS.reset


# ------------------------------------------------------------ reads of old values
# Rebinding gives autograd's meaning; NumPy's differs exactly when the old value is
# read again after ``t -= x``: through another name for the same tensor
# (``b = t`` before), or through a tensor sharing its memory (a view of it, or the
# array it views). Those reads are refused in one line, so no program gets
# autograd's number where NumPy would give another. Each transform call that
# rebinds keeps its own record (it starts from the enclosing call's), dropped when
# the function returns: the backward pass that follows reads saved old values by
# design.


class _Rebound:
    """What one transform call rebound: tensors by identity, memory by root array."""

    __slots__ = ("tensors", "roots", "counted")

    def __init__(self, outer: _Rebound | None) -> None:
        self.counted = False  # True for the record that installed the read guard
        # id -> (weak reference, the assignment that replaced it); an entry goes when
        # its object does (ids get reused).
        self.tensors: dict[int, Any] = {}
        # id(root array) -> (weak reference to it, [(a view of it, or None for all
        # of it; the assignment that replaced it)])
        self.roots: dict[int, tuple[Any, list]] = {}
        if outer is not None:
            for ref, what in outer.tensors.values():
                t = ref()
                if t is not None:
                    self.tensors[id(t)] = (_remember(self.tensors, t), what)
            for ref, regions in outer.roots.values():
                root = ref()
                if root is not None:
                    self.roots[id(root)] = (_remember(self.roots, root), list(regions))

    def add(self, old: Any, what: str) -> None:
        self.tensors[id(old)] = (_remember(self.tensors, old), what)
        data = old._data
        if type(data) is not np.ndarray:
            return  # a scalar-held value: only the tensor itself can be read again
        root = _root(data)
        entry = self.roots.get(id(root))
        if entry is None:
            entry = self.roots[id(root)] = (_remember(self.roots, root), [])
        # A view is kept itself (and with it its root, until the call returns); a
        # whole array only weakly.
        entry[1].append((None if data is root else data, what))

    def refusal(self, t: Any, reader: str) -> str | None:
        """Why reading ``t`` now would differ from NumPy's meaning, else None."""
        named = self.tensors.get(id(t))
        if named is not None:
            return _message(reader, "this value is another name for it (b = t before)", named[1])
        if not self.roots:
            return None
        data = t._data
        if type(data) is not np.ndarray:
            return None
        entry = self.roots.get(id(_root(data)))
        if entry is None:
            return None
        for region, what in entry[1]:
            if region is None or _overlap(data, region):
                return _message(reader, "this value shares its memory (a view or its base)", what)
        return None


def _remember(table: dict, obj: Any) -> Any:
    """A weak reference to ``obj``, stored under its id in ``table`` until it dies."""
    key = id(obj)
    ref = table[key] = weakref.ref(obj, lambda _: table.pop(key, None))
    return ref


def _root(data: np.ndarray) -> np.ndarray:
    while isinstance(data.base, np.ndarray):
        data = data.base
    return data


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    try:
        return bool(np.shares_memory(a, b, max_work=10_000))
    except np.exceptions.TooHardError:
        return True  # cannot tell cheaply: refuse rather than guess


def _message(reader: str, how: str, what: str) -> str:
    return (
        f"{reader}: reads a value that `{what}` replaced, and {how}; in this transform, "
        "called with NumPy arrays, chainrule follows HIPS autograd and makes the "
        "augmented assignment a new value (t = t - x), where NumPy would change the "
        "array in place, so the two would give different numbers here; write the new "
        "value under its own name (u = t - x) and read the one you mean"
    )


_REBOUND: ContextVar[_Rebound | None] = ContextVar("chainrule_rebound", default=None)
_guard_lock = threading.Lock()
_guards = [0]  # transform calls, in any thread, that have rebound something


def _refuse_reads(values: Any, reader: str) -> None:
    rebound = _REBOUND.get()
    if rebound is not None:
        for a in values:
            if isinstance(a, Tensor):
                reason = rebound.refusal(a, reader)
                if reason is not None:
                    raise RebindingError(reason)


def _guard(prim: Any, args: tuple, params: Any) -> Any:
    _refuse_reads(args, prim.name)
    return NotImplemented


class RebindingError(RuntimeError):
    """A value replaced by ``t -= x`` (autograd's meaning) is read again, where
    NumPy's meaning would give another number."""


def open_call() -> Token:
    """Start a transform call's record of rebound values (a copy of the enclosing
    call's, else none until the first rebinding); returns the token for
    :func:`close_call`."""
    outer = _REBOUND.get()
    return _REBOUND.set(None if outer is None else _Rebound(outer))


def close_call(token: Token) -> None:
    """End the record :func:`open_call` started: the function has returned."""
    rebound = _REBOUND.get()
    _REBOUND.reset(token)
    if rebound is not None and rebound.counted:
        with _guard_lock:
            _guards[0] -= 1
            if not _guards[0]:
                set_read_guard(None)


def check_results(leaves: Any) -> None:
    """Refuse a function result that is a value rebound in this call (``b = t;
    t -= x; return b``): the number returned would be autograd's, not NumPy's."""
    _refuse_reads(leaves, "the function's result")


def record(old: Any, what: str) -> None:
    """``old`` was rebound by ``what`` in the running transform call: reads of it, or
    of memory it shares, are refused until the call returns."""
    rebound = _REBOUND.get()
    if rebound is None:
        rebound = _Rebound(None)
        rebound.counted = True
        _REBOUND.set(rebound)
        with _guard_lock:
            _guards[0] += 1
            set_read_guard(_guard)
    rebound.add(old, what)
