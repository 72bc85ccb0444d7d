"""B1 scalar chain: 500 chained sigmoids, forward + backward, per op."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.env import cr
from bench.profiling import profile_chainrule
from bench.report import CaseReport, Skip, optional_import, rel_close
from bench.timing import Settings

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
