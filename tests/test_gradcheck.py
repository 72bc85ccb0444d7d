"""gradcheck: passes on right gradients, names the worst mismatch on wrong ones."""

import numpy as np
import pytest

import chainrule as cr


def test_passes_on_correct_gradients():
    x = cr.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    w = cr.tensor(np.linspace(0.5, 1.5, 3), requires_grad=True)
    assert cr.gradcheck(lambda a, b: cr.tanh(a * b).sum(axis=0), (x, w))


def test_float32_inputs_are_checked_in_float64():
    x = cr.tensor(np.array([0.1, 0.2], dtype=np.float32), requires_grad=True)
    assert cr.gradcheck(lambda t: cr.exp(t).sum(), (x,))


def test_constant_inputs_are_not_checked():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([3.0, 4.0])
    assert cr.gradcheck(lambda a, b: (a * b).sum(), (x, c))
    with pytest.raises(ValueError, match="no input requires grad"):
        cr.gradcheck(lambda a: a.sum(), (c,))


def test_reports_the_worst_mismatch():
    @cr.primitive(name="test_wrong_square")
    def wrong_square(x):
        return x * x

    # Wrong on purpose: 3x instead of 2x.
    wrong_square.defvjp(lambda g, ans, x: g * 3 * x)
    x = cr.tensor([1.0, 2.0, -4.0], requires_grad=True)
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradcheck(lambda t: wrong_square(t), (x,))
    message = str(info.value)
    assert "input 0 at index (2,)" in message  # |-12 - -8| is the largest error
    assert "analytic -12.0" in message
    assert "numeric -8.0" in message or "numeric -7.99999" in message


def test_single_tensor_input():
    x = cr.tensor(0.5, requires_grad=True)
    assert cr.gradcheck(cr.sin, x)
