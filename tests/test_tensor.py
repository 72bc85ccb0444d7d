"""The Tensor API: construction, attributes, operators, dtypes."""

import numpy as np
import pytest

import chainrule as cr


def test_construction_and_attributes():
    t = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert isinstance(t, cr.Tensor)
    assert isinstance(t.data, np.ndarray)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and t.dtype == np.float32
    assert t.requires_grad and t.is_leaf and t.grad is None
    assert t.numpy() is t.data
    assert cr.tensor(2.5).item() == 2.5
    assert cr.tensor([1, 2], dtype="float32").dtype == np.float32
    assert cr.tensor(np.float32(1)).dtype == np.float32


def test_tensor_copies_its_input():
    a = np.ones(3)
    t = cr.tensor(a)
    a[0] = 7
    assert t.data[0] == 1


def test_operators_and_reflected_forms():
    x = cr.tensor([1.0, 2.0])
    a = np.array([3.0, 4.0])
    np.testing.assert_allclose((x + 1).data, [2, 3])
    np.testing.assert_allclose((1 + x).data, [2, 3])
    np.testing.assert_allclose((1 - x).data, [0, -1])
    np.testing.assert_allclose((x - a).data, [-2, -2])
    np.testing.assert_allclose((a - x).data, [2, 2])
    np.testing.assert_allclose((a * x).data, [3, 8])
    np.testing.assert_allclose((2 / x).data, [2, 1])
    np.testing.assert_allclose((a / x).data, [3, 2])
    np.testing.assert_allclose((x**2).data, [1, 4])
    np.testing.assert_allclose((2**x).data, [2, 4])
    np.testing.assert_allclose((-x).data, [-1, -2])
    assert (x @ a).item() == 11.0
    assert (a @ x).item() == 11.0
    assert isinstance(a + x, cr.Tensor) and isinstance(a @ x, cr.Tensor)


def test_reflected_operators_carry_gradients():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    a = np.array([3.0, 4.0])
    y = (a * x).sum() + (a @ x) + (2**x).sum() + (1 / x).sum()
    y.backward()
    expected = a + a + np.log(2) * 2**x.data - 1 / x.data**2
    np.testing.assert_allclose(x.grad.data, expected)


def test_comparisons_are_boolean_and_not_differentiable():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [
        (x > 2, [False, False, True]),
        (x >= 2, [False, True, True]),
        (x < 2, [True, False, False]),
        (x <= 2, [True, True, False]),
        (x == 2, [False, True, False]),
        (x != 2, [True, False, True]),
    ]:
        assert result.dtype == np.bool_
        assert not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)


def test_power_with_a_tensor_exponent():
    x = cr.tensor(2.0, requires_grad=True)
    y = cr.tensor(3.0, requires_grad=True)
    (x**y).backward()
    assert x.grad.item() == pytest.approx(3 * 2.0**2)
    assert y.grad.item() == pytest.approx(2.0**3 * np.log(2.0))


def test_power_edge_cases_have_no_nan():
    x = cr.tensor(0.0, requires_grad=True)
    y = cr.tensor(2.0, requires_grad=True)
    (x**y).backward()
    assert x.grad.item() == 0.0 and y.grad.item() == 0.0
    z = cr.tensor(0.0, requires_grad=True)
    (z**0).backward()
    assert z.grad.item() == 0.0


def test_nep50_float32_stays_float32():
    x = cr.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = (x * 2.5 + 1) / 3 - x**2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_gradient_takes_the_dtype_of_its_input():
    x = cr.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = x * np.array([1.0, 1.0])  # float64 array: result is float64 as in NumPy
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_astype_between_floats_carries_gradient():
    x = cr.tensor([1.5, 2.5], dtype="float64", requires_grad=True)
    y = x.astype("float32")
    assert y.dtype == np.float32
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.data, [3.0, 5.0])
    assert not x.astype("int64").requires_grad


def test_indexing_basic_and_advanced():
    x = cr.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    np.testing.assert_array_equal(x[1].data, [4, 5, 6, 7])
    np.testing.assert_array_equal(x[:, 1:3].data, x.data[:, 1:3])
    np.testing.assert_array_equal(x[[0, 2]].data, x.data[[0, 2]])
    np.testing.assert_array_equal(x[cr.tensor([0, 0])].data, x.data[[0, 0]])
    np.testing.assert_array_equal(x[x > 5].data, x.data[x.data > 5])
    np.testing.assert_array_equal(x[None, ..., 0].data, x.data[None, ..., 0])


def test_repeated_indices_accumulate_gradient():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 1.0])
    m = cr.tensor(np.zeros((2, 3)), requires_grad=True)
    m[np.array([1, 1]), np.array([2, 2])].sum().backward()
    np.testing.assert_array_equal(m.grad.data, [[0, 0, 0], [0, 0, 2]])


def test_slicing_gradient():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x[1:] * x[:2]).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0, 2.0])


def test_reshape_transpose_and_friends():
    x = cr.tensor(np.arange(6.0), requires_grad=True)
    y = x.reshape(2, -1)
    assert y.shape == (2, 3)
    assert x.reshape((3, 2)).shape == (3, 2)
    assert y.T.shape == (3, 2)
    assert cr.transpose(cr.reshape(x, (1, 2, 3)), (2, 0, 1)).shape == (3, 1, 2)
    assert x.reshape(1, 2, 3).transpose(2, 0, 1).shape == (3, 1, 2)
    assert cr.expand_dims(x, 0).shape == (1, 6)
    assert cr.squeeze(cr.expand_dims(x, 0)).shape == (6,)
    assert cr.broadcast_to(x, (2, 6)).shape == (2, 6)
    (y.T * np.arange(6.0).reshape(3, 2)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.arange(6.0).reshape(3, 2).T.ravel())


def test_concatenate_and_stack_route_gradients():
    a = cr.tensor(np.ones((2, 2)), requires_grad=True)
    b = cr.tensor(np.ones((1, 2)), requires_grad=True)
    c = cr.concatenate([a, b], axis=0)
    assert c.shape == (3, 2)
    (c * np.arange(6.0).reshape(3, 2)).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [[0, 1], [2, 3]])
    np.testing.assert_array_equal(b.grad.data, [[4, 5]])
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    q = cr.tensor([3.0, 4.0], requires_grad=True)
    s = cr.stack([p, q], axis=1)
    assert s.shape == (2, 2)
    (s * np.array([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    np.testing.assert_array_equal(p.grad.data, [1, 3])
    np.testing.assert_array_equal(q.grad.data, [2, 4])


def test_reductions_axis_and_keepdims():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = cr.tensor(a)
    for axis in (None, 0, -1, (0, 2)):
        for keepdims in (False, True):
            for name in ("sum", "mean", "max", "min", "prod"):
                got = getattr(x, name)(axis=axis, keepdims=keepdims).data
                np.testing.assert_allclose(got, getattr(np, name)(a, axis=axis, keepdims=keepdims))


def test_stable_logsumexp_softmax_log_softmax_at_1000():
    a = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, -999.0]])
    x = cr.tensor(a, requires_grad=True)
    lse = cr.logsumexp(x, axis=1)
    m = a.max(axis=1)
    np.testing.assert_allclose(lse.data, m + np.log(np.exp(a - m[:, None]).sum(axis=1)))
    sm = cr.softmax(x, axis=1)
    lsm = cr.log_softmax(x, axis=1)
    assert np.all(np.isfinite(sm.data)) and np.all(np.isfinite(lsm.data))
    np.testing.assert_allclose(np.exp(lsm.data), sm.data)
    (lse.sum() + (sm * np.arange(3.0)).sum() + lsm[:, 0].sum()).backward()
    assert np.all(np.isfinite(x.grad.data))


def test_python_protocols():
    x = cr.tensor([1.0, 2.0, 3.0])
    assert len(x) == 3
    assert [t.item() for t in x] == [1.0, 2.0, 3.0]
    assert float(cr.tensor(2.5)) == 2.5 and int(cr.tensor(3.0)) == 3
    assert bool(cr.tensor(1.0)) and not bool(cr.tensor(0.0))
    assert x.tolist() == [1.0, 2.0, 3.0]
    assert {x: 1}[x] == 1  # hashable by identity
    with pytest.raises(TypeError):
        len(cr.tensor(1.0))


def test_repr_shows_values_dtype_and_grad_state():
    assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(cr.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    x = cr.tensor(np.ones(1, dtype=np.float32), requires_grad=True)
    assert repr(cr.exp(x)) == "tensor([2.718282], grad_fn=<exp>)"
    # As PyTorch: only a dtype other than the default (float32), int64 and bool is shown.
    x = cr.tensor(np.ones(1), requires_grad=True)
    assert repr(cr.exp(x)) == "tensor([2.71828183], dtype=float64, grad_fn=<exp>)"
    assert repr(cr.tensor([1, 2])) == "tensor([1, 2])"


def test_numpy_functions_on_tensors_are_differentiable():
    x = cr.tensor([0.5, 1.5], requires_grad=True)
    y = np.sum(np.exp(x) * np.sin(x), axis=0) + np.max(x) + np.mean(np.sqrt(x))
    assert isinstance(y, cr.Tensor)
    y.backward()
    v = x.data
    expected = np.exp(v) * np.sin(v) + np.exp(v) * np.cos(v) + np.array([0, 1]) + 0.25 / np.sqrt(v)
    np.testing.assert_allclose(x.grad.data, expected)


def test_constructors():
    assert cr.zeros((2, 3)).shape == (2, 3)
    assert cr.ones(2, dtype="float32").dtype == np.float32
    assert cr.full((2,), 3.0).data.tolist() == [3.0, 3.0]
    assert cr.zeros_like(cr.ones(3)).data.tolist() == [0.0, 0.0, 0.0]
    assert cr.ones_like(np.zeros(2)).data.tolist() == [1.0, 1.0]
    assert cr.arange(3).data.tolist() == [0, 1, 2]
    assert cr.zeros(2, requires_grad=True).requires_grad


def test_display_names_for_leaves_and_intermediates():
    z = cr.tensor(0.5, requires_grad=True)
    assert cr.name_of(z) is None
    assert cr.name(z, "z") is z and cr.name_of(z) == "z"
    h = cr.name(1 + cr.exp(-z), "h")
    assert cr.name_of(h) == "h"
    assert h.grad_fn.extra["name"] == "h"
    with pytest.raises(ValueError, match="non-empty"):
        cr.name(h, "")
    with pytest.raises(TypeError, match="expected a Tensor"):
        cr.name(1.0, "x")


def test_zero_in_place():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    assert x.grad.zero_() is x.grad
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])
    with pytest.raises(RuntimeError, match="changed in place while gradients are recorded"):
        x.zero_()
