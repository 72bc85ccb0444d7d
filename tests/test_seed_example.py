"""The seed's worked example: the sigmoid, split into four nodes, by the chain rule."""

import numpy as np
import pytest

import chainrule as cr

POINTS = np.linspace(-8.0, 8.0, 41)


def closed_form(z):
    s = 1.0 / (1.0 + np.exp(-z))
    return s * (1.0 - s)


@pytest.mark.parametrize("z0", POINTS)
def test_decomposed_sigmoid_gradient_is_sigma_times_one_minus_sigma(z0):
    z = cr.tensor(z0, requires_grad=True)
    (1 / (1 + cr.exp(-z))).backward()
    assert z.grad.item() == pytest.approx(closed_form(z0), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("z0", POINTS)
def test_fused_sigmoid_matches_decomposition(z0):
    z1 = cr.tensor(z0, requires_grad=True)
    z2 = cr.tensor(z0, requires_grad=True)
    decomposed = 1 / (1 + cr.exp(-z1))
    fused = cr.sigmoid(z2)
    assert fused.item() == pytest.approx(decomposed.item(), rel=1e-15)
    decomposed.backward()
    fused.backward()
    assert z2.grad.item() == pytest.approx(z1.grad.item(), rel=1e-12, abs=1e-15)


def test_sigmoid_on_an_array_in_one_pass():
    z = cr.tensor(POINTS, requires_grad=True)
    s = 1 / (1 + cr.exp(-z))
    s.backward(np.ones_like(POINTS))
    np.testing.assert_allclose(z.grad.data, closed_form(POINTS), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cr.sigmoid(POINTS).data, s.data, rtol=1e-15)


def test_each_node_shows_its_local_derivative_and_upstream_gradient():
    z = cr.tensor(0.5, requires_grad=True)
    f = -z
    g = cr.exp(f)
    h = 1 + g
    i = 1 / h
    for t in (f, g, h, i):
        t.retain_grad()
    i.backward()
    hv = h.item()
    # upstream gradients d i / d node: products of the local derivatives above the node
    assert i.grad.item() == 1.0
    assert h.grad.item() == pytest.approx(-1 / hv**2)
    assert g.grad.item() == pytest.approx(-1 / hv**2 * 1)
    assert f.grad.item() == pytest.approx(-1 / hv**2 * 1 * g.item())
    assert z.grad.item() == pytest.approx(-1 / hv**2 * 1 * g.item() * -1)


def test_sigmoid_is_stable_far_from_zero():
    z = cr.tensor([-1000.0, 1000.0], requires_grad=True)
    s = cr.sigmoid(z)
    np.testing.assert_array_equal(s.data, [0.0, 1.0])
    s.sum().backward()
    np.testing.assert_array_equal(z.grad.data, [0.0, 0.0])
