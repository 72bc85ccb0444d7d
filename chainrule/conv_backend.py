"""Which library computes the convolution primitives (``conv2d`` and its two
gradients): chainrule's own NumPy code (the default) or Intel oneDNN, the library
behind PyTorch's CPU convolutions.

On the ``chainrule train --model cnn`` step (batch 128, 3x3 convolutions of 16
and 32 channels) NumPy's way (window copies, one GEMM per chunk, kh*kw strided
adds) spends most of its time copying on one core; oneDNN's direct kernels, on
all cores, compute the same three convolutions about five times as fast
(BENCHMARKS.md, "oneDNN convolution backend"). oneDNN is not a dependency (its
wheel is about 40 MB and needs the system's GNU OpenMP), so it is an opt-in::

    pip install onednn-cpu-gomp              # or chainrule[onednn]
    CHAINRULE_CONV=onednn python train.py    # or cr.set_conv_backend("onednn")

With ``onednn`` selected, float32 convolutions go to oneDNN (forward, input
gradient, weight gradient: the primitives' own computations, so ``cr.jit``,
higher derivatives and ``cr.explain`` see no difference); float64 and every other
dtype stay on NumPy's path, which computes them exactly as before. oneDNN adds in
another order than NumPy's GEMM, so float32 results differ in the last bits. Its
threads follow ``OMP_NUM_THREADS`` (GNU OpenMP's setting).

With ``onednn`` selected, 2-D max pooling, ``nn.LSTM`` (oneDNN's fused LSTM), and a
transformer's float32 matrix products, layer normalisations and softmaxes go to
oneDNN as well (docs/reference/conv-backend.md), so that a step's threaded work is
on one pool of threads.
"""

from __future__ import annotations

import os
import sys
import weakref

import numpy as np

from chainrule import gemm_backend
from chainrule.ops import offload

ENV_VAR = "CHAINRULE_CONV"
BACKENDS = ("numpy", "onednn")

_current = "numpy"
_planner = None  # chainrule.onednn.Planner once oneDNN is loaded


def set_conv_backend(name: str) -> None:
    """Compute the convolution primitives with ``name``: ``"numpy"`` (chainrule's own
    NumPy code, the default) or ``"onednn"`` (Intel oneDNN, float32 only; other
    dtypes stay on NumPy). The environment variable ``CHAINRULE_CONV`` sets it when
    chainrule first needs it.

    While ``"onednn"`` is selected, NumPy's bundled OpenBLAS runs on one thread: its
    threads and oneDNN's would otherwise take turns on the same cores, which cost the
    CNN step more than BLAS's second thread gains on its small matrix products.
    Choosing ``"numpy"`` again restores the thread count it had.

    Raises ValueError for another name, and ImportError when oneDNN is missing or
    cannot be loaded (the backend in use stays as it was)."""
    global _current, _planner
    if not isinstance(name, str) or name.strip().lower() not in BACKENDS:
        raise ValueError(f"convolution backend {name!r}: must be one of {', '.join(BACKENDS)}")
    name = name.strip().lower()
    if name == "onednn" and _planner is None:
        from chainrule import onednn

        _planner = onednn.Planner(onednn.Library())
    _current = name
    # The primitives of matrix products, normalisation and softmax read this first.
    offload.onednn = sys.modules[__name__] if name == "onednn" else None
    # oneDNN's OpenMP threads and OpenBLAS's own would take turns on the same cores
    # (measured, B5 step on 2 cores: 47 ms with OpenBLAS on one thread, 74 ms on two).
    gemm_backend.hold_numpy_blas("onednn", name == "onednn")


def get_conv_backend() -> str:
    """The name of the convolution backend in use (see :func:`set_conv_backend`)."""
    return _current


def kernel_names() -> dict[tuple, dict[str, str]]:
    """For each planned geometry (convolution or max pool), the oneDNN kernel of each
    computation planned so far (for reports: ``jit:avx512_core`` is oneDNN's direct
    kernel)."""
    if _planner is None:
        return {}
    return {key: plan.kernels() for key, plan in _planner.plans.items()}


def _usable() -> bool:
    """oneDNN is selected, and this is not a child forked after it was loaded: GNU
    OpenMP's threads do not survive a fork, and the child's first parallel oneDNN
    kernel would wait for them forever. There NumPy's path computes instead (the
    same values), and a warning says so once."""
    if _current != "onednn":
        return False
    if _forked[0]:
        if not _forked[1]:
            _forked[1] = True
            import warnings

            warnings.warn(
                "this process was forked after oneDNN was loaded, and GNU OpenMP's threads "
                "do not survive a fork: its convolutions use NumPy's path",
                RuntimeWarning,
                stacklevel=4,
            )
        return False
    return True


_forked = [False, False]  # [forked after oneDNN loaded, warned]


def _after_fork_in_child() -> None:
    if _planner is not None:
        _forked[0] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def takes(*arrays: np.ndarray) -> bool:
    """True when oneDNN is selected and computes these arrays (all float32, none empty:
    oneDNN refuses zero-sized dimensions, which NumPy's path handles)."""
    return _usable() and all(a.dtype == np.float32 and a.size for a in arrays)


def _plan(x_shape, w_shape, out_hw, p):
    return _planner.plan(
        x_shape, w_shape, out_hw, p["stride"], p["padding"], p["dilation"], p["groups"]
    )


def forward(x, w, b, out_hw, p) -> np.ndarray:
    """conv2d(x, w, b) by oneDNN: x (N, C, H, W), w (O, C/groups, kh, kw), b (O,) or None."""
    x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
    b = None if b is None else np.ascontiguousarray(b)
    out = np.empty((x.shape[0], w.shape[0], *out_hw), dtype=np.float32)
    _plan(x.shape, w.shape, out_hw, p).forward(x, w, b, out)
    return out


def input_grad(g, w, x_shape, p) -> np.ndarray:
    """The convolution's gradient in its image (of ``x_shape``) by oneDNN."""
    g, w = np.ascontiguousarray(g), np.ascontiguousarray(w)
    out = np.empty(x_shape, dtype=np.float32)
    _plan(x_shape, w.shape, g.shape[2:], p).input_grad(g, w, out)
    return out


def weight_grad(g, x, w_shape, p) -> np.ndarray:
    """The convolution's gradient in its weight (of ``w_shape``) by oneDNN."""
    g, x = np.ascontiguousarray(g), np.ascontiguousarray(x)
    out = np.empty(w_shape, dtype=np.float32)
    _plan(x.shape, w_shape, g.shape[2:], p).weight_grad(g, x, out)
    return out


# ----------------------------------------------------------------- max pooling
# oneDNN's max-pool gradient reads where each window's maximum was from a workspace
# its forward wrote. The workspace is kept with the pool's output until that output
# is freed (the backward pass receives the same two arrays the forward saw); a
# gradient whose arrays are not those two goes to NumPy's path, which finds the
# maxima again.
_workspaces: dict[int, tuple] = {}  # id(output) -> (ref output, ref input, workspace, plan)


def keep_while_alive(table: dict, out: np.ndarray, entry: tuple, on_free=None) -> None:
    """``table[id(out)] = (weak reference to out, *entry)`` until ``out`` is freed; then
    the row goes (ids are reused) and ``on_free(row)`` runs, if given. What a
    primitive's backward needs from its forward (a oneDNN workspace) lives so with the
    output the backward pass receives."""
    key = id(out)

    def forget(ref, key=key):
        row = table.get(key)
        if row is not None and row[0] is ref:
            del table[key]
            if on_free is not None:
                on_free(row)

    table[key] = (weakref.ref(out, forget), *entry)


def pools(x: np.ndarray) -> bool:
    """True when oneDNN may compute this max pooling: oneDNN selected and usable, and
    a non-empty float32 NCHW image (:func:`max_pool_forward` has the last word)."""
    return _usable() and x.dtype == np.float32 and x.ndim == 4 and x.size > 0


def max_pool_forward(x, out_hw, kernel_size, stride, padding, dilation) -> np.ndarray | None:
    """Each window's maximum, by oneDNN; None (NumPy's path) where oneDNN has no JIT
    kernel for the geometry (its reference loop, for dilated windows, took 450 ms
    where NumPy took 4.5) or the image is not all finite: oneDNN's maximum skips NaN
    (PyTorch's is NaN), and a window of -inf only comes out as -3.4e38, the lowest
    float32. The check is one sum (not finite also where large values overflow it,
    which only sends those images to NumPy's path)."""
    plan = _planner.max_pool(x.shape, out_hw, kernel_size, stride, padding, dilation)
    if not plan.jit or not np.isfinite(x.sum()):
        return None
    image = np.ascontiguousarray(x)
    out = np.empty((*x.shape[:2], *out_hw), dtype=np.float32)
    workspace = np.empty(plan.workspace_bytes, dtype=np.uint8)
    plan.forward(image, out, workspace)
    keep_while_alive(_workspaces, out, (weakref.ref(x), workspace, plan))
    return out


def max_pool_scatter(g, x, m) -> np.ndarray | None:
    """The max pool's gradient by oneDNN when ``m`` is the output its forward computed
    from ``x`` (the workspace is still there); None otherwise."""
    entry = _workspaces.get(id(m)) if m is not None and _usable() else None
    if entry is None or entry[0]() is not m or entry[1]() is not x or g.dtype != np.float32:
        return None
    _, _, workspace, plan = entry
    out = np.empty(x.shape, dtype=np.float32)
    plan.backward(np.ascontiguousarray(g), workspace, out)
    return out


# ------------------------------------------- matrix products, normalisation, softmax
# With oneDNN selected, a transformer step's other heavy primitives go to it too:
# on OpenMP threads, the pool its convolutions use, while NumPy's OpenBLAS is held
# to one thread (see set_conv_backend). Left on OpenBLAS's two threads next to
# oneDNN's, the B7 step took 286 ms instead of 44 (each pool's threads spin on the
# cores the other wants); on one thread, it lost what a second core gives GEMMs.

#: Products of fewer multiply-adds (m * k * n) stay on NumPy: a oneDNN call costs
#: about 10 us of Python and ctypes, more than such a product takes on one core.
MIN_GEMM_WORK = 1 << 18
_F32 = np.dtype(np.float32)


def _gemm_strides(x: np.ndarray) -> tuple[int, int] | None:
    """x's strides in elements when its rows or its columns are contiguous (a
    matrix or a transposed one, as BLAS reads them); None otherwise."""
    s0, s1 = x.strides
    if s0 % 4 or s1 % 4 or not x.flags.aligned:
        return None
    e0, e1 = s0 // 4, s1 // 4
    if (e1 == 1 and e0 >= x.shape[1]) or (e0 == 1 and e1 >= x.shape[0]):
        return e0, e1
    return None


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray | None:
    """``a @ b`` by oneDNN for float32 matrices (m, k) and (k, n) of at least
    :data:`MIN_GEMM_WORK` multiply-adds whose rows or columns are contiguous, into
    ``out`` (C-ordered, overlapping neither) or a new array; None otherwise (the
    caller multiplies with NumPy)."""
    if (
        a.dtype != _F32
        or b.dtype != _F32
        or a.ndim != 2
        or b.ndim != 2
        or a.shape[1] != b.shape[0]
        or a.shape[0] * a.shape[1] * b.shape[1] < MIN_GEMM_WORK
        or not _usable()
    ):
        return None
    sa, sb = _gemm_strides(a), _gemm_strides(b)
    if sa is None or sb is None:
        return None
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    if out is None:
        out = np.empty((m, n), dtype=np.float32)
    elif (
        out.dtype != _F32
        or out.shape != (m, n)
        or not out.flags.c_contiguous
        or np.may_share_memory(out, a)
        or np.may_share_memory(out, b)
    ):
        return None
    _planner.matmul(m, k, n, sa, sb).run(a, b, out)
    return out


def layer_norm(x: np.ndarray, eps: float, w=None, b=None):
    """(x - mean) / sqrt(var + eps) over x's last axis by oneDNN, times ``w`` plus ``b``
    when given (both (n,)), with each row's mean and variance (for
    :func:`layer_norm_grad`), for a non-empty float32 ``x`` (and float32 ``w``, ``b``):
    ``(out, mean, var)``; None otherwise. Rows with NaN or infinities come out NaN, as
    on NumPy's path."""
    if x.dtype != _F32 or x.ndim == 0 or x.size == 0 or not _usable():
        return None
    if w is not None and not _vectors(x.shape[-1], w, b):
        return None
    n = x.shape[-1]
    rows = x.size // n
    x2 = np.ascontiguousarray(x).reshape(rows, n)
    out = np.empty(x.shape, dtype=np.float32)
    mean, var = np.empty(rows, dtype=np.float32), np.empty(rows, dtype=np.float32)
    plan = _planner.layer_norm(rows, n, eps, w is not None)
    if w is None:
        plan.forward(x2, out, mean, var)
    else:
        plan.forward(x2, out, mean, var, np.ascontiguousarray(w), np.ascontiguousarray(b))
    return out, mean, var


def _vectors(n: int, *vs) -> bool:
    return all(type(v) is np.ndarray and v.dtype == _F32 and v.shape == (n,) for v in vs)


def layer_norm_grad(v, x, mean, var, eps, w=None, b=None):
    """The gradient of :func:`layer_norm` in x, given the gradient ``v`` of its result
    and the statistics its forward computed; with ``w`` and ``b``, the triple of the
    gradients in x, w and b (one pass). None where oneDNN does not take it."""
    n = x.shape[-1]
    if v.dtype != _F32 or x.dtype != _F32 or v.shape != x.shape or not _usable():
        return None
    if w is not None and not _vectors(n, w, b):
        return None
    rows = x.size // n
    out = np.empty(x.shape, dtype=np.float32)
    plan = _planner.layer_norm(rows, n, eps, w is not None)
    g2 = np.ascontiguousarray(v).reshape(rows, n)
    x2 = np.ascontiguousarray(x).reshape(rows, n)
    if w is None:
        plan.backward(g2, x2, mean, var, out)
        return out
    dw, db = np.empty(n, dtype=np.float32), np.empty(n, dtype=np.float32)
    w, b = np.ascontiguousarray(w), np.ascontiguousarray(b)
    plan.backward(g2, x2, mean, var, out, w, b, dw, db)
    return out, dw, db


def softmax(x: np.ndarray) -> np.ndarray | None:
    """The softmax of x along its last axis by oneDNN, for a non-empty float32 x whose
    values are all finite; None otherwise: NumPy's path decides what rows of -inf
    (masked) or NaN give. The check is one sum (as for max pooling)."""
    if x.dtype != _F32 or x.ndim == 0 or x.size == 0 or not _usable():
        return None
    if not np.isfinite(x.sum()):
        return None
    x = np.ascontiguousarray(x)
    out = np.empty(x.shape, dtype=np.float32)
    _planner.softmax(x.shape).forward(x, out)
    return out


def softmax_grad(g: np.ndarray, ans: np.ndarray) -> np.ndarray | None:
    """ans * (g - sum(g * ans)) along the last axis (the softmax's gradient from its
    result) by oneDNN, for float32 arrays of one shape where oneDNN has a JIT kernel
    for it; None otherwise."""
    if g.dtype != _F32 or ans.dtype != _F32 or g.shape != ans.shape or ans.size == 0:
        return None
    if ans.ndim == 0 or not _usable():
        return None
    plan = _planner.softmax(ans.shape)
    if not plan.backward_jit:
        return None
    out = np.empty(ans.shape, dtype=np.float32)
    plan.backward(np.ascontiguousarray(g), np.ascontiguousarray(ans), out)
    return out


def _from_environment() -> None:
    value = os.environ.get(ENV_VAR)
    if value is None or not value.strip():
        return
    try:
        set_conv_backend(value)
    except ValueError:
        raise ValueError(f"{ENV_VAR}={value!r}: must be one of {', '.join(BACKENDS)}") from None
    except ImportError as e:
        raise ImportError(f"{ENV_VAR}={value!r}: {e}") from None


_from_environment()
