"""Programs written for PyTorch run with their imports changed to chainrule's and
give PyTorch's numbers (issue 14). See tests/pytorch_programs/README.md."""

import re
from pathlib import Path

import pytest
from _programs import assert_close as check_close
from _programs import run_program

torch = pytest.importorskip("torch")

FOLDER = Path(__file__).parent / "pytorch_programs"
PROGRAMS = sorted(p.stem for p in FOLDER.glob("*.py") if not p.name.startswith("_"))

# The import lines a user changes: torch -> chainrule, torch.nn -> chainrule.nn,
# torch.optim -> chainrule.optim, torch.utils.data -> chainrule.data.
_IMPORTS = [
    (r"^import torch\.nn\.functional as (\w+)$", r"import chainrule.nn.functional as \1"),
    (r"^import torch\.nn as (\w+)$", r"import chainrule.nn as \1"),
    (r"^import torch\.optim as (\w+)$", r"import chainrule.optim as \1"),
    (r"^import torch$", "import chainrule as torch"),
    (r"^from torch\.utils\.data import ", "from chainrule.data import "),
    (r"^from torch\.nn import ", "from chainrule.nn import "),
    (r"^from torch\.optim import ", "from chainrule.optim import "),
    (r"^from torch import ", "from chainrule import "),
]


def to_chainrule(source: str) -> str:
    """The program with its imports changed, and nothing else."""
    lines = []
    for line in source.splitlines():
        for pattern, replacement in _IMPORTS:
            line = re.sub(pattern, replacement, line)
        if re.match(r"^\s*(import|from)\s+torch\b", line):
            raise AssertionError(f"an import the test does not know how to change: {line}")
        lines.append(line)
    return "\n".join(lines) + "\n"


def run(source: str, name: str) -> dict:
    return run_program(source, name, FOLDER, forget=("_weights",))


def assert_close(mine, theirs, where="results", rtol=2e-4, atol=1e-5):
    check_close(mine, theirs, where, rtol, atol, peer="PyTorch")


def test_the_import_rewrite_changes_only_imports():
    source = "import torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader\nx = 1\n"
    assert to_chainrule(source) == (
        "import chainrule as torch\nimport chainrule.nn as nn\n"
        "from chainrule.data import DataLoader\nx = 1\n"
    )


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_gives_pytorchs_numbers(name):
    source = (FOLDER / f"{name}.py").read_text()
    theirs = run(source, name)
    mine = run(to_chainrule(source), name)
    assert_close(mine, theirs)


CONVOLUTION_PROGRAMS = ["segmentation_net", "small_cnn"]  # float32 convolutions and pools


@pytest.mark.parametrize("name", CONVOLUTION_PROGRAMS)
def test_convolution_programs_give_pytorchs_numbers_with_onednn(name):
    """The same programs with chainrule's convolutions and max pools by oneDNN
    (cr.set_conv_backend("onednn"), float32): PyTorch's numbers still."""
    import chainrule as cr
    from chainrule import onednn

    source = (FOLDER / f"{name}.py").read_text()
    assert re.search(r"Conv2d|conv2d", source)
    theirs = run(source, name)
    before = cr.get_conv_backend()
    cr.set_conv_backend("onednn")
    calls = []
    original = onednn.ConvPlan.forward
    onednn.ConvPlan.forward = lambda self, *a: calls.append(1) or original(self, *a)
    try:
        mine = run(to_chainrule(source), name)
    finally:
        onednn.ConvPlan.forward = original
        cr.set_conv_backend(before)
    assert calls, "no convolution went to oneDNN"
    assert_close(mine, theirs)
