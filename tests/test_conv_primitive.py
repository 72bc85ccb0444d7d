"""The convolution primitives (chainrule/ops/conv.py): conv2d, conv2d_input_grad and
conv2d_weight_grad, each against its definition written as loops, over random shapes,
strides, padding, dilation and groups; their rules against finite differences to
second order (gradcheck, gradgradcheck, JVP by central differences); the vmap column
against a loop over examples; cr.jit against eager. Also the 2x2 max-pool gradient,
which reads whole image rows, against the per-offset way."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_nn_ops import conv2d_loops, jvp_by_differences

import chainrule as cr
from chainrule.ops import conv, nn_ops

FEW = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _params(s, p, d, groups):
    return {"stride": s, "padding": p, "dilation": d, "groups": groups}


def _loops_input_grad(g, w, x_shape, s, p, d, groups):
    """d sum(g * conv(x, w)) / dx by the definition: the convolution is linear in x,
    so each entry is conv2d_loops of a one-hot image, dotted with g."""
    out = np.zeros(x_shape)
    for idx in np.ndindex(*x_shape):
        e = np.zeros(x_shape)
        e[idx] = 1.0
        out[idx] = np.sum(g * conv2d_loops(e, w, None, s, p, d, groups))
    return out


def _loops_weight_grad(g, x, w_shape, s, p, d, groups):
    out = np.zeros(w_shape)
    for idx in np.ndindex(*w_shape):
        e = np.zeros(w_shape)
        e[idx] = 1.0
        out[idx] = np.sum(g * conv2d_loops(x, e, None, s, p, d, groups))
    return out


geometry = st.fixed_dictionaries(
    {
        "n": st.integers(1, 3),
        "cg": st.integers(1, 2),
        "og": st.integers(1, 2),
        "groups": st.integers(1, 3),
        "hw": st.tuples(st.integers(1, 6), st.integers(1, 6)),
        "k": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "s": st.tuples(st.integers(1, 3), st.integers(1, 2)),
        "p": st.tuples(st.integers(0, 2), st.integers(0, 2)),
        "d": st.tuples(st.integers(1, 2), st.integers(1, 2)),
        "seed": st.integers(0, 2**31 - 1),
    }
)


def _case(geo, dtype=np.float64):
    """x, w, b, g and the parameters of one random convolution (None: does not fit)."""
    (h, w), (kh, kw), p, d = geo["hw"], geo["k"], geo["p"], geo["d"]
    if h + 2 * p[0] < d[0] * (kh - 1) + 1 or w + 2 * p[1] < d[1] * (kw - 1) + 1:
        return None
    groups = geo["groups"]
    rng = np.random.default_rng(geo["seed"])
    x = rng.normal(size=(geo["n"], geo["cg"] * groups, h, w)).astype(dtype)
    wt = rng.normal(size=(geo["og"] * groups, geo["cg"], kh, kw)).astype(dtype)
    b = rng.normal(size=wt.shape[0]).astype(dtype)
    params = _params(geo["s"], p, d, groups)
    y = conv2d_loops(x, wt, b, geo["s"], p, d, groups)
    g = rng.normal(size=y.shape).astype(dtype)
    return x, wt, b, g, y, params


# ------------------------------------------------------------------ values
@FEW
@given(geo=geometry, dtype=st.sampled_from([np.float32, np.float64]))
def test_three_primitives_match_their_definitions(geo, dtype):
    case = _case(geo, dtype)
    if case is None:
        return
    x, w, b, g, y, params = case
    s, p, d, groups = (params[k] for k in ("stride", "padding", "dilation", "groups"))
    tol = 1e-4 if dtype == np.float32 else 1e-11
    out = conv.conv2d(x, w, b, **params)
    assert out.dtype == dtype  # no float64 detour for float32 inputs
    np.testing.assert_allclose(out.data, y, atol=tol, rtol=tol)
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
    gx = conv.conv2d_input_grad(g, w, shape=x.shape, **params)
    gw = conv.conv2d_weight_grad(g, x, shape=w.shape, **params)
    assert gx.dtype == gw.dtype == dtype
    ref_x = _loops_input_grad(g64, w64, x.shape, s, p, d, groups)
    ref_w = _loops_weight_grad(g64, x64, w.shape, s, p, d, groups)
    np.testing.assert_allclose(gx.data, ref_x, atol=tol * 10, rtol=tol)
    np.testing.assert_allclose(gw.data, ref_w, atol=tol * 10, rtol=tol)


def test_large_chunks_and_many_images_agree_with_one_image_at_a_time(monkeypatch):
    """Chunking (several images per GEMM, the last chunk short) changes nothing."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(7, 4, 9, 8))
    w = rng.normal(size=(6, 2, 3, 3))
    g = rng.normal(size=(7, 6, 9, 8))
    params = _params((1, 1), (1, 1), (1, 1), 2)
    monkeypatch.setattr(conv, "CHUNK_BYTES", 1)  # one image per chunk
    one = [
        conv._conv2d_forward(x, w, None, **params),
        conv._input_grad_forward(g, w, shape=x.shape, **params),
        conv._weight_grad_forward(g, x, shape=w.shape, **params),
    ]
    monkeypatch.setattr(conv, "CHUNK_BYTES", 3 * 4 * 9 * 8 * 9 * 8)  # three images
    three = [
        conv._conv2d_forward(x, w, None, **params),
        conv._input_grad_forward(g, w, shape=x.shape, **params),
        conv._weight_grad_forward(g, x, shape=w.shape, **params),
    ]
    for a, b in zip(one, three):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ derivatives
@FEW
@given(geo=geometry)
def test_gradients_to_second_order(geo):
    case = _case(geo)
    if case is None:
        return
    x, w, b, g, _, params = case
    xt, wt, bt, gt = (cr.tensor(a, requires_grad=True) for a in (x, w, b, g))
    assert cr.gradcheck(lambda a, ww, bb: conv.conv2d(a, ww, bb, **params), (xt, wt, bt))
    assert cr.gradgradcheck(lambda a, ww: (conv.conv2d(a, ww, None, **params) ** 2).sum(), (xt, wt))
    # the gradients are primitives with rules of their own, checked the same way
    xs, ws = x.shape, w.shape
    assert cr.gradcheck(lambda gg, ww: conv.conv2d_input_grad(gg, ww, shape=xs, **params), (gt, wt))
    assert cr.gradcheck(lambda gg, a: conv.conv2d_weight_grad(gg, a, shape=ws, **params), (gt, xt))
    assert cr.gradgradcheck(
        lambda gg, ww: (conv.conv2d_input_grad(gg, ww, shape=xs, **params) ** 2).sum(), (gt, wt)
    )
    assert cr.gradgradcheck(
        lambda gg, a: (conv.conv2d_weight_grad(gg, a, shape=ws, **params) ** 2).sum(), (gt, xt)
    )


@FEW
@given(geo=geometry)
def test_jvp_rules_match_central_differences(geo):
    case = _case(geo)
    if case is None:
        return
    x, w, b, g, _, params = case
    rng = np.random.default_rng(geo["seed"] + 1)
    fns = [
        (lambda a, ww, bb: conv.conv2d(a, ww, bb, **params), (x, w, b)),
        (lambda gg, ww: conv.conv2d_input_grad(gg, ww, shape=x.shape, **params), (g, w)),
        (lambda gg, a: conv.conv2d_weight_grad(gg, a, shape=w.shape, **params), (g, x)),
    ]
    for fn, args in fns:
        for i in range(len(args)):
            tangent = rng.normal(size=args[i].shape)
            tangents = tuple(tangent if j == i else np.zeros_like(a) for j, a in enumerate(args))
            _, got = cr.jvp(fn, args, tangents)
            want = jvp_by_differences(lambda *a, f=fn: f(*a).data, args, i, tangent)
            np.testing.assert_allclose(got.data, want, rtol=1e-6, atol=1e-6)


def test_gradients_of_a_layer_reach_every_input():
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.normal(size=(2, 3, 6, 5)), requires_grad=True)
    layer = cr.nn.Conv2d(3, 4, 3, padding=1).double()
    layer(x).sum().backward()
    assert x.grad.shape == x.shape and layer.weight.grad.shape == layer.weight.shape
    np.testing.assert_allclose(layer.bias.grad.data, np.full(4, 2 * 6 * 5))


# ------------------------------------------------------------------ vmap, jit
FLAGS = [(True, False, False), (True, True, True), (False, True, False), (False, False, True)]


@pytest.mark.parametrize("flags", FLAGS)
def test_vmap_of_conv2d_matches_a_loop(flags):
    rng = np.random.default_rng(1)
    size = 3
    params = _params((2, 1), (1, 0), (1, 2), 2)
    x = rng.normal(size=(size, 2, 4, 7, 6))
    w = rng.normal(size=(size, 6, 2, 3, 2))
    b = rng.normal(size=(size, 6))
    args = [a if f else a[0] for a, f in zip((x, w, b), flags)]
    axes = tuple(0 if f else None for f in flags)
    fn = lambda a, ww, bb: conv.conv2d(a, ww, bb, **params)  # noqa: E731
    got = cr.vmap(fn, in_axes=axes)(*args)
    want = [fn(*[a[i] if f else a for a, f in zip(args, flags)]).data for i in range(size)]
    np.testing.assert_allclose(got.data, np.stack(want), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("flags", [(True, False), (True, True), (False, True)])
def test_vmap_of_the_gradient_primitives_matches_a_loop(flags):
    rng = np.random.default_rng(2)
    size = 3
    params = _params((1, 2), (1, 1), (2, 1), 2)
    x = rng.normal(size=(size, 2, 4, 7, 6))
    w = rng.normal(size=(size, 6, 2, 3, 2))
    y = conv.conv2d(x[0], w[0], None, **params)
    g = rng.normal(size=(size, *y.shape))
    cases = [
        (lambda gg, ww: conv.conv2d_input_grad(gg, ww, shape=x.shape[1:], **params), (g, w)),
        (lambda gg, a: conv.conv2d_weight_grad(gg, a, shape=w.shape[1:], **params), (g, x)),
    ]
    for fn, full in cases:
        args = [a if f else a[0] for a, f in zip(full, flags)]
        axes = tuple(0 if f else None for f in flags)
        got = cr.vmap(fn, in_axes=axes)(*args)
        want = [fn(*[a[i] if f else a for a, f in zip(args, flags)]).data for i in range(size)]
        np.testing.assert_allclose(got.data, np.stack(want), rtol=1e-12, atol=1e-12)


def test_per_example_gradients_of_a_convolution_without_a_loop():
    """vmap(grad) over examples: the weight gradient's rule (one group per example)."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 1, 2, 6, 6))
    w = rng.normal(size=(3, 2, 3, 3))

    def loss(ww, xb):
        return (cr.tanh(conv.conv2d(xb, ww, None, **_params((1, 1), (1, 1), (1, 1), 1)))).sum()

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # vmap warns when it loops
        got = cr.vmap(cr.grad(loss), in_axes=(None, 0))(w, x)
    want = np.stack([cr.grad(loss)(w, x[i]).data for i in range(5)])
    np.testing.assert_allclose(got.data, want, rtol=1e-10, atol=1e-12)


def test_jit_of_a_convolution_step_matches_eager():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 2, 8, 8)).astype(np.float32)
    w = rng.normal(size=(3, 2, 3, 3)).astype(np.float32)
    b = rng.normal(size=3).astype(np.float32)
    F = cr.nn.functional

    def loss(ww, bb, xb):
        return F.max_pool2d(F.relu(F.conv2d(xb, ww, bb, padding=1)), 2).sum()

    eager = cr.value_and_grad(loss, argnums=(0, 1))
    jitted = cr.jit(eager)
    for _ in range(3):  # traced, then compiled
        (v1, g1), (v2, g2) = eager(w, b, x), jitted(w, b, x)
    assert float(v1) == pytest.approx(float(v2), rel=1e-6)
    for a, c in zip(g1, g2):
        np.testing.assert_allclose(
            np.asarray(getattr(a, "data", a)), np.asarray(getattr(c, "data", c)), rtol=1e-5
        )


# ------------------------------------------------------------------ errors
def test_a_gradient_of_the_wrong_shape_is_one_clear_error():
    with pytest.raises(ValueError, match="conv2d_input_grad.*output gradient has shape"):
        conv.conv2d_input_grad(
            np.zeros((1, 2, 3, 3)), np.zeros((2, 1, 3, 3)), shape=(1, 1, 6, 6),
            **_params((1, 1), (0, 0), (1, 1), 1),
        )  # fmt: skip
    with pytest.raises(ValueError, match="conv2d.*groups=2"):
        conv.conv2d(
            np.zeros((1, 3, 5, 5)),
            np.zeros((2, 1, 3, 3)),
            None,
            **_params((1, 1), (0, 0), (1, 1), 2),
        )


# ------------------------------------------------------------------ 2x2 max-pool gradient
@FEW
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    oh=st.integers(1, 5),
    ow=st.integers(1, 5),
    x_dtype=st.sampled_from([np.float16, np.float32, np.float64]),
    g_dtype=st.sampled_from([np.float32, np.float64]),
    channel_last=st.booleans(),
    chunk=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1),
)
def test_two_by_two_pool_gradient_matches_the_per_offset_way(
    n, c, oh, ow, x_dtype, g_dtype, channel_last, chunk, seed
):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, (n, c, 2 * oh, 2 * ow)).astype(x_dtype)  # many ties
    if channel_last:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    p = {"kernel_size": (2, 2), "stride": (2, 2), "padding": (0, 0), "dilation": (1, 1)}
    m = nn_ops._max_pool_forward(x, **p)
    g = rng.normal(size=m.shape).astype(g_dtype)
    got = nn_ops._max_pool_scatter_2x2(g, x, m, images=chunk)
    # the general way: offsets in row-major order, each taking what the earlier left
    want = np.zeros(x.shape, dtype=g_dtype)
    taken = np.zeros(m.shape, dtype=bool)
    for i in range(2):
        for j in range(2):
            hit = (x[:, :, i::2, j::2] == m) & ~taken
            want[:, :, i::2, j::2] = np.where(hit, g, 0)
            taken |= hit
    np.testing.assert_array_equal(got, want)
    assert got.dtype == g_dtype


@pytest.mark.parametrize("kernel", [(2, 1), (3, 2), (2, 3), (3, 3)])
def test_tiled_max_pool_on_nchw_matches_the_layout_keeping_way(kernel):
    """Chunked row-then-column maxima of a C-ordered image (a convolution's output)
    against the same on a channel-last copy (the path that keeps the layout)."""
    rng = np.random.default_rng(6)
    x = rng.integers(0, 4, (11, 3, 3 * kernel[0] + 1, 2 * kernel[1])).astype(np.float32)
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    p = {"kernel_size": kernel, "stride": kernel, "padding": (0, 0), "dilation": (1, 1)}
    np.testing.assert_array_equal(
        nn_ops._max_pool_forward(x, **p), nn_ops._max_pool_forward(nhwc, **p)
    )
