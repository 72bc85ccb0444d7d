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
import cProfile
import gc
import importlib
import itertools
import json
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# A worker subprocess that measures another library's memory (or times it in
# isolation) does not import chainrule, so that chainrule's import is not counted
# in that library's figures (see run_worker).
SKIP_CHAINRULE_ENV = "CHAINRULE_BENCH_SKIP_IMPORT"
if os.environ.get(SKIP_CHAINRULE_ENV):
    cr: Any = None
else:
    try:
        import chainrule as cr
    except ImportError:  # run from a checkout without `pip install -e .`
        sys.path.insert(0, str(REPO))
        import chainrule as cr


# ============================================================================ timing
@dataclass
class Settings:
    """How long and how often to time; set from the command line."""

    repeats: int = 7
    min_time: float = 0.25  # seconds per repeat (a repeat runs the step this long)
    warmup: float = 0.1  # seconds of warm-up calls before calibration
    quick: bool = False
    batches: tuple[int, ...] = (128, 1024)
    profile: bool = False
    gc: bool = False  # keep the garbage collector running inside timed repeats


@dataclass
class Timing:
    """Seconds per call of the timed function: median and spread over repeats."""

    median: float
    q1: float
    q3: float
    best: float
    worst: float
    number: int  # calls per repeat
    samples: list[float]


@dataclass
class Job:
    """One function to time; ``gc`` None means: as ``Settings.gc`` says."""

    fn: Callable[[], Any]
    gc: bool | None = None


def _calibrate(fn: Callable[[], Any], settings: Settings) -> int:
    """Warm ``fn`` up and return how many calls fill ``settings.min_time``."""
    gc.collect()
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if calls >= 2 and elapsed >= settings.warmup:
            break
    return max(1, math.ceil(settings.min_time / (elapsed / calls)))


def measure_all(jobs: list[Job], settings: Settings) -> list[Timing]:
    """Time several functions, interleaved: repeat r of every job runs before
    repeat r + 1 of any, so that a burst of load from elsewhere on a shared machine
    hits one repeat of each job instead of all the repeats of one.

    Each repeat runs ``fn`` ``number`` times back to back (``number`` chosen in a
    warm-up so that a repeat lasts ``min_time``) and records the mean time per
    call; the median over repeats is the reported figure. Before each repeat a full
    garbage collection runs, untimed; during it the collector is off unless the job
    or ``--gc`` asks for it (see BENCHMARKS.md: with it on, a full collection
    scans the whole heap, torch's objects included, so the figures would depend on
    what else the process imported).
    """
    numbers = [_calibrate(job.fn, settings) for job in jobs]
    samples: list[list[float]] = [[] for _ in jobs]
    for _ in range(settings.repeats):
        for job, number, out in zip(jobs, numbers, samples):
            collect = settings.gc if job.gc is None else job.gc
            fn = job.fn
            gc.collect()
            if not collect:
                gc.disable()
            try:
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                out.append((time.perf_counter() - t0) / number)
            finally:
                gc.enable()
    return [_summary(s, n) for s, n in zip(samples, numbers)]


def measure(fn: Callable[[], Any], settings: Settings) -> Timing:
    """Time one function (see :func:`measure_all`)."""
    return measure_all([Job(fn)], settings)[0]


def _summary(samples: list[float], number: int) -> Timing:
    if len(samples) >= 2:
        q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    else:
        q1 = q3 = samples[0]
    return Timing(
        median=statistics.median(samples),
        q1=q1,
        q3=q3,
        best=min(samples),
        worst=max(samples),
        number=number,
        samples=samples,
    )


# =========================================================================== reports
class Skip(Exception):
    """Raised by a peer's factory when it cannot run here; the message says why."""


@dataclass
class Row:
    """One line of the results table, in the case's display unit."""

    case: str
    peer: str
    # "ok"; "skipped" (library missing); "wrong" (failed its check, not timed);
    # "breakdown" (part of a peer's work) or "gc-on" (timed with the collector on)
    status: str
    unit: str = ""
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    best: float | None = None
    worst: float | None = None
    calls_per_repeat: int | None = None
    repeats: int | None = None
    ratios: dict[str, float] = field(default_factory=dict)
    # Median over repeats of (this row's repeat r / the baseline's repeat r): the two
    # were timed next to each other, so a burst of load from elsewhere on the machine
    # mostly cancels; present when both rows were timed in the same interleaved group.
    paired: dict[str, float] = field(default_factory=dict)
    samples: list[float] = field(default_factory=list)  # per repeat, in the unit
    group: int | None = None  # rows with one number were timed interleaved together
    note: str = ""
    # further figures, one per name in CaseReport.columns (memory, scale, ceiling)
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class CaseReport:
    """What one case measured: its rows, the baselines ratios refer to, and facts."""

    case: str
    title: str
    unit: str
    baselines: list[str]
    rows: list[Row] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # names of Row.extra, in order
    _queued: list = field(default_factory=list, repr=False)

    def add(self, peer: str, timing: Timing, scale: float, note: str = "", kind: str = "ok"):
        """Record a timing; ``scale`` converts seconds per call into the case's unit."""
        row = Row(case=self.case, peer=peer, status=kind, unit=self.unit, note=note)
        self.rows.append(_fill(row, timing, scale))

    def queue(
        self,
        peer: str,
        fn: Callable[[], Any],
        scale: float,
        note: str = "",
        kind: str = "ok",
        gc: bool | None = None,
    ) -> None:
        """Add a row to be timed by :meth:`time_queued`, interleaved with the others.

        ``kind`` is the row's status once timed; ``gc`` forces the collector on or
        off while this row is timed (default: as ``--gc`` says).
        """
        row = Row(case=self.case, peer=peer, status="pending", unit=self.unit, note=note)
        self.rows.append(row)
        self._queued.append((row, Job(fn, gc), scale, kind))

    def time_queued(self, settings: Settings) -> None:
        """Time every queued row together (see :func:`measure_all`)."""
        queued, self._queued = self._queued, []
        timings = measure_all([job for _, job, _, _ in queued], settings)
        group = next(_groups)
        for (row, _, scale, kind), timing in zip(queued, timings):
            row.status = kind
            row.group = group
            _fill(row, timing, scale)

    def skip(self, peer: str, why: str) -> None:
        self.rows.append(Row(case=self.case, peer=peer, status="skipped", note=why))

    def wrong(self, peer: str, why: str) -> None:
        self.rows.append(Row(case=self.case, peer=peer, status="wrong", note=why))

    def finish(self) -> CaseReport:
        """Fill in each timed row's ratio to every baseline that was timed."""
        ok = {r.peer: r for r in self.rows if r.status == "ok"}
        for row in self.rows:
            if row.median is None:
                continue
            for name in self.baselines:
                base = ok.get(name)
                if base is None or not base.median:
                    continue
                row.ratios[name] = row.median / base.median
                if row.group is not None and row.group == base.group:
                    pairs = [a / b for a, b in zip(row.samples, base.samples)]
                    row.paired[name] = statistics.median(pairs)
        return self


_groups = itertools.count()


def _fill(row: Row, timing: Timing, scale: float) -> Row:
    row.samples = [t * scale for t in timing.samples]
    row.median = timing.median * scale
    row.q1, row.q3 = timing.q1 * scale, timing.q3 * scale
    row.best, row.worst = timing.best * scale, timing.worst * scale
    row.calls_per_repeat, row.repeats = timing.number, len(timing.samples)
    return row


def optional_import(name: str) -> Any:
    """Import a peer library or raise :class:`Skip` saying it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise Skip(
            f"{name} is not installed here ({exc}); `bash benchmarks/setup.sh` installs it"
        ) from None


def rel_close(a: float, b: float, rtol: float, atol: float = 0.0) -> bool:
    return abs(a - b) <= atol + rtol * abs(b)


# ============================================================= B1: scalar chain
B1_SIGMOIDS = 500  # chained sigmoids; 4 primitive ops each
B1_OPS = 4 * B1_SIGMOIDS
B1_Z = 0.3
# Chain lengths whose gradient is checked to B1_RTOL. At 500 sigmoids the exact
# gradient, the product of sigma'(x_k) ~ 0.225 each, is about 7e-325: below the
# smallest subnormal double, so every implementation rounds it to 0.0 and a
# relative check there says nothing. Shorter chains run the same code and have
# gradients well inside the normal range (at 100: ~1.6e-65).
B1_CHECK_LENGTHS = (1, 10, 100, B1_SIGMOIDS)
B1_RTOL = 1e-9


def b1_python(n: int) -> Callable[[], tuple[float, float]]:
    """Hand-written reverse mode on floats: a tape of saved values, then the chain rule."""
    exp = math.exp

    def run() -> tuple[float, float]:
        x = B1_Z
        tape = []
        for _ in range(n):
            f = -x
            g = exp(f)
            h = 1.0 + g
            i = 1.0 / h
            tape.append((g, h))
            x = i
        d = 1.0  # d out / d out
        for g, h in reversed(tape):
            d = -d / (h * h)  # i = 1/h:  di/dh = -1/h^2
            # h = 1 + g:  dh/dg = 1
            d = d * g  # g = e^f:  dg/df = e^f = g
            d = -d  # f = -x:  df/dx = -1
        return x, d

    return run


def _b1_chain(x: Any, exp: Callable[[Any], Any], n: int) -> Any:
    """The n sigmoids as f = -x, g = exp(f), h = 1 + g, x = 1/h, on any value type
    with operators, given its exp (one function for every peer, as _b3_forward)."""
    for _ in range(n):
        f = -x
        g = exp(f)
        h = 1 + g
        x = 1 / h
    return x


def b1_chainrule(n: int) -> Callable[[], tuple[float, float]]:
    def run() -> tuple[float, float]:
        z = cr.tensor(B1_Z, dtype="float64", requires_grad=True)
        x = _b1_chain(z, cr.exp, n)
        x.backward()
        return x.item(), z.grad.item()

    return run


def b1_chainrule_jit(n: int) -> Callable[[], tuple[float, float]]:
    """cr.jit of cr.value_and_grad of the same chain: straight-line NumPy scalar code."""
    step = cr.jit(cr.value_and_grad(lambda z: _b1_chain(z, cr.exp, n)))
    # Two calls with different inputs trace and verify; every later call is compiled.
    step(np.float64(B1_Z + 0.5))
    step(np.float64(B1_Z - 0.5))
    z = np.float64(B1_Z)

    def run() -> tuple[float, float]:
        value, grad = step(z)
        return value.item(), grad.item()

    return run


def b1_micrograd(n: int) -> Callable[[], tuple[float, float]]:
    engine = optional_import("micrograd.engine")
    value = engine.Value
    # micrograd's backward() sorts the graph with a recursive depth-first search,
    # one Python frame per node along the chain (about 5 * n here).
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * n + 1000))

    def mg_exp(x: Any) -> Any:
        # micrograd 0.1.0 has no exp (nor __rpow__): a node in its style, whose
        # backward closure adds d(e^x)/dx * upstream = e^x * out.grad.
        out = value(math.exp(x.data), (x,), "exp")

        def backward() -> None:
            x.grad += out.data * out.grad

        out._backward = backward
        return out

    def run() -> tuple[float, float]:
        # In micrograd -x is x * -1 (a mul node and a constant), 1 + g is g + 1 (an
        # add node and a constant), 1 / h is h ** -1 * 1 (pow and mul nodes).
        z = value(B1_Z)
        x = _b1_chain(z, mg_exp, n)
        x.backward()
        return x.data, z.grad

    return run


def b1_autograd(n: int) -> Callable[[], tuple[float, float]]:
    ag = optional_import("autograd")
    anp = optional_import("autograd.numpy")

    def chain(x: Any) -> Any:
        return _b1_chain(x, anp.exp, n)

    grad = ag.grad(chain)
    value_and_grad = ag.value_and_grad(chain)

    def run() -> float:  # what is timed: autograd.grad on a Python float
        return grad(B1_Z)

    def check() -> tuple[float, float]:
        v, d = value_and_grad(B1_Z)
        return float(v), float(d)

    run.check = check  # type: ignore[attr-defined]
    return run


def b1_torch(n: int) -> Callable[[], tuple[float, float]]:
    torch = optional_import("torch")

    def run() -> tuple[float, float]:
        # float64, as chainrule's tensor(0.3); torch's default float32 would not
        # match the other peers to 1e-9.
        z = torch.tensor(B1_Z, dtype=torch.float64, requires_grad=True)
        x = _b1_chain(z, torch.exp, n)
        x.backward()
        return x.item(), z.grad.item()

    return run


B1_PEERS: list[tuple[str, Callable[[int], Callable[[], Any]], str]] = [
    ("chainrule", b1_chainrule, "0-d float64 tensors"),
    ("chainrule jit", b1_chainrule_jit, "cr.jit(cr.value_and_grad(chain)), compiled"),
    ("python (hand-written)", b1_python, "floats, math.exp, tape + reverse loop"),
    ("micrograd 0.1.0", b1_micrograd, "Value; exp helper; 1/x = x**-1 * 1, -x = x * -1"),
    ("autograd (HIPS)", b1_autograd, "autograd.grad on a Python float"),
    ("torch eager", b1_torch, "0-d float64 tensors"),
]


def b1_check(make: Callable[[int], Callable[[], Any]], reference: dict) -> str | None:
    """None if ``make``'s chain gives the reference value and gradient, else why not."""
    for n in B1_CHECK_LENGTHS:
        fn = make(n)
        value, grad = (fn.check if hasattr(fn, "check") else fn)()
        ref_value, ref_grad = reference[n]
        if not rel_close(value, ref_value, B1_RTOL):
            return f"{n} sigmoids: value {value!r}, expected {ref_value!r}"
        # At 500 sigmoids the reference gradient has underflowed (see B1_CHECK_LENGTHS):
        # there the check is that this peer's gradient has underflowed as well.
        atol = 1e-300 if n == B1_SIGMOIDS else 0.0
        if not rel_close(grad, ref_grad, B1_RTOL, atol):
            return f"{n} sigmoids: gradient {grad!r}, expected {ref_grad!r}"
    return None


def b1_reference() -> dict[int, tuple[float, float]]:
    """Value and gradient for each checked length, from the hand-written version,
    cross-checked against sigma' = sigma (1 - sigma) accumulated in log space."""
    reference = {}
    for n in B1_CHECK_LENGTHS:
        value, grad = b1_python(n)()
        x, log_grad = B1_Z, 0.0
        for _ in range(n):
            x = 1.0 / (1.0 + math.exp(-x))
            log_grad += math.log(x * (1.0 - x))
        exact = math.exp(log_grad)  # underflows to 0.0 at 500, like everyone
        if not rel_close(grad, exact, 1e-9, 1e-300) or not rel_close(value, x, 1e-12):
            raise AssertionError(f"B1 reference is off at {n} sigmoids: {grad} vs {exact}")
        reference[n] = (value, grad)
    return reference


def b1_breakdown(report: CaseReport, settings: Settings) -> None:
    """Split chainrule's B1 time without a profiler: the same 2,000 ops run with no
    backward, with recording off, and as bare NumPy scalar arithmetic."""
    n = B1_SIGMOIDS
    scale = 1e6 / B1_OPS

    def forward_recorded() -> None:
        _b1_chain(cr.tensor(B1_Z, dtype="float64", requires_grad=True), cr.exp, n)

    def forward_no_grad() -> None:
        with cr.no_grad():
            forward_recorded()

    exp = np.exp

    def numpy_scalars() -> None:
        # What chainrule's forward does with the data: a 0-d value is held as a
        # NumPy scalar, arithmetic uses Python's operators, exp is np.exp.
        x = np.float64(B1_Z)
        for _ in range(n):
            x = 1 / (1 + exp(-x))

    parts = [
        ("chainrule: forward only", forward_recorded, "graph recorded, no backward()"),
        ("chainrule: forward, no_grad", forward_no_grad, "Tensors but no graph nodes"),
        ("numpy: scalar ops", numpy_scalars, "the same arithmetic on NumPy scalars (floor)"),
    ]
    try:
        rules = b1_rule_calls()
    except Exception as exc:  # internals moved: report, do not fail the run
        report.skip("chainrule: backward rules alone", f"could not walk the graph: {exc!r}")
    else:
        parts.append(
            ("chainrule: backward rules alone", rules, "the 2,000 VJP rule calls, no engine")
        )
    for name, fn, note in parts:
        report.queue(name, fn, scale, note, kind="breakdown")


def b1_rule_calls() -> Callable[[], None]:
    """The VJP rule calls chainrule's backward makes in B1, with the same arguments,
    as a function that makes just those calls (uses chainrule's internals: the
    graph's nodes, their saved values and the primitives' rule tables)."""
    z = cr.tensor(B1_Z, dtype="float64", requires_grad=True)
    x = _b1_chain(z, cr.exp, B1_SIGMOIDS)
    calls = []
    node, g = x.grad_fn, np.ones_like(x.data)
    while node is not None:
        (i,) = [k for k, p in enumerate(node.parents) if p is not None]
        rule = node.prim.vjps[i]
        calls.append((rule, g, node.ans, node.args))
        g = rule(g, node.ans, *node.args)
        parent = node.parents[i]
        node = parent if parent is not z else None
    if len(calls) != B1_OPS:
        raise RuntimeError(f"expected {B1_OPS} rule calls, found {len(calls)}")

    def run() -> None:
        for rule, g, ans, args in calls:
            rule(g, ans, *args)

    return run


def b1_profile(report: CaseReport) -> None:
    """cProfile chainrule's B1 and group its time by what the code is doing.

    The profiler charges a fixed cost to every Python call it traces, which
    inflates code made of many small calls, so the shares are indicative; the
    breakdown rows (timed without a profiler) give the absolute split.
    """
    report.checks["profile"] = profile_chainrule(
        b1_chainrule(B1_SIGMOIDS), 20, B1_OPS, "op", "cProfile, 20 calls of the chainrule B1 run"
    )


def _profile_group(filename: str, func: str) -> str:
    """Which part of the work a profiled function belongs to (by file, then name)."""
    path = filename.replace("\\", "/")
    if "chainrule/autograd/engine" in path:
        return "backward: engine loop (_run, seeding)"
    if "chainrule/ops/" in path:
        return "backward: derivative rules (ops/*.py)"
    if "chainrule/autograd/forward" in path:
        return "forward mode: tangent pushing (autograd/forward.py)"
    if "chainrule/func.py" in path:
        return "transforms (func.py: grad, jacfwd)"
    if "chainrule/autograd/node" in path:
        return "graph: new_node (one Node per recorded op)"
    if "chainrule/tensor.py" in path:
        if func in ("_wrap", "__init__", "tensor", "as_tensor"):
            return "Tensor construction (_wrap, Tensor.__init__)"
        if func in ("backward", "item"):
            return "other chainrule (backward(), item(), ...)"
        # apply/unary/binary and the per-primitive closures (``op``) that wrap them
        return "forward: op hot path in tensor.py (includes the NumPy ufunc)"
    if "chainrule/tensor_methods" in path or "chainrule/functions" in path:
        return "forward: operator/function wrappers (__neg__, __radd__, cr.exp)"
    if "chainrule" in path:
        return "other chainrule (backward(), item(), ...)"
    if func.startswith("<built-in method __new__"):
        return "object.__new__ (Tensors and Nodes)"
    if func.startswith("<built-in method _operator."):
        return "NumPy arithmetic called through Python's operators"
    if func.startswith("<built-in method _heapq."):
        return "backward: heap push/pop (newest node first)"
    if "numpy" in func:
        return "NumPy built-ins (asarray, ones_like, ...)"
    return "other (Python built-ins, benchmark loop)"


def case_b1(settings: Settings) -> CaseReport:
    report = CaseReport(
        case="B1",
        title=f"scalar chain: {B1_SIGMOIDS} chained sigmoids as -x, exp, 1+x, 1/x "
        f"({B1_OPS} ops), forward + backward",
        unit="us/op",
        baselines=["chainrule", "python (hand-written)"],
    )
    reference = b1_reference()
    report.checks["reference"] = {
        str(n): {"value": v, "gradient": g} for n, (v, g) in reference.items()
    }
    report.notes.append(
        f"The gradient of {B1_SIGMOIDS} chained sigmoids (~7e-325 exactly) underflows to "
        f"{reference[B1_SIGMOIDS][1]!r} in float64 for every peer; gradients were checked "
        f"to {B1_RTOL:g} relative on chains of {', '.join(map(str, B1_CHECK_LENGTHS[:-1]))}."
    )
    scale = 1e6 / B1_OPS
    runs = {}
    for name, make, note in B1_PEERS:
        try:
            problem = b1_check(make, reference)
            run = make(B1_SIGMOIDS)
        except Skip as exc:
            report.skip(name, str(exc))
            continue
        if problem:
            report.wrong(name, problem)
            continue
        runs[name] = run
        report.queue(name, run, scale, note)
    if not settings.gc:
        # The same runs with the collector on: graphs of many small objects are
        # where it costs, above all for micrograd, whose closures make reference
        # cycles that only the collector frees.
        for name, run in runs.items():
            report.queue(
                f"{name} [gc on]", run, scale, "collector on while timed", gc=True, kind="gc-on"
            )
    b1_breakdown(report, settings)
    report.time_queued(settings)
    if settings.profile:
        b1_profile(report)
    return report.finish()


# ================================================================== B2: MLP step
B2_SIZES = (784, 512, 256, 10)
B2_LR = 0.01
B2_SEED = 20240601
B2_LOSS_RTOL = 1e-4
B2_GRAD_RTOL = 2e-3  # relative to the largest entry, on (w0 - w1) / lr in float32


def b2_problem(batch: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Initial parameters [W1, b1, W2, b2, W3, b3] and one fixed batch, float32.

    Weights and biases are uniform in +-1/sqrt(fan_in) (nn.Linear's default range),
    drawn from a seeded generator so that every peer starts from the same numbers.
    """
    rng = np.random.default_rng(B2_SEED)
    params = []
    for fan_in, fan_out in zip(B2_SIZES[:-1], B2_SIZES[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, (fan_out,)).astype(np.float32))
    x = rng.standard_normal((batch, B2_SIZES[0])).astype(np.float32)
    labels = rng.integers(0, B2_SIZES[-1], batch)
    return params, x, labels


# A peer is make(params, x, labels) -> (step, read); step() runs one SGD step and
# returns the loss before the update; read() returns the parameters as arrays.
B2Peer = Callable[[list, np.ndarray, np.ndarray], tuple[Callable[[], float], Callable[[], list]]]


def b2_numpy(params, x, labels):
    """The step written out by hand: forward, the derivative of each layer, update."""
    w1, b1, w2, b2, w3, b3 = [p.copy() for p in params]
    n = x.shape[0]
    rows = np.arange(n)
    lr = np.float32(B2_LR)

    def step() -> float:
        z1 = x @ w1 + b1
        a1 = np.maximum(z1, 0)
        z2 = a1 @ w2 + b2
        a2 = np.maximum(z2, 0)
        z3 = a2 @ w3 + b3
        m = z3.max(axis=1, keepdims=True)
        logp = z3 - (np.log(np.exp(z3 - m).sum(axis=1, keepdims=True)) + m)
        loss = -logp[rows, labels].mean()
        # d loss / d z3 = (softmax - onehot) / n
        dz3 = np.exp(logp)
        dz3[rows, labels] -= 1
        dz3 /= n
        dw3 = a2.T @ dz3
        db3 = dz3.sum(axis=0)
        dz2 = dz3 @ w3.T
        dz2 *= z2 > 0
        dw2 = a1.T @ dz2
        db2 = dz2.sum(axis=0)
        dz1 = dz2 @ w2.T
        dz1 *= z1 > 0
        dw1 = x.T @ dz1
        db1 = dz1.sum(axis=0)
        for p, d in ((w1, dw1), (b1, db1), (w2, dw2), (b2, db2), (w3, dw3), (b3, db3)):
            p -= lr * d
        return float(loss)

    return step, lambda: [w1, b1, w2, b2, w3, b3]


def _b2_chainrule_sgd(params, loss_of):
    """A chainrule B2 peer from ``loss_of(w1, b1, w2, b2, w3, b3)``: backward, then
    a plain SGD update of the weights' data without recording."""
    ps = [cr.tensor(p, requires_grad=True) for p in params]  # cr.tensor copies

    def step() -> float:
        loss = loss_of(*ps)
        loss.backward()
        with cr.no_grad():
            for p in ps:
                p.data -= B2_LR * p.grad.data
                p.grad = None
        return loss.item()

    return step, lambda: [p.data for p in ps]


def b2_chainrule(params, x, labels):
    """Tensor ops and the fused F.cross_entropy, as the torch peer is written."""
    xt = cr.tensor(x)
    target = cr.tensor(labels)
    cross_entropy = cr.nn.functional.cross_entropy

    def loss_of(w1, b1, w2, b2, w3, b3):
        h1 = cr.relu(xt @ w1 + b1)
        h2 = cr.relu(h1 @ w2 + b2)
        return cross_entropy(h2 @ w3 + b3, target)

    return _b2_chainrule_sgd(params, loss_of)


def b2_chainrule_jit(params, x, labels):
    """cr.jit of cr.value_and_grad of the chainrule row's loss (the batch is an
    argument); SGD in place on the weight arrays."""
    cross_entropy = cr.nn.functional.cross_entropy

    def loss(w1, b1, w2, b2, w3, b3, xb, yb):
        h1 = cr.relu(xb @ w1 + b1)
        h2 = cr.relu(h1 @ w2 + b2)
        return cross_entropy(h2 @ w3 + b3, yb)

    value_and_grad = cr.jit(cr.value_and_grad(loss, argnums=(0, 1, 2, 3, 4, 5)))
    ws = [p.copy() for p in params]
    # As a training loop starts: two steps on one batch (traced, compared, compiled),
    # then another batch (traced once more, as the batch was the same in the first
    # two). Then the timed steps run compiled code, with no input left to compare.
    warm = [p.copy() for p in params]
    for xb, yb in ((x, labels), (x, labels), (x[::-1].copy(), labels[::-1].copy())):
        _, grads = value_and_grad(*warm, xb, yb)
        for w, g in zip(warm, grads):
            w -= B2_LR * g.data

    def step() -> float:
        value, grads = value_and_grad(*ws, x, labels)
        for w, g in zip(ws, grads):
            w -= B2_LR * g.data
        return value.item()

    return step, lambda: ws


def b2_chainrule_log_softmax(params, x, labels):
    """The loss spelled out: log_softmax, integer-array indexing, mean."""
    xt = cr.tensor(x)
    rows = np.arange(x.shape[0])

    def loss_of(w1, b1, w2, b2, w3, b3):
        h1 = cr.relu(xt @ w1 + b1)
        h2 = cr.relu(h1 @ w2 + b2)
        logp = cr.log_softmax(h2 @ w3 + b3, axis=-1)
        return -logp[rows, labels].mean()

    return _b2_chainrule_sgd(params, loss_of)


def b2_chainrule_nn(params, x, labels):
    """The same step as a user of the nn API writes it: Sequential of Linear and
    ReLU, F.cross_entropy (fused softmax cross-entropy), optim.SGD."""
    nn = cr.nn
    model = nn.Sequential(
        nn.Linear(B2_SIZES[0], B2_SIZES[1]),
        nn.ReLU(),
        nn.Linear(B2_SIZES[1], B2_SIZES[2]),
        nn.ReLU(),
        nn.Linear(B2_SIZES[2], B2_SIZES[3]),
    )
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with cr.no_grad():
        for layer, w, b in zip(linears, params[0::2], params[1::2]):
            layer.weight.data = np.ascontiguousarray(w.T)  # Linear keeps (out, in)
            layer.bias.data = b.copy()
    optimizer = cr.optim.SGD(model.parameters(), lr=B2_LR)
    xt = cr.tensor(x)
    target = cr.tensor(labels)

    def step() -> float:
        optimizer.zero_grad()
        loss = cr.nn.functional.cross_entropy(model(xt), target)
        loss.backward()
        optimizer.step()
        return loss.item()

    def read() -> list[np.ndarray]:
        out = []
        for layer in linears:
            out += [layer.weight.data.T, layer.bias.data]
        return out

    return step, read


def b2_torch(params, x, labels):
    torch = optional_import("torch")
    functional = importlib.import_module("torch.nn.functional")
    ps = [torch.tensor(p, requires_grad=True) for p in params]  # copies
    w1, b1, w2, b2, w3, b3 = ps
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(labels.astype(np.int64))

    def step() -> float:
        h1 = torch.relu(xt @ w1 + b1)
        h2 = torch.relu(h1 @ w2 + b2)
        loss = functional.cross_entropy(h2 @ w3 + b3, yt)  # log_softmax + NLL, mean
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p -= B2_LR * p.grad
                p.grad = None
        return loss.item()

    return step, lambda: [p.detach().numpy() for p in ps]


def optional_jax() -> Any:
    """Import JAX on the CPU with float64 enabled (B3 and B4 are float64; B2's
    float32 arrays stay float32)."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    jax = optional_import("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def b2_jax(params, x, labels):
    jax = optional_jax()
    jnp = jax.numpy
    xt, yt = jnp.asarray(x), jnp.asarray(labels.astype(np.int32))

    def loss_fn(ps, x, labels):
        w1, b1, w2, b2, w3, b3 = ps
        h1 = jax.nn.relu(x @ w1 + b1)
        h2 = jax.nn.relu(h1 @ w2 + b2)
        logp = jax.nn.log_softmax(h2 @ w3 + b3, axis=-1)
        return -jnp.take_along_axis(logp, labels[:, None], axis=1).mean()

    @jax.jit
    def update(ps, x, labels):
        loss, grads = jax.value_and_grad(loss_fn)(ps, x, labels)
        return [p - np.float32(B2_LR) * g for p, g in zip(ps, grads)], loss

    state = [[jnp.asarray(p) for p in params]]

    def step() -> float:
        state[0], loss = update(state[0], xt, yt)
        return float(loss)  # waits for the result

    return step, lambda: [np.asarray(p) for p in state[0]]


def b2_mygrad(params, x, labels):
    mg = optional_import("mygrad")
    act = optional_import("mygrad.nnet.activations")
    ps = [mg.tensor(p, copy=True) for p in params]
    w1, b1, w2, b2, w3, b3 = ps
    rows = np.arange(x.shape[0])
    lr = np.float32(B2_LR)

    def step() -> float:
        h1 = act.relu(x @ w1 + b1)
        h2 = act.relu(h1 @ w2 + b2)
        logp = act.logsoftmax(h2 @ w3 + b3, axis=-1)
        loss = -logp[rows, labels].mean()
        loss.backward()
        for p in ps:
            p.data -= lr * p.grad
        return loss.item()

    return step, lambda: [p.data for p in ps]


B2_PEERS: list[tuple[str, B2Peer, str]] = [
    ("numpy (hand-written)", b2_numpy, "forward and backward derived by hand"),
    ("chainrule", b2_chainrule, "tensor ops + F.cross_entropy"),
    (
        "chainrule log_softmax",
        b2_chainrule_log_softmax,
        "loss as log_softmax, integer-array indexing, mean",
    ),
    ("chainrule nn API", b2_chainrule_nn, "nn.Sequential, F.cross_entropy, optim.SGD"),
    ("chainrule jit", b2_chainrule_jit, "cr.jit(cr.value_and_grad(loss)) + SGD in place"),
    ("torch eager", b2_torch, "tensor ops + F.cross_entropy"),
    ("jax jit", b2_jax, "jax.jit of value_and_grad + SGD update, CPU"),
    ("mygrad", b2_mygrad, "relu, logsoftmax, integer-array indexing, mean"),
]


def b2_check(make: B2Peer, problem, reference) -> str | None:
    """Two steps from the initial weights: the losses (before and after one update)
    and the update itself, (w0 - w1) / lr = the gradient, must match the reference."""
    params, x, labels = problem
    step, _ = make(params, x, labels)
    losses = (step(), step())
    for k, (got, want) in enumerate(zip(losses, reference["losses"])):
        if not rel_close(got, want, B2_LOSS_RTOL):
            return f"loss at step {k + 1}: {got!r}, expected {want!r}"
    step, read = make(params, x, labels)
    step()
    for k, (p0, p1, g_ref) in enumerate(zip(params, read(), reference["grads"])):
        g = (p0.astype(np.float64) - p1) / B2_LR
        err = np.max(np.abs(g - g_ref))
        if err > B2_GRAD_RTOL * np.max(np.abs(g_ref)):
            top = np.abs(g_ref).max()
            return f"gradient of parameter {k} differs by {err:.3g} (largest entry {top:.3g})"
    return None


def b2_reference(problem) -> dict[str, Any]:
    params, x, labels = problem
    step, read = b2_numpy(params, x, labels)
    losses = [step()]
    grads = [(p0.astype(np.float64) - p1) / B2_LR for p0, p1 in zip(params, read())]
    losses.append(step())
    return {"losses": losses, "grads": grads}


def case_b2(settings: Settings) -> CaseReport:
    report = CaseReport(
        case="B2",
        title="MLP SGD step: 784-512-256-10, ReLU, softmax cross-entropy (mean), "
        f"lr={B2_LR}, float32; forward + backward + update",
        unit="ms/step",
        baselines=["numpy (hand-written)"],
    )
    for batch in settings.batches:
        problem = b2_problem(batch)
        reference = b2_reference(problem)
        report.checks[f"batch {batch}"] = {"losses": reference["losses"]}
        for name, make, note in B2_PEERS:
            peer = f"{name} [batch {batch}]"
            try:
                problem_text = b2_check(make, problem, reference)
                params, x, labels = problem
                step, _ = make(params, x, labels)
            except Skip as exc:
                report.skip(peer, str(exc))
                continue
            if problem_text:
                report.wrong(peer, problem_text)
                continue
            report.queue(peer, step, 1e3, note)
        report.time_queued(settings)
    # Ratios compare peers at the same batch size.
    report.baselines = [f"numpy (hand-written) [batch {b}]" for b in settings.batches]
    report.finish()
    for row in report.rows:
        batch_tag = row.peer[row.peer.rfind("[") :]
        row.ratios = {k: v for k, v in row.ratios.items() if k.endswith(batch_tag)}
        row.paired = {k: v for k, v in row.paired.items() if k.endswith(batch_tag)}
    return report


# =============================================================== B3: small ops
B3_OPS = 200
B3_SIZE = 64
B3_SEED = 20240602
B3_RTOL = 1e-9
# The cycle of elementwise ops; this order keeps the values bounded: after tanh
# they lie in (-1, 1), after exp in (0.37, 2.72), after neg in (-2.72, -0.37).
B3_CYCLE = ("add", "mul", "tanh", "exp", "neg")


def b3_problem() -> tuple[np.ndarray, np.ndarray]:
    """The input x (float64, shape (64,)) and the constant added by every `add`."""
    rng = np.random.default_rng(B3_SEED)
    return rng.uniform(-1, 1, B3_SIZE), rng.uniform(-1, 1, B3_SIZE)


# The op sequence, built once so that no peer pays for building it inside a run.
B3_OP_LIST = tuple(B3_CYCLE[k % len(B3_CYCLE)] for k in range(B3_OPS))


# A peer is make(x, c) -> run; run() returns (sum, gradient of the sum w.r.t. x).
def b3_numpy(x0: np.ndarray, c: np.ndarray) -> Callable[[], tuple[float, np.ndarray]]:
    """Forward and backward written by hand: the forward keeps what the backward
    needs (tanh's and exp's outputs), the backward applies each derivative."""
    ops = B3_OP_LIST
    tanh, exp = np.tanh, np.exp

    def run() -> tuple[float, np.ndarray]:
        x = x0
        saved = []
        for op in ops:
            if op == "add":
                x = x + c
            elif op == "mul":
                x = x * 0.9
            elif op == "tanh":
                x = tanh(x)
                saved.append(x)
            elif op == "exp":
                x = exp(x)
                saved.append(x)
            else:
                x = -x
        total = x.sum()
        g = np.ones_like(x)
        for op in reversed(ops):
            if op == "mul":
                g = g * 0.9
            elif op == "tanh":
                t = saved.pop()
                g = g * (1 - t * t)
            elif op == "exp":
                g = g * saved.pop()
            elif op == "neg":
                g = -g
            # add: the gradient passes through unchanged
        return float(total), g

    return run


def _b3_forward(x: Any, c: Any, tanh: Any, exp: Any) -> Any:
    """The 200 ops on any array type with operators, given its tanh and exp."""
    for op in B3_OP_LIST:
        if op == "add":
            x = x + c
        elif op == "mul":
            x = x * 0.9
        elif op == "tanh":
            x = tanh(x)
        elif op == "exp":
            x = exp(x)
        else:
            x = -x
    return x.sum()


def b3_chainrule(x0, c):
    ct = cr.tensor(c)

    def run():
        x = cr.tensor(x0, requires_grad=True)
        total = _b3_forward(x, ct, cr.tanh, cr.exp)
        total.backward()
        return total.item(), x.grad.data

    return run


def b3_chainrule_jit(x0, c):
    ct = cr.tensor(c)
    step = cr.jit(cr.value_and_grad(lambda x: _b3_forward(x, ct, cr.tanh, cr.exp)))
    step(x0 + 0.5)  # two calls with different inputs trace and verify
    step(x0 - 0.5)

    def run():
        total, grad = step(x0)
        return total.item(), grad.data

    return run


def b3_torch(x0, c):
    torch = optional_import("torch")
    ct = torch.from_numpy(c)

    def run():
        x = torch.tensor(x0, requires_grad=True)
        total = _b3_forward(x, ct, torch.tanh, torch.exp)
        total.backward()
        return total.item(), x.grad.numpy()

    return run


def b3_autograd(x0, c):
    ag = optional_import("autograd")
    anp = optional_import("autograd.numpy")
    value_and_grad = ag.value_and_grad(lambda x: _b3_forward(x, c, anp.tanh, anp.exp))

    def run():
        total, grad = value_and_grad(x0)
        return float(total), grad

    return run


def b3_mygrad(x0, c):
    mg = optional_import("mygrad")

    def run():
        x = mg.tensor(x0)
        total = _b3_forward(x, c, mg.tanh, mg.exp)
        total.backward()
        return total.item(), x.grad

    return run


def b3_jax(x0, c, jit: bool = False):
    jax = optional_jax()
    jnp = jax.numpy
    cj = jnp.asarray(c)
    value_and_grad = jax.value_and_grad(lambda x: _b3_forward(x, cj, jnp.tanh, jnp.exp))
    if jit:
        value_and_grad = jax.jit(value_and_grad)
    xj = jnp.asarray(x0)

    def run():
        total, grad = value_and_grad(xj)
        return float(total), np.asarray(grad)  # float() waits for the result

    return run


B3_PEERS: list[tuple[str, Callable[..., Callable[[], Any]], str]] = [
    ("numpy (hand-written)", b3_numpy, "forward keeps tanh/exp outputs; backward by hand"),
    ("chainrule", b3_chainrule, "cr.tensor, cr.tanh, cr.exp, operators; .backward()"),
    ("chainrule jit", b3_chainrule_jit, "cr.jit(cr.value_and_grad(f)), compiled"),
    ("torch eager", b3_torch, "float64 tensors; .backward()"),
    ("autograd (HIPS)", b3_autograd, "autograd.value_and_grad"),
    ("mygrad", b3_mygrad, "mygrad.tensor; .backward()"),
    ("jax eager", b3_jax, "jax.value_and_grad, not jitted (op-by-op dispatch)"),
    ("jax jit", lambda x0, c: b3_jax(x0, c, jit=True), "jax.jit(jax.value_and_grad(f))"),
]


def case_b3(settings: Settings) -> CaseReport:
    report = CaseReport(
        case="B3",
        title=f"small ops: {B3_OPS} elementwise ops (add c, mul 0.9, tanh, exp, neg) on "
        f"float64 ({B3_SIZE},), then sum; forward + backward",
        unit="us/op",
        baselines=["numpy (hand-written)"],
    )
    x0, c = b3_problem()
    ref_value, ref_grad = b3_numpy(x0, c)()
    report.checks["reference"] = {"sum": ref_value, "grad_norm": float(np.linalg.norm(ref_grad))}
    for name, make, note in B3_PEERS:
        try:
            run = make(x0, c)
            value, grad = run()
        except Skip as exc:
            report.skip(name, str(exc))
            continue
        grad = np.asarray(grad)
        if not rel_close(value, ref_value, B3_RTOL):
            report.wrong(name, f"sum {value!r}, expected {ref_value!r}")
            continue
        if not np.allclose(grad, ref_grad, rtol=B3_RTOL, atol=0):
            err = np.max(np.abs(grad - ref_grad) / np.abs(ref_grad))
            report.wrong(name, f"gradient off by {err:.3g} relative")
            continue
        report.queue(name, run, 1e6 / B3_OPS, note)
    report.time_queued(settings)
    if settings.profile:
        report.checks["profile"] = profile_chainrule(
            b3_chainrule(x0, c), 20, B3_OPS, "op", "cProfile, 20 calls of chainrule's B3 run"
        )
    return report.finish()


# ================================================================= B4: Hessian
B4_DIM = 100
B4_SEED = 20240603
B4_RTOL = 1e-9


def b4_problem() -> np.ndarray:
    return np.random.default_rng(B4_SEED).uniform(-1, 1, B4_DIM)


def b4_analytic(x: np.ndarray) -> np.ndarray:
    """The extended Rosenbrock function's Hessian, tridiagonal, derived by hand.

    f = sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2, i = 0 .. n-2:
    d2f/dx_i^2 = 1200 x_i^2 - 400 x_{i+1} + 2 (i < n-1), plus 200 (i > 0);
    d2f/dx_i dx_{i+1} = -400 x_i.
    """
    n = x.shape[0]
    h = np.zeros((n, n))
    i = np.arange(n - 1)
    h[i, i] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    h[i + 1, i + 1] += 200
    h[i, i + 1] = h[i + 1, i] = -400 * x[:-1]
    return h


def _rosenbrock(x: Any) -> Any:
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def b4_chainrule(x):
    hessian = cr.hessian(_rosenbrock)
    return lambda: hessian(x).data


def b4_chainrule_jit(x):
    hessian = cr.jit(cr.hessian(_rosenbrock))
    hessian(x + 0.25)  # two calls with different inputs trace and verify
    hessian(x - 0.25)
    return lambda: hessian(x).data


def b4_torch(x):
    torch = optional_import("torch")
    func = optional_import("torch.func")
    hessian = func.hessian(_rosenbrock)
    xt = torch.from_numpy(x)
    return lambda: hessian(xt).numpy()


def b4_autograd(x):
    ag = optional_import("autograd")
    hessian = ag.hessian(_rosenbrock)
    return lambda: hessian(x)


def b4_jax(x, jit: bool = False):
    jax = optional_jax()
    hessian = jax.hessian(_rosenbrock)
    if jit:
        hessian = jax.jit(hessian)
    xj = jax.numpy.asarray(x)
    return lambda: np.asarray(hessian(xj))  # np.asarray waits for the result


B4_PEERS: list[tuple[str, Callable[..., Callable[[], Any]], str]] = [
    ("torch.func.hessian", b4_torch, "torch.func.hessian (forward over reverse, vmapped)"),
    ("chainrule", b4_chainrule, "cr.hessian(f)(x): jacfwd(grad(f)), unit tangents as one stack"),
    ("chainrule jit", b4_chainrule_jit, "cr.jit(cr.hessian(f)), compiled"),
    ("autograd (HIPS)", b4_autograd, "autograd.hessian"),
    ("jax eager", b4_jax, "jax.hessian, not jitted"),
    ("jax jit", lambda x: b4_jax(x, jit=True), "jax.jit(jax.hessian(f))"),
]


def case_b4(settings: Settings) -> CaseReport:
    report = CaseReport(
        case="B4",
        title=f"Hessian of the extended Rosenbrock function, {B4_DIM} dimensions, float64",
        unit="ms/Hessian",
        baselines=["torch.func.hessian"],
    )
    x = b4_problem()
    ref = b4_analytic(x)
    scale = np.abs(ref).max()
    for name, make, note in B4_PEERS:
        try:
            run = make(x)
            got = np.asarray(run())
        except Skip as exc:
            report.skip(name, str(exc))
            continue
        if got.shape != ref.shape or np.max(np.abs(got - ref)) > B4_RTOL * scale:
            report.wrong(name, f"differs from the analytic Hessian (shape {got.shape})")
            continue
        report.queue(name, run, 1e3, note)
    report.time_queued(settings)
    if settings.profile:
        report.checks["profile"] = profile_chainrule(
            b4_chainrule(x), 20, 1, "Hessian", "cProfile, 20 calls of chainrule's B4 Hessian"
        )
    return report.finish()


def profile_chainrule(
    run: Callable[[], Any], iterations: int, per_call: int, unit: str, note: str
) -> dict[str, Any]:
    """cProfile ``run`` and group its own time by part of chainrule (see _profile_group)."""
    run()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(iterations):
        run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    groups: dict[str, float] = {}
    top = []
    total = 0.0
    for (filename, line, func), (_cc, ncalls, tottime, _ct, _callers) in stats.stats.items():
        group = _profile_group(filename, func)
        groups[group] = groups.get(group, 0.0) + tottime
        total += tottime
        top.append(
            (tottime, ncalls, f"{Path(filename).parent.name}/{Path(filename).name}:{line}:{func}")
        )
    top.sort(reverse=True)
    scale = 1e6 / (iterations * per_call)
    return {
        "note": f"{note}; tottime by group, microseconds per {unit} (profiler overhead included)",
        "unit": f"us/{unit}",
        "total_us": total * scale,
        "groups_us": {
            k: round(v * scale, 3) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])
        },
        "top_functions": [
            {
                "function": where,
                "calls_per_unit": ncalls / (iterations * per_call),
                "tottime_us": round(t * scale, 3),
            }
            for t, ncalls, where in top[:15]
        ],
    }


# ============================================================ worker processes
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
    if kind == "scale":
        return scale_worker(spec["n"], spec["repeats"])
    raise ValueError(f"unknown worker kind {kind!r}")


def spawn_worker(spec: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """Run ``spec`` in a fresh Python process; returns its result, or {"skip": why}.

    Workers for a peer other than chainrule do not import chainrule.
    """
    env = dict(os.environ)
    if spec.get("peer") is not None and not spec["peer"].startswith("chainrule"):
        env[SKIP_CHAINRULE_ENV] = "1"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"skip": f"worker timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"skip": f"worker failed (exit {done.returncode}): {done.stderr.strip()[-400:]}"}
    return json.loads(lines[-1])


def rss_now_mb() -> float:
    """Resident set size right now (VmRSS), in MB (10^6 bytes)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    This is VmHWM, the peak of the process's own memory map. ``ru_maxrss`` would be
    the same number in a process started from a small one, but Linux carries it
    over fork and exec: a worker spawned by this script (which has torch and JAX
    loaded, 500+ MB) would report the parent's peak. ``ru_maxrss`` is recorded as
    well (``ru_maxrss_mb``) for comparison.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return ru_maxrss_mb()


def ru_maxrss_mb() -> float:
    """getrusage(RUSAGE_SELF).ru_maxrss (KiB on Linux) in MB; see peak_rss_mb."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


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


# ====================================================================== memory
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


# ======================================================================= scale
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


# ===================================================================== ceiling
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


# ============================================================ B2 in isolation
ISOLATED_ROUNDS = 3


def case_b2_isolated(settings: Settings) -> CaseReport:
    """B2 with every peer in its own fresh process (no second library loaded).

    The peers' processes run in rounds (one process per peer per round, in turn), so
    a slow spell on the machine lands on one round of each peer; the median is over
    all the repeats of all the rounds.
    """
    rounds = 1 if settings.quick else ISOLATED_ROUNDS
    per_round = max(1, math.ceil(settings.repeats / rounds))
    report = CaseReport(
        case="B2-isolated",
        title="B2 MLP step with each peer alone in a fresh process",
        unit="ms/step",
        baselines=[f"numpy (hand-written) [batch {b}]" for b in settings.batches],
    )
    report.notes.append(
        f"{rounds} round(s) of one process per peer, {per_round} repeats each; processes for "
        "peers other than chainrule do not import chainrule."
    )
    sub = asdict(settings)
    sub["repeats"] = per_round
    for batch in settings.batches:
        samples: dict[str, list[float]] = {}
        numbers: dict[str, int] = {}
        for _ in range(rounds):
            for name, _, _ in B2_PEERS:
                peer = f"{name} [batch {batch}]"
                if peer in (r.peer for r in report.rows):
                    continue  # skipped or wrong in an earlier round
                out = spawn_worker({"kind": "b2", "peer": name, "batch": batch, "settings": sub})
                if "skip" in out:
                    report.skip(peer, out["skip"])
                elif "wrong" in out:
                    report.wrong(peer, out["wrong"])
                else:
                    samples.setdefault(peer, []).extend(out["timing"]["samples"])
                    numbers[peer] = out["timing"]["number"]
        for peer, s in samples.items():
            if peer not in (r.peer for r in report.rows):
                report.add(peer, _summary(s, numbers[peer]), 1e3, "own process")
    report.finish()
    for row in report.rows:
        tag = row.peer[row.peer.rfind("[") :]
        row.ratios = {k: v for k, v in row.ratios.items() if k.endswith(tag)}
        row.paired = {k: v for k, v in row.paired.items() if k.endswith(tag)}
    return report


# =========================================================================== driver
CASES: dict[str, Callable[[Settings], CaseReport]] = {
    "B1": case_b1,
    "B2": case_b2,
    "B2-isolated": case_b2_isolated,
    "B3": case_b3,
    "B4": case_b4,
    "memory": case_memory,
    "scale": case_scale,
    "ceiling": case_ceiling,
}


def version_of(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    cpu: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model", "cpu MHz") and key not in cpu:
                cpu[key] = value.strip()
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_model": cpu.get("model name") or platform.processor() or platform.machine(),
        "cpu_family": cpu.get("cpu family"),
        "cpu_model_number": cpu.get("model"),
        "cpu_mhz": cpu.get("cpu MHz"),
        "logical_cores": os.cpu_count(),
        "usable_cores": affinity,
        "memory": mem,
        "platform": platform.platform(),
    }


def machine_probe() -> dict[str, float]:
    """How fast the machine is right now, on two fixed jobs (taken at the start and
    the end of a run: on a shared machine a slow spell shows up here too)."""

    def loop() -> None:
        total = 0
        for i in range(200_000):
            total += i

    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, 512)).astype(np.float32)

    def median_ms(fn: Callable[[], Any], n: int) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return round(statistics.median(times) * 1e3, 3)

    return {
        "python_loop_200k_ms": median_ms(loop, 9),
        "matmul_512_f32_ms": median_ms(lambda: a @ a, 21),
    }


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages: other work on a shared machine skews timings."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def git_info() -> dict[str, Any]:
    """Which chainrule was measured: where it was imported from and, when that is
    this checkout, the commit and whether chainrule/ had uncommitted changes."""
    package = Path(cr.__file__).resolve().parent
    info: dict[str, Any] = {"chainrule_imported_from": str(package)}
    if package != REPO / "chainrule":
        return info

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    info["commit"] = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", "chainrule")
    info["chainrule_dirty"] = None if status is None else bool(status)
    return info


def software_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "chainrule": getattr(cr, "__version__", None),
        "numpy": np.__version__,
        "torch": version_of("torch"),
        "autograd": version_of("autograd"),
        "micrograd": version_of("micrograd"),
        "mygrad": version_of("mygrad"),
        "jax": version_of("jax"),
        "jaxlib": version_of("jaxlib"),
    }
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # informative only
        pass
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {k: p.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for p in threadpool_info()
        ]
    except ImportError:
        pass
    if info["torch"]:
        import torch

        info["torch_num_threads"] = torch.get_num_threads()
    env = {
        k: os.environ[k]
        for k in (
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "OPENBLAS_CORETYPE",
            "OPENBLAS_L2_SIZE",
        )
        if k in os.environ
    }
    if env:
        info["environment"] = env
    return info


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value < 1 else f"{value:.2f}"


def _ratio(value: float) -> str:
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def print_report(report: CaseReport) -> None:
    print(f"\n{report.case}  {report.title}")
    ratio_names = {name: f"x {name.split(' [')[0]}" for name in report.baselines}
    header = ["peer", f"median {report.unit}", "q1-q3", "calls x repeats"]
    ratio_columns = sorted(set(ratio_names.values()), key=list(ratio_names.values()).index)
    has_paired = any(row.paired for row in report.rows)
    paired_columns = [f"paired {c}" for c in ratio_columns] if has_paired else []
    header += ratio_columns + paired_columns + report.columns
    table = [header]
    for row in report.rows:
        if row.median is None:
            table.append([row.peer, row.status.upper(), "", "", *[""] * (len(header) - 4)])
            continue
        line = [
            row.peer,
            _fmt(row.median),
            f"{_fmt(row.q1)}-{_fmt(row.q3)}",
            f"{row.calls_per_repeat or '-'} x {row.repeats}",
        ]
        by_column = {ratio_names[k]: v for k, v in row.ratios.items()}
        line += [_ratio(by_column[c]) if c in by_column else "" for c in ratio_columns]
        if has_paired:
            paired = {ratio_names[k]: v for k, v in row.paired.items()}
            line += [_ratio(paired[c]) if c in paired else "" for c in ratio_columns]
        line += [_fmt(row.extra.get(c)) for c in report.columns]
        table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for k, r in enumerate(table):
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        print("  " + "  ".join(cells))
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths))
    for row in report.rows:
        if row.status in ("skipped", "wrong"):
            print(f"  {row.status}: {row.peer}: {row.note}")
    for note in report.notes:
        print(f"  note: {note}")
    profile = report.checks.get("profile")
    if profile:
        unit = profile["unit"]
        print(f"  cProfile of chainrule ({profile['total_us']:.2f} {unit} under the profiler):")
        for group, us in profile["groups_us"].items():
            print(f"    {us:9.3f} {unit}  {group}")
        print("  top functions by own time:")
        for entry in profile["top_functions"][:12]:
            print(
                f"    {entry['tottime_us']:9.3f} {unit}  "
                f"{entry['calls_per_unit']:7.2f} calls  {entry['function']}"
            )


def markdown_tables(result: dict[str, Any]) -> str:
    """The tables of a results file in Markdown (for BENCHMARKS.md)."""
    out = []
    for case in result["cases"]:
        names = case["baselines"]
        labels = list(dict.fromkeys(f"x {n.split(' [')[0]}" for n in names))
        columns = case.get("columns", [])
        has_paired = any(row.get("paired") for row in case["rows"])
        paired_labels = [f"paired {c}" for c in labels] if has_paired else []
        heads = labels + paired_labels + columns
        out.append(f"**{case['case']}** {case['title']}\n")
        out.append("| peer | median " + case["unit"] + " | q1-q3 | " + " | ".join(heads) + " |")
        out.append("|---|---:|---:|" + "---:|" * len(heads))
        for row in case["rows"]:
            if row["median"] is None:
                out.append(f"| {row['peer']} | {row['status']} | | " + "| " * len(heads))
                continue
            by_label = {f"x {k.split(' [')[0]}": v for k, v in row["ratios"].items()}
            cells = [_ratio(by_label[c]) if c in by_label else "" for c in labels]
            paired = {f"x {k.split(' [')[0]}": v for k, v in row.get("paired", {}).items()}
            cells += [_ratio(paired[c]) if c in paired else "" for c in paired_labels and labels]
            cells += [_fmt(row.get("extra", {}).get(c)) for c in columns]
            spread = f"{_fmt(row['q1'])}-{_fmt(row['q3'])}"
            out.append(
                f"| {row['peer']} | {_fmt(row['median'])} | {spread} | {' | '.join(cells)} |"
            )
        out.append("")
    return "\n".join(out)


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

    meta = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "label": args.label,
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
            )
        )
    )
    print(f"timing: median of {settings.repeats} repeats of >= {settings.min_time} s each")
    print(f"load average at start: {meta['load_average_at_start']}")

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


if __name__ == "__main__":
    sys.exit(main())
