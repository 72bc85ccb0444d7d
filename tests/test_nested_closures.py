"""A transform inside a function differentiates with respect to its own argument
only: values the inner function closes over are constants to it, even when they
depend on the outer argument (no "perturbation confusion"). JAX, torch.func and
HIPS autograd agree on these numbers; chainrule used to follow the closed-over
paths as well and return another number without an error."""

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import chainrule as cr
import chainrule.numpy as cnp

finite = st.floats(-2.0, 2.0, allow_nan=False)
vectors = st.integers(1, 4).flatmap(lambda n: arrays(np.float64, n, elements=finite))


def _inner_grad(m, grad):
    def f(x):
        a = m.sin(x) - 1.0  # depends on x; a constant to the inner grad
        inner = grad(lambda y: m.sum(a * y * y))
        return m.sum(inner(x) * x) + m.sum(a)

    return f


def _inner_value_and_grad(m, value_and_grad):
    def f(x):
        a = m.exp(x)
        value, slope = value_and_grad(lambda y: m.sum(a * m.sin(y)))(x)
        return value + m.sum(slope)

    return f


@settings(max_examples=25, deadline=None)
@given(vectors)
def test_grad_of_a_function_that_calls_grad_on_a_closure(x):
    expected = autograd.grad(_inner_grad(anp, autograd.grad))(x)
    np.testing.assert_allclose(
        cr.grad(_inner_grad(cnp, cr.grad))(x), expected, rtol=1e-10, atol=1e-12
    )
    # the same through the other reverse transforms and through forward mode
    np.testing.assert_allclose(
        cr.jacobian(_inner_grad(cnp, cr.grad))(x), expected, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        cr.jacfwd(_inner_grad(cnp, cr.grad))(x), expected, rtol=1e-10, atol=1e-12
    )
    # and on Tensors, against torch.func
    xt = torch.tensor(x, requires_grad=False)

    def f_torch(x):
        a = torch.sin(x) - 1.0
        inner = torch.func.grad(lambda y: (a * y * y).sum())
        return (inner(x) * x).sum() + a.sum()

    got = cr.grad(_inner_grad(cr, cr.grad))(cr.tensor(x))
    np.testing.assert_allclose(
        got.numpy(), torch.func.grad(f_torch)(xt).numpy(), rtol=1e-10, atol=1e-12
    )


@settings(max_examples=25, deadline=None)
@given(vectors)
def test_hessian_of_a_function_that_calls_value_and_grad(x):
    f = _inner_value_and_grad(cnp, cr.value_and_grad)
    f_ag = _inner_value_and_grad(anp, autograd.value_and_grad)
    np.testing.assert_allclose(cr.grad(f)(x), autograd.grad(f_ag)(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cr.hessian(f)(x), autograd.hessian(f_ag)(x), rtol=1e-10, atol=1e-12)


def test_grad_of_a_function_that_calls_vjp_on_a_closure():
    def f(m, vjp):
        def g(x):
            a = x * x
            out, pull = vjp(lambda y: a * y, x)
            back = pull(np.ones(x.shape))
            back = back[0] if isinstance(back, tuple) else back
            return m.sum(back * x) + m.sum(out)

        return g

    x = np.array([0.5, -1.5, 2.0])
    # d/dx [sum(a * x) + sum(a * x)] with the inner pull-back equal to a = x^2
    expected = 6 * x**2
    np.testing.assert_allclose(cr.grad(f(cnp, cr.vjp))(x), expected, rtol=1e-12)


@pytest.mark.parametrize("order", [2, 3])
def test_nested_grad_of_the_argument_itself_is_unchanged(order):
    # no closure: the derivative of x^4 to each order, as before
    f = lambda x: x**4  # noqa: E731
    for _ in range(order):
        f = cr.grad(f)
    expected = {2: 12 * 1.5**2, 3: 24 * 1.5}[order]
    assert f(1.5) == pytest.approx(expected)
