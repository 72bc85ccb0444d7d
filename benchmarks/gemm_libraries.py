"""Single-precision GEMM speed of three libraries at the shapes of the B6 (LSTM) and B5
(CNN) training steps: NumPy's matmul (OpenBLAS), torch.mm on views of the same
arrays (torch's bundled MKL), and Intel MKL from PyPI (``pip install mkl``) called
through ``cblas_sgemm`` in ``libmkl_rt`` with ctypes.

    python benchmarks/gemm_libraries.py --threads 1 [--rounds 15]
    python benchmarks/gemm_libraries.py --threads 2 --mkl-layer gnu

Each round times every library on every shape once (a batch of calls sized to a
few milliseconds), in an order rotated from round to round; the figures are
medians over rounds, and the ratio is the median of per-round ratios
(OpenBLAS time / other time). Every library's result is first compared with
NumPy's. Informative only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--rounds", type=int, default=15)
parser.add_argument(
    "--mkl-layer",
    choices=("sequential", "gnu", "intel"),
    default=None,
    help="MKL's threading layer (default: sequential with one thread, gnu otherwise)",
)
parser.add_argument(
    "--clock",
    choices=("cpu", "wall"),
    default=None,
    help="CPU time of the process (default with one thread: less moved by other "
    "processes on a shared machine) or wall-clock time (default with more)",
)
parser.add_argument("--torch-first", action="store_true", help="import torch before MKL")
args = parser.parse_args()

# Thread counts must be set before the libraries start their pools.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import ctypes  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
LAYERS = {"intel": 0, "sequential": 1, "gnu": 3}


def load_mkl(layer: str) -> ctypes.CDLL:
    try:
        files = [f for f in metadata.files("mkl") or () if f.name.startswith("libmkl_rt.so")]
    except metadata.PackageNotFoundError:
        files = []
    if not files:
        sys.exit("this compares with Intel MKL, which is not installed: pip install mkl")
    lib = ctypes.CDLL(str(Path(files[0].locate()).resolve()))
    lib.MKL_Set_Threading_Layer.argtypes = [ctypes.c_int]
    lib.MKL_Set_Threading_Layer(LAYERS[layer])
    lib.MKL_Set_Num_Threads(args.threads)
    lib.cblas_sgemm.restype = None
    lib.cblas_sgemm.argtypes = [ctypes.c_int] * 6 + [
        ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
        ctypes.c_float, ctypes.c_void_p, ctypes.c_int,
    ]  # fmt: skip
    return lib


clock_name = args.clock or ("cpu" if args.threads == 1 else "wall")
clock = time.process_time if clock_name == "cpu" else time.perf_counter
layer = args.mkl_layer or ("sequential" if args.threads == 1 else "gnu")
if args.torch_first:
    import torch

    mkl = load_mkl(layer)
else:
    mkl = load_mkl(layer)
    import torch
torch.set_num_threads(args.threads)

# (name, M, N, K, A transposed, B transposed): C (M, N) = op(A) op(B), row-major, as
# chainrule's primitives call them (a transposed operand is a .T view of a
# contiguous array).
SHAPES = [
    ("B6 fwd  W_hh h          512x128x128", 512, 128, 128, False, False),
    ("B6 bwd  W_hh^T da       128x128x512", 128, 128, 512, False, False),
    ("B6 bwd  da h^T          512x128x128", 512, 128, 128, False, True),
    ("B6 in   W_ih [x;1]      512x3584x29", 512, 28 * 128, 29, False, False),
    ("B5 c1 fwd  w cols       16x100352x10", 16, 128 * 784, 10, False, False),
    ("B5 c1 dW   g cols^T     16x9x100352", 16, 9, 128 * 784, False, True),
    ("B5 c2 fwd  w cols       32x7252x145", 32, 37 * 196, 145, False, False),
    ("B5 c2 dW   g cols^T     32x144x7252", 32, 144, 37 * 196, False, True),
    ("B5 c2 dx   w^T g        144x28672x32", 144, 128 * 224, 32, False, False),
    ("B5 fc1     x W^T        128x128x1568", 128, 128, 1568, False, True),
]


def operands(m, n, k, ta, tb, rng):
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    return (a.T if ta else a), (b.T if tb else b), np.empty((m, n), np.float32)


def mkl_call(a, b, c):
    """cblas_sgemm on NumPy arrays whose last axis or first axis is contiguous."""
    m, k = a.shape
    n = b.shape[1]
    ta, lda = (TRANS, a.strides[1] // 4) if a.strides[0] == 4 else (NO_TRANS, a.strides[0] // 4)
    tb, ldb = (TRANS, b.strides[1] // 4) if b.strides[0] == 4 else (NO_TRANS, b.strides[0] // 4)
    pa, pb, pc = a.ctypes.data, b.ctypes.data, c.ctypes.data
    fn = mkl.cblas_sgemm

    def run():
        fn(ROW_MAJOR, ta, tb, m, n, k, 1.0, pa, lda, pb, ldb, 0.0, pc, n)

    return run


def runners(a, b, c):
    ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
    return {
        "openblas": lambda: np.matmul(a, b, out=c),
        "torch": lambda: torch.mm(ta, tb, out=tc),
        "mkl": mkl_call(a, b, c),
    }


def main() -> None:
    rng = np.random.default_rng(0)
    cases = []
    for name, m, n, k, ta, tb in SHAPES:
        a, b, c = operands(m, n, k, ta, tb, rng)
        want = a.astype(np.float64) @ b.astype(np.float64)
        run = runners(a, b, c)
        for lib, fn in run.items():
            c.fill(np.nan)
            fn()
            err = np.max(np.abs(c - want)) / np.max(np.abs(want))
            assert err < 1e-5, f"{lib} {name}: relative error {err:.2e}"
        # calls per sample: about 10 ms of OpenBLAS time
        start = time.perf_counter()
        for _ in range(3):
            run["openblas"]()
        calls = max(1, int(0.010 / ((time.perf_counter() - start) / 3)))
        cases.append((name, 2.0 * m * n * k, calls, run))

    libs = ["openblas", "torch", "mkl"]
    times = {(name, lib): [] for name, *_ in cases for lib in libs}
    for r in range(args.rounds):
        order = libs[r % 3 :] + libs[: r % 3]
        for name, _, calls, run in cases:
            for lib in order:
                fn = run[lib]
                start = clock()
                for _ in range(calls):
                    fn()
                times[name, lib].append((clock() - start) / calls)

    print(
        f"threads={args.threads} mkl layer={layer} rounds={args.rounds} clock={clock_name} "
        f"load={os.getloadavg()[0]:.2f} (all results within 1e-5 rel of float64)"
    )
    print(f"{'shape':38} {'OpenBLAS':>9} {'torch':>9} {'MKL':>9}   GFLOP/s O/T/M")
    print(f"{'':38} {'us':>9} {'us':>9} {'us':>9}   ratio OpenBLAS/torch, OpenBLAS/MKL")
    for name, flops, _, _ in cases:
        med = {lib: statistics.median(times[name, lib]) for lib in libs}
        rt = statistics.median(o / t for o, t in zip(times[name, "openblas"], times[name, "torch"]))
        rm = statistics.median(o / t for o, t in zip(times[name, "openblas"], times[name, "mkl"]))
        rates = "/".join(f"{flops / med[lib] / 1e9:.0f}" for lib in libs)
        print(
            f"{name:38} {med['openblas'] * 1e6:9.1f} {med['torch'] * 1e6:9.1f} "
            f"{med['mkl'] * 1e6:9.1f}   {rates:>12}  {rt:5.2f}x {rm:5.2f}x"
        )


if __name__ == "__main__":
    sys.exit(main())
