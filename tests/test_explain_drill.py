"""Drilling down: one layer of a network explained node by node, one output entry as scalars."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.explain.errors import ExplainError
from chainrule.explain.explanation import Explanation
from chainrule.explain.expr import format_number


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture
def net():
    model = nn.Sequential(nn.Linear(3, 2), nn.Sigmoid(), nn.Linear(2, 1))
    x = np.arange(12.0).reshape(4, 3) / 10 - 0.5
    target = np.ones((4, 1))
    return model, x, target, cr.explain(model, x, target=target)


def _by_hand(model, x, target):
    """The pass computed with NumPy: each layer's input, output and d loss / d output."""
    w1, b1 = model[0].weight.data, model[0].bias.data
    w2, b2 = model[2].weight.data, model[2].bias.data
    h = x @ w1.T + b1
    s = _sigmoid(h)
    y = s @ w2.T + b2
    g_y = 2 * (y - target) / y.size  # mse_loss, mean reduction
    g_s = g_y @ w2
    g_h = g_s * s * (1 - s)
    return {"h": h, "s": s, "g_s": g_s, "g_h": g_h, "g_x": g_h @ w1, "g_w1": g_h.T @ x}


def test_layer_linear_matches_a_direct_computation(net):
    model, x, target, ex = net
    hand = _by_hand(model, x, target)
    lin = ex.layer("0")
    assert isinstance(lin, Explanation)
    np.testing.assert_allclose(lin.value, hand["h"], rtol=1e-10)
    # the upstream at the layer's output is the network's d loss / d output
    np.testing.assert_allclose(lin.root.grad, hand["g_h"], rtol=1e-10)
    np.testing.assert_allclose(lin.gradients["x"], hand["g_x"], rtol=1e-10)
    weight = lin.step("weight").vertex
    np.testing.assert_allclose(weight.grad, hand["g_w1"], rtol=1e-6)  # float32, as the model
    assert lin.check.ok
    text = str(lin)
    assert "weight" in text and "d loss / d output" in text
    assert "mean" in text  # arrays summarised by shape and statistics


def test_layer_sigmoid_matches_a_direct_computation(net):
    model, x, target, ex = net
    hand = _by_hand(model, x, target)
    sig = ex.layer("1")
    np.testing.assert_allclose(sig.inputs["x"], hand["h"], rtol=1e-10)
    np.testing.assert_allclose(sig.value, hand["s"], rtol=1e-10)
    np.testing.assert_allclose(sig.root.grad, hand["g_s"], rtol=1e-10)
    np.testing.assert_allclose(sig.gradients["x"], hand["g_h"], rtol=1e-10)


def test_layer_keeps_the_parameters_of_the_pass_and_leaves_the_model_alone(net):
    model, x, target, ex = net
    before = ex.layer("0").value
    w = model[0].weight
    old = w.data.copy()
    w.data = w.data + 1.0  # a later training step
    np.testing.assert_allclose(ex.layer("0").value, before)
    np.testing.assert_allclose(w.data, old + 1.0)
    assert w.grad is None


def test_layer_unknown_name_lists_the_layers(net):
    *_, ex = net
    with pytest.raises(ExplainError, match=r"no layer named '9'; the layers are: '0', '1', '2'"):
        ex.layer("9")
    with pytest.raises(ExplainError, match="called 1 time"):
        ex.layer("0", call=1)


def test_layer_called_twice_has_one_entry_per_call():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.Tanh()

        def forward(self, x):
            return self.act(self.act(x))

    x = np.array([[0.5, -1.0]])
    ex = cr.explain(Twice(), x)
    np.testing.assert_allclose(ex.layer("act").inputs["x"], x)
    np.testing.assert_allclose(ex.layer("act", call=1).inputs["x"], np.tanh(x))


# ------------------------------------------------------------------- element=
W = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-2.0, 1.0, 0.75]])
X = np.array([[1.0, 2.0, -1.0], [0.5, -0.5, 3.0]])


def _fn(x, w):
    return cr.sigmoid(x @ w)


def test_element_gradient_is_the_row_of_a_full_backward():
    ex = cr.explain(_fn, x=X, w=W, element=(1, 2))
    x = cr.tensor(X, requires_grad=True)
    w = cr.tensor(W, requires_grad=True)
    y = _fn(x, w)
    y[1, 2].backward()
    assert ex.value == pytest.approx(float(y.data[1, 2]))
    np.testing.assert_allclose(ex.gradients["x"], x.grad.data, rtol=1e-12)
    np.testing.assert_allclose(ex.gradients["w"], w.grad.data, rtol=1e-12)
    # only row 1 of x reaches y[1, 2]
    assert not np.any(ex.gradients["x"][0])
    assert ex.check.ok


def test_element_text_shows_the_sum_over_k():
    ex = cr.explain(_fn, x=X, w=W, element=(1, 2))
    text = str(ex)
    h = X[1] @ W[:, 2]
    line = next(s for s in text.splitlines() if "Σ_k" in s)
    assert line.strip().startswith("f[1, 2] = Σ_k x[1, k]·w[k, 2]")
    terms = line.split(" = ")[2].split(" + ")
    assert len(terms) == 3
    assert terms == ["0.5·2", "-0.5·-0.5", "3·0.75"]
    assert f"= {h:g}" in line
    up = _sigmoid(h) * (1 - _sigmoid(h))
    assert f"upstream ∂h/∂f[1, 2] = {format_number(up, 6)}" in text
    assert "∂f[1, 2]/∂x[1, k] = w[k, 2] = [2, -0.5, 0.75]" in text
    assert "One output entry" in ex.to_markdown()


def test_element_long_sum_is_summarised():
    x = np.ones((1, 10))
    w = np.ones((10, 2))
    text = str(cr.explain(lambda x, w: x @ w, x=x, w=w, element=(0, 1)))
    assert "(a sum of 10 terms)" in text
    assert "10 values, sum 10" in text


@pytest.mark.parametrize("element", [(2, 0), (0,), (0, 0, 0), "a", (0.5, 1), (0, -4)])
def test_bad_element_is_one_error_line(element):
    with pytest.raises(ExplainError) as err:
        cr.explain(_fn, x=X, w=W, element=element)
    assert "\n" not in str(err.value)
    assert "element" in str(err.value)


def test_element_with_a_model_is_an_error():
    with pytest.raises(ExplainError, match="element"):
        cr.explain(nn.Tanh(), np.ones((1, 2)), element=(0, 0))
