"""``chainrule.scipy.signal.convolve`` and ``chainrule.scipy.linalg``: values equal
SciPy's (and autograd's), gradients equal central differences in float64 over random
shapes, modes and axes, forward mode agrees with reverse mode, gradients equal
autograd's, and second derivatives check out."""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import autograd.scipy.linalg as asl
import autograd.scipy.signal as asg
import numpy as np
import pytest
import scipy.linalg as sl
import scipy.signal as ssg
from _scipy_checks import FEW, check_gradients, leaf, raw
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.scipy.linalg as L
from chainrule.scipy.signal import convolve


@FEW
@given(
    ndim=st.integers(1, 2),
    mode=st.sampled_from(["full", "valid", "same"]),
    data=st.data(),
)
def test_convolve_matches_scipy_and_autograd(ndim, mode, data):
    sa = tuple(data.draw(st.integers(1, 5)) for _ in range(ndim))
    if mode == "valid":  # one operand at least as large along every axis
        sb = tuple(data.draw(st.integers(1, n)) for n in sa)
        if data.draw(st.booleans()):
            sa, sb = sb, sa
    else:
        sb = tuple(data.draw(st.integers(1, 5)) for _ in range(ndim))
    rng = np.random.default_rng(data.draw(st.integers(0, 999)))
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    out = convolve(a, b, mode=mode)
    np.testing.assert_allclose(out, ssg.convolve(a, b, mode=mode), atol=1e-12)
    np.testing.assert_allclose(raw(convolve(leaf(a), leaf(b), mode=mode)), out)
    oracle = lambda x, y: asg.convolve(x, y, mode=mode)  # noqa: E731
    # autograd's convolve swaps its operands for ever (RecursionError) for some shapes,
    # in its forward pass or in its gradient's convolutions (e.g. (2, 1) with (1, 2)):
    # there the finite differences and forward mode remain the checks
    check_gradients(
        lambda x, y: convolve(x, y, mode=mode),
        [a, b],
        [0, 1],
        oracle if _autograd_terminates(oracle, a, b) else None,
    )


def _autograd_terminates(oracle, a, b) -> bool:
    """Whether autograd's convolve and both its gradients return for these operands."""
    try:
        for i in (0, 1):
            autograd.grad(lambda x, y: anp.sum(oracle(x, y)), i)(a, b)
    except RecursionError:
        return False
    return True


@FEW
@given(mode=st.sampled_from(["full", "valid", "same"]), seed=st.integers(0, 999))
def test_convolve_with_axes_and_dot_axes(mode, seed):
    # a batch of 2-channel images against 3 filters of 2 channels, as a conv net does
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((2, 2, 5, 4))
    b = rng.standard_normal((2, 3, 3, 2))
    kw = {"axes": ([2, 3], [2, 3]), "dot_axes": ([1], [0]), "mode": mode}
    out = convolve(a, b, **kw)
    np.testing.assert_allclose(out, asg.convolve(a, b, **kw), atol=1e-12)
    check_gradients(
        lambda x, y: convolve(x, y, **kw), [a, b], [0, 1], lambda x, y: asg.convolve(x, y, **kw)
    )


def test_convolve_second_order():
    a, b = leaf(np.linspace(-1, 1, 5)), leaf([0.3, -0.7, 1.1])
    for mode in ("full", "valid", "same"):
        assert cr.gradgradcheck(lambda x, y, m=mode: convolve(x, y, mode=m) ** 2, (a, b))


def test_convolve_refuses_bad_input():
    with pytest.raises(ValueError, match="mode"):
        convolve(leaf([1.0, 2.0]), leaf([1.0]), mode="circular")
    with pytest.raises(ValueError, match="at least as large"):
        convolve(leaf(np.ones((3, 1))), leaf(np.ones((1, 3))), mode="valid")
    with pytest.raises(ValueError, match="axes"):
        convolve(leaf(np.ones((3, 2))), leaf(np.ones(2)))


def _square(rng, n, shift=3.0):
    return rng.standard_normal((n, n)) + shift * np.eye(n)


@FEW
@given(n=st.integers(1, 4), seed=st.integers(0, 999))
def test_solve_sylvester(n, seed):
    rng = np.random.default_rng(seed)
    a, b, q = _square(rng, n), _square(rng, n), rng.standard_normal((n, n))
    np.testing.assert_allclose(raw(L.solve_sylvester(leaf(a), b, q)), sl.solve_sylvester(a, b, q))
    check_gradients(L.solve_sylvester, [a, b, q], [0, 1, 2], asl.solve_sylvester)


@FEW
@given(n=st.integers(1, 4), seed=st.integers(0, 999))
def test_sqrtm(n, seed):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, n))
    spd = m @ m.T + np.eye(n)
    np.testing.assert_allclose(raw(L.sqrtm(leaf(spd))), sl.sqrtm(spd), atol=1e-10)
    check_gradients(L.sqrtm, [spd], [0], asl.sqrtm)


@FEW
@given(
    n=st.integers(1, 4),
    cols=st.sampled_from([None, 1, 3]),
    trans=st.sampled_from([0, 1, "T", "N"]),
    lower=st.booleans(),
    unit=st.booleans(),
    seed=st.integers(0, 999),
)
def test_solve_triangular(n, cols, trans, lower, unit, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)) + 3 * np.eye(n)  # both triangles filled: one is read
    b = rng.standard_normal(n if cols is None else (n, cols))
    kw = {"trans": trans, "lower": lower, "unit_diagonal": unit}
    expected = sl.solve_triangular(a, b, **kw)
    np.testing.assert_allclose(raw(L.solve_triangular(leaf(a), b, **kw)), expected)
    oracle = None if unit else (lambda x, y: asl.solve_triangular(x, y, trans=trans, lower=lower))
    check_gradients(lambda x, y: L.solve_triangular(x, y, **kw), [a, b], [0, 1], oracle)


@pytest.mark.parametrize("lower", [True, False])
def test_cholesky_factor_and_gradient(lower):
    rng = np.random.default_rng(3)
    m = rng.standard_normal((3, 3))
    spd = m @ m.T + np.eye(3)
    np.testing.assert_allclose(
        raw(L.cholesky(leaf(spd), lower=lower)), sl.cholesky(spd, lower=lower)
    )
    # through a symmetric matrix built from parameters, and on the triangle read
    check_gradients(lambda p: L.cholesky(p @ p.T + np.eye(3), lower=lower), [m], [0])
    check_gradients(lambda s: L.cholesky(s, lower=lower), [spd], [0])


def test_linalg_second_order():
    rng = np.random.default_rng(5)
    a, b, q = _square(rng, 3), _square(rng, 3), rng.standard_normal((3, 3))
    assert cr.gradgradcheck(L.solve_sylvester, (leaf(a), leaf(b), leaf(q)))
    m = rng.standard_normal((3, 3))
    assert cr.gradgradcheck(L.sqrtm, (leaf(m @ m.T + np.eye(3)),))
    assert cr.gradgradcheck(
        lambda x, y: L.solve_triangular(x, y, lower=True), (leaf(np.tril(a)), leaf(q))
    )


def test_sqrtm_refuses_a_complex_root():
    with pytest.raises(ValueError, match="complex"):
        L.sqrtm(leaf([[-1.0, 0.0], [0.0, 1.0]]))
