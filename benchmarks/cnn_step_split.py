"""Where chainrule's B5 CNN step spends its time, and its ratio to torch eager, with
one BLAS thread and one torch thread (figures that a shared machine moves less).

    OPENBLAS_NUM_THREADS=1 python benchmarks/cnn_step_split.py [--repeats 9]

The split times each primitive's forward and derivative rules where they run
(outermost call only, so nothing is counted twice) and groups them by kind; what
is left of the step is Python: the engine, Tensors, modules and the SGD update.
The ratio is the median over repeats of (chainrule's step / torch's), the two
timed next to each other. Informative only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.cases.b5 import b5_chainrule_nn, b5_problem, b5_torch  # noqa: E402

KINDS = {
    "conv2d": "convolution (window copies + GEMM)",
    "conv2d_input_grad": "convolution (window copies + GEMM)",
    "conv2d_weight_grad": "convolution (window copies + GEMM)",
    "im2col": "im2col / col2im",
    "col2im": "im2col / col2im",
    "linear": "GEMM (with bias adds)",
    "max_pool2d": "max-pool",
    "max_pool2d_scatter": "max-pool",
    "max_pool2d_gather": "max-pool",
}
OTHER = "elementwise, reductions, reshapes"


def instrument() -> dict[str, float]:
    """Wrap every primitive's forward and rules with a timer; returns the totals."""
    from chainrule.ops.primitive import PRIMITIVES

    totals: dict[str, float] = collections.defaultdict(float)
    depth = [0]

    def timed(kind: str, fn: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    totals[kind] += time.perf_counter() - start

        return run

    for name, prim in PRIMITIVES.items():
        kind = KINDS.get(name, OTHER)
        prim.forward = timed(kind, prim.forward)
        if not prim.variadic and prim.vjps:
            prim.vjps = tuple(None if r is None else timed(kind, r) for r in prim.vjps)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    problem = b5_problem()
    ours, theirs = b5_chainrule_nn(*problem)[0], b5_torch(*problem)[0]
    for step in (ours, theirs, ours, theirs):
        step()
    ratios, mine = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours()
        t1 = time.perf_counter()
        theirs()
        t2 = time.perf_counter()
        ratios.append((t1 - t0) / (t2 - t1))
        mine.append(t1 - t0)
    print(f"load average {os.getloadavg()}")
    print(
        f"chainrule step {statistics.median(mine) * 1e3:.1f} ms, "
        f"paired x torch eager {statistics.median(ratios):.2f} (one thread each)"
    )
    totals = instrument()
    step = b5_chainrule_nn(*problem)[0]
    step()
    totals.clear()
    start = time.perf_counter()
    for _ in range(args.repeats):
        step()
    whole = (time.perf_counter() - start) / args.repeats
    inside = sum(totals.values()) / args.repeats
    for kind, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        share = seconds / args.repeats / whole
        print(f"  {kind:40s} {seconds / args.repeats * 1e3:8.2f} ms  {100 * share:5.1f}%")
    rest = whole - inside
    python = "Python: engine, Tensors, modules, SGD"
    print(f"  {python:40s} {rest * 1e3:8.2f} ms  {100 * rest / whole:5.1f}%")


if __name__ == "__main__":
    main()
