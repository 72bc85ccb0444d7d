"""Do chainrule and autograd give HIPS's example programs the same derivatives?

    python benchmarks/hips_gradients.py [--repo PATH]

Some of HIPS autograd's examples (gmm, gplvm, rnn, lstm, hmm_em) print numbers
that start equal to autograd's and drift apart as the optimisation goes on. This
script tells a wrong derivative from rounding: it loads each program's functions
twice in one process, once on autograd and once with its imports changed to
chainrule, and evaluates the objective, its gradient and (for Newton-CG's
programs) a Hessian-vector product at the program's own starting point and at a
random point near it (``--steps N`` also runs the program's optimiser N steps
three times: autograd, autograd from a start point moved by one rounding, and
chainrule). Equal derivatives to ~1e-13 mean the drift is the last bits
of two different but equally exact roundings, amplified by the optimiser: both
libraries sum the same terms in different orders (a gradient is a sum over data
points, time steps, mixture components), so the last bits differ, and an
optimiser that runs hundreds of steps on a non-convex objective multiplies such a
difference (the printed relative difference grows about tenfold every few steps,
from 1e-15). The script prints, per program, the largest relative difference of
each quantity.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as onp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hips_examples import DEFAULT_REPO, export, rewrite  # noqa: E402

#: Helper modules the examples import from their own folder.
HELPERS = ("data_mnist", "data", "gaussian_process", "rnn")


def load(folder: Path, name: str, chainrule: bool) -> types.SimpleNamespace:
    """``examples/<name>.py`` as a module (not run as a script), on either library;
    its helper modules from the examples folder loaded the same way."""
    saved = {h: sys.modules.pop(h, None) for h in HELPERS}
    sys.path.insert(0, str(folder))
    try:
        for helper in HELPERS:
            if helper == name:
                continue
            source = (folder / f"{helper}.py").read_text()
            module = types.ModuleType(helper)
            module.__file__ = str(folder / f"{helper}.py")
            sys.modules[helper] = module
            exec(compile(rewrite(source) if chainrule else source, helper, "exec"), module.__dict__)
        source = (folder / f"{name}.py").read_text()
        namespace = {"__name__": f"probe_{name}", "__file__": str(folder / f"{name}.py")}
        exec(compile(rewrite(source) if chainrule else source, name, "exec"), namespace)
        return types.SimpleNamespace(**namespace)
    finally:
        sys.path.remove(str(folder))
        for h, m in saved.items():
            if m is None:
                sys.modules.pop(h, None)
            else:
                sys.modules[h] = m


def lib(chainrule: bool) -> types.SimpleNamespace:
    if chainrule:
        import chainrule as core
        import chainrule.numpy as np
        from chainrule.misc.flatten import flatten_func
    else:
        import autograd as core
        import autograd.numpy as np
        from autograd.misc.flatten import flatten_func
    return types.SimpleNamespace(
        np=np, grad=core.grad, hvp=core.hessian_vector_product, flatten_func=flatten_func
    )


# ----------------------------------------------------------- one probe each
# A probe builds, from a loaded program and its library, the objective as a
# function of one flat vector and the program's starting point (flat).


def gmm(m: types.SimpleNamespace, L: types.SimpleNamespace) -> tuple[Callable, onp.ndarray]:
    params = m.init_gmm_params(num_components=10, D=2, scale=0.1)
    data = m.make_pinwheel(
        radial_std=0.3, tangential_std=0.05, num_classes=3, num_per_class=100, rate=0.4
    )
    f, _, x0 = L.flatten_func(lambda p: -m.gmm_log_likelihood(p, data), params)
    return f, x0


def gplvm(m: types.SimpleNamespace, L: types.SimpleNamespace) -> tuple[Callable, onp.ndarray]:
    params_per_gp, _, log_ml = m.make_gp_funs(m.rbf_covariance, num_cov_params=3)
    data = m.make_pinwheel(
        radial_std=0.3, tangential_std=0.05, num_classes=3, num_per_class=30, rate=0.4
    )
    n, total = data.shape[0], 2 * params_per_gp

    def objective(params):
        gp = L.np.reshape(params[:total], (2, params_per_gp))
        latents = L.np.reshape(params[total:], (n, 2))
        gp_likelihood = sum(log_ml(gp[i], latents, data[:, i]) for i in range(2))
        return -gp_likelihood - L.np.sum(m.norm.logpdf(latents))

    x0 = onp.random.RandomState(1).randn(total + n * 2) * 0.1
    return objective, x0


def rnn(m: types.SimpleNamespace, L: types.SimpleNamespace) -> tuple[Callable, onp.ndarray]:
    inputs = m.build_dataset(m.__file__, sequence_length=30, alphabet_size=128, max_lines=60)
    params = m.create_rnn_params(input_size=128, output_size=128, state_size=40, param_scale=0.01)
    f, _, x0 = L.flatten_func(lambda p: -m.rnn_log_likelihood(p, inputs, inputs), params)
    return f, x0


def lstm(m: types.SimpleNamespace, L: types.SimpleNamespace) -> tuple[Callable, onp.ndarray]:
    inputs = m.build_dataset(m.__file__, sequence_length=30, alphabet_size=128, max_lines=60)
    params = m.init_lstm_params(input_size=128, output_size=128, state_size=40, param_scale=0.01)
    f, _, x0 = L.flatten_func(lambda p: -m.lstm_log_likelihood(p, inputs, inputs), params)
    return f, x0


def hmm_em(m: types.SimpleNamespace, L: types.SimpleNamespace) -> tuple[Callable, onp.ndarray]:
    folder = Path(m.__file__).parent
    inputs, num_outputs = m.build_dataset(str(folder / "lstm.py"), max_lines=60)
    onp.random.seed(0)
    pi, a, b = m.initialize_hmm_parameters(20, num_outputs)
    natural = (onp.log(pi), onp.log(a), onp.log(b))
    f, _, x0 = L.flatten_func(lambda p: m.log_partition_function(p, inputs), natural)
    return f, x0


PROBES = {"gmm": gmm, "gplvm": gplvm, "rnn": rnn, "lstm": lstm, "hmm_em": hmm_em}


def time_gradient(g: Callable, x: onp.ndarray) -> float:
    """CPU milliseconds per call of ``g(x)``: the median of 5 rounds of 5 calls."""
    rounds = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(5):
            g(x)
        rounds.append((time.process_time() - start) / 5 * 1e3)
    return statistics.median(rounds)


def rel(a: onp.ndarray, b: onp.ndarray) -> float:
    a, b = onp.asarray(a, dtype=float), onp.asarray(b, dtype=float)
    return float(onp.max(onp.abs(a - b)) / max(onp.max(onp.abs(b)), 1e-300))


def optimise(name: str, f: Callable, x0: onp.ndarray, L: types.SimpleNamespace, steps: int):
    """The program's own optimiser for ``steps`` steps; the objective at the end."""
    from scipy.optimize import minimize

    if name in ("rnn", "lstm"):  # adam, step 0.1, as the programs
        from autograd.misc.optimizers import adam as a_adam

        from chainrule.misc.optimizers import adam as c_adam

        adam = c_adam if L.np.__name__.startswith("chainrule") else a_adam
        g = L.grad(f)
        x = adam(lambda x, i: g(x), x0, step_size=0.1, num_iters=steps)
    elif name == "gmm":  # Newton-CG with the Hessian-vector product
        x = minimize(
            f, x0, jac=L.grad(f), hessp=L.hvp(f), method="Newton-CG", options={"maxiter": steps}
        ).x
    else:  # gplvm: conjugate gradients
        x = minimize(f, x0, jac=L.grad(f), method="CG", options={"maxiter": steps}).x
    return float(onp.sum(f(x)))


def drift(names: list[str], folder: Path, steps: int) -> None:
    """The objective after ``steps`` optimiser steps: autograd from the start point,
    autograd from the start point moved by one rounding (1e-16 relative), and
    chainrule from the start point."""
    print(f"\nafter {steps} steps: the objective, and its relative difference from autograd's")
    print(f"{'program':8s} {'autograd':>22s} {'autograd, x0 + 1 ulp':>22s} {'chainrule':>22s}")
    for name in names:
        if name == "hmm_em":
            continue  # EM, not a gradient optimiser: its steps are the printed lines
        out = []
        for chainrule, nudge in ((False, 0.0), (False, 1.0), (True, 0.0)):
            L = lib(chainrule)
            f, x0 = PROBES[name](load(folder, name, chainrule), L)
            x0 = x0 * (1.0 + nudge * onp.finfo(float).eps * onp.sign(onp.sin(onp.arange(x0.size))))
            out.append(optimise(name, f, x0, L, steps))
        base = out[0]
        cells = [f"{base:22.15g}"] + [
            f"{v:14.8g} ({abs(v - base) / abs(base):5.0e})" for v in out[1:]
        ]
        print(f"{name:8s} " + " ".join(cells))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", default=list(PROBES))
    ap.add_argument("--repo", type=Path, default=DEFAULT_REPO)
    ap.add_argument("--steps", type=int, default=0, help="also optimise this many steps")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        export(args.repo, Path(tmp), False)
        folder = Path(tmp, "examples")
        if args.steps:
            drift(args.names, folder, args.steps)
            print()
        print(f"{'program':8s} {'point':6s} {'value':>9s} {'gradient':>9s} {'hvp':>9s}")
        timings = []
        for name in args.names:
            found = {}
            gradient_times = {}
            for chainrule in (False, True):
                L = lib(chainrule)
                f, x0 = PROBES[name](load(folder, name, chainrule), L)
                rs = onp.random.RandomState(0)
                points = {"start": x0, "near": x0 + 0.1 * rs.randn(*onp.shape(x0))}
                v = rs.randn(*onp.shape(x0))
                found[chainrule] = {
                    where: (f(x), L.grad(f)(x), L.hvp(f)(x, v) if name in ("gmm",) else None)
                    for where, x in points.items()
                }
                gradient_times[chainrule] = (time_gradient(L.grad(f), x0),)
            for where in ("start", "near"):
                (fa, ga, ha), (fc, gc, hc) = found[False][where], found[True][where]
                h = "-" if ha is None else f"{rel(hc, ha):9.1e}"
                print(f"{name:8s} {where:6s} {rel(fc, fa):9.1e} {rel(gc, ga):9.1e} {h:>9s}")
            timings.append((name, *gradient_times[False], *gradient_times[True]))
        print("\nthe gradient at the start point, CPU ms per call (median of 5 x 5 calls)")
        print(f"{'program':8s} {'autograd':>9s} {'chainrule':>9s} {'ratio':>6s}")
        for name, a, c in timings:
            print(f"{name:8s} {a:9.2f} {c:9.2f} {a / c:6.2f}")


if __name__ == "__main__":
    main()
