"""Which library computes the matrix products of the hot primitives (the LSTM
recurrence, the convolution): NumPy's ``matmul`` (the default) or Intel MKL.

NumPy's wheels bring OpenBLAS. At the small float32 products of a recurrent step
(a (512, 128) by (128, 128) product, 28 per sequence) MKL, which PyTorch uses, is
1.1 to 1.3 times as fast on one core of our machine, and the LSTM recurrence's
products together 1.2 times (``benchmarks/gemm_libraries.py``,
docs/reference/gemm-backend.md). MKL is not a dependency (its wheels are about
1 GB installed), so it is an opt-in::

    pip install mkl                      # or chainrule[mkl]
    CHAINRULE_GEMM=mkl python train.py   # or cr.set_gemm_backend("mkl")

``matmul(a, b, out=None)`` and ``matmul_steps(a, b, out)`` (one product per step
of a recurrence, planned once) are what the primitives call. With the ``numpy``
backend they are ``np.matmul`` itself (no cost at all), but for a product added
into its result step by step (see :func:`matmul_steps`). With a cblas backend they
call the library's ``cblas_sgemm``/``cblas_dgemm`` through ctypes (which lets go
of the GIL during the call, as NumPy does) when the operands are float32 with
float32 or float64 with float64, matrices or equal-length stacks of them, whose
rows or columns are contiguous (a transposed view is passed as the transposed
flag, no copy), into a writeable result that overlaps neither operand; anything
else (other dtypes, broadcasting stacks, strided views, byte-swapped arrays) goes
to ``np.matmul``, so no layout the call cannot read reaches it.

``openblas`` is a third backend: NumPy's own OpenBLAS through the same direct
calls. It is no faster than ``numpy``; it exists so that the cblas path (flags,
leading dimensions, fallbacks) is tested on every machine, MKL or not.

MKL's threads follow its own settings (``MKL_NUM_THREADS``, ``OMP_NUM_THREADS``,
``MKL_THREADING_LAYER``). It loads next to PyTorch's bundled MKL and NumPy's
OpenBLAS in one process; the tests compare its results with NumPy's.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: The environment variable, read once, when this module loads (chainrule loads it
#: on first use: a convolution, an LSTM, or cr.get/set_gemm_backend).
ENV_VAR = "CHAINRULE_GEMM"
BACKENDS = ("numpy", "mkl", "openblas")

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_c_p = ctypes.c_void_p


class _Cblas:
    """``matmul`` over one library's cblas_sgemm/cblas_dgemm (row-major calls)."""

    __slots__ = ("name", "_gemm", "_int_max")

    def __init__(self, name: str, sgemm, dgemm, int_type) -> None:
        self.name = name
        self._int_max = 2 ** (8 * ctypes.sizeof(int_type) - 1) - 1
        for fn, real in ((sgemm, ctypes.c_float), (dgemm, ctypes.c_double)):
            fn.restype = None
            fn.argtypes = [ctypes.c_int] * 3 + [int_type] * 3 + [
                real, _c_p, int_type, _c_p, int_type, real, _c_p, int_type,
            ]  # fmt: skip
        self._gemm = {_F32: sgemm, _F64: dgemm}

    def matmul(self, a, b, out=None):
        """``np.matmul(a, b, out=out)``, by the library where the operands allow:
        matrices, or stacks of them (3-D, one product per matrix) of one length."""
        if type(a) is not np.ndarray or type(b) is not np.ndarray:
            return np.matmul(a, b, out=out)
        lead = {x.shape[0] for x in (a, b) if x.ndim == 3}
        if {a.ndim, b.ndim} - {2, 3} or len(lead) > 1:
            return np.matmul(a, b, out=out)
        shape = (*lead, a.shape[-2], b.shape[-1])
        if out is None:
            if a.dtype != b.dtype:
                return np.matmul(a, b)
            out = np.empty(shape, a.dtype)
        elif type(out) is not np.ndarray or out.shape != shape:
            return np.matmul(a, b, out=out)
        product = self.steps(a, b, out, False)
        if product is None:
            return np.matmul(a, b, out=out)
        for t in range(shape[0] if lead else 1):
            product(t)
        return out

    def steps(self, a, b, out, accumulate: bool):
        """The cblas version of :func:`numpy_steps`, or None where the operands do
        not allow it. Everything but the step's addresses is worked out here, once:
        a step costs one foreign call."""
        if type(a) is not np.ndarray or type(b) is not np.ndarray or type(out) is not np.ndarray:
            return None
        dtype = out.dtype
        gemm = self._gemm.get(dtype)
        if gemm is None or a.dtype != dtype or b.dtype != dtype:
            return None
        count = {x.shape[0] for x in (a, b, out) if x.ndim == 3}
        if len(count) > 1 or {a.ndim, b.ndim, out.ndim} - {2, 3} or 0 in count:
            return None
        (m, k), (k2, n) = a.shape[-2:], b.shape[-2:]
        if k != k2 or out.shape[-2:] != (m, n) or not (m and n and k):
            return None
        item = dtype.itemsize
        op_a = _operand(a, m, k, item)
        op_b = _operand(b, k, n, item)
        ldc = _result(out, m, n, item)
        if op_a is None or op_b is None or ldc is None:
            return None
        if np.may_share_memory(out, a) or np.may_share_memory(out, b):
            return None
        if max(m, n, k, op_a[1], op_b[1], ldc[0]) > self._int_max:
            return None
        (ta, lda, pa, sa), (tb, ldb, pb, sb), (ldc, pc, sc) = op_a, op_b, ldc
        steps = count.pop() if count else None
        beta = 1.0 if accumulate else 0.0
        keep = (a, b, out)  # the closure holds the arrays whose memory it writes and reads

        def product(t: int) -> None:
            if steps is not None and not 0 <= t < steps:
                raise IndexError(f"step {t} of a product over {steps} steps")
            gemm(
                _ROW_MAJOR, ta, tb, m, n, k,
                1.0, pa + t * sa, lda, pb + t * sb, ldb, beta, pc + t * sc, ldc,
            )  # fmt: skip

        product.keep = keep
        return product


def _operand(x: np.ndarray, rows: int, cols: int, item: int):
    """(transpose flag, leading dimension, address, step stride) of a (rows, cols)
    operand, or of a stack of them (3-D, one per step), whose rows or columns are
    contiguous and aligned; None for any other layout."""
    s0, s1 = x.strides[-2:]
    step = x.strides[0] if x.ndim == 3 else 0
    ptr = x.ctypes.data
    if ptr % item or step % item:
        return None
    if s1 == item or cols == 1:  # row-major: rows s0 apart
        ld = s0 // item if rows > 1 else cols
        if rows == 1 or (s0 % item == 0 and ld >= cols):
            return _NO_TRANS, max(ld, 1), ptr, step
    if s0 == item or rows == 1:  # column-major (a transposed view): columns s1 apart
        ld = s1 // item if cols > 1 else rows
        if cols == 1 or (s1 % item == 0 and ld >= rows):
            return _TRANS, max(ld, 1), ptr, step
    return None


def _result(out: np.ndarray, m: int, n: int, item: int):
    """(row stride in items, address, step stride) of an ``out`` (or a stack of
    them) cblas can write: writeable rows of contiguous entries, a stack's matrices
    apart from each other; None otherwise."""
    if not out.flags.writeable:
        return None
    s0, s1 = out.strides[-2:]
    step = out.strides[0] if out.ndim == 3 else 0
    ptr = out.ctypes.data
    if ptr % item or step % item or (s1 != item and n > 1):
        return None
    ldc = max(n, 1) if m == 1 else s0 // item
    if m > 1 and (s0 % item or ldc < n):
        return None
    if out.ndim == 3 and out.shape[0] > 1 and not _apart(out.shape[0], abs(step), m, n, ldc, item):
        return None  # the steps' results would overlap
    return ldc, ptr, step


def _apart(count: int, step: int, m: int, n: int, ldc: int, item: int) -> bool:
    """Whether ``count`` (m, n) results, rows ``ldc`` items apart, ``step`` bytes
    from one to the next, are disjoint: one after another (each step past the last
    row of the one before), or interleaved row by row (a (m, count, n) array's
    steps: each row's n entries before the next step's, all steps within a row's
    stride)."""
    stacked = step >= m * ldc * item
    interleaved = step >= n * item and count * step <= ldc * item
    return stacked or interleaved


def numpy_steps(a, b, out, accumulate: bool = False) -> Callable[[int], None]:
    """A function of the step ``t`` that computes ``out[t] = a[t] @ b[t]`` (``+=``
    when ``accumulate``), where an operand with two axes is the same matrix at every
    step and one with three axes holds one matrix per step: the products of a
    recurrence, one per step, with other work between them. This one is NumPy's."""
    pick = [(lambda t, x=x: x) if x.ndim == 2 else x.__getitem__ for x in (a, b, out)]
    get_a, get_b, get_out = pick
    if not accumulate:
        return lambda t: np.matmul(get_a(t), get_b(t), out=get_out(t))
    tmp = np.empty(out.shape[-2:], out.dtype)

    def product(t: int) -> None:
        np.matmul(get_a(t), get_b(t), out=tmp)
        o = get_out(t)
        np.add(o, tmp, out=o)

    return product


# ----------------------------------------------------------------- finding libraries
def _load_mkl() -> _Cblas:
    lib = ctypes.CDLL(_mkl_path())
    # 32-bit integers (LP64) unless this process's MKL was already set to 64.
    lib.MKL_Set_Interface_Layer.argtypes = [ctypes.c_int]
    layer = lib.MKL_Set_Interface_Layer(0)
    int_type = ctypes.c_int64 if layer == 1 else ctypes.c_int32
    return _Cblas("mkl", lib.cblas_sgemm, lib.cblas_dgemm, int_type)


def _mkl_path() -> str:
    """libmkl_rt of the ``mkl`` package (pip puts it in the environment's lib/)."""
    from importlib import metadata

    try:
        for f in metadata.files("mkl") or ():
            if f.name.startswith("libmkl_rt.so") or f.name in ("mkl_rt.2.dll", "libmkl_rt.2.dylib"):
                return str(Path(str(f.locate())).resolve())
    except metadata.PackageNotFoundError:
        pass
    for found in sorted(Path(sys.prefix, "lib").glob("libmkl_rt.so*")):
        return str(found)
    raise ImportError(
        f"the 'mkl' GEMM backend needs Intel MKL, which is not installed in {sys.prefix}: "
        "pip install mkl"
    )


@functools.cache
def _openblas_library() -> tuple[ctypes.CDLL, str, str, type]:
    """NumPy's bundled OpenBLAS (its wheels name the symbols scipy_*64_, with 64-bit
    integers): the library, its symbols' prefix and suffix, and its integer type.
    Looked up once: set_conv_backend asks for it at each switch, and the glob and
    the ctypes lookups took about 0.5 ms a time."""
    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for path in sorted(libs.glob("*openblas*")):
        lib = ctypes.CDLL(str(path))
        for prefix, suffix, int_type in (
            ("scipy_", "64_", ctypes.c_int64),
            ("", "64_", ctypes.c_int64),
            ("", "", ctypes.c_int32),
        ):
            if all(hasattr(lib, f"{prefix}cblas_{t}gemm{suffix}") for t in "sd"):
                return lib, prefix, suffix, int_type
    raise ImportError(
        f"the 'openblas' GEMM backend needs the OpenBLAS bundled with NumPy's wheels; "
        f"none found in {libs}"
    )


def _load_openblas() -> _Cblas:
    lib, prefix, suffix, int_type = _openblas_library()
    gemms = (getattr(lib, f"{prefix}cblas_{t}gemm{suffix}") for t in "sd")
    return _Cblas("openblas", *gemms, int_type)


def numpy_blas_threads(n: int | None = None) -> int | None:
    """How many threads NumPy's bundled OpenBLAS uses, after setting it to ``n`` when
    given; None where that library is not found (another BLAS, or none of its
    thread functions). The count is the process's, as ``OPENBLAS_NUM_THREADS`` sets it."""
    try:
        lib, prefix, suffix, _ = _openblas_library()
        get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}")
        put = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}")
    except (ImportError, OSError, AttributeError):
        return None
    get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
    if n is not None:
        put(int(n))
    return int(get())


#: Who holds NumPy's OpenBLAS to one thread now (a backend with threads of its own:
#: "mkl", "onednn"), and the count to give back when none does.
_blas_holders: set[str] = set()
_blas_threads_before: int | None = None


def hold_numpy_blas(holder: str, held: bool) -> None:
    """Hold NumPy's OpenBLAS to one thread while ``held`` for some ``holder``; give its
    count back once no holder is left.

    A library with an OpenMP pool of its own (MKL's GEMMs, oneDNN's convolutions)
    and OpenBLAS's threads take turns on the same cores: each pool's workers spin
    for a while after their work, and the other's next call waits for a core. On 2
    cores the B6 LSTM step with MKL's GEMMs took 115 ms with OpenBLAS on two
    threads, 36 ms on one (numpy's own path: 34 ms); the B5 CNN step on oneDNN 74 ms
    against 47. One holder's release does not undo another's hold."""
    global _blas_threads_before
    if held and holder not in _blas_holders:
        if not _blas_holders:
            _blas_threads_before = numpy_blas_threads()
            if _blas_threads_before is not None:
                numpy_blas_threads(1)
        _blas_holders.add(holder)
    elif not held and holder in _blas_holders:
        _blas_holders.discard(holder)
        if not _blas_holders and _blas_threads_before is not None:
            numpy_blas_threads(_blas_threads_before)
            _blas_threads_before = None


_LOADERS: dict[str, Callable[[], _Cblas]] = {"mkl": _load_mkl, "openblas": _load_openblas}
_loaded: dict[str, _Cblas] = {}

#: What the hot primitives call: ``np.matmul`` or a cblas backend's ``matmul``.
matmul: Callable = np.matmul
_current = "numpy"


def matmul_steps(a, b, out, accumulate: bool = False) -> Callable[[int], None]:
    """:func:`numpy_steps` by the GEMM backend in use (where the operands allow).

    With the ``numpy`` backend a product added into its result (``accumulate``: the
    LSTM's weight gradient, summed step by step) is NumPy's own OpenBLAS called with
    beta = 1, where it is found: ``np.matmul`` has no way to add into ``out``, so it
    would write a temporary and add it, two more passes over the result per step."""
    if _current == "numpy":
        adder = _numpy_openblas() if accumulate else None
        product = None if adder is None else adder.steps(a, b, out, True)
        return numpy_steps(a, b, out, accumulate) if product is None else product
    product = _loaded[_current].steps(a, b, out, accumulate)
    return numpy_steps(a, b, out, accumulate) if product is None else product


def _numpy_openblas() -> _Cblas | None:
    """NumPy's OpenBLAS through cblas (loaded once), or None where it is not found."""
    if "openblas" not in _loaded:
        try:
            _loaded["openblas"] = _load_openblas()
        except (ImportError, OSError):
            _loaded["openblas"] = None  # type: ignore[assignment]
    return _loaded["openblas"]


def set_gemm_backend(name: str) -> None:
    """Compute the hot primitives' matrix products (LSTM, convolution) with ``name``:
    ``"numpy"`` (np.matmul, the default), ``"mkl"`` (Intel MKL from the ``mkl``
    package) or ``"openblas"`` (NumPy's OpenBLAS through direct cblas calls). The
    environment variable ``CHAINRULE_GEMM`` sets it when chainrule first needs it.

    While ``"mkl"`` is selected, NumPy's bundled OpenBLAS runs on one thread (see
    :func:`hold_numpy_blas`): MKL's OpenMP threads and OpenBLAS's would otherwise
    take turns on the same cores. Choosing another backend gives its count back.

    Raises ValueError for another name and ImportError when the library is missing
    (the backend in use stays as it was)."""
    global matmul, _current
    if not isinstance(name, str) or name.strip().lower() not in BACKENDS:
        raise ValueError(f"GEMM backend {name!r}: must be one of {', '.join(BACKENDS)}")
    name = name.strip().lower()
    if name == "numpy":
        matmul, _current = np.matmul, name
    else:
        if _loaded.get(name) is None:
            _loaded[name] = _LOADERS[name]()
        matmul, _current = _loaded[name].matmul, name
    hold_numpy_blas("mkl", name == "mkl")


def get_gemm_backend() -> str:
    """The name of the GEMM backend in use (see :func:`set_gemm_backend`)."""
    return _current


def _from_environment() -> None:
    value = os.environ.get(ENV_VAR)
    if value is None or not value.strip():
        return
    try:
        set_gemm_backend(value)
    except ValueError:
        raise ValueError(f"{ENV_VAR}={value!r}: must be one of {', '.join(BACKENDS)}") from None
    except ImportError as e:
        raise ImportError(f"{ENV_VAR}={value!r}: {e}") from None


_from_environment()
