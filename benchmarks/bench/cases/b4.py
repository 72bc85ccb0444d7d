"""B4 Hessian of the 100-dimensional extended Rosenbrock function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.env import cr
from bench.profiling import profile_chainrule
from bench.report import CaseReport, Skip, array_of, optional_import, optional_jax
from bench.timing import Settings

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
    return lambda: array_of(hessian(x))


def b4_chainrule_jit(x):
    hessian = cr.jit(cr.hessian(_rosenbrock))
    hessian(x + 0.25)  # two calls with different inputs trace and verify
    hessian(x - 0.25)
    return lambda: array_of(hessian(x))


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
