"""``chainrule.scipy.stats``: values equal SciPy's; gradients in every argument that
is a real variable equal central differences in float64 (hypothesis over
broadcast shapes and values in the support); forward mode agrees with reverse
mode; and the gradients equal HIPS autograd's in the arguments it differentiates."""

from __future__ import annotations

import autograd
import autograd.scipy.stats as ast
import numpy as np
import pytest
import scipy.stats as sst
from _scipy_checks import FEW, check_gradients, leaf, raw
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.scipy.stats as S

X, LOC, SCALE = (-3.0, 3.0), (-0.1, 0.1), (0.6, 1.8)
POS = (0.3, 5.0)
# (distribution, function): (ranges of the leading arguments, differentiable leading
# arguments, those autograd differentiates); loc and scale follow as variables.
CASES = {
    **{("norm", f): ((X,), (0,), (0,)) for f in ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf")},
    ("t", "logpdf"): ((X, (1.0, 10.0)), (0, 1), (0, 1)),
    ("t", "pdf"): ((X, (1.0, 10.0)), (0, 1), (0, 1)),
    ("t", "cdf"): ((X, (1.0, 10.0)), (0,), (0,)),
    ("t", "logcdf"): ((X, (1.0, 10.0)), (0,), (0,)),
    ("gamma", "logpdf"): ((POS, (0.5, 4.0)), (0, 1), (0, 1)),
    ("gamma", "pdf"): ((POS, (0.5, 4.0)), (0, 1), (0, 1)),
    ("gamma", "cdf"): ((POS, (0.5, 4.0)), (0,), (0,)),
    ("chi2", "logpdf"): ((POS, "df"), (0, 1), (0,)),
    ("chi2", "pdf"): ((POS, "df"), (0, 1), (0,)),
    ("chi2", "cdf"): ((POS, "df"), (0,), (0,)),
    ("beta", "logpdf"): (((0.15, 0.85), (0.5, 4.0), (0.5, 4.0)), (0, 1, 2), (0, 1, 2)),
    ("beta", "pdf"): (((0.15, 0.85), (0.5, 4.0), (0.5, 4.0)), (0, 1, 2), (0, 1, 2)),
    ("beta", "cdf"): (((0.15, 0.85), (0.5, 4.0), (0.5, 4.0)), (0,), (0,)),
}


def _draw_args(data, ranges, extra, dist=""):
    shapes = data.draw(
        hnp.mutually_broadcastable_shapes(num_shapes=len(ranges) + extra, max_dims=2, max_side=3)
    ).input_shapes
    args = []
    # the beta support is [loc, loc + scale]: a scale >= 1 keeps every x inside it
    scale = (1.0, 1.2) if dist == "beta" else SCALE
    for shape, r in zip(shapes, list(ranges) + [LOC, scale][:extra]):
        if r == "df":  # autograd's chi2 rule is for integer degrees of freedom
            args.append(data.draw(hnp.arrays(np.float64, shape, elements=st.integers(1, 6))))
        else:
            elements = st.floats(*r, allow_nan=False, allow_subnormal=False)
            args.append(data.draw(hnp.arrays(np.float64, shape, elements=elements)))
    return args


@pytest.mark.parametrize("case", sorted(CASES), ids="-".join)
@FEW
@given(data=st.data())
def test_with_loc_and_scale_against_finite_differences(case, data):
    dist, name = case
    ranges, wrt, _ = CASES[case]
    args = _draw_args(data, ranges, 2, dist)
    fn = getattr(getattr(S, dist), name)
    ref = getattr(getattr(sst, dist), name)(*args)
    np.testing.assert_allclose(raw(fn(*[leaf(a) for a in args])), ref, rtol=1e-9, atol=1e-300)
    n = len(ranges)
    check_gradients(fn, args, [*wrt, n, n + 1])


@pytest.mark.parametrize("case", sorted(CASES), ids="-".join)
@FEW
@given(data=st.data())
def test_against_autograd(case, data):
    dist, name = case
    ranges, wrt, autograd_wrt = CASES[case]
    args = _draw_args(data, ranges, 0)
    fn = getattr(getattr(S, dist), name)
    np.testing.assert_allclose(
        raw(fn(*[leaf(a) for a in args])), getattr(getattr(sst, dist), name)(*args), rtol=1e-9
    )
    check_gradients(fn, args, list(wrt), getattr(getattr(ast, dist), name), list(autograd_wrt))


@pytest.mark.parametrize("name", ["logpmf", "pmf", "cdf"])
@FEW
@given(data=st.data())
def test_poisson(name, data):
    shape_k, shape_mu = data.draw(
        hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)
    ).input_shapes
    k = data.draw(hnp.arrays(np.float64, shape_k, elements=st.integers(0, 8)))
    mu = data.draw(hnp.arrays(np.float64, shape_mu, elements=st.floats(0.3, 6.0)))
    fn = getattr(S.poisson, name)
    np.testing.assert_allclose(raw(fn(k, leaf(mu))), getattr(sst.poisson, name)(k, mu), rtol=1e-9)
    check_gradients(fn, [k, mu], [1], getattr(ast.poisson, name))


def test_poisson_outside_the_support_and_the_count_refuses_a_gradient():
    k = np.array([-1.0, 1.5, 2.0])
    out = S.poisson.logpmf(k, leaf(2.0))
    np.testing.assert_allclose(raw(out), sst.poisson.logpmf(k, 2.0))
    with pytest.raises(NotImplementedError, match="count"):
        cr.grad(lambda kk: S.poisson.logpmf(kk, 2.0).sum())(np.array([1.0, 2.0]))


@FEW
@given(
    dim=st.integers(1, 3),
    points=st.sampled_from([(), (1,), (4,), (2, 3)]),
    seed=st.integers(0, 999),
)
def test_multivariate_normal(dim, points, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*points, dim))
    mean = rng.standard_normal(dim)
    a = rng.standard_normal((dim, dim))
    cov = a @ a.T + np.eye(dim)
    for name in ("logpdf", "pdf"):
        fn = getattr(S.multivariate_normal, name)
        ref = getattr(sst.multivariate_normal, name)(x, mean, cov)
        np.testing.assert_allclose(raw(fn(leaf(x), leaf(mean), leaf(cov))), ref, rtol=1e-9)
        # through a covariance built from parameters: exact, and symmetric by construction
        eye = np.eye(dim)
        check_gradients(
            lambda x_, m_, a_, fn=fn, eye=eye: fn(x_, m_, a_ @ a_.T + eye), [x, mean, a], [0, 1, 2]
        )
        # in cov itself: autograd's general-matrix gradient (its rules take x of at
        # most two axes: they transpose (x - mean) whole)
        oracle = getattr(ast.multivariate_normal, name) if len(points) <= 1 else None
        check_gradients(fn, [x, mean, cov], [0, 1, 2], oracle)
    ent = S.multivariate_normal.entropy(leaf(mean), leaf(cov))
    assert np.isclose(raw(ent), sst.multivariate_normal.entropy(mean, cov))
    check_gradients(
        lambda c: S.multivariate_normal.entropy(mean, c),
        [cov],
        [0],
        lambda c: ast.multivariate_normal.entropy(mean, c),
    )


def test_multivariate_normal_refuses_what_it_cannot_differentiate():
    with pytest.raises(NotImplementedError, match="allow_singular"):
        S.multivariate_normal.logpdf(leaf([0.0, 1.0]), np.zeros(2), np.eye(2), allow_singular=True)
    with pytest.raises(ValueError, match="coordinates"):
        S.multivariate_normal.logpdf(leaf([0.0, 1.0, 2.0]), np.zeros(2), np.eye(2))


@FEW
@given(k=st.integers(2, 4), n=st.sampled_from([None, 1, 3]), seed=st.integers(0, 999))
def test_dirichlet(k, n, seed):
    rng = np.random.default_rng(seed)
    alpha = rng.uniform(0.5, 3.0, size=k)
    u = rng.standard_normal(k if n is None else (k, n))
    x = np.exp(u) / np.exp(u).sum(axis=0)
    for name in ("logpdf", "pdf"):
        fn = getattr(S.dirichlet, name)
        ref = getattr(sst.dirichlet, name)(x, alpha)
        np.testing.assert_allclose(raw(fn(leaf(x), leaf(alpha))), ref, rtol=1e-9)

        # x stays on the simplex: differentiate through a softmax of free parameters
        def on_simplex(v, a, fn=fn):
            e = cr.exp(v)
            return fn(e / e.sum(axis=0), a)

        check_gradients(on_simplex, [u, alpha], [0, 1])
        if n is None:  # autograd's rule for x is written for one point
            w = rng.standard_normal()
            mine = cr.grad(lambda a, b, fn=fn, w=w: fn(a, b) * w, argnums=(0, 1))(x, alpha)
            ref_fn = getattr(ast.dirichlet, name)
            for i in (0, 1):
                ref = autograd.grad(lambda a, b, f=ref_fn, w=w: f(a, b) * w, i)(x, alpha)
                np.testing.assert_allclose(raw(mine[i]), ref, rtol=1e-7, atol=1e-12)


def test_dirichlet_checks_its_input():
    with pytest.raises(ValueError, match="sum to 1"):
        S.dirichlet.logpdf(leaf([0.2, 0.2, 0.2]), np.ones(3))
    with pytest.raises(ValueError, match="alpha"):
        S.dirichlet.logpdf(leaf([0.5, 0.5]), np.array([1.0, -1.0]))


def test_second_order_through_distributions():
    x, loc, scale = leaf([0.3, -1.2]), leaf(0.2), leaf(1.4)
    for fn in (S.norm.logpdf, S.norm.logcdf, S.norm.logsf):
        assert cr.gradgradcheck(lambda a, b, c, fn=fn: fn(a, b, c), (x, loc, scale))
    assert cr.gradgradcheck(lambda a, d: S.t.logpdf(a, d), (x, leaf(3.5)))
    assert cr.gradgradcheck(lambda a, s: S.gamma.logpdf(a, s), (leaf([0.4, 2.0]), leaf(1.7)))


def test_numpy_in_numpy_out():
    x = np.array([0.1, 0.7])
    out = S.norm.logpdf(x, 0.5, 2.0)
    assert type(out) is np.ndarray and np.array_equal(out, sst.norm.logpdf(x, 0.5, 2.0))
    assert S.norm.rvs == sst.norm.rvs  # the rest is SciPy's


def test_values_at_the_edges_of_the_support():
    x = np.array([-1.0, 0.0, 0.5])
    for a in (0.5, 1.0, 2.0):
        np.testing.assert_allclose(raw(S.gamma.logpdf(leaf(x), a)), sst.gamma.logpdf(x, a))
        np.testing.assert_allclose(raw(S.gamma.cdf(leaf(x), a)), sst.gamma.cdf(x, a))
    y = np.array([-0.5, 0.3, 1.5])
    np.testing.assert_allclose(raw(S.beta.logpdf(leaf(y), 2.0, 3.0)), sst.beta.logpdf(y, 2.0, 3.0))
    np.testing.assert_allclose(raw(S.beta.cdf(leaf(y), 2.0, 3.0)), sst.beta.cdf(y, 2.0, 3.0))
    g = cr.grad(lambda v: S.gamma.logpdf(v, 2.0).sum())(x)
    assert np.all(np.isfinite(raw(g)))
