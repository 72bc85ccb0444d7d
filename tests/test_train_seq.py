"""``chainrule train --model lstm`` and ``--model vit``: the networks' shapes, a short
run on the 8x8 digits that learns, and the command end to end on a subset."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.commands import train as train_cmd
from chainrule.commands import train_models
from chainrule.nn import functional as F


@pytest.mark.parametrize("kind", ["lstm", "vit"])
def test_the_networks_take_mnist_and_digits_images(kind):
    for shape in ((1, 28, 28), (1, 8, 8)):
        model = train_cmd.build_model(kind, shape)
        x = cr.tensor(np.zeros((2, *shape), dtype=np.float32))
        assert model(x).shape == (2, 10)
    mnist = train_cmd.build_model(kind, (1, 28, 28))
    if kind == "lstm":
        assert mnist.lstm.input_size == 28 and mnist.lstm.hidden_size == 128
    else:
        assert mnist.patch == (7, 7) and len(mnist.encoder.layers) == 4
        assert mnist.encoder.layers[0].self_attn.num_heads == 4


def test_vit_refuses_an_image_that_does_not_cut_into_its_grid():
    with pytest.raises(ValueError, match="does not cut into a 4x4 grid"):
        train_models.VisionTransformer((1, 10, 10), 10)


@pytest.mark.parametrize(("kind", "lr", "epochs"), [("lstm", 1e-2, 2), ("vit", 3e-3, 4)])
def test_a_short_run_on_digits_learns(kind, lr, epochs):
    pytest.importorskip("sklearn")
    cr.nn.manual_seed(0)
    train = cr.data.Digits(train=True, limit=768)
    test = cr.data.Digits(train=False, limit=300)
    model = train_cmd.build_model(kind, train.image_shape)
    opt = cr.optim.Adam(model.parameters(), lr=lr)
    _, acc_before = train_cmd.evaluate(model, test)
    losses = []
    for _ in range(epochs):
        for x, y in cr.data.DataLoader(train, batch_size=64, shuffle=True, generator=0):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    _, acc_after = train_cmd.evaluate(model, test)
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    assert acc_after > max(0.45, acc_before + 0.25)


@pytest.mark.parametrize("kind", ["lstm", "vit"])
def test_chainrule_train_runs_the_model(tmp_path, kind):
    pytest.importorskip("sklearn")
    pytest.importorskip("safetensors")
    pytest.importorskip("matplotlib")
    out = tmp_path / kind
    args = ["train", "--model", kind, "--dataset", "digits", "--epochs", "1", "--limit-train",
            "128", "--limit-test", "64", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["model"] == kind and len(metrics["epochs"]) == 1
    model = train_cmd.build_model(kind, (1, 8, 8))
    model.load_state_dict(cr.load(out / "checkpoint.safetensors")["model"])


def test_the_sequence_models_keep_their_own_activation():
    with pytest.raises(ValueError, match="keeps its own"):
        train_cmd.build_model("lstm", (1, 28, 28), activation="tanh")
