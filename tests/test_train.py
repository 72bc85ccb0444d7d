"""Training end to end: the loss falls, ``chainrule train`` writes its three outputs,
Ctrl-C saves a checkpoint, and a resumed run ends exactly where an uninterrupted
one does. All on small subsets for one or two epochs."""

from __future__ import annotations

import argparse
import json
import os
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
from chainrule.commands import train_args
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
    ns = argparse.Namespace(**{k: None for k in (*train_args._RUN_KEYS, "epochs")})
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


# ------------------------------------------------------------------ never silently wrong
TINY = ["train", "--dataset", "digits", "--limit-train", "64", "--limit-test", "32",
        "--batch-size", "64", "--no-progress"]  # fmt: skip


def _lrs(out: Path) -> list[float]:
    return [e["lr"] for e in json.loads((out / "metrics.json").read_text())["epochs"]]


@pytest.mark.parametrize(("scheduler", "first", "total"), [("cosine", 1, 2), ("cosine", 3, 6),
                                                            ("step", 3, 6)])  # fmt: skip
def test_resume_with_more_epochs_continues_the_schedule_of_the_new_total(
    tmp_path, scheduler, first, total
):
    _require("sklearn", "matplotlib", "safetensors")
    flags = [*TINY, "--scheduler", scheduler]
    assert main([*flags, "--epochs", str(total), "--out", str(tmp_path / "fresh")]) == 0
    assert main([*flags, "--epochs", str(first), "--out", str(tmp_path / "parts")]) == 0
    ckpt = str(tmp_path / "parts/checkpoint.safetensors")
    assert main(["train", "--resume", ckpt, "--epochs", str(total), "--no-progress"]) == 0
    fresh, resumed = _lrs(tmp_path / "fresh"), _lrs(tmp_path / "parts")
    assert len(resumed) == total and min(resumed) > 0
    # the epochs trained after resuming get the rates of a fresh run of the new total
    assert resumed[first:] == pytest.approx(fresh[first:], rel=1e-12)


def test_epochs_0_evaluates_and_replaces_no_file(tmp_path, capsys):
    _require("sklearn", "matplotlib", "safetensors")
    out = tmp_path / "run"
    assert main([*TINY, "--epochs", "1", "--out", str(out)]) == 0
    names = ("metrics.json", "curves.png", "checkpoint.safetensors")
    before = {name: (out / name).read_bytes() for name in names}
    accuracy = json.loads(before["metrics.json"])["final"]["test_accuracy"]
    capsys.readouterr()
    assert main([*TINY, "--epochs", "0", "--out", str(out)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    ckpt = str(out / "checkpoint.safetensors")
    assert main(["train", "--resume", ckpt, "--epochs", "0"]) == 0
    # the checkpoint's model, evaluated: the accuracy its run reported
    assert f"test accuracy {100 * accuracy:.2f}%" in capsys.readouterr().out
    assert {name: (out / name).read_bytes() for name in names} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(names)


def test_a_redirected_log_keeps_the_order_of_events(tmp_path):
    _require("sklearn", "matplotlib", "safetensors", "rich")
    import subprocess

    cmd = [sys.executable, "-m", "chainrule", *TINY[:-1], "--epochs", "2", "--out",
           str(tmp_path / "run")]  # fmt: skip
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout
    assert lines[0].startswith("training mlp on digits: 2 epochs")
    assert lines[1].startswith("epoch 1/2  train loss")
    assert lines[2].startswith("epoch 2/2  train loss")
    assert lines[3].startswith("done: ")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pseudo-terminal, as Linux has")
def test_on_a_terminal_the_progress_bars_are_drawn(tmp_path):
    _require("sklearn", "matplotlib", "safetensors", "rich")
    import pty
    import subprocess

    main_fd, child_fd = pty.openpty()
    cmd = [sys.executable, "-m", "chainrule", *TINY[:-1], "--epochs", "1", "--out",
           str(tmp_path / "run")]  # fmt: skip
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="100")
    proc = subprocess.Popen(cmd, stdin=child_fd, stdout=child_fd, stderr=child_fd, env=env)
    os.close(child_fd)
    chunks = []
    while True:  # until the child has closed the terminal: EOF, or EIO on Linux
        try:
            chunk = os.read(main_fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main_fd)
    assert proc.wait(timeout=120) == 0
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "\u2501" in text  # the bar's "━"
    assert "epoch 1/1  train loss" in text and "done: " in text


def test_one_epoch_is_singular(tmp_path, capsys):
    _require("sklearn", "matplotlib", "safetensors")
    assert main([*TINY, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "1 epochs" not in out
    assert ": 1 epoch, batch 64" in out and "after 1 epoch, " in out
    assert [train_args.plural(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]


def test_the_accuracy_axis_stops_at_100_percent(tmp_path, monkeypatch):
    _require("matplotlib")
    from matplotlib.figure import Figure

    drawn = []
    savefig = Figure.savefig

    def keep(fig, *args, **kwargs):
        drawn.append(fig)
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    history = [{"epoch": i + 1, "train_loss": 0.1, "test_loss": 0.1, "test_accuracy": acc}
               for i, acc in enumerate([0.96, 0.99, 1.0])]  # fmt: skip
    train_cmd.plot_curves(str(tmp_path / "c.png"), history, "t")
    (accuracy_axis,) = [ax for ax in drawn[0].axes if ax.get_title() == "test accuracy"]
    low, high = accuracy_axis.get_ylim()
    assert 0 <= low < 96 and high == 100
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_metrics_and_curves_go_through_the_atomic_writer(tmp_path, monkeypatch):
    _require("sklearn", "matplotlib", "safetensors")
    import chainrule._files

    written = []
    write = chainrule._files.write_atomic

    def record(path, data):
        written.append(os.path.basename(path))
        write(path, data)

    monkeypatch.setattr(chainrule._files, "write_atomic", record)
    assert main([*TINY, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    assert {"metrics.json", "curves.png"} <= set(written)


def test_a_write_that_fails_mid_run_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    _require("sklearn", "matplotlib", "safetensors")
    import chainrule._files

    write = chainrule._files.write_atomic

    def refuse_curves(path, data):
        if os.path.basename(path) == "curves.png":
            raise OSError(f"{path}: not a regular file")
        write(path, data)

    monkeypatch.setattr(chainrule._files, "write_atomic", refuse_curves)
    out = tmp_path / "run"
    assert main([*TINY, "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "curves.png: not a regular file" in err
    assert cr.load(out / "checkpoint.safetensors")["epoch"] == 1  # saved before the failure


def test_a_read_only_out_is_refused_before_any_data_loads(tmp_path, monkeypatch, capsys):
    # Root ignores permission bits, so the folder is made read-only by refusing, as the
    # system would, every file created in it.
    import errno

    folder = tmp_path / "read-only"
    folder.mkdir()
    real_open = os.open

    def read_only_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and os.path.dirname(os.path.abspath(path)) == str(folder):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    def no_data(config):
        raise AssertionError("data loaded before --out was checked")

    monkeypatch.setattr(os, "open", read_only_open)
    monkeypatch.setattr(train_cmd, "load_datasets", no_data)
    assert main([*TINY, "--epochs", "1", "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "Permission denied" in err


def test_resume_refuses_fewer_epochs_than_done(tmp_path, capsys):
    _require("sklearn", "matplotlib", "safetensors")
    out = tmp_path / "run"
    assert main([*TINY, "--epochs", "2", "--out", str(out)]) == 0
    ckpt = str(out / "checkpoint.safetensors")
    before = (out / "metrics.json").read_bytes()
    capsys.readouterr()
    assert main(["train", "--resume", ckpt, "--epochs", "1"]) == 2
    assert "--epochs 1" in capsys.readouterr().err
    assert main(["train", "--resume", ckpt]) == 0  # a finished run: nothing to train
    assert "nothing to train" in capsys.readouterr().out
    assert (out / "metrics.json").read_bytes() == before


def test_the_help_says_what_resume_and_epochs_0_do(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "0 only evaluates" in text and "writes nothing" in text
    assert "continues as a fresh run of that many epochs would have it" in text


def test_the_readme_does_not_promise_digits_the_machine_decides():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("chainrule train [--dataset") :]
    section = section[: section.index("The same in Python")]
    assert "to the last digit every time" not in section
    for factor in ("BLAS", "threads", "NumPy", "CPU"):
        assert factor in section


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
