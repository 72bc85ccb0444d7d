"""The activations and pad added for PyTorch programs, against PyTorch 2.13."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# Values at and around the kinks (0, 6, ±1) and far out, where exp overflows.
VALUES = np.array([-800.0, -7.0, -1.0, -0.5, 0.0, 0.3, 1.0, 2.5, 6.0, 7.5, 800.0])


def _both(fn_cr, fn_torch, values=VALUES, weights=None):
    weights = np.linspace(0.5, 1.5, values.size) if weights is None else weights
    x = cr.tensor(values, requires_grad=True)
    (fn_cr(x) * cr.tensor(weights)).sum().backward()
    t = torch.tensor(values, requires_grad=True)
    out_t = fn_torch(t)
    (out_t * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(fn_cr(cr.tensor(values)).data, out_t.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), atol=1e-12)
    assert np.isfinite(x.grad.data).all() == np.isfinite(t.grad.numpy()).all()


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("silu", {}),
        ("elu", {}),
        ("elu", {"alpha": 0.5}),
        ("relu6", {}),
        ("hardtanh", {}),
        ("hardtanh", {"min_val": -2.0, "max_val": 2.5}),
        ("logsigmoid", {}),
        ("mish", {}),
    ],
)
def test_activation_values_and_gradients_match_pytorch(name, kwargs):
    _both(lambda x: getattr(F, name)(x, **kwargs), lambda t: getattr(TF, name)(t, **kwargs))


def test_softmin_matches_pytorch_along_a_dim():
    values = np.random.default_rng(0).normal(size=(3, 4))
    for dim in (0, 1, -1):
        _both(
            lambda x, d=dim: F.softmin(x, dim=d),
            lambda t, d=dim: TF.softmin(t, dim=d),
            values,
            np.arange(12.0).reshape(3, 4),
        )


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("amounts", [(1, 2), (2, 0, 1, 1)])
def test_pad_matches_pytorch(mode, amounts):
    values = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5) / 10
    weights = np.random.default_rng(1).normal(size=2 * 3 * 4 * 5)
    kwargs = {"value": 1.5} if mode == "constant" else {}
    if mode != "constant" and len(amounts) == 2:
        values = values.reshape(6, 4, 5)  # PyTorch pads one dimension of 2-d or 3-d input only
    x = cr.tensor(values, requires_grad=True)
    out = F.pad(x, amounts, mode=mode, **kwargs)
    t = torch.tensor(values, requires_grad=True)
    out_t = TF.pad(t, amounts, mode=mode, **kwargs)
    np.testing.assert_allclose(out.data, out_t.detach().numpy())
    w = np.resize(weights, out.shape)
    (out * cr.tensor(w)).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), atol=1e-12)


def test_pad_refuses_what_it_cannot_do():
    x = cr.zeros(2, 3)
    with pytest.raises(ValueError, match="cropping"):  # negative amounts crop, up to the size
        F.pad(x, (-2, -2))
    with pytest.raises(ValueError, match="mode must be one of"):
        F.pad(x, (1, 1), mode="mirror")
    with pytest.raises(ValueError, match="pairs"):
        F.pad(x, (1, 1, 1))


def test_activation_layers_wrap_the_functions():
    x = cr.tensor(VALUES)
    for layer, fn in (
        (cr.nn.SiLU(), F.silu),
        (cr.nn.ELU(alpha=0.3), lambda v: F.elu(v, 0.3)),
        (cr.nn.ReLU6(), F.relu6),
        (cr.nn.Hardtanh(-2, 2), lambda v: F.hardtanh(v, -2, 2)),
        (cr.nn.LogSigmoid(), F.logsigmoid),
        (cr.nn.Mish(), F.mish),
        (cr.nn.Softmin(dim=0), lambda v: F.softmin(v, 0)),
    ):
        np.testing.assert_array_equal(layer(x).data, fn(x).data)
    assert repr(cr.nn.ELU(alpha=0.3)) == "ELU(alpha=0.3)"
