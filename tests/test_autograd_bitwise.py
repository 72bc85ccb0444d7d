"""Rules whose formula is HIPS autograd's, so that programs written for autograd get
its numbers to the last bit (issue 15): tanh's derivative 1/cosh(x)^2, logsumexp's
forward m + log1p(sum of the other terms) (SciPy's), and x^y's derivative in x for
a constant exponent, (g y) x^(y-1).

Each is checked three ways: against the formula it replaced (within rounding, and
better where that one lost its accuracy), against central differences in float64,
and bit for bit against autograd's forward value and VJP on the same input."""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import autograd.scipy.special as asp
import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.scipy.special as csp

SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)
DTYPES = st.sampled_from([np.float32, np.float64])


def _arrays(dtype, shape, low, high):
    return hnp.arrays(dtype, shape, elements=st.floats(low, high, width=32))


def _vjp_both(f_autograd, f_chainrule, x, g):
    """(value, VJP at g) from autograd and from chainrule, for one array input."""
    vjp_a, ans_a = autograd.make_vjp(f_autograd)(x)
    vjp_c, ans_c = cr.make_vjp(f_chainrule)(x)
    return (np.asarray(ans_a), np.asarray(vjp_a(g))), (np.asarray(ans_c), np.asarray(vjp_c(g)))


def _same_bits(a, b):
    """Equal to the last bit, but for the sign of a zero (autograd's broadcast of
    the upstream gradient adds +0 to it, which turns a -0 into +0)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b, strict=True)


# --------------------------------------------------------------------------- tanh
def test_tanh_derivative_matches_the_old_formula_where_that_one_is_accurate():
    x = np.linspace(-5, 5, 101)
    g = cr.grad(lambda v: cnp.sum(cnp.tanh(v)))(x)
    y = np.tanh(x)
    np.testing.assert_allclose(g, 1 - y * y, rtol=1e-12, atol=1e-15)


def test_tanh_derivative_keeps_its_accuracy_where_tanh_rounds_to_one():
    # tanh(20) rounds to 1 in float64, so 1 - tanh^2 would be 0; sech^2(20) is
    # 4 e^-40 / (1 + e^-40)^2 = 1.70e-17.
    x = np.array([20.0, -20.0, 30.0])
    g = cr.grad(lambda v: cnp.sum(cnp.tanh(v)))(x)
    exact = 4 * np.exp(-2 * np.abs(x)) / (1 + np.exp(-2 * np.abs(x))) ** 2
    np.testing.assert_allclose(g, exact, rtol=1e-14)
    assert (g > 0).all()
    # Past cosh's overflow the derivative is 0, not NaN.
    big = cr.grad(lambda v: cnp.sum(cnp.tanh(v)))(np.array([800.0, -800.0]))
    np.testing.assert_array_equal(big, [0.0, 0.0])


def test_tanh_gradcheck_first_and_second_order():
    x = cr.tensor(np.linspace(-3, 3, 9), requires_grad=True)
    assert cr.gradcheck(cr.tanh, (x,))
    hess = cr.hessian(lambda v: cnp.sum(cnp.tanh(v)))(np.linspace(-3, 3, 9))
    v = np.linspace(-3, 3, 9)
    np.testing.assert_allclose(np.diag(hess), -2 * np.tanh(v) / np.cosh(v) ** 2, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=DTYPES, shape=SHAPES)
def test_tanh_value_and_vjp_equal_autograds_bit_for_bit(data, dtype, shape):
    x = data.draw(_arrays(dtype, shape, -30, 30))
    g = data.draw(_arrays(dtype, shape, -3, 3))
    (va, ga), (vc, gc) = _vjp_both(anp.tanh, cnp.tanh, x, g)
    _same_bits(vc, va)
    _same_bits(gc, ga)


def test_tanh_forward_mode_is_the_same_formula():
    x = np.linspace(-25, 25, 11)
    _, tangent = cr.jvp(cnp.tanh, (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(tangent, 1 / np.cosh(x) ** 2)


# ------------------------------------------------------- x ** y, a constant exponent
EXPONENTS = st.sampled_from([3, -1, 0.5, 1.5, 2, 2.5, -2.0])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=DTYPES, shape=SHAPES, y=EXPONENTS)
def test_power_vjp_equals_autograds_bit_for_bit(data, dtype, shape, y):
    x = data.draw(_arrays(dtype, shape, 0.25, 4))
    g = data.draw(_arrays(dtype, shape, -3, 3))
    (va, ga), (vc, gc) = _vjp_both(lambda v: v**y, lambda v: v**y, x, g)
    _same_bits(vc, va)
    _same_bits(gc, ga)
    # The order of the product is all that changed: the old one agrees to rounding.
    old = g * (y * x ** (y - 1))
    # (Below the smallest normal number, rounding is absolute: atol covers it.)
    np.testing.assert_allclose(gc, old, rtol=4 * np.finfo(dtype).eps, atol=8 * np.finfo(dtype).tiny)


def test_power_gradcheck_first_and_second_order():
    x = np.linspace(0.5, 2.0, 7)
    for y in (3, 0.5, -1.5):
        assert cr.gradcheck(lambda v, y=y: v**y, (cr.tensor(x, requires_grad=True),))
        hess = cr.hessian(lambda v, y=y: cnp.sum(v**y))(x)
        np.testing.assert_allclose(np.diag(hess), y * (y - 1) * x ** (y - 2), rtol=1e-12)


# ---------------------------------------------------------------------- logsumexp
AXES = st.sampled_from([None, 0, -1])


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=DTYPES, shape=SHAPES, axis=AXES, keepdims=st.booleans())
def test_logsumexp_equals_scipy_and_autograd_bit_for_bit(data, dtype, shape, axis, keepdims):
    x = data.draw(_arrays(dtype, shape, -50, 50))
    if data.draw(st.booleans()):  # ties at the maximum, which SciPy counts
        x = np.round(x / 10) * 10
    ans = csp.logsumexp(x, axis=axis, keepdims=keepdims)
    _same_bits(np.asarray(ans), np.asarray(sp.logsumexp(x, axis=axis, keepdims=keepdims)))
    out_shape = np.shape(sp.logsumexp(x, axis=axis, keepdims=keepdims))
    g = data.draw(_arrays(dtype, out_shape, -3, 3))
    (va, ga), (vc, gc) = _vjp_both(
        lambda v: asp.logsumexp(v, axis=axis, keepdims=keepdims),
        lambda v: csp.logsumexp(v, axis=axis, keepdims=keepdims),
        x,
        g,
    )
    _same_bits(vc, va)
    _same_bits(gc, ga)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_logsumexp_matches_the_old_formula_and_resolves_small_sums(axis):
    rs = np.random.RandomState(0)
    x = rs.randn(7, 5) * 4
    m = np.max(x, axis=axis, keepdims=True)
    old = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    new = cr.logsumexp(x, axis=axis, keepdims=True).numpy()
    np.testing.assert_allclose(new, old, rtol=1e-14)
    # One dominant term: log(1 + 1e-20) rounds to 0, log1p keeps it.
    assert csp.logsumexp(np.array([0.0, -46.0])) == pytest.approx(np.exp(-46.0), rel=1e-12)


def test_logsumexp_infinities_nans_and_ties():
    assert csp.logsumexp(np.array([-np.inf, -np.inf])) == -np.inf
    assert csp.logsumexp(np.array([np.inf, 1.0])) == np.inf
    assert np.isnan(csp.logsumexp(np.array([np.nan, 1.0])))
    row = np.array([[2.0, 2.0, 2.0], [1.0, 3.0, 3.0]])
    got = csp.logsumexp(row, axis=1)
    _same_bits(np.asarray(got), sp.logsumexp(row, axis=1))
    np.testing.assert_allclose(got, np.log(np.exp(row).sum(axis=1)), rtol=1e-15)


def test_logsumexp_gradcheck():
    rs = np.random.RandomState(1)
    for axis in (None, 0, 1):
        x = cr.tensor(rs.randn(4, 3) * 3, requires_grad=True)
        assert cr.gradcheck(lambda t, a=axis: cr.logsumexp(t, axis=a), (x,))


# ---------------------------------------------------------- multivariate normal
def _mvn_problem(dim, points, seed):
    """Points, a mean, a positive definite covariance, per-point weights, and the
    generator for further draws."""
    rng = np.random.default_rng(seed)
    x, mean = rng.normal(size=(points, dim)), rng.normal(size=dim)
    a = rng.normal(size=(dim, dim))
    return x, mean, a @ a.T + np.eye(dim), rng.normal(size=points), rng


@settings(max_examples=25, deadline=None)
@given(dim=st.integers(1, 4), points=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_multivariate_normal_logpdf_matches_autograd_bit_for_bit(dim, points, seed):
    # SciPy's own logpdf forward (as autograd's) and autograd's VJP formulas: the
    # mixture model of HIPS's gmm example then gets autograd's gradient exactly.
    import autograd.scipy.stats.multivariate_normal as amvn

    import chainrule.scipy.stats.multivariate_normal as cmvn

    x, mean, cov, w, _ = _mvn_problem(dim, points, seed)
    for argnum in range(3):
        want = autograd.grad(lambda *p: anp.sum(amvn.logpdf(*p) * w), argnum)(x, mean, cov)
        got = cr.grad(lambda *p: cnp.sum(cmvn.logpdf(*p) * w), argnums=argnum)(x, mean, cov)
        _same_bits(np.asarray(got), np.asarray(want))


def test_multivariate_normal_logpdf_is_the_density_of_covs_symmetric_part():
    # SciPy reads one triangle; chainrule's value and gradient both take the
    # symmetric part, so they agree for any matrix (central differences in every
    # element of a non-symmetric cov), and agree with SciPy for a symmetric one.
    import chainrule.scipy.stats.multivariate_normal as cmvn

    rng = np.random.default_rng(2)
    x, mean = rng.normal(size=(4, 3)), rng.normal(size=3)
    a = rng.normal(size=(3, 3))
    cov = a @ a.T + np.eye(3) + 0.3 * rng.normal(size=(3, 3))  # not symmetric
    sym = (cov + cov.T) / 2
    np.testing.assert_allclose(
        cmvn.logpdf(cr.tensor(x), mean, cov).data, cmvn.logpdf(x, mean, sym), rtol=1e-12
    )
    args = (cr.tensor(x, requires_grad=True), cr.tensor(mean, requires_grad=True))
    args += (cr.tensor(cov, requires_grad=True),)
    assert cr.gradcheck(lambda *p: cmvn.logpdf(*p).sum(), args)
    assert cr.gradgradcheck(lambda *p: cmvn.logpdf(*p).sum(), args)
    tangents = tuple(rng.normal(size=np.shape(v)) for v in (x, mean, cov))
    _, jv = cr.jvp(lambda *p: cmvn.logpdf(*p), (x, mean, cov), tangents)
    u = rng.normal(size=4)
    _, vjp = cr.vjp(lambda *p: cmvn.logpdf(*p), x, mean, cov)
    np.testing.assert_allclose(u @ jv, sum(np.sum(g * t) for g, t in zip(vjp(u), tangents)))


def test_multivariate_normal_logpdf_under_vmap_and_jit():
    import chainrule.scipy.stats.multivariate_normal as cmvn

    rng = np.random.default_rng(3)
    xs, mean = rng.normal(size=(5, 4, 2)), rng.normal(size=2)
    covs = np.stack([np.eye(2) * (k + 1) + 0.1 for k in range(5)])
    loop = [cmvn.logpdf(xs[k], mean, covs[k]) for k in range(5)]
    np.testing.assert_allclose(cr.vmap(cmvn.logpdf, in_axes=(0, None, 0))(xs, mean, covs), loop)
    np.testing.assert_allclose(
        cr.vmap(cmvn.logpdf, in_axes=(0, None, None))(xs, mean, covs[0]),
        [cmvn.logpdf(xs[k], mean, covs[0]) for k in range(5)],
    )
    jitted = cr.jit(lambda v: cmvn.logpdf(v, cr.tensor(mean), cr.tensor(covs[1])))
    for k in range(3):
        np.testing.assert_allclose(jitted(cr.tensor(xs[k])).data, cmvn.logpdf(xs[k], mean, covs[1]))


def test_multivariate_normal_logpdf_refuses_complex_arguments():
    # SciPy casts them to float, dropping the imaginary part without an error.
    import chainrule.scipy.stats.multivariate_normal as cmvn

    with pytest.raises(TypeError, match="complex arguments"):
        cmvn.logpdf(cr.tensor(np.ones((2, 2)) + 1j), np.zeros(2), np.eye(2))
    with pytest.raises(TypeError, match="complex arguments"):
        cmvn.logpdf(cr.tensor(np.ones((2, 2))), np.zeros(2), np.eye(2) * (1 + 1j))


# ---------------------------------------------------------------- x / y, in y
def _divisor_grads(x, y):
    """d(sum(x / y))/dy from chainrule and from autograd, y broadcast against x."""
    c = cr.grad(lambda v: cnp.sum(x / v))(y)
    a = autograd.grad(lambda v: anp.sum(x / v))(y)
    return np.asarray(c), np.asarray(a)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=DTYPES, shape=SHAPES)
def test_divisor_vjp_equals_autograds_bit_for_bit(data, dtype, shape):
    x = data.draw(_arrays(dtype, shape, -1e3, 1e3))
    y = data.draw(_arrays(dtype, shape[-1:], 0.125, 1e3))
    y = y * data.draw(st.sampled_from([1, -1]))
    _same_bits(*_divisor_grads(x, y))


def test_divisor_vjp_keeps_its_accuracy_where_y_squared_leaves_the_float_range():
    # In float32, y^2 underflows below |y| ~ 1e-19 (to subnormals, then 0) and
    # overflows above 1.8e19, so autograd's -g x / y^2 gives inf and 0 here, while
    # the true -x / y^2 is a normal float in every case.
    x = np.array([1e-30, 1e20, 1e20, 3.0], np.float32)
    y = np.array([1e-25, 2e19, -4e19, 2.0], np.float32)
    c, a = _divisor_grads(x, y)
    exact = -x.astype(np.float64) / y.astype(np.float64) ** 2
    np.testing.assert_allclose(c, exact, rtol=1e-6)
    assert not np.isfinite(a[0]) and a[1] == a[2] == 0  # autograd's formula fails there
    # A subnormal g x over y^2 >= 1: autograd's quotient rounds correctly, and is kept.
    _same_bits(*_divisor_grads(np.float32(1e-45), np.array([1.5], np.float32)))
    assert c[-1] == a[-1]  # in range, the same bits


def test_divisor_rule_picks_the_same_formula_per_element_under_jit_and_second_order():
    x = np.array([1.0, 2.0, -3.0], np.float32)
    y = np.array([3e-20, 4e19, 2.0], np.float32)
    eager = cr.grad(lambda v: cnp.sum(x / v))(y)
    np.testing.assert_array_equal(cr.jit(cr.grad(lambda v: cnp.sum(x / v)))(y), eager)
    # The recorded pass (differentiated again) has the same first-order values.
    y64 = np.array([0.5, -2.0, 3.0])
    numerators = cr.tensor([1.0, 2.0, -3.0], requires_grad=True)
    divisors = cr.tensor(y64, requires_grad=True)
    assert cr.gradcheck(lambda a, b: a / b, (numerators, divisors))
    assert cr.gradgradcheck(lambda a, b: a / b, (numerators, divisors))
    hess = cr.hessian(lambda v: cnp.sum(1.0 / v))(y64)
    np.testing.assert_allclose(np.diag(hess), 2.0 / y64**3, rtol=1e-14)
    # A zero g x (or an extreme y) takes the per-element choice in a recorded pass
    # too, and under vmap.
    zeros = np.array([0.0, 2.0, 0.0])
    hess = cr.hessian(lambda v: cnp.sum(zeros / v))(y64)
    np.testing.assert_allclose(np.diag(hess), 2.0 * zeros / y64**3, rtol=1e-14)
    batched = cr.vmap(cr.grad(lambda v: cnp.sum(x / v)))(np.stack([y, y]))
    np.testing.assert_array_equal(batched, np.stack([eager, eager]))


def test_divisor_jvp_is_the_same_formula():
    x = np.array([[1.0, -2.0], [0.5, 4.0]])
    y = np.array([0.25, -3.0])
    t = np.array([1.0, 2.0])
    _, tangent = cr.jvp(lambda v: x / v, (y,), (t,))
    np.testing.assert_array_equal(tangent, -(t * x) / (y * y))


# ------------------------------------------------- sums that undo broadcasting
@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    dtype=DTYPES,
    shape=hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=30),
)
def test_broadcast_gradients_are_summed_in_autograds_order(data, dtype, shape):
    # A parameter broadcast against a larger array gets the sum of the gradient's
    # shares; added leading axes are summed one at a time, then each stretched axis,
    # as autograd does: a single sum over all of them rounds differently.
    x = data.draw(_arrays(dtype, shape, -1e3, 1e3))
    kept = data.draw(st.integers(0, len(shape) - 1))
    target = tuple(1 if data.draw(st.booleans()) else n for n in shape[kept:])
    w = data.draw(_arrays(dtype, target, -2, 2))
    c = cr.grad(lambda v: cnp.sum(cnp.sin(x * v)))(w)
    a = autograd.grad(lambda v: anp.sum(anp.sin(x * v)))(w)
    _same_bits(np.asarray(c), np.asarray(a))


# ------------------------------------------------------------ clip at its bounds
@settings(max_examples=30, deadline=None)
@given(data=st.data(), shape=SHAPES)
def test_numpy_clip_at_a_bound_has_autograds_zero_gradient(data, shape):
    # Values drawn from a grid that contains both bounds, so entries sit on them.
    x = data.draw(
        hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0]))
    )
    lo, hi = data.draw(st.sampled_from([(0.0, 1.0), (None, 1.0), (0.0, None)]))
    c = cr.grad(lambda v: cnp.sum(cnp.sin(cnp.clip(v, lo, hi))))(x)
    a = autograd.grad(lambda v: anp.sum(anp.sin(anp.clip(v, lo, hi))))(x)
    _same_bits(np.asarray(c), np.asarray(a))


def test_tensor_clip_and_clamp_keep_pytorchs_gradient_at_the_bounds():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    for f in (
        lambda t: t.clip(0.0, 1.0),
        lambda t: cr.clamp(t, 0.0, 1.0),
        lambda t: cr.clip(t, 0, 1),
    ):
        t = cr.tensor(x, requires_grad=True)
        f(t).sum().backward()
        np.testing.assert_array_equal(t.grad.data, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_numpy_clip_gradients_in_its_bounds_and_off_the_bounds():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    # A bound gets the gradient of the entries it sets, the ties included.
    np.testing.assert_array_equal(cr.grad(lambda lo: cnp.sum(cnp.clip(x, lo, 1.0)))(0.0), 2.0)
    np.testing.assert_array_equal(cr.grad(lambda hi: cnp.sum(cnp.clip(x, 0.0, hi)))(1.0), 2.0)
    args = [cr.tensor(v, requires_grad=True) for v in ([-1.2, 0.3, 0.7, 1.6], 0.1, 0.9)]
    assert cr.gradcheck(lambda v, lo, hi: cnp.clip(v, lo, hi), args)
    jitted = cr.jit(cr.grad(lambda v: cnp.sum(cnp.clip(v, 0.0, 1.0))))
    np.testing.assert_array_equal(jitted(x), [0.0, 0.0, 1.0, 0.0, 0.0])
    batched = cr.vmap(cr.grad(lambda v: cnp.sum(cnp.clip(v, 0.0, 1.0))))(np.stack([x, x]))
    np.testing.assert_array_equal(batched, [[0.0, 0.0, 1.0, 0.0, 0.0]] * 2)


# ------------------------------------------------------------------ second order
# Hessian-vector products (reverse over reverse, as autograd's hessian_vector_product
# and Newton-CG's hessp take them) where chainrule's rules, differentiated again,
# repeat autograd's operations one for one. Where they do not (gmm's product as a
# whole; a reduction over several axes), docs/reference/hips-gmm-hvp.md says which
# operation differs and why it is left; `benchmarks/hips_bitwise.py hvp --trace`
# finds it.
def _normal_arrays(dtype, shape, bound):
    """Arrays in [-bound, bound] with no element in (0, 1e-6): the products of a
    second pass stay above the subnormal range, in float32 too."""
    elements = st.floats(-bound, bound, width=32).filter(lambda t: t == 0 or abs(t) > 1e-6)
    return hnp.arrays(dtype, shape, elements=elements)


def _hvp_both(f_autograd, f_chainrule, x, v):
    ha = autograd.hessian_vector_product(f_autograd)(x, v)
    hc = cr.hessian_vector_product(f_chainrule)(x, v)
    return np.asarray(ha), np.asarray(hc)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=DTYPES, shape=SHAPES, y=EXPONENTS)
def test_power_hvp_equals_autograds_bit_for_bit(data, dtype, shape, y):
    # v and w away from the subnormal range: for y = 2 the rule is g (2 x), autograd's
    # (2 g) x, and the two round apart only where a product falls below the smallest
    # normal number (both the same product, rounded once each to an absolute quantum).
    x = data.draw(_arrays(dtype, shape, 0.25, 4))
    v, w = (data.draw(_normal_arrays(dtype, shape, 3)) for _ in range(2))
    ha, hc = _hvp_both(lambda t: anp.sum(t**y * w), lambda t: cnp.sum(t**y * w), x, v)
    _same_bits(hc, ha)
    if dtype == np.float64:  # and it is the Hessian: y (y-1) x^(y-2) w v
        np.testing.assert_allclose(hc, y * (y - 1) * x ** (y - 2) * w * v, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=DTYPES, shape=SHAPES, axis=AXES, keepdims=st.booleans())
def test_logsumexp_hvp_equals_autograds_bit_for_bit(data, dtype, shape, axis, keepdims):
    # Over several axes (axis=None) the second pass undoes a broadcast over each of
    # them: equal since sum_to sums them one at a time, in autograd's order.
    x = data.draw(_arrays(dtype, shape, -20, 20))
    v = data.draw(_normal_arrays(dtype, shape, 3))
    w = data.draw(_normal_arrays(dtype, np.shape(np.sum(x, axis=axis, keepdims=keepdims)), 3))
    ha, hc = _hvp_both(
        lambda t: anp.sum(asp.logsumexp(t, axis=axis, keepdims=keepdims) * w),
        lambda t: cnp.sum(csp.logsumexp(t, axis=axis, keepdims=keepdims) * w),
        x,
        v,
    )
    _same_bits(hc, ha)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=DTYPES, shape=SHAPES)
def test_tanh_hvp_equals_autograds_bit_for_bit(data, dtype, shape):
    # g / cosh(x)^2 differentiated again: cosh, the square, and division's rule in
    # its divisor, -(g x)/y^2, all in autograd's order. |x| <= 20: there y^2 =
    # cosh(x)^4 stays below float32's largest number (past it, see the next test).
    x = data.draw(_arrays(dtype, shape, -20, 20))
    v, w = (data.draw(_normal_arrays(dtype, shape, 3)) for _ in range(2))
    ha, hc = _hvp_both(lambda t: anp.sum(anp.tanh(t) * w), lambda t: cnp.sum(cnp.tanh(t) * w), x, v)
    _same_bits(hc, ha)
    if dtype == np.float64:  # and it is the Hessian: -2 tanh(x) sech^2(x) w v
        want = -2 * np.tanh(x) / np.cosh(x) ** 2 * w * v
        np.testing.assert_allclose(hc, want, rtol=1e-12, atol=1e-300)


def test_tanh_hvp_keeps_its_accuracy_where_autograds_overflows():
    # float32, x = 23: cosh(x)^4 overflows, and autograd's -g x / y^2 gives 0; the
    # Hessian -2 tanh(x) sech^2(x) is -8.4e-20, a normal float32.
    x, one = np.array([23.0, -23.0], np.float32), np.ones(2, np.float32)
    got = cr.hessian_vector_product(lambda t: cnp.sum(cnp.tanh(t)))(x, one)
    want = -2 * np.tanh(x.astype(np.float64)) / np.cosh(x.astype(np.float64)) ** 2
    np.testing.assert_allclose(got, want, rtol=1e-5)
    with np.errstate(over="ignore"):
        theirs = autograd.hessian_vector_product(lambda t: anp.sum(anp.tanh(t)))(x, one)
    np.testing.assert_array_equal(theirs, [0.0, 0.0])


def test_logsumexp_hvp_is_the_hessian():
    # softmax p: the Hessian of logsumexp is diag(p) - p p^T.
    rs = np.random.RandomState(4)
    x, v = rs.randn(6) * 3, rs.randn(6)
    p = np.exp(x - sp.logsumexp(x))
    got = cr.hessian_vector_product(csp.logsumexp)(x, v)
    np.testing.assert_allclose(got, p * v - p * (p @ v), rtol=1e-12, atol=1e-15)
    t = cr.tensor(x, requires_grad=True)
    assert cr.gradgradcheck(lambda a: csp.logsumexp(a, axis=0), (t,))


@settings(max_examples=25, deadline=None)
@given(dim=st.integers(1, 4), points=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_multivariate_normal_hvp_in_x_and_mean_equals_autograds_bit_for_bit(dim, points, seed):
    # In the points and the mean (cov fixed), the second pass goes through solve's
    # VJP in its right-hand side, solve(cov^T, g), in both libraries. In cov it does
    # not: see docs/reference/hips-gmm-hvp.md.
    import autograd.scipy.stats.multivariate_normal as amvn

    import chainrule.scipy.stats.multivariate_normal as cmvn

    x, mean, cov, w, rng = _mvn_problem(dim, points, seed)
    ha, hc = _hvp_both(
        lambda m: anp.sum(amvn.logpdf(x, m, cov) * w),
        lambda m: cnp.sum(cmvn.logpdf(x, m, cov) * w),
        mean,
        rng.normal(size=dim),
    )
    _same_bits(hc, ha)
    # The Hessian in the mean is -sum(w) cov^-1.
    v = rng.normal(size=dim)
    got = cr.hessian_vector_product(lambda m: cnp.sum(cmvn.logpdf(x, m, cov) * w))(mean, v)
    np.testing.assert_allclose(got, -np.sum(w) * np.linalg.solve(cov, v), rtol=1e-10, atol=1e-12)
    ha, hc = _hvp_both(
        lambda p: anp.sum(amvn.logpdf(p, mean, cov) * w),
        lambda p: cnp.sum(cmvn.logpdf(p, mean, cov) * w),
        x,
        rng.normal(size=(points, dim)),
    )
    _same_bits(hc, ha)


def test_multivariate_normal_hvp_in_cov_along_a_non_symmetric_direction():
    # Why the rules differentiate through cov's symmetric part although autograd's
    # do not (and so gmm's Hessian-vector product is not autograd's to the last
    # bit): on cov itself, this product would be off by about 1.6 here.
    # gradgradcheck would not tell: it differentiates the rule, not the function.
    import chainrule.scipy.stats.multivariate_normal as cmvn

    rng = np.random.default_rng(2)
    x, mean = rng.normal(size=(4, 3)), rng.normal(size=3)
    a = rng.normal(size=(3, 3))
    cov = a @ a.T + np.eye(3)
    direction = rng.normal(size=(3, 3))  # not symmetric
    f = lambda c: cmvn.logpdf(x, mean, c).sum()  # noqa: E731
    step, gradient = 1e-5, cr.grad(f)
    central = (gradient(cov + step * direction) - gradient(cov - step * direction)) / (2 * step)
    got = cr.hessian_vector_product(f)(cov, direction)
    np.testing.assert_allclose(got, central, rtol=1e-7, atol=1e-8)
