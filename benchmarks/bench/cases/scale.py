"""scale: forward and backward over chains of 10^4 to 10^6 ops."""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

from bench.env import cr
from bench.process import peak_rss_mb, spawn_worker
from bench.report import CaseReport, rel_close
from bench.timing import Settings, _summary

SCALE_NS = (10**4, 10**5, 10**6)
SCALE_FACTOR = 1.0000001


def scale_worker(n: int, repeats: int) -> dict[str, Any]:
    forward, backward, peak = [], [], []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            x = cr.tensor(1.0, dtype="float64", requires_grad=True)
            y = x
            for _ in range(n):
                y = y * SCALE_FACTOR
            t1 = time.perf_counter()
            y.backward()
            t2 = time.perf_counter()
        finally:
            gc.enable()
        expected = SCALE_FACTOR**n
        if not rel_close(x.grad.item(), expected, 1e-9):
            return {"wrong": f"gradient {x.grad.item()!r}, expected {expected!r}"}
        forward.append(t1 - t0)
        backward.append(t2 - t1)
        peak.append(peak_rss_mb())
        del x, y
    return {"forward_s": forward, "backward_s": backward, "peak_mb": max(peak)}


def case_scale(settings: Settings) -> CaseReport:
    ns = SCALE_NS[:2] if settings.quick else SCALE_NS
    report = CaseReport(
        case="scale",
        title="chainrule backward over a chain of n scalar ops (y = y * 1.0000001), "
        "one process per n",
        unit="us/op backward",
        baselines=[f"chainrule n={ns[0]:.0e}"],
        columns=["forward s", "backward s", "forward us/op", "peak MB"],
    )
    for n in ns:
        name = f"chainrule n={n:.0e}"
        repeats = 3 if settings.quick or n >= 10**6 else settings.repeats
        out = spawn_worker({"kind": "scale", "n": n, "repeats": repeats, "peer": "chainrule"})
        if "skip" in out:
            report.skip(name, out["skip"])
            continue
        if "wrong" in out:
            report.wrong(name, out["wrong"])
            continue
        timing = _summary(out["backward_s"], 1)
        report.add(name, timing, 1e6 / n, f"median of {repeats}")
        row = report.rows[-1]
        fwd = statistics.median(out["forward_s"])
        row.extra = {
            "forward s": fwd,
            "backward s": timing.median,
            "forward us/op": fwd / n * 1e6,
            "peak MB": out["peak_mb"],
        }
    return report.finish()
