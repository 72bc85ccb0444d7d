"""`chainrule explain` as a program: bad input gets exit status 2 and one line, never a
traceback. (To be merged into tests/test_no_traceback.py, which covers `train`.)"""

import subprocess
import sys

import pytest

DIGITS_401 = "1" * 401

BAD = [
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


def run(argv):
    return subprocess.run(
        [sys.executable, "-m", "chainrule", *argv],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


@pytest.mark.parametrize("argv", BAD, ids=lambda a: " ".join(a)[:60])
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
