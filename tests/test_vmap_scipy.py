"""vmap of the chainrule.scipy primitives (solve_triangular, sqrtm, solve_sylvester,
convolve, odeint): values, vmap(grad) and vmap(jvp) equal loops over the examples,
over random shapes, batch axes and dtypes, on every path of each batching rule."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg as sl
from hypothesis import given
from hypothesis import strategies as st
from test_vmap_property import DTYPES, FEW, axes_for, check_vmap, examples_of

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.scipy.linalg as csl
import chainrule.scipy.signal as css
from chainrule.ops import batch_rules_scipy, scipy_linalg
from chainrule.scipy.integrate import odeint


def _eye(n, dtype):
    return np.eye(n, dtype=dtype)


# ------------------------------------------------------------ solve_triangular
@FEW
@given(
    data=st.data(),
    n=st.integers(1, 4),
    k=st.sampled_from([None, 1, 2]),
    lower=st.booleans(),
    trans=st.sampled_from([0, 1, "T"]),
    unit=st.booleans(),
    dtype=DTYPES,
    loop=st.booleans(),
)
def test_solve_triangular(data, n, k, lower, trans, unit, dtype, loop):
    shapes = [(n, n), (n,) if k is None else (n, k)]
    examples = examples_of(data.draw, shapes, dtype)
    axes = data.draw(axes_for([2, len(shapes[1])]))

    def f(a, b):
        a = a + 4 * _eye(n, dtype)  # a well-conditioned triangle
        return csl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit)

    # loop: matrices past TRIANGULAR_STACK_MAX go one by one; both paths are checked.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batch_rules_scipy, "TRIANGULAR_STACK_MAX", 0 if loop else 128)
        check_vmap(f, examples, axes, dtype)


def test_solve_triangular_with_a_shared_matrix_is_one_scipy_call(monkeypatch):
    calls = []
    real = sl.solve_triangular

    def counting(*args, **kwargs):
        calls.append(args[1].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(scipy_linalg.sl, "solve_triangular", counting)
    rng = np.random.default_rng(0)
    a = np.tril(rng.standard_normal((3, 3))) + 3 * np.eye(3)
    bs = rng.standard_normal((5, 3))
    got = cr.vmap(lambda b: csl.solve_triangular(a, b, lower=True))(bs)
    assert calls == [(3, 5)]  # the five right-hand sides as the columns of one
    np.testing.assert_allclose(got, np.linalg.solve(a, bs.T).T, rtol=1e-12)


# --------------------------------------------------------------------- sqrtm
@FEW
@given(data=st.data(), n=st.integers(1, 3), symmetric=st.booleans(), dtype=DTYPES)
def test_sqrtm(data, n, symmetric, dtype):
    examples = examples_of(data.draw, [(n, n)], dtype)
    axes = data.draw(axes_for([2]))
    eye = _eye(n, dtype)

    def f(m):
        if symmetric:  # exactly symmetric and positive definite: the eigh path
            s = m @ m.T
            return csl.sqrtm(0.5 * (s + s.T) + eye)
        return csl.sqrtm(0.3 * m + 2 * eye)  # eigenvalues right of 0: a real root

    check_vmap(f, examples, axes, dtype)


def test_sqrtm_of_a_stack_refuses_negative_eigenvalues_as_scipy_does():
    stack = np.stack([np.eye(2), -np.eye(2)])
    with pytest.raises(ValueError, match="sqrtm: the result is complex"):
        cr.vmap(csl.sqrtm)(stack)


# ----------------------------------------------------------- solve_sylvester
@FEW
@given(
    data=st.data(),
    m=st.integers(1, 3),
    n=st.integers(1, 3),
    dtype=DTYPES,
    kron=st.booleans(),
)
def test_solve_sylvester(data, m, n, dtype, kron):
    examples = examples_of(data.draw, [(m, m), (n, n), (m, n)], dtype)
    axes = data.draw(axes_for([2, 2, 2]))

    def f(a, b, q):  # A's spectrum right of 0.8, -B's left of -0.8: one solution
        return csl.solve_sylvester(0.3 * a + 2 * _eye(m, dtype), 0.3 * b + 2 * _eye(n, dtype), q)

    # kron: one batched linear solve; else one SciPy call per example.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scipy_linalg, "KRON_MAX_UNKNOWNS", 64 if kron else 0)
        check_vmap(f, examples, axes, dtype)


# ------------------------------------------------------------------ convolve
@FEW
@given(
    data=st.data(),
    na=st.integers(1, 5),
    nb=st.integers(1, 5),
    mode=st.sampled_from(["full", "valid", "same"]),
    dtype=DTYPES,
)
def test_convolve_1d(data, na, nb, mode, dtype):
    if mode == "valid" and na < nb:
        na, nb = nb, na
    examples = examples_of(data.draw, [(na,), (nb,)], dtype)
    axes = data.draw(axes_for([1, 1]))
    check_vmap(lambda a, b: css.convolve(a, b, mode=mode), examples, axes, dtype)


@FEW
@given(data=st.data(), dtype=DTYPES)
def test_convolve_with_kept_and_summed_axes(data, dtype):
    # a: (channels 2, kept 3, length 4); b: (channels 2, length 2, kept 1)
    examples = examples_of(data.draw, [(2, 3, 4), (2, 2, 1)], dtype)
    axes = data.draw(axes_for([3, 3]))

    def f(a, b):
        return css.convolve(a, b, axes=([2], [1]), dot_axes=([0], [0]), mode="valid")

    check_vmap(f, examples, axes, dtype)


# -------------------------------------------------------------------- odeint
def test_odeint_runs_once_per_example_with_the_loop_s_values_and_gradients():
    rng = np.random.default_rng(2)
    y0s = rng.uniform(0.5, 1.5, (3, 2))
    rates = rng.uniform(0.1, 1.0, (3,))
    t = np.array([0.0, 0.5, 1.0])

    def decay(y, t, r):
        return -r * y + 0.1 * cnp.sin(t)

    def f(y0, r):
        return odeint(decay, y0, t, (r,), rtol=1e-10, atol=1e-10)

    def loss(y0, r):
        return cr.sum(f(y0, r) ** 2)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback warning
        got = cr.vmap(f)(y0s, rates)
        grads = cr.vmap(cr.grad(loss, (0, 1)))(y0s, rates)
    for b in range(3):
        np.testing.assert_allclose(got[b], f(y0s[b], rates[b]), rtol=1e-12)
        one = cr.grad(loss, (0, 1))(y0s[b], rates[b])
        np.testing.assert_allclose(grads[0][b], one[0], rtol=1e-9)
        np.testing.assert_allclose(grads[1][b], one[1], rtol=1e-9)


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_convolve_of_two_batched_operands_pairs_the_examples(mode):
    from chainrule.ops import scipy_signal

    rng = np.random.default_rng(3)
    xs, ks = rng.standard_normal((5, 2, 6)), rng.standard_normal((5, 2, 3))

    def f(x, k):  # channels summed, length convolved
        return css.convolve(x, k, axes=([1], [1]), dot_axes=([0], [0]), mode=mode)

    calls = []
    real = scipy_signal.convolve.forward
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            scipy_signal.convolve, "forward", lambda *a, **p: calls.append(1) or real(*a, **p)
        )
        got = cr.vmap(f)(xs, ks)
    assert len(calls) == 1  # one einsum for the batch, not one per example
    np.testing.assert_allclose(got, np.stack([f(x, k) for x, k in zip(xs, ks)]), rtol=1e-12)
    # Per-example gradients with a shared kernel: the kernel's gradient convolves the
    # batch of upstream gradients with the batch of inputs, both batched.
    kernel = ks[0]

    def loss(k, x):
        return cr.sum(cr.tanh(f(x, k)))

    grads = cr.vmap(cr.grad(loss), in_axes=(None, 0))(kernel, xs)
    for b in range(5):
        np.testing.assert_allclose(grads[b], cr.grad(loss)(kernel, xs[b]), rtol=1e-10)


def test_convolve_nested_vmap_keeps_both_batch_axes():
    rng = np.random.default_rng(4)
    xs, ks = rng.standard_normal((3, 4, 6)), rng.standard_normal((3, 4, 2))

    def f(x, k):
        return css.convolve(x, k, mode="full")

    got = cr.vmap(cr.vmap(f))(xs, ks)
    want = np.stack([np.stack([f(x, k) for x, k in zip(xr, kr)]) for xr, kr in zip(xs, ks)])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    got = cr.vmap(cr.vmap(f, in_axes=(0, None)), in_axes=(None, 0))(xs[0], ks[:, 0])
    want = np.stack([np.stack([f(x, k) for x in xs[0]]) for k in ks[:, 0]])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    gx = cr.vmap(cr.vmap(cr.grad(lambda x, k: cr.sum(f(x, k) ** 2), (0, 1))))(xs, ks)
    for i in range(3):
        for j in range(4):
            one = cr.grad(lambda x, k: cr.sum(f(x, k) ** 2), (0, 1))(xs[i, j], ks[i, j])
            np.testing.assert_allclose(gx[0][i, j], one[0], rtol=1e-10)
            np.testing.assert_allclose(gx[1][i, j], one[1], rtol=1e-10)


def test_the_batch_parameter_of_convolve_against_finite_differences():
    from chainrule.ops.scipy_signal import convolve

    rng = np.random.default_rng(5)
    a = cr.tensor(rng.standard_normal((3, 2, 5)), requires_grad=True)
    b = cr.tensor(rng.standard_normal((2, 3, 3)), requires_grad=True)
    # a: (pair, dot, conv); b: (dot, pair, conv)
    params = {"conv": ((2,), (2,)), "dot": ((1,), (0,)), "lo": (1,), "hi": (6,)}
    params["batch"] = ((0,), (1,))
    want = np.stack(
        [
            convolve.forward(
                a.numpy()[i], b.numpy()[:, i], conv=((1,), (1,)), dot=((0,), (0,)), lo=(1,), hi=(6,)
            )
            for i in range(3)
        ]
    )
    np.testing.assert_allclose(convolve(a, b, **params).numpy(), want, rtol=1e-12)
    assert cr.gradcheck(lambda x, y: convolve(x, y, **params), (a, b))
    assert cr.gradgradcheck(lambda x, y: convolve(x, y, **params), (a, b))
