"""B6 (LSTM) and B5 (CNN) training steps with chainrule's GEMM backend "numpy" and
"mkl" (cr.set_gemm_backend), and torch eager, timed in turn in CPU time of this
process, with one BLAS thread (figures that a shared machine moves less).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
        python benchmarks/gemm_backend_steps.py [--cases B6,B5] [--rounds 15]

Each round runs every peer for a few steps, in an order rotated from round to
round; per peer, the median over rounds of its CPU time per step, and the median
of per-round ratios to the same step under "numpy" and to torch's. Needs the
``mkl`` package. Informative only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.cases import b5, seq  # noqa: E402
from bench.cases.steps import gemm_backend_step, require_gemm_backend  # noqa: E402


def peers(case: str) -> dict:
    """name -> step() for torch, chainrule nn and jit, each under numpy and mkl."""
    if case == "B6":
        problem = seq.seq_problem("B6")
        make = {
            "torch eager": lambda: seq.seq_torch("B6", *problem),
            "nn": lambda: seq.seq_chainrule_nn("B6", *problem),
            "jit": lambda: seq.seq_chainrule_jit("B6", *problem),
        }
    else:
        make = {
            "torch eager": lambda: b5.b5_torch(*b5.b5_problem())[0],
            "nn": lambda: b5.b5_chainrule_nn(*b5.b5_problem())[0],
            "jit": lambda: b5.b5_chainrule_jit(*b5.b5_problem())[0],
        }
    out = {"torch eager": make["torch eager"]()}
    for kind in ("nn", "jit"):
        for backend in ("numpy", "mkl"):
            out[f"{kind} {backend}"] = gemm_backend_step(backend, make[kind]())
    return out


def _ratio(times: dict, a: str, b: str) -> float:
    """The median of per-round ratios of a's time to b's."""
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="B6,B5")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=3, help="steps per peer per round")
    args = parser.parse_args()
    require_gemm_backend("mkl")
    for case in args.cases.split(","):
        steps = peers(case)
        for step in steps.values():  # warm up: first calls allocate and trace
            step()
        names = list(steps)
        times = {name: [] for name in names}
        load = os.getloadavg()[0]
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                start = time.process_time()
                for _ in range(args.steps):
                    steps[name]()
                times[name].append((time.process_time() - start) / args.steps * 1e3)

        print(f"{case}: CPU ms per step, medians of {args.rounds} rounds of {args.steps} steps")
        print(f"  load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end")
        for name in names:
            line = f"  {name:12} {statistics.median(times[name]):7.1f} ms"
            line += f"   x torch {_ratio(times, name, 'torch eager'):5.2f}"
            if name.endswith("mkl"):
                line += f"   x same step on numpy {_ratio(times, name, name[:-3] + 'numpy'):5.2f}"
            print(line)


if __name__ == "__main__":
    main()
