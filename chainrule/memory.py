"""Freed memory kept by the C allocator for the next training step:
:func:`keep_freed_memory`.

A training step allocates and frees the same activations and gradients at every
step. glibc's malloc hands large blocks back to the operating system: an array
above its mmap threshold (128 KB at first, raised as such arrays are freed, up to
32 MB) is unmapped when freed, and the top of its heap is trimmed whenever more
than twice that threshold lies free there. The next step's arrays then come from
fresh pages, which the kernel faults in and zeroes one by one. Measured on B7's nn
step (the eager ViT of ``chainrule train --model vit``, batch 128, one process
on the 2-core AMD EPYC of BENCHMARKS.md, oneDNN backend): 5,157 minor page faults
and 16 ms of system time per step, 50.9 ms a step; with both thresholds fixed
(arrays up to 32 MB from the heap, up to 256 MB of free heap kept), 7 faults,
0.6 ms and 39.1 ms. PyTorch's eager step in the same setting faulted 2,322 times a
step. (:mod:`chainrule.buffer_pool` reuses results of 8 MB and more itself; this
covers everything else.)

The setting is process-wide and lasts until the process ends: ``chainrule train``
makes it; a program of one's own opts in with ``cr.keep_freed_memory()``. The cost
is memory: up to ``keep_bytes`` of freed heap stays with the process instead of
going back to the system. It is glibc's ``mallopt``; with another C library
(musl, macOS, Windows) it does nothing and returns False.
"""

from __future__ import annotations

import ctypes
import platform

__all__ = ["keep_freed_memory"]

# glibc's <malloc.h>: the parameters of mallopt.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: glibc's own ceiling for its mmap threshold on 64-bit systems (32 MB).
_MMAP_THRESHOLD_MAX = 32 << 20


def _mallopt():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        fn = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return fn


def keep_freed_memory(
    max_array_bytes: int = _MMAP_THRESHOLD_MAX, keep_bytes: int = 256 << 20
) -> bool:
    """Let glibc's malloc keep freed memory for reuse (see the module doc): arrays
    up to ``max_array_bytes`` come from its heap rather than from pages mapped for
    each, and up to ``keep_bytes`` of free heap is kept rather than returned to the
    system. Returns True when set, False where the C library is not glibc.

    >>> import chainrule as cr
    >>> cr.keep_freed_memory() in (True, False)
    True
    """
    for name, value in (("max_array_bytes", max_array_bytes), ("keep_bytes", keep_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
            raise ValueError(
                f"keep_freed_memory: {name} must be a whole number of bytes in [1, 2**31), "
                f"got {value!r}"
            )
    if max_array_bytes > _MMAP_THRESHOLD_MAX:
        raise ValueError(
            f"keep_freed_memory: max_array_bytes is at most {_MMAP_THRESHOLD_MAX} (32 MB, "
            f"glibc's ceiling for it), got {max_array_bytes}"
        )
    mallopt = _mallopt()
    if mallopt is None:
        return False
    # Both set explicitly: glibc then stops adjusting either on its own.
    return bool(mallopt(_M_MMAP_THRESHOLD, max_array_bytes)) and bool(
        mallopt(_M_TRIM_THRESHOLD, keep_bytes)
    )
