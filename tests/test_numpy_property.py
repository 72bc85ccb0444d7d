"""Property-based checks of ``chainrule.numpy`` over random shapes, broadcasting,
axes and dtypes (hypothesis, modest example counts).

- elementwise functions: value and dtype equal NumPy's (float32 stays float32) and
  the gradient equals the known derivative times the upstream gradient;
- binary functions over random broadcastable shapes: gradients (summed back to
  each input's shape) equal central differences in float64;
- reductions and scans over random axes, with and without keepdims: gradients
  equal central differences, and the forward-mode tangent equals J u.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.numpy as cnp

FEW = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
DTYPES = st.sampled_from([np.float32, np.float64])

# name -> (low, high, derivative as a NumPy function)
UNARY = {
    "exp": (-3, 3, np.exp),
    "exp2": (-3, 3, lambda x: np.exp2(x) * np.log(2)),
    "expm1": (-3, 3, np.exp),
    "log": (0.2, 5, lambda x: 1 / x),
    "log2": (0.2, 5, lambda x: 1 / (x * np.log(2))),
    "log10": (0.2, 5, lambda x: 1 / (x * np.log(10))),
    "log1p": (-0.8, 5, lambda x: 1 / (1 + x)),
    "sqrt": (0.2, 5, lambda x: 0.5 / np.sqrt(x)),
    "cbrt": (0.2, 5, lambda x: 1 / (3 * np.cbrt(x) ** 2)),
    "square": (-3, 3, lambda x: 2 * x),
    "reciprocal": (0.2, 5, lambda x: -1 / x**2),
    "sin": (-3, 3, np.cos),
    "cos": (-3, 3, lambda x: -np.sin(x)),
    "tan": (-1.2, 1.2, lambda x: 1 / np.cos(x) ** 2),
    "arcsin": (-0.9, 0.9, lambda x: 1 / np.sqrt(1 - x**2)),
    "arccos": (-0.9, 0.9, lambda x: -1 / np.sqrt(1 - x**2)),
    "arctan": (-3, 3, lambda x: 1 / (1 + x**2)),
    "sinh": (-3, 3, np.cosh),
    "cosh": (-3, 3, np.sinh),
    "tanh": (-3, 3, lambda x: 1 - np.tanh(x) ** 2),
    "arcsinh": (-3, 3, lambda x: 1 / np.sqrt(x**2 + 1)),
    "arccosh": (1.1, 5, lambda x: 1 / np.sqrt(x**2 - 1)),
    "arctanh": (-0.9, 0.9, lambda x: 1 / (1 - x**2)),
    "fabs": (0.2, 3, np.sign),
    "sinc": (-3, 3, lambda x: (np.cos(np.pi * x) - np.sinc(x)) / x),
}


@st.composite
def unary_case(draw):
    name = draw(st.sampled_from(sorted(UNARY)))
    lo, hi, _ = UNARY[name]
    dtype = draw(DTYPES)
    shape = draw(SHAPES)
    elements = st.floats(lo, hi, allow_nan=False, allow_subnormal=False)
    x = draw(hnp.arrays(np.float64, shape, elements=elements))
    if name == "sinc":
        x = np.where(np.abs(x) < 0.1, 0.5, x)  # the reference formula is 0/0 at 0
    return name, x.astype(dtype)


@FEW
@given(unary_case(), st.integers(0, 2**31 - 1))
def test_elementwise_value_dtype_and_derivative(case, seed):
    name, x = case
    fn = getattr(cnp, name)
    t = cr.tensor(x, requires_grad=True)
    out = fn(t)
    ref = getattr(np, name)(x)
    assert out.dtype == ref.dtype == x.dtype and out.shape == x.shape
    tol = 1e-6 if x.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out.data, ref, rtol=tol, atol=tol)
    g = np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)
    out.backward(g)
    assert t.grad.dtype == x.dtype
    expected = g.astype(np.float64) * UNARY[name][2](x.astype(np.float64))
    tol = 1e-4 if x.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(t.grad.data, expected, rtol=tol, atol=tol)


def fd_vjp(fn, xs, i, v, eps=1e-6):
    x = xs[i]
    grad = np.zeros_like(x)
    for e in range(x.size):
        d = np.zeros_like(x)
        d.flat[e] = eps
        plus = fn(*[a + d if j == i else a for j, a in enumerate(xs)])
        minus = fn(*[a - d if j == i else a for j, a in enumerate(xs)])
        grad.flat[e] = np.sum((plus - minus) * v) / (2 * eps)
    return grad


BINARY = {
    "add": (np.add, 0.1),
    "subtract": (np.subtract, 0.1),
    "multiply": (np.multiply, 0.1),
    "divide": (np.divide, 0.5),
    "power": (np.power, 0.5),
    "arctan2": (np.arctan2, 0.5),
    "hypot": (np.hypot, 0.5),
    "logaddexp": (np.logaddexp, 0.1),
    "maximum": (np.maximum, 0.1),
}


@FEW
@given(
    st.sampled_from(sorted(BINARY)),
    hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    st.integers(0, 2**31 - 1),
)
def test_binary_broadcasting_gradients(name, shapes, seed):
    np_fn, low = BINARY[name]
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, 2.0, shapes.input_shapes[0])
    # distinct from x everywhere (no ties for maximum)
    y = rng.uniform(low, 2.0, shapes.input_shapes[1]) + 2.5 * (rng.random() < 0.5)
    v = rng.standard_normal(shapes.result_shape)
    out, vjp_fn = cr.vjp(getattr(cnp, name), x, y)
    np.testing.assert_allclose(out.data, np_fn(x, y), rtol=1e-12)
    gx, gy = vjp_fn(v)
    assert gx.shape == x.shape and gy.shape == y.shape
    np.testing.assert_allclose(gx.data, fd_vjp(np_fn, [x, y], 0, v), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gy.data, fd_vjp(np_fn, [x, y], 1, v), rtol=1e-5, atol=1e-6)


@st.composite
def reduction_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=3))
    axes = draw(st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)))
    axis = None if not axes else (axes[0] - len(shape) if len(axes) == 1 else tuple(axes))
    keepdims = draw(st.booleans())
    name = draw(st.sampled_from(["sum", "mean", "prod", "max", "min", "var", "std", "ptp"]))
    return name, shape, axis, keepdims


@FEW
@given(reduction_case(), st.integers(0, 2**31 - 1))
def test_reductions_over_random_axes(case, seed):
    name, shape, axis, keepdims = case
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    # distinct values away from 0: no ties for max/min, no zero for prod
    x = ((rng.permutation(n) + 1) * 0.3 * rng.choice([-1, 1], n)).reshape(shape)

    def np_fn(a):
        return getattr(np, name)(a, axis=axis, keepdims=keepdims)

    def cr_fn(a):
        return getattr(cnp, name)(a, axis=axis, keepdims=keepdims)

    out, vjp_fn = cr.vjp(cr_fn, x)
    np.testing.assert_allclose(out.data, np_fn(x), rtol=1e-12, atol=1e-12)
    v = rng.standard_normal(out.shape)
    (g,) = vjp_fn(v)
    np.testing.assert_allclose(g.data, fd_vjp(np_fn, [x], 0, v), rtol=1e-5, atol=1e-6)
    u = rng.standard_normal(shape)
    _, t = cr.jvp(cr_fn, (x,), (u,))
    np.testing.assert_allclose(np.sum(t.data * v), np.sum(g.data * u), rtol=1e-9, atol=1e-9)


@FEW
@given(
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
    st.data(),
    st.sampled_from(["cumsum", "cumprod", "sort", "flip", "roll"]),
)
def test_scans_and_reorderings_over_random_axes(shape, data, name):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    n = int(np.prod(shape))
    x = ((rng.permutation(n) + 1) * 0.4 * rng.choice([-1, 1], n)).reshape(shape)
    extra = {"roll": (2,)}.get(name, ())

    def np_fn(a):
        return getattr(np, name)(a, *extra, axis=axis)

    out, vjp_fn = cr.vjp(lambda a: getattr(cnp, name)(a, *extra, axis=axis), x)
    np.testing.assert_allclose(out.data, np_fn(x), rtol=1e-12)
    v = rng.standard_normal(out.shape)
    (g,) = vjp_fn(v)
    np.testing.assert_allclose(g.data, fd_vjp(np_fn, [x], 0, v), rtol=1e-5, atol=1e-6)


@FEW
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_einsum_matrix_chain_and_its_transposes(i, j, k, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((i, j)), rng.standard_normal((k, j))
    spec = "ij,kj->ki"
    ref = np.einsum(spec, a, b)
    out, vjp_fn = cr.vjp(lambda p, q: cnp.einsum(spec, p, q), a, b)
    np.testing.assert_allclose(out.data, ref, rtol=1e-12, atol=1e-12)
    v = rng.standard_normal(ref.shape)
    ga, gb = vjp_fn(v)
    np.testing.assert_allclose(ga.data, v.T @ b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb.data, v @ a, rtol=1e-12, atol=1e-12)
