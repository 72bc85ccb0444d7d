"""The README's examples and the docstring examples run and say what they claim."""

import doctest
import importlib
import re
import runpy
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_readme_python_blocks_run(index):
    exec(compile(_python_blocks()[index], f"README block {index}", "exec"), {})


def test_readme_quick_start_has_exactly_two_setup_commands():
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", quick, re.S)
    assert [c.strip() for c in commands] == [
        "pip install . && chainrule",
        'pip install -e ".[test]" && python -m pytest',
    ]


def test_transforms_example_runs(capsys):
    runpy.run_path(str(README.parent / "examples" / "transforms.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "d^3 sigma/dz^3 at 0.5: -0.0963567563" in out
    assert "jacobian (reverse) == jacfwd (forward): True" in out


@pytest.mark.parametrize(
    "name",
    [
        "chainrule",
        "chainrule.tensor",
        "chainrule.gradcheck",
        "chainrule.func",
        "chainrule.jit.api",
        "chainrule.autograd.function",
    ],
)
def test_docstring_examples(name):
    # import_module, because chainrule.tensor the attribute is the function cr.tensor
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0


def test_every_name_in_the_pytorch_reference_exists():
    import re

    import chainrule as cr
    import chainrule.autograd as autograd
    import chainrule.data as data
    import chainrule.nn as nn
    import chainrule.nn.functional as F
    import chainrule.optim as optim
    from chainrule.optim import lr_scheduler

    spaces = {
        "cr": cr,
        "nn": nn,
        "F": F,
        "optim": optim,
        "lr_scheduler": lr_scheduler,
        "data": data,
        "autograd": autograd,
        "Tensor": cr.Tensor,
    }
    text = (Path(__file__).parent.parent / "docs" / "reference" / "pytorch.md").read_text()
    names = re.findall(r"`(cr|nn|F|optim|lr_scheduler|data|autograd|Tensor)\.([\w.]+)`", text)
    assert len(names) > 250
    missing = []
    for space, dotted in names:
        obj = spaces[space]
        for part in dotted.split("."):
            obj = getattr(obj, part, missing)
        if obj is missing:
            missing.append(f"{space}.{dotted}")
    assert missing == []
