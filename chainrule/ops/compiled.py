"""Compiled float32 kernels for the hot elementwise work, where numba is installed
(``pip install "chainrule[kernels]"``; the ``train`` extra brings it too).

Which primitives use them, on float32 arrays, in place of their NumPy calls:

- ``lstm_fused`` (behind a float32 ``nn.LSTM``): the whole layer's loop from its
  raw input (:mod:`chainrule.ops.recurrent_fused_loop`), each step's gates and
  cell forward, the gates' gradients backward (:mod:`chainrule.ops._numba_lstm`);
- ``lstm_layer`` (an LSTM with ``proj_size``, ``LSTMCell``): each step's gates,
  cell state and tanh(c_t) forward, the gates' gradients backward, one loop each;
  the GEMMs stay with the GEMM backend.
- ``layer_norm_affine`` (``nn.LayerNorm``): each row's statistics and affine map,
  and its three gradients (:mod:`chainrule.ops._numba_norm`).
- ``softmax`` and ``safe_softmax`` along the last axis, and the softmax's rule
  (:mod:`chainrule.ops._numba_softmax`).
- ``conv2d`` and its two gradients (stride 1, dilation 1, one group): the window
  copies and the input gradient's col2im (:mod:`chainrule.ops._numba_conv`); the
  GEMMs stay with the GEMM backend.
- ``max_pool2d`` with 2x2 windows and stride 2, and its gradient
  (:mod:`chainrule.ops._numba_pool`).

docs/reference/compiled-kernels.md has the measurements.

Their tanh and exp are our own vectorisable float32 functions
(:mod:`chainrule.ops._numba_math`: within 6 and 1 units in the last place).

Only float32 runs here. float64 keeps NumPy's calls, whose functions are
correctly rounded to within an ulp or so: finite-difference checks are made in
float64, and a rational tanh accurate to 1e-8 would show in them. Recorded
backward passes (``create_graph``) and forward mode take the forward values from
the kernels but write their derivatives with recorded operations. Without numba, with
``CHAINRULE_KERNELS=numpy`` in the environment, or after :func:`use_numba`
(False), every dtype takes NumPy's calls; the results then differ from these in
float32's last bits, no more.

The kernels are compiled on first use (about two seconds, then cached on disk next
to the modules by numba; loading them from there takes about 0.6 s and 120 MB of
memory, LLVM's). Should numba be installed but fail to import or compile, NumPy's
calls are used, with one warning that says why.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType

import numpy as np

__all__ = ["kernels_for", "kernels_for_arrays", "use_numba", "numba_in_use", "MIN_SIZE"]

_ENV = "CHAINRULE_KERNELS"

#: None: not tried yet; False: not available; else the kernels' namespace.
_kernels: ModuleType | bool | None = None
_wanted = os.environ.get(_ENV, "numba").strip().lower() != "numpy"


def use_numba(enabled: bool = True) -> None:
    """Run the float32 kernels compiled (True, the default where numba is installed)
    or by NumPy's calls (False), from the next call on."""
    global _wanted
    _wanted = bool(enabled)


def numba_in_use() -> bool:
    """Whether float32 work now runs the compiled kernels (compiling them, the first
    time, to find out)."""
    return kernels_for(np.dtype(np.float32)) is not None


#: Arrays smaller than this keep NumPy's calls (the LSTM's and layer
#: normalisation's aside): they take microseconds either way, and the first compiled
#: call loads numba (0.6 s, 120 MB), which a small network (a cross-entropy over 128
#: x 10 logits, a tiny image) should not cost.
MIN_SIZE = 1 << 14


def kernels_for_arrays(*arrays: np.ndarray, contiguous: bool = True) -> ModuleType | None:
    """The kernels where they serve these arrays: every one a plain NumPy array of
    the first one's dtype, C-contiguous (unless ``contiguous`` is False: the caller
    copies them), the first of at least :data:`MIN_SIZE` values; else None. The
    shapes are the caller's to check: the loops do no bounds checks."""
    first = arrays[0]
    if type(first) is not np.ndarray or first.size < MIN_SIZE:
        return None
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype != first.dtype:
            return None
        if contiguous and not a.flags.c_contiguous:
            return None
    return kernels_for(first.dtype)


def kernels_for(dtype: np.dtype) -> ModuleType | None:
    """The namespace of compiled kernels that serve arrays of ``dtype``
    (:mod:`chainrule.ops._numba_kernels`), or None where NumPy's calls must do it."""
    if dtype != np.float32 or not _wanted:
        return None
    global _kernels
    if _kernels is None:
        _kernels = _load()
    return _kernels or None


def _load() -> ModuleType | bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False  # not installed: NumPy's calls, as documented
    try:
        from chainrule.ops import _numba_kernels as kernels

        _warm_up(kernels)
    except Exception as exc:  # a numba that cannot import or compile here
        warnings.warn(
            f"chainrule: the compiled kernels are off ({type(exc).__name__}: {exc}); "
            "float32 work uses NumPy's calls",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    return kernels


def _warm_up(kernels: ModuleType) -> None:
    """Compile (or load) every kernel on tiny arrays now, so that a failure shows
    here rather than in the middle of a step."""
    kernels.warm_up()
