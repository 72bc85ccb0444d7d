"""Users declare primitives with the mechanism the built-ins use."""

import numpy as np
import pytest

import chainrule as cr


@cr.primitive(name="test_softplus")
def softplus(x):
    """log(1 + e^x), stable."""
    return np.logaddexp(0.0, x)


# Written with NumPy functions: arrays in a plain pass, Tensors under create_graph.
softplus.defvjp(lambda g, ans, x: g / (1 + np.exp(-x)))
softplus.defjvp(lambda t, ans, x: t / (1 + np.exp(-x)))


@cr.primitive(name="test_scaled_pow", saves_ans=True, formula=("y*x^(y-1)", "x^y*log(x)"))
def scaled_pow(x, y, scale=1.0):
    return scale * np.power(x, y)


scaled_pow.defvjp(
    lambda g, ans, x, y, scale=1.0: g * scale * y * x ** (y - 1),
    lambda g, ans, x, y, scale=1.0: g * ans * np.log(x),
)


def test_custom_primitive_forward_and_gradient():
    x = cr.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    y = softplus(x)
    assert isinstance(y, cr.Tensor) and y.grad_fn.prim is cr.PRIMITIVES["test_softplus"]
    np.testing.assert_allclose(y.data, np.log1p(np.exp(x.data)))
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 1 / (1 + np.exp(-x.data)))
    assert cr.gradcheck(lambda t: softplus(t * t).sum(), (x,))


def test_custom_primitive_second_order():
    x = cr.tensor(0.3, requires_grad=True)
    (g,) = cr.autograd.grad(softplus(x), x, create_graph=True)
    (h,) = cr.autograd.grad(g, x)
    s = 1 / (1 + np.exp(-0.3))
    assert h.item() == pytest.approx(s * (1 - s))


def test_custom_primitive_with_params_and_two_inputs():
    x = cr.tensor([1.5, 2.0], requires_grad=True)
    y = cr.tensor([2.0, 0.5], requires_grad=True)
    assert cr.gradcheck(lambda a, b: scaled_pow(a, b, scale=3.0).sum(), (x, y))
    assert cr.PRIMITIVES["test_scaled_pow"].formulas == ("y*x^(y-1)", "x^y*log(x)")


def test_rule_may_use_chainrule_functions():
    @cr.primitive(name="test_square_cr")
    def square(x):
        return x * x

    square.defvjp(lambda g, ans, x: g * cr.multiply(x, 2))
    x = cr.tensor([1.0, -3.0], requires_grad=True)
    square(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.0, -6.0])


def test_constructing_a_primitive_directly():
    cube = cr.Primitive(
        "test_cube", lambda x: x**3, vjp=lambda g, ans, x: g * 3 * x**2, formula="3*x^2"
    )
    x = cr.tensor(2.0, requires_grad=True)
    cube(x).backward()
    assert x.grad.item() == 12.0


def test_custom_primitive_in_forward_mode():
    x = np.array([-1.0, 0.5])
    out, tangent = cr.jvp(softplus, (x,), (np.array([1.0, 2.0]),))
    np.testing.assert_allclose(tangent.data, np.array([1.0, 2.0]) / (1 + np.exp(-x)))
    hess = cr.hessian(lambda t: softplus(t).sum())(x)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(hess.data, np.diag(s * (1 - s)))


def test_forward_mode_without_a_jvp_rule_says_so():
    with pytest.raises(NotImplementedError, match="'test_scaled_pow' has no jvp rule"):
        cr.jvp(lambda a: scaled_pow(a, 2.0), (np.ones(2),), (np.ones(2),))
