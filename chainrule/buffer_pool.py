"""Memory for large results, reused once the arrays that held it are gone.

``cr.vmap``'s per-example gradients are hundreds of megabytes written once per
call (274 MB for a 784-512-256-10 MLP at batch 128). Fresh memory from the
operating system costs as much again as writing it: the kernel faults in and
zeroes every page first (measured for 205 MB on the 2-CPU machine of
BENCHMARKS.md: about 50 ms of system time before the first number is written,
against 55 ms of writing). A training loop that takes per-example gradients at
every step frees the last step's before asking for the next step's of the same
size, so this module keeps that memory and hands it out again.

An array from :func:`empty` is a view of a pooled buffer through a small *lease*
object, its ``base``. NumPy keeps the lease alive as long as any view of the array
(a slice, a reshape, ``np.frombuffer``, a memoryview) is alive; only when the last
one is gone does the buffer go back to the pool. So memory is reused only when
nothing can read it any more. At most ``MAX_IDLE_BYTES`` are kept unused
(beyond that, freed buffers are returned to the system as usual); :func:`clear`
returns them all now.
"""

from __future__ import annotations

import os
import threading
import weakref

import numpy as np

#: Results smaller than this come from ``np.empty`` as usual: for them the page
#: faults are a small part of the work and reuse would only hold memory.
MIN_BYTES = 8 << 20

#: At most this many bytes of unused buffers are kept (the rest are freed).
MAX_IDLE_BYTES = 1 << 30

_lock = threading.RLock()  # re-entrant: a lease may die (and give back) inside empty()
_idle: dict[int, list[np.ndarray]] = {}  # free buffers (uint8) by size in bytes
_idle_bytes = [0]


class _Lease:
    """The base of a pooled array: NumPy's views keep it alive, and its death gives
    the buffer back to the pool."""

    __slots__ = ("__array_interface__", "__weakref__")


#: For the arrays a hot primitive makes afresh at every training step (the LSTM
#: loop's gates and their gradients, 7 MB each in B6): from 1 MB. glibc's malloc
#: serves arrays of that size from fresh pages in some processes and not in others,
#: by the history of its thresholds, and on the 2-core machine of BENCHMARKS.md a
#: page fault costs about 3 us: B6's step with cr.jit took 29.5 ms with 3,100
#: faults a step, 19.7 ms with none.
STEP_MIN_BYTES = 1 << 20


def empty(shape: tuple[int, ...], dtype: np.dtype, min_bytes: int | None = None) -> np.ndarray:
    """An uninitialised C-contiguous array, like ``np.empty``, whose memory may be a
    buffer of the same size that an earlier (dead) result held, for arrays of at
    least ``min_bytes`` (:data:`MIN_BYTES` unless given; smaller ones come from
    ``np.empty``). The caller must write every element before the array is seen."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if min_bytes is None:
        min_bytes = MIN_BYTES
    if nbytes < min_bytes or dtype.hasobject or dtype.fields is not None:
        return np.empty(shape, dtype)
    with _lock:
        free = _idle.get(nbytes)
        raw = free.pop() if free else None
        if raw is not None:
            _idle_bytes[0] -= nbytes
    if raw is None:
        raw = np.empty(nbytes, np.uint8)
    lease = _Lease()
    lease.__array_interface__ = {
        "shape": tuple(shape),
        "typestr": dtype.str,
        "data": (raw.ctypes.data, False),
        "version": 3,
    }
    out = np.asarray(lease)
    weakref.finalize(lease, _give_back, raw).atexit = False  # nothing to keep at exit
    return out


def owns(a: np.ndarray) -> bool:
    """Whether ``a`` is an array from :func:`empty` itself (not a view of one): the
    only array that reads its buffer directly, as an array that owns its data is."""
    return type(a.base) is _Lease


def _give_back(raw: np.ndarray) -> None:
    with _lock:
        if _idle_bytes[0] + raw.nbytes > MAX_IDLE_BYTES:
            return  # freed when the last reference (this call's) goes
        _idle.setdefault(raw.nbytes, []).append(raw)
        _idle_bytes[0] += raw.nbytes


def _after_fork_in_child() -> None:
    # A thread of the parent may have held the lock at the fork: the child's copy
    # would stay locked. The child starts with a lock of its own (buffers kept).
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def idle_bytes() -> int:
    """How many bytes of unused buffers the pool holds now."""
    return _idle_bytes[0]


def clear() -> None:
    """Free every unused buffer now (the arrays still in use are not affected)."""
    with _lock:
        _idle.clear()
        _idle_bytes[0] = 0
