"""3-D convolution, pooling and normalisation (Conv3d, ConvTranspose3d, MaxPool3d,
AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d, BatchNorm3d, interpolate and
Upsample on 5-D input) against PyTorch 2.13 in float64: values, gradients of the
input and of the parameters, indices, ties and NaN of the max poolings, state
dicts, printed forms, signatures and argument errors; finite differences (first
and second order, forward mode) over random shapes and options (hypothesis);
cr.jit and cr.vmap; a tiny Conv3d network trained three SGD steps beside torch."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F

SETTINGS = settings(
    max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
LAYERS = (
    "Conv3d",
    "ConvTranspose3d",
    "MaxPool3d",
    "AvgPool3d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool3d",
    "BatchNorm3d",
)


def _pair(rng, shape):
    """The same float64 values as a chainrule leaf and a torch leaf."""
    a = rng.normal(size=shape)
    return cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _backward_both(y, t, rng):
    """Backpropagate the same random output gradient through both results."""
    g = rng.normal(size=t.shape)
    (y * cr.tensor(g)).sum().backward()
    t.backward(torch.tensor(g))


def _array(a):
    if isinstance(a, torch.Tensor):
        return a.detach().numpy()
    return a.numpy() if isinstance(a, cr.Tensor) else np.asarray(a)


def _close(a, b, tol=1e-10):
    np.testing.assert_allclose(_array(a), _array(b), rtol=tol, atol=tol)


# ------------------------------------------------------------------ conv3d vs torch
@SETTINGS
@given(
    n=st.integers(1, 2),
    groups=st.integers(1, 2),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    s=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
    d=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
    p=st.one_of(
        st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
        st.sampled_from(["valid", "same"]),
    ),
    extra=st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_conv3d_matches_torch(n, groups, k, s, d, p, extra, bias, seed):
    if p == "same":
        s = (1, 1, 1)
    rng = np.random.default_rng(seed)
    shape = (n, 2 * groups, *(di * (ki - 1) + 1 + e for ki, di, e in zip(k, d, extra)))
    x, xt = _pair(rng, shape)
    w, wt = _pair(rng, (3 * groups, 2, *k))
    b, bt = _pair(rng, (3 * groups,)) if bias else (None, None)
    y = F.conv3d(x, w, b, s, p, d, groups)
    t = TF.conv3d(xt, wt, bt, s, p, d, groups)
    assert y.shape == tuple(t.shape)
    _close(y, t)
    _backward_both(y, t, rng)
    _close(x.grad, xt.grad)
    _close(w.grad, wt.grad)
    if bias:
        _close(b.grad, bt.grad)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (0, 1, 2), "same", "valid"])
def test_conv3d_layer_padding_modes_and_state_dict(mode, padding):
    torch.manual_seed(0)
    ref = torch.nn.Conv3d(2, 4, (3, 2, 3), padding=padding, padding_mode=mode).double()
    layer = cr.nn.Conv3d(2, 4, (3, 2, 3), padding=padding, padding_mode=mode, dtype="float64")
    assert repr(layer) == repr(ref)
    assert list(layer.state_dict()) == list(ref.state_dict()) == ["weight", "bias"]
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(1)
    x, xt = _pair(rng, (2, 2, 5, 6, 7))
    y, t = layer(x), ref(xt)
    _close(y, t)
    _backward_both(y, t, rng)
    _close(x.grad, xt.grad)
    _close(layer.weight.grad, ref.weight.grad)
    _close(layer.bias.grad, ref.bias.grad)
    # The round trip back: torch reads chainrule's state dict.
    back = torch.nn.Conv3d(2, 4, (3, 2, 3), padding=padding, padding_mode=mode).double()
    back.load_state_dict({k: torch.tensor(v.numpy()) for k, v in layer.state_dict().items()})
    _close(back(xt), t)


def test_conv3d_unbatched_and_init_like_torch():
    layer = cr.nn.Conv3d(3, 5, 2, bias=False)
    assert layer(cr.zeros((3, 4, 4, 4))).shape == (5, 3, 3, 3)
    assert layer.weight.shape == (5, 3, 2, 2, 2) and layer.bias is None
    bound = 1 / np.sqrt(3 * 8)  # kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert np.abs(layer.weight.numpy()).max() <= bound
    assert layer.weight.dtype == np.float32


@SETTINGS
@given(
    k=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
    s=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
    p=st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 1)),
    groups=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
def test_conv3d_gradcheck_and_forward_mode(k, s, p, groups, seed):
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.normal(size=(1, 2 * groups, 3, 3, 4)), requires_grad=True)
    w = cr.tensor(rng.normal(size=(2 * groups, 2, *k)), requires_grad=True)
    b = cr.tensor(rng.normal(size=(2 * groups,)), requires_grad=True)
    fn = lambda a, ww, bb: F.conv3d(a, ww, bb, s, p, 1, groups)  # noqa: E731
    assert cr.gradcheck(fn, (x, w, b))
    tangents = tuple(rng.normal(size=a.shape) for a in (x, w, b))
    arrays = tuple(a.numpy() for a in (x, w, b))
    _, tangent_out = cr.jvp(fn, arrays, tangents)
    eps = 1e-6
    plus = fn(*[a + eps * t for a, t in zip(arrays, tangents)]).numpy()
    minus = fn(*[a - eps * t for a, t in zip(arrays, tangents)]).numpy()
    np.testing.assert_allclose(np.asarray(tangent_out), (plus - minus) / (2 * eps), atol=1e-6)


def test_conv3d_second_order():
    rng = np.random.default_rng(2)
    x = cr.tensor(rng.normal(size=(1, 2, 3, 4, 3)), requires_grad=True)
    w = cr.tensor(rng.normal(size=(2, 2, 2, 2, 2)), requires_grad=True)
    assert cr.gradgradcheck(lambda a, ww: (F.conv3d(a, ww, padding=1) ** 2).sum(), (x, w))


def test_conv3d_under_jit_and_vmap():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(3, 2, 2, 3, 2))
    fn = lambda a: (F.conv3d(a, w, stride=(2, 1, 1), padding=1) ** 2).sum()  # noqa: E731
    grad = cr.grad(fn)
    jitted = cr.jit(grad)
    for _ in range(2):
        x = rng.normal(size=(2, 2, 4, 5, 3))
        np.testing.assert_allclose(jitted(x), grad(x), rtol=1e-12)
    xs = rng.normal(size=(3, 1, 2, 4, 5, 3))
    batched = cr.vmap(lambda a: F.conv3d(a, w, padding=1))(xs)
    for i in range(3):
        _close(batched[i], F.conv3d(xs[i], w, padding=1))


def test_conv3d_with_the_onednn_backend():
    before = cr.get_conv_backend()
    rng = np.random.default_rng(4)
    x, xt = _pair(rng, (2, 3, 5, 6, 6))
    w, wt = _pair(rng, (4, 3, 3, 3, 3))
    try:
        cr.set_conv_backend("onednn")
        y = F.conv3d(x.float(), w.float(), padding=1)
    finally:
        cr.set_conv_backend(before)
    t = TF.conv3d(xt.float(), wt.float(), padding=1)
    np.testing.assert_allclose(y.numpy(), t.detach().numpy(), rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ conv_transpose3d
@SETTINGS
@given(
    n=st.integers(1, 2),
    groups=st.integers(1, 2),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2)),
    s=st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, 2)),
    d=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
    p=st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 1)),
    op_seed=st.integers(0, 10),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_conv_transpose3d_matches_torch(n, groups, k, s, d, p, op_seed, bias, seed):
    op = tuple(op_seed % max(si, di) for si, di in zip(s, d))
    rng = np.random.default_rng(seed)
    x, xt = _pair(rng, (n, 2 * groups, 3, 2, 3))
    w, wt = _pair(rng, (2 * groups, 2, *k))
    b, bt = _pair(rng, (2 * groups,)) if bias else (None, None)
    size = [(i - 1) * si - 2 * pi + di * (ki - 1) + oi + 1 for i, si, pi, di, ki, oi in zip(
        (3, 2, 3), s, p, d, k, op)]  # fmt: skip
    if min(size) < 1:
        with pytest.raises(ValueError, match="conv_transpose"):
            F.conv_transpose3d(x, w, b, s, p, op, groups, d)
        return
    y = F.conv_transpose3d(x, w, b, s, p, op, groups, d)
    t = TF.conv_transpose3d(xt, wt, bt, s, p, op, groups, d)
    assert y.shape == tuple(t.shape)
    _close(y, t)
    _backward_both(y, t, rng)
    _close(x.grad, xt.grad)
    _close(w.grad, wt.grad)
    if bias:
        _close(b.grad, bt.grad)


def test_conv_transpose3d_layer_output_size_and_gradcheck():
    torch.manual_seed(0)
    ref = torch.nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1).double()
    layer = cr.nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1, dtype="float64")
    assert repr(layer) == repr(ref)
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(5)
    x, xt = _pair(rng, (1, 4, 3, 4, 2))
    _close(layer(x, output_size=(6, 8, 4)), ref(xt, output_size=(6, 8, 4)))
    with pytest.raises(ValueError, match="not reachable"):
        layer(x, output_size=(9, 8, 4))
    small = cr.tensor(rng.normal(size=(1, 2, 2, 2, 2)), requires_grad=True)
    w = cr.tensor(rng.normal(size=(2, 1, 2, 1, 2)), requires_grad=True)
    assert cr.gradcheck(lambda a, ww: F.conv_transpose3d(a, ww, stride=(2, 1, 2)), (small, w))


# ------------------------------------------------------------------ max_pool3d
@SETTINGS
@given(
    n=st.integers(1, 2),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    s=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    d=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
    pad_seed=st.integers(0, 7),
    ceil_mode=st.booleans(),
    levels=st.integers(2, 4),
    seed=st.integers(0, 2**16),
)
def test_max_pool3d_ties_match_torch(n, k, s, d, pad_seed, ceil_mode, levels, seed):
    """Integer-valued inputs with few levels: many ties, each window's gradient at
    PyTorch's element (the first maximum in (d, h, w) order), overlaps adding up."""
    p = tuple((pad_seed >> a) & 1 if ki >= 2 else 0 for a, ki in enumerate(k))
    rng = np.random.default_rng(seed)
    shape = (n, 2, *(di * (ki - 1) + 2 for ki, di in zip(k, d)))
    a = rng.integers(0, levels, size=shape).astype(np.float64)
    x, xt = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, idx = F.max_pool3d(x, k, s, p, d, ceil_mode, return_indices=True)
    t, tidx = TF.max_pool3d(xt, k, s, p, d, ceil_mode, return_indices=True)
    assert y.shape == tuple(t.shape)
    _close(y, t, 0)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    _backward_both(y, t, rng)
    _close(x.grad, xt.grad, 1e-12)


def test_max_pool3d_nan_and_infinity_like_torch():
    a = np.zeros((1, 1, 3, 4, 4))
    a[0, 0, 0, 0, 1] = np.nan
    a[0, 0, 1, 1, 0] = np.nan  # the same window: the later NaN is taken, as torch
    a[0, 0, 2, 2, 2] = -np.inf
    a[0, 0, 2, 3, 3] = np.inf
    x, xt = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, idx = F.max_pool3d(x, 2, 1, return_indices=True)
    t, tidx = TF.max_pool3d(xt, 2, 1, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    np.testing.assert_array_equal(y.numpy(), t.detach().numpy())  # NaN where torch's is
    y.sum().backward()
    t.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


def test_max_pool3d_layer_unbatched_gradcheck_jit_vmap():
    ref = torch.nn.MaxPool3d((2, 1, 3), stride=1, ceil_mode=True)
    layer = cr.nn.MaxPool3d((2, 1, 3), stride=1, ceil_mode=True)
    assert repr(layer) == repr(ref)
    rng = np.random.default_rng(6)
    x, xt = _pair(rng, (2, 3, 4, 5))  # unbatched (C, D, H, W)
    _close(layer(x), ref(xt))
    assert cr.gradcheck(lambda a: F.max_pool3d(a, 2, 1, padding=1), (x,))
    fn = lambda a: (F.max_pool3d(a, 2) ** 2).sum()  # noqa: E731
    grad, jitted = cr.grad(fn), cr.jit(cr.grad(fn))
    for _ in range(2):  # the argmax is computed again for new values
        v = rng.normal(size=(1, 2, 4, 4, 4))
        np.testing.assert_array_equal(jitted(v), grad(v))
    xs = rng.normal(size=(3, 1, 2, 4, 4, 4))
    batched = cr.vmap(lambda a: F.max_pool3d(a, 2))(xs)
    for i in range(3):
        _close(batched[i], F.max_pool3d(xs[i], 2), 0)


# ------------------------------------------------------------------ avg_pool3d
@SETTINGS
@given(
    n=st.integers(1, 2),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    s=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    pad_seed=st.integers(0, 7),
    ceil_mode=st.booleans(),
    count_include_pad=st.booleans(),
    divisor=st.sampled_from([None, 1, 3]),
    extra=st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
    seed=st.integers(0, 2**16),
)
def test_avg_pool3d_matches_torch(n, k, s, pad_seed, ceil_mode, count_include_pad, divisor, extra,
                                  seed):  # fmt: skip
    p = tuple((pad_seed >> a) & 1 if ki >= 2 else 0 for a, ki in enumerate(k))
    rng = np.random.default_rng(seed)
    x, xt = _pair(rng, (n, 2, *(ki + e for ki, e in zip(k, extra))))
    args = (k, s, p, ceil_mode, count_include_pad, divisor)
    y, t = F.avg_pool3d(x, *args), TF.avg_pool3d(xt, *args)
    assert y.shape == tuple(t.shape)
    _close(y, t)
    _backward_both(y, t, rng)
    _close(x.grad, xt.grad)


def test_avg_pool3d_layer_and_gradcheck():
    ref = torch.nn.AvgPool3d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    layer = cr.nn.AvgPool3d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    assert repr(layer) == repr(ref)
    rng = np.random.default_rng(7)
    x, xt = _pair(rng, (3, 5, 4, 6))
    _close(layer(x), ref(xt))
    fn = lambda a: F.avg_pool3d(a, 2, 1, 1, count_include_pad=False)  # noqa: E731
    assert cr.gradcheck(fn, (x,))
    assert cr.gradgradcheck(lambda a: (fn(a) ** 2).sum(), (x,))
    assert F.avg_pool3d(np.zeros((1, 1, 4, 4, 4), np.float32), 2).dtype == np.float32


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [False, True])
def test_avg_pool3d_of_integers_divides_toward_zero_like_torch(ceil_mode, count_include_pad):
    a = np.arange(-40, 40).reshape(1, 1, 4, 4, 5)
    args = ((3, 2, 3), (2, 1, 2), 1, ceil_mode, count_include_pad)
    y, t = F.avg_pool3d(a, *args), TF.avg_pool3d(torch.tensor(a), *args)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy(), t.numpy())


def test_functional_takes_one_int_for_three_like_torch():
    x = np.ones((1, 2, 4, 4, 4))
    y = F.conv3d(x, np.ones((1, 2, 1, 1, 1)), stride=(2,), padding=(1,))
    t = TF.conv3d(torch.tensor(x), torch.ones((1, 2, 1, 1, 1), dtype=torch.float64),
                  stride=(2,), padding=(1,))  # fmt: skip
    _close(y, t)
    _close(F.max_pool3d(x, (2,)), TF.max_pool3d(torch.tensor(x), (2,)))


# ------------------------------------------------------------------ adaptive pooling
SIZES = st.one_of(
    st.integers(1, 4),
    st.tuples(
        st.one_of(st.none(), st.integers(1, 4)),
        st.one_of(st.none(), st.integers(1, 4)),
        st.one_of(st.none(), st.integers(1, 4)),
    ),
)


@SETTINGS
@given(
    shape=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6)),
    size=SIZES,
    levels=st.integers(2, 5),
    seed=st.integers(0, 2**16),
)
def test_adaptive_pool3d_matches_torch(shape, size, levels, seed):
    rng = np.random.default_rng(seed)
    x, xt = _pair(rng, (2, 2, *shape))
    y, t = F.adaptive_avg_pool3d(x, size), TF.adaptive_avg_pool3d(xt, size)
    _close(y, t)
    _backward_both(y, t, rng)
    _close(x.grad, xt.grad)
    a = rng.integers(0, levels, size=(2, 2, *shape)).astype(np.float64)  # ties
    x, xt = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, idx = F.adaptive_max_pool3d(x, size, return_indices=True)
    t, tidx = TF.adaptive_max_pool3d(xt, size, return_indices=True)
    _close(y, t, 0)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    _backward_both(y, t, rng)
    _close(x.grad, xt.grad, 1e-12)


def test_adaptive_pool3d_layers():
    rng = np.random.default_rng(8)
    x, xt = _pair(rng, (3, 5, 4, 7))  # unbatched
    for name, args in (("AdaptiveAvgPool3d", ((2, None, 3),)), ("AdaptiveMaxPool3d", (2, True))):
        ref, layer = getattr(torch.nn, name)(*args), getattr(cr.nn, name)(*args)
        assert repr(layer) == repr(ref)
        got, want = layer(x), ref(xt)
        if name == "AdaptiveMaxPool3d":
            np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())
            got, want = got[0], want[0]
        _close(got, want)
    assert cr.gradcheck(lambda a: F.adaptive_avg_pool3d(a, (2, 3, 3)), (x,))
    assert cr.gradcheck(lambda a: F.adaptive_max_pool3d(a, (2, 3, 3)), (x,))
    xs = rng.normal(size=(2, 1, 1, 4, 5, 3))
    batched = cr.vmap(lambda a: F.adaptive_max_pool3d(a, 2))(xs)
    for i in range(2):
        _close(batched[i], F.adaptive_max_pool3d(xs[i], 2), 0)


# ------------------------------------------------------------------ BatchNorm3d
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm3d_matches_torch(momentum, affine):
    ref = torch.nn.BatchNorm3d(3, momentum=momentum, affine=affine).double()
    layer = cr.nn.BatchNorm3d(3, momentum=momentum, affine=affine, dtype="float64")
    assert repr(layer) == repr(ref)
    assert list(layer.state_dict()) == list(ref.state_dict())
    rng = np.random.default_rng(9)
    if affine:
        with torch.no_grad():
            ref.weight.copy_(torch.tensor(rng.normal(size=3)))
            ref.bias.copy_(torch.tensor(rng.normal(size=3)))
        layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    for _ in range(2):  # training: batch statistics, running ones updated
        x, xt = _pair(rng, (2, 3, 3, 4, 2))
        y, t = layer(x), ref(xt)
        _close(y, t)
        _backward_both(y, t, rng)
        _close(x.grad, xt.grad)
        if affine:
            _close(layer.weight.grad, ref.weight.grad)
            _close(layer.bias.grad, ref.bias.grad)
    for key, value in ref.state_dict().items():
        _close(layer.state_dict()[key].numpy(), value)
    layer.eval(), ref.eval()
    x, xt = _pair(rng, (2, 3, 3, 4, 2))
    _close(layer(x), ref(xt))
    with pytest.raises(ValueError, match="BatchNorm3d: expected an input with 5 axes"):
        layer(cr.zeros((3, 3, 4, 2)))


def test_instance_norm3d_matches_torch():
    rng = np.random.default_rng(10)
    x, xt = _pair(rng, (2, 3, 3, 4, 2))
    ref = torch.nn.InstanceNorm3d(3, affine=True).double()
    layer = cr.nn.InstanceNorm3d(3, affine=True, dtype="float64")
    _close(layer(x), ref(xt))


# ------------------------------------------------------------------ interpolate, Upsample
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(scale_factor=2, mode="nearest"),
        dict(size=(3, 5, 4), mode="nearest"),
        dict(scale_factor=(1.5, 2, 0.5), mode="nearest-exact"),
        dict(scale_factor=2, mode="trilinear"),
        dict(size=(5, 3, 6), mode="trilinear", align_corners=True),
        dict(size=(2, 3, 1), mode="area"),
    ],
)
def test_upsample_on_volumes_matches_torch(kwargs):
    rng = np.random.default_rng(11)
    x, xt = _pair(rng, (2, 3, 3, 4, 2))
    ref, layer = torch.nn.Upsample(**kwargs), cr.nn.Upsample(**kwargs)
    assert repr(layer) == repr(ref)
    y, t = layer(x), ref(xt)
    _close(y, t)
    _backward_both(y, t, rng)
    _close(x.grad, xt.grad)


# ------------------------------------------------------------------ dtypes
def _weight(like, shape):
    """Ones / 4 of ``like``'s dtype: a torch tensor for torch, an array for chainrule."""
    if isinstance(like, torch.Tensor):
        return torch.ones(shape, dtype=like.dtype) / 4
    return np.ones(shape, like.dtype) / 4


FUNCTIONS = {
    "conv3d": lambda m, x: m.conv3d(x, _weight(x, (2, 3, 2, 1, 2)), stride=(1, 2, 1)),
    "conv_transpose3d": lambda m, x: m.conv_transpose3d(x, _weight(x, (3, 2, 2, 1, 2))),
    "max_pool3d": lambda m, x: m.max_pool3d(x, 2, 1, 1, ceil_mode=True),
    "avg_pool3d": lambda m, x: m.avg_pool3d(x, 2, 1, 1, count_include_pad=False),
    "adaptive_avg_pool3d": lambda m, x: m.adaptive_avg_pool3d(x, (2, 3, 1)),
    "adaptive_max_pool3d": lambda m, x: m.adaptive_max_pool3d(x, (2, 3, 1)),
}


@SETTINGS
@given(
    name=st.sampled_from(sorted(FUNCTIONS)),
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=st.tuples(st.integers(1, 2), st.integers(2, 5), st.integers(2, 5), st.integers(2, 5)),
    seed=st.integers(0, 2**16),
)
def test_dtypes_are_kept_and_values_match_torch(name, dtype, shape, seed):
    a = np.random.default_rng(seed).normal(size=(shape[0], 3, *shape[1:])).astype(dtype)
    y = FUNCTIONS[name](F, a)
    t = FUNCTIONS[name](TF, torch.tensor(a))
    assert y.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.numpy(), t.detach().numpy(), rtol=tol, atol=tol)


# ------------------------------------------------------------------ signatures and errors
@pytest.mark.parametrize("name", LAYERS)
def test_signatures_are_torchs(name):
    ours = list(inspect.signature(getattr(cr.nn, name).__init__).parameters.values())
    theirs = list(inspect.signature(getattr(torch.nn, name).__init__).parameters.values())
    assert [(p.name, p.default, p.kind) for p in ours] == [
        (p.name, p.default, p.kind) for p in theirs
    ]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: F.conv3d(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 1, 1, 1))), "weight"),
        (lambda: F.conv3d(np.zeros((1, 2, 3, 3, 3)), np.zeros((1, 3, 1, 1, 1))), "channels"),
        (lambda: F.conv3d(np.zeros((1, 2, 3, 3, 3)), np.zeros((3, 1, 1, 1, 1)), groups=2),
         "groups=2 must be a positive int"),
        (lambda: F.conv3d(np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 1, 1, 1, 1)), stride=(1, 2)),
         "stride must be an int or 3 ints"),
        (lambda: F.conv3d(np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 1, 1, 1, 1)), stride=1.5),
         "stride must be an int or 3 ints"),
        (lambda: F.conv3d(np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 1, 2, 2, 2)), stride=2,
                          padding="same"), "padding='same' needs stride 1"),
        (lambda: F.conv3d(np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 1, 1, 1, 1)), padding="full"),
         "padding must be"),
        (lambda: F.conv3d(np.zeros((1, 1, 2, 3, 3)), np.zeros((1, 1, 3, 1, 1))), "too small"),
        (lambda: F.conv3d(np.zeros((1, 1, 2, 3, 3)), np.zeros((1, 1, 1, 1, 1)), dilation=0),
         "must be positive"),
        (lambda: F.conv_transpose3d(np.zeros((1, 2, 2, 2, 2)), np.zeros((3, 1, 1, 1, 1))),
         "weight's first axis"),
        (lambda: F.conv_transpose3d(np.zeros((1, 1, 2, 2, 2)), np.zeros((1, 1, 1, 1, 1)),
                                    output_padding=1), "output_padding"),
        (lambda: F.max_pool3d(np.zeros((1, 3, 3)), 2), r"\(N, C, D, H, W\)"),
        (lambda: F.max_pool3d(np.zeros((1, 1, 3, 3, 3)), 2, padding=2), "at most half"),
        (lambda: F.max_pool3d(np.zeros((1, 1, 1, 3, 3)), 2), "too small"),
        (lambda: F.avg_pool3d(np.zeros((1, 1, 3, 3, 3)), 2, divisor_override=0),
         "divisor_override"),
        (lambda: F.avg_pool3d(np.zeros((1, 1, 3, 3, 3)), (2, 2)), "kernel_size"),
        (lambda: F.adaptive_avg_pool3d(np.zeros((1, 1, 3, 3, 3)), (2, 2)), "output_size"),
        (lambda: F.adaptive_max_pool3d(np.zeros((1, 1, 3, 3, 3)), 0), "must be positive"),
        (lambda: F.adaptive_avg_pool3d(np.zeros((1, 1, 3, 3, 3), int), 1), "floating input"),
        (lambda: cr.nn.Conv3d(3, 4, 3)(np.zeros((1, 2, 4, 4, 4))), "expects 3"),
        (lambda: cr.nn.Conv3d(3, 4, 3, groups=2), "groups=2 must divide"),
        (lambda: cr.nn.Conv3d(3, 4, 3, padding_mode="mirror"), "padding_mode"),
        (lambda: cr.nn.Conv3d(3, 4, 3, stride=2, padding="same"), "strided"),
        (lambda: cr.nn.ConvTranspose3d(2, 2, 3, padding_mode="reflect"), "only 'zeros'"),
        (lambda: cr.nn.Conv3d(2, 2, 3, device="cuda"), "CPU only"),
    ],
)  # fmt: skip
def test_errors_are_one_clear_line(call, match):
    errors = (ValueError, TypeError, NotImplementedError, cr.nn.DeviceError)
    with pytest.raises(errors, match=match) as info:
        call()
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ training beside torch
def test_tiny_conv3d_network_trains_like_torch():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(
        torch.nn.Conv3d(2, 4, 3, padding=1),
        torch.nn.BatchNorm3d(4),
        torch.nn.ReLU(),
        torch.nn.MaxPool3d(2),
        torch.nn.Conv3d(4, 3, (1, 2, 2), stride=(1, 2, 2)),
        torch.nn.AdaptiveAvgPool3d(1),
        torch.nn.Flatten(),
    ).double()
    ours = cr.nn.Sequential(
        cr.nn.Conv3d(2, 4, 3, padding=1, dtype="float64"),
        cr.nn.BatchNorm3d(4, dtype="float64"),
        cr.nn.ReLU(),
        cr.nn.MaxPool3d(2),
        cr.nn.Conv3d(4, 3, (1, 2, 2), stride=(1, 2, 2), dtype="float64"),
        cr.nn.AdaptiveAvgPool3d(1),
        cr.nn.Flatten(),
    )
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    opt_t = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    opt_c = cr.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(12)
    for _ in range(3):
        x = rng.normal(size=(4, 2, 4, 6, 6))
        y = rng.integers(0, 3, size=4)
        loss_t = TF.cross_entropy(ref(torch.tensor(x)), torch.tensor(y))
        loss_c = F.cross_entropy(ours(cr.tensor(x)), y)
        np.testing.assert_allclose(loss_c.item(), loss_t.item(), rtol=1e-10)
        opt_t.zero_grad()
        loss_t.backward()
        opt_t.step()
        opt_c.zero_grad()
        loss_c.backward()
        opt_c.step()
    for key, value in ref.state_dict().items():
        _close(ours.state_dict()[key].numpy(), value, 1e-9)
