"""docs/reference/scipy.md: its example runs, and every function it lists exists."""

from __future__ import annotations

import re
from pathlib import Path

import chainrule.scipy as cs

DOC = Path(__file__).resolve().parent.parent / "docs" / "reference" / "scipy.md"


def test_the_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {})


def test_every_listed_function_exists():
    text = DOC.read_text(encoding="utf-8")
    special = text.split("## `chainrule.scipy.special`", 1)[1].split("\n## ", 1)[0]
    first_cells = re.findall(r"^\| ([^|]+) \|", special, re.M)
    names = {n for cell in first_cells for n in re.findall(r"`(\w+)\(", cell)}
    assert len(names) >= 30
    for name in names:
        assert callable(getattr(cs.special, name)), name
    stats = text.split("## `chainrule.scipy.stats`", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", stats, re.M)
    assert len(rows) == 8
    for dist, functions in rows:
        for name in re.findall(r"\w+", functions):
            assert callable(getattr(getattr(cs.stats, dist), name)), (dist, name)
    linalg = text.split("## `chainrule.scipy.linalg`", 1)[1].split("\n## ", 1)[0]
    for name in re.findall(r"^\| `(\w+)\(", linalg, re.M):
        assert name in cs.linalg.__all__, name
