"""Intra-op threads: a large ufunc computed by several threads over slices of its result.

NumPy runs a ufunc on one thread. For most of chainrule's operations that is right
(they are small, or BLAS already uses its own threads), but a few write hundreds of
megabytes with little arithmetic: the per-example weight gradients of ``cr.vmap``,
outer products of a batch, are 128 x 512 x 784 float32 numbers (205 MB) for one
layer of an MNIST MLP. Writing them is bound by memory traffic and by the kernel
zeroing fresh pages, both of which one core does at a fraction of the machine's
bandwidth (measured on a 2-core guest: 70 ms on one thread, 44 ms on two). NumPy
releases the GIL inside ufunc loops, so plain Python threads run the slices in
parallel.

``set_num_threads``/``get_num_threads`` are PyTorch's names for the same setting
(its intra-op thread count). The default is the number of CPUs this process may
run on, or ``OMP_NUM_THREADS`` when it is set, as PyTorch does.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from chainrule import buffer_pool

if TYPE_CHECKING:  # concurrent.futures costs ~12 ms to import: loaded on first use
    from concurrent.futures import ThreadPoolExecutor

#: Results smaller than this are computed on the calling thread: below it the
#: hand-off to a worker (tens of microseconds) is a noticeable part of the work.
PARALLEL_MIN_BYTES = 8 << 20

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _default_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


_threads = _default_threads()


def get_num_threads() -> int:
    """How many threads chainrule's own parallel operations use (PyTorch's name)."""
    return _threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for chainrule's own parallel operations (1: never split).

    It does not change BLAS's threads (``OPENBLAS_NUM_THREADS`` sets those).

    >>> import chainrule as cr
    >>> before = cr.get_num_threads()
    >>> cr.set_num_threads(1); cr.get_num_threads()
    1
    >>> cr.set_num_threads(before)
    """
    global _threads, _pool
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    with _lock:
        _threads = int(n)
        old, _pool = _pool, None
    if old is not None:
        old.shutdown(wait=False)


def _forget_pool() -> None:
    # A forked child (a DataLoader worker) inherits the pool object but not its
    # threads: work submitted to it would wait forever. It starts its own.
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _workers() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_threads - 1, thread_name_prefix="chainrule")
        return _pool


def split_ufunc(ufunc: np.ufunc, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``ufunc(a, b)`` for two arrays, split over the leading axis of the result
    among ``get_num_threads()`` threads when the result is large.

    The result is a new C-contiguous array, equal to ``ufunc(a, b)`` bit for bit
    (each element is computed once, by the same loop). An operand that broadcasts
    along the leading axis is given whole to every slice.
    """
    shape = np.broadcast_shapes(a.shape, b.shape)
    dtype = np.result_type(a, b)
    if not _worth_splitting(shape, dtype):
        return ufunc(a, b)
    rows = shape[0]

    def rows_of(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
        # Operands of lower rank or with a leading 1 broadcast: every slice reads them whole.
        return x[lo:hi] if x.ndim == len(shape) and x.shape[0] == rows else x

    def write(lo: int, hi: int, out: np.ndarray) -> None:
        ufunc(rows_of(a, lo, hi), rows_of(b, lo, hi), out=out)

    return split_rows(shape, dtype, write)


def _worth_splitting(shape: tuple[int, ...], dtype: np.dtype) -> bool:
    return (
        _threads > 1
        and len(shape) > 0
        and shape[0] > 1
        and int(np.prod(shape)) * dtype.itemsize >= PARALLEL_MIN_BYTES
    )


def split_rows(
    shape: tuple[int, ...], dtype: np.dtype, write: Callable[[int, int, np.ndarray], None]
) -> np.ndarray:
    """A C-contiguous array of ``shape`` whose rows ``lo:hi`` (along the leading
    axis) are filled by ``write(lo, hi, out[lo:hi])``, among ``get_num_threads()``
    threads when the array is large (else in one call on this thread).

    ``write`` must fill every element of its slice, and release the GIL while it
    does (a NumPy ufunc or ``np.einsum`` with ``out=``), or the threads take turns.
    A large array's memory may be reused from a dead one (``chainrule.buffer_pool``),
    so what ``write`` does not fill holds old numbers.
    """
    out = buffer_pool.empty(shape, dtype)
    if not _worth_splitting(shape, dtype):
        write(0, shape[0] if shape else 0, out)
        return out
    rows = shape[0]
    n = _threads
    # Small chunks taken in turn (not one half per thread): on a busy machine a
    # thread that is descheduled leaves its chunks to the others.
    step = max(1, rows // (4 * n))
    starts = itertools.count(0, step)  # next() is atomic under the GIL

    def work() -> None:
        for lo in starts:
            if lo >= rows:
                return
            hi = min(lo + step, rows)
            write(lo, hi, out[lo:hi])

    pool = _workers()
    futures = [pool.submit(work) for _ in range(n - 1)]
    work()
    for f in futures:
        f.result()
    return out
