"""conv1d, conv_transpose2d, group_norm, interpolate, pad and adaptive_avg_pool2d:
reverse and forward derivatives against finite differences in float64 (gradcheck,
second order, JVP), over random shapes (hypothesis); dtypes kept; clear errors.
Values against PyTorch are in test_torch_oracle.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F

SETTINGS = settings(
    max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def leaf(rng, shape):
    return cr.tensor(rng.normal(size=shape), requires_grad=True)


def jvp_matches_differences(fn, args, eps=1e-6, tol=1e-6):
    """cr.jvp of fn along random tangents against central differences."""
    rng = np.random.default_rng(0)
    arrays = [np.asarray(a.data) for a in args]
    tangents = [rng.normal(size=a.shape) for a in arrays]
    _, tangent_out = cr.jvp(fn, tuple(arrays), tuple(tangents))
    plus = fn(*[a + eps * t for a, t in zip(arrays, tangents)])
    minus = fn(*[a - eps * t for a, t in zip(arrays, tangents)])
    fd = (np.asarray(plus.data) - np.asarray(minus.data)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(tangent_out), fd, atol=tol, rtol=tol)


# ------------------------------------------------------------------ conv1d
@SETTINGS
@given(
    n=st.integers(1, 2),
    groups=st.integers(1, 2),
    k=st.integers(1, 3),
    s=st.integers(1, 2),
    p=st.integers(0, 2),
    d=st.integers(1, 2),
    extra=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_conv1d_gradcheck_random(n, groups, k, s, p, d, extra, seed):
    rng = np.random.default_rng(seed)
    x = leaf(rng, (n, 2 * groups, d * (k - 1) + 1 + extra))
    w = leaf(rng, (groups * 2, 2, k))
    b = leaf(rng, (groups * 2,))
    fn = lambda a, ww, bb: F.conv1d(a, ww, bb, s, p, d, groups)  # noqa: E731
    assert cr.gradcheck(fn, (x, w, b))
    jvp_matches_differences(fn, (x, w, b))


def test_conv1d_second_order_and_float32():
    rng = np.random.default_rng(1)
    x, w = leaf(rng, (2, 3, 7)), leaf(rng, (4, 3, 3))
    assert cr.gradgradcheck(lambda a, ww: (F.conv1d(a, ww, padding=1) ** 2).sum(), (x, w))
    y = cr.nn.Conv1d(3, 4, 3)(np.zeros((2, 3, 7), np.float32))
    assert y.dtype == np.float32 and y.shape == (2, 4, 5)


# ------------------------------------------------------------------ conv_transpose2d
@SETTINGS
@given(
    n=st.integers(1, 2),
    groups=st.integers(1, 2),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    s=st.tuples(st.integers(1, 3), st.integers(1, 2)),
    d=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    p=st.tuples(st.integers(0, 1), st.integers(0, 1)),
    op_seed=st.integers(0, 10),
    seed=st.integers(0, 2**16),
)
def test_conv_transpose2d_gradcheck_random(n, groups, k, s, d, p, op_seed, seed):
    op = tuple(op_seed % max(si, di) for si, di in zip(s, d))
    full = [(n_in - 1) * si + di * (ki - 1) + 1 for n_in, si, di, ki in zip((3, 2), s, d, k)]
    if any(f - 2 * pi + o <= 0 for f, pi, o in zip(full, p, op)):
        p = (0, 0)
    rng = np.random.default_rng(seed)
    x = leaf(rng, (n, 2 * groups, 3, 2))
    w = leaf(rng, (2 * groups, 2, *k))
    b = leaf(rng, (2 * groups,))
    fn = lambda a, ww, bb: F.conv_transpose2d(a, ww, bb, s, p, op, groups, d)  # noqa: E731
    assert cr.gradcheck(fn, (x, w, b))
    jvp_matches_differences(fn, (x, w, b))


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    # <conv2d(x, w), g> = <x, conv_transpose2d(g, w)> for the same stride, padding and
    # dilation, with the output_padding that gives back x's size (where stride leaves
    # rows over, as PyTorch's ConvTranspose2d(output_size=...) would choose)
    rng = np.random.default_rng(2)
    x, w = rng.normal(size=(2, 3, 9, 8)), rng.normal(size=(4, 3, 3, 2))
    for s, p, d in [(1, 0, 1), (2, 1, 1), (3, 2, 2)]:
        y = F.conv2d(x, w, stride=s, padding=p, dilation=d).numpy()
        g = rng.normal(size=y.shape)
        short = F.conv_transpose2d(g, w, stride=s, padding=p, dilation=d).shape
        op = (x.shape[2] - short[2], x.shape[3] - short[3])
        back = F.conv_transpose2d(g, w, stride=s, padding=p, output_padding=op, dilation=d)
        assert back.shape == x.shape
        np.testing.assert_allclose(np.sum(y * g), np.sum(x * back.numpy()), rtol=1e-10)


def test_conv_transpose2d_second_order_and_jit():
    rng = np.random.default_rng(3)
    x, w = leaf(rng, (1, 2, 3, 3)), leaf(rng, (2, 3, 2, 2))
    fn = lambda a, ww: (F.conv_transpose2d(a, ww, stride=2, padding=1) ** 2).sum()  # noqa: E731
    assert cr.gradgradcheck(fn, (x, w))
    grad = cr.jit(cr.grad(fn, argnums=(0, 1)))
    for _ in range(3):
        got = grad(x.data, w.data)
    want = cr.grad(fn, argnums=(0, 1))(x.data, w.data)
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)


def test_conv_transpose2d_errors_name_the_problem():
    x, w = np.zeros((1, 2, 3, 3)), np.zeros((2, 1, 3, 3))
    with pytest.raises(ValueError, match="output_padding .* smaller than either stride"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="the input has 2 channels but the weight's first axis"):
        F.conv_transpose2d(x, np.zeros((3, 1, 3, 3)))
    with pytest.raises(ValueError, match="output would be"):
        F.conv_transpose2d(np.zeros((1, 2, 1, 1)), w, padding=2)
    with pytest.raises(NotImplementedError, match="padding_mode"):
        cr.nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")


# ------------------------------------------------------------------ group_norm
@SETTINGS
@given(
    n=st.integers(1, 3),
    groups=st.integers(1, 3),
    per_group=st.integers(1, 3),
    spatial=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    seed=st.integers(0, 2**16),
)
def test_group_norm_gradcheck_random(n, groups, per_group, spatial, seed):
    rng = np.random.default_rng(seed)
    c = groups * per_group
    if per_group * int(np.prod(spatial)) == 1:
        spatial = [*spatial[:-1], spatial[-1] + 1]  # a group of one value has no variance
    x, w, b = leaf(rng, (n, c, *spatial)), leaf(rng, (c,)), leaf(rng, (c,))
    fn = lambda a, ww, bb: F.group_norm(a, groups, ww, bb)  # noqa: E731
    assert cr.gradcheck(fn, (x, w, b), atol=1e-5)
    jvp_matches_differences(fn, (x, w, b), tol=1e-5)


def test_group_norm_normalises_each_group_and_keeps_float32():
    rng = np.random.default_rng(4)
    x = rng.normal(loc=3.0, scale=2.0, size=(2, 6, 5)).astype(np.float32)
    y = cr.nn.GroupNorm(3, 6)(x)
    assert y.dtype == np.float32
    groups = y.numpy().reshape(2, 3, -1)
    np.testing.assert_allclose(groups.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(groups.var(-1), 1, atol=1e-3)
    with pytest.raises(ValueError, match="divisible by num_groups"):
        cr.nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"expected an input of shape \(N, 6"):
        cr.nn.GroupNorm(3, 6)(np.zeros((2, 4, 5)))


# ------------------------------------------------------------------ interpolate
INTERPOLATE_AXES = {
    "nearest": 2,
    "nearest-exact": 2,
    "area": 2,
    "linear": 1,
    "bilinear": 2,
    "bicubic": 2,
    "trilinear": 3,
}


@SETTINGS
@given(
    mode=st.sampled_from(list(INTERPOLATE_AXES)),
    align=st.booleans(),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3)),
    out=st.tuples(st.integers(1, 7), st.integers(1, 7), st.integers(1, 4)),
    seed=st.integers(0, 2**16),
)
def test_interpolate_gradcheck_random(mode, align, shape, out, seed):
    rng = np.random.default_rng(seed)
    dims = INTERPOLATE_AXES[mode]
    x = leaf(rng, (2, 2, *shape[:dims]))
    kw = {} if mode in ("nearest", "nearest-exact", "area") else {"align_corners": align}
    fn = lambda a: F.interpolate(a, size=out[:dims], mode=mode, **kw)  # noqa: E731
    assert cr.gradcheck(fn, (x,))
    jvp_matches_differences(fn, (x,))


def test_interpolate_second_order_dtype_and_errors():
    rng = np.random.default_rng(5)
    x = leaf(rng, (1, 2, 3, 4))
    fn = lambda a: (F.interpolate(a, scale_factor=1.5, mode="bilinear") ** 2).sum()  # noqa: E731
    assert cr.gradgradcheck(fn, (x,))
    y = F.interpolate(np.ones((1, 1, 2, 2), np.float32), scale_factor=2, mode="bilinear")
    assert y.dtype == np.float32 and y.shape == (1, 1, 4, 4)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners can only be set"):
        F.interpolate(x, size=3, align_corners=True)
    with pytest.raises(NotImplementedError, match="'lanczos' is not supported"):
        F.interpolate(x, size=3, mode="lanczos")
    fn = lambda a: (F.interpolate(a, scale_factor=1.5, mode="bicubic") ** 2).sum()  # noqa: E731
    assert cr.gradgradcheck(fn, (x,))
    with pytest.raises(ValueError, match="bilinear expects a 4-D"):
        F.interpolate(np.zeros((1, 2, 3)), size=3, mode="bilinear")


# ------------------------------------------------------------------ pad
@SETTINGS
@given(
    mode=st.sampled_from(["constant", "reflect", "replicate", "circular"]),
    pads=st.lists(st.integers(-1, 2), min_size=2, max_size=4).filter(lambda v: len(v) % 2 == 0),
    seed=st.integers(0, 2**16),
)
def test_pad_gradcheck_random(mode, pads, seed):
    rng = np.random.default_rng(seed)
    x = leaf(rng, (2, 3, 4))
    fn = lambda a: F.pad(a, tuple(pads), mode=mode)  # noqa: E731
    assert cr.gradcheck(fn, (x,))
    jvp_matches_differences(fn, (x,))


# ------------------------------------------------------------------ adaptive pooling
@SETTINGS
@given(
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    oh=st.integers(1, 7),
    ow=st.integers(1, 7),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_adaptive_avg_pool2d_any_size(h, w, oh, ow, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 2, h, w)).astype(dtype)
    y = F.adaptive_avg_pool2d(x, (oh, ow))
    assert y.dtype == dtype and y.shape == (2, 2, oh, ow)
    # float32 means of a few N(0, 1) values may cancel to near 0: an absolute bound
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-14}
    # each output cell is the mean of PyTorch's window, computed here by loops
    for i in range(oh):
        for j in range(ow):
            r0, r1 = i * h // oh, -(-(i + 1) * h // oh)
            c0, c1 = j * w // ow, -(-(j + 1) * w // ow)
            np.testing.assert_allclose(
                y.numpy()[:, :, i, j], x[:, :, r0:r1, c0:c1].mean(axis=(2, 3)), **tol
            )
    xt = leaf(rng, (1, 2, h, w))
    fn = lambda a: F.adaptive_avg_pool2d(a, (oh, ow))  # noqa: E731
    assert cr.gradcheck(fn, (xt,))
    jvp_matches_differences(fn, (xt,))
