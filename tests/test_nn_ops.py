"""The neural-network primitives (chainrule/ops/nn_ops.py): forward values against
direct loops, VJP rules against finite differences (gradcheck), JVP rules against
central differences along random tangents, adjoint pairs, and second derivatives."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.ops import nn_ops

FEW = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ------------------------------------------------------------------ references
def conv2d_loops(x, w, b, stride, padding, dilation, groups=1):
    """Convolution by its definition, one output element at a time."""
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, oc, oh, ow))
    per_group = oc // groups
    for i in range(n):
        for o in range(oc):
            g = o // per_group
            for y in range(oh):
                for z in range(ow):
                    acc = 0.0
                    for ci in range(cg):
                        for a in range(kh):
                            for bb in range(kw):
                                acc += (
                                    w[o, ci, a, bb]
                                    * xp[i, g * cg + ci, y * sh + a * dh, z * sw + bb * dw]
                                )
                    out[i, o, y, z] = acc + (0.0 if b is None else b[o])
    return out


def conv2d_grads_loops(x, w, g, stride, padding, dilation):
    """dL/dx and dL/dw of sum(g * conv(x, w)), by the chain rule written as loops."""
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    gxp = np.zeros_like(xp)
    gw = np.zeros_like(w)
    for i in range(n):
        for o in range(oc):
            for y in range(g.shape[2]):
                for z in range(g.shape[3]):
                    for ci in range(c):
                        for a in range(kh):
                            for bb in range(kw):
                                r, q = y * sh + a * dh, z * sw + bb * dw
                                gw[o, ci, a, bb] += g[i, o, y, z] * xp[i, ci, r, q]
                                gxp[i, ci, r, q] += g[i, o, y, z] * w[o, ci, a, bb]
    return gxp[:, :, ph : ph + h, pw : pw + wd], gw


def max_pool_loops(x, k, s, p, d):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    oh = (h + 2 * p - d * (k - 1) - 1) // s + 1
    ow = (w + 2 * p - d * (k - 1) - 1) // s + 1
    out = np.zeros((n, c, oh, ow))
    grad = np.zeros_like(xp)
    for i in range(n):
        for ch in range(c):
            for y in range(oh):
                for z in range(ow):
                    best, at = -np.inf, None
                    for a in range(k):
                        for b in range(k):
                            v = xp[i, ch, y * s + a * d, z * s + b * d]
                            if v > best:  # the first largest wins, as in PyTorch
                                best, at = v, (y * s + a * d, z * s + b * d)
                    out[i, ch, y, z] = best
                    grad[i, ch, at[0], at[1]] += 1.0
    return out, grad[:, :, p : p + h, p : p + w]


def jvp_by_differences(fn, args, i, tangent, eps=1e-6):
    plus = list(args)
    minus = list(args)
    plus[i] = args[i] + eps * tangent
    minus[i] = args[i] - eps * tangent
    return (fn(*plus) - fn(*minus)) / (2 * eps)


def _geometry(k=(3, 3), s=(1, 1), p=(0, 0), d=(1, 1)):
    return {"kernel_size": k, "stride": s, "padding": p, "dilation": d}


# ------------------------------------------------------------------ convolution
CONV_CASES = [
    # x shape, w shape, stride, padding, dilation, groups
    ((2, 3, 7, 6), (4, 3, 3, 2), (1, 1), (1, 0), (1, 1), 1),
    ((1, 4, 9, 8), (6, 2, 3, 3), (2, 1), (1, 2), (2, 1), 2),
    ((2, 2, 5, 5), (3, 2, 1, 1), (2, 2), (0, 0), (1, 1), 1),
    ((1, 1, 6, 6), (2, 1, 5, 5), (1, 1), (2, 2), (1, 1), 1),
]


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups", CONV_CASES)
def test_conv2d_forward_matches_loops(xs, ws, stride, padding, dilation, groups):
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=xs), rng.normal(size=ws), rng.normal(size=ws[0])
    out = F.conv2d(x, w, b, stride, padding, dilation, groups)
    np.testing.assert_allclose(
        out.data, conv2d_loops(x, w, b, stride, padding, dilation, groups), atol=1e-12
    )


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups", CONV_CASES[:3])
def test_conv2d_gradients_pass_gradcheck(xs, ws, stride, padding, dilation, groups):
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.normal(size=xs), requires_grad=True)
    w = cr.tensor(rng.normal(size=ws), requires_grad=True)
    b = cr.tensor(rng.normal(size=ws[0]), requires_grad=True)
    assert cr.gradcheck(
        lambda a, ww, bb: F.conv2d(a, ww, bb, stride, padding, dilation, groups), (x, w, b)
    )


def test_conv2d_gradients_match_loops():
    rng = np.random.default_rng(2)
    xs, ws, stride, padding, dilation = (2, 3, 6, 7), (4, 3, 3, 2), (2, 1), (1, 1), (1, 2)
    x = cr.tensor(rng.normal(size=xs), requires_grad=True)
    w = cr.tensor(rng.normal(size=ws), requires_grad=True)
    out = F.conv2d(x, w, None, stride, padding, dilation)
    g = rng.normal(size=out.shape)
    (out * g).sum().backward()
    gx, gw = conv2d_grads_loops(x.data, w.data, g, stride, padding, dilation)
    np.testing.assert_allclose(x.grad.data, gx, atol=1e-12)
    np.testing.assert_allclose(w.grad.data, gw, atol=1e-12)


@FEW
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    hw=st.tuples(st.integers(3, 7), st.integers(3, 7)),
    oc=st.integers(1, 3),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    s=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    p=st.tuples(st.integers(0, 1), st.integers(0, 1)),
    d=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**31 - 1),
)
def test_conv2d_property(n, c, hw, oc, k, s, p, d, dtype, seed):
    if any(hw[i] + 2 * p[i] < d[i] * (k[i] - 1) + 1 for i in range(2)):
        return  # the kernel does not fit
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, *hw)).astype(dtype)
    w = rng.normal(size=(oc, c, *k)).astype(dtype)
    out = F.conv2d(x, w, None, s, p, d)
    assert out.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(
        out.data, conv2d_loops(x.astype(np.float64), w.astype(np.float64), None, s, p, d), atol=tol
    )
    xt = cr.tensor(x.astype(np.float64), requires_grad=True)
    wt = cr.tensor(w.astype(np.float64), requires_grad=True)
    assert cr.gradcheck(lambda a, b: F.conv2d(a, b, None, s, p, d), (xt, wt))


def test_im2col_and_col2im_are_adjoint():
    rng = np.random.default_rng(3)
    params = _geometry(k=(3, 2), s=(2, 1), p=(1, 1), d=(1, 2))
    x = rng.normal(size=(2, 3, 7, 6))
    cols = nn_ops._im2col_forward(x, **params)
    c = rng.normal(size=cols.shape)
    back = nn_ops._col2im_forward(c, x.shape, **params)
    assert back.shape == x.shape
    assert np.sum(cols * c) == pytest.approx(np.sum(x * back), rel=1e-12)


def test_im2col_layout_is_rows_by_position_columns_by_kernel_then_channel():
    x = np.arange(2 * 2 * 3 * 3, dtype=np.float64).reshape(2, 2, 3, 3)
    cols = nn_ops._im2col_forward(x, **_geometry(k=(2, 2)))
    assert cols.shape == (2 * 2 * 2, 2 * 2 * 2)
    # row 0: image 0, output (0, 0); columns (kh, kw, c), channel fastest
    np.testing.assert_array_equal(
        cols[0],
        [
            x[0, 0, 0, 0],
            x[0, 1, 0, 0],
            x[0, 0, 0, 1],
            x[0, 1, 0, 1],
            x[0, 0, 1, 0],
            x[0, 1, 1, 0],
            x[0, 0, 1, 1],
            x[0, 1, 1, 1],
        ],
    )


def test_kernel_larger_than_input_is_a_clear_error():
    with pytest.raises(ValueError, match="conv2d.*does not fit"):
        F.conv2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="input has 2 channels but the weight expects 3"):
        F.conv2d(np.zeros((1, 2, 5, 5)), np.zeros((1, 3, 3, 3)))


# ------------------------------------------------------------------ max pooling
@pytest.mark.parametrize("k, s, p, d", [(2, 2, 0, 1), (3, 2, 1, 1), (2, 1, 0, 2), (3, 3, 1, 1)])
def test_max_pool_forward_and_gradient_match_loops(k, s, p, d):
    rng = np.random.default_rng(4)
    x = cr.tensor(rng.normal(size=(2, 3, 7, 6)), requires_grad=True)
    out = F.max_pool2d(x, k, s, p, d)
    ref, ref_grad = max_pool_loops(x.data, k, s, p, d)
    np.testing.assert_array_equal(out.data, ref)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, ref_grad)
    assert cr.gradcheck(lambda a: F.max_pool2d(a, k, s, p, d), (x,))


def test_max_pool_tie_sends_the_gradient_to_the_first_maximum():
    x = cr.tensor(np.zeros((1, 1, 2, 2)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data[0, 0], [[1, 0], [0, 0]])


def test_max_pool_second_derivative():
    rng = np.random.default_rng(5)
    x = cr.tensor(rng.normal(size=(1, 2, 4, 4)), requires_grad=True)
    (g1,) = cr.autograd.grad((F.max_pool2d(x, 2) ** 2).sum(), x, create_graph=True)
    (g2,) = cr.autograd.grad(g1.sum(), x)
    # d/dx of 2 * max at the max positions: 2 there, 0 elsewhere
    np.testing.assert_allclose(g2.data, 2.0 * (g1.data != 0))


def test_conv_second_derivative_through_create_graph():
    rng = np.random.default_rng(6)
    x = cr.tensor(rng.normal(size=(1, 2, 5, 5)), requires_grad=True)
    w = cr.tensor(rng.normal(size=(2, 2, 3, 3)), requires_grad=True)
    assert cr.gradgradcheck(lambda a, b: (F.conv2d(a, b, padding=1) ** 2).sum(), (x, w))


# ------------------------------------------------------------------ JVP rules
def _jvp(prim, i, t, *args, **params):
    return prim.jvps[i](t, None, *args, **params)


@pytest.mark.parametrize(
    "params",
    [_geometry(), _geometry(k=(2, 3), s=(2, 1), p=(1, 1), d=(1, 2))],
)
def test_im2col_col2im_jvp(params):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 2, 6, 5))
    u = rng.normal(size=x.shape)
    fd = jvp_by_differences(lambda a: nn_ops._im2col_forward(a, **params), [x], 0, u)
    np.testing.assert_allclose(_jvp(nn_ops.im2col, 0, u, x, **params), fd, atol=1e-8)
    cols = nn_ops._im2col_forward(x, **params)
    c, uc = rng.normal(size=cols.shape), rng.normal(size=cols.shape)
    fwd = lambda a: nn_ops._col2im_forward(a, x.shape, **params)
    fd = jvp_by_differences(fwd, [c], 0, uc)
    np.testing.assert_allclose(
        _jvp(nn_ops.col2im, 0, uc, c, shape=x.shape, **params), fd, atol=1e-8
    )


def test_max_pool_family_jvp():
    rng = np.random.default_rng(8)
    params = _geometry(k=(3, 3), s=(2, 2), p=(1, 1))
    x = rng.normal(size=(2, 2, 6, 5))
    u = rng.normal(size=x.shape)
    fd = jvp_by_differences(lambda a: nn_ops._max_pool_forward(a, **params), [x], 0, u)
    np.testing.assert_allclose(_jvp(nn_ops.max_pool2d, 0, u, x, **params), fd, atol=1e-8)
    y = rng.normal(size=x.shape)
    gather = lambda a: nn_ops._max_pool_gather_forward(a, x, **params)
    np.testing.assert_allclose(
        _jvp(nn_ops.max_pool2d_gather, 0, u, y, x, **params),
        jvp_by_differences(gather, [y], 0, u),
        atol=1e-8,
    )
    g = rng.normal(size=nn_ops._max_pool_forward(x, **params).shape)
    ug = rng.normal(size=g.shape)
    scatter = lambda a: nn_ops._max_pool_scatter_forward(a, x, **params)
    np.testing.assert_allclose(
        _jvp(nn_ops.max_pool2d_scatter, 0, ug, g, x, **params),
        jvp_by_differences(scatter, [g], 0, ug),
        atol=1e-8,
    )
    # the position (second) input carries no tangent: the functions are flat in it
    assert nn_ops.max_pool2d_gather.jvps[1](u, None, y, x, **params) is None


def test_linear_jvp_and_vjp():
    rng = np.random.default_rng(9)
    x, w, b = rng.normal(size=(4, 2, 3)), rng.normal(size=(5, 3)), rng.normal(size=5)
    for i, arg in enumerate((x, w, b)):
        u = rng.normal(size=arg.shape)
        fd = jvp_by_differences(nn_ops._linear_forward, [x, w, b], i, u)
        np.testing.assert_allclose(
            np.broadcast_to(_jvp(nn_ops.linear, i, u, x, w, b), fd.shape), fd, atol=1e-8
        )
    xt, wt, bt = (cr.tensor(a, requires_grad=True) for a in (x, w, b))
    assert cr.gradcheck(lambda a, ww, bb: F.linear(a, ww, bb), (xt, wt, bt))
    assert cr.gradcheck(lambda a, ww: F.linear(a, ww), (cr.tensor(x[0, 0], requires_grad=True), wt))


def test_softmax_cross_entropy_jvp_vjp_and_stability():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(4, 5))
    q = rng.uniform(size=(4, 5))
    for i, arg in enumerate((x, q)):
        u = rng.normal(size=arg.shape)
        fd = jvp_by_differences(nn_ops._softmax_cross_entropy_forward, [x, q], i, u)
        np.testing.assert_allclose(_jvp(nn_ops.softmax_cross_entropy, i, u, x, q), fd, atol=1e-8)
    xt, qt = cr.tensor(x, requires_grad=True), cr.tensor(q, requires_grad=True)
    assert cr.gradcheck(lambda a, b: nn_ops.softmax_cross_entropy(a, b), (xt, qt))
    assert cr.gradgradcheck(lambda a, b: nn_ops.softmax_cross_entropy(a, b).sum(), (xt, qt))
    # reduce=True: the sum over rows in the same node (what cross_entropy's mean uses)
    fwd = lambda a, b: nn_ops._softmax_cross_entropy_forward(a, b, reduce=True)
    for i, arg in enumerate((x, q)):
        u = rng.normal(size=arg.shape)
        got = nn_ops.softmax_cross_entropy.jvps[i](u, None, x, q, reduce=True)
        np.testing.assert_allclose(got, jvp_by_differences(fwd, [x, q], i, u), atol=1e-8)
    assert cr.gradcheck(lambda a, b: nn_ops.softmax_cross_entropy(a, b, reduce=True), (xt, qt))
    assert cr.gradgradcheck(lambda a, b: nn_ops.softmax_cross_entropy(a, b, reduce=True), (xt, qt))
    big = nn_ops._softmax_cross_entropy_forward(
        np.array([[1000.0, 0.0, -1000.0]]), np.array([[0.0, 1.0, 0.0]])
    )
    np.testing.assert_allclose(big, [1000.0])
    masked = nn_ops._softmax_cross_entropy_forward(
        np.array([[0.0, -np.inf]]), np.array([[1.0, 0.0]])
    )
    np.testing.assert_allclose(masked, [0.0])


def test_softmax_cross_entropy_masked_logit_in_the_summed_loss():
    # A -inf logit with zero target weight adds 0 (not nan) to the reduce=True sum too.
    masked = nn_ops._softmax_cross_entropy_forward(
        np.array([[0.0, -np.inf], [1.0, 2.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]), reduce=True
    )
    np.testing.assert_allclose(masked, math.log1p(math.exp(-1.0)))


def test_logsumexp_rows_of_infinities():
    # Rows whose maximum is infinite are not shifted by it (inf - inf would be nan).
    x = np.array([[-np.inf, -np.inf], [0.0, np.inf], [0.0, 0.0], [0.0, -np.inf]])
    with np.errstate(divide="ignore"):
        got = cr.logsumexp(x, axis=-1).data
    np.testing.assert_array_equal(got[:2], [-np.inf, np.inf])
    np.testing.assert_allclose(got[2:], [math.log(2.0), 0.0])


def _class_weights(target, weight=None, **kw):
    options = dict(
        dtype=np.dtype(np.float32),
        classes=5,
        ignore_index=-100,
        label_smoothing=0.0,
        mean=True,
        name="test",
    )
    options.update(kw)
    return nn_ops._class_weights_forward(target, weight, **options)


@pytest.mark.parametrize("mean", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (1,)])
def test_class_weights_one_hot_matches_the_general_way(mean, dtype, shape):
    # Plain targets take a short way; class weights of one take the general one.
    target = np.random.default_rng(3).integers(0, 5, shape)
    kw = dict(dtype=np.dtype(dtype), mean=mean)
    fast = _class_weights(target, **kw)
    general = _class_weights(target, np.ones(5, dtype), **kw)
    assert fast.dtype == general.dtype == dtype and fast.shape == (*shape, 5)
    np.testing.assert_array_equal(fast, general)
    np.testing.assert_array_equal(fast.sum(-1), 1 / np.asarray(target.size, dtype) if mean else 1)


def test_class_weights_ignored_and_out_of_range_targets():
    # ignore_index inside the targets' range is not mistaken for a plain target.
    q = _class_weights(np.array([0, 2, 2, 4]), ignore_index=2)
    np.testing.assert_array_equal(q.sum(-1), [0.5, 0, 0, 0.5])
    # An ignore_index in the class range but absent from the targets changes nothing.
    np.testing.assert_array_equal(
        _class_weights(np.array([0, 1]), ignore_index=3), _class_weights(np.array([0, 1]))
    )
    for bad in ([0, 5], [-1, 0], [-100, 7]):
        with pytest.raises(IndexError, match="out of range for 5 classes"):
            _class_weights(np.array(bad))
    assert _class_weights(np.zeros(0, np.int64)).shape == (0, 5)


def test_erf_matches_math_erf_and_its_rules():
    xs = np.linspace(-7, 7, 2001)
    np.testing.assert_allclose(nn_ops._erf_forward(xs), [math.erf(v) for v in xs], atol=2e-15)
    assert nn_ops._erf_forward(np.float32([0.5])).dtype == np.float32
    x = np.array([-2.7, -0.3, 0.0, 1.1, 3.2])
    u = np.random.default_rng(11).normal(size=x.shape)
    fd = jvp_by_differences(nn_ops._erf_forward, [x], 0, u)
    np.testing.assert_allclose(_jvp(nn_ops.erf, 0, u, x), fd, atol=1e-8)
    assert cr.gradgradcheck(lambda a: nn_ops.erf(a).sum(), (cr.tensor(x, requires_grad=True),))


def test_softplus_is_stable_and_its_rules_hold():
    x = np.array([-800.0, -3.0, 0.0, 2.5, 800.0])
    np.testing.assert_allclose(
        nn_ops.softplus(x).data,
        [0.0, math.log1p(math.exp(-3)), math.log(2), 2.5 + math.log1p(math.exp(-2.5)), 800.0],
    )
    u = np.random.default_rng(12).normal(size=x.shape)
    fd = jvp_by_differences(lambda a: np.logaddexp(0, a), [x], 0, u)
    np.testing.assert_allclose(_jvp(nn_ops.softplus, 0, u, x), fd, atol=1e-8)
    assert cr.gradcheck(lambda a: nn_ops.softplus(a), (cr.tensor(x[1:4], requires_grad=True),))


def test_every_nn_primitive_has_vjp_jvp_and_formula():
    names = ["im2col", "col2im", "max_pool2d", "max_pool2d_scatter", "max_pool2d_gather",
             "linear", "softmax_cross_entropy", "erf", "softplus"]  # fmt: skip
    for name in names:
        prim = cr.PRIMITIVES[name]
        assert prim.vjps is not None and prim.jvps is not None and prim.formulas, name


def test_unfold_has_pytorchs_layout():
    rng = np.random.default_rng(13)
    x = rng.normal(size=(2, 3, 5, 4))
    k, s, p, d = (2, 3), (2, 1), (1, 0), (1, 1)
    out = F.unfold(x, k, dilation=d, padding=p, stride=s)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    oh, ow = (5 + 2 - 1 - 1) // 2 + 1, (4 - 2 - 1) // 1 + 1
    assert out.shape == (2, 3 * 2 * 3, oh * ow)
    for n in range(2):
        for c in range(3):
            for i in range(2):
                for j in range(3):
                    for y in range(oh):
                        for z in range(ow):
                            got = out.data[n, c * 6 + i * 3 + j, y * ow + z]
                            assert got == xp[n, c, y * 2 + i, z + j]
    xt = cr.tensor(x, requires_grad=True)
    assert cr.gradcheck(lambda a: F.unfold(a, 2, padding=1, stride=2), (xt,))
