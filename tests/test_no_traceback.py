"""Bad input to the ``chainrule`` command (``train`` and ``explain``): one line on stderr,
exit status 2, never a traceback. Each case runs the real command in a subprocess.

A case is an argv list after ``chainrule``. ``{name}`` in an argument is replaced by a
path from the ``paths`` fixture (files made in ``tmp_path``), so a case can point at a
regular file, a read-only folder or a damaged checkpoint.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

DIGITS = ["train", "--dataset", "digits", "--limit-train", "64", "--limit-test", "32",
          "--epochs", "1", "--no-progress"]  # fmt: skip
TRAIN_OUT = [*DIGITS, "--out", "{tmp}/run"]

CASES = [
    # flags out of range: rejected before any data loads
    [*TRAIN_OUT, "--batch-size", "0"],
    [*TRAIN_OUT, "--batch-size", "-5"],
    [*TRAIN_OUT, "--epochs", "-1"],
    [*TRAIN_OUT, "--limit-train", "0"],
    [*TRAIN_OUT, "--limit-train", "-100"],
    [*TRAIN_OUT, "--limit-test", "0"],
    [*TRAIN_OUT, "--lr", "nan"],
    [*TRAIN_OUT, "--lr", "inf"],
    [*TRAIN_OUT, "--lr", "-1"],
    [*TRAIN_OUT, "--lr", "0"],
    [*TRAIN_OUT, "--seed", "-1"],
    [*TRAIN_OUT, "--seed", str(2**32)],
    # flags argparse itself refuses
    [*TRAIN_OUT, "--batch-size", "many"],
    [*TRAIN_OUT, "--dataset", "cifar"],
    # --out that cannot take the run's files
    [*DIGITS, "--out", "{file}"],
    [*DIGITS, "--out", "{file}/run"],
    [*DIGITS, "--out", "{readonly}"],
    [*DIGITS, "--out", "{metrics_is_a_folder}"],
    # --resume of something that is not a complete checkpoint of the run it names
    ["train", "--resume", "{tmp}/no-such-checkpoint.safetensors"],
    ["train", "--resume", "{junk}"],
    ["train", "--resume", "{truncated}"],
    ["train", "--resume", "{foreign}"],
    ["train", "--resume", "{missing_keys}"],
    ["train", "--resume", "{settings_missing}"],
    ["train", "--resume", "{wrong_shape}"],
    ["train", "--resume", "{wrong_dtype}"],
    ["train", "--resume", "{optimizer_incomplete}"],
    ["train", "--resume", "{checkpoint}", "--lr", "0.5"],
    ["train", "--resume", "{checkpoint}", "--epochs", "2", "--out", "{file}"],
    ["train", "--resume", "{checkpoint}", "--epochs", "0", "--out", "{file}/run"],
    # --explain-every is a count of epochs
    [*TRAIN_OUT, "--explain-every", "0"],
    [*TRAIN_OUT, "--explain-every", "-2"],
    [*TRAIN_OUT, "--explain-every", "two"],
    # explain --model: flags out of range, a language it has not, checkpoints that
    # are missing, damaged or of another network
    ["explain", "--model", "mlp", "--dataset", "digits", "--depth", "0"],
    ["explain", "--model", "mlp", "--dataset", "digits", "--depth", "-3"],
    ["explain", "--model", "mlp", "--dataset", "digits", "--activation", "foo"],
    ["explain", "--model", "mlp", "--dataset", "digits", "--lang", "ko"],
    ["explain", "--model", "cnn", "--dataset", "digits", "--depth", "3"],
    ["explain", "--model", "mlp", "--dataset", "digits", "--at", "x=1"],
    ["explain", "--model", "mlp", "--dataset", "digits", "--seed", "-1"],
    ["explain", "--depth", "3"],
    ["explain", "--model", "mlp", "--checkpoint", "{tmp}/no-such-checkpoint.safetensors"],
    ["explain", "--checkpoint", "{junk}"],
    ["explain", "--checkpoint", "{foreign}"],
    ["explain", "--checkpoint", "{wrong_shape}"],
    ["explain", "--checkpoint", "{checkpoint}", "--depth", "3"],
    ["explain", "--checkpoint", "{checkpoint}", "--model", "cnn"],
    ["explain", "--checkpoint", "{checkpoint}", "--activation", "sigmoid"],
    ["explain", "--checkpoint", "{checkpoint}", "--dataset", "mnist"],
    ["explain", "--checkpoint", "{checkpoint}", "--seed", "3"],
    ["explain", "--checkpoint", "{odd_model}"],
    ["explain", "--model", "mlp", "--dataset", "digits", "--out", "{tmp}/missing/net.txt"],
]


def _read_only_folder(tmp_path) -> str:
    """A folder no file can be created in, or skip: root ignores permission bits, so
    then /sys stands in where the system mounts it read-only."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    candidates = [str(folder), "/sys"]
    for candidate in candidates:
        try:
            with open(os.path.join(candidate, ".probe"), "wb"):
                pass
        except OSError:
            return candidate
        os.unlink(os.path.join(candidate, ".probe"))
    pytest.skip("no read-only folder here (running as root, /sys writable)")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    """A real checkpoint of one short run on the digits."""
    pytest.importorskip("sklearn")
    pytest.importorskip("safetensors")
    from chainrule.commands import train as train_cmd

    out = tmp_path_factory.mktemp("ckpt")
    config = train_cmd.TrainConfig(dataset="digits", epochs=1, batch_size=32, limit_train=64,
                                   limit_test=32)  # fmt: skip
    train_cmd.fit(config, str(out), progress=False, log=lambda s: None)
    return str(out / "checkpoint.safetensors")


@pytest.fixture
def paths(tmp_path, checkpoint) -> dict[str, str]:
    def damaged(name, change):
        state = cr.load(checkpoint)
        change(state)
        path = tmp_path / f"{name}.safetensors"
        cr.save(state, path)
        return str(path)

    def drop_optimizer_buffer(state):
        del state["optimizer"]["state"][0]["exp_avg"]

    def wrong_shape(state):
        state["model"]["1.weight"] = np.zeros((3, 3), np.float32)

    def wrong_dtype(state):
        w = state["model"]["1.weight"]
        state["model"]["1.weight"] = w.data.astype(np.float64)

    file = tmp_path / "a-file.txt"
    file.write_text("not a folder\n")
    folder = tmp_path / "taken"
    (folder / "metrics.json").mkdir(parents=True)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"junk")
    truncated = tmp_path / "truncated.safetensors"
    data = Path(checkpoint).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    foreign = tmp_path / "foreign.safetensors"
    cr.save({"w": np.ones(2)}, foreign)
    return {
        "tmp": str(tmp_path),
        "file": str(file),
        "metrics_is_a_folder": str(folder),
        "junk": str(junk),
        "truncated": str(truncated),
        "foreign": str(foreign),
        "checkpoint": checkpoint,
        "missing_keys": damaged("missing", lambda s: [s.pop(k) for k in ("optimizer", "rng")]),
        "settings_missing": damaged("settings", lambda s: s["config"].pop("lr")),
        "wrong_shape": damaged("shape", wrong_shape),
        "wrong_dtype": damaged("dtype", wrong_dtype),
        "optimizer_incomplete": damaged("optimizer", drop_optimizer_buffer),
        "odd_model": damaged("odd", lambda s: s["config"].update(model="resnet")),
    }


def _case_id(argv: list[str]) -> str:
    for common in (TRAIN_OUT, DIGITS):
        if argv[: len(common)] == common:
            return " ".join(["train ...", *argv[len(common) :]])
    return " ".join(argv)


@pytest.mark.parametrize("argv", CASES, ids=_case_id)
def test_bad_input_is_one_line_and_exit_status_2(argv, paths, tmp_path):
    if any("{readonly}" in a for a in argv):
        paths = dict(paths, readonly=_read_only_folder(tmp_path))
    args = []
    for arg in argv:  # only the named placeholders: other braces stay as they are
        for name, path in paths.items():
            arg = arg.replace("{" + name + "}", path)
        args.append(arg)
    done = subprocess.run(
        [sys.executable, "-m", "chainrule", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert len(lines) == 1, done.stderr
    # nothing was trained: no epoch line, no run folder
    assert "epoch 1/1" not in done.stdout
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()


# ---------------------------------------------------------------------- explain
DIGITS_401 = "1" * 401

EXPLAIN_CASES = [
    # shapes that do not broadcast
    ["explain", "x+y", "--at", "x=1,2", "--at", "y=1,2,3"],
    # a 401-digit value, plain and in JSON (float64 tops out near 1.8e308)
    ["explain", "x", "--at", f"x={DIGITS_401}"],
    ["explain", "x", "--at", f"x=[{DIGITS_401}]"],
    ["explain", "x", "--at", f"x=1,{DIGITS_401}"],
    # two variables in one --at
    ["explain", "x+y", "--at", "x=1,y=2"],
    # an order above the cap, and one that is not a number
    ["explain", "x*x", "--at", "x=1", "--order", "20"],
    ["explain", "x*x", "--at", "x=1", "--order", "abc"],
    # the constants cannot be given values
    ["explain", "e*x", "--at", "e=2", "--at", "x=1"],
    # a budget that is not one
    ["explain", "x", "--at", "x=1", "--symbolic-timeout", "0"],
    ["explain", "x", "--at", "x=1", "--symbolic-timeout", "soon"],
    # an option explain does not have
    ["explain", "x", "--at", "x=1", "--bogus"],
    # options before the command, then a bad expression
    ["--lang", "ko", "explain", "exp("],
    # an expression starting with '-', with its variable missing
    ["-x^2"],
    # wrt names no input
    ["explain", "order*wrt", "--at", "order=1", "--at", "wrt=2", "--order", "2", "--wrt", "q"],
    # --out into a folder that does not exist (never a device path: tests run as root)
    ["explain", "--out", "{tmp}/missing/seed.txt"],
]


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chainrule", *argv],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


@pytest.mark.parametrize("argv", EXPLAIN_CASES, ids=lambda a: " ".join(a)[:60])
def test_bad_explain_input_is_one_line(argv, tmp_path):
    done = run([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("chainrule explain: ")
    assert done.returncode == 2
    assert done.stdout == ""


@pytest.mark.parametrize(
    "argv, expected",
    [
        # variables named like explain's own parameters
        (["explain", "order*2", "--at", "order=1"], "order·2 = 2"),
        (["explain", "wrt*wrt", "--at", "wrt=3", "--order", "2"], "d/dwrt wrt·wrt"),
        # the expression first, without the command word
        (["x*x", "--at", "x=3"], "x·x = 9"),
        (["-x^2", "--at", "x=3"], "-x^2 = -9"),
        # the constants of the seed's own notation
        (["1/(1+e^-z)", "--at", "z=0.5"], "0.2350037122"),
    ],
)
def test_inputs_that_used_to_fail_now_work(argv, expected):
    done = run(argv)
    assert done.returncode == 0 and done.stderr == ""
    assert expected in done.stdout
