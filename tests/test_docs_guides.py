"""The Python examples of the "Coming from" guides run.

(The Learn pages are notebooks, executed by the documentation build itself.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

GUIDES = Path(__file__).resolve().parent.parent / "docs" / "guides"
BLOCKS = [
    (page.name, k, code)
    for page in sorted(GUIDES.glob("from-*.md"))
    for k, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text("utf-8"), re.S))
]


def test_the_guides_have_examples():
    assert {name for name, _, _ in BLOCKS} == {"from-autograd.md", "from-jax.md", "from-pytorch.md"}


@pytest.mark.parametrize(("page", "index", "code"), BLOCKS, ids=[f"{p}-{k}" for p, k, _ in BLOCKS])
def test_guide_example_runs(page, index, code):
    exec(compile(code, f"{page} block {index}", "exec"), {"__name__": "__guide__"})
