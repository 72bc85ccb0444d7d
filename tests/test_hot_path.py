"""The hot path's shortcuts keep the public behaviour: 0-d results held as NumPy
scalars, operator forms of the arithmetic ufuncs, backward in sequence order."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr


def _sigmoid_chain(z: cr.Tensor, n: int) -> cr.Tensor:
    x = z
    for _ in range(n):
        x = 1 / (1 + cr.exp(-x))
    return x


def test_data_of_a_0d_result_is_always_an_ndarray():
    z = cr.tensor(0.5, dtype="float64", requires_grad=True)
    for t in (-z, cr.exp(z), 1 + z, z * z, 1 / z, z**2, cr.tanh(z)):
        assert type(t.data) is np.ndarray
        assert t.data.shape == ()
        assert t.shape == () and t.ndim == 0 and t.size == 1
        assert t.dtype == np.float64


def test_a_0d_result_keeps_float32():
    z = cr.tensor(0.5, dtype="float32", requires_grad=True)
    y = 1 / (1 + cr.exp(-z)) * 2.5
    assert y.dtype == np.float32 and y.data.dtype == np.float32
    y.backward()
    assert z.grad.dtype == np.float32 and type(z.grad.data) is np.ndarray


def test_in_place_update_of_a_0d_result_through_data():
    z = cr.tensor(0.5, requires_grad=True)
    with cr.no_grad():
        y = z * 2
    y.data -= 0.25
    y.data[...] = y.data + 1
    assert y.item() == pytest.approx(1.75)
    assert y.data is y.data  # converted once, then kept


def test_setting_data_to_a_number_stores_an_array():
    t = cr.tensor([1.0, 2.0])
    t.data = 3.0
    assert type(t.data) is np.ndarray and t.item() == 3.0


def test_scalar_chain_matches_the_closed_form_derivative():
    z = cr.tensor(0.3, dtype="float64", requires_grad=True)
    y = _sigmoid_chain(z, 5)
    y.backward()
    x, d = 0.3, 1.0
    for _ in range(5):
        x = 1 / (1 + math.exp(-x))
        d *= x * (1 - x)
    assert y.item() == pytest.approx(x, rel=1e-14)
    assert z.grad.item() == pytest.approx(d, rel=1e-12)
    assert type(z.grad.data) is np.ndarray


def test_scalar_chain_second_derivative():
    z = cr.tensor(0.3, dtype="float64", requires_grad=True)
    (g,) = cr.autograd.grad(_sigmoid_chain(z, 1), z, create_graph=True)
    (gg,) = cr.autograd.grad(g, z)
    s = 1 / (1 + math.exp(-0.3))
    assert gg.item() == pytest.approx(s * (1 - s) * (1 - 2 * s), rel=1e-12)


def test_public_functions_take_arrays_numbers_and_lists():
    assert cr.add([1.0, 2.0], [3.0, 4.0]).tolist() == [4.0, 6.0]  # not list concatenation
    assert cr.multiply([1.0, 2.0], 3).tolist() == [3.0, 6.0]
    assert cr.exp(0.0).item() == 1.0
    assert cr.negative(np.array([1.0])).tolist() == [-1.0]
    assert cr.exp.__name__ == "exp" and cr.subtract.__name__ == "subtract"
    assert cr.exp.__doc__


def test_operators_with_lists_and_numpy_scalars():
    z = cr.tensor(2.0, requires_grad=True)
    y = z * 3.0  # a 0-d result, held as a scalar
    assert (y + [1.0, 2.0]).tolist() == [7.0, 8.0]
    assert ([1.0, 2.0] + y).tolist() == [7.0, 8.0]
    assert (np.float64(1.0) + y).item() == 7.0
    (y * np.array([1.0, 2.0])).sum().backward()
    assert z.grad.item() == 9.0


def test_matmul_of_0d_results_still_says_which_op_failed():
    z = cr.tensor(2.0) * 1.0
    with pytest.raises((ValueError, TypeError), match="matmul"):
        z @ z


def test_nodes_are_visited_after_all_their_consumers_whatever_the_build_order():
    # y is consumed by a node built late, after other work on unrelated values.
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    a = cr.exp(y)
    unrelated = cr.tensor([5.0], requires_grad=True) * 2
    b = y * y
    out = (a + b).sum() + unrelated.sum() * 0
    out.backward()
    expected = 3 * np.exp(3 * x.data) + 2 * 9 * x.data
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12)


def test_an_error_in_a_hook_leaves_no_partial_sums_behind():
    x = cr.tensor(1.0, requires_grad=True)
    h = x * 2
    k = x * 3  # newer than h: visited first, while h waits with its share
    y = h * k

    def fail(g):
        raise RuntimeError("hook failed")

    handle = k.register_hook(fail)
    with pytest.raises(RuntimeError, match="hook failed"):
        y.backward(retain_graph=True)
    handle.remove()
    y.backward()
    # d/dx 6x^2 at 1 = 12: nothing left over from the failed pass.
    assert x.grad.item() == pytest.approx(12.0)


def test_a_graph_used_by_a_later_create_graph_pass_keeps_its_order():
    x = cr.tensor(0.7, dtype="float64", requires_grad=True)
    y = cr.sin(x) * x
    (g,) = cr.autograd.grad(y, x, create_graph=True)  # nodes newer than y's
    z = g * y  # mixes old and new nodes
    z.backward()
    s, c = math.sin(0.7), math.cos(0.7)
    f, fp, fpp = s * 0.7, c * 0.7 + s, -s * 0.7 + 2 * c
    assert x.grad.item() == pytest.approx(fpp * f + fp * fp, rel=1e-12)


# Every elementwise fast-path op, fed a 0-d value held as a NumPy scalar (the
# output of an earlier op) and, for comparison, the same value as a 0-d array.
_SCALAR_UNARY = {
    "neg": lambda t: -t,
    "abs": abs,
    "exp": cr.exp,
    "log": cr.log,
    "sqrt": cr.sqrt,
    "sin": cr.sin,
    "cos": cr.cos,
    "tanh": cr.tanh,
    "sigmoid": cr.sigmoid,
    "relu": cr.relu,
    "square": lambda t: t**2,
    "rpow": lambda t: 2.0**t,
    "radd": lambda t: 1 + t,
    "rsub": lambda t: 1 - t,
    "rdiv": lambda t: 1 / t,
    "rmul": lambda t: 3 * t,
}
_SCALAR_BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "maximum": cr.maximum,
    "minimum": cr.minimum,
}


def _held_as_scalar(value: float, dtype: str) -> tuple[cr.Tensor, cr.Tensor]:
    leaf = cr.tensor(value, dtype=dtype, requires_grad=True)
    held = leaf * 1.0  # a 0-d result: kept as a NumPy scalar inside
    assert isinstance(held._data, np.generic)
    return leaf, held


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(_SCALAR_UNARY))
def test_unary_ops_on_scalar_held_values_match_array_held(name, dtype):
    fn = _SCALAR_UNARY[name]
    leaf, held = _held_as_scalar(0.7, dtype)
    out = fn(held)
    (g,) = cr.autograd.grad(out, leaf, create_graph=True)

    ref_leaf = cr.tensor(0.7, dtype=dtype, requires_grad=True)
    ref_in = ref_leaf * 1.0
    ref_in.data  # noqa: B018 - reading .data turns the held scalar into a 0-d array
    assert type(ref_in._data) is np.ndarray
    ref = fn(ref_in)
    (rg,) = cr.autograd.grad(ref, ref_leaf, create_graph=True)
    pairs = [(out, ref), (g, rg)]
    # Linear ops have a constant derivative: nothing to differentiate again.
    assert g.requires_grad == rg.requires_grad
    if g.requires_grad:
        pairs.append((cr.autograd.grad(g, leaf)[0], cr.autograd.grad(rg, ref_leaf)[0]))

    for a, b in pairs:
        assert a.dtype == b.dtype == np.dtype(dtype)
        assert type(a.data) is np.ndarray and a.shape == ()
        np.testing.assert_allclose(a.data, b.data, rtol=1e-6 if dtype == "float32" else 1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(_SCALAR_BINARY))
def test_binary_ops_on_scalar_held_values_match_array_held(name, dtype):
    fn = _SCALAR_BINARY[name]
    x, xs = _held_as_scalar(0.7, dtype)
    y, ys = _held_as_scalar(1.3, dtype)
    out = fn(xs, ys)
    out.backward()
    rx = cr.tensor(0.7, dtype=dtype, requires_grad=True)
    ry = cr.tensor(1.3, dtype=dtype, requires_grad=True)
    ref = fn(rx, ry)
    ref.backward()
    assert out.dtype == ref.dtype == np.dtype(dtype)
    tol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(out.data, ref.data, rtol=tol)
    for a, b in ((x.grad, rx.grad), (y.grad, ry.grad)):
        assert a.dtype == np.dtype(dtype) and type(a.data) is np.ndarray
        np.testing.assert_allclose(a.data, b.data, rtol=tol)


def test_forward_mode_through_scalar_held_values():
    def f(z):
        return 1 / (1 + cr.exp(-z)) * z

    x = cr.tensor(0.4, dtype="float64")
    value, tangent = cr.jvp(f, (x,), (cr.tensor(1.0, dtype="float64"),))
    s = 1 / (1 + math.exp(-0.4))
    assert value.item() == pytest.approx(s * 0.4, rel=1e-14)
    assert tangent.item() == pytest.approx(s * (1 - s) * 0.4 + s, rel=1e-12)


def test_chainrule_numpy_sends_plain_calls_to_numpy_and_finds_tensors_anywhere():
    import chainrule.numpy as cnp

    a = np.array([1.0, -2.0, 3.0])
    t = cr.tensor(a, requires_grad=True)
    # No Tensor among the arguments: NumPy's own function and result types.
    assert type(cnp.exp(a)) is np.ndarray and type(cnp.sum(a)) is np.float64
    assert type(cnp.clip(a, a_min=0.0, a_max=1.0)) is np.ndarray
    assert type(cnp.concatenate([a, [4.0]])) is np.ndarray
    # A Tensor positional, inside a list, nested in a tuple, or as a keyword.
    found = [
        cnp.exp(t),
        cnp.concatenate([a, t]),
        cnp.stack(((a, t), (t, a))),
        cnp.clip(a, a_min=t, a_max=5.0),
        cnp.maximum(a, t),
    ]
    assert all(isinstance(r, cr.Tensor) and r.requires_grad for r in found)
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(cnp.concatenate([a, v]) ** 2))(a), 2 * a)


def test_outside_transforms_runs_a_function_as_if_no_transform_were_running():
    from chainrule.func import outside_transforms

    seen = []

    def inner_gradient(v):
        return cr.grad(lambda y: (y**3).sum())(v)

    def f(x):
        # Inside cr.grad, a nested transform keeps recorded Tensors; outside_transforms
        # gives NumPy for NumPy in (nothing recorded for the running transform).
        seen.append(type(inner_gradient(np.array([2.0]))))
        seen.append(type(outside_transforms(inner_gradient, np.array([2.0]))))
        return (x**2).sum()

    np.testing.assert_allclose(cr.grad(f)(np.array([1.0, 3.0])), [2.0, 6.0])
    assert seen == [cr.Tensor, np.ndarray]
    np.testing.assert_allclose(outside_transforms(inner_gradient, np.array([2.0])), [12.0])
