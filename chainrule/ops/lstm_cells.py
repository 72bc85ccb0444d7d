"""The LSTM cell's float32 elementwise work by compiled loops, where numba is
installed (``pip install "chainrule[kernels]"``): what :mod:`chainrule.ops.recurrent`
runs each step in place of its NumPy calls.

Per step the GEMM stays with the GEMM backend (:mod:`chainrule.gemm_backend`); the
gates' activations, the new cell state and tanh(c_t) forward, and the gates'
gradients backward, are one loop each (:mod:`chainrule.ops._lstm_cells_numba`,
where the float32 tanh and its accuracy are described: within 6 units in the last
place). Measured on the 2-core AMD EPYC of BENCHMARKS.md, one thread, B6's layer
(28 steps, batch 128, 128 units), forward and backward from arrays: 31 ms with
NumPy's calls, 22.6 ms with these loops.

Only float32 runs here. float64 keeps NumPy's calls, whose tanh is correctly
rounded to within an ulp or so: finite-difference checks are made in float64, and a
rational tanh accurate to 1e-8 would show in them. Without numba, or with
``CHAINRULE_LSTM_CELLS=numpy`` in the environment, or after :func:`use_numba`
(False), every dtype takes NumPy's calls; the results then differ from these in
the last bits (float32 rounding), no more.

The loops are compiled on first use (about two seconds, then cached on disk next to
the module by numba). Should numba be installed but fail to import or compile, the
NumPy calls are used, with one warning that says why.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType

import numpy as np

__all__ = ["cells_for", "use_numba", "numba_in_use"]

_ENV = "CHAINRULE_LSTM_CELLS"

#: None: not tried yet; False: not available (or switched off); else the module.
_kernels: ModuleType | bool | None = None
_wanted = os.environ.get(_ENV, "numba").strip().lower() != "numpy"


def use_numba(enabled: bool = True) -> None:
    """Run the float32 LSTM cell by the compiled loops (True, the default where
    numba is installed) or by NumPy's calls (False), from the next step on."""
    global _wanted
    _wanted = bool(enabled)


def numba_in_use() -> bool:
    """Whether a float32 LSTM step now runs the compiled loops (compiling them,
    the first time, to find out)."""
    return cells_for(np.dtype(np.float32)) is not None


def cells_for(dtype: np.dtype) -> ModuleType | None:
    """The module whose ``cell_forward``/``cell_backward`` serve arrays of
    ``dtype``, or None where NumPy's calls must do it."""
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
        return False  # not installed: the NumPy path, as documented
    try:
        from chainrule.ops import _lstm_cells_numba as kernels

        _warm_up(kernels)
    except Exception as exc:  # a numba that cannot import or compile here
        warnings.warn(
            f"chainrule: the compiled LSTM cells are off ({type(exc).__name__}: {exc}); "
            "float32 LSTMs use NumPy's calls",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    return kernels


def _warm_up(kernels: ModuleType) -> None:
    """Compile both loops on tiny arrays now, so that a failure shows here."""
    a = np.zeros((4, 1), np.float32)
    one = np.zeros((1, 1), np.float32)
    kernels.cell_forward(a, a.copy(), one, one.copy(), one.copy(), one.copy())
    kernels.cell_backward(a, one, one, one.copy(), one.copy(), False, one, one, a.copy())
