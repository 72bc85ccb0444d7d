"""memory: peak RSS of B2 steps, one fresh process per peer."""

from __future__ import annotations

import gc
import time
from typing import Any

from bench.cases.b2 import B2_PEERS, b2_problem
from bench.process import peak_rss_mb, rss_now_mb, ru_maxrss_mb, spawn_worker
from bench.report import CaseReport, Row, Skip
from bench.timing import Settings


def memory_worker(peer: str, batch: int, steps: int, marks: list[int]) -> dict[str, Any]:
    import resource

    make = dict((n, m) for n, m, _ in B2_PEERS)[peer]
    try:
        step, _ = make(*b2_problem(batch))
    except Skip as exc:
        return {"skip": str(exc)}
    step()  # one step as part of the set-up: JAX compiles here, lazy imports happen
    gc.collect()
    base_peak, base_rss = peak_rss_mb(), rss_now_mb()
    flt0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    rss_at = {}
    t0 = time.perf_counter()
    for k in range(1, steps + 1):
        step()
        if k in marks:
            rss_at[str(k)] = rss_now_mb()
    elapsed = time.perf_counter() - t0
    flt = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - flt0
    return {
        "baseline_peak_mb": base_peak,
        "baseline_rss_mb": base_rss,
        "peak_mb": peak_rss_mb(),
        "ru_maxrss_mb": ru_maxrss_mb(),
        "rss_end_mb": rss_now_mb(),
        "minflt_per_step": flt / steps,
        "ms_per_step": elapsed / steps * 1e3,
        "rss_after_step_mb": rss_at,
    }


MEMORY_STEPS = 200
MEMORY_BATCH = 128
FLAT_MARKS = (100, 500, 1000)


def case_memory(settings: Settings) -> CaseReport:
    steps = 20 if settings.quick else MEMORY_STEPS
    marks = (10, 50, 100) if settings.quick else FLAT_MARKS
    report = CaseReport(
        case="memory",
        title=f"peak RSS of {steps} B2 steps (batch {MEMORY_BATCH}), one fresh process per peer",
        unit="MB peak",
        baselines=["numpy (hand-written)"],
        columns=["baseline MB", "growth MB", "minflt/step", "ms/step"],
    )
    report.notes.append(
        "peak = VmHWM (the process's peak RSS) at the end; baseline = VmHWM after "
        "imports, set-up and one step (JAX compiles there); ru_maxrss is not used because "
        "Linux carries the parent's peak into a spawned worker (see peak_rss_mb); "
        "growth = peak - baseline; minflt/step = minor page faults per timed step. "
        "Workers for peers other than chainrule do not import chainrule. MB = 10^6 bytes."
    )
    for name, _, note in B2_PEERS:
        spec = {"kind": "memory", "peer": name, "batch": MEMORY_BATCH, "steps": steps}
        out = spawn_worker(spec)
        if "skip" in out:
            report.skip(name, out["skip"])
            continue
        report.checks[name] = out
        row = Row(case=report.case, peer=name, status="ok", unit=report.unit, note=note)
        row.median = row.q1 = row.q3 = row.best = row.worst = out["peak_mb"]
        row.repeats = 1
        row.extra = {
            "baseline MB": out["baseline_peak_mb"],
            "growth MB": out["peak_mb"] - out["baseline_peak_mb"],
            "minflt/step": out["minflt_per_step"],
            "ms/step": out["ms_per_step"],
        }
        report.rows.append(row)
    # Graph memory flatness: RSS (current, not peak) after several step counts.
    spec = {
        "kind": "memory",
        "peer": "chainrule",
        "batch": MEMORY_BATCH,
        "steps": marks[-1],
        "marks": list(marks),
    }
    out = spawn_worker(spec)
    if "skip" in out:
        report.skip("chainrule: RSS flatness", out["skip"])
    else:
        rss = out["rss_after_step_mb"]
        report.checks["chainrule_rss_after_step_mb"] = rss
        first, last = rss[str(marks[0])], rss[str(marks[-1])]
        for mark in marks:
            row = Row(
                case=report.case,
                peer=f"chainrule: RSS after step {mark}",
                status="breakdown",
                unit="MB RSS",
                note="current VmRSS, one process",
            )
            row.median = row.q1 = row.q3 = row.best = row.worst = rss[str(mark)]
            row.repeats = 1
            report.rows.append(row)
        report.notes.append(
            f"chainrule RSS growth from step {marks[0]} to step {marks[-1]}: {last - first:+.2f} MB"
        )
    return report.finish()
