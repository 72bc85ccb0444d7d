"""ceiling: the machine's GEMM rate and the share of it the B2 steps reach."""

from __future__ import annotations

import numpy as np

from bench.cases.b2 import B2_SIZES, b2_chainrule, b2_numpy, b2_problem
from bench.report import CaseReport
from bench.timing import Settings

CEILING_SIZE = 2048
# Multiply-adds of one B2 sample: forward x@W1, a1@W2, a2@W3; backward the same
# three for the weight gradients plus the input gradients of layers 2 and 3 (the
# first layer's input gradient is not needed). Each multiply-add is 2 FLOPs.
B2_MACS_FORWARD = sum(a * b for a, b in zip(B2_SIZES[:-1], B2_SIZES[1:]))
B2_FLOPS_PER_SAMPLE = 2 * (3 * B2_MACS_FORWARD - B2_SIZES[0] * B2_SIZES[1])


def case_ceiling(settings: Settings) -> CaseReport:
    n = CEILING_SIZE
    report = CaseReport(
        case="ceiling",
        title=f"NumPy GEMM at {n}x{n} and the GEMM rate the B2 step reaches",
        unit="GFLOP/s",
        baselines=[f"numpy GEMM float32 {n}"],
        columns=["ms/call", "GFLOP/call"],
    )
    report.notes.append(
        f"B2 step FLOPs counted as 2 x multiply-adds of the matmuls: 3 forward, 3 weight "
        f"gradients, 2 input gradients (not layer 1's) = {B2_FLOPS_PER_SAMPLE / 1e6:.3f} "
        f"MFLOP per sample (elementwise work not counted); x GEMM float32 is the "
        f"fraction of the float32 GEMM rate."
    )
    rng = np.random.default_rng(0)
    flops = {}
    for dtype in ("float32", "float64"):
        a = rng.standard_normal((n, n)).astype(dtype)
        b = rng.standard_normal((n, n)).astype(dtype)
        name = f"numpy GEMM {dtype} {n}"
        flops[name] = 2.0 * n**3
        report.queue(name, lambda a=a, b=b: a @ b, 1.0)
    for batch in settings.batches:
        problem = b2_problem(batch)
        for peer, make in (("numpy (hand-written)", b2_numpy), ("chainrule", b2_chainrule)):
            name = f"{peer} B2 step [batch {batch}]"
            flops[name] = float(B2_FLOPS_PER_SAMPLE * batch)
            report.queue(name, make(*problem)[0], 1.0)
    report.time_queued(settings)
    for row in report.rows:
        # the rows were timed in seconds per call; show GFLOP/s (higher is better)
        f = flops[row.peer]
        seconds = row.median
        row.extra = {"ms/call": seconds * 1e3, "GFLOP/call": f / 1e9}
        row.median, row.q1, row.q3 = f / seconds / 1e9, f / row.q3 / 1e9, f / row.q1 / 1e9
        row.best, row.worst = f / row.best / 1e9, f / row.worst / 1e9
        row.samples = [f / t / 1e9 for t in row.samples]
    return report.finish()
