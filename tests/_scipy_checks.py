"""Checks shared by the ``chainrule.scipy`` tests: a function against finite
differences, forward mode against reverse mode, and HIPS autograd's gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np
from hypothesis import HealthCheck, settings

import chainrule as cr

FEW = settings(
    max_examples=8,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def raw(x: Any) -> np.ndarray:
    return np.asarray(x.data if isinstance(x, cr.Tensor) else x)


def leaf(x: Any) -> cr.Tensor:
    return cr.tensor(np.asarray(x, dtype=np.float64), dtype="float64", requires_grad=True)


def weighted(fn: Callable[..., Any], weights: np.ndarray) -> Callable[..., Any]:
    """sum(fn(...) * weights): a scalar whose gradient is the VJP of ``weights``."""
    w = cr.tensor(weights, dtype="float64")
    return lambda *a: (fn(*a) * w).sum()


def check_gradients(
    fn: Callable[..., Any],
    args: Sequence[Any],
    wrt: Sequence[int],
    autograd_fn: Callable[..., Any] | None = None,
    autograd_wrt: Sequence[int] | None = None,
    seed: int = 0,
    rtol: float = 1e-3,
    atol: float = 1e-5,
    second_order: bool = False,
) -> None:
    """Reverse mode against central differences, forward mode against reverse mode
    (<w, J u> = <J^T w, u>), and the gradients against autograd's where given."""
    rng = np.random.default_rng(seed)
    out = raw(fn(*args))
    w = rng.standard_normal(out.shape)
    scalar = weighted(fn, w)
    inputs = [leaf(a) if i in wrt else a for i, a in enumerate(args)]
    assert cr.gradcheck(scalar, inputs, rtol=rtol, atol=atol)
    if second_order:
        assert cr.gradgradcheck(scalar, inputs, rtol=rtol, atol=atol)

    inputs = [leaf(a) if i in wrt else a for i, a in enumerate(args)]
    scalar(*inputs).backward()
    grads = {i: raw(inputs[i].grad) for i in wrt}

    # forward mode: one random tangent in every differentiable input at once
    tangents = {i: rng.standard_normal(np.shape(args[i])) for i in wrt}

    def of_wrt(*xs: Any) -> Any:
        full = list(args)
        for i, x in zip(wrt, xs):
            full[i] = x
        return fn(*full)

    _, t_out = cr.jvp(of_wrt, [leaf(args[i]) for i in wrt], [tangents[i] for i in wrt])
    lhs = float(np.sum(w * raw(t_out)))
    rhs = float(sum(np.sum(grads[i] * tangents[i]) for i in wrt))
    assert np.isclose(lhs, rhs, rtol=1e-7, atol=1e-9), (lhs, rhs)

    if autograd_fn is not None:
        for i in autograd_wrt if autograd_wrt is not None else wrt:
            ref = autograd.grad(lambda *a: anp.sum(autograd_fn(*a) * w), i)(
                *[np.asarray(a, dtype=np.float64) if j in wrt else a for j, a in enumerate(args)]
            )
            # Where autograd's own gradient is nan (SciPy's iv near the smallest
            # floats, which chainrule's rule avoids), finite differences above decide.
            ref, got = np.broadcast_arrays(ref, grads[i])
            known = np.isfinite(ref)
            np.testing.assert_allclose(got[known], ref[known], rtol=1e-7, atol=1e-10)
