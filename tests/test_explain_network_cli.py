"""`chainrule explain --model` (a built-in network, explained) and `train --explain-every`.

Everything runs on the 8x8 digits (scikit-learn): small and quick, no download.
Bad input is covered with the other commands' in test_no_traceback.py.
"""

import json

import pytest

from chainrule.cli import main

pytest.importorskip("sklearn")

MLP = ["explain", "--model", "mlp", "--dataset", "digits"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["text", "markdown", "latex", "html", "dot", "svg", "json"])
def test_every_network_format(capsys, fmt):
    code, out, err = run(capsys, *MLP, "--format", fmt)
    assert code == 0 and err == ""
    if fmt == "json":
        d = json.loads(out)
        # Flatten, then train's network: Linear 512, ReLU, Linear 256, ReLU, Linear 10
        types = [layer["type"] for layer in d["layers"]]
        assert types == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
        assert d["layers"][-1]["output_shape"] == [64, 10]  # a batch of 64 test images
        assert d["diagnosis"]
    elif fmt == "html":
        assert out.lstrip().lower().startswith("<!doctype html")
    elif fmt == "latex":
        assert "\\begin{tabular}" in out and "\\end{itemize}" in out and "& Linear &" in out
        assert out.count(" \\\\") == 7  # the header and six layers
    elif fmt == "dot":
        assert out.startswith("digraph chainrule_network {") and out.rstrip().endswith("}")
        assert out.count(" -> ") == 7  # input, six layers, loss: a chain
    elif fmt == "svg":
        assert out.startswith("<?xml") and "<svg" in out and out.rstrip().endswith("</svg>")
        assert out.count('class="gnode') == 8 and "<style>" in out
    else:
        assert "cross_entropy" in out and "Linear" in out


def test_the_output_is_reproducible_and_the_seed_changes_it(capsys):
    first = run(capsys, *MLP, "--format", "json")[1]
    assert run(capsys, *MLP, "--format", "json")[1] == first
    assert run(capsys, *MLP, "--format", "json", "--seed", "1")[1] != first


def _network(capsys, activation, *extra):
    code, out, err = run(
        capsys, *MLP, "--depth", "10", "--activation", activation, "-f", "json", *extra
    )
    assert code == 0 and err == ""
    return json.loads(out)


def test_sigmoid_vanishes_where_relu_keeps_the_gradient(capsys):
    """The seed's argument on a real network: ten Sigmoid layers each pass at most 1/4."""
    sigmoid, relu = _network(capsys, "sigmoid"), _network(capsys, "relu")
    assert [t["type"] for t in sigmoid["layers"]].count("Sigmoid") == 10
    assert sigmoid["product"][0] < 1e-6
    assert "each Sigmoid multiplies it by at most 1/4" in sigmoid["diagnosis"][0]
    # ReLU passes its gradient unchanged where it is active: four orders of magnitude more
    # reach the first layer (the default init still shrinks it a little per Linear)
    assert relu["product"][0] > 1e4 * sigmoid["product"][0]
    assert not any("Sigmoid" in sentence for sentence in relu["diagnosis"])


def test_he_init_keeps_relu_s_gradient_and_xavier_does_not_save_the_sigmoid(capsys):
    """With the initialisation made for it, ReLU keeps the gradient's size through ten
    layers; Sigmoid still shrinks it, because σ' ≤ 1/4 whatever the weights."""
    relu = _network(capsys, "relu", "--init", "he")
    assert 0.1 < relu["product"][0] < 10
    assert relu["diagnosis"][0].startswith("no vanishing, exploding, dead or saturated layers")
    linear_gains = [t["gain"] for t in relu["layers"][1:-1] if t["type"] == "Linear"]
    assert min(linear_gains) > 1.2  # Kaiming's: each Linear about √2, each ReLU about 1/√2
    sigmoid = _network(capsys, "sigmoid", "--init", "xavier")
    assert sigmoid["product"][0] < 1e-3
    assert "each Sigmoid multiplies it by at most 1/4" in sigmoid["diagnosis"][0]
    default = _network(capsys, "relu")
    assert relu["product"][0] > 100 * default["product"][0]


def test_init_with_a_checkpoint_is_refused(capsys, tmp_path):
    code, out, err = run(capsys, *MLP, "--init", "he", "--checkpoint", str(tmp_path / "c"))
    assert code == 2 and out == ""
    assert err.strip().endswith(
        "--init he starts an untrained network; --checkpoint gives the weights"
    )
    assert err.count("\n") == 1


def test_the_command_word_may_be_left_out(capsys):
    code, out, _ = run(capsys, "--model", "mlp", "--dataset", "digits", "--depth", "1")
    assert code == 0 and "Linear" in out


def test_out_writes_the_file_atomically(capsys, tmp_path):
    target = tmp_path / "net.md"
    target.write_text("old\n")
    code, out, err = run(capsys, *MLP, "--format", "markdown", "--out", str(target))
    assert code == 0 and out == "" and err == ""
    assert target.read_text().startswith("### Explain Sequential")
    assert not [p for p in tmp_path.iterdir() if p.name != "net.md"]  # no temporary left


def _train(tmp_path, *extra):
    out = tmp_path / "run"
    argv = ["train", "--dataset", "digits", "--limit-train", "64", "--limit-test", "32",
            "--batch-size", "32", "--no-progress", "--out", str(out), *extra]  # fmt: skip
    assert main(argv) == 0
    return out


def test_a_checkpoint_is_explained_with_its_weights(capsys, tmp_path):
    pytest.importorskip("safetensors")
    ckpt = _train(tmp_path, "--epochs", "1") / "checkpoint.safetensors"
    capsys.readouterr()
    trained = json.loads(run(capsys, "explain", "--checkpoint", str(ckpt), "-f", "json")[1])
    fresh = json.loads(run(capsys, *MLP, "-f", "json")[1])
    assert [x["type"] for x in trained["layers"]] == [x["type"] for x in fresh["layers"]]
    assert trained["loss"] != fresh["loss"]
    # flags that agree with the checkpoint are allowed
    code, _, err = run(capsys, *MLP, "--depth", "2", "--checkpoint", str(ckpt))
    assert code == 0 and err == ""


def test_explain_every_writes_an_explanation_every_n_epochs(tmp_path):
    pytest.importorskip("safetensors")
    out = _train(tmp_path, "--epochs", "3", "--explain-every", "2")
    written = sorted(p.name for p in out.glob("explain-epoch-*"))
    expected = ["explain-epoch-2.json"]
    try:
        import matplotlib  # noqa: F401

        expected.append("explain-epoch-2.png")
    except ImportError:
        pass
    assert written == expected
    d = json.loads((out / "explain-epoch-2.json").read_text())
    assert d["layers"][-1]["output_shape"] == [32, 10]  # --limit-test 32: all of it


def test_explaining_does_not_change_the_training(tmp_path):
    pytest.importorskip("safetensors")
    plain = json.loads((_train(tmp_path / "a", "--epochs", "2") / "metrics.json").read_text())
    explained = _train(tmp_path / "b", "--epochs", "2", "--explain-every", "1")
    metrics = json.loads((explained / "metrics.json").read_text())
    losses = [[e["train_loss"], e["test_loss"]] for e in plain["epochs"]]
    assert [[e["train_loss"], e["test_loss"]] for e in metrics["epochs"]] == losses
