"""Augmented assignment inside a transform called as HIPS autograd is (NumPy in):
``t -= x`` rebinds, as autograd's does; with Tensors in, PyTorch's in-place rules stay."""

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as cnp


def _program(m):
    """HIPS fluidsim's pattern: augmented assignment on a reshaped (view) value."""

    def f(p):
        rows = p.shape[0] // 2
        v = m.reshape(p * 2.0, (2, rows))
        v -= 0.5 * m.roll(v, 1, axis=1)
        v *= m.sum(p[:rows])
        v /= 3.0
        v += p[0]
        v **= 2
        return m.sum(v)

    return f


def _differences(f, x, eps=1e-6):
    out = np.zeros_like(x)
    for i in range(x.size):
        d = np.zeros_like(x)
        d[i] = eps
        out[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return out


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_augmented_assignment_on_a_view_rebinds_under_numpy_inputs(rows, seed):
    p = np.random.default_rng(seed).normal(size=2 * rows)
    got = cr.grad(_program(cnp))(p)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, autograd.grad(_program(anp))(p), rtol=1e-12)
    np.testing.assert_allclose(got, _differences(_program(np), p), rtol=1e-5, atol=1e-6)
    # the same program on NumPy alone, no transform: NumPy's in-place meaning, same value
    assert float(cr.value_and_grad(_program(cnp))(p)[0]) == pytest.approx(_program(np)(p.copy()))


def test_rebinding_leaves_other_names_unchanged_as_autograd_does():
    def f(x):
        y = x * 1.0
        alias = y
        alias -= 1.0  # a new value for alias; y keeps its own
        x += 2.0  # even on the differentiated argument (autograd's boxes rebind too)
        return cnp.sum(y * alias) + cnp.sum(x)

    def f_ag(x):
        y = x * 1.0
        alias = y
        alias -= 1.0
        x += 2.0
        return anp.sum(y * alias) + anp.sum(x)

    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(cr.grad(f)(x), autograd.grad(f_ag)(x), rtol=1e-12)
    np.testing.assert_allclose(cr.grad(f)(x), 2 * x - 1 + 1, rtol=1e-12)


def test_nested_transforms_keep_the_numpy_meaning():
    def f(x):
        v = cnp.reshape(x, (1, -1))
        v *= x[0]
        return cnp.sum(v**2)

    x = np.array([1.5, -0.5])
    h = cr.hessian(f)(x)
    expected = autograd.hessian(lambda x: anp.sum((anp.reshape(x, (1, -1)) * x[0]) ** 2))(x)
    np.testing.assert_allclose(h, expected, rtol=1e-12)


def test_with_tensor_inputs_pytorch_rules_stay():
    x = cr.tensor(np.arange(4.0), requires_grad=True)
    with pytest.raises(RuntimeError, match="shares its memory with another"):
        cr.grad(_program(cnp))(x)
    # in place on a computed (non-view) tensor: recorded, the tensor itself changes
    y = x * 2.0
    same = y
    y -= 1.0
    assert same is y
    np.testing.assert_allclose(same.detach().numpy(), 2 * np.arange(4.0) - 1)


def test_explicit_inplace_methods_keep_pytorch_meaning_under_numpy_inputs():
    def f(p):
        v = cnp.reshape(p * 2.0, (2, 2))
        v.sub_(1.0)  # an explicit in-place call on a view: refused, never silently rebound
        return cnp.sum(v)

    with pytest.raises(RuntimeError, match="shares its memory with another"):
        cr.grad(f)(np.ones(4))


def test_values_that_record_nothing_still_change_in_place():
    def f(x):
        buf = cnp.zeros(3)  # no gradient: NumPy's in-place write, seen through views
        view = buf[:2]
        view += 1.0
        return cnp.sum(x * buf)

    np.testing.assert_allclose(cr.grad(f)(np.ones(3)), [1.0, 1.0, 0.0])
