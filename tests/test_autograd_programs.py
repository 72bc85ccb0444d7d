"""Programs written in HIPS autograd's style run with chainrule and, with their
imports changed back to autograd's, give autograd's numbers (issue 15).

Each ``examples/autograd/*.py`` (not starting with ``_``) is a chainrule program
that fills a module-level dict ``results``; run with ``CHAINRULE_SHORT=1`` it is a
short version. The test runs it as written and again with its import lines
rewritten to autograd (see examples/autograd/README.md), and compares the two
``results`` to 1e-5 relative (1e-8 absolute)."""

import re
from pathlib import Path

import pytest
from _programs import assert_close as check_close
from _programs import run_program

FOLDER = Path(__file__).resolve().parent.parent / "examples" / "autograd"
PROGRAMS = sorted(p.stem for p in FOLDER.glob("*.py") if not p.name.startswith("_"))

# chainrule's namespaces that mirror autograd's, and nothing else.
_MIRRORED = r"(?:\.(?:numpy|scipy|misc|extend|builtins|test_util)(?:\.\w+)*)?"
_IMPORTS = [
    (rf"^(\s*)from chainrule({_MIRRORED}) import (.+)$", r"\1from autograd\2 import \3"),
    (rf"^(\s*)import chainrule({_MIRRORED}) as (\w+)$", r"\1import autograd\2 as \3"),
]


def to_autograd(source: str) -> str:
    """The program with its chainrule imports changed to autograd's, and nothing else."""
    lines = []
    for line in source.splitlines():
        changed = line
        for pattern, replacement in _IMPORTS:
            changed = re.sub(pattern, replacement, changed)
        if re.match(r"^\s*(import|from)\s+chainrule\b", changed):
            raise AssertionError(f"an import line the test does not know how to change: {line}")
        lines.append(changed)
    return "\n".join(lines) + "\n"


def run(source: str, name: str) -> dict:
    return run_program(source, name, FOLDER, forget=())


def assert_close(mine, theirs, where="results", rtol=1e-5, atol=1e-8):
    check_close(mine, theirs, where, rtol, atol, peer="autograd")


def test_the_import_rewrite_changes_only_imports():
    source = (
        "import os\nimport numpy.random as npr\nimport chainrule.numpy as np\n"
        "import chainrule.numpy.random as cnpr\nfrom chainrule import grad, jacobian\n"
        "import chainrule.scipy.stats.norm as norm\nfrom chainrule.scipy.special import gammaln\n"
        "from chainrule.misc.optimizers import adam\nfrom chainrule.misc import flatten\n"
        "from chainrule.extend import primitive, defvjp\nfrom chainrule.builtins import tuple\n"
        "from chainrule.test_util import check_grads\nimport chainrule as ag\nx = 'chainrule'\n"
    )
    assert to_autograd(source) == (
        "import os\nimport numpy.random as npr\nimport autograd.numpy as np\n"
        "import autograd.numpy.random as cnpr\nfrom autograd import grad, jacobian\n"
        "import autograd.scipy.stats.norm as norm\nfrom autograd.scipy.special import gammaln\n"
        "from autograd.misc.optimizers import adam\nfrom autograd.misc import flatten\n"
        "from autograd.extend import primitive, defvjp\nfrom autograd.builtins import tuple\n"
        "from autograd.test_util import check_grads\nimport autograd as ag\nx = 'chainrule'\n"
    )


@pytest.mark.parametrize(
    "line", ["import chainrule", "import chainrule.numpy", "import chainrule.nn as nn"]
)
def test_unknown_import_lines_fail(line):
    with pytest.raises(AssertionError, match="does not know how to change"):
        to_autograd(line + "\n")


def test_the_comparison_can_fail():
    with pytest.raises(AssertionError):
        assert_close({"a": [1.0, 2.0]}, {"a": [1.0, 2.0001]})
    with pytest.raises(AssertionError):
        assert_close({"a": 1.0}, {"b": 1.0})


def test_there_are_programs():
    assert {"neural_net", "rnn"} <= set(PROGRAMS)  # (other branches add more)


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_gives_autograds_numbers(name, monkeypatch):
    monkeypatch.setenv("CHAINRULE_SHORT", "1")
    source = (FOLDER / f"{name}.py").read_text()
    mine = run(source, name)
    theirs = run(to_autograd(source), name)
    assert mine and theirs, "the program filled no results"
    assert_close(mine, theirs)


def test_the_complex_program_descends_and_finds_the_roots(monkeypatch):
    # complex_fit.py is compared with autograd above like every program; here, that
    # its numbers mean what they say (conj of autograd's gradient is a descent step).
    monkeypatch.setenv("CHAINRULE_SHORT", "1")
    assert "complex_fit" in PROGRAMS
    results = run((FOLDER / "complex_fit.py").read_text(), "complex_fit")
    for history in (results["filter_loss"], results["oscillation_loss"]):
        assert history[-1] < 0.2 * history[0]
        assert all(b <= a + 1e-12 for a, b in zip(history, history[1:]))
    assert max(results["residuals"]) < 1e-10
