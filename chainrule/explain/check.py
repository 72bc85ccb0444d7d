"""What backs an explanation's numbers up without SymPy: the gradient against central
finite differences, and a known closed form the function matches numerically.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import no_grad
from chainrule.explain import expr as E
from chainrule.tensor import Tensor, tensor


@dataclass
class Check:
    """The gradient checked against central finite differences (float64).

    An entry is *not comparable* when the finite difference is inf or nan (the
    function is not finite around the point, so there is nothing to compare
    with); ``ok`` is True when every comparable entry agrees and at least one was
    comparable.
    """

    max_abs_error: float
    max_rel_error: float
    checked: int
    total: int
    ok: bool
    skipped: str | None = None
    not_comparable: int = 0

    @property
    def comparable(self) -> bool:
        return self.checked > self.not_comparable


FD_MAX_ENTRIES = 200


def finite_difference_check(
    forward: Callable[[dict[str, Any]], Any],
    inputs: dict[str, np.ndarray],
    gradients: dict[str, np.ndarray],
) -> Check:
    """Compare each gradient entry with (F(x+h) - F(x-h)) / 2h, F = sum of the output."""
    rng = np.random.default_rng(0)
    worst_abs = worst_rel = 0.0
    checked = total = not_comparable = 0
    ok = True

    def f(env: dict[str, np.ndarray]) -> float:
        # Tensors, not arrays: a function may call cr.name or Tensor methods on its inputs
        with no_grad(), np.errstate(all="ignore"):
            out = forward({n: tensor(a) for n, a in env.items()})
        data = out.data if isinstance(out, Tensor) else np.asarray(out, dtype=float)
        return float(np.sum(data))

    for name, x in inputs.items():
        total += x.size
        flat = np.arange(x.size)
        if x.size > FD_MAX_ENTRIES:
            flat = np.sort(rng.choice(x.size, FD_MAX_ENTRIES, replace=False))
        grad = np.asarray(gradients[name], dtype=float).reshape(-1)
        for k in flat:
            idx = np.unravel_index(k, x.shape)
            env = dict(inputs)
            up, down = x.copy(), x.copy()
            with np.errstate(all="ignore"):  # x = inf gives inf - inf: not comparable
                h = 1e-6 * max(1.0, abs(float(x[idx])))
                up[idx] += h
                down[idx] -= h
            env[name] = up
            fp = f(env)
            env[name] = down
            fm = f(env)
            with np.errstate(all="ignore"):
                fd = float((np.float64(fp) - fm) / (2 * h))
            g = float(grad[k])
            checked += 1
            if math.isfinite(fd) and math.isfinite(g):
                err = abs(fd - g)
                worst_abs = max(worst_abs, err)
                worst_rel = max(worst_rel, err / max(1.0, abs(g)))
                if err > 1e-5 * max(1.0, abs(g)):
                    ok = False
            elif fd == g:  # the same infinity
                continue
            elif not math.isfinite(fd):
                not_comparable += 1
            else:  # a finite difference against an infinite or nan gradient
                worst_abs = worst_rel = math.inf
                ok = False
    ok = ok and (checked == 0 or checked > not_comparable)
    return Check(worst_abs, worst_rel, checked, total, ok, not_comparable=not_comparable)


# ------------------------------------------------------- closed forms, without SymPy
def _closed_form_candidates(z: str) -> list[tuple[str, Callable, Callable, E.Expr]]:
    """(function, f(x), f'(x), f' as an expression of z): derivatives people know."""

    def sig(x):
        return 1 / (1 + np.exp(-x))

    s = E.Call("sigmoid", (E.Var(z),))
    t = E.Call("tanh", (E.Var(z),))
    return [
        (
            "σ(z) = 1/(1 + e^-z)",
            sig,
            lambda x: sig(x) * (1 - sig(x)),
            E.Bin("*", s, E.Bin("-", E.Num(1.0), s)),
        ),
        (
            "tanh",
            np.tanh,
            lambda x: 1 - np.tanh(x) ** 2,
            E.Bin("-", E.Num(1.0), E.Bin("^", t, E.Num(2.0))),
        ),
        ("softplus log(1 + e^z)", lambda x: np.log1p(np.exp(x)), sig, s),
    ]


def numeric_closed_form(
    forward: Callable[[dict[str, Any]], Any], arrays: dict[str, np.ndarray]
) -> tuple[E.Expr, str, float] | None:
    """For a function of one number: a known function it equals at several points
    (so its derivative has that function's closed form). Needs no SymPy."""
    if len(arrays) != 1:
        return None
    ((name, x0),) = arrays.items()
    if x0.ndim:
        return None
    points = float(x0) + np.array([-1.3, -0.4, 0.0, 0.35, 1.1, 2.0])
    try:
        with no_grad(), np.errstate(all="ignore"):
            values = []
            for p in points:
                out = forward({name: tensor(np.float64(p))})
                values.append(float(np.asarray(getattr(out, "data", out))))
    except (ArithmeticError, ValueError, TypeError):
        return None
    values = np.array(values)
    for what, f, df, form in _closed_form_candidates(name):
        with np.errstate(all="ignore"):  # e^z overflows far out; it then matches nothing
            known = f(points)
        if np.allclose(values, known, rtol=1e-10, atol=1e-12):
            return form, what, float(df(float(x0)))
    return None
