"""``chainrule.scipy.integrate.odeint``: the adjoint gradient in the initial state,
the times and the function's extra arguments equals central differences and HIPS
autograd's; NumPy in gives SciPy's result; what is unsupported says so."""

from __future__ import annotations

import subprocess
import sys

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import scipy.integrate as si
from _scipy_checks import FEW, leaf, raw
from autograd.builtins import tuple as atuple
from autograd.scipy.integrate import odeint as aodeint
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.scipy import misc, special
from chainrule.scipy.integrate import odeint

TOL = {"rtol": 1e-10, "atol": 1e-10}


def dynamics(y, t, a, c):
    return cnp.tanh(cnp.dot(a, y)) * c - 0.1 * y * t


def autograd_dynamics(y, t, a, c):
    return anp.tanh(anp.dot(a, y)) * c - 0.1 * y * t


@FEW
@given(d=st.integers(1, 3), n_times=st.integers(2, 4), seed=st.integers(0, 999))
def test_odeint_gradients(d, n_times, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d))
    c = float(rng.uniform(0.3, 1.0))
    y0 = rng.standard_normal(d)
    t = np.sort(rng.uniform(0, 2, n_times))
    w = rng.standard_normal((n_times, d))

    def loss(y0_, t_, a_, c_):
        return (odeint(dynamics, y0_, t_, args=(a_, c_), **TOL) * w).sum()

    def autograd_loss(y0_, t_, a_, c_):
        return anp.sum(aodeint(autograd_dynamics, y0_, t_, atuple((a_, c_)), **TOL) * w)

    expected = si.odeint(dynamics, y0, t, args=(a, c), **TOL)
    np.testing.assert_allclose(
        raw(odeint(dynamics, leaf(y0), t, args=(a, c), **TOL)), expected, rtol=1e-8
    )
    inputs = [leaf(y0), leaf(t), leaf(a), leaf(c)]
    # The adaptive solver's error (1e-10) over a step of 1e-6 is 1e-4 of noise in a
    # central difference, as large as the tolerance (seed 833 failed so, with the
    # exact gradient); a step of 1e-4 keeps that noise at 1e-6 and the difference's
    # own error at O(1e-8).
    assert cr.gradcheck(loss, inputs, eps=1e-4, atol=1e-5, rtol=1e-4)
    inputs = [leaf(y0), leaf(t), leaf(a), leaf(c)]
    loss(*inputs).backward()
    for i, x in enumerate(inputs):
        ref = autograd.grad(autograd_loss, i)(y0, t, a, c)
        np.testing.assert_allclose(raw(x.grad), ref, rtol=1e-6, atol=1e-9)


@FEW
@given(hidden=st.integers(1, 4), seed=st.integers(0, 999))
def test_odeint_args_may_be_a_pytree_of_parameters_that_require_grad(hidden, seed):
    # HIPS's ode_net passes a network's [(W, b), ...] as odeint's one extra argument.
    rng = np.random.default_rng(seed)
    params = [
        (0.5 * rng.standard_normal((2, hidden)), 0.5 * rng.standard_normal(hidden)),
        (0.5 * rng.standard_normal((hidden, 2)), 0.5 * rng.standard_normal(2)),
    ]
    y0, t = np.array([1.0, -0.5]), np.linspace(0.0, 1.0, 3)

    def net(m):
        def f(y, tt, params):
            for w, b in params:
                y = m.tanh(m.dot(y, w) + b)
            return y

        return f

    def loss(params):
        return cnp.sum(odeint(net(cnp), y0, t, (params,), **TOL) ** 2)

    def autograd_loss(params):
        return anp.sum(aodeint(net(anp), y0, t, atuple((params,)), **TOL) ** 2)

    grads = cr.grad(loss)(params)
    expected = autograd.grad(autograd_loss)(params)
    for (gw, gb), (ew, eb) in zip(grads, expected):
        np.testing.assert_allclose(gw, ew, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(gb, eb, rtol=1e-6, atol=1e-9)
    # and against central differences in one weight (a step of 1e-4: the adaptive
    # solver's own error, ~1e-10, divided by a step of 1e-6 was 4e-4 of the slope for
    # some draws, hidden=1 and seed=193; the truncation error at 1e-4 is ~1e-8)
    eps = 1e-4
    bumped = [[w.copy(), b.copy()] for w, b in params]
    bumped[0][0][0, 0] += eps
    up = float(loss([tuple(p) for p in bumped]))
    bumped[0][0][0, 0] -= 2 * eps
    down = float(loss([tuple(p) for p in bumped]))
    assert grads[0][0][0, 0] == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-7)
    # NumPy in, no grad: SciPy's own result for the same pytree argument
    np.testing.assert_allclose(
        odeint(net(np), y0, t, (params,)), si.odeint(net(np), y0, t, (params,)), rtol=1e-12
    )


def test_odeint_with_numpy_is_scipy_and_constant_args_pass_through():
    def decay(y, t, k, flag):
        assert flag == "keep"  # a constant argument reaches func unchanged
        return -k * y

    y0, t = np.array([1.0, 2.0]), np.array([0.0, 1.0])
    out = odeint(decay, y0, t, args=(0.5, "keep"))
    assert type(out) is np.ndarray
    np.testing.assert_allclose(out, si.odeint(decay, y0, t, args=(0.5, "keep")))
    g = cr.grad(lambda k: odeint(decay, y0, t, args=(k, "keep"), **TOL)[-1].sum())(0.5)
    np.testing.assert_allclose(float(raw(g)), -np.exp(-0.5) * 3.0, rtol=1e-6)


def test_odeint_refuses_second_order_and_forward_mode():
    y0, t = np.array([1.0]), np.array([0.0, 1.0])

    def last(k):
        return odeint(lambda y, tt, kk: -kk * y, y0, t, args=(k,))[-1].sum()

    with pytest.raises(NotImplementedError, match="second order"):
        cr.grad(cr.grad(last))(0.5)
    with pytest.raises(NotImplementedError, match="forward mode"):
        cr.jvp(last, (leaf(0.5),), (np.array(1.0),))


def test_misc_logsumexp_is_special_logsumexp():
    assert misc.logsumexp is special.logsumexp


def test_import_without_scipy_says_how_to_install_it():
    code = (
        "import sys; sys.modules['scipy'] = None\n"
        "import chainrule, chainrule.numpy\n"
        "try:\n"
        "    import chainrule.scipy\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "chainrule[scipy]"' in out.stdout
    assert len(out.stdout.strip().splitlines()) == 1


def test_import_chainrule_does_not_import_scipy():
    code = "import sys, chainrule, chainrule.numpy; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
