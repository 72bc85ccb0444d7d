"""B7 (the ViT step) under three configurations of chainrule's libraries, and torch
eager, alternating in one process: where a step's threaded work runs.

- ``numpy``: NumPy's path (OpenBLAS on its own threads for the products);
- ``onednn``: the oneDNN backend: products, layer norms and softmaxes on oneDNN's
  OpenMP pool, OpenBLAS held to one thread;
- ``onednn, products on numpy``: the same, but the products left on OpenBLAS (now
  on one thread), to show why they move with the rest.

The same compiled (or nn) step runs in all three: the backend is chosen at each
call. Prints each configuration's median ms per step and the median of its
per-round ratios to torch's and to NumPy's path::

    python benchmarks/run.py ...      # the harness (B7 has onednn peers)
    python benchmarks/b7_backends.py --step jit --rounds 20

Needs torch and onednn-cpu-gomp (the bench and test extras)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.cases import seq  # noqa: E402
from bench.env import cr  # noqa: E402
from bench.timing import seconds_per_call  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", choices=("jit", "nn"), default="jit")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=3, help="steps per timed round")
    args = parser.parse_args()

    from chainrule import conv_backend

    state, x, labels = seq.seq_problem("B7")
    torch_step = seq.seq_torch("B7", state, x, labels)
    make = seq.seq_chainrule_jit if args.step == "jit" else seq.seq_chainrule_nn
    cr.set_conv_backend("onednn")  # plans made while tracing; any backend runs the step
    step = make("B7", state, x, labels)
    oneDNN_products = conv_backend.matmul

    def declined(*a, **k):
        return None

    configs = {
        "torch eager": (None, None),
        "numpy": ("numpy", oneDNN_products),
        "onednn": ("onednn", oneDNN_products),
        "onednn, products on numpy": ("onednn", declined),
    }

    def timed(name: str) -> float:
        backend, products = configs[name]
        fn = torch_step
        if backend is not None:
            cr.set_conv_backend(backend)
            conv_backend.matmul = products
            fn = step
        fn()  # warm, then timed
        return seconds_per_call(fn, args.calls) * 1e3

    times: dict[str, list[float]] = {name: [] for name in configs}
    try:
        for _ in range(args.rounds):
            for name in configs:
                times[name].append(timed(name))
    finally:
        conv_backend.matmul = oneDNN_products
        cr.set_conv_backend("numpy")
    torch_ms, numpy_ms = np.array(times["torch eager"]), np.array(times["numpy"])
    print(f"B7 {args.step} step, {args.rounds} rounds of {args.calls} calls")
    for name, ms in times.items():
        ms = np.array(ms)
        print(
            f"  {name:28s} {np.median(ms):7.2f} ms   x torch {np.median(ms / torch_ms):5.3f}"
            f"   x numpy {np.median(ms / numpy_ms):5.3f}"
        )


if __name__ == "__main__":
    main()
