"""Function transforms: grad to any order, vjp, jvp, Jacobians, Hessians."""

import numpy as np
import pytest
from numpy.polynomial import polynomial as P

import chainrule as cr


def _np(x):
    """A result as a NumPy array, whether the transform returned a Tensor or NumPy."""
    return np.asarray(x.data if isinstance(x, cr.Tensor) else x)


POINTS = [-2.5, -0.7, 0.0, 0.4, 1.9]


def _derivative_polynomials(base, order):
    """Coefficients of d^k f / dx^k as polynomials in f, for f' = base(f)."""
    polys = [np.array([0.0, 1.0])]  # f itself
    for _ in range(order):
        polys.append(P.polymul(P.polyder(polys[-1]), base))
    return polys


@pytest.mark.parametrize("x0", POINTS)
def test_tanh_derivatives_to_order_4(x0):
    polys = _derivative_polynomials(np.array([1.0, 0.0, -1.0]), 4)  # tanh' = 1 - tanh^2
    f = cr.tanh
    t = np.tanh(x0)
    for k in range(1, 5):
        f = cr.grad(f)
        assert f(x0).item() == pytest.approx(P.polyval(t, polys[k]), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("x0", POINTS)
def test_sigmoid_derivatives_to_order_4(x0):
    s = 1 / (1 + np.exp(-x0))
    closed = {
        1: s * (1 - s),
        2: s * (1 - s) * (1 - 2 * s),
        3: s * (1 - s) * (1 - 6 * s + 6 * s * s),
    }
    polys = _derivative_polynomials(np.array([0.0, 1.0, -1.0]), 4)  # s' = s - s^2
    closed[4] = P.polyval(s, polys[4])
    for fn in (cr.sigmoid, lambda z: 1 / (1 + cr.exp(-z))):
        f = fn
        for k in range(1, 5):
            f = cr.grad(f)
            assert f(x0).item() == pytest.approx(closed[k], rel=1e-9, abs=1e-12)


def test_backward_create_graph_then_backward_again():
    x = cr.tensor(0.6, requires_grad=True)
    y = cr.sin(x) * x
    y.backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.backward()
    assert x.grad.item() == pytest.approx(2 * np.cos(0.6) - 0.6 * np.sin(0.6))


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def rosenbrock_hessian(x):
    n = x.size
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        h[i + 1, i + 1] += 200
        h[i, i + 1] = h[i + 1, i] = -400 * x[i]
    return h


@pytest.mark.parametrize("n", [2, 5, 30])
def test_hessian_of_extended_rosenbrock(n):
    x = np.random.default_rng(n).uniform(-1.5, 1.5, size=n)
    h = cr.hessian(rosenbrock)(x)
    assert isinstance(h, np.ndarray) and h.shape == (n, n)  # NumPy in, NumPy out
    np.testing.assert_allclose(_np(h), rosenbrock_hessian(x), rtol=1e-12, atol=1e-9)


def test_hvp_is_the_hessian_times_the_vector():
    rng = np.random.default_rng(1)
    x, v = rng.normal(size=6), rng.normal(size=6)
    np.testing.assert_allclose(
        cr.hvp(rosenbrock, (x,), (v,)).data, rosenbrock_hessian(x) @ v, rtol=1e-12
    )


def polar(r):
    return cr.stack([r[0] * cr.cos(r[1]), r[0] * cr.sin(r[1]), r[0] * r[1] ** 2])


def softmax_map(z):
    return cr.softmax(cr.tanh(z) * 3.0)


def matrix_map(a):
    return cr.sigmoid(a @ a.T).sum(axis=0)


MAPS = [
    (polar, (3,)),
    (softmax_map, (4,)),
    (matrix_map, (3, 2)),
]


@pytest.mark.parametrize(("fn", "shape"), MAPS)
def test_jacfwd_equals_jacobian_and_finite_differences(fn, shape):
    x = np.random.default_rng(0).uniform(0.2, 1.0, size=shape)
    j_rev = cr.jacobian(fn)(x)
    j_fwd = cr.jacfwd(fn)(x)
    out = fn(cr.tensor(x)).data
    assert j_rev.shape == out.shape + x.shape == j_fwd.shape
    np.testing.assert_allclose(_np(j_fwd), _np(j_rev), rtol=1e-12, atol=1e-14)
    eps = 1e-6
    numeric = np.zeros(out.shape + x.shape)
    for idx in np.ndindex(*x.shape):
        d = np.zeros(shape)
        d[idx] = eps
        numeric[(...,) + idx] = (fn(cr.tensor(x + d)).data - fn(cr.tensor(x - d)).data) / (2 * eps)
    np.testing.assert_allclose(_np(j_rev), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("fn", "shape"), MAPS)
def test_jvp_is_j_v_and_vjp_is_v_j(fn, shape):
    rng = np.random.default_rng(3)
    x = rng.uniform(0.2, 1.0, size=shape)
    jac = _np(cr.jacobian(fn)(x))
    out_shape = jac.shape[: jac.ndim - len(shape)]
    u = rng.normal(size=shape)
    v = rng.normal(size=out_shape)
    flat = jac.reshape(int(np.prod(out_shape)), -1)
    out, tangent = cr.jvp(fn, (x,), (u,))
    np.testing.assert_allclose(_np(tangent).ravel(), flat @ u.ravel(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(_np(out), fn(cr.tensor(x)).data)
    out2, vjp_fn = cr.vjp(fn, x)
    (ct,) = vjp_fn(v)
    np.testing.assert_allclose(_np(ct).ravel(), v.ravel() @ flat, rtol=1e-12, atol=1e-14)
    (ct_again,) = vjp_fn(v)  # vjp_fn can be called again
    np.testing.assert_allclose(_np(ct_again), _np(ct))


def test_argnums_tuple_and_value_and_grad():
    def f(a, b, c):
        return (a * b**2).sum() + c

    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    ga, gb = cr.grad(f, argnums=(0, 1))(a, b, 5.0)
    np.testing.assert_allclose(_np(ga), b**2)
    np.testing.assert_allclose(_np(gb), 2 * a * b)
    value, gc = cr.value_and_grad(f, argnums=2)(a, b, 5.0)
    assert value.item() == pytest.approx(np.sum(a * b**2) + 5.0)
    assert gc.item() == 1.0
    gneg = cr.grad(f, argnums=-1)(a, b, 5.0)
    assert gneg.item() == 1.0


def test_has_aux():
    def loss(w):
        pred = w * 2.0
        return (pred**2).sum(), pred

    g, aux = cr.grad(loss, has_aux=True)(np.array([1.0, 3.0]))
    np.testing.assert_allclose(_np(g), [8.0, 24.0])
    np.testing.assert_allclose(_np(aux), [2.0, 6.0])


def test_unused_input_gets_zeros_of_its_shape_and_dtype():
    g = cr.grad(lambda a, b: (a * 2).sum(), argnums=1)(np.ones(2), np.ones(3, dtype=np.float32))
    assert g.shape == (3,) and g.dtype == np.float32 and not _np(g).any()


def test_results_are_of_the_inputs_kind():
    f = cr.grad(lambda x: (x * x).sum())
    g = f(cr.tensor([1.0, 2.0]))
    assert isinstance(g, cr.Tensor)
    np.testing.assert_allclose(g.data, [2.0, 4.0])
    g = f(np.array([1.0, 2.0]))
    assert type(g) is np.ndarray
    np.testing.assert_allclose(g, [2.0, 4.0])
    # a list is a pytree: one gradient per element, each a NumPy scalar (a float)
    g = cr.grad(lambda p: p[0] ** 2 + p[1] ** 2)([1.0, 2.0])
    assert type(g) is list and all(type(v) is np.float64 for v in g) and g == [2.0, 4.0]
    d = cr.grad(cr.sin)(0.0)
    assert isinstance(d, float) and d == 1.0


def test_float32_gradient():
    g = cr.grad(lambda x: cr.exp(x).sum())(np.ones(2, dtype=np.float32))
    assert g.dtype == np.float32


def test_grad_of_a_tensor_that_requires_grad_stays_differentiable():
    x = cr.tensor(0.5, requires_grad=True)
    g = cr.grad(lambda t: t**3)(x)
    assert g.requires_grad
    g.backward()
    assert x.grad.item() == pytest.approx(6 * 0.5)


def test_mixed_nesting_jvp_of_vjp_and_grad_of_jvp():
    def f(x):
        return cr.sin(x) * x

    x0, u = 0.8, 1.0

    def vjp_of_f(x):
        _, fn = cr.vjp(f, x)
        return fn(cr.tensor(1.0))[0]

    _, second = cr.jvp(vjp_of_f, (x0,), (u,))
    expected = 2 * np.cos(x0) - x0 * np.sin(x0)
    assert second.item() == pytest.approx(expected)

    def jvp_of_f(x):
        return cr.jvp(f, (x,), (1.0,))[1]

    assert cr.grad(jvp_of_f)(x0).item() == pytest.approx(expected)


def test_vjp_is_differentiable_in_the_cotangent():
    x = np.array([0.5, 1.0])
    _, vjp_fn = cr.vjp(lambda a: cr.exp(a), x)
    v = cr.tensor([1.0, 2.0], requires_grad=True)
    (ct,) = vjp_fn(v)
    ct.sum().backward()
    np.testing.assert_allclose(_np(v.grad), np.exp(x))


def test_jvp_is_differentiable_in_the_tangent():
    x = np.array([0.5, 1.0])
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    _, tangent = cr.jvp(lambda a: cr.sin(a) * 3.0, (x,), (t,))
    tangent.sum().backward()
    np.testing.assert_allclose(_np(t.grad), 3 * np.cos(x))


def test_transform_errors():
    with pytest.raises(TypeError, match="must return a scalar"):
        cr.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(ValueError, match="argnums 3 is out of range"):
        cr.grad(lambda x: x.sum(), argnums=3)(np.ones(2))
    with pytest.raises(TypeError, match="only floating-point"):
        cr.grad(lambda x: x.sum())(np.array([1, 2]))
    with pytest.raises(ValueError, match="cotangent shape"):
        cr.vjp(cr.exp, np.ones(2))[1](np.ones(3))
    with pytest.raises(TypeError, match="has_aux=True"):
        cr.grad(lambda x: x.sum(), has_aux=True)(np.ones(2))


def test_gradgradcheck_passes_and_catches_a_wrong_second_derivative():
    x = cr.tensor([0.3, -0.8, 1.2], requires_grad=True)
    assert cr.gradgradcheck(lambda t: cr.tanh(t) * cr.exp(t), (x,))
    assert cr.gradgradcheck(lambda t: cr.log_softmax(t * t, axis=0), (x,))

    @cr.primitive(name="test_bad_cube")
    def cube(t):
        return t**3

    # First derivative right, but written with a constant so its own derivative is wrong.
    cube.defvjp(
        lambda g, ans, t: g * 3 * np.asarray(t.data if isinstance(t, cr.Tensor) else t) ** 2
    )
    assert cr.gradcheck(lambda t: cube(t), (x,))
    with pytest.raises(cr.GradcheckError, match="mismatch"):
        cr.gradgradcheck(lambda t: cube(t), (x,))


@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jacobian", "jacfwd", "hessian"])
def test_an_argument_named_twice_in_argnums_is_refused(transform):
    # it used to give zeros for the first of the two (the second leaf replaced it)
    f = lambda a, b: (a * b).sum()  # noqa: E731
    x = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match=r"argnums \(0, -2\) names an argument twice"):
        getattr(cr, transform)(f, argnums=(0, -2))(x, x)
