"""chainrule against HIPS autograd on whole programs: the time each takes, with the
same iterations, and whether both print the same numbers.

    python benchmarks/autograd_programs.py [--repeats N] [--full] [--hips-timeout S]
                                           [--only NAME ...] [--no-hips] [--json PATH]

Two sets of programs, one command:

1. ``examples/autograd/*.py``, chainrule's programs in autograd's style. Each runs
   in this process as written (chainrule) and with its import lines changed to
   autograd's (the rewrite of tests/test_autograd_programs.py), alternately,
   ``--repeats`` times each, after one untimed run of each (so both libraries and
   what the program imports are loaded before timing starts): this times the
   programs' work. By default their short versions
   (``CHAINRULE_SHORT=1``, the tests' size); ``--full`` runs them at full size.
   Their ``results`` are compared too.
2. HIPS autograd's own example programs that run on both libraries (see
   benchmarks/hips_examples.py: each in a fresh interpreter, the same bytes, both
   timed to the same printed line, imports included).

Times are CPU seconds (user + system) of the work, medians over the repeats; the
ratio is autograd's / chainrule's (above 1: chainrule is faster). Wall-clock
medians are printed alongside.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FOLDER = HERE.parent / "examples" / "autograd"
sys.path.insert(0, str(HERE))
import hips_examples  # noqa: E402

#: HIPS's examples that run on both libraries and differentiate something (the
#: rest: downloads that need a network, autograd's tracer internals, data helpers).
HIPS_PROGRAMS = (
    "bayesian_neural_net",
    "bayesian_optimization",
    "black_box_svi",
    "deep_gaussian_process",
    "define_gradient",
    "fixed_points",
    "fluidsim/fluidsim",
    "fluidsim/wing",
    "gaussian_process",
    "gmm",
    "gplvm",
    "hmm_em",
    "ica",
    "logistic_regression",
    "lstm",
    "mixture_variational_inference",
    "natural_gradient_black_box_svi",
    "negative_binomial_maxlike",
    "neural_net_regression",
    "ode_net",
    "rnn",
    "rosenbrock",
    "sinusoid",
    "tanh",
)

# chainrule's namespaces that mirror autograd's (as tests/test_autograd_programs.py).
_MIRRORED = r"(?:\.(?:numpy|scipy|misc|extend|builtins|test_util)(?:\.\w+)*)?"
_IMPORTS = [
    (rf"^(\s*)from chainrule({_MIRRORED}) import (.+)$", r"\1from autograd\2 import \3"),
    (rf"^(\s*)import chainrule({_MIRRORED}) as (\w+)$", r"\1import autograd\2 as \3"),
]


def to_autograd(source: str) -> str:
    lines = []
    for line in source.splitlines():
        for pattern, replacement in _IMPORTS:
            line = re.sub(pattern, replacement, line)
        lines.append(line)
    return "\n".join(lines) + "\n"


def run_program(source: str, name: str) -> tuple[dict, float, float]:
    """Run ``source`` as ``examples/autograd/<name>.py`` (prints swallowed); its
    ``results`` and (CPU seconds, wall seconds)."""
    namespace = {"__name__": "__main__", "__file__": str(FOLDER / f"{name}.py")}
    code = compile(source, f"{name}.py", "exec")
    sys.path.insert(0, str(FOLDER))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            cpu, wall = time.process_time(), time.perf_counter()
            exec(code, namespace)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        sys.path.remove(str(FOLDER))
    return namespace.get("results", {}), cpu, wall


def worst_difference(a: object, b: object) -> float:
    """The largest relative difference between two ``results`` (inf: they differ in shape)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if sorted(a) != sorted(b):
            return math.inf
        return max((worst_difference(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return math.inf
        return max((worst_difference(x, y) for x, y in zip(a, b)), default=0.0)
    if isinstance(a, float | int) and isinstance(b, float | int):
        return abs(a - b) / max(abs(a), abs(b), 1e-8)
    return 0.0 if a == b else math.inf


def own_programs(names: list[str], repeats: int, full: bool) -> list[dict]:
    import autograd  # noqa: F401  (imported before timing, as chainrule is)

    import chainrule  # noqa: F401

    if full:
        os.environ.pop("CHAINRULE_SHORT", None)
    else:
        os.environ["CHAINRULE_SHORT"] = "1"
    rows = []
    for name in names:
        source = (FOLDER / f"{name}.py").read_text()
        theirs_source = to_autograd(source)
        cr_cpu, cr_wall, ag_cpu, ag_wall = [], [], [], []
        # An untimed run of each first: modules a program imports (SciPy's) load once.
        run_program(source, name)
        run_program(theirs_source, name)
        for _ in range(repeats):
            mine, cpu, wall = run_program(source, name)
            cr_cpu.append(cpu)
            cr_wall.append(wall)
            theirs, cpu, wall = run_program(theirs_source, name)
            ag_cpu.append(cpu)
            ag_wall.append(wall)
        row = {
            "name": name,
            "max_rel_diff": worst_difference(mine, theirs),
            "autograd_cpu": statistics.median(ag_cpu),
            "chainrule_cpu": statistics.median(cr_cpu),
            "autograd_wall": statistics.median(ag_wall),
            "chainrule_wall": statistics.median(cr_wall),
        }
        row["ratio"] = row["autograd_cpu"] / row["chainrule_cpu"]
        rows.append(row)
        print(
            f"{name:20s} CPU autograd {row['autograd_cpu']:7.3f} s  chainrule "
            f"{row['chainrule_cpu']:7.3f} s  ({row['ratio']:.2f}x)  results max rel diff "
            f"{row['max_rel_diff']:.1e}",
            flush=True,
        )
    return rows


def markdown(rows: list[dict]) -> str:
    out = [
        "| program | CPU s autograd | CPU s chainrule | autograd / chainrule | wall s autograd "
        "| wall s chainrule | results max rel diff |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['name']} | {r['autograd_cpu']:.3f} | {r['chainrule_cpu']:.3f} | "
            f"{r['ratio']:.2f} | {r['autograd_wall']:.3f} | {r['chainrule_wall']:.3f} | "
            f"{r['max_rel_diff']:.1e} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--full", action="store_true", help="examples/autograd at full size")
    ap.add_argument("--only", nargs="*", help="these programs only (either set)")
    ap.add_argument("--no-hips", action="store_true", help="skip HIPS's own examples")
    ap.add_argument("--hips-timeout", type=float, default=30.0, help="seconds per HIPS run")
    ap.add_argument("--repo", type=Path, default=hips_examples.DEFAULT_REPO)
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args(argv)
    own = sorted(p.stem for p in FOLDER.glob("*.py") if not p.name.startswith("_"))
    hips = list(HIPS_PROGRAMS)
    if args.only:
        own = [n for n in own if n in args.only]
        hips = [n for n in hips if n in args.only]
    hips_examples.byte_compile()
    print(f"examples/autograd ({'full' if args.full else 'short'} runs), in this process:")
    rows = own_programs(own, args.repeats, args.full)
    print()
    print(markdown(rows))
    outcomes = []
    if hips and not args.no_hips:
        print("\nHIPS autograd's examples, each in a fresh interpreter:")
        hips_argv = [*hips, "--timeout", str(args.hips_timeout), "--repeats", str(args.repeats)]
        outcomes = hips_examples.main([*hips_argv, "--repo", str(args.repo)])
    if args.json:
        payload = {
            "own": rows,
            "hips": [vars(o) | {"ratio": o.ratio} for o in outcomes],
            "repeats": args.repeats,
            "full": args.full,
        }
        args.json.write_text(json.dumps(payload, indent=1) + "\n")


if __name__ == "__main__":
    main()
