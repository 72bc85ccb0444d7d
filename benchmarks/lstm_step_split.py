"""Where chainrule's B6 LSTM step spends its time, and its ratio to torch eager, with
one BLAS thread and one torch thread (figures that a shared machine moves less).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/lstm_step_split.py [--repeats 11]

Timed side by side in CPU time of this process, medians over repeats: torch's step,
chainrule's step (nn, SGD), the LSTM primitive's forward and backward functions
on arrays of the step's shapes, and the GEMMs they make replayed alone (the
recurrence, forward and backward, and the input projection with its gradient).
GEMM = the replayed products; LSTM elementwise = the LSTM's two functions minus
their GEMMs; the rest of the step = graph, Python, the Linear and cross-entropy
tail and the SGD update. The ratio is the median of per-pair ratios (chainrule's
step / torch's, timed next to each other). Informative only: nothing here passes
or fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.cases import seq  # noqa: E402

from chainrule.ops import recurrent, saved  # noqa: E402

STEPS, WIDTH, HIDDEN, BATCH = 28, seq.SEQ_SHAPE[2], seq.LSTM_HIDDEN, seq.SEQ_BATCH


def lstm_pieces() -> dict:
    """The LSTM's forward and backward functions and the step's GEMMs, on arrays of
    the step's shapes and layouts (nn.LSTM's: feature-major)."""
    rng = np.random.default_rng(0)
    f32, h, n = np.float32, HIDDEN, BATCH
    x_t = rng.normal(size=(STEPS, 4 * h, n)).astype(f32)
    xproj = x_t.swapaxes(1, 2)
    h0 = np.zeros((n, h), f32)
    w = (rng.normal(size=(4 * h, h)) * 0.1).astype(f32)
    gy = np.zeros((STEPS, n, 2 * h), f32)
    gy[-1, :, :h] = rng.normal(size=(n, h))  # the loss reads the last h only
    ans = recurrent._lstm_forward(xproj, h0, h0, w)
    states, acts, tanh_c = saved.kept(recurrent._saved, ans, (xproj, h0, h0, w))
    w_t = np.ascontiguousarray(w.T)
    w_in = rng.random((4 * h, WIDTH + 1), f32)  # [W_ih | b]
    seq_in = rng.random((STEPS, WIDTH + 1, n), f32)  # [x_t; 1]
    gates, dh, dw = np.empty((4 * h, n), f32), np.empty((h, n), f32), np.empty((4 * h, h), f32)

    def gemm_forward() -> None:
        for t in range(STEPS):
            np.matmul(w, states[t, :h], out=gates)

    def gemm_backward() -> None:
        for t in range(STEPS):
            np.matmul(w_t, acts[t], out=dh)
            np.matmul(acts[t], states[t, :h].T, out=dw)

    def gemm_input() -> None:
        np.matmul(w_in, seq_in)
        np.matmul(x_t, seq_in.swapaxes(1, 2)).sum(axis=0)

    return {
        "lstm forward": lambda: recurrent._lstm_forward(xproj, h0, h0, w),
        "lstm backward": lambda: recurrent._walk_back_arrays(gy, w, states, acts, tanh_c),
        "gemm recurrence forward": gemm_forward,
        "gemm recurrence backward": gemm_backward,
        "gemm input projection and its gradient": gemm_input,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    problem = seq.seq_problem("B6")
    fns = {
        "torch": seq.seq_torch("B6", *problem),
        "chainrule": seq.seq_chainrule_nn("B6", *problem),
    }
    fns.update(lstm_pieces())
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(args.repeats):
        for name, fn in fns.items():
            t0 = time.process_time()
            fn()
            times[name].append(time.process_time() - t0)
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    ratio = statistics.median(c / t for c, t in zip(times["chainrule"], times["torch"]))
    gemm = sum(v for k, v in ms.items() if k.startswith("gemm"))
    recurrence = ms["gemm recurrence forward"] + ms["gemm recurrence backward"]
    elementwise = ms["lstm forward"] + ms["lstm backward"] - recurrence
    for name, value in ms.items():
        print(f"{name:40s} {value:7.1f} ms")
    print(f"chainrule / torch (paired)               {ratio:7.2f}x")
    print(f"split: GEMM {gemm:.1f} ms, LSTM elementwise {elementwise:.1f} ms, rest of the step")
    print(f"  (graph, Python, tail, SGD) {ms['chainrule'] - gemm - elementwise:.1f} ms")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
