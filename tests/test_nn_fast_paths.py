"""The convolution and pooling fast paths (B5) give the same numbers as the general ones.

- max pooling whose windows tile the input (kxk, stride k) takes the window maxima
  from the forward pass and compares on a reshaped view: checked against loops, with
  many ties (the gradient goes to the first maximum, row-major, as in PyTorch), on
  channel-first and channel-last memory layouts, and through gradcheck;
- im2col of a one-channel image is built column-major: the same matrix as the
  channel-fast path, so convolutions of one-channel images match the definition.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_nn_ops import conv2d_loops, max_pool_loops

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.ops import nn_ops

SETTINGS = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _maybe_channel_last(x: np.ndarray, channel_last: bool) -> np.ndarray:
    """The same values, stored NHWC (as a convolution's output is) when asked."""
    return (
        np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2) if channel_last else x
    )


@SETTINGS
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    h=st.integers(2, 7),
    w=st.integers(2, 7),
    k=st.integers(1, 3),
    channel_last=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_tiled_max_pool_matches_loops_with_ties(n, c, h, w, k, channel_last, dtype, seed):
    if k > min(h, w):
        k = min(h, w)
    rng = np.random.default_rng(seed)
    # values from {0, 1, 2}: most windows hold ties, as after a ReLU
    x = _maybe_channel_last(rng.integers(0, 3, (n, c, h, w)).astype(dtype), channel_last)
    out, grad = max_pool_loops(x.astype(np.float64), k, k, 0, 1)
    xt = cr.tensor(x, requires_grad=True)
    y = F.max_pool2d(xt, k)
    np.testing.assert_array_equal(y.data, out)
    g = rng.normal(size=out.shape).astype(dtype)
    y.backward(cr.tensor(g))
    expected = np.zeros(x.shape)
    # max_pool_loops marks the first maximum of each window; spread g over those marks
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            window = grad[:, :, i * k : (i + 1) * k, j * k : (j + 1) * k]
            expected[:, :, i * k : (i + 1) * k, j * k : (j + 1) * k] = (
                window * g[:, :, i, j][:, :, None, None]
            )
    np.testing.assert_allclose(xt.grad.data, expected, rtol=1e-6)
    assert xt.grad.dtype == dtype


def test_tiled_max_pool_scatter_with_and_without_the_maxima_agree():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, (2, 3, 6, 8)).astype(np.float64)
    p = dict(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1))
    m = nn_ops._max_pool_forward(x, **p)
    g = rng.normal(size=m.shape)
    np.testing.assert_array_equal(
        nn_ops._max_pool_scatter_forward(g, x, m, **p),
        nn_ops._max_pool_scatter_forward(g, x, **p),
    )
    np.testing.assert_array_equal(
        nn_ops._max_pool_gather_forward(x, x, m, **p),
        nn_ops._max_pool_gather_forward(x, x, **p),
    )


@pytest.mark.parametrize("k", [2, 3])
def test_tiled_max_pool_gradients_to_second_order(k):
    rng = np.random.default_rng(2)
    x = cr.tensor(_maybe_channel_last(rng.normal(size=(2, 2, 7, 6)), True), requires_grad=True)
    assert cr.gradcheck(lambda a: F.max_pool2d(a, k), (x,))
    assert cr.gradgradcheck(lambda a: (F.max_pool2d(a, k) ** 2).sum(), (x,))
    # forward mode agrees with reverse mode
    u = rng.normal(size=x.shape)
    _, tangent = cr.jvp(lambda a: F.max_pool2d(a, k), (x.data,), (u,))
    _, pullback = cr.vjp(lambda a: F.max_pool2d(a, k), x.data)
    v = rng.normal(size=np.shape(tangent))
    (back,) = pullback(v)
    np.testing.assert_allclose(np.sum(np.asarray(tangent) * v), np.sum(np.asarray(back) * u))


@SETTINGS
@given(
    n=st.integers(1, 2),
    h=st.integers(3, 7),
    w=st.integers(3, 7),
    k=st.integers(1, 3),
    s=st.integers(1, 2),
    p=st.integers(0, 1),
    d=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
def test_one_channel_im2col_matches_the_general_path(n, h, w, k, s, p, d, seed):
    if d * (k - 1) + 1 > min(h, w) + 2 * p:
        d = 1
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1, h, w))
    params = dict(kernel_size=(k, k), stride=(s, s), padding=(p, p), dilation=(d, d))
    cols = nn_ops._im2col_forward(x, **params)
    # the general path on two identical channels holds the one-channel matrix in its
    # even columns (channel fastest)
    both = nn_ops._im2col_forward(np.concatenate([x, x], axis=1), **params)
    np.testing.assert_array_equal(cols, both[:, 0::2])
    wt = rng.normal(size=(3, 1, k, k))
    np.testing.assert_allclose(
        F.conv2d(x, wt, stride=s, padding=p, dilation=d).data,
        conv2d_loops(x, wt, None, (s, s), (p, p), (d, d)),
        atol=1e-12,
    )


def test_one_channel_convolution_gradients():
    rng = np.random.default_rng(3)
    x = cr.tensor(rng.normal(size=(2, 1, 6, 5)), requires_grad=True)
    w = cr.tensor(rng.normal(size=(3, 1, 3, 3)), requires_grad=True)
    b = cr.tensor(rng.normal(size=3), requires_grad=True)
    assert cr.gradcheck(lambda a, ww, bb: F.conv2d(a, ww, bb, padding=1, stride=2), (x, w, b))
    assert cr.gradgradcheck(lambda a, ww: (F.conv2d(a, ww, padding=1) ** 2).sum(), (x, w))
