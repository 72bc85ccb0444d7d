"""The compiled float32 kernels of the convolution (im2col, col2im) and of the 2x2
max pool (chainrule.ops._numba_conv, _numba_pool): against NumPy's path over random
shapes and paddings (values and every gradient), ties, NaNs and infinities, that
the primitives really call them, and what takes NumPy's path instead (other
dtypes, strides, dilations, groups, layouts, shapes, small images)."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import KernelSpy, float32_normal, values_and_grads
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops import compiled
from chainrule.ops.conv import conv2d_input_grad
from chainrule.ops.nn_ops import max_pool2d_scatter

pytest.importorskip("numba")
from chainrule.ops import _numba_kernels as kernels  # noqa: E402

F = cr.nn.functional


# every image of these tests through the kernels, however small
pytestmark = pytest.mark.usefixtures("numba_kernels_at_any_size")


def _conv_and_grads(x, w, b, seed_grad, numba: bool, **kw):
    return values_and_grads(lambda *ts: F.conv2d(*ts, **kw), (x, w, b), seed_grad, numba)


# ------------------------------------------------------------------ convolution
@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 4),
    o=st.integers(1, 5),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    kh=st.integers(1, 5),
    kw=st.integers(1, 5),
    ph=st.integers(0, 3),
    pw=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_compiled_convolution_agrees_with_numpys_path(n, c, o, h, w, kh, kw, ph, pw, seed):
    """Paddings up to 3 with kernels up to 5 wide on images down to 1 pixel: windows
    that lie partly or wholly in the padding, on both sides."""
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return  # no output
    rng = np.random.default_rng(seed)
    x, wt, b = (
        float32_normal(rng, n, c, h, w),
        float32_normal(rng, o, c, kh, kw),
        float32_normal(rng, o),
    )
    oh, ow = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1
    seed_grad = float32_normal(rng, n, o, oh, ow)
    fast = _conv_and_grads(x, wt, b, seed_grad, True, padding=(ph, pw))
    slow = _conv_and_grads(x, wt, b, seed_grad, False, padding=(ph, pw))
    for a, s in zip(fast, slow):
        assert a.dtype == np.float32 and a.shape == s.shape
        np.testing.assert_allclose(a, s, rtol=0, atol=2e-5 * max(1.0, float(np.abs(s).max())))


def test_convolution_against_float64_and_torch():
    """B5's second layer (a (16, 16, 14, 14) image, 3x3, padding 1) through the
    kernels: float64's values within float32's rounding, and torch's."""
    rng = np.random.default_rng(1)
    x, w, b = (
        float32_normal(rng, 16, 16, 14, 14),
        float32_normal(rng, 32, 16, 3, 3),
        float32_normal(rng, 32),
    )
    seed_grad = float32_normal(rng, 16, 32, 14, 14)
    got = _conv_and_grads(x, w, b, seed_grad, True, padding=1)
    exact = _conv_and_grads(*(a.astype(np.float64) for a in (x, w, b, seed_grad)), False, padding=1)
    for a, e in zip(got, exact):
        np.testing.assert_allclose(a, e, rtol=0, atol=1e-5 * float(np.abs(e).max()))
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = torch.nn.functional.conv2d(*ts, padding=1)
    (y * torch.tensor(seed_grad)).sum().backward()
    for a, t in zip(got, [y.detach()] + [t.grad for t in ts]):
        np.testing.assert_allclose(a, t.numpy(), rtol=0, atol=1e-5 * float(t.abs().max()))


def test_convolution_calls_its_kernels_and_they_matter(monkeypatch):
    rng = np.random.default_rng(2)
    x = cr.tensor(float32_normal(rng, 2, 3, 6, 6), requires_grad=True)
    w = cr.tensor(float32_normal(rng, 4, 3, 3, 3), requires_grad=True)
    spy = KernelSpy(kernels)
    monkeypatch.setattr(compiled, "_kernels", spy)
    F.conv2d(x, w, padding=1).sum().backward()
    assert spy.calls == {"im2col": 2, "col2im": 1}  # forward, weight gradient; input gradient

    class Broken:  # a mutation check: loops that write zeros must change the results
        @staticmethod
        def im2col(x, start, stop, kh, kw, ph, pw, oh, ow, cols):
            cols[...] = 0

        @staticmethod
        def col2im(d, kh, kw, ph, pw, oh, ow, dx):
            dx[...] = 0

    monkeypatch.setattr(compiled, "_kernels", Broken)
    y = F.conv2d(x.detach(), w.detach(), padding=1).data
    assert not y.any()
    assert not conv2d_input_grad(
        np.ones((2, 4, 6, 6), np.float32), w.data, shape=(2, 3, 6, 6),
        stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1,
    ).data.any()  # fmt: skip


@pytest.mark.parametrize(
    "case",
    ["float64", "stride 2", "dilation 2", "groups 2", "small image"],
)
def test_what_takes_numpys_path(case, monkeypatch):
    """Each of these keeps NumPy's copies, with the same numbers as before."""
    rng = np.random.default_rng(3)
    x, w = float32_normal(rng, 2, 4, 7, 7), float32_normal(rng, 4, 4, 3, 3)
    kw = {"padding": 1}
    if case == "float64":
        x, w = x.astype(np.float64), w.astype(np.float64)
    elif case == "stride 2":
        kw["stride"] = 2
    elif case == "dilation 2":
        kw["dilation"] = 2
    elif case == "groups 2":
        w, kw["groups"] = w[:, :2].copy(), 2
    else:
        monkeypatch.setattr(compiled, "MIN_SIZE", 1 << 14)
    spy = KernelSpy(kernels)
    monkeypatch.setattr(compiled, "_kernels", spy)
    ts = [cr.tensor(a, requires_grad=True) for a in (x, w)]
    y = F.conv2d(*ts, **kw)
    y.sum().backward()
    assert spy.calls == {}
    compiled.use_numba(False)
    us = [cr.tensor(a, requires_grad=True) for a in (x, w)]
    z = F.conv2d(*us, **kw)
    z.sum().backward()
    for a, b in zip([y, *ts], [z, *us]):
        got = a.data if a is y else a.grad.data
        want = b.data if b is z else b.grad.data
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ max pooling
def _pool_and_grad(x, seed_grad, numba: bool):
    return values_and_grads(lambda t: F.max_pool2d(t, 2), (x,), seed_grad, numba)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 4),
    h=st.integers(2, 11),
    w=st.integers(2, 11),
    levels=st.sampled_from([3, 1000]),
    seed=st.integers(0, 2**16),
)
def test_compiled_pool_is_numpys_path_bit_for_bit(n, c, h, w, levels, seed):
    """Odd sizes (the last row or column outside every window) and, with 3 levels,
    windows full of ties: the same maxima and the gradient at the same element (the
    first maximum in row-major order), bit for bit."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, levels, (n, c, h, w)).astype(np.float32)
    seed_grad = float32_normal(rng, n, c, h // 2, w // 2)
    fast = _pool_and_grad(x, seed_grad, True)
    slow = _pool_and_grad(x, seed_grad, False)
    for a, s in zip(fast, slow):
        np.testing.assert_array_equal(a, s)


def test_compiled_pool_nan_infinities_and_signed_zeros_as_numpys():
    x = np.zeros((1, 1, 4, 8), np.float32)
    x[0, 0, :2, :2] = [[1, np.nan], [2, 3]]  # a NaN in the window: NaN out, no gradient
    x[0, 0, :2, 2:4] = [[-np.inf, -np.inf], [-np.inf, -np.inf]]  # ties at -inf
    x[0, 0, :2, 4:6] = [[-0.0, 0.0], [0.0, -0.0]]  # zeros of both signs
    x[0, 0, :2, 6:8] = [[np.inf, 1], [np.inf, 2]]
    x[0, 0, 2:, :] = np.arange(16, dtype=np.float32).reshape(2, 8)
    seed_grad = np.ones((1, 1, 2, 4), np.float32)
    seed_grad[0, 0, 1, 0] = np.inf  # an infinite gradient: NaN over its window
    seed_grad[0, 0, 1, 1] = np.nan
    with np.errstate(invalid="ignore"):
        fast = _pool_and_grad(x, seed_grad, True)
        slow = _pool_and_grad(x, seed_grad, False)
    for a, s in zip(fast, slow):
        np.testing.assert_array_equal(a, s)
        np.testing.assert_array_equal(np.signbit(a), np.signbit(s))
    assert np.isnan(fast[0][0, 0, 0, 0])


def test_pool_calls_its_kernels_and_other_pools_do_not(monkeypatch):
    rng = np.random.default_rng(4)
    spy = KernelSpy(kernels)
    monkeypatch.setattr(compiled, "_kernels", spy)
    t = cr.tensor(float32_normal(rng, 2, 3, 8, 8), requires_grad=True)
    F.max_pool2d(t, 2).sum().backward()
    assert spy.calls == {"max_pool_2x2": 1, "max_pool_2x2_scatter": 1}
    spy.calls.clear()
    for args, kw in [((3,), {}), ((2,), {"stride": 1}), ((2,), {"padding": 1})]:
        F.max_pool2d(t, *args, **kw).sum().backward()
    F.max_pool2d(cr.tensor(t.data.astype(np.float64), requires_grad=True), 2).sum().backward()
    assert spy.calls == {}


def test_a_pool_gradient_of_another_shape_takes_numpys_path():
    """The scatter's loop reads g and m without bounds checks: a g of another shape
    goes to NumPy's calls, which broadcast it (one image's gradient for all) or
    refuse it as before, never a read past g."""
    rng = np.random.default_rng(5)
    x = float32_normal(rng, 2, 3, 8, 8)
    m = F.max_pool2d(x, 2).data
    p = {"kernel_size": (2, 2), "stride": (2, 2), "padding": (0, 0), "dilation": (1, 1)}
    broadcast, wrong = float32_normal(rng, 1, 3, 4, 4), float32_normal(rng, 2, 3, 2, 4)
    results = []
    for numba in (True, False):
        compiled.use_numba(numba)
        results.append(max_pool2d_scatter(broadcast, x, m, **p).data)
        with pytest.raises(ValueError):
            max_pool2d_scatter(wrong, x, m, **p)
    np.testing.assert_array_equal(*results)


@pytest.mark.parametrize(
    "h, w, k, p",
    # as wide as the image (one run per window offset) or not (a run per row)
    [
        (1, 1, 5, 2),
        (2, 1, 5, 3),
        (3, 2, 3, 2),
        (1, 4, 3, 1),
        (5, 5, 3, 1),
        (4, 6, 5, 2),
        (3, 3, 1, 0),
    ],
)
def test_im2col_stays_inside_its_columns_where_the_padding_is_wider(h, w, k, p):
    """Windows wider than the image, in padding on both sides: every column holds
    NumPy's copy, and nothing is written past the last one (sentinels after it)."""
    from chainrule.ops import conv

    x = np.arange(1, 2 * 3 * h * w + 1, dtype=np.float32).reshape(2, 3, h, w)
    params = {"stride": (1, 1), "padding": (p, p), "dilation": (1, 1), "groups": 1}
    q = conv._plan(x.shape, (4, 3, k, k), np.float32, params)
    want = conv._fill_cols(q.buffer(q.k, np.float32), conv._windows(conv._padded(x, q), q), 0, 2, q)
    width = 2 * q.cols
    buf = np.full((q.k + 1, width + 8), np.nan, np.float32)
    kernels.im2col(x, 0, 2, k, k, p, p, q.oh, q.ow, buf)
    np.testing.assert_array_equal(buf[: q.k, :width], want[0])
    assert np.isnan(buf[:, width:]).all() and np.isnan(buf[q.k]).all()
