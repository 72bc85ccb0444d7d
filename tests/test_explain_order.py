"""explain(order=2): the second derivative as the chain rule on the first derivative's graph."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main


def sigma(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("z", [-1.5, 0.5, 2.0])
def test_second_derivative_of_the_seed_sigmoid(z):
    ex = cr.explain("1/(1+exp(-z))", z=z, order=2)
    s = sigma(z)
    assert ex.value == pytest.approx(s * (1 - s))  # the explained function is sigma'
    assert ex.gradients["z"] == pytest.approx(s * (1 - s) * (1 - 2 * s))  # its derivative
    d = ex.to_dict()
    ops = [n["op"] for n in d["nodes"]]
    # the forward graph's neg, exp and add are there, then the derivative of 1/h,
    # -1/h^2, built from h as the formula reads: h*h, then -1 over it
    assert ops[:5] == ["neg", "exp", "add", "mul", "div"]
    assert "i = h·h" in str(ex) and "j = -1/i" in str(ex)
    assert "d/dz" in str(ex)


def test_third_order_and_a_python_function():
    ex = cr.explain(lambda x: cr.sin(x) * x, x=0.7, order=3)
    # d^3/dx^3 (x sin x) = -3 sin x - x cos x
    assert ex.gradients["x"] == pytest.approx(-3 * np.sin(0.7) - 0.7 * np.cos(0.7))


def test_several_inputs_need_wrt():
    with pytest.raises(cr.ExplainError, match="wrt="):
        cr.explain("x*y*y", x=1.0, y=2.0, order=2)
    ex = cr.explain("x*y*y", x=1.5, y=2.0, order=2, wrt="y")
    assert ex.value == pytest.approx(2 * 1.5 * 2.0)  # d/dy x y^2
    assert ex.gradients["y"] == pytest.approx(2 * 1.5)
    assert ex.gradients["x"] == pytest.approx(2 * 2.0)
    with pytest.raises(cr.ExplainError, match="not one of the inputs"):
        cr.explain("x*y", x=1.0, y=2.0, order=2, wrt="q")
    with pytest.raises(cr.ExplainError, match="positive integer"):
        cr.explain("x*x", x=1.0, order=0)


def test_cli_order(capsys):
    assert main(["explain", "1/(1+exp(-z))", "--at", "z=0.5", "--order", "2"]) == 0
    out = capsys.readouterr().out
    assert "d/dz" in out and "-0.0575567948" in out
