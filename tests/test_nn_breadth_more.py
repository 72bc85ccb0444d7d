"""More of torch.nn against PyTorch 2.13 in float64: RMSNorm, ConvTranspose1d,
Bilinear, the alpha dropouts, RReLU, Softmax2d, ChannelShuffle, gumbel_softmax, pdist,
max unpooling, LP pooling, the margin losses and LazyLinear (values, gradients of
inputs and parameters, state dicts, printed forms, errors), and their derivatives
against finite differences."""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

F = cr.nn.functional
TF = torch.nn.functional


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def compare(cr_fn, torch_fn, arrays, seed=0, rtol=1e-10, atol=1e-12):
    """Values and the gradients of every input (along a random cotangent) agree."""
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, want = cr_fn(*xs), torch_fn(*ts)
    assert tuple(out.shape) == tuple(want.shape)
    np.testing.assert_allclose(out.numpy(), _np(want), rtol=rtol, atol=atol)
    if out.size == 0:
        return
    if not out.requires_grad:  # a constant of the inputs (pdist with p = 0): torch's is 0
        assert not _np(torch.autograd.grad(want.sum(), ts, allow_unused=True)[0]).any()
        return
    cot = np.random.default_rng(seed).normal(size=out.shape)
    (out * cot).sum().backward()
    (want * torch.tensor(cot)).sum().backward()
    for x, t in zip(xs, ts):
        got = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        expect = np.zeros(x.shape) if t.grad is None else _np(t.grad)
        np.testing.assert_allclose(got, expect, rtol=rtol, atol=atol)


def load_from_torch(layer, torch_layer):
    layer.load_state_dict({k: v.detach().numpy() for k, v in torch_layer.state_dict().items()})


# ------------------------------------------------------------------ RMSNorm
@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    batch=st.lists(st.integers(0, 3), max_size=2),
    norm=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    weighted=st.booleans(),
    eps=st.sampled_from([None, 1e-5, 0.1]),
)
def test_rms_norm_matches_torch(seed, batch, norm, weighted, eps):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=batch + norm)]
    if weighted:
        arrays.append(rng.normal(size=norm))
    compare(
        lambda x, *w: F.rms_norm(x, norm, *w, eps=eps),
        lambda x, *w: TF.rms_norm(x, norm, *w, eps=eps),
        arrays,
        seed,
    )


def test_rms_norm_default_eps_is_the_dtypes_epsilon():
    x = np.full((1, 3), 1e-2, dtype=np.float32)
    for dtype in (np.float32, np.float64):
        got = F.rms_norm(x.astype(dtype), [3]).numpy()
        want = TF.rms_norm(torch.tensor(x.astype(dtype)), [3]).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-12)
    # an eps of 1e-5 would make these 0.95, far from 1: the default must be the dtype's eps
    assert abs(float(F.rms_norm(x, [3]).numpy()[0, 0]) - 1) < 1e-3


def test_rms_norm_derivatives_against_finite_differences():
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.normal(size=(2, 3, 4)), requires_grad=True)
    w = cr.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    assert cr.gradcheck(lambda a, b: F.rms_norm(a, (3, 4), b), (x, w))
    assert cr.gradgradcheck(lambda a, b: F.rms_norm(a, (3, 4), b) ** 2, (x, w))


def test_rms_norm_layer_state_repr_and_parameter_gradient():
    torch_layer = torch.nn.RMSNorm([2, 3], eps=1e-6, dtype=torch.float64)
    torch.nn.init.normal_(torch_layer.weight)
    layer = cr.nn.RMSNorm([2, 3], eps=1e-6, dtype="float64")
    assert repr(layer) == repr(torch_layer) == "RMSNorm((2, 3), eps=1e-06, elementwise_affine=True)"
    assert list(layer.state_dict()) == list(torch_layer.state_dict()) == ["weight"]
    load_from_torch(layer, torch_layer)
    x = np.random.default_rng(2).normal(size=(4, 2, 3))
    out, want = layer(x), torch_layer(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), _np(want), rtol=1e-12)
    out.sum().backward()
    want.sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), _np(torch_layer.weight.grad), rtol=1e-12)
    bare = cr.nn.RMSNorm(3, elementwise_affine=False)
    assert bare.weight is None and list(bare.state_dict()) == []
    assert repr(bare) == repr(torch.nn.RMSNorm(3, elementwise_affine=False))


def test_rms_norm_errors():
    with pytest.raises(ValueError, match="normalized_shape"):
        F.rms_norm(np.ones((2, 4)), [3])
    with pytest.raises(ValueError, match="weight"):
        F.rms_norm(np.ones((2, 3)), [3], np.ones(2))


# ------------------------------------------------------------------ ConvTranspose1d
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 2),
    length=st.integers(1, 6),
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    groups=st.sampled_from([1, 2]),
    pad=st.integers(0, 2),
    out_pad=st.integers(0, 2),
    bias=st.booleans(),
)
def test_conv_transpose1d_matches_torch(
    seed, n, length, k, stride, dilation, groups, pad, out_pad, bias
):
    out_pad = min(out_pad, max(stride, dilation) - 1)
    full = (length - 1) * stride + dilation * (k - 1) + 1
    if full - 2 * pad + out_pad <= 0:
        return
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=(n, 2 * groups, length)), rng.normal(size=(2 * groups, 3, k))]
    if bias:
        arrays.append(rng.normal(size=3 * groups))
    kw = dict(stride=stride, padding=pad, output_padding=out_pad, groups=groups, dilation=dilation)

    def ours(x, w, b=None):
        return F.conv_transpose1d(x, w, b, **kw)

    def theirs(x, w, b=None):
        return TF.conv_transpose1d(x, w, b, **kw)

    compare(ours, theirs, arrays, seed)


def test_conv_transpose1d_unbatched_and_derivatives():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(2, 5)), rng.normal(size=(2, 3, 3))
    compare(
        lambda a, b: F.conv_transpose1d(a, b, stride=2),
        lambda a, b: TF.conv_transpose1d(a, b, stride=2),
        [x, w],
    )
    xt, wt = cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)
    assert cr.gradcheck(lambda a, b: F.conv_transpose1d(a, b, stride=2, padding=1), (xt, wt))


def test_conv_transpose1d_errors_speak_in_one_dimension():
    x, w = np.ones((1, 2, 3)), np.ones((2, 1, 3))
    with pytest.raises(ValueError, match="conv_transpose1d: the input has 3 channels"):
        F.conv_transpose1d(np.ones((1, 3, 3)), w)
    with pytest.raises(ValueError, match="conv_transpose1d: .*groups=3"):
        F.conv_transpose1d(x, w, groups=3)
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose1d(x, w, output_padding=1)
    with pytest.raises(ValueError, match="length"):
        F.conv_transpose1d(np.ones((1, 2, 1)), np.ones((2, 1, 1)), padding=2)
    with pytest.raises(ValueError, match="conv_transpose1d: expected"):
        F.conv_transpose1d(np.ones(3), w)


def test_conv_transpose1d_layer_matches_torch():
    torch.manual_seed(0)
    torch_layer = torch.nn.ConvTranspose1d(
        4, 6, 3, stride=2, padding=1, groups=2, dtype=torch.float64
    )
    layer = cr.nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, groups=2, dtype="float64")
    assert repr(layer) == repr(torch_layer)
    assert (
        repr(cr.nn.ConvTranspose1d(2, 3, 3))
        == "ConvTranspose1d(2, 3, kernel_size=(3,), stride=(1,))"
    )
    assert {k: v.shape for k, v in layer.state_dict().items()} == {
        k: tuple(v.shape) for k, v in torch_layer.state_dict().items()
    }
    load_from_torch(layer, torch_layer)
    x = np.random.default_rng(4).normal(size=(2, 4, 5))
    for size in (None, [10]):
        out, want = layer(x, output_size=size), torch_layer(torch.tensor(x), output_size=size)
        np.testing.assert_allclose(out.numpy(), _np(want), rtol=1e-12)
    out.sum().backward()
    want.sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), _np(torch_layer.weight.grad), rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad.numpy(), _np(torch_layer.bias.grad), rtol=1e-12)
    with pytest.raises(ValueError, match="output_size"):
        layer(x, output_size=[20])
    with pytest.raises(NotImplementedError, match="padding_mode"):
        cr.nn.ConvTranspose1d(2, 3, 3, padding_mode="reflect")
    # the 2-D layer still says its own name
    with pytest.raises(ValueError, match="ConvTranspose2d: output_size"):
        cr.nn.ConvTranspose2d(1, 1, 3)(np.ones((1, 1, 4, 4)), output_size=(20, 20))


def test_conv_transpose1d_init_is_pytorchs_bound():
    layer = cr.nn.ConvTranspose1d(4, 6, 3, groups=2)
    bound = 1 / math.sqrt(3 * 3)  # fan_in = out_channels / groups * k, as PyTorch's
    assert np.abs(layer.weight.numpy()).max() <= bound
    assert np.abs(layer.bias.numpy()).max() <= bound


# ------------------------------------------------------------------ Bilinear
@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    batch=st.lists(st.integers(0, 3), max_size=2),
    sizes=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
    bias=st.booleans(),
)
def test_bilinear_matches_torch(seed, batch, sizes, bias):
    i1, i2, o = sizes
    rng = np.random.default_rng(seed)
    arrays = [
        rng.normal(size=batch + [i1]),
        rng.normal(size=batch + [i2]),
        rng.normal(size=(o, i1, i2)),
    ]
    if bias:
        arrays.append(rng.normal(size=o))
    compare(F.bilinear, TF.bilinear, arrays, seed)


def test_bilinear_layer_init_state_and_errors():
    torch_layer = torch.nn.Bilinear(3, 4, 5, dtype=torch.float64)
    layer = cr.nn.Bilinear(3, 4, 5, dtype="float64")
    assert repr(layer) == repr(torch_layer)
    assert list(layer.state_dict()) == list(torch_layer.state_dict()) == ["weight", "bias"]
    assert np.abs(layer.weight.numpy()).max() <= 1 / math.sqrt(3)
    assert np.abs(layer.weight.numpy()).max() > 0.3 / math.sqrt(3)
    load_from_torch(layer, torch_layer)
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    out, want = layer(a, b), torch_layer(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(out.numpy(), _np(want), rtol=1e-12)
    out.sum().backward()
    want.sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), _np(torch_layer.weight.grad), rtol=1e-12)
    assert repr(cr.nn.Bilinear(2, 2, 2, bias=False)).endswith("bias=False)")
    with pytest.raises(ValueError, match="in1_features must be > 0"):
        cr.nn.Bilinear(0, 2, 3)
    with pytest.raises(ValueError, match="input2 size"):
        F.bilinear(np.ones((2, 3)), np.ones((2, 4)), np.ones((5, 3, 3)))
    with pytest.raises(ValueError, match="batch"):
        F.bilinear(np.ones((2, 3)), np.ones((3, 4)), np.ones((5, 3, 4)))


def test_bilinear_derivatives_against_finite_differences():
    rng = np.random.default_rng(6)
    args = [
        cr.tensor(rng.normal(size=s), requires_grad=True) for s in [(2, 3), (2, 2), (4, 3, 2), (4,)]
    ]
    assert cr.gradcheck(F.bilinear, args)


# ------------------------------------------------------------------ alpha dropout
ALPHA = 1.7580993408473766


def _alpha_constants(p):
    a = 1 / math.sqrt((ALPHA**2 * p + 1) * (1 - p))
    return a, a * ALPHA * p, -a * ALPHA * (1 - p)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_alpha_dropout_is_pytorchs_affine_map_and_keeps_selu_statistics(p):
    a, shift, dropped = _alpha_constants(p)
    x = np.random.default_rng(7).normal(size=(400, 250))
    xt = cr.tensor(x, requires_grad=True)
    out = F.alpha_dropout(xt, p, training=True, generator=cr.Generator().manual_seed(1))
    y = out.numpy()
    kept = np.isclose(y, a * x + shift, rtol=0, atol=1e-12)
    assert np.all(kept | np.isclose(y, dropped, rtol=0, atol=1e-12))
    assert abs((~kept).mean() - p) < 0.01
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02  # SELU's fixed point survives
    out.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), np.where(kept, a, 0.0))
    # torch's draws differ, its statistics agree
    ty = TF.alpha_dropout(torch.tensor(x), p, training=True).numpy()
    assert abs(ty.mean() - y.mean()) < 0.03 and abs(ty.std() - y.std()) < 0.03


def test_feature_alpha_dropout_drops_whole_channels():
    p = 0.3
    a, shift, dropped = _alpha_constants(p)
    x = np.random.default_rng(8).normal(size=(50, 40, 3, 2))
    y = F.feature_alpha_dropout(x, p, training=True).numpy()
    kept = np.isclose(y, a * x + shift, rtol=0, atol=1e-12)
    assert np.all(kept | np.isclose(y, dropped, rtol=0, atol=1e-12))
    per_channel = kept.reshape(50, 40, -1)
    assert np.all(per_channel.all(-1) | ~per_channel.any(-1))
    assert abs((~per_channel[..., 0]).mean() - p) < 0.05
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        F.feature_alpha_dropout(np.ones(3), 0.5, training=True)


def test_alpha_dropouts_outside_training_inplace_and_bounds():
    x = cr.tensor(np.ones((2, 3)))
    for fn in (F.alpha_dropout, F.feature_alpha_dropout):
        assert fn(x) is x and fn(x, 0.5, False) is x and fn(x, 0.0, True) is x
        np.testing.assert_array_equal(fn(x, 1.0, True).numpy(), np.zeros((2, 3)))
        assert fn(cr.ones(0, 3), 0.5, True).shape == (0, 3)
        with pytest.raises(ValueError, match="between 0 and 1"):
            fn(x, 1.5)
    y = cr.tensor(np.ones((3, 4)))
    assert F.alpha_dropout(y, 0.5, True, inplace=True) is y
    a, shift, dropped = _alpha_constants(0.5)
    assert np.all(np.isclose(y.numpy(), a + shift) | np.isclose(y.numpy(), dropped))
    layer = cr.nn.AlphaDropout(0.2)
    assert repr(layer) == repr(torch.nn.AlphaDropout(0.2))
    assert repr(cr.nn.FeatureAlphaDropout(0.2, True)) == repr(
        torch.nn.FeatureAlphaDropout(0.2, True)
    )
    assert not np.allclose(layer(np.ones((4, 4))).numpy(), 1)
    assert layer.eval()(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        cr.nn.AlphaDropout(-0.1)


# ------------------------------------------------------------------ RReLU
def test_rrelu_outside_training_matches_torch_including_zero():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    for lower, upper in [(1 / 8, 1 / 3), (0.1, 0.1), (0.0, 0.5)]:
        compare(
            lambda a, lower=lower, upper=upper: F.rrelu(a, lower, upper),
            lambda a, lower=lower, upper=upper: TF.rrelu(a, lower, upper),
            [x],
        )


def test_rrelu_training_draws_slopes_in_bounds_with_their_gradient():
    x = np.random.default_rng(9).normal(size=(200, 50))
    x[0, :5] = 0.0
    xt = cr.tensor(x, requires_grad=True)
    out = F.rrelu(xt, 0.1, 0.3, training=True)
    out.sum().backward()
    g, y = xt.grad.numpy(), out.numpy()
    pos = x > 0
    np.testing.assert_array_equal(y[pos], x[pos])
    np.testing.assert_array_equal(g[pos], 1.0)
    assert g[~pos].min() >= 0.1 and g[~pos].max() <= 0.3
    np.testing.assert_allclose(y[~pos], g[~pos] * x[~pos], rtol=1e-12)
    assert abs(g[~pos].mean() - 0.2) < 0.01  # uniform draws
    assert np.unique(g[~pos]).size > 100  # one slope per element


def test_rrelu_inplace_layer_and_errors():
    x = cr.tensor(np.array([-1.0, 2.0]))
    assert F.rrelu(x, 0.1, 0.3, inplace=True) is x
    np.testing.assert_allclose(x.numpy(), [-0.2, 2.0])
    y = cr.tensor(np.array([-1.0, 2.0]))
    assert F.rrelu_(y, 0.1, 0.3) is y
    np.testing.assert_allclose(y.numpy(), [-0.2, 2.0])
    layer = cr.nn.RReLU(0.1, 0.3)
    assert repr(layer) == repr(torch.nn.RReLU(0.1, 0.3))
    assert repr(cr.nn.RReLU(inplace=True)) == repr(torch.nn.RReLU(inplace=True))
    assert layer(np.full(1000, -1.0)).numpy().std() > 0.01  # training: random slopes
    np.testing.assert_allclose(layer.eval()(np.array([-1.0])).numpy(), [-0.2])
    with pytest.raises(ValueError, match="lower bound"):
        F.rrelu(np.ones(3), 0.5, 0.1)


# ------------------------------------------------------------------ Softmax2d, shuffle
def test_softmax2d_matches_torch():
    rng = np.random.default_rng(10)
    for shape in [(2, 3, 4, 5), (3, 4, 5)]:
        compare(cr.nn.Softmax2d(), torch.nn.Softmax2d(), [rng.normal(size=shape)])
    assert repr(cr.nn.Softmax2d()) == "Softmax2d()"
    with pytest.raises(ValueError, match="3D or 4D"):
        cr.nn.Softmax2d()(np.ones((2, 2)))


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    groups=st.integers(1, 3),
    per=st.integers(1, 3),
    rest=st.lists(st.integers(1, 3), min_size=1, max_size=2),
)
def test_channel_shuffle_matches_torch(seed, groups, per, rest):
    x = np.random.default_rng(seed).normal(size=[2, groups * per] + rest)
    compare(
        lambda a: F.channel_shuffle(a, groups), lambda a: TF.channel_shuffle(a, groups), [x], seed
    )
    np.testing.assert_array_equal(
        cr.nn.ChannelShuffle(groups)(x).numpy(),
        torch.nn.ChannelShuffle(groups)(torch.tensor(x)).numpy(),
    )


def test_channel_shuffle_errors_and_repr():
    assert repr(cr.nn.ChannelShuffle(2)) == repr(torch.nn.ChannelShuffle(2))
    with pytest.raises(ValueError, match="divisible"):
        F.channel_shuffle(np.ones((1, 3, 2)), 2)
    with pytest.raises(ValueError, match="more than 2 dims"):
        F.channel_shuffle(np.ones((2, 4)), 2)
    with pytest.raises(ValueError, match="positive"):
        F.channel_shuffle(np.ones((2, 4, 2)), 0)


# ------------------------------------------------------------------ gumbel_softmax
def test_gumbel_softmax_soft_and_straight_through_hard():
    logits = np.random.default_rng(11).normal(size=(6, 5))
    x = cr.tensor(logits, requires_grad=True)
    soft = F.gumbel_softmax(x, tau=0.5, generator=cr.Generator().manual_seed(3))
    np.testing.assert_allclose(soft.numpy().sum(-1), 1.0)
    cot = np.random.default_rng(12).normal(size=soft.shape)
    (soft * cot).sum().backward()
    soft_grad = x.grad.numpy().copy()
    x.grad = None
    hard = F.gumbel_softmax(x, tau=0.5, hard=True, generator=cr.Generator().manual_seed(3))
    h = hard.numpy()
    np.testing.assert_array_equal(h.sum(-1), 1.0)
    np.testing.assert_array_equal(np.isin(h, [0.0, 1.0]), True)
    np.testing.assert_array_equal(h.argmax(-1), soft.numpy().argmax(-1))
    (hard * cot).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), soft_grad, rtol=1e-12)  # the soft gradient


def test_gumbel_softmax_samples_the_categorical_and_warns_on_eps():
    logits = np.log(np.array([0.6, 0.3, 0.1]))
    picks = F.gumbel_softmax(np.tile(logits, (20000, 1)), hard=True).numpy().mean(0)
    np.testing.assert_allclose(picks, [0.6, 0.3, 0.1], atol=0.015)
    with pytest.warns(UserWarning, match="deprecated"):
        F.gumbel_softmax(np.zeros((2, 3)), eps=1e-3)
    out = F.gumbel_softmax(np.zeros((4, 3, 2)), dim=1, hard=True).numpy()
    np.testing.assert_array_equal(out.sum(1), 1.0)


# ------------------------------------------------------------------ pdist
@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(0, 5),
    m=st.integers(1, 4),
    p=st.sampled_from([0.0, 1.0, 2.0, 3.0, 0.5, math.inf]),
    duplicate=st.booleans(),
)
def test_pdist_matches_torch(seed, n, m, p, duplicate):
    x = np.random.default_rng(seed).normal(size=(n, m))
    if duplicate and n >= 2:
        x[1] = x[0]  # a zero distance: gradient 0 there, as torch's
    compare(lambda a: F.pdist(a, p), lambda a: TF.pdist(a, p), [x], seed)


def test_pdist_derivatives_and_errors():
    x = cr.tensor(np.random.default_rng(13).normal(size=(4, 3)), requires_grad=True)
    assert cr.gradcheck(lambda a: F.pdist(a, 3.0), (x,))
    with pytest.raises(ValueError, match="2-D"):
        F.pdist(np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        F.pdist(np.ones((3, 2)), -1)


# ------------------------------------------------------------------ max unpooling
@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    pad=st.integers(0, 1),
    length=st.integers(4, 8),
    unbatched=st.booleans(),
)
def test_max_unpool1d_matches_torch(seed, k, stride, pad, length, unbatched):
    pad = min(pad, k // 2)
    shape = (3, length) if unbatched else (2, 3, length)
    x = np.random.default_rng(seed).normal(size=shape)
    values, index = TF.max_pool1d(torch.tensor(x), k, stride, pad, return_indices=True)
    ours_values, ours_index = F.max_pool1d(x, k, stride, pad, return_indices=True)
    np.testing.assert_array_equal(ours_index.numpy(), index.numpy())
    try:
        TF.max_unpool1d(values, index, k, stride, pad)
    except RuntimeError:  # an index past the default output size: refused alike
        with pytest.raises(IndexError, match="invalid max index"):
            F.max_unpool1d(ours_values, ours_index, k, stride, pad)
        return
    compare(
        lambda v: F.max_unpool1d(v, ours_index, k, stride, pad),
        lambda v: TF.max_unpool1d(v, index, k, stride, pad),
        [values.numpy()],
        seed,
    )


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    k=st.integers(2, 3),
    stride=st.integers(1, 3),
    h=st.integers(4, 7),
    w=st.integers(4, 7),
    grow=st.booleans(),
)
def test_max_unpool2d_matches_torch_with_output_size(seed, k, stride, h, w, grow):
    x = np.random.default_rng(seed).normal(size=(2, 2, h, w))
    values, index = TF.max_pool2d(torch.tensor(x), k, stride, return_indices=True)
    _, ours_index = F.max_pool2d(x, k, stride, return_indices=True)
    np.testing.assert_array_equal(ours_index.numpy(), index.numpy())
    size = None
    if grow:
        base = [(n - 1) * stride + k for n in values.shape[-2:]]
        size = [b + stride - 1 for b in base]
    try:
        torch.nn.MaxUnpool2d(k, stride)(values, index, size)
    except RuntimeError:  # an index past the output size (the input's last rows): refused alike
        with pytest.raises(IndexError, match="invalid max index"):
            cr.nn.MaxUnpool2d(k, stride)(values.numpy(), ours_index, size)
        return
    compare(
        lambda v: cr.nn.MaxUnpool2d(k, stride)(v, ours_index, size),
        lambda v: torch.nn.MaxUnpool2d(k, stride)(v, index, size),
        [values.numpy()],
        seed,
    )


def test_max_unpool_round_trip_layers_and_errors():
    pool, unpool = cr.nn.MaxPool1d(2, return_indices=True), cr.nn.MaxUnpool1d(2)
    out, idx = pool(cr.tensor([[[1.0, 3.0, 2.0, 0.0, 5.0]]]))
    np.testing.assert_array_equal(unpool(out, idx, output_size=[5]).numpy(), [[[0, 3, 2, 0, 0]]])
    assert repr(unpool) == repr(torch.nn.MaxUnpool1d(2))
    assert repr(cr.nn.MaxUnpool2d(2, 1, 1)) == repr(torch.nn.MaxUnpool2d(2, 1, 1))
    with pytest.raises(IndexError, match="invalid max index"):
        F.max_unpool1d(np.ones((1, 1, 2)), np.array([[[0, 9]]]), 2)
    with pytest.raises(ValueError, match="output_size"):
        F.max_unpool1d(np.ones((1, 1, 2)), np.array([[[0, 1]]]), 2, output_size=[7])
    with pytest.raises(TypeError, match="int64"):
        F.max_unpool2d(np.ones((1, 2, 2)), np.zeros((1, 2, 2), dtype=np.int32), 2)


def test_empty_batches_as_torch():
    empty_index = np.zeros((0, 2, 2), dtype=np.int64)
    assert F.max_unpool1d(np.zeros((0, 2, 2)), empty_index, 2).shape == (0, 2, 4)
    assert F.conv_transpose1d(np.zeros((0, 2, 4)), np.ones((2, 3, 3))).shape == (0, 3, 6)
    assert F.lp_pool2d(np.zeros((0, 2, 4, 4)), 2, 2).shape == (0, 2, 2, 2)
    assert F.channel_shuffle(np.zeros((0, 4, 3)), 2).shape == (0, 4, 3)
    none = F.multi_margin_loss(np.zeros((0, 4)), np.zeros(0, dtype=np.int64), reduction="none")
    assert none.shape == (0,)
    # torch's sum over no samples is an uninitialised number; ours is 0
    total = F.multi_margin_loss(np.zeros((0, 4)), np.zeros(0, dtype=np.int64), reduction="sum")
    assert float(total) == 0.0


def test_with_indices_aliases_always_return_both():
    x = np.random.default_rng(14).normal(size=(2, 3, 6, 5))
    for ours, theirs, args in [
        (F.max_pool2d_with_indices, TF.max_pool2d_with_indices, (2,)),
        (F.adaptive_max_pool2d_with_indices, TF.adaptive_max_pool2d_with_indices, ((2, 3),)),
        (F.max_pool1d_with_indices, TF.max_pool1d_with_indices, (2,)),
        (F.adaptive_max_pool1d_with_indices, TF.adaptive_max_pool1d_with_indices, (3,)),
    ]:
        a = x[:, :, 0] if "1d" in ours.__name__ else x
        (v, i), (tv, ti) = ours(a, *args), theirs(torch.tensor(a), *args)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())


# ------------------------------------------------------------------ LP pooling
@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    p=st.sampled_from([1.0, 2, 3.0, 1.5, math.inf]),
    k=st.integers(1, 3),
    stride=st.sampled_from([None, 1, 2]),
    ceil=st.booleans(),
    two_d=st.booleans(),
)
def test_lp_pool_matches_torch(seed, p, k, stride, ceil, two_d):
    rng = np.random.default_rng(seed)
    shape = (2, 2, 5, 6) if two_d else (2, 3, 7)
    x = np.abs(rng.normal(size=shape)) + 0.1  # positive: x^p is real for every p
    ours, theirs = (F.lp_pool2d, TF.lp_pool2d) if two_d else (F.lp_pool1d, TF.lp_pool1d)
    compare(
        lambda a: ours(a, p, k, stride, ceil), lambda a: theirs(a, p, k, stride, ceil), [x], seed
    )


def test_lp_pool_gradient_is_zero_where_the_window_sums_to_zero():
    x = np.array([[[0.0, 0.0, 1.0, -2.0, 3.0, 1.0]]])
    for p in (2.0, 1.5):
        compare(
            lambda a, p=p: F.lp_pool1d(a, p, 2),
            lambda a, p=p: TF.lp_pool1d(a, p, 2),
            [x[..., :3]],
        )
    compare(lambda a: F.lp_pool1d(a, 2, 2), lambda a: TF.lp_pool1d(a, 2, 2), [x])
    xt = cr.tensor(
        np.abs(np.random.default_rng(15).normal(size=(1, 2, 4, 4))) + 0.5, requires_grad=True
    )
    assert cr.gradcheck(lambda a: F.lp_pool2d(a, 3, 2), (xt,))


def test_lp_pool_layers_print_as_torch():
    for ours, theirs in [(cr.nn.LPPool1d, torch.nn.LPPool1d), (cr.nn.LPPool2d, torch.nn.LPPool2d)]:
        assert repr(ours(2, 3)) == repr(theirs(2, 3))
        assert repr(ours(1.5, 2, 1, True)) == repr(theirs(1.5, 2, 1, True))
    x = np.abs(np.random.default_rng(16).normal(size=(1, 2, 4, 4)))
    np.testing.assert_allclose(
        cr.nn.LPPool2d(2, 2)(x).numpy(),
        torch.nn.LPPool2d(2, 2)(torch.tensor(x)).numpy(),
        rtol=1e-12,
    )


# ------------------------------------------------------------------ margin losses
REDUCTIONS = ["mean", "sum", "none"]


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 5),
    c=st.integers(1, 5),
    p=st.sampled_from([1, 2]),
    margin=st.sampled_from([1.0, 0.5, 2.0]),
    weighted=st.booleans(),
    reduction=st.sampled_from(REDUCTIONS),
    single=st.booleans(),
)
def test_multi_margin_loss_matches_torch(seed, n, c, p, margin, weighted, reduction, single):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(c,) if single else (n, c)) * 0.5
    y = rng.integers(0, c, size=() if single else (n,))
    w = np.abs(rng.normal(size=c)) if weighted else None
    kw = dict(p=p, margin=margin, reduction=reduction)
    compare(
        lambda a: F.multi_margin_loss(a, y, weight=w, **kw),
        lambda a: TF.multi_margin_loss(
            a, torch.tensor(y), weight=None if w is None else torch.tensor(w), **kw
        ),
        [x],
        seed,
    )


def _label_targets(rng, n, c):
    t = np.full((n, c), -1)
    for row in t:
        k = rng.integers(0, c + 1)
        row[:k] = rng.integers(0, c, size=k)  # repeats allowed: torch counts each listing
        if k < c:
            row[k + 1 :] = rng.integers(-1, c, size=c - k - 1)  # ignored after the first -1
    return t


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(0, 4),
    c=st.integers(1, 5),
    reduction=st.sampled_from(REDUCTIONS),
    single=st.booleans(),
)
def test_multilabel_margin_loss_matches_torch(seed, n, c, reduction, single):
    rng = np.random.default_rng(seed)
    if single:
        n = 1
    x = rng.normal(size=(n, c))
    t = _label_targets(rng, n, c)
    if single:
        x, t = x[0], t[0]
    if n == 0 and reduction == "mean":
        return  # torch's mean of no samples is 0/0 (nan in both, compared below for sum)
    compare(
        lambda a: F.multilabel_margin_loss(a, t, reduction=reduction),
        lambda a: TF.multilabel_margin_loss(a, torch.tensor(t), reduction=reduction),
        [x],
        seed,
    )


def test_margin_loss_layers_errors_and_state():
    w = np.array([1.0, 2.0, 0.5])
    layer, torch_layer = (
        cr.nn.MultiMarginLoss(p=2, weight=w),
        torch.nn.MultiMarginLoss(p=2, weight=torch.tensor(w)),
    )
    assert repr(layer) == repr(torch_layer) == "MultiMarginLoss()"
    assert list(layer.state_dict()) == list(torch_layer.state_dict()) == ["weight"]
    x, y = np.random.default_rng(17).normal(size=(4, 3)), np.array([0, 2, 1, 1])
    np.testing.assert_allclose(
        layer(x, y).numpy(), torch_layer(torch.tensor(x), torch.tensor(y)).numpy(), rtol=1e-12
    )
    assert repr(cr.nn.MultiLabelMarginLoss()) == "MultiLabelMarginLoss()"
    with pytest.raises(ValueError, match="only p == 1 and p == 2"):
        cr.nn.MultiMarginLoss(p=3)
    with pytest.raises(IndexError, match="out of range"):
        F.multi_margin_loss(np.ones((1, 3)), np.array([3]))
    with pytest.raises(ValueError, match="inconsistent weight size"):
        F.multi_margin_loss(np.ones((1, 4)), np.array([3]), weight=np.ones(3))
    with pytest.raises(ValueError, match="inconsistent target size"):
        F.multi_margin_loss(np.ones((2, 4)), np.array([[3], [1]]))
    with pytest.raises(TypeError, match="integer"):
        F.multi_margin_loss(np.ones((1, 4)), np.array([3.0]))
    with pytest.raises(ValueError, match="inconsistent target size"):
        F.multilabel_margin_loss(np.ones((1, 4)), np.array([[3, 0]]))
    with pytest.raises(IndexError):
        F.multilabel_margin_loss(np.ones((1, 4)), np.array([[4, 0, -1, 1]]))
    with pytest.warns(UserWarning, match="reduction='sum'"):
        F.multi_margin_loss(np.ones((1, 3)), np.array([1]), size_average=False)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 4),
    d=st.integers(1, 4),
    swap=st.booleans(),
    custom=st.booleans(),
    margin=st.sampled_from([1.0, 0.3]),
    reduction=st.sampled_from(REDUCTIONS),
)
def test_triplet_margin_with_distance_loss_matches_torch(
    seed, n, d, swap, custom, margin, reduction
):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=(n, d)) for _ in range(3)]
    kw = dict(margin=margin, swap=swap, reduction=reduction)

    def ours(a, p, q):
        dist = (lambda u, v: 1 - F.cosine_similarity(u, v)) if custom else None
        return F.triplet_margin_with_distance_loss(a, p, q, distance_function=dist, **kw)

    def theirs(a, p, q):
        dist = (lambda u, v: 1 - TF.cosine_similarity(u, v)) if custom else None
        return TF.triplet_margin_with_distance_loss(a, p, q, distance_function=dist, **kw)

    compare(ours, theirs, arrays, seed)


def test_triplet_with_distance_layer_and_errors():
    layer = cr.nn.TripletMarginWithDistanceLoss()
    assert repr(layer) == repr(torch.nn.TripletMarginWithDistanceLoss())
    rng = np.random.default_rng(18)
    a, p, n = (rng.normal(size=(3, 4)) for _ in range(3))
    np.testing.assert_allclose(
        layer(a, p, n).numpy(),
        torch.nn.TripletMarginWithDistanceLoss()(*map(torch.tensor, (a, p, n))).numpy(),
        rtol=1e-12,
    )
    with pytest.raises(ValueError, match="margin"):
        cr.nn.TripletMarginWithDistanceLoss(margin=0)
    with pytest.raises(ValueError, match="not a valid value"):
        F.triplet_margin_with_distance_loss(a, p, n, reduction="x")
    with pytest.raises(TypeError):
        cr.nn.TripletMarginWithDistanceLoss(None)  # keyword-only, as PyTorch's


def test_margin_loss_derivatives_against_finite_differences():
    rng = np.random.default_rng(19)
    x = cr.tensor(rng.normal(size=(4, 5)), requires_grad=True)
    y, t = np.array([0, 4, 2, 2]), _label_targets(rng, 4, 5)
    assert cr.gradcheck(lambda a: F.multi_margin_loss(a, y, p=2, weight=np.arange(1.0, 6.0)), (x,))
    assert cr.gradcheck(lambda a: F.multilabel_margin_loss(a, t, reduction="sum"), (x,))


# ------------------------------------------------------------------ LazyLinear
def test_lazy_linear_infers_in_features_and_becomes_linear():
    layer = cr.nn.LazyLinear(3)
    assert repr(layer) == repr(torch.nn.LazyLinear(3))
    assert list(layer.state_dict()) == ["weight", "bias"]
    optimizer = cr.optim.SGD(layer.parameters(), lr=0.1)  # before the shapes are known
    out = layer(np.ones((2, 5), dtype=np.float32))
    assert out.shape == (2, 3) and type(layer) is cr.nn.Linear
    assert repr(layer) == "Linear(in_features=5, out_features=3, bias=True)"
    assert np.abs(layer.weight.numpy()).max() <= 1 / math.sqrt(5)
    assert np.abs(layer.weight.numpy()).max() > 0
    before = layer.weight.numpy().copy()
    out.sum().backward()
    optimizer.step()
    np.testing.assert_allclose(layer.weight.numpy(), before - 0.1 * 2, rtol=1e-6)
    assert repr(cr.nn.LazyLinear(3, bias=False)) == repr(torch.nn.LazyLinear(3, bias=False))


def test_lazy_linear_keeps_a_dtype_set_before_the_first_call():
    layer = cr.nn.LazyLinear(2).double()
    assert layer(np.ones((1, 3))).dtype == np.float64 and layer.weight.dtype == np.float64
    assert (
        torch.nn.LazyLinear(2).double()(torch.ones(1, 3, dtype=torch.float64)).dtype
        == torch.float64
    )


def test_lazy_linear_takes_its_shape_from_a_loaded_state_dict():
    torch_layer = torch.nn.Linear(4, 2, dtype=torch.float64)
    layer = cr.nn.LazyLinear(2, dtype="float64")
    load_from_torch(layer, torch_layer)
    x = np.random.default_rng(20).normal(size=(3, 4))
    np.testing.assert_allclose(layer(x).numpy(), _np(torch_layer(torch.tensor(x))), rtol=1e-12)
    with pytest.raises(ValueError, match="last axis"):
        cr.nn.LazyLinear(2)(cr.tensor(1.0))


# ------------------------------------------------------------------ cr.jit
JITTED = {
    "rrelu eval": lambda x: F.rrelu(x, 0.1, 0.3),
    "lp_pool": lambda x: F.lp_pool1d(x * x, 2, 2),
    "multi_margin": lambda x: F.multi_margin_loss(
        x.reshape(-1, x.shape[-1]), np.zeros(x.size // x.shape[-1], dtype=np.int64)
    ),
    "multilabel": lambda x: F.multilabel_margin_loss(
        x.reshape(-1, x.shape[-1]), np.zeros((x.size // x.shape[-1], x.shape[-1]), dtype=np.int64)
    ),
    "rms_norm": lambda x: F.rms_norm(x, [x.shape[-1]]),
}


@pytest.mark.parametrize("name", list(JITTED))
def test_jit_recomputes_value_masks_for_new_inputs(name):
    fn = JITTED[name]
    jitted = cr.jit(cr.grad(lambda x: (fn(x) ** 2).sum()))
    rng = np.random.default_rng(21)
    for _ in range(3):
        x = rng.normal(size=(2, 3, 6))
        expected = cr.grad(lambda a: (fn(a) ** 2).sum())(x)
        np.testing.assert_allclose(np.asarray(jitted(x)), np.asarray(expected), rtol=1e-12)


def test_every_new_name_is_public():
    for name in [
        "RMSNorm",
        "ConvTranspose1d",
        "Bilinear",
        "AlphaDropout",
        "FeatureAlphaDropout",
        "RReLU",
        "Softmax2d",
        "ChannelShuffle",
        "MaxUnpool1d",
        "MaxUnpool2d",
        "LPPool1d",
        "LPPool2d",
        "MultiMarginLoss",
        "MultiLabelMarginLoss",
        "TripletMarginWithDistanceLoss",
        "LazyLinear",
    ]:
        assert name in cr.nn.__all__ and hasattr(cr.nn, name)
    for name in [
        "rms_norm",
        "conv_transpose1d",
        "bilinear",
        "alpha_dropout",
        "feature_alpha_dropout",
        "rrelu",
        "rrelu_",
        "channel_shuffle",
        "gumbel_softmax",
        "pdist",
        "max_unpool1d",
        "max_unpool2d",
        "max_pool1d_with_indices",
        "max_pool2d_with_indices",
        "adaptive_max_pool1d_with_indices",
        "adaptive_max_pool2d_with_indices",
        "lp_pool1d",
        "lp_pool2d",
        "multi_margin_loss",
        "multilabel_margin_loss",
        "triplet_margin_with_distance_loss",
    ]:
        assert name in F.__all__ and hasattr(F, name)


def test_no_warnings_from_plain_calls():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.gumbel_softmax(np.zeros((2, 3)))
        F.pdist(np.ones((3, 2)))


# ------------------------------------------------------------------ forward mode, vmap, dtypes
FORWARD = {
    "rms_norm": (lambda x: F.rms_norm(x, [4], eps=1e-3), (2, 3, 4)),
    "bilinear": (lambda x: F.bilinear(x, x[..., :2], np.ones((3, 4, 2)) * 0.5), (3, 4)),
    "conv_transpose1d": (
        lambda x: F.conv_transpose1d(x, np.linspace(-1, 1, 18).reshape(3, 2, 3), stride=2),
        (2, 3, 5),
    ),
    "lp_pool2d": (lambda x: F.lp_pool2d(x * x + 0.5, 3.0, 2), (1, 2, 4, 4)),
    "pdist": (lambda x: F.pdist(x, 2.5), (4, 3)),
    "multilabel": (
        lambda x: F.multilabel_margin_loss(x, np.array([[1, 3, -1, 0], [2, -1, 0, 0]])),
        (2, 4),
    ),
    "unpool": (lambda x: F.max_unpool1d(x, np.array([[[1, 2, 5]]]), 2), (1, 1, 3)),
}


@pytest.mark.parametrize("name", list(FORWARD))
def test_forward_mode_agrees_with_finite_differences(name):
    fn, shape = FORWARD[name]
    rng = np.random.default_rng(22)
    x, v = rng.normal(size=shape), rng.normal(size=shape)
    _, tangent = cr.jvp(fn, (cr.tensor(x),), (cr.tensor(v),))
    h = 1e-6
    numeric = (fn(cr.tensor(x + h * v)).numpy() - fn(cr.tensor(x - h * v)).numpy()) / (2 * h)
    np.testing.assert_allclose(np.asarray(tangent), numeric, rtol=1e-6, atol=1e-8)


def test_random_layers_draw_per_example_inside_vmap():
    rows = np.asarray(cr.vmap(lambda x: F.rrelu(x, 0.1, 0.3, training=True))(-np.ones((4, 50))))
    assert not np.allclose(rows[0], rows[1])
    assert rows.min() >= -0.3 and rows.max() <= -0.1
    soft = cr.vmap(lambda x: F.gumbel_softmax(x))(np.zeros((4, 6)))
    assert not np.allclose(soft[0], soft[1])
    np.testing.assert_allclose(soft.sum(-1), 1.0)
    hard = cr.vmap(lambda x: F.gumbel_softmax(x, hard=True))(np.zeros((50, 6)))
    np.testing.assert_array_equal(hard.sum(-1), 1.0)
    assert len({int(i) for i in hard.argmax(-1)}) > 1


def test_float32_stays_float32():
    x = np.random.default_rng(23).normal(size=(2, 4, 6)).astype(np.float32)
    outs = [
        F.rms_norm(x, [6]),
        F.conv_transpose1d(x, np.ones((4, 2, 3), np.float32)),
        F.bilinear(x, x, np.ones((3, 6, 6), np.float32)),
        F.alpha_dropout(x, 0.3, True),
        F.feature_alpha_dropout(x, 0.3, True),
        F.rrelu(x, training=True),
        F.gumbel_softmax(x, hard=True),
        F.pdist(x[0]),
        F.lp_pool1d(np.abs(x), 2, 2),
        F.multi_margin_loss(x[0], np.array([0, 1, 2, 3])),
        F.multilabel_margin_loss(x[0], np.zeros((4, 6), dtype=np.int64)),
        cr.nn.Bilinear(6, 6, 2)(x, x),
        cr.nn.RMSNorm(6)(x),
    ]
    assert [o.dtype for o in outs] == [np.float32] * len(outs)


def _model(nn):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.RMSNorm(6)
            self.up = nn.ConvTranspose1d(3, 4, 3, stride=2, padding=1)
            self.act = nn.RReLU()
            self.pool = nn.LPPool1d(2, 3)
            self.shuffle = nn.ChannelShuffle(2)
            self.mix = nn.Bilinear(12, 12, 5)

        def forward(self, x):
            h = self.act(self.up(self.norm(x)))
            h = self.pool(h * h + 0.1)
            h = self.shuffle(h.reshape(h.shape[0], 4, 1, -1)).reshape(h.shape[0], -1)
            return self.mix(h, h)

    return Net()


def test_a_small_pytorch_program_gives_pytorchs_numbers():
    torch.manual_seed(0)
    theirs = _model(torch.nn).double().eval()
    ours = _model(cr.nn).double().eval()
    assert repr(ours) == repr(theirs)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(24)
    x, y = rng.normal(size=(4, 3, 6)), np.array([0, 4, 2, 1])
    loss = F.multi_margin_loss(ours(x), y, p=2)
    want = TF.multi_margin_loss(theirs(torch.tensor(x)), torch.tensor(y), p=2)
    np.testing.assert_allclose(loss.numpy(), want.detach().numpy(), rtol=1e-10)
    loss.backward()
    want.backward()
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, err_msg=name)


def _params(fn):
    import inspect

    return [(p.name, p.default, p.kind) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize(
    "name",
    [
        "RMSNorm", "Bilinear", "AlphaDropout", "FeatureAlphaDropout", "RReLU", "ChannelShuffle",
        "MaxUnpool1d", "MaxUnpool2d", "LPPool1d", "LPPool2d", "MultiMarginLoss",
        "MultiLabelMarginLoss", "TripletMarginWithDistanceLoss", "LazyLinear",
    ],
)  # fmt: skip
def test_layer_signatures_are_pytorchs(name):
    theirs = _params(getattr(torch.nn, name).__init__)
    ours = _params(getattr(cr.nn, name).__init__)
    assert ours[: len(theirs)] == theirs  # chainrule may add keywords after (generator)


@pytest.mark.parametrize(
    "name",
    [
        "rms_norm", "alpha_dropout", "feature_alpha_dropout", "rrelu", "gumbel_softmax",
        "max_unpool1d", "max_unpool2d", "max_pool1d_with_indices", "max_pool2d_with_indices",
        "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices", "lp_pool1d",
        "lp_pool2d", "multi_margin_loss", "multilabel_margin_loss",
        "triplet_margin_with_distance_loss",
    ],
)  # fmt: skip
def test_function_signatures_are_pytorchs(name):
    theirs = [(n, d) for n, d, _ in _params(getattr(TF, name))]
    ours = [(n, d) for n, d, _ in _params(getattr(F, name))]
    assert ours[: len(theirs)] == theirs


def test_builtin_signatures_are_pytorchs_documented_ones():
    # torch's C++ functions have no inspectable signature: their documented ones
    expected = {
        "conv_transpose1d": "input weight bias stride padding output_padding groups dilation",
        "bilinear": "input1 input2 weight bias",
        "channel_shuffle": "input groups",
        "pdist": "input p",
        "rrelu_": "input lower upper training",
    }
    for name, names in expected.items():
        assert [n for n, _, _ in _params(getattr(F, name))][: len(names.split())] == names.split()
    assert _params(F.conv_transpose1d)[3][1] == 1 and _params(F.pdist)[1][1] == 2
