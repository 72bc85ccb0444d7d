"""``chainrule.test_util.check_grads`` and ``chainrule.builtins``, in autograd's call forms."""

from __future__ import annotations

import numpy as onp
import pytest

import chainrule as cr
import chainrule.numpy as np
from chainrule import builtins
from chainrule.extend import defjvp, defvjp, primitive
from chainrule.test_util import check_grads, combo_check

X = onp.random.RandomState(3).randn(4)


def values(x):
    """A transform's result as an array (a Tensor or an array)."""
    return x.detach().data if isinstance(x, cr.Tensor) else onp.asarray(x)


def test_check_grads_passes_on_correct_derivatives_all_call_forms():
    check_grads(np.tanh)(X)
    check_grads(np.tanh, modes=["rev"], order=1)(X)
    check_grads(lambda a, b: np.sin(a) * b, argnum=1)(X, X)
    check_grads(lambda a, b: np.sin(a) * np.exp(b), (0, 1), modes=["fwd", "rev"], order=2)(X, X)
    check_grads(lambda a: (np.sin(a), a**2))(X)  # several outputs
    check_grads(np.tanh, X)  # older autograd's form: checked at once
    check_grads(lambda a: a**3)(1.5)  # a number


@pytest.fixture
def wrong_second_derivative():
    """A primitive whose first derivative is right and whose VJP rule is not
    differentiable correctly: it uses a constant where it should use x."""

    @primitive
    def square(x):
        return x**2

    defvjp(square, lambda ans, x: lambda g: g * 2 * onp.asarray(getattr(x, "data", x)) * 1.0)
    return square


def test_check_grads_catches_a_wrong_first_derivative():
    @primitive
    def square(x):
        return x**2

    defvjp(square, lambda ans, x: lambda g: g * 2.001 * x)
    with pytest.raises(AssertionError, match=r"VJP\) check of <lambda> failed"):
        check_grads(lambda a: square(a), modes=["rev"], order=1)(X)
    defjvp(square, lambda g, ans, x: g * 1.999 * x)
    with pytest.raises(AssertionError, match=r"JVP\) check"):
        check_grads(lambda a: square(a), modes=["fwd"], order=1)(X)


def test_check_grads_catches_a_wrong_second_derivative(wrong_second_derivative):
    f = lambda a: wrong_second_derivative(a)  # noqa: E731
    check_grads(f, modes=["rev"], order=1)(X)  # first order is right
    with pytest.raises(AssertionError, match="vjp_"):
        check_grads(f, modes=["rev"], order=2)(X)


def _net(p, x):
    return np.sum(np.tanh(np.dot(x, p["w"]) + p["b"][0]) * p["b"][1])


PARAMS = {"w": onp.array([[0.3, -0.2], [0.1, 0.5]]), "b": (onp.array([0.1, 0.2]), 0.7)}


def test_check_grads_checks_every_leaf_of_pytree_arguments_and_outputs():
    check_grads(_net, modes=["fwd", "rev"], order=2)(PARAMS, onp.array([1.0, 2.0]))
    check_grads(_net, argnum=(0, 1), order=2)(PARAMS, onp.array([1.0, 2.0]))
    # a pytree output: its leaves are checked, cotangents given in its structure
    check_grads(lambda p: {"a": np.sin(p["w"]), "c": [p["b"][1] * p["w"]]}, order=2)(PARAMS)
    check_grads(lambda ab: ab[0] * ab[1], order=2)([1.5, 2.5])


def test_check_grads_catches_a_wrong_derivative_in_one_leaf_of_a_pytree():
    @primitive
    def square(x):
        return x**2

    defvjp(square, lambda ans, x: lambda g: g * 2.001 * x)
    with pytest.raises(AssertionError, match=r"VJP\) check"):
        check_grads(lambda p: _net(p, onp.ones(2)) + np.sum(square(p["b"][0])), modes=["rev"])(
            PARAMS
        )


def test_check_grads_refuses_bad_arguments():
    with pytest.raises(ValueError, match="modes must be among"):
        check_grads(np.tanh, modes=["sideways"])(X)
    with pytest.raises(ValueError, match="out of range"):
        check_grads(np.tanh, argnum=2)(X)
    with pytest.raises(TypeError, match="checks floating-point inputs"):
        check_grads(np.tanh)(onp.array(["a"]))
    with pytest.raises(ValueError, match="no leaves"):
        check_grads(lambda p: 0.0)({})


def test_combo_check_runs_every_combination():
    calls = []

    def f(x, y, power=2):
        calls.append(power)
        return np.sum(x**power) * y

    combo_check(f, [0, 1], modes=["rev"], order=1)([X, X[:2]], [1.5], power=[2, 3])
    assert set(calls) == {2, 3}


def test_builtins_behave_as_autogradss_on_tensors():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    assert builtins.isinstance(t, onp.ndarray)
    assert not builtins.isinstance(t, float)
    assert builtins.type(t) is onp.ndarray
    assert builtins.isinstance((1, 2), builtins.tuple)
    assert builtins.tuple([t, t])[0] is t
    assert builtins.list((t,)) == [t]
    assert builtins.dict(a=t)["a"] is t


def test_programs_using_builtins_differentiate():
    def loss(params):
        ws = builtins.tuple(params)  # as ode_net.py does with its parameter list
        total = 0.0
        for w in ws:
            if builtins.isinstance(w, onp.ndarray):
                total = total + np.sum(w**2)
        return total

    a, b = onp.array([1.0, 2.0]), onp.array([3.0])
    ga = cr.grad(lambda p, q: loss([p, q]), argnums=(0, 1))(a, b)
    onp.testing.assert_allclose(values(ga[0]), 2 * a)
    onp.testing.assert_allclose(values(ga[1]), 2 * b)
