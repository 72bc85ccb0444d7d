"""`chainrule explain`: every format, --at, --out (atomic), --lang, and clean errors."""

import json
import os
import subprocess
import sys

import pytest

from chainrule.cli import main
from chainrule.commands.explain import parse_value, write_atomic
from chainrule.explain.render_dot import find_dot


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_default_is_the_seed(capsys):
    code, out, err = run(capsys)
    assert code == 0 and err == ""
    assert out == run(capsys, "explain", "1/(1+exp(-z))", "--at", "z=0.5")[1]
    assert "i(h(g(f(z)))) = 1/(1 + e^-z) = 0.6224593312" in out
    assert "σ(z)(1 - σ(z))" in out


def test_the_seed_at_another_point(capsys):
    code, out, _ = run(capsys, "explain", "--at", "z=0")
    assert code == 0 and "= 0.25\n" in out


@pytest.mark.parametrize("fmt", ["text", "markdown", "latex", "html", "dot", "json"])
def test_every_format(capsys, fmt):
    code, out, err = run(capsys, "explain", "x*x + sin(x)", "--at", "x=0.7", "--format", fmt)
    assert code == 0 and err == ""
    if fmt == "json":
        d = json.loads(out)
        assert d["gradients"]["x"] == pytest.approx(2 * 0.7 + 0.7648421872844885)
        assert [n["name"] for n in d["nodes"]] == ["f", "g", "h"]
    elif fmt == "html":
        assert out.startswith("<!DOCTYPE html>") and "<math" in out
    elif fmt == "dot":
        assert out.startswith("digraph")
    elif fmt == "latex":
        assert "\\begin{cases}" in out
    else:
        assert "2.164842187" in out


@pytest.mark.skipif(find_dot() is None, reason="no Graphviz renderer (dot or graphviz-pure)")
def test_svg(capsys, tmp_path):
    target = tmp_path / "seed.svg"
    code, out, err = run(capsys, "explain", "--format", "svg", "--out", str(target))
    assert code == 0 and out == "" and err == ""
    assert "<svg" in target.read_text(encoding="utf-8")


def test_arrays_on_the_command_line(capsys):
    code, out, _ = run(
        capsys, "explain", "sum(w*x)", "--at", "w=[1, 2, 3]", "--at", "x=4,5,6", "-f", "json"
    )
    d = json.loads(out)
    assert code == 0 and d["gradients"] == {"w": [4.0, 5.0, 6.0], "x": [1.0, 2.0, 3.0]}
    assert parse_value("[[1, 2], [3, 4]]") == [[1.0, 2.0], [3.0, 4.0]]


def test_korean(capsys):
    code, out, _ = run(capsys, "explain", "--lang", "ko")
    assert code == 0 and "연쇄 법칙" in out and "국소 미분" in out


def test_out_writes_atomically(capsys, tmp_path):
    target = tmp_path / "seed.md"
    target.write_text("old", encoding="utf-8")
    code, out, _ = run(capsys, "explain", "-f", "markdown", "-o", str(target))
    assert code == 0 and out == ""
    assert "∂i/∂h = -1/h^2" in target.read_text(encoding="utf-8")
    assert sorted(os.listdir(tmp_path)) == ["seed.md"]  # no temporary file left


def test_write_atomic_leaves_the_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    target.write_text("old", encoding="utf-8")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["explain", "exp("], "chainrule explain: unexpected end of expression at column 5\n"),
        (["explain", "x +* 1", "--at", "x=1"], "at column 4"),
        (["explain", "x + y", "--at", "x=1"], "no value for 'y'"),
        (["explain", "x", "--at", "x"], "--at expects NAME=VALUE"),
        (["explain", "x", "--at", "x=abc"], "not a number: 'abc'"),
        (["explain", "x", "--at", 'x=[1, "a"]'], "not a number"),
        (["explain", "x", "--at", "x=1", "--at", "x=2"], "gives 'x' twice"),
        (["explain", "x", "--at", "x=1", "--at", "q=2"], "'q' does not appear"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unwritable_out(capsys, tmp_path):
    code, _, err = run(capsys, "explain", "-o", str(tmp_path / "missing" / "x.txt"))
    assert code == 2 and err.startswith("chainrule explain: cannot write")
    assert err.count("\n") == 1


def test_as_a_program_no_traceback():
    done = subprocess.run(
        [sys.executable, "-m", "chainrule", "explain", "exp("],
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert done.returncode == 2
    assert done.stderr == "chainrule explain: unexpected end of expression at column 5\n"
    done = subprocess.run(
        [sys.executable, "-m", "chainrule"], capture_output=True, text=True, encoding="utf-8"
    )
    assert done.returncode == 0 and "0.2350037122" in done.stdout


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["x*x", "--at", "x=3"], "x·x = 9"),  # the expression first: explain is the default
        (["--at", "x=3", "x*x"], "x·x = 9"),
        (["explain", "-x^2", "--at", "x=3"], "-x^2 = -9"),  # not an option: an expression
        (["-x^2", "--at", "x=3"], "-x^2 = -9"),
        (["explain", "--at", "x=3", "-x"], "-x = -3"),
        (["explain", "-2*x", "--at", "x=3"], "= -6"),
        (["--lang", "ko", "explain"], "연쇄 법칙"),  # options before the command word
        (["--lang", "ko", "explain", "x*x", "--at", "x=3"], "= 9"),
        (["explain", "order*2", "--at", "order=4"], "order·2 = 8"),
    ],
)
def test_the_command_line_parses_as_typed(capsys, argv, expected):
    code, out, err = run(capsys, *argv)
    assert code == 0 and err == ""
    assert expected in out


def test_json_format_with_a_dash_expression(capsys):
    code, out, _ = run(capsys, "explain", "-f", "json", "-x*x", "--at", "x=2")
    assert code == 0 and json.loads(out)["gradients"] == {"x": -4.0}


def test_a_second_dash_word_is_still_an_unknown_option(capsys):
    with pytest.raises(SystemExit) as info:  # argparse's way out, as for every usage error
        main(["explain", "-x", "--at", "x=1", "-y"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert "unrecognized arguments: -y" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "value, message",
    [
        ("x=1,y=2", "repeat it for each variable: --at x=1 --at y=2"),
        ("x=" + "1" * 401, "(401 characters) is too large for a float64"),
        ("x=[" + "1" * 401 + "]", "too large for a float64"),
    ],
)
def test_at_values_explained(capsys, value, message):
    code, out, err = run(capsys, "explain", "x", "--at", value)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1
    assert "1" * 50 not in err  # a long value is shown by its length


def test_an_oserror_on_writing_is_one_line(capsys, monkeypatch, tmp_path):
    import chainrule.commands.explain as command

    def refuse(path, data):
        raise OSError(f"{path}: not a regular file")

    # what write_atomic answers for a device path; the test never writes to one
    monkeypatch.setattr(command, "write_atomic", refuse)
    code, out, err = run(capsys, "explain", "--out", str(tmp_path / "x.txt"))
    assert code == 2 and out == ""
    assert err.startswith("chainrule explain: cannot write") and err.count("\n") == 1


def test_symbolic_timeout_option(capsys):
    pytest.importorskip("sympy")
    code, out, err = run(capsys, "explain", "x^x^x^x", "--at", "x=9", "--symbolic-timeout", "0.5")
    assert code == 0 and err == ""
    assert "symbolic form skipped: took longer than 0.5 s" in out
    assert "The chain rule" in out and "Check" in out
