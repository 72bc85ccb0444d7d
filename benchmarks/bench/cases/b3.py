"""B3 small ops: 200 elementwise ops on float64 (64,), forward + backward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.env import cr
from bench.profiling import profile_chainrule
from bench.report import CaseReport, Skip, array_of, optional_import, optional_jax, rel_close
from bench.timing import Settings

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
        return total.item(), array_of(grad)

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
