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
"""

from __future__ import annotations

import os
import weakref

import numpy as np

from chainrule import gemm_backend

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
