"""cr.nn: Module and containers, every layer's output and gradients (against values
computed by hand or the engine's gradcheck), initialisation, gradient clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F


@pytest.fixture(autouse=True)
def _seed():
    nn.manual_seed(0)


def rand(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


# ------------------------------------------------------------------ Module
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.scale = nn.Parameter(np.ones(2, dtype=np.float32))
        self.register_buffer("count", cr.tensor(0))
        self.register_buffer("scratch", cr.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc(x) * self.scale


def test_registration_names_and_state_dict():
    net = nn.Sequential(Block(), nn.ReLU(), nn.Linear(2, 1, bias=False))
    names = [n for n, _ in net.named_parameters()]
    assert names == ["0.scale", "0.fc.weight", "0.fc.bias", "2.weight"]
    assert list(net.state_dict()) == ["0.scale", "0.count", "0.fc.weight", "0.fc.bias", "2.weight"]
    assert [n for n, _ in net.named_buffers()] == ["0.count", "0.scratch"]
    assert [type(m).__name__ for m in net.modules()] == [
        "Sequential",
        "Block",
        "Linear",
        "ReLU",
        "Linear",
    ]
    assert [type(m).__name__ for m in net.children()] == ["Block", "ReLU", "Linear"]
    assert net[2].bias is None and net.num_parameters() == 2 + 6 + 2 + 2
    for v in net.state_dict().values():
        assert type(v) is cr.Tensor and not v.requires_grad


def test_shared_parameter_is_listed_once():
    lin = nn.Linear(2, 2)
    net = nn.Sequential(lin, lin)
    assert len(list(net.parameters())) == 2


def test_assigning_replaces_and_none_clears():
    m = Block()
    m.scale = nn.Parameter(np.zeros(2, dtype=np.float32))
    assert m._parameters["scale"] is m.scale
    with pytest.raises(TypeError, match="cr.nn.Parameter or None"):
        m.scale = np.zeros(2)
    m.fc = None
    assert [n for n, _ in m.named_parameters()] == ["scale"]
    del m.scale
    assert list(m.named_parameters()) == []


def test_load_state_dict_round_trip_copies_in_place():
    a, b = Block(), Block()
    a.fc.weight.data[...] = 7
    a.count.data[...] = 3
    weight = b.fc.weight
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert b.fc.weight is weight and np.all(weight.data == 7) and int(b.count.data) == 3


def test_strict_load_names_every_problem():
    m = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    sd = m.state_dict()
    del sd["1.bias"]
    sd["extra.weight"] = np.zeros(1)
    sd["0.weight"] = np.zeros((4, 3))
    with pytest.raises(RuntimeError) as err:
        m.load_state_dict(sd)
    text = str(err.value)
    assert 'Missing key(s) in state_dict: "1.bias"' in text
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in text
    assert "size mismatch for 0.weight: copying a param with shape (4, 3)" in text
    assert "the shape in current model is (2, 3)" in text
    # not strict: missing and unexpected keys are reported, shape mismatches still fail
    sd["0.weight"] = np.ones((2, 3))
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["1.bias"] and result.unexpected_keys == ["extra.weight"]
    assert np.all(m[0].weight.data == 1) and m[0].weight.dtype == np.float32


def test_repr_is_a_tree():
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    )
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Flatten(start_dim=1, end_dim=-1)\n"
        "    (1): Linear(in_features=4, out_features=2, bias=True)\n"
        "  )\n"
        ")"
    )
    assert repr(nn.Parameter(np.zeros(1))).startswith("Parameter containing:\ntensor(")


def test_train_eval_zero_grad_and_containers():
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    assert net.training and net[1].training
    net.eval()
    assert not net.training and not net[1].training
    net.train()
    net(np.ones((1, 2), dtype=np.float32)).sum().backward()
    assert net[0].weight.grad is not None
    net.zero_grad()
    assert net[0].weight.grad is None
    assert len(net[:1]) == 1 and isinstance(net[-1], nn.Dropout)
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    ml.append(nn.Linear(1, 1))
    ml.insert(0, nn.Sigmoid())
    assert [type(m).__name__ for m in ml] == ["Sigmoid", "ReLU", "Tanh", "Linear"]
    assert [n for n, _ in ml.named_parameters()] == ["3.weight", "3.bias"]
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    assert "a" in md and [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]


def test_module_double_for_gradcheck():
    lin = nn.Linear(3, 2).double()
    assert lin.weight.dtype == np.float64
    x = cr.tensor(rand(4, 3), requires_grad=True)
    assert cr.gradcheck(lambda a: lin(a), (x,))


# ------------------------------------------------------------------ Linear
def test_linear_values_gradients_and_init():
    lin = nn.Linear(4, 3)
    assert lin.weight.shape == (3, 4) and lin.bias.shape == (3,)
    assert lin.weight.dtype == np.float32
    assert np.abs(lin.weight.data).max() <= 0.5 and np.abs(lin.bias.data).max() <= 0.5  # 1/sqrt(4)
    x = rand(5, 4, dtype=np.float32)
    out = lin(x)
    np.testing.assert_allclose(out.data, x @ lin.weight.data.T + lin.bias.data, rtol=1e-6)
    g = rand(5, 3, seed=1, dtype=np.float32)
    (out * g).sum().backward()
    np.testing.assert_allclose(lin.weight.grad.data, g.T @ x, rtol=1e-5)
    np.testing.assert_allclose(lin.bias.grad.data, g.sum(0), rtol=1e-5)
    assert lin.weight.grad.dtype == np.float32


def test_linear_init_matches_pytorch_distribution():
    w = nn.Linear(400, 300).weight.data
    bound = 1 / math.sqrt(400)
    assert np.abs(w).max() <= bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


# ------------------------------------------------------------------ Conv2d and pooling
def test_conv2d_layer_shapes_init_and_gradcheck():
    conv = nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2))
    assert conv.weight.shape == (3, 2, 3, 2) and conv.bias.shape == (3,)
    fan_in = 2 * 3 * 2
    assert np.abs(conv.weight.data).max() <= 1 / math.sqrt(fan_in)
    x = rand(2, 2, 6, 7, dtype=np.float32)
    assert conv(x).shape == (2, 3, 3, 7)  # (6+2-2-1)//2+1, (7+2-2-1)//1+1
    conv.double()
    xt = cr.tensor(rand(1, 2, 5, 5), requires_grad=True)
    assert cr.gradcheck(lambda a: conv(a), (xt,))
    assert nn.Conv2d(2, 2, 3, padding="same")(rand(1, 2, 5, 4, dtype=np.float32)).shape == (
        1,
        2,
        5,
        4,
    )
    assert nn.Conv2d(4, 6, 3, groups=2).weight.shape == (6, 2, 3, 3)
    assert nn.Conv2d(2, 2, 3)(rand(2, 5, 5, dtype=np.float32)).shape == (2, 3, 3)  # unbatched


def test_pooling_layers():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).data[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(nn.AvgPool2d(2)(x).data[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    # padding: zeros are counted unless count_include_pad=False
    p1 = nn.AvgPool2d(2, padding=1)(x).data[0, 0]
    p2 = nn.AvgPool2d(2, padding=1, count_include_pad=False)(x).data[0, 0]
    assert p1[0, 0] == 0 / 4 and p2[0, 0] == 0 and p1[0, 1] == (1 + 2) / 4 and p2[0, 1] == 1.5
    xt = cr.tensor(rand(2, 3, 5, 6), requires_grad=True)
    assert cr.gradcheck(lambda a: F.avg_pool2d(a, 3, 2, 1, count_include_pad=False), (xt,))
    assert cr.gradcheck(lambda a: F.avg_pool2d(a, 2), (xt,))


# ------------------------------------------------------------------ Flatten, Dropout
def test_flatten():
    x = rand(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert F.flatten(x, 2).shape == (2, 3, 20)


def test_dropout_train_and_eval():
    x = np.ones((200, 100), dtype=np.float32)
    drop = nn.Dropout(0.25)
    y = drop(x).data
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert y.dtype == np.float32
    drop.eval()
    assert drop(x).data is x or np.array_equal(drop(x).data, x)
    # the gradient is the mask, scaled
    drop.train()
    xt = cr.tensor(x[:3, :4], requires_grad=True)
    out = drop(xt)
    out.sum().backward()
    np.testing.assert_array_equal(xt.grad.data, out.data)
    # reproducible from the seed
    nn.manual_seed(5)
    a = nn.Dropout(0.5)(x).data
    nn.manual_seed(5)
    b = nn.Dropout(0.5)(x).data
    np.testing.assert_array_equal(a, b)
    assert np.all(nn.Dropout(1.0)(x).data == 0)


# ------------------------------------------------------------------ normalisation
def test_batchnorm2d_training_statistics_and_eval():
    bn = nn.BatchNorm2d(3)
    x = rand(4, 3, 2, 5, dtype=np.float32) * 2 + 1
    y = bn(x).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)
    n = 4 * 2 * 5
    np.testing.assert_allclose(bn.running_mean.data, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    unbiased = x.var(axis=(0, 2, 3)) * n / (n - 1)
    np.testing.assert_allclose(bn.running_var.data, 0.9 + 0.1 * unbiased, rtol=1e-5)
    assert int(bn.num_batches_tracked.data) == 1
    assert list(bn.state_dict()) == [
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]
    bn.eval()
    expected = (x - bn.running_mean.data.reshape(1, 3, 1, 1)) / np.sqrt(
        bn.running_var.data.reshape(1, 3, 1, 1) + 1e-5
    )
    np.testing.assert_allclose(bn(x).data, expected, rtol=1e-5, atol=1e-6)
    assert int(bn.num_batches_tracked.data) == 1


def test_batchnorm_gradients():
    x = cr.tensor(rand(5, 3), requires_grad=True)
    w = cr.tensor(rand(3, seed=1), requires_grad=True)
    b = cr.tensor(rand(3, seed=2), requires_grad=True)
    assert cr.gradcheck(
        lambda a, ww, bb: F.batch_norm(a, None, None, ww, bb, training=True), (x, w, b)
    )
    rm, rv = np.zeros(3), np.ones(3) * 2
    assert cr.gradcheck(
        lambda a, ww, bb: F.batch_norm(a, rm, rv, ww, bb, training=False), (x, w, b)
    )
    x3 = cr.tensor(rand(2, 3, 4), requires_grad=True)
    bn = nn.BatchNorm1d(3).double()
    assert cr.gradcheck(lambda a: bn(a), (x3,))
    with pytest.raises(ValueError, match="has 4 features .* expects 3"):
        nn.BatchNorm1d(3)(np.zeros((2, 4)))


def test_layernorm_values_and_gradients():
    ln = nn.LayerNorm(4)
    x = rand(3, 4, dtype=np.float32)
    y = ln(x).data
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    xt = cr.tensor(rand(2, 3, 4), requires_grad=True)
    w = cr.tensor(rand(3, 4, seed=1), requires_grad=True)
    b = cr.tensor(rand(3, 4, seed=2), requires_grad=True)
    assert cr.gradcheck(lambda a, ww, bb: F.layer_norm(a, (3, 4), ww, bb), (xt, w, b))


# ------------------------------------------------------------------ Embedding
def test_embedding_lookup_and_padding_gradient():
    emb = nn.Embedding(5, 3, padding_idx=0)
    assert np.all(emb.weight.data[0] == 0)
    idx = np.array([[1, 0, 1], [4, 2, 0]])
    out = emb(idx)
    np.testing.assert_array_equal(out.data, emb.weight.data[idx])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.data[:, 0], [0, 2, 1, 0, 1])  # row 0: none
    with pytest.raises(IndexError, match="out of range for 5 embeddings"):
        emb(np.array([5]))


# ------------------------------------------------------------------ activations
def test_activation_modules():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(nn.ReLU()(x).data, np.maximum(x, 0))
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x))
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x)))
    phi = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(nn.GELU()(x).data, x * phi, atol=1e-15)
    approx = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(nn.GELU("tanh")(x).data, approx)
    s = nn.Softmax(dim=0)(x).data
    np.testing.assert_allclose(s, np.exp(x) / np.exp(x).sum())
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x).data, np.where(x >= 0, x, 0.1 * x))
    xt = cr.tensor(x + 0.1, requires_grad=True)
    for fn in (F.gelu, lambda a: F.gelu(a, "tanh"), F.softplus, F.leaky_relu):
        assert cr.gradcheck(fn, (xt,))
    # GELU'(x) = Phi(x) + x phi(x)
    xt.grad = None
    F.gelu(xt).sum().backward()
    v = xt.data
    dphi = np.array([0.5 * (1 + math.erf(a / math.sqrt(2))) for a in v]) + v * np.exp(
        -v * v / 2
    ) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(xt.grad.data, dphi, rtol=1e-12)


# ------------------------------------------------------------------ losses
def test_cross_entropy_by_hand():
    x = rand(4, 3)
    t = np.array([0, 2, 1, 2])
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    nll = -logp[np.arange(4), t]
    assert F.cross_entropy(x, t).item() == pytest.approx(nll.mean())
    assert F.cross_entropy(x, t, reduction="sum").item() == pytest.approx(nll.sum())
    np.testing.assert_allclose(F.cross_entropy(x, t, reduction="none").data, nll)
    # gradient: (softmax - onehot) / N
    xt = cr.tensor(x, requires_grad=True)
    F.cross_entropy(xt, t).backward()
    np.testing.assert_allclose(xt.grad.data, (np.exp(logp) - np.eye(3)[t]) / 4)
    assert nn.CrossEntropyLoss()(x, t).item() == pytest.approx(nll.mean())


def test_cross_entropy_label_smoothing_weight_and_ignore_index():
    x = rand(5, 4)
    t = np.array([0, 3, -100, 1, 3])
    w = np.array([1.0, 2.0, 0.5, 3.0])
    eps = 0.2
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    valid = t != -100
    tv = np.where(valid, t, 0)
    # PyTorch's rule: (1-eps) * weighted nll + eps/C * sum_c w_c (-logp_c), over sum of w[t]
    nll = -logp[np.arange(5), tv] * w[tv] * valid
    smooth = -(logp * w).sum(1) * valid
    expected = ((1 - eps) * nll.sum() + eps / 4 * smooth.sum()) / (w[tv] * valid).sum()
    got = F.cross_entropy(x, t, weight=w, ignore_index=-100, label_smoothing=eps)
    assert got.item() == pytest.approx(expected)
    xt = cr.tensor(x, requires_grad=True)
    assert cr.gradcheck(lambda a: F.cross_entropy(a, t, weight=w, label_smoothing=eps), (xt,))
    with pytest.raises(IndexError, match="target 4 is out of range for 4 classes"):
        F.cross_entropy(x, np.array([0, 1, 2, 3, 4]))


def test_cross_entropy_probabilities_and_spatial_targets():
    x = rand(2, 3, 4, 5)  # N, C, H, W
    t = np.random.default_rng(1).integers(0, 3, size=(2, 4, 5))
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    nll = -np.take_along_axis(logp, t[:, None], axis=1)[:, 0]
    np.testing.assert_allclose(F.cross_entropy(x, t, reduction="none").data, nll)
    q = np.random.default_rng(2).dirichlet(np.ones(3), size=(2, 4, 5)).transpose(0, 3, 1, 2)
    expected = -(q * logp).sum(1).mean()
    assert F.cross_entropy(x, q).item() == pytest.approx(expected)
    qt = cr.tensor(q, requires_grad=True)
    assert cr.gradcheck(lambda p: F.cross_entropy(x, p, label_smoothing=0.1), (qt,))
    # unbatched
    assert F.cross_entropy(x[0, :, 0, 0], t[0, 0, 0]).item() == pytest.approx(nll[0, 0, 0])


def test_cross_entropy_is_stable_and_keeps_float32():
    x = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]], dtype=np.float32)
    loss = F.cross_entropy(x, np.array([0, 0]))
    assert loss.dtype == np.float32 and loss.item() == pytest.approx(1000.0)


def test_nll_mse_l1():
    logp = np.log(np.array([[0.2, 0.8], [0.6, 0.4]]))
    t = np.array([1, 0])
    assert F.nll_loss(logp, t).item() == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    assert F.nll_loss(logp, t, weight=np.array([1.0, 3.0])).item() == pytest.approx(
        -(3 * np.log(0.8) + np.log(0.6)) / 4
    )
    a, b = rand(3, 2), rand(3, 2, seed=1)
    assert F.mse_loss(a, b).item() == pytest.approx(((a - b) ** 2).mean())
    assert nn.MSELoss(reduction="sum")(a, b).item() == pytest.approx(((a - b) ** 2).sum())
    assert F.l1_loss(a, b).item() == pytest.approx(np.abs(a - b).mean())
    with pytest.raises(ValueError, match="reduction must be"):
        F.mse_loss(a, b, reduction="avg")


def test_binary_cross_entropy_with_logits():
    x = np.array([-3.0, -0.2, 0.0, 0.7, 5.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    s = 1 / (1 + np.exp(-x))
    plain = -(y * np.log(s) + (1 - y) * np.log(1 - s))
    assert F.binary_cross_entropy_with_logits(x, y).item() == pytest.approx(plain.mean())
    pw = np.array([2.0])
    weighted = -(pw * y * np.log(s) + (1 - y) * np.log(1 - s))
    got = F.binary_cross_entropy_with_logits(x, y, reduction="none", pos_weight=pw)
    np.testing.assert_allclose(got.data, weighted)
    # stable: no overflow or log(0) at |x| = 1000, exact limits
    big = F.binary_cross_entropy_with_logits(
        np.array([1000.0, -1000.0]), np.array([0.0, 1.0]), reduction="none"
    )
    np.testing.assert_allclose(big.data, [1000.0, 1000.0])
    xt = cr.tensor(x, requires_grad=True)
    assert cr.gradcheck(lambda a: F.binary_cross_entropy_with_logits(a, y, pos_weight=pw), (xt,))
    # d/dx at 0 is sigmoid(0) - y = -0.5 for y = 1
    xt.grad = None
    F.binary_cross_entropy_with_logits(xt, y, reduction="sum").backward()
    np.testing.assert_allclose(xt.grad.data, s - y)
    p = cr.tensor(s, requires_grad=True)
    assert F.binary_cross_entropy(p, y).item() == pytest.approx(plain.mean())
    assert nn.BCEWithLogitsLoss()(x, y).item() == pytest.approx(plain.mean())
    edge = cr.tensor(np.array([0.0, 1.0]), requires_grad=True)
    loss = F.binary_cross_entropy(edge, np.array([1.0, 0.0]), reduction="none")
    np.testing.assert_allclose(loss.data, [100.0, 100.0], rtol=1e-6)
    loss.sum().backward()
    assert np.all(np.isfinite(edge.grad.data))


# ------------------------------------------------------------------ init
def test_init_functions_follow_the_formulas():
    big = nn.Parameter(np.zeros((400, 300), dtype=np.float32))
    fan_in, fan_out = 300, 400
    nn.init.xavier_uniform_(big)
    b = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(big.data).max() <= b and big.data.std() == pytest.approx(
        b / math.sqrt(3), rel=0.02
    )
    nn.init.xavier_normal_(big, gain=2.0)
    assert big.data.std() == pytest.approx(2 * math.sqrt(2 / (fan_in + fan_out)), rel=0.02)
    nn.init.kaiming_uniform_(big, nonlinearity="relu")
    assert np.abs(big.data).max() <= math.sqrt(6 / fan_in)
    nn.init.kaiming_normal_(big, mode="fan_out", nonlinearity="relu")
    assert big.data.std() == pytest.approx(math.sqrt(2 / fan_out), rel=0.02)
    conv_w = nn.Parameter(np.zeros((8, 4, 3, 3)))
    assert nn.init._calculate_fan_in_and_fan_out(conv_w) == (36, 72)
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    g = np.random.default_rng(3)
    a = nn.init.normal_(nn.Parameter(np.zeros(5)), generator=g).data.copy()
    b = nn.init.normal_(nn.Parameter(np.zeros(5)), generator=np.random.default_rng(3)).data
    np.testing.assert_array_equal(a, b)
    assert np.all(nn.init.constant_(nn.Parameter(np.zeros(2)), 0.5).data == 0.5)


# ------------------------------------------------------------------ utils
def test_clip_grad_norm_and_value():
    p1 = nn.Parameter(np.zeros(2))
    p2 = nn.Parameter(np.zeros(1))
    p1.grad = cr.tensor([3.0, 0.0])
    p2.grad = cr.tensor([4.0])
    total = nn.utils.clip_grad_norm_([p1, p2], max_norm=1.0)
    assert float(total) == pytest.approx(5.0)
    np.testing.assert_allclose(
        np.concatenate([p1.grad.data, p2.grad.data]), [0.6, 0, 0.8], rtol=1e-6
    )
    # under the limit: unchanged
    assert float(nn.utils.clip_grad_norm_([p1, p2], max_norm=10.0)) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(p2.grad.data, [0.8], rtol=1e-5)
    assert float(nn.utils.clip_grad_norm_([p1, p2], 1.0, norm_type=math.inf)) == pytest.approx(
        0.8, rel=1e-5
    )
    p2.grad = cr.tensor([np.nan])
    with pytest.raises(RuntimeError, match="non"):
        nn.utils.clip_grad_norm_([p1, p2], 1.0, error_if_nonfinite=True)
    p1.grad = cr.tensor([-3.0, 2.0])
    nn.utils.clip_grad_value_([p1], 1.0)
    np.testing.assert_array_equal(p1.grad.data, [-1.0, 1.0])
    lin = nn.Linear(2, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    nn.utils.vector_to_parameters(vec.data * 0 + 1, lin.parameters())
    assert np.all(lin.weight.data == 1) and vec.shape == (6,)


# ------------------------------------------------------------------ docstring examples
@pytest.mark.parametrize(
    "name",
    [
        "chainrule.nn",
        "chainrule.nn.functional",
        "chainrule.nn.init",
        "chainrule.nn.module",
        "chainrule.nn.param_containers",
        "chainrule.nn.parameter",
        "chainrule.nn.rng",
        "chainrule.nn.utils",
        "chainrule.optim",
        "chainrule.optim.lr_scheduler",
        "chainrule.data",
        "chainrule.data.dataset",
        "chainrule.data.dataloader",
        "chainrule.serialization",
    ],
)
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
