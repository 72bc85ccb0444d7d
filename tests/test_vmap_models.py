"""Per-example gradients of small networks: vmap(grad(loss)) against a loop over
examples and against torch.func.vmap(torch.func.grad(...))."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")
tfunc = pytest.importorskip("torch.func")

rng = np.random.default_rng(3)


def mlp_params(d_in=6, hidden=5, classes=3):
    return {
        "w1": rng.standard_normal((hidden, d_in)) * 0.5,
        "b1": rng.standard_normal(hidden) * 0.1,
        "w2": rng.standard_normal((classes, hidden)) * 0.5,
        "b2": rng.standard_normal(classes) * 0.1,
    }


def cr_mlp_loss(p, x, y):
    h = F.relu(F.linear(x, p["w1"], p["b1"]))
    logits = F.linear(h, p["w2"], p["b2"])
    return F.cross_entropy(logits[None], y[None])


def torch_mlp_loss(p, x, y):
    h = torch.nn.functional.relu(torch.nn.functional.linear(x, p["w1"], p["b1"]))
    logits = torch.nn.functional.linear(h, p["w2"], p["b2"])
    return torch.nn.functional.cross_entropy(logits[None], y[None])


def cnn_params():
    return {
        "conv": rng.standard_normal((4, 1, 3, 3)) * 0.4,
        "conv_b": rng.standard_normal(4) * 0.1,
        "fc": rng.standard_normal((3, 4 * 3 * 3)) * 0.3,
        "fc_b": rng.standard_normal(3) * 0.1,
    }


def cr_cnn_loss(p, x, y):
    h = F.relu(F.conv2d(x[None], p["conv"], p["conv_b"], padding=1))
    h = F.max_pool2d(h, 2)
    logits = F.linear(h.reshape(1, -1), p["fc"], p["fc_b"])
    return F.cross_entropy(logits, y[None])


def torch_cnn_loss(p, x, y):
    h = torch.nn.functional.relu(
        torch.nn.functional.conv2d(x[None], p["conv"], p["conv_b"], padding=1)
    )
    h = torch.nn.functional.max_pool2d(h, 2)
    logits = torch.nn.functional.linear(h.reshape(1, -1), p["fc"], p["fc_b"])
    return torch.nn.functional.cross_entropy(logits, y[None])


CASES = {
    "mlp": (mlp_params, cr_mlp_loss, torch_mlp_loss, (6,)),
    "cnn": (cnn_params, cr_cnn_loss, torch_cnn_loss, (1, 6, 6)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_per_example_gradients_match_a_loop_and_torch_func(name):
    make, cr_loss, torch_loss, shape = CASES[name]
    params = make()
    xs = rng.standard_normal((8, *shape))
    ys = rng.integers(0, 3, 8)

    got = cr.vmap(cr.grad(cr_loss), in_axes=(None, 0, 0))(params, xs, ys)
    for b in range(len(xs)):
        one = cr.grad(cr_loss)(params, xs[b], ys[b])
        for k in params:
            np.testing.assert_allclose(got[k][b], one[k], rtol=1e-10, atol=1e-12)

    tp = {k: torch.tensor(v) for k, v in params.items()}
    ref = tfunc.vmap(tfunc.grad(torch_loss), in_dims=(None, 0, 0))(
        tp, torch.tensor(xs), torch.tensor(ys)
    )
    for k in params:
        assert got[k].shape == tuple(ref[k].shape)
        np.testing.assert_allclose(got[k], ref[k].numpy(), rtol=1e-9, atol=1e-12)


def test_per_example_gradients_of_a_module_in_float32():
    net = cr.nn.Sequential(
        cr.nn.Conv2d(1, 3, 3), cr.nn.ReLU(), cr.nn.Flatten(), cr.nn.Linear(3 * 4 * 4, 2)
    )
    params = {k: v.detach() for k, v in net.named_parameters()}
    xs = cr.tensor(rng.standard_normal((5, 1, 6, 6)).astype(np.float32))
    ys = cr.tensor(rng.integers(0, 2, 5))

    def loss(p, x, y):
        return F.cross_entropy(cr.func.functional_call(net, p, (x[None],)), y[None])

    got = cr.vmap(cr.grad(loss), in_axes=(None, 0, 0))(params, xs, ys)
    for k, v in params.items():
        assert got[k].dtype == np.float32
        assert got[k].shape == (5, *v.shape)
        ref = np.stack([cr.grad(loss)(params, xs[b], ys[b])[k].numpy() for b in range(5)])
        np.testing.assert_allclose(got[k].numpy(), ref, rtol=1e-5, atol=1e-6)
