"""``chainrule.scipy.special``: values equal SciPy's, gradients equal central
differences in float64 (hypothesis over shapes and values in each function's
domain), forward mode agrees with reverse mode, and the gradients equal HIPS
autograd's. Second and third orders for a few; the order argument refuses."""

from __future__ import annotations

import autograd
import autograd.scipy.special as asp
import numpy as np
import pytest
import scipy.special as sp
from _scipy_checks import FEW, check_gradients, leaf, raw
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.scipy.special as S

SHAPES = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)

# name -> (low, high) of the values drawn: inside the domain, away from poles.
ONE = {
    "gammaln": (0.2, 6.0),
    "digamma": (0.3, 6.0),
    "psi": (0.3, 6.0),
    "gamma": (0.3, 4.0),
    "rgamma": (0.3, 4.0),
    "erf": (-2.0, 2.0),
    "erfc": (-2.0, 2.0),
    "erfinv": (-0.9, 0.9),
    "erfcinv": (0.1, 1.9),
    "expit": (-4.0, 4.0),
    "logit": (0.1, 0.9),
    "i0": (-3.0, 3.0),
    "i1": (-3.0, 3.0),
    "j0": (-6.0, 6.0),
    "j1": (-6.0, 6.0),
    "y0": (0.5, 6.0),
    "y1": (0.5, 6.0),
    "ndtr": (-3.0, 3.0),
    "log_ndtr": (-6.0, 3.0),
}
# not in autograd.scipy.special (chainrule's stats use them)
NOT_IN_AUTOGRAD = {"ndtr", "log_ndtr", "jv", "stdtr"}

# name -> (orders to draw from, low, high of x); the order is not differentiable
ORDERED = {
    "polygamma": ([0, 1, 2], 0.3, 4.0),
    "jn": ([0, 1, 2, 3], -5.0, 5.0),
    "jv": ([0.5, 1.5, 2.3], 0.5, 5.0),
    "yn": ([0, 1, 2], 0.5, 5.0),
    "iv": ([0, 0.5, 1.0, 2.5], 0.5, 3.0),
    "ive": ([0, 0.5, 1.0, 2.5], -3.0, 3.0),
}

# name -> ((low, high) per argument, differentiable arguments)
SEVERAL = {
    "beta": (((0.3, 4.0), (0.3, 4.0)), (0, 1)),
    "betaln": (((0.3, 4.0), (0.3, 4.0)), (0, 1)),
    "gammainc": (((0.5, 4.0), (0.2, 5.0)), (1,)),
    "gammaincc": (((0.5, 4.0), (0.2, 5.0)), (1,)),
    "stdtr": (((1.0, 10.0), (-3.0, 3.0)), (1,)),
    "betainc": (((0.5, 4.0), (0.5, 4.0), (0.05, 0.95)), (2,)),
}


def _values(draw, shape, lo, hi):
    elements = st.floats(lo, hi, allow_nan=False, allow_subnormal=False)
    return draw(hnp.arrays(np.float64, shape, elements=elements))


@pytest.mark.parametrize("name", sorted(ONE))
@FEW
@given(data=st.data())
def test_one_variable(name, data):
    lo, hi = ONE[name]
    x = _values(data.draw, data.draw(SHAPES), lo, hi)
    fn = getattr(S, name)
    np.testing.assert_allclose(raw(fn(leaf(x))), getattr(sp, name)(x), rtol=1e-12)
    check_gradients(fn, [x], [0], None if name in NOT_IN_AUTOGRAD else getattr(asp, name))


@pytest.mark.parametrize("name", sorted(ORDERED))
@FEW
@given(data=st.data())
def test_order_and_x(name, data):
    orders, lo, hi = ORDERED[name]
    n = data.draw(st.sampled_from(orders))
    x = _values(data.draw, data.draw(SHAPES), lo, hi)
    if name == "ive":  # autograd's rule for ive divides by x: 0 is NaN there
        x = np.where(np.abs(x) < 0.2, 0.5, x)
    if n % 1:  # a non-integer order is real for x > 0 only
        x = np.abs(x) + 0.2
    fn = getattr(S, name)
    np.testing.assert_allclose(raw(fn(n, leaf(x))), getattr(sp, name)(n, x), rtol=1e-12)
    ref = None if name in NOT_IN_AUTOGRAD else getattr(asp, name)
    check_gradients(fn, [n, x], [1], ref)


@pytest.mark.parametrize("name", sorted(SEVERAL))
@FEW
@given(data=st.data())
def test_several_variables_broadcasting(name, data):
    ranges, wrt = SEVERAL[name]
    shapes = data.draw(
        hnp.mutually_broadcastable_shapes(num_shapes=len(ranges), max_dims=2, max_side=3)
    ).input_shapes
    args = [_values(data.draw, s, lo, hi) for s, (lo, hi) in zip(shapes, ranges)]
    fn = getattr(S, name)
    np.testing.assert_allclose(raw(fn(*[leaf(a) for a in args])), getattr(sp, name)(*args))
    ref = None if name in NOT_IN_AUTOGRAD else getattr(asp, name)
    check_gradients(fn, args, list(wrt), ref)


@FEW
@given(
    a=hnp.arrays(np.float64, SHAPES, elements=st.floats(2.0, 6.0)),
    d=st.integers(1, 4),
)
def test_multigammaln(a, d):
    np.testing.assert_allclose(raw(S.multigammaln(leaf(a), d)), sp.multigammaln(a, d))
    check_gradients(lambda x: S.multigammaln(x, d), [a], [0], lambda x: asp.multigammaln(x, d))


def test_multigammaln_refuses_values_outside_its_domain():
    with pytest.raises(ValueError, match="a > "):
        S.multigammaln(leaf([0.5, 3.0]), 3)


@FEW
@given(data=st.data())
def test_logsumexp_axes_keepdims_and_weights(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    a = _values(data.draw, shape, -3.0, 3.0)
    axis = data.draw(st.sampled_from([None, *range(-len(shape), len(shape))]))
    keepdims = data.draw(st.booleans())
    b = _values(data.draw, shape, 0.1, 2.0)
    kw = {"axis": axis, "keepdims": keepdims}
    np.testing.assert_allclose(raw(S.logsumexp(leaf(a), **kw)), sp.logsumexp(a, **kw))
    np.testing.assert_allclose(raw(S.logsumexp(leaf(a), b=b, **kw)), sp.logsumexp(a, b=b, **kw))
    check_gradients(lambda x: S.logsumexp(x, **kw), [a], [0], lambda x: asp.logsumexp(x, **kw))
    check_gradients(
        lambda x, w: S.logsumexp(x, b=w, **kw),
        [a, b],
        [0, 1],
        lambda x, w: asp.logsumexp(x, b=w, **kw),
        autograd_wrt=[0],  # autograd does not differentiate b
    )


def test_logsumexp_with_negative_weights_and_return_sign():
    a = np.array([0.3, 1.2, -0.5])
    b = np.array([1.0, -2.0, 0.5])
    value, sign = S.logsumexp(leaf(a), b=b, return_sign=True)
    ref_value, ref_sign = sp.logsumexp(a, b=b, return_sign=True)
    assert np.isclose(raw(value), ref_value) and sign == ref_sign == -1
    check_gradients(lambda x, w: S.logsumexp(x, b=w, return_sign=True)[0], [a, b], [0, 1])


def test_higher_orders():
    x = leaf([0.7, 1.9, 3.4])
    for fn in (S.gammaln, S.erf, S.expit, S.i0, S.j1, S.erfinv, S.log_ndtr):
        arg = leaf([0.1, -0.4, 0.6]) if fn is S.erfinv else x
        assert cr.gradgradcheck(lambda t, fn=fn: fn(t), (arg,))
    for fn in (S.jn, S.iv, S.polygamma):
        assert cr.gradgradcheck(lambda t, fn=fn: fn(2, t), (x,))
    assert cr.gradgradcheck(lambda a, b: S.beta(a, b), (x, leaf([1.1, 0.4, 2.0])))
    # third derivative of gammaln is polygamma(2, x), through three nested grads
    third = cr.grad(cr.grad(cr.grad(lambda t: S.gammaln(t))))
    for v in (0.7, 1.9, 3.4):
        assert np.isclose(float(raw(third(v))), sp.polygamma(2, v), rtol=1e-10)
    # and autograd agrees on a second derivative
    ag = autograd.grad(autograd.grad(asp.gammaln))
    assert np.isclose(float(raw(cr.grad(cr.grad(S.gammaln))(1.3))), ag(1.3))


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        (S.jn, (2.0, 1.5)),
        (S.iv, (0.5, 1.5)),
        (S.polygamma, (1.0, 1.5)),
        (S.yn, (1.0, 1.5)),
        (S.ive, (1.0, 1.5)),
    ],
)
def test_the_order_is_not_differentiable(fn, args):
    with pytest.raises(NotImplementedError, match="the order"):
        cr.grad(fn, argnums=0)(*args)


@pytest.mark.parametrize(("fn", "i"), [(S.gammainc, 0), (S.stdtr, 0), (S.betainc, 1)])
def test_shape_parameters_without_closed_form_refuse(fn, i):
    args = [1.5, 1.2, 0.4][: 3 if fn is S.betainc else 2]
    with pytest.raises(NotImplementedError, match="no derivative"):
        cr.grad(fn, argnums=i)(*args)


def test_numpy_in_numpy_out_and_float32_kept():
    x = np.array([0.5, 1.5])
    assert type(S.gammaln(x)) is np.ndarray and np.array_equal(S.gammaln(x), sp.gammaln(x))
    assert isinstance(S.gammaln(1.5), float)
    t = cr.tensor([0.5, 1.5], dtype="float32", requires_grad=True)
    out = S.digamma(t)
    out.sum().backward()
    assert out.dtype == np.float32 and t.grad.dtype == np.float32


def test_scipy_ufuncs_take_tensors_through_numpy_dispatch():
    t = leaf([0.5, 1.5])
    out = sp.gammaln(t)  # SciPy's own ufunc, called on a Tensor
    assert isinstance(out, cr.Tensor)
    out.sum().backward()
    np.testing.assert_allclose(raw(t.grad), sp.digamma([0.5, 1.5]))


def test_gammasgn_is_a_constant():
    t = leaf([-1.5, 0.5, 2.5])
    out = S.gammasgn(t)
    np.testing.assert_array_equal(raw(out), sp.gammasgn([-1.5, 0.5, 2.5]))
    assert not out.requires_grad
