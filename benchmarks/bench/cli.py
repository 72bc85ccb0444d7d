"""Benchmarks of chainrule's core engine against peer libraries.

Usage (from the repository root)::

    bash benchmarks/setup.sh                      # once: benchmarks/.venv with the peers
    benchmarks/.venv/bin/python benchmarks/run.py  # full run, writes benchmarks/results.json
    benchmarks/.venv/bin/python benchmarks/run.py --quick         # smoke run (seconds)
    benchmarks/.venv/bin/python benchmarks/run.py --cases B1 --repeats 15
    benchmarks/.venv/bin/python benchmarks/run.py --cases B2 --batch 1024
    benchmarks/.venv/bin/python benchmarks/run.py --cases B1 --profile

Every case is a function ``case_<id>(settings) -> CaseReport`` listed in ``CASES``.
A case builds one callable per peer, checks that every peer computes the same
numbers as the reference before timing it, then queues it; the queued peers are
timed together by :func:`measure_all` (warm-up, then ``--repeats`` repeats of
several calls each, interleaved across peers; the median is reported). A peer
whose library is not installed is skipped with a note. Ratios are taken against
baselines measured in the same process run.

Timings are informative only: nothing here passes or fails on speed. The script
exits non-zero only when a peer computes a wrong answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from bench.cases.b1 import case_b1
from bench.cases.b2 import case_b2
from bench.cases.b2_isolated import case_b2_isolated
from bench.cases.b3 import case_b3
from bench.cases.b4 import case_b4
from bench.cases.b5 import case_b5
from bench.cases.ceiling import case_ceiling
from bench.cases.memory import case_memory
from bench.cases.scale import case_scale
from bench.cases.seq import case_b6, case_b7
from bench.env import HERE
from bench.machine import git_info, load_average, machine_info, machine_probe, software_info
from bench.output import markdown_tables, print_report
from bench.report import CaseReport
from bench.timing import Settings
from bench.workers import run_worker

CASES: dict[str, Callable[[Settings], CaseReport]] = {
    "B1": case_b1,
    "B2": case_b2,
    "B2-isolated": case_b2_isolated,
    "B3": case_b3,
    "B4": case_b4,
    "B5": case_b5,
    "B6": case_b6,
    "B7": case_b7,
    "memory": case_memory,
    "scale": case_scale,
    "ceiling": case_ceiling,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="short smoke run: 3 repeats of ~0.02 s, batch 128 only"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repeats per peer; the median is reported (default 7)",
    )
    parser.add_argument(
        "--min-time", type=float, default=None, help="seconds each repeat runs for (default 0.25)"
    )
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help=f"comma-separated cases to run (default: {','.join(CASES)})",
    )
    parser.add_argument(
        "--batch",
        type=int,
        nargs="+",
        default=None,
        help="B2 batch sizes (default: 128 1024; --quick: 128)",
    )
    parser.add_argument(
        "--gc",
        action="store_true",
        help="keep the garbage collector on while timing (default: off, as timeit does; "
        "B1 also reports every peer with it on)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile chainrule's B1 and print where its time goes",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        metavar="RESULTS",
        help="print the tables of an existing results file as Markdown, and exit",
    )
    parser.add_argument(
        "--isolated",
        action="store_true",
        help="also run B2 with each peer in its own process (the B2-isolated case; "
        "it is in the default run)",
    )
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="fix glibc's malloc thresholds for the whole timing process (cr.keep_freed_memory, "
        "as chainrule train does), so that no peer's steps fault in fresh pages; the "
        "peak-memory workers keep the defaults",
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal
    parser.add_argument(
        "--label", default="", help="free text stored in the results (e.g. what was measured)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write the JSON results (default benchmarks/results.json; "
        "with --quick, benchmarks/results-quick.json)",
    )
    args = parser.parse_args(argv)
    if args.isolated and "B2-isolated" not in args.cases.split(","):
        args.cases += ",B2-isolated"
    unknown = [c for c in args.cases.split(",") if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {list(CASES)}")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def keep_freed_memory() -> bool:
    """glibc's thresholds fixed in this process, for every peer alike: whether it
    took (False on another C library)."""
    from chainrule.memory import keep_freed_memory as keep

    return keep()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(json.loads(args.worker))))
        return 0
    if args.markdown:
        print(markdown_tables(json.loads(args.markdown.read_text())))
        return 0
    settings = Settings()
    if args.quick:
        settings.repeats, settings.min_time, settings.warmup = 3, 0.02, 0.01
        settings.batches = (128,)
    if args.repeats is not None:
        settings.repeats = args.repeats
    if args.min_time is not None:
        settings.min_time = args.min_time
    if args.batch:
        settings.batches = tuple(args.batch)
    settings.quick = args.quick
    settings.profile = args.profile
    settings.gc = args.gc
    output = args.output or HERE / ("results-quick.json" if args.quick else "results.json")
    kept = keep_freed_memory() if args.keep_freed_memory else None

    meta = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "label": args.label,
        "keep_freed_memory": kept,
        "settings": asdict(settings),
        "machine": machine_info(),
        "software": software_info(),
        "git": git_info(),
        "load_average_at_start": load_average(),
        "probe_at_start": machine_probe(),
    }
    m, s = meta["machine"], meta["software"]
    print(
        f"machine: {m['cpu_model']} (family {m['cpu_family']} model {m['cpu_model_number']}), "
        f"{m['usable_cores']} cores usable of {m['logical_cores']}, {m['memory']}"
    )
    print(
        "software: "
        + ", ".join(
            f"{k} {s[k]}"
            for k in (
                "python",
                "chainrule",
                "numpy",
                "torch",
                "autograd",
                "micrograd",
                "mygrad",
                "jax",
                "numba",
                "compiled_kernels",
            )
        )
    )
    print(f"timing: median of {settings.repeats} repeats of >= {settings.min_time} s each")
    print(f"load average at start: {meta['load_average_at_start']}")
    if kept is not None:
        print(f"glibc's malloc thresholds fixed (keep_freed_memory): {kept}")

    reports = []
    for name in args.cases.split(","):
        report = CASES[name](settings)
        print_report(report)
        reports.append(report)

    meta["load_average_at_end"] = load_average()
    meta["probe_at_end"] = machine_probe()
    print(
        f"machine probe (median ms) at start {meta['probe_at_start']}, end {meta['probe_at_end']}"
    )
    cases = [asdict(r) for r in reports]
    for case in cases:
        case.pop("_queued", None)
    result = {"meta": meta, "cases": cases}
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults written to {output}")
    wrong = [r for rep in reports for r in rep.rows if r.status == "wrong"]
    return 1 if wrong else 0
