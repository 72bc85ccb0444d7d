"""Training end to end: the loss falls, ``chainrule train`` writes its three outputs,
Ctrl-C saves a checkpoint, and a resumed run ends exactly where an uninterrupted
one does. All on small subsets for one or two epochs."""

from __future__ import annotations

import json
import runpy
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.cli import main
from chainrule.commands import train as train_cmd
from chainrule.nn import functional as F

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _require(*modules):
    for m in modules:
        pytest.importorskip(m)


# ------------------------------------------------------------------ the loss falls
def test_a_short_run_on_digits_lowers_the_loss():
    _require("sklearn")
    cr.nn.manual_seed(0)
    train = cr.data.Digits(train=True, limit=512)
    test = cr.data.Digits(train=False)
    model = train_cmd.build_model("mlp", train.image_shape)
    opt = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    before, acc_before = train_cmd.evaluate(model, test)
    losses = []
    for x, y in cr.data.DataLoader(train, batch_size=32, shuffle=True, generator=0):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    after, acc_after = train_cmd.evaluate(model, test)
    assert np.mean(losses[-4:]) < 0.6 * np.mean(losses[:4])
    assert after < 0.6 * before and acc_after > 0.7 > acc_before


def test_a_short_cnn_run_on_mnist_lowers_the_loss():
    _require("zarr", "pureml")
    cr.nn.manual_seed(0)
    train = cr.data.MNIST(train=True, limit=640)
    model = train_cmd.build_model("cnn", train.image_shape)
    opt = cr.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for x, y in cr.data.DataLoader(train, batch_size=64, shuffle=True, generator=0):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])


# ------------------------------------------------------------------ the command
def _outputs_ok(out: Path, epochs: int) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["epochs"]) == epochs
    for key in ("train_loss", "test_loss", "test_accuracy", "seconds", "samples_per_second"):
        assert key in metrics["epochs"][-1]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = cr.load(out / "checkpoint.safetensors")
    assert state["format"] == "chainrule-train/1" and state["epoch"] == epochs
    return metrics


def test_chainrule_train_writes_checkpoint_metrics_and_curves(tmp_path, capsys):
    _require("sklearn", "matplotlib", "safetensors")
    out = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--epochs", "1", "--limit-train", "300",
            "--limit-test", "100", "--batch-size", "50", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    metrics = _outputs_ok(out, 1)
    assert metrics["config"]["limit_train"] == 300 and metrics["epochs"][0]["test_accuracy"] > 0.3
    text = capsys.readouterr()
    assert "epoch 1/1" in text.out and "test accuracy" in text.out and "done:" in text.out
    # the checkpoint loads into the model it came from
    model = train_cmd.build_model("mlp", (1, 8, 8))
    model.load_state_dict(cr.load(out / "checkpoint.safetensors")["model"])


def test_chainrule_train_cnn_on_an_mnist_subset(tmp_path):
    _require("zarr", "pureml", "matplotlib", "safetensors")
    out = tmp_path / "cnn"
    args = ["train", "--model", "cnn", "--epochs", "1", "--limit-train", "256",
            "--limit-test", "200", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    _outputs_ok(out, 1)


def _fit(tmp_path, name, config, **kw):
    return train_cmd.fit(config, str(tmp_path / name), progress=False, log=lambda s: None, **kw)


def _weights(path):
    return {k: v.data for k, v in cr.load(path)["model"].items()}


@pytest.mark.parametrize("stop_at", [5, 8])  # mid-epoch; the last step of epoch 1
def test_ctrl_c_saves_and_resume_matches_an_uninterrupted_run(tmp_path, monkeypatch, stop_at):
    _require("sklearn", "matplotlib", "safetensors")
    build = train_cmd.build_model

    def with_dropout(kind, shape, classes=10):  # so the global generator matters too
        return nn.Sequential(build(kind, shape, classes), nn.Dropout(0.3))

    monkeypatch.setattr(train_cmd, "build_model", with_dropout)
    config = train_cmd.TrainConfig(dataset="digits", epochs=2, batch_size=32, limit_train=256,
                                   limit_test=64, seed=3)  # fmt: skip
    whole = _fit(tmp_path, "whole", config)

    def press_ctrl_c(step):
        if step == stop_at:
            signal.raise_signal(signal.SIGINT)  # the real handler: finish the step, save, stop

    with pytest.raises(train_cmd.TrainingInterrupted) as stopped:
        _fit(tmp_path, "parts", config, on_step=press_ctrl_c)
    ckpt = Path(stopped.value.checkpoint)
    state = cr.load(ckpt)
    assert state["global_step"] == stop_at
    # mid-epoch: where the epoch stands; at its last step: the epoch is finished first
    assert (state["epoch"], state["step_in_epoch"]) == ((0, stop_at) if stop_at < 8 else (1, 0))
    assert json.loads((ckpt.parent / "metrics.json").read_text())["interrupted"]
    resumed = train_cmd.fit(
        config, str(ckpt.parent), resume=str(ckpt), progress=False, log=lambda s: None
    )
    a, b = _weights(tmp_path / "whole/checkpoint.safetensors"), _weights(ckpt)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    for x, y in zip(whole["epochs"], resumed["epochs"]):
        assert x["train_loss"] == y["train_loss"] and x["test_accuracy"] == y["test_accuracy"]


def test_resume_through_the_command_line(tmp_path, capsys):
    _require("sklearn", "matplotlib", "safetensors")
    out = tmp_path / "r"
    base = ["train", "--dataset", "digits", "--limit-train", "128", "--limit-test", "64",
            "--batch-size", "64", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main([*base, "--epochs", "1"]) == 0
    ckpt = str(out / "checkpoint.safetensors")
    assert main(["train", "--resume", ckpt, "--epochs", "2", "--no-progress"]) == 0
    _outputs_ok(out, 2)
    assert main(["train", "--resume", ckpt, "--lr", "0.5"]) == 2
    assert "only --epochs and --out may change" in capsys.readouterr().err
    cr.save({"w": np.ones(2)}, tmp_path / "other.safetensors")
    assert main(["train", "--resume", str(tmp_path / "other.safetensors")]) == 2
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    assert main(["train", "--resume", str(tmp_path / "junk.safetensors")]) == 2
    assert "cannot resume" in capsys.readouterr().err


def test_config_defaults():
    ns = train_cmd.argparse.Namespace(**{k: None for k in (*train_cmd._RUN_KEYS, "epochs")})
    config = train_cmd.config_from_args(ns)
    assert (config.dataset, config.model, config.optimizer, config.lr) == (
        "mnist",
        "mlp",
        "adam",
        1e-3,
    )
    ns.model, ns.optimizer = "cnn", "sgd"
    config = train_cmd.config_from_args(ns)
    assert (
        config.epochs == train_cmd.DEFAULT_EPOCHS["cnn"]
        and config.lr == train_cmd.DEFAULT_LR["sgd"]
    )


# ------------------------------------------------------------------ examples
def test_sigmoid_by_hand_example(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["sigmoid_by_hand.py", "0.5", "-3"])
    runpy.run_path(str(EXAMPLES / "sigmoid_by_hand.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "0.235003712202" in out and "equals backpropagation" in out


@pytest.mark.parametrize("script", ["mnist_mlp.py", "mnist_cnn.py"])
def test_mnist_examples_run(script, capsys, monkeypatch):
    _require("zarr", "pureml")
    monkeypatch.setattr(sys, "argv", [script, "--epochs", "1", "--limit", "256"])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    assert "epoch 1: train loss" in capsys.readouterr().out


def test_a_real_ctrl_c_to_the_command_saves_and_exits_130(tmp_path):
    _require("sklearn", "matplotlib", "safetensors", "rich")
    import os
    import subprocess
    import time

    out = tmp_path / "sig"
    cmd = [sys.executable, "-m", "chainrule", "train", "--dataset", "digits", "--epochs", "10000",
           "--batch-size", "16", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.safetensors").exists():  # the first epoch is done
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted: checkpoint saved" in stdout and "--resume" in stdout
    state = cr.load(out / "checkpoint.safetensors")
    assert 0 < state["global_step"] < 10000 * 90
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["interrupted"] and os.path.getsize(out / "curves.png") > 0
