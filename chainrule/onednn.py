"""The three convolution computations by Intel oneDNN (PyTorch's CPU convolution
library), through its C API with ctypes: what the ``onednn`` convolution backend
runs (:mod:`chainrule.conv_backend`).

oneDNN is not a dependency. Its CPU-only wheel with GNU OpenMP threads,
``onednn-cpu-gomp`` (oneDNN 3.x, about 40 MB), brings ``libdnnl.so.3``; it needs
the system's ``libgomp`` (Debian: ``libgomp1``). Nothing is compiled here: the
library's C functions take opaque handles, so ctypes needs no structure layouts,
and the few enum values used below are checked against the library's own names
for them when it loads (``dnnl_fmt_tag2str`` and friends), so a library whose
numbering differs is refused, not misread.

Each computation is planned once per geometry (shapes, stride, padding,
dilation, groups): oneDNN picks its fastest kernel with the memory layouts left
to it (blocked, 16 channels at a time on AVX-512), and the plan holds the
reorders between those layouts and NCHW, the buffers they need, and the
primitives. A call sets the arrays' addresses and runs. NumPy's arrays stay
NCHW everywhere else, so a convolution's reorders are part of its cost here (as
they are of PyTorch's on an NCHW tensor).

oneDNN sums in its own order, so results differ from NumPy's GEMM path in the
last bits (float32 rounding; the tests compare them within float32 tolerance).
Only float32 goes here; other dtypes stay on NumPy's path.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

_vp = ctypes.c_void_p
_Dims = ctypes.c_int64 * 12  # dnnl_dims_t (DNNL_MAX_NDIMS entries)

# oneDNN 3.x constants (dnnl_types.h). Checked at load where the library can name them.
_F32 = 3  # dnnl_f32
_TAG_ANY, _TAG_A, _TAG_AB, _TAG_ABCD, _TAG_ABCDE = 1, 2, 3, 5, 6
_FORWARD_TRAINING, _CONV_DIRECT, _POOL_MAX = 64, 1, 511
_ARG_SRC, _ARG_DST, _ARG_WEIGHTS, _ARG_BIAS = 1, 17, 33, 41
_ARG_DIFF_SRC, _ARG_DIFF_DST, _ARG_DIFF_WEIGHTS = 129, 145, 161
_ARG_WORKSPACE = 64
_QUERY_EXEC_ARG_MD, _QUERY_IMPL_INFO_STR = 255, 8
_CPU, _STREAM_DEFAULT = 1, 1
# The LSTM's: layouts tnc (abc), ldnc and ldgo (abcd), ldgoi (abdec: PyTorch's (4H, I)
# weight seen as (layers, directions, I, gates, H)); its arguments.
_TAG_ABC, _TAG_ABDEC = 4, 31
# Channel-blocked and channel-last image layouts (nChw16c, nChw8c, nhwc): where
# oneDNN's JIT pooling kernels run (on plain NCHW it has only a generic loop).
_TAG_ABCD16B, _TAG_ABCD8B, _TAG_ACDB = 78, 102, 22
_BACKWARD, _VANILLA_LSTM, _LEFT2RIGHT = 128, 12287, 1
_ARG_SRC_ITER, _ARG_SRC_ITER_C, _ARG_WEIGHTS_ITER = 2, 3, 34
_ARG_DST_ITER, _ARG_DST_ITER_C = 18, 19
_ARG_DIFF_SRC_ITER, _ARG_DIFF_SRC_ITER_C, _ARG_DIFF_WEIGHTS_ITER = 130, 131, 162
_ARG_DIFF_BIAS, _ARG_DIFF_DST_ITER, _ARG_DIFF_DST_ITER_C = 169, 146, 147
# Layer normalisation (its per-row statistics) and the softmax.
_BACKWARD_DATA, _ARG_MEAN, _ARG_VARIANCE = 160, 49, 50
# Its scale and shift (dnnl_use_scale, dnnl_use_shift: normalisation flags, which the
# library cannot name; a misnumbering would fail the tests against NumPy's path).
_USE_SCALE, _USE_SHIFT = 0x2, 0x4
_ARG_SCALE, _ARG_SHIFT, _ARG_DIFF_SCALE, _ARG_DIFF_SHIFT = 51, 52, 255, 256
_SOFTMAX_ACCURATE = 0x30000
_EXPECTED_NAMES = {
    "dnnl_fmt_tag2str": {
        _TAG_ANY: "any", _TAG_A: "a", _TAG_AB: "ab", _TAG_ABC: "abc", _TAG_ABCD: "abcd",
        _TAG_ABCDE: "abcde", _TAG_ABDEC: "abdec", _TAG_ABCD16B: "aBcd16b",
        _TAG_ABCD8B: "aBcd8b", _TAG_ACDB: "acdb",
    },
    "dnnl_dt2str": {_F32: "f32"},
    "dnnl_prop_kind2str": {
        _FORWARD_TRAINING: "forward_training", _BACKWARD: "backward",
        _BACKWARD_DATA: "backward_data",
    },
    "dnnl_alg_kind2str": {
        _CONV_DIRECT: "convolution_direct", _POOL_MAX: "pooling_max",
        _VANILLA_LSTM: "vanilla_lstm", _SOFTMAX_ACCURATE: "softmax_accurate",
    },
    "dnnl_rnn_direction2str": {_LEFT2RIGHT: "unidirectional_left2right"},
}  # fmt: skip
PACKAGES = ("onednn-cpu-gomp", "onednn-cpu-iomp", "onednn-cpu-tbb")
INSTALL = "pip install onednn-cpu-gomp (or chainrule[onednn])"


class _ExecArg(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_int), ("memory", _vp)]


class OneDNNError(RuntimeError):
    """A oneDNN call returned an error status."""


def _library_path() -> str:
    """libdnnl.so.3 of an installed oneDNN CPU wheel (pip puts it in the environment's lib/)."""
    from importlib import metadata

    for dist in PACKAGES:
        try:
            files = metadata.files(dist) or ()
        except metadata.PackageNotFoundError:
            continue
        for f in files:
            if f.name.startswith("libdnnl.so"):
                return str(Path(str(f.locate())).resolve())
    for found in sorted(Path(sys.prefix, "lib").glob("libdnnl.so.3*")):
        return str(found)
    raise ImportError(
        f"the 'onednn' convolution backend needs Intel oneDNN's CPU library, which is not "
        f"installed in {sys.prefix}: {INSTALL}"
    )


#: Every loaded Library, so that a forked child gets fresh locks.
_LIBRARIES: weakref.WeakSet = weakref.WeakSet()


def _fresh_locks_in_child() -> None:
    # A thread of the parent may have held a lock at the fork; the child's copy would
    # stay locked forever. (The planners' locks likewise.)
    for lib in _LIBRARIES:
        lib.lock = threading.Lock()
    for planner in _PLANNERS:
        planner._lock = threading.Lock()


class Library:
    """The loaded library, its CPU engine and one stream."""

    def __init__(self, path: str | None = None) -> None:
        path = path or _library_path()
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            raise ImportError(
                f"could not load oneDNN from {path}: {e} (the onednn-cpu-gomp wheel needs the "
                "system's GNU OpenMP library: apt install libgomp1)"
            ) from None
        self.lib = lib
        self.version = self._check_version()
        self._check_constants()
        self._declare()
        self.engine, self.stream = _vp(), _vp()
        self.ok(lib.dnnl_engine_create(ctypes.byref(self.engine), _CPU, ctypes.c_size_t(0)))
        self.ok(lib.dnnl_stream_create(ctypes.byref(self.stream), self.engine, _STREAM_DEFAULT))
        self.lock = threading.Lock()  # a plan's memory objects are set, then run: one at a time
        _LIBRARIES.add(self)

    def _check_version(self) -> tuple[int, int, int]:
        class Version(ctypes.Structure):
            _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int)]

        self.lib.dnnl_version.restype = ctypes.POINTER(Version)
        v = self.lib.dnnl_version().contents
        if v.major != 3:
            raise ImportError(
                f"the 'onednn' convolution backend speaks oneDNN 3's C API; the library found "
                f"is {v.major}.{v.minor}.{v.patch}: {INSTALL}"
            )
        return (v.major, v.minor, v.patch)

    def _check_constants(self) -> None:
        for fn_name, expected in _EXPECTED_NAMES.items():
            fn = getattr(self.lib, fn_name, None)
            if fn is None:
                raise ImportError(
                    f"oneDNN {'.'.join(map(str, self.version))} has no {fn_name}; the 'onednn' "
                    "convolution backend cannot check its constants"
                )
            fn.restype, fn.argtypes = ctypes.c_char_p, [ctypes.c_int]
            for value, name in expected.items():
                got = fn(value)
                if got is None or got.decode() != name:
                    raise ImportError(
                        f"oneDNN {'.'.join(map(str, self.version))} numbers its constants "
                        f"differently ({fn_name}({value}) is {got!r}, not {name!r}); the "
                        f"'onednn' convolution backend cannot use it"
                    )

    def _declare(self) -> None:
        lib, p = self.lib, ctypes.POINTER(_vp)
        lib.dnnl_memory_desc_create_with_tag.argtypes = [
            p,
            ctypes.c_int,
            _Dims,
            ctypes.c_int,
            ctypes.c_int,
        ]
        lib.dnnl_convolution_forward_primitive_desc_create.argtypes = [
            p, _vp, ctypes.c_int, ctypes.c_int, _vp, _vp, _vp, _vp, _Dims, _Dims, _Dims, _Dims, _vp,
        ]  # fmt: skip
        lib.dnnl_convolution_backward_data_primitive_desc_create.argtypes = [
            p, _vp, ctypes.c_int, _vp, _vp, _vp, _Dims, _Dims, _Dims, _Dims, _vp, _vp,
        ]  # fmt: skip
        lib.dnnl_convolution_backward_weights_primitive_desc_create.argtypes = [
            p, _vp, ctypes.c_int, _vp, _vp, _vp, _vp, _Dims, _Dims, _Dims, _Dims, _vp, _vp,
        ]  # fmt: skip
        lib.dnnl_pooling_forward_primitive_desc_create.argtypes = [
            p, _vp, ctypes.c_int, ctypes.c_int, _vp, _vp, _Dims, _Dims, _Dims, _Dims, _Dims, _vp,
        ]  # fmt: skip
        lib.dnnl_pooling_backward_primitive_desc_create.argtypes = [
            p, _vp, ctypes.c_int, _vp, _vp, _Dims, _Dims, _Dims, _Dims, _Dims, _vp, _vp,
        ]  # fmt: skip
        lib.dnnl_lstm_forward_primitive_desc_create.argtypes = [
            p, _vp, ctypes.c_int, ctypes.c_int, *[_vp] * 11, ctypes.c_uint, _vp,
        ]  # fmt: skip
        lib.dnnl_lstm_backward_primitive_desc_create.argtypes = [
            p, _vp, ctypes.c_int, ctypes.c_int, *[_vp] * 22, ctypes.c_uint, _vp, _vp,
        ]  # fmt: skip
        lib.dnnl_matmul_primitive_desc_create.argtypes = [p, _vp, _vp, _vp, _vp, _vp, _vp]
        lib.dnnl_layer_normalization_forward_primitive_desc_create.argtypes = [
            p, _vp, ctypes.c_int, _vp, _vp, _vp, ctypes.c_float, ctypes.c_uint, _vp,
        ]  # fmt: skip
        lib.dnnl_layer_normalization_backward_primitive_desc_create.argtypes = [
            p, _vp, ctypes.c_int, _vp, _vp, _vp, _vp, ctypes.c_float, ctypes.c_uint, _vp, _vp,
        ]  # fmt: skip
        lib.dnnl_softmax_forward_primitive_desc_create.argtypes = [
            p, _vp, ctypes.c_int, ctypes.c_int, _vp, _vp, ctypes.c_int, _vp,
        ]  # fmt: skip
        lib.dnnl_softmax_backward_primitive_desc_create.argtypes = [
            p, _vp, ctypes.c_int, _vp, _vp, _vp, ctypes.c_int, _vp, _vp,
        ]  # fmt: skip
        lib.dnnl_memory_desc_create_with_strides.argtypes = [
            p,
            ctypes.c_int,
            _Dims,
            ctypes.c_int,
            _Dims,
        ]
        lib.dnnl_reorder_primitive_desc_create.argtypes = [p, _vp, _vp, _vp, _vp, _vp]
        lib.dnnl_primitive_desc_query_md.argtypes = [_vp, ctypes.c_int, ctypes.c_int]
        lib.dnnl_primitive_desc_query_md.restype = _vp
        lib.dnnl_primitive_desc_query.argtypes = [_vp, ctypes.c_int, ctypes.c_int, _vp]
        lib.dnnl_memory_desc_equal.argtypes = [_vp, _vp]
        lib.dnnl_memory_desc_get_size.argtypes = [_vp]
        lib.dnnl_memory_desc_get_size.restype = ctypes.c_size_t
        lib.dnnl_memory_create.argtypes = [p, _vp, _vp, _vp]
        lib.dnnl_memory_set_data_handle.argtypes = [_vp, _vp]
        lib.dnnl_primitive_create.argtypes = [p, _vp]
        lib.dnnl_primitive_execute.argtypes = [_vp, _vp, ctypes.c_int, _vp]
        lib.dnnl_stream_wait.argtypes = [_vp]
        for name in ("dnnl_primitive_destroy", "dnnl_primitive_desc_destroy",
                     "dnnl_memory_destroy", "dnnl_memory_desc_destroy"):  # fmt: skip
            getattr(lib, name).argtypes = [_vp]

    @staticmethod
    def ok(status: int, what: str = "a oneDNN call") -> None:
        if status != 0:
            raise OneDNNError(f"{what} failed with oneDNN status {status}")

    def desc(self, shape: tuple[int, ...], tag: int) -> _Owned:
        md = _vp()
        self.ok(
            self.lib.dnnl_memory_desc_create_with_tag(
                ctypes.byref(md), len(shape), _Dims(*shape), _F32, tag
            ),
            f"a memory descriptor of shape {shape}",
        )
        return _Owned(self, md, "dnnl_memory_desc_destroy")

    def strided(self, shape: tuple[int, ...], strides: tuple[int, ...]) -> _Owned:
        """A float32 memory descriptor of ``shape`` with ``strides`` (in elements)."""
        md = _vp()
        self.ok(
            self.lib.dnnl_memory_desc_create_with_strides(
                ctypes.byref(md), len(shape), _Dims(*shape), _F32, _Dims(*strides)
            ),
            f"a memory descriptor of shape {shape}, strides {strides}",
        )
        return _Owned(self, md, "dnnl_memory_desc_destroy")

    def primitive_desc(self, create, *args, what: str) -> _Owned:
        """``create(&pd, engine, *args)``: a primitive descriptor, owned."""
        pd = _vp()
        self.ok(create(ctypes.byref(pd), self.engine, *args), what)
        return _Owned(self, pd, "dnnl_primitive_desc_destroy")

    def impl(self, pd: _Owned) -> str:
        """The name of the kernel oneDNN chose (e.g. ``jit:avx512_core``)."""
        s = ctypes.c_char_p()
        self.ok(
            self.lib.dnnl_primitive_desc_query(pd.handle, _QUERY_IMPL_INFO_STR, 0, ctypes.byref(s))
        )
        return (s.value or b"").decode()


class _Owned:
    """A oneDNN handle destroyed with its Python owner."""

    __slots__ = ("lib", "handle", "destroy")

    def __init__(self, lib: Library, handle: _vp, destroy: str) -> None:
        self.lib, self.handle, self.destroy = lib, handle, destroy

    def __del__(self) -> None:
        # At interpreter shutdown the library, and this module's globals, may be gone
        # already (so no contextlib here).
        try:  # noqa: SIM105
            getattr(self.lib.lib, self.destroy)(self.handle)
        except Exception:
            pass


class _Primitive:
    """One primitive with a memory object per argument (its address set at each run)."""

    __slots__ = ("lib", "prim", "mems", "args")

    def __init__(self, lib: Library, pd: _Owned, descs: dict[int, _vp]) -> None:
        self.lib = lib
        prim = _vp()
        lib.ok(lib.lib.dnnl_primitive_create(ctypes.byref(prim), pd.handle), "creating a primitive")
        self.prim = _Owned(lib, prim, "dnnl_primitive_destroy")
        self.mems: dict[int, _Owned] = {}
        for arg, md in descs.items():
            mem = _vp()
            lib.ok(lib.lib.dnnl_memory_create(ctypes.byref(mem), md, lib.engine, None))
            self.mems[arg] = _Owned(lib, mem, "dnnl_memory_destroy")
        self.args = (_ExecArg * len(descs))(*[_ExecArg(a, m.handle) for a, m in self.mems.items()])

    def run(self, arrays: dict[int, np.ndarray]) -> None:
        lib = self.lib.lib
        for arg, a in arrays.items():
            lib.dnnl_memory_set_data_handle(self.mems[arg].handle, a.ctypes.data)
        self.lib.ok(
            lib.dnnl_primitive_execute(self.prim.handle, self.lib.stream, len(self.mems), self.args)
        )


class _Step:
    """A computation on NCHW arrays: the primitive in the layouts oneDNN chose, with a
    reorder into them before (an input) or out of them after (an output) wherever the
    chosen layout is not the array's own."""

    def __init__(
        self,
        lib: Library,
        pd: _Owned,
        user: dict[int, tuple[_Owned, bool]],
        own: dict[int, _vp] | None = None,
    ) -> None:
        """``own``: arguments in oneDNN's layout only (a workspace): never reordered."""
        self.lib, self.pd = lib, pd
        self.before: list[tuple[int, _Primitive, np.ndarray]] = []
        self.after: list[tuple[int, _Primitive, np.ndarray]] = []
        self._keep = [pd]
        descs = {}
        for arg, (mine, is_input) in user.items():
            theirs = lib.lib.dnnl_primitive_desc_query_md(pd.handle, _QUERY_EXEC_ARG_MD, arg)
            if lib.lib.dnnl_memory_desc_equal(theirs, mine.handle):
                descs[arg] = mine.handle
                continue
            descs[arg] = theirs
            size = lib.lib.dnnl_memory_desc_get_size(theirs)
            buf = np.empty(-(-size // 64) * 16, dtype=np.float32)  # whole 64-byte lines
            src, dst = (mine.handle, theirs) if is_input else (theirs, mine.handle)
            rpd = _vp()
            lib.ok(
                lib.lib.dnnl_reorder_primitive_desc_create(
                    ctypes.byref(rpd), src, lib.engine, dst, lib.engine, None
                ),
                "planning a reorder",
            )
            reorder_pd = _Owned(lib, rpd, "dnnl_primitive_desc_destroy")
            reorder = _Primitive(lib, reorder_pd, {_ARG_SRC: src, _ARG_DST: dst})
            self._keep.append(reorder_pd)
            (self.before if is_input else self.after).append((arg, reorder, buf))
        self.main = _Primitive(lib, pd, {**descs, **(own or {})})
        self.kernel = lib.impl(pd)

    def run(self, arrays: dict[int, np.ndarray], zero: tuple[int, ...] = ()) -> None:
        """``zero``: outputs the primitive adds into (the LSTM's weight gradients),
        cleared first."""
        inner = dict(arrays)
        with self.lib.lock:
            for arg, reorder, buf in self.before:
                reorder.run({_ARG_SRC: arrays[arg], _ARG_DST: buf})
                inner[arg] = buf
            for arg, _, buf in self.after:
                inner[arg] = buf
            for arg in zero:
                inner[arg][...] = 0
            self.main.run(inner)
            for arg, reorder, buf in self.after:
                reorder.run({_ARG_SRC: buf, _ARG_DST: arrays[arg]})
            self.lib.ok(self.lib.lib.dnnl_stream_wait(self.lib.stream))


class ConvPlan:
    """The forward, input-gradient and weight-gradient computations of one convolution
    geometry, each planned on first use. ``x_shape`` (N, C, H, W), ``w_shape``
    (O, C/groups, kh, kw); stride, padding (the same on both sides), dilation as pairs."""

    def __init__(self, lib: Library, x_shape, w_shape, out_hw, stride, padding, dilation, groups):
        self.lib = lib
        n, c, h, w = x_shape
        o, cg, kh, kw = w_shape
        y_shape = (n, o, *out_hw)
        self.x_md, self.y_md = lib.desc(x_shape, _TAG_ABCD), lib.desc(y_shape, _TAG_ABCD)
        if groups == 1:
            self.w_md = lib.desc(w_shape, _TAG_ABCD)
        else:
            self.w_md = lib.desc((groups, o // groups, cg, kh, kw), _TAG_ABCDE)
        self.b_md = lib.desc((o,), _TAG_A)
        self.any = [lib.desc(s, _TAG_ANY) for s in (x_shape, y_shape)]
        w_any_shape = w_shape if groups == 1 else (groups, o // groups, cg, kh, kw)
        self.w_any = lib.desc(w_any_shape, _TAG_ANY)
        self.geometry = (
            _Dims(*stride),
            _Dims(*(d - 1 for d in dilation)),  # oneDNN counts the gaps: 0 is dense
            _Dims(*padding),
            _Dims(*padding),
        )
        self._forward: dict[bool, _Step] = {}
        self._fwd_pd: _Owned | None = None
        self._input_grad: _Step | None = None
        self._weight_grad: _Step | None = None

    def kernels(self) -> dict[str, str]:
        """The kernel oneDNN chose for each computation planned so far."""
        steps = {
            "forward": self._forward.get(True) or self._forward.get(False),
            "input_grad": self._input_grad,
            "weight_grad": self._weight_grad,
        }
        return {k: step.kernel for k, step in steps.items() if step is not None}

    def _forward_pd(self, bias: bool) -> _Owned:
        lib, pd = self.lib, _vp()
        lib.ok(
            lib.lib.dnnl_convolution_forward_primitive_desc_create(
                ctypes.byref(pd), lib.engine, _FORWARD_TRAINING, _CONV_DIRECT,
                self.any[0].handle, self.w_any.handle, self.b_md.handle if bias else None,
                self.any[1].handle, *self.geometry, None,
            ),
            "planning a convolution",
        )  # fmt: skip
        return _Owned(lib, pd, "dnnl_primitive_desc_destroy")

    def _hint(self) -> _Owned:
        if self._fwd_pd is None:
            self._fwd_pd = self._forward_pd(False)
        return self._fwd_pd

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, out: np.ndarray) -> None:
        step = self._forward.get(b is not None)
        if step is None:
            user = {_ARG_SRC: (self.x_md, True), _ARG_WEIGHTS: (self.w_md, True)}
            if b is not None:
                user[_ARG_BIAS] = (self.b_md, True)
            user[_ARG_DST] = (self.y_md, False)
            step = self._forward[b is not None] = _Step(
                self.lib, self._forward_pd(b is not None), user
            )
        arrays = {_ARG_SRC: x, _ARG_WEIGHTS: w, _ARG_DST: out}
        if b is not None:
            arrays[_ARG_BIAS] = b
        step.run(arrays)

    def input_grad(self, g: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
        if self._input_grad is None:
            lib, pd = self.lib, _vp()
            lib.ok(
                lib.lib.dnnl_convolution_backward_data_primitive_desc_create(
                    ctypes.byref(pd), lib.engine, _CONV_DIRECT, self.any[0].handle,
                    self.w_any.handle, self.any[1].handle, *self.geometry,
                    self._hint().handle, None,
                ),
                "planning a convolution's input gradient",
            )  # fmt: skip
            user = {
                _ARG_WEIGHTS: (self.w_md, True),
                _ARG_DIFF_DST: (self.y_md, True),
                _ARG_DIFF_SRC: (self.x_md, False),
            }
            self._input_grad = _Step(lib, _Owned(lib, pd, "dnnl_primitive_desc_destroy"), user)
        self._input_grad.run({_ARG_WEIGHTS: w, _ARG_DIFF_DST: g, _ARG_DIFF_SRC: out})

    def weight_grad(self, g: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
        if self._weight_grad is None:
            lib, pd = self.lib, _vp()
            lib.ok(
                lib.lib.dnnl_convolution_backward_weights_primitive_desc_create(
                    ctypes.byref(pd), lib.engine, _CONV_DIRECT, self.any[0].handle,
                    self.w_any.handle, None, self.any[1].handle, *self.geometry,
                    self._hint().handle, None,
                ),
                "planning a convolution's weight gradient",
            )  # fmt: skip
            user = {
                _ARG_SRC: (self.x_md, True),
                _ARG_DIFF_DST: (self.y_md, True),
                _ARG_DIFF_WEIGHTS: (self.w_md, False),
            }
            self._weight_grad = _Step(lib, _Owned(lib, pd, "dnnl_primitive_desc_destroy"), user)
        self._weight_grad.run({_ARG_SRC: x, _ARG_DIFF_DST: g, _ARG_DIFF_WEIGHTS: out})


class MaxPoolPlan:
    """2-D max pooling of one geometry, forward and gradient, on NCHW arrays. The
    forward also writes a workspace, where each window's maximum was (the first in
    row-major order, as PyTorch's), which the gradient reads. oneDNN skips NaN where
    PyTorch's maximum is NaN, so the caller keeps inputs with NaN away from it.

    oneDNN pools NCHW itself only with a generic loop ("simple_nchw"), which measured
    20 ms on a (128, 16, 28, 28) float32 image on one core, ten times NumPy's; its
    JIT kernels, on a channel-blocked layout, 0.33 ms. So the plan takes the first
    of NCHW, nChw16c, nChw8c and nhwc for which oneDNN has a JIT kernel on this
    machine, with reorders from and to NCHW around it. Where it has none (dilated
    windows: its reference loop) ``jit`` is False, and the caller pools on NumPy's
    path."""

    LAYOUTS = (_TAG_ABCD16B, _TAG_ABCD8B, _TAG_ACDB)

    def __init__(self, lib: Library, x_shape, out_hw, kernel_size, stride, padding, dilation):
        self.lib = lib
        n, c = x_shape[:2]
        y_shape = (n, c, *out_hw)
        self.x_md, self.y_md = lib.desc(tuple(x_shape), _TAG_ABCD), lib.desc(y_shape, _TAG_ABCD)
        geometry = (
            _Dims(*stride),
            _Dims(*kernel_size),
            _Dims(*(d - 1 for d in dilation)),
            _Dims(*padding),
            _Dims(*padding),
        )
        plain = None
        for tag in (_TAG_ABCD, *self.LAYOUTS):
            x_md, y_md = lib.desc(tuple(x_shape), tag), lib.desc(y_shape, tag)
            pd = _vp()
            lib.ok(
                lib.lib.dnnl_pooling_forward_primitive_desc_create(
                    ctypes.byref(pd), lib.engine, _FORWARD_TRAINING, _POOL_MAX,
                    x_md.handle, y_md.handle, *geometry, None,
                ),
                "planning a max pooling",
            )  # fmt: skip
            fwd_pd = _Owned(lib, pd, "dnnl_primitive_desc_destroy")
            self.jit = lib.impl(fwd_pd).startswith("jit")
            if self.jit:
                break
            plain = plain or (x_md, y_md, fwd_pd)
        else:  # no JIT kernel on any layout (dilation): NCHW as it is, no reorders
            x_md, y_md, fwd_pd = plain
        ws = lib.lib.dnnl_primitive_desc_query_md(fwd_pd.handle, _QUERY_EXEC_ARG_MD, _ARG_WORKSPACE)
        self.workspace_bytes = lib.lib.dnnl_memory_desc_get_size(ws)
        user = {_ARG_SRC: (self.x_md, True), _ARG_DST: (self.y_md, False)}
        self._forward = _Step(lib, fwd_pd, user, {_ARG_WORKSPACE: ws})
        self.kernel = self._forward.kernel
        bpd = _vp()
        lib.ok(
            lib.lib.dnnl_pooling_backward_primitive_desc_create(
                ctypes.byref(bpd), lib.engine, _POOL_MAX, x_md.handle,
                y_md.handle, *geometry, fwd_pd.handle, None,
            ),
            "planning a max pooling's gradient",
        )  # fmt: skip
        user = {_ARG_DIFF_DST: (self.y_md, True), _ARG_DIFF_SRC: (self.x_md, False)}
        bwd_pd = _Owned(lib, bpd, "dnnl_primitive_desc_destroy")
        self._backward = _Step(lib, bwd_pd, user, {_ARG_WORKSPACE: ws})
        self._keep = (x_md, y_md)

    def kernels(self) -> dict[str, str]:
        return {"max_pool": self.kernel}

    def forward(self, x: np.ndarray, out: np.ndarray, workspace: np.ndarray) -> None:
        self._forward.run({_ARG_SRC: x, _ARG_DST: out, _ARG_WORKSPACE: workspace})

    def backward(self, g: np.ndarray, workspace: np.ndarray, out: np.ndarray) -> None:
        self._backward.run({_ARG_DIFF_DST: g, _ARG_WORKSPACE: workspace, _ARG_DIFF_SRC: out})


def _run(lib: Library, prim: _Primitive, arrays: dict[int, np.ndarray]) -> None:
    with lib.lock:
        prim.run(arrays)
        lib.ok(lib.lib.dnnl_stream_wait(lib.stream))


class MatmulPlan:
    """One float32 matrix product ``a @ b`` of (m, k) by (k, n) into a C-ordered
    (m, n) result, for one pair of operand layouts (strides in elements: a
    transposed view is read as it is, no copy). oneDNN's GEMM runs on its OpenMP
    threads, the pool its other primitives use, so a step's products and its
    convolutions, normalisations and softmaxes take turns on the cores instead of
    contending with OpenBLAS's own threads for them."""

    def __init__(self, lib: Library, m: int, k: int, n: int, a_strides, b_strides) -> None:
        self.lib = lib
        self._mds = (
            lib.strided((m, k), a_strides),
            lib.strided((k, n), b_strides),
            lib.desc((m, n), _TAG_AB),
        )
        a, b, c = (md.handle for md in self._mds)
        self.pd = lib.primitive_desc(
            lib.lib.dnnl_matmul_primitive_desc_create, a, b, None, c, None,
            what="planning a matrix product",
        )  # fmt: skip
        self.kernel = lib.impl(self.pd)
        self.prim = _Primitive(lib, self.pd, {_ARG_SRC: a, _ARG_WEIGHTS: b, _ARG_DST: c})

    def kernels(self) -> dict[str, str]:
        return {"matmul": self.kernel}

    def run(self, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        _run(self.lib, self.prim, {_ARG_SRC: a, _ARG_WEIGHTS: b, _ARG_DST: out})


class LayerNormPlan:
    """(x - mean) / sqrt(var + eps) over the rows of a C-ordered float32 (rows, n)
    array, with each row's mean and (biased) variance, and its gradient in x from
    those statistics. ``affine``: times a scale and plus a shift, both (n,), whose
    gradients the backward computes too (in the same pass)."""

    def __init__(self, lib: Library, rows: int, n: int, eps: float, affine: bool) -> None:
        self.lib = lib
        self._mds = (
            lib.desc((rows, n), _TAG_AB),
            lib.desc((rows,), _TAG_A),
            lib.desc((n,), _TAG_A),
        )
        x, stat, vec = (md.handle for md in self._mds)
        flags = _USE_SCALE | _USE_SHIFT if affine else 0
        fwd = lib.primitive_desc(
            lib.lib.dnnl_layer_normalization_forward_primitive_desc_create,
            _FORWARD_TRAINING, x, x, stat, eps, flags, None,
            what="planning a layer normalisation",
        )  # fmt: skip
        bwd = lib.primitive_desc(
            lib.lib.dnnl_layer_normalization_backward_primitive_desc_create,
            _BACKWARD if affine else _BACKWARD_DATA, x, x, x, stat, eps, flags, fwd.handle, None,
            what="planning a layer normalisation's gradient",
        )  # fmt: skip
        self.kernel = lib.impl(fwd)
        self._pds = (fwd, bwd)
        both = {_ARG_SRC: x, _ARG_MEAN: stat, _ARG_VARIANCE: stat}
        if affine:
            both.update({_ARG_SCALE: vec, _ARG_SHIFT: vec})
        self._forward = _Primitive(lib, fwd, {**both, _ARG_DST: x})
        back = {**both, _ARG_DIFF_DST: x, _ARG_DIFF_SRC: x}
        if affine:
            back.update({_ARG_DIFF_SCALE: vec, _ARG_DIFF_SHIFT: vec})
        self._backward = _Primitive(lib, bwd, back)

    def kernels(self) -> dict[str, str]:
        return {"layer_normalize": self.kernel}

    def forward(self, x, out, mean, var, scale=None, shift=None) -> None:
        arrays = {_ARG_SRC: x, _ARG_DST: out, _ARG_MEAN: mean, _ARG_VARIANCE: var}
        if scale is not None:
            arrays.update({_ARG_SCALE: scale, _ARG_SHIFT: shift})
        _run(self.lib, self._forward, arrays)

    def backward(self, g, x, mean, var, out, scale=None, shift=None, d_scale=None, d_shift=None):
        arrays = {_ARG_SRC: x, _ARG_DIFF_DST: g, _ARG_DIFF_SRC: out}
        arrays.update({_ARG_MEAN: mean, _ARG_VARIANCE: var})
        if scale is not None:
            arrays.update({_ARG_SCALE: scale, _ARG_SHIFT: shift})
            arrays.update({_ARG_DIFF_SCALE: d_scale, _ARG_DIFF_SHIFT: d_shift})
        _run(self.lib, self._backward, arrays)


class SoftmaxPlan:
    """The softmax of a C-ordered float32 array of ``shape`` along its last axis
    (oneDNN's accurate softmax: the row's maximum subtracted first), and its
    gradient from the result."""

    def __init__(self, lib: Library, shape: tuple[int, ...]) -> None:
        self.lib = lib
        self._md = lib.strided(shape, _c_strides(shape))
        d = self._md.handle
        axis = len(shape) - 1
        fwd = lib.primitive_desc(
            lib.lib.dnnl_softmax_forward_primitive_desc_create,
            _FORWARD_TRAINING, _SOFTMAX_ACCURATE, d, d, axis, None, what="planning a softmax",
        )  # fmt: skip
        bwd = lib.primitive_desc(
            lib.lib.dnnl_softmax_backward_primitive_desc_create,
            _SOFTMAX_ACCURATE, d, d, d, axis, fwd.handle, None,
            what="planning a softmax's gradient",
        )  # fmt: skip
        self.kernel = lib.impl(fwd)
        # Where oneDNN has only its reference loop for the gradient (AVX2 machines:
        # 1.65 ms on a (128, 4, 16, 16) float32 array, NumPy's three passes 0.45 ms),
        # the caller computes it with NumPy.
        self.backward_jit = lib.impl(bwd).startswith("jit")
        self._pds = (fwd, bwd)
        self._forward = _Primitive(lib, fwd, {_ARG_SRC: d, _ARG_DST: d})
        self._backward = _Primitive(lib, bwd, {_ARG_DST: d, _ARG_DIFF_DST: d, _ARG_DIFF_SRC: d})

    def kernels(self) -> dict[str, str]:
        return {"softmax": self.kernel}

    def forward(self, x, out) -> None:
        _run(self.lib, self._forward, {_ARG_SRC: x, _ARG_DST: out})

    def backward(self, g, ans, out) -> None:
        _run(self.lib, self._backward, {_ARG_DST: ans, _ARG_DIFF_DST: g, _ARG_DIFF_SRC: out})


def _c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


_PLANNERS: weakref.WeakSet = weakref.WeakSet()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_locks_in_child)

#: Plans kept, most recently used last (a geometry per layer and batch size; a
#: transformer's matrix products, normalisations and softmaxes are a few dozen).
MAX_PLANS = 256


class Planner:
    """Plans by geometry, the least recently used dropped past :data:`MAX_PLANS`."""

    def __init__(self, lib: Library) -> None:
        self.lib = lib
        self.plans: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        _PLANNERS.add(self)

    def plan(self, x_shape, w_shape, out_hw, stride, padding, dilation, groups) -> ConvPlan:
        key = (tuple(x_shape), tuple(w_shape), *map(tuple, (stride, padding, dilation)), groups)
        return self._get(key, lambda: ConvPlan(self.lib, *key[:2], tuple(out_hw), *key[2:]))

    def max_pool(self, x_shape, out_hw, kernel_size, stride, padding, dilation) -> MaxPoolPlan:
        key = ("max_pool", tuple(x_shape), *map(tuple, (kernel_size, stride, padding, dilation)))
        return self._get(key, lambda: MaxPoolPlan(self.lib, x_shape, tuple(out_hw), *key[2:]))

    def lstm(self, steps: int, batch: int, inputs: int, hidden: int) -> LstmPlan:
        key = ("lstm", steps, batch, inputs, hidden)
        return self._get(key, lambda: LstmPlan(self.lib, *key[1:]))

    def matmul(self, m: int, k: int, n: int, a_strides, b_strides) -> MatmulPlan:
        key = ("matmul", m, k, n, tuple(a_strides), tuple(b_strides))
        return self._get(key, lambda: MatmulPlan(self.lib, *key[1:]))

    def layer_norm(self, rows: int, n: int, eps: float, affine: bool = False) -> LayerNormPlan:
        key = ("layer_normalize", rows, n, float(eps), bool(affine))
        return self._get(key, lambda: LayerNormPlan(self.lib, *key[1:]))

    def softmax(self, shape: tuple[int, ...]) -> SoftmaxPlan:
        key = ("softmax", tuple(shape))
        return self._get(key, lambda: SoftmaxPlan(self.lib, key[1]))

    def _get(self, key: tuple, make):
        with self._lock:
            plan = self.plans.get(key)
            if plan is None:
                plan = self.plans[key] = make()
                if len(self.plans) > MAX_PLANS:
                    self.plans.popitem(last=False)
            else:
                self.plans.move_to_end(key)
            return plan


class LstmPlan:
    """One unidirectional single-layer LSTM (PyTorch's cell, gates i, f, g, o, which
    are oneDNN's i, f, c~, o) of one geometry: T steps, batch N, I inputs, H hidden
    units, float32. The forward writes a workspace (each step's gates and states)
    that the backward reads; the weights stay in PyTorch's (4H, I) and (4H, H)
    arrays, with oneDNN's own layout for them chosen by oneDNN and reordered to.
    The biases come summed (b_ih + b_hh, (4H,))."""

    def __init__(self, lib: Library, steps: int, batch: int, inputs: int, hidden: int) -> None:
        self.lib = lib
        t, n, i, h = steps, batch, inputs, hidden
        d = lib.desc
        self.src_layer, self.dst_layer = d((t, n, i), _TAG_ABC), d((t, n, h), _TAG_ABC)
        self.state = d((1, 1, n, h), _TAG_ABCD)  # src/dst iter and iter_c: ldnc
        self.w_layer, self.w_iter = d((1, 1, i, 4, h), _TAG_ABDEC), d((1, 1, h, 4, h), _TAG_ABDEC)
        self.w_layer_any = d((1, 1, i, 4, h), _TAG_ANY)
        self.w_iter_any = d((1, 1, h, 4, h), _TAG_ANY)
        self.bias = d((1, 1, 4, h), _TAG_ABCD)  # ldgo
        st, b = self.state.handle, self.bias.handle
        layer_descs = (self.src_layer.handle, st, st)
        pd = _vp()
        lib.ok(
            lib.lib.dnnl_lstm_forward_primitive_desc_create(
                ctypes.byref(pd), lib.engine, _FORWARD_TRAINING, _LEFT2RIGHT, *layer_descs,
                self.w_layer_any.handle, self.w_iter_any.handle, None, None, b,
                self.dst_layer.handle, st, st, 0, None,
            ),
            "planning an LSTM",
        )  # fmt: skip
        self.fwd_pd = _Owned(lib, pd, "dnnl_primitive_desc_destroy")
        ws = lib.lib.dnnl_primitive_desc_query_md(pd, _QUERY_EXEC_ARG_MD, _ARG_WORKSPACE)
        self.workspace_bytes = lib.lib.dnnl_memory_desc_get_size(ws)
        self._forward = _Step(lib, self.fwd_pd, self._user(True), {_ARG_WORKSPACE: ws})
        bpd = _vp()
        lib.ok(
            lib.lib.dnnl_lstm_backward_primitive_desc_create(
                ctypes.byref(bpd), lib.engine, _BACKWARD, _LEFT2RIGHT, *layer_descs,
                self.w_layer_any.handle, self.w_iter_any.handle, None, None, b,
                self.dst_layer.handle, st, st, *layer_descs,
                self.w_layer_any.handle, self.w_iter_any.handle, None, None, b,
                self.dst_layer.handle, st, st, 0, pd, None,
            ),
            "planning an LSTM's gradient",
        )  # fmt: skip
        self.bwd_pd = _Owned(lib, bpd, "dnnl_primitive_desc_destroy")
        self._backward = _Step(lib, self.bwd_pd, self._user(False), {_ARG_WORKSPACE: ws})
        self.kernel = self._forward.kernel

    def _user(self, forward: bool) -> dict[int, tuple[_Owned, bool]]:
        """Each argument's layout in the caller's arrays, and whether it is an input."""
        st = self.state
        user = {
            _ARG_SRC: (self.src_layer, True),
            _ARG_SRC_ITER: (st, True),
            _ARG_SRC_ITER_C: (st, True),
            _ARG_WEIGHTS: (self.w_layer, True),
            _ARG_WEIGHTS_ITER: (self.w_iter, True),
            _ARG_BIAS: (self.bias, True),
            _ARG_DST: (self.dst_layer, forward),
            _ARG_DST_ITER: (st, forward),
            _ARG_DST_ITER_C: (st, forward),
        }
        if forward:
            for arg in (_ARG_DST, _ARG_DST_ITER, _ARG_DST_ITER_C):
                user[arg] = (user[arg][0], False)
            return user
        for arg in (_ARG_DST, _ARG_DST_ITER, _ARG_DST_ITER_C):
            user[arg] = (user[arg][0], True)
        user.update({
            _ARG_DIFF_DST: (self.dst_layer, True),
            _ARG_DIFF_DST_ITER: (st, True),
            _ARG_DIFF_DST_ITER_C: (st, True),
            _ARG_DIFF_SRC: (self.src_layer, False),
            _ARG_DIFF_SRC_ITER: (st, False),
            _ARG_DIFF_SRC_ITER_C: (st, False),
            _ARG_DIFF_WEIGHTS: (self.w_layer, False),
            _ARG_DIFF_WEIGHTS_ITER: (self.w_iter, False),
            _ARG_DIFF_BIAS: (self.bias, False),
        })  # fmt: skip
        return user

    def kernels(self) -> dict[str, str]:
        return {"lstm": self.kernel}

    def forward(self, x, h0, c0, w_ih, w_hh, b, hs, h_last, c_last, workspace) -> None:
        """x (T, N, I), h0 and c0 (N, H), w_ih (4H, I), w_hh (4H, H), b (4H,), all
        C-contiguous float32, into hs (T, N, H), h_last and c_last (N, H), and the
        workspace (``workspace_bytes`` bytes)."""
        self._forward.run({
            _ARG_SRC: x, _ARG_SRC_ITER: h0, _ARG_SRC_ITER_C: c0, _ARG_WEIGHTS: w_ih,
            _ARG_WEIGHTS_ITER: w_hh, _ARG_BIAS: b, _ARG_DST: hs, _ARG_DST_ITER: h_last,
            _ARG_DST_ITER_C: c_last, _ARG_WORKSPACE: workspace,
        })  # fmt: skip

    def backward(self, forward_args, outputs, grads_out, workspace, grads_in) -> None:
        """``forward_args`` and ``outputs`` as :meth:`forward` took them (x, h0, c0,
        w_ih, w_hh, b; hs, h_last, c_last); ``grads_out`` the gradients of the three
        outputs; into ``grads_in``, the six inputs' gradients (oneDNN adds the weights'
        and bias's into its buffers, so they are cleared first)."""
        x, h0, c0, w_ih, w_hh, b = forward_args
        hs, h_last, c_last = outputs
        dx, dh0, dc0, dw_ih, dw_hh, db = grads_in
        g_hs, g_h, g_c = grads_out
        self._backward.run(
            {
                _ARG_SRC: x, _ARG_SRC_ITER: h0, _ARG_SRC_ITER_C: c0, _ARG_WEIGHTS: w_ih,
                _ARG_WEIGHTS_ITER: w_hh, _ARG_BIAS: b, _ARG_DST: hs, _ARG_DST_ITER: h_last,
                _ARG_DST_ITER_C: c_last, _ARG_WORKSPACE: workspace, _ARG_DIFF_DST: g_hs,
                _ARG_DIFF_DST_ITER: g_h, _ARG_DIFF_DST_ITER_C: g_c, _ARG_DIFF_SRC: dx,
                _ARG_DIFF_SRC_ITER: dh0, _ARG_DIFF_SRC_ITER_C: dc0, _ARG_DIFF_WEIGHTS: dw_ih,
                _ARG_DIFF_WEIGHTS_ITER: dw_hh, _ARG_DIFF_BIAS: db,
            },
            zero=(_ARG_DIFF_WEIGHTS, _ARG_DIFF_WEIGHTS_ITER, _ARG_DIFF_BIAS),
        )  # fmt: skip
