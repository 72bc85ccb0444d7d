"""``chainrule.numpy`` as a drop-in for NumPy, NumPy's dispatch onto Tensors, a
Tensor wherever NumPy code expects an ndarray, nested transforms, and the known
hard points (norm and sqrt at 0, ties, singular matrices, repeated eigenvalues).
"""

from __future__ import annotations

import operator
import runpy
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

ROOT = Path(__file__).resolve().parent.parent


def fd_grad(fn, x, eps=1e-6):
    """Central differences of a scalar NumPy function."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for e in range(x.size):
        d = np.zeros_like(x)
        d.flat[e] = eps
        g.flat[e] = (float(np.asarray(fn(x + d))) - float(np.asarray(fn(x - d)))) / (2 * eps)
    return g


# ------------------------------------------------------------ the module itself
def test_plain_inputs_get_numpys_own_results():
    x = np.array([0.5, 1.5, 2.5])
    assert type(cnp.exp(x)) is np.ndarray
    np.testing.assert_array_equal(cnp.exp(x), np.exp(x))
    assert type(cnp.sum(x)) is np.float64
    assert type(cnp.exp(1.0)) is np.float64
    np.testing.assert_array_equal(cnp.linalg.norm(x), np.linalg.norm(x))
    np.testing.assert_array_equal(cnp.concatenate([x, [1.0]]), np.concatenate([x, [1.0]]))
    assert cnp.pi == np.pi and cnp.float32 is np.float32 and cnp.newaxis is None
    assert cnp.unique is np.unique  # no rule: NumPy's own (refuses Tensors that need grad)
    assert cnp.linalg.qr is np.linalg.qr and cnp.linalg.LinAlgError is np.linalg.LinAlgError


def test_tensor_inputs_give_tensors():
    t = cr.tensor([0.5, 1.5], requires_grad=True)
    for out in (cnp.exp(t), cnp.sum(t), cnp.linalg.norm(t), cnp.concatenate([t, [1.0]])):
        assert isinstance(out, cr.Tensor) and out.requires_grad


def test_random_is_numpys():
    a = cnp.random.default_rng(3).normal(size=4)
    np.testing.assert_array_equal(a, np.random.default_rng(3).normal(size=4))
    cnp.random.seed(5)
    first = cnp.random.rand(2)
    np.random.seed(5)
    np.testing.assert_array_equal(first, np.random.rand(2))
    assert cnp.random.Generator is np.random.Generator


def test_constructors_are_constants():
    for out in (cnp.zeros(3), cnp.ones((2, 2)), cnp.eye(2), cnp.arange(4), cnp.linspace(0, 1, 5)):
        assert type(out) is np.ndarray
    t = cr.tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    for like in (cnp.zeros_like(t), cnp.ones_like(t), cnp.full_like(t, 7.0), np.zeros_like(t)):
        assert isinstance(like, cr.Tensor) and not like.requires_grad
        assert like.shape == (2, 3) and like.dtype == np.float32
    assert cnp.empty_like(t).shape == (2, 3)


def test_array_of_a_list_mixing_tensors_and_numbers_is_differentiable():
    t1 = cr.tensor(2.0, requires_grad=True)
    t3 = cr.tensor(3.0, requires_grad=True)
    a = cnp.array([t1, 2.0, t3])
    np.testing.assert_array_equal(a.data, [2.0, 2.0, 3.0])
    (a * cnp.array([1.0, 10.0, 100.0])).sum().backward()
    assert t1.grad.item() == 1.0 and t3.grad.item() == 100.0
    m = cnp.asarray([[t1, 0.0], [0.0, t3]], dtype=np.float32)
    assert m.dtype == np.float32 and m.requires_grad
    v = cnp.array([t1, t3], ndmin=2)
    assert v.shape == (1, 2)


def test_asarray_and_array_of_a_tensor():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    assert cnp.asarray(t) is t
    assert cnp.asarray(t, dtype=np.float32).dtype == np.float32
    c = cnp.array(t)
    assert c is not t and c.requires_grad
    const = cr.tensor([1.0, 2.0])
    copy = cnp.array(const)
    copy.data[0] = 9.0
    assert const.data[0] == 1.0


def test_full_and_linspace_are_differentiable_in_tensor_values():
    g = cr.grad(lambda v: cnp.sum(cnp.full((2, 3), v) * 2.0))(1.5)
    assert g.item() == pytest.approx(12.0)

    def f(a, b):
        return cnp.sum(cnp.linspace(a, b, 5) ** 2)

    np.testing.assert_allclose(
        cnp.linspace(cr.tensor(1.0), cr.tensor(3.0), 5).data, np.linspace(1.0, 3.0, 5)
    )
    ga, gb = cr.grad(f, argnums=(0, 1))(1.0, 3.0)
    ref_a = fd_grad(lambda a: np.sum(np.linspace(a, 3.0, 5) ** 2), 1.0)
    ref_b = fd_grad(lambda b: np.sum(np.linspace(1.0, b, 5) ** 2), 3.0)
    assert ga.item() == pytest.approx(float(ref_a), rel=1e-6)
    assert gb.item() == pytest.approx(float(ref_b), rel=1e-6)
    out = cnp.linspace(cr.tensor([0.0, 1.0]), cr.tensor([1.0, 3.0]), 3, axis=1)
    np.testing.assert_allclose(out.data, np.linspace([0.0, 1.0], [1.0, 3.0], 3, axis=1))


def test_r_and_c_with_tensors():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    r = cnp.r_[t, 5.0, 0:2, cr.tensor([7.0])]
    np.testing.assert_array_equal(r.data, np.r_[[1.0, 2.0], 5.0, 0:2, [7.0]])
    (r * np.arange(6.0)).sum().backward()
    np.testing.assert_array_equal(t.grad.data, [0.0, 1.0])
    c = cnp.c_[t, t * 2, np.array([[5.0], [6.0]])]
    np.testing.assert_array_equal(c.data, np.c_[[1.0, 2.0], [2.0, 4.0], [[5.0], [6.0]]])
    assert cnp.r_[1:4].tolist() == [1, 2, 3]  # no Tensor: NumPy's own


NO_DERIVATIVE = [
    ("isnan", lambda m, x: m.isnan(x)),
    ("isfinite", lambda m, x: m.isfinite(x)),
    ("isinf", lambda m, x: m.isinf(x)),
    ("sign", lambda m, x: m.sign(x)),
    ("floor", lambda m, x: m.floor(x)),
    ("ceil", lambda m, x: m.ceil(x)),
    ("round", lambda m, x: m.round(x, 1)),
    ("around", lambda m, x: m.around(x)),
    ("rint", lambda m, x: m.rint(x)),
    ("trunc", lambda m, x: m.trunc(x)),
    ("floor_divide", lambda m, x: m.floor_divide(x, 0.7)),
    ("argmax", lambda m, x: m.argmax(x)),
    ("argmax_axis", lambda m, x: m.argmax(x, axis=1)),
    ("argmin", lambda m, x: m.argmin(x, axis=0, keepdims=True)),
    ("argsort", lambda m, x: m.argsort(x, axis=-1)),
    ("nonzero", lambda m, x: m.nonzero(x > 0)[1]),
    ("count_nonzero", lambda m, x: m.count_nonzero(x > 0)),
    ("equal", lambda m, x: m.equal(x, x)),
    ("less", lambda m, x: m.less(x, 0.2)),
    ("greater_equal", lambda m, x: m.greater_equal(0.2, x)),
    ("logical_and", lambda m, x: m.logical_and(x > 0, x < 1)),
    ("logical_xor", lambda m, x: m.logical_xor(x > 0, x < 1)),
    ("where_1", lambda m, x: m.where(x > 0)[0]),
    ("all", lambda m, x: m.all(x > -5)),
    ("any", lambda m, x: m.any(x > 5, axis=0)),
    ("isclose", lambda m, x: m.isclose(x, x + 1e-12)),
]


@pytest.mark.parametrize("name,f", NO_DERIVATIVE, ids=[n for n, _ in NO_DERIVATIVE])
def test_functions_without_derivative_compute_on_the_data(name, f):
    x = np.array([[0.3, -1.7, np.nan], [2.5, np.inf, -0.2]])
    t = cr.tensor(x, requires_grad=True)
    with np.errstate(invalid="ignore"):
        ref = f(np, x)
    for m in (cnp, np):
        with np.errstate(invalid="ignore"):
            out = f(m, t)
        assert isinstance(out, cr.Tensor) and not out.requires_grad
        np.testing.assert_array_equal(out.data, ref)
        assert out.dtype == np.asarray(ref).dtype


def test_array_facts_and_boolean_answers():
    t = cr.tensor(np.ones((2, 3)), requires_grad=True)
    for m in (cnp, np):
        assert m.shape(t) == (2, 3) and m.ndim(t) == 2 and m.size(t) == 6 and m.size(t, 1) == 3
        assert m.allclose(t, np.ones((2, 3))) is True
        assert m.array_equal(t, t) is True and m.array_equal(t, t * 2) is False
        assert m.array_equiv(t, 1.0) is True


def test_piecewise_constant_functions_pass_no_gradient():
    g = cr.grad(lambda x: cnp.sum(cnp.floor(x) * x + cnp.sign(x) + cnp.round(x * 3)))(
        np.array([0.5, -1.5, 2.25])
    )
    np.testing.assert_array_equal(g.data, np.floor([0.5, -1.5, 2.25]))


# ---------------------------------------------------------- NumPy's dispatch
UFUNCS_WITH_RULES = [
    "add", "subtract", "multiply", "divide", "true_divide", "power", "negative", "positive",
    "square", "sqrt", "cbrt", "reciprocal", "exp", "exp2", "expm1", "log", "log2", "log10",
    "log1p", "logaddexp", "logaddexp2", "sin", "cos", "tan", "arcsin", "arccos", "arctan",
    "arctan2", "hypot", "sinh", "cosh", "tanh", "arcsinh", "arctanh", "absolute", "fabs",
    "maximum", "minimum", "fmax", "fmin", "remainder", "matmul",
]  # fmt: skip


@pytest.mark.parametrize("name", UFUNCS_WITH_RULES)
def test_numpy_ufuncs_on_a_tensor_are_differentiable(name):
    ufunc = getattr(np, name)
    x = np.array([[0.3, 0.6], [0.2, 0.45]])
    args = [cr.tensor(x, requires_grad=True)] + [x + 0.1] * (ufunc.nin - 1)
    out = ufunc(*args)
    assert isinstance(out, cr.Tensor) and out.requires_grad
    np.testing.assert_allclose(out.data, ufunc(x, *args[1:]))
    out.sum().backward()
    assert args[0].grad.shape == x.shape and np.all(np.isfinite(args[0].grad.data))


def test_numpy_functions_and_operators_with_arrays_on_either_side():
    t = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    a = np.array([[0.5, -1.0], [2.0, 0.25]])
    outs = [np.sum(t, axis=0), np.dot(t, a), np.dot(a, t), a @ t, a + t, a * t, a / t, a - t]
    outs += [a**t, np.maximum(a, t), np.linalg.norm(t - a), np.mean(t * a)]
    for out in outs:
        assert isinstance(out, cr.Tensor) and out.requires_grad
    np.testing.assert_allclose((a @ t).data, a @ t.data)
    np.testing.assert_allclose(np.dot(t, a).data, t.data @ a)
    cmp = a < t
    assert isinstance(cmp, cr.Tensor) and cmp.dtype == bool and not cmp.requires_grad


def test_ufunc_methods():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    t = cr.tensor(x, requires_grad=True)
    np.testing.assert_allclose(np.add.reduce(t).data, np.add.reduce(x))
    np.testing.assert_allclose(np.add.reduce(t, axis=None).data, x.sum())
    np.testing.assert_allclose(np.multiply.reduce(t, axis=1).data, x.prod(axis=1))
    np.testing.assert_allclose(np.maximum.reduce(t, axis=1).data, x.max(axis=1))
    np.testing.assert_allclose(np.minimum.reduce(t).data, x.min(axis=0))
    np.testing.assert_allclose(np.add.accumulate(t, axis=1).data, np.cumsum(x, axis=1))
    np.testing.assert_allclose(np.multiply.accumulate(t).data, np.cumprod(x, axis=0))
    outer = np.multiply.outer(t[0], t[1])
    np.testing.assert_allclose(outer.data, np.multiply.outer(x[0], x[1]))
    outer.sum().backward()
    np.testing.assert_allclose(t.grad.data, [[15.0] * 3, [6.0] * 3])
    with pytest.raises(TypeError, match=r"numpy.add.reduceat has no differentiation rule"):
        np.add.reduceat(t, [0, 1])


def test_output_buffers_and_where_are_refused():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="out= is not supported"):
        np.exp(t, out=np.zeros(2))
    with pytest.raises(TypeError, match="out= is not supported"):
        np.mean(t, out=np.zeros(()))
    with pytest.raises(TypeError, match="where= is not supported"):
        np.exp(t, where=np.array([True, False]))
    assert np.exp(t, dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda t: np.unique(t), "numpy.unique"),
        (lambda t: np.linalg.qr(t.reshape(2, 2)), "numpy.linalg.qr"),
        (lambda t: np.fft.hfft(t), "numpy.fft.hfft"),
        (lambda t: np.spacing(t), "numpy.spacing"),
        (lambda t: np.nansum(t), "numpy.nansum"),
    ],
)
def test_a_numpy_function_without_a_rule_is_refused_by_name(call, name):
    t = cr.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    with pytest.raises(TypeError, match=rf"{name} has no differentiation rule.*cr\.primitive"):
        call(t)


def test_converting_a_tensor_that_requires_grad_to_an_array_is_refused():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"requires grad.*detach"):
        np.asarray(t)
    with pytest.raises(TypeError, match=r"requires grad.*detach"):
        np.array([t[0], t[1]])  # NumPy's own array(): it cannot see inside the list
    np.testing.assert_array_equal(np.asarray(t.detach()), [1.0, 2.0])
    with cr.no_grad():
        np.testing.assert_array_equal(np.asarray(t), [1.0, 2.0])


def test_assigning_a_tensor_that_requires_grad_into_an_array_is_refused():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    a = np.zeros(3)
    with pytest.raises((RuntimeError, ValueError)) as info:
        a[0] = t[1]
    chain = f"{info.value} {info.value.__cause__}"
    assert "drop its gradient" in chain
    with pytest.raises(TypeError, match="requires grad"):
        a[1:] = t
    a[0] = t[1].item()  # explicit: fine
    a[1] = cr.tensor(3.0)  # a constant: nothing to lose
    np.testing.assert_array_equal(a, [2.0, 3.0, 0.0])
    c = cr.tensor(np.zeros(2))
    with pytest.raises(RuntimeError, match="drop its gradient"):
        c[0] = t[0]
    c[0] = t[0].detach()
    assert c.data[0] == 1.0


def test_numpy_scalar_casts_of_0d_tensors():
    t = cr.tensor(2.5, requires_grad=True)
    assert np.float64(t) == 2.5 and float(t) == 2.5 and int(t) == 2 and bool(t)
    assert np.int64(t) == 2 and np.bool_(t)
    c = cr.tensor(1.5)
    assert np.float32(c) == np.float32(1.5) and np.float64(c) == 1.5 and np.int64(c) == 1
    with pytest.raises(TypeError, match="requires grad"):
        np.float32(t)  # NumPy asks for an array of float32: the gradient would be lost
    i = cr.tensor(2)
    assert [10, 20, 30][i] == 30 and range(5)[cr.tensor(np.int64(1))] == 1
    with pytest.raises(TypeError, match="integer"):
        [1, 2][cr.tensor(1.0)]


# --------------------------------------------------- a Tensor as an ndarray
def test_attributes_and_methods_with_numpys_signatures():
    x = np.arange(6.0).reshape(2, 3) - 2.5
    t = cr.tensor(x, requires_grad=True)
    assert (t.shape, t.ndim, t.size, t.dtype) == (x.shape, x.ndim, x.size, x.dtype)
    assert t.T.shape == (3, 2) and t.mT.shape == (3, 2) and t.nbytes == x.nbytes
    assert t.reshape(3, 2).shape == (3, 2) and t.reshape((3, 2)).shape == (3, 2)
    assert t.reshape(-1).shape == (6,) and t.reshape(6, order="C").shape == (6,)
    assert t.ravel().shape == (6,) and t.flatten().shape == (6,)
    assert t.reshape(1, 2, 1, 3).squeeze().shape == (2, 3)
    assert t.reshape(1, 6).squeeze(0).shape == (6,)
    assert t.astype(np.float32).dtype == np.float32 and t.astype("float32", copy=False).dtype
    for name in ("sum", "mean", "prod", "max", "min", "var", "std"):
        for kwargs in ({}, {"axis": 0}, {"axis": 1, "keepdims": True}, {"axis": None, "out": None}):
            got = getattr(t, name)(**kwargs)
            # var/std with no argument are PyTorch's (unbiased; see test_torch_methods).
            expected = getattr(x, name)(**(kwargs or ({"ddof": 1} if name in "varstd" else {})))
            np.testing.assert_allclose(got.data, expected, err_msg=name)
    np.testing.assert_allclose(t.sum(1, None, None, True).data, x.sum(1, None, None, True))
    np.testing.assert_allclose(t.std(ddof=1).data, x.std(ddof=1))
    np.testing.assert_allclose(t.cumsum(1).data, x.cumsum(1))
    np.testing.assert_allclose(t.cumprod().data, x.cumprod())
    np.testing.assert_allclose(t.clip(-1, 1).data, x.clip(-1, 1))
    np.testing.assert_allclose(t.clip(min=0).data, x.clip(min=0))
    np.testing.assert_allclose(t.round(1).data, x.round(1))
    np.testing.assert_allclose(t.repeat(2, axis=0).data, x.repeat(2, axis=0))
    np.testing.assert_allclose(t.take([0, 2], axis=1).data, x.take([0, 2], axis=1))
    np.testing.assert_allclose(t.dot(x.T).data, x.dot(x.T))
    np.testing.assert_allclose(t.diagonal().data, x.diagonal())
    np.testing.assert_allclose(t.trace().data, x.trace())
    assert t.argmax().item() == x.argmax() and t.argmin(axis=1).tolist() == [0, 0]
    assert t.argsort(axis=0).tolist() == x.argsort(axis=0).tolist()
    assert bool((t > 0).any()) and not bool((t > 0).all()) and len(t.nonzero()) == 2
    assert t.copy().requires_grad and t.swapaxes(0, 1).shape == (3, 2)


def test_len_iteration_and_indexing():
    x = np.arange(24.0).reshape(2, 3, 4)
    t = cr.tensor(x, requires_grad=True)
    assert len(t) == 2 and [r.shape for r in t] == [(3, 4), (3, 4)]
    indices = [
        1, -1, slice(None, None, -1), (0, slice(1, 3)), [1, 0], np.array([[0], [1]]),
        x[..., 0] > 5, None, Ellipsis, (Ellipsis, 2), (None, 1, ..., None),
        (0, [0, 2], slice(None)), (slice(None), np.array([0, 2]), np.array([1, 3])),
        cr.tensor([1, 0]),
    ]  # fmt: skip
    total = 0
    for index in indices:
        got = t[index]
        np.testing.assert_array_equal(got.data, x[index if not isinstance(index, cr.Tensor)
                                                   else index.data])  # fmt: skip
        total = total + got.sum()
    total.backward()
    assert t.grad.shape == x.shape


def test_operators_and_their_reflected_forms():
    x = np.array([1.5, -2.3, 3.25])
    t = cr.tensor(x, requires_grad=True)
    cases = [
        (t + 2, x + 2), (2 + t, 2 + x), (t - 2, x - 2), (2 - t, 2 - x), (t * 3, x * 3),
        (3 * t, 3 * x), (t / 2, x / 2), (2 / t, 2 / x), (t**2, x**2), (2**t, 2**x),
        (t // 2, x // 2), (7 // t, 7 // x), (t % 2, x % 2), (7 % t, 7 % x), (-t, -x),
        (+t, +x), (abs(t), abs(x)), (divmod(t, 2)[1], divmod(x, 2)[1]),
        (x @ t, x @ x), (t @ x, x @ x), (x + t, x + x), (x % t, x % x),
    ]  # fmt: skip
    for got, want in cases:
        np.testing.assert_allclose(got.data, want)
    comparisons = [
        (t < 2, x < 2),
        (operator.gt(2, t), operator.gt(2, x)),  # 2 > t: the reflected form
        (operator.lt(2, t), operator.lt(2, x)),
        (t >= x, x >= x),
        (t == 1.5, x == 1.5),
        (t != x, x != x),
        ((t > 0) ^ (t > 2), (x > 0) ^ (x > 2)),
    ]
    for got, want in comparisons:
        assert got.dtype == bool and not got.requires_grad
        np.testing.assert_array_equal(got.data, want)
    assert builtin_sum([t, t * 2]).requires_grad  # sum() starts from 0 + t
    g = cr.grad(lambda a: ((a % 2.0) * (7.0 % a) + a // 2).sum())(x)
    np.testing.assert_allclose(g.data, fd_grad(lambda a: ((a % 2.0) * (7.0 % a)).sum(), x))


def builtin_sum(items):
    return sum(items)


def test_numpy_code_written_for_arrays_runs_on_tensors():
    def rbf(x, lengths):
        # idiomatic NumPy: shape arithmetic, broadcasting, methods, len, a Python loop
        n = len(x)
        d2 = np.sum((x[:, None, :] - x[None, :, :]) ** 2 / lengths**2, axis=-1)
        k = np.exp(-0.5 * d2) + 1e-3 * np.eye(n)
        total = 0.0
        for i in range(x.shape[0]):
            total = total + k[i].max() * (i + 1)
        sign, logdet = np.linalg.slogdet(k)
        return logdet + total + np.trace(np.linalg.solve(k, np.eye(n))) * 0.1

    x = np.random.default_rng(0).normal(size=(4, 2))
    lengths = np.array([0.8, 1.3])
    value, g = cr.value_and_grad(rbf, argnums=1)(x, lengths)
    np.testing.assert_allclose(value.data, rbf(x, lengths))
    np.testing.assert_allclose(g.data, fd_grad(lambda ls: rbf(x, ls), lengths), rtol=1e-5)


# ---------------------------------------------------------------- transforms
def test_vjp_inside_jvp_inside_grad():
    u = np.array([0.3, -0.4, 0.2])

    def inner(y):  # a vjp of a chainrule.numpy function
        _, vjp_fn = cr.vjp(lambda z: cnp.tanh(z) * cnp.linalg.norm(z) + cnp.cumsum(z), y)
        return vjp_fn(cnp.cos(y))[0]

    def middle(x):  # its jvp
        return cr.jvp(inner, (x,), (u,))[1]

    def outer(x):  # the gradient of a scalar of that
        return cnp.sum(middle(x) * np.array([1.0, 2.0, -1.0]))

    x0 = np.array([0.5, -0.8, 1.1])
    g = cr.grad(outer)(x0)
    np.testing.assert_allclose(g.data, fd_grad(lambda a: outer(a).data, x0), rtol=1e-5, atol=1e-7)
    # and once more: the Hessian of that scalar, by forward over reverse
    h = cr.hessian(outer)(x0)
    fd_h = np.stack([fd_grad(lambda a, i=i: cr.grad(outer)(a).data[i], x0) for i in range(3)])
    np.testing.assert_allclose(h.data, fd_h, rtol=1e-4, atol=1e-6)


def test_vjp_fn_is_differentiable_in_the_cotangent_and_jvp_in_the_tangent():
    a = np.array([[2.0, 0.3], [0.1, 1.5]])
    b = np.array([1.0, -2.0])

    def f(m):
        return cnp.linalg.solve(m, b) * cnp.einsum("ij,j->i", m, b)

    _, vjp_fn = cr.vjp(f, a)
    v = cr.tensor([0.7, -0.2], dtype="float64", requires_grad=True)
    (ct,) = vjp_fn(v)
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    (ct * w).sum().backward()
    # <J^T v, w> = <v, J w> is linear in v: its gradient is J w
    _, jw = cr.jvp(f, (a,), (w,))
    np.testing.assert_allclose(v.grad.data, jw.data, rtol=1e-12)

    t = cr.tensor(w, requires_grad=True)
    _, tangent = cr.jvp(f, (a,), (t,))
    (tangent * np.array([0.7, -0.2])).sum().backward()
    (jtv,) = cr.vjp(f, a)[1](np.array([0.7, -0.2]))
    np.testing.assert_allclose(t.grad.data, jtv.data, rtol=1e-12)


def test_jacobians_agree_through_numpy_dispatch():
    def f(x):
        return np.concatenate([np.cumprod(x), [np.linalg.norm(x, 3)], np.sort(x) * x])

    x = np.array([0.4, -1.2, 0.9])
    np.testing.assert_allclose(cr.jacobian(f)(x), cr.jacfwd(f)(x), rtol=1e-12)


def test_gradient_of_an_unused_input_is_zeros_of_its_shape_and_dtype():
    x = np.ones((2, 2), dtype=np.float32)
    y = np.ones(3, dtype=np.float32)
    gx, gy = cr.grad(lambda a, b: cnp.sum(cnp.sinh(a)), argnums=(0, 1))(x, y)
    assert gy.shape == (3,) and gy.dtype == np.float32 and not gy.any()
    assert gx.dtype == np.float32
    _, vjp_fn = cr.vjp(lambda a, b: cnp.linalg.det(a), x, y)
    ga, gb = vjp_fn(np.float32(1.0))
    assert gb.shape == (3,) and gb.dtype == np.float32 and not gb.any()
    _, t = cr.jvp(lambda a, b: cnp.stack([cnp.sum(a), cnp.sum(a)]), (x, y), (x * 0, y))
    assert t.shape == (2,) and not t.any()
    # outputs that are constants of the input: zeros too
    g = cr.grad(lambda a: cnp.sum(cnp.zeros_like(a) + cnp.floor(a)))(x)
    assert g.dtype == np.float32 and not g.any()
    _, vjp_fn = cr.vjp(lambda a: cnp.argsort(a), np.array([0.3, 0.1]))
    assert vjp_fn(np.array([1, 1]))[0].tolist() == [0.0, 0.0]


def test_joining_lists_and_numbers_with_tensors_in_both_modes():
    # lists and numbers beside tensors, in chainrule.numpy and in the core functions
    for join in (
        lambda t: cnp.concatenate([t, [2.0]]),
        lambda t: cr.concatenate([[2.0], t]),
        lambda t: cr.stack([2.0, t[0], t[0] * 3]),
        lambda t: cnp.hstack([t, 2.0]),
    ):
        g = cr.grad(lambda t, join=join: cnp.sum(join(t) * cnp.arange(1.0, 4.0)[: len(join(t))]))(
            np.array([1.5])
        )
        assert g.shape == (1,) and np.isfinite(g.item())
        _, tangent = cr.jvp(join, (np.array([1.5]),), (np.array([1.0]),))
        assert tangent.shape == join(cr.tensor([1.5])).shape


def test_explain_shows_chainrule_numpy_functions():
    ex = cr.explain(lambda x: cnp.tan(x) * cnp.cbrt(x), x=0.7)
    expected = (1 / np.cos(0.7) ** 2) * np.cbrt(0.7) + np.tan(0.7) / (3 * np.cbrt(0.7) ** 2)
    assert ex.gradients["x"] == pytest.approx(expected)
    assert "tan" in str(ex) and "cbrt" in str(ex)


# ---------------------------------------------------------------- hard points
@pytest.mark.parametrize(
    "f",
    [
        lambda x: cnp.linalg.norm(x),
        lambda x: cnp.linalg.norm(x, 1),
        lambda x: cnp.linalg.norm(x, 3),
        lambda x: cnp.linalg.norm(x, 0.5),
        lambda x: cnp.linalg.norm(x, np.inf),
        lambda x: cnp.linalg.norm(x.reshape(2, 2), "fro"),
        lambda x: cnp.linalg.norm(x.reshape(2, 2), axis=1).sum(),
        lambda x: cnp.linalg.vector_norm(x),
        lambda x: cnp.std(x),
        lambda x: cnp.hypot(x[0], x[1]) + cnp.arctan2(x[2], x[3]),
    ],
)
def test_norms_at_zero_have_subgradient_zero_never_nan(f):
    zero = np.zeros(4)
    g = cr.grad(f)(zero)
    np.testing.assert_array_equal(g.data, np.zeros(4))
    h = cr.hessian(f)(zero)
    assert not np.isnan(h.data).any()


def test_norm_of_a_difference_at_zero_inside_a_larger_expression():
    target = np.array([1.0, -2.0, 0.5])

    def loss(w):
        return cnp.linalg.norm(w - target) + cnp.sum(w**2)

    g = cr.grad(loss)(target)
    np.testing.assert_allclose(g.data, 2 * target)  # the norm's subgradient 0


def test_sqrt_at_zero_is_inf_alone_and_zero_where_not_selected():
    with np.errstate(divide="ignore"):
        g = cr.grad(lambda x: cnp.sum(cnp.sqrt(x)))(np.array([0.0, 4.0]))
    np.testing.assert_array_equal(g.data, [np.inf, 0.25])  # the documented inf

    def guarded(x):  # the true gradient is finite: 0 at x = 0
        return cnp.sum(cnp.where(x > 0, cnp.sqrt(x), 0.0) + cnp.where(x > 0, cnp.cbrt(x), 0.0))

    for x in (np.array([0.0, 4.0]), np.zeros(2)):
        g = cr.grad(guarded)(x)
        assert not np.isnan(g.data).any()
        assert g.data[0] == 0.0
        with np.errstate(divide="ignore", invalid="ignore"):  # inside unselected branches
            h = cr.hessian(guarded)(x)
        assert not np.isnan(h.data).any()
    with np.errstate(divide="ignore"):  # log(0) = -inf in the branch not taken
        g = cr.grad(lambda x: cnp.sum(cnp.where(x > 0, cnp.log(x), 0.0)))(np.array([0.0, 2.0]))
    np.testing.assert_array_equal(g.data, [0.0, 0.5])
    _, t = cr.jvp(guarded, (np.array([0.0, 4.0]),), (np.array([0.0, 1.0]),))
    assert np.isfinite(t.item())


def test_max_with_ties_splits_the_gradient_evenly():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    for m in (cnp, np):
        g = cr.grad(lambda a, m=m: m.sum(m.max(a, axis=1)))(x)
        np.testing.assert_allclose(g.data, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
        g = cr.grad(lambda a, m=m: m.amin(a))(x)
        np.testing.assert_allclose(g.data, [[1.0, 0, 0], [0, 0, 0]])
    g = cr.grad(lambda a: cnp.max(cnp.array([a, a * 1.0, 1.0])))(2.0)
    assert g.item() == pytest.approx(1.0)  # two tied entries, both a: 1/2 + 1/2
    gx, gy = cr.grad(lambda a, b: cnp.maximum(a, b) + cnp.fmin(a, b), argnums=(0, 1))(1.0, 1.0)
    assert gx.item() == 1.0 and gy.item() == 1.0  # 0.5 + 0.5 each
    _, t = cr.jvp(lambda a: cnp.max(a), (np.array([3.0, 3.0, 1.0]),), (np.array([1.0, 3.0, 5.0]),))
    assert t.item() == pytest.approx(2.0)


def test_det_of_a_singular_matrix_and_clear_errors_from_inv_and_solve():
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])  # rank 2
    assert cnp.linalg.det(cr.tensor(a)).item() == pytest.approx(0.0, abs=1e-12)
    g = cr.grad(cnp.linalg.det)(a)  # the cofactor matrix, finite and exact
    np.testing.assert_allclose(g, fd_grad(np.linalg.det, a), atol=1e-8)
    h = cr.hessian(lambda m: cnp.linalg.det(m))(a)
    fd_h = np.stack(
        [fd_grad(lambda m, i=i: cr.grad(cnp.linalg.det)(m).flat[i], a) for i in range(9)]
    ).reshape(3, 3, 3, 3)
    np.testing.assert_allclose(h, fd_h, atol=1e-6)
    rank1 = np.outer([1.0, 2.0], [3.0, 1.0])
    np.testing.assert_allclose(cr.grad(cnp.linalg.det)(rank1).data, [[2.0, -6.0], [-1.0, 3.0]])

    t = cr.tensor(a, requires_grad=True)
    for m in (cnp, np):
        with pytest.raises(np.linalg.LinAlgError, match="singular"):
            m.linalg.inv(t)
        with pytest.raises(np.linalg.LinAlgError, match="singular"):
            m.linalg.solve(t, np.ones(3))
    with pytest.raises(np.linalg.LinAlgError, match="slogdet.*singular"):
        cr.grad(lambda m: cnp.linalg.slogdet(m)[1])(a)
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        cnp.linalg.cholesky(cr.tensor(-np.eye(2), requires_grad=True))
    with pytest.raises(np.linalg.LinAlgError, match="square"):
        cnp.linalg.inv(cr.tensor(np.ones((2, 3))))


def test_eigh_with_repeated_eigenvalues():
    """Documented: gradients of functions of the eigenvalues are exact; the coupling of
    eigenvectors inside a repeated eigenspace has no derivative and is left out (0),
    so eigenvector-dependent gradients there are finite but not exact."""
    q, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(3, 3)))
    a = q @ np.diag([1.0, 1.0, 3.0]) @ q.T  # eigenvalue 1 twice
    a = np.tril(a) + np.tril(a, -1).T

    def eigenvalue_fn(m):
        return cnp.sum(cnp.linalg.eigvalsh(m) ** 3 * np.array([1.0, 1.0, 2.0]))

    g = cr.grad(eigenvalue_fn)(a)
    np.testing.assert_allclose(
        g.data,
        fd_grad(lambda m: np.sum(np.linalg.eigvalsh(m) ** 3 * np.array([1.0, 1.0, 2.0])), a),
        atol=1e-6,
    )
    h = cr.hessian(eigenvalue_fn)(a)
    assert np.all(np.isfinite(h.data))

    def matrix_fn(m):
        w, v = cnp.linalg.eigh(m)
        return cnp.sum((v * cnp.exp(w)) @ v.T * np.arange(9.0).reshape(3, 3))

    for fn in (matrix_fn, lambda m: cnp.sum(cnp.linalg.eigh(m)[1][:, 0] ** 2 * np.arange(3.0))):
        g = cr.grad(fn)(a)
        assert np.all(np.isfinite(g.data))  # never NaN or inf


def test_svd_full_matrices_of_a_non_square_matrix_refuses_gradients():
    t = cr.tensor(np.ones((3, 2)), requires_grad=True)
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        cnp.linalg.svd(t)
    u, s, vh = cnp.linalg.svd(cr.tensor(np.eye(3)[:, :2]))  # a constant: NumPy's full SVD
    assert u.shape == (3, 3) and not u.requires_grad


def test_cumprod_gradient_with_zeros_matches_differences():
    x = np.array([2.0, 0.0, 3.0, 0.0, 1.5])
    w = np.arange(1.0, 6.0)
    g = cr.grad(lambda a: cnp.sum(cnp.cumprod(a) * w))(x)
    np.testing.assert_allclose(g.data, fd_grad(lambda a: np.sum(np.cumprod(a) * w), x), atol=1e-8)
    _, t = cr.jvp(lambda a: cnp.cumprod(a), (x,), (w,))
    eps = 1e-6
    np.testing.assert_allclose(
        t.data, (np.cumprod(x + eps * w) - np.cumprod(x - eps * w)) / (2 * eps), atol=1e-6
    )


def test_forward_errors_name_the_function():
    t = cr.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match="einsum"):
        cnp.einsum("ij,jk->ik", t, t)
    with pytest.raises(ValueError, match="einsum: 'ijk' names 3 axes"):
        cnp.einsum("ijk->i", t)
    with pytest.raises(ValueError, match="equal division"):
        cnp.split(t, 2, axis=1)
    with pytest.raises(ValueError, match="tensordot"):
        cnp.tensordot(t, t, axes=([0], [1]))


# ------------------------------------------------------------------ the example
def test_logistic_regression_example_runs(capsys):
    runpy.run_path(str(ROOT / "examples" / "numpy_logistic_regression.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "gradient matches finite differences: True" in out
    assert "training accuracy" in out
