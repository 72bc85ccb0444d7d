"""Padding layers (ZeroPad, ConstantPad, ReflectionPad, ReplicationPad, CircularPad in
1-3 axes) against PyTorch, and channel-wise dropout (Dropout1d/2d/3d)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

torch = pytest.importorskip("torch", reason="PyTorch (torch==2.13.0) is the oracle here")
RNG = np.random.default_rng(0)

KINDS = ["ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad"]


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    axes=st.integers(1, 3),
    data=st.data(),
    unbatched=st.booleans(),
    as_int=st.booleans(),
)
def test_padding_layers_match_torch(kind, axes, data, unbatched, as_int):
    size = tuple(data.draw(st.integers(3, 5)) for _ in range(axes))
    most = 2 if kind in ("ReflectionPad", "CircularPad") else 3
    if as_int:
        padding = data.draw(st.integers(0, most))
    else:
        padding = tuple(data.draw(st.integers(0, most)) for _ in range(2 * axes))
    args = (padding, 0.5) if kind == "ConstantPad" else (padding,)
    name = f"{kind}{axes}d"
    c_layer, t_layer = getattr(cr.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(c_layer) == repr(t_layer)
    assert c_layer.padding == t_layer.padding
    x = RNG.normal(size=((2,) if not unbatched else ()) + (3,) + size)
    xc = cr.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yc, yt = c_layer(xc), t_layer(xt)
    np.testing.assert_allclose(yc.numpy(), yt.detach().numpy(), rtol=1e-12)
    g = RNG.normal(size=tuple(yt.shape))
    yc.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_padding_layer_refuses_a_wrong_number_of_amounts():
    with pytest.raises(ValueError, match="4 ints"):
        cr.nn.ReflectionPad2d((1, 2, 3))


@pytest.mark.parametrize(
    "name, shape",
    [("Dropout1d", (64, 50, 7)), ("Dropout2d", (64, 50, 3, 4)), ("Dropout3d", (16, 50, 2, 3, 2))],
)
def test_channel_dropout_zeroes_whole_channels_and_keeps_the_mean(name, shape):
    layer = getattr(cr.nn, name)(0.3)
    assert repr(layer) == repr(getattr(torch.nn, name)(0.3))
    x = cr.tensor(np.ones(shape), requires_grad=True)
    y = layer(x).numpy()
    per_channel = y.reshape(shape[0], shape[1], -1)
    # every channel is all zeros or all 1/(1-p)
    assert np.all((per_channel == 0).all(axis=2) | np.isclose(per_channel, 1 / 0.7).all(axis=2))
    dropped = (per_channel == 0).all(axis=2).mean()
    assert 0.2 < dropped < 0.4  # 3200 or 800 channels, each dropped with p = 0.3
    again = layer(x)  # a new draw; its gradient is its own mask, scaled
    again.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), again.numpy())
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), np.ones(shape))


def test_channel_dropout_edges():
    F = cr.nn.functional
    x = cr.ones((2, 3, 4))
    np.testing.assert_array_equal(F.dropout1d(x, 1.0).numpy(), np.zeros((2, 3, 4)))
    np.testing.assert_array_equal(F.dropout1d(x, 0.0).numpy(), np.ones((2, 3, 4)))
    y = F.dropout1d(cr.ones((300, 5)), 0.5).numpy()  # unbatched (C, L): per channel
    assert np.all((y == 0).all(axis=1) | (y == 2).all(axis=1))
    y = F.dropout2d(cr.ones((100, 6, 5)), 0.5).numpy()  # 3-D: read as (N, C, L), as PyTorch
    assert np.all((y == 0).all(axis=2) | (y == 2).all(axis=2))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout2d(x, 1.5)
    with pytest.raises(ValueError, match="expected an input of 4 axes"):
        F.dropout2d(cr.ones((2, 3)), 0.5)
    with pytest.raises(NotImplementedError, match="vmap"):
        cr.vmap(lambda a: F.dropout1d(a, 0.5))(cr.ones((2, 3, 4)))


def test_dropouts_fourth_argument_is_torchs_inplace_not_a_seed():
    # F.dropout(x, p, training, inplace) in PyTorch; taken as a generator seed before,
    # True drew the same mask on every call
    F = cr.nn.functional
    masks = {tuple(F.dropout(cr.ones(16), 0.5, True, True).numpy()) for _ in range(20)}
    assert len(masks) > 1
    drop = cr.nn.Dropout(0.5, generator=cr.Generator().manual_seed(3))
    again = cr.nn.Dropout(0.5, generator=cr.Generator().manual_seed(3))
    np.testing.assert_array_equal(drop(cr.ones(16)).numpy(), again(cr.ones(16)).numpy())
