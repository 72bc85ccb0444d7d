"""What one worker subprocess measures (`run.py --worker JSON`); see
:func:`bench.process.spawn_worker`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bench.cases.b2 import B2_PEERS, b2_check, b2_problem, b2_reference
from bench.cases.b5 import b5_memory_worker
from bench.cases.memory import memory_worker
from bench.cases.scale import scale_worker
from bench.cases.seq import seq_memory_worker
from bench.timing import Settings, measure


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """What one subprocess measures (``run.py --worker JSON``); see spawn_worker."""
    kind = spec["kind"]
    if kind == "memory":
        return memory_worker(spec["peer"], spec["batch"], spec["steps"], spec.get("marks", []))
    if kind == "b2":
        settings = Settings(**spec["settings"])
        make = dict((n, m) for n, m, _ in B2_PEERS)[spec["peer"]]
        problem = b2_problem(spec["batch"])
        wrong = b2_check(make, problem, b2_reference(problem))
        if wrong:
            return {"wrong": wrong}
        step, _ = make(*problem)
        return {"timing": asdict(measure(step, settings))}
    if kind == "b5-memory":
        return b5_memory_worker(spec["peer"], spec["steps"])
    if kind == "seq-memory":
        return seq_memory_worker(spec["case"], spec["peer"], spec["steps"])
    if kind == "scale":
        return scale_worker(spec["n"], spec["repeats"])
    raise ValueError(f"unknown worker kind {kind!r}")
