"""Internal links of the documentation lead somewhere, checked offline.

The built site is checked by ``docs/check_links.py`` after the build (``.ci/run``);
here, the checker itself on a small site, and the links of the Markdown sources.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
sys.path.insert(0, str(DOCS))
import check_links  # noqa: E402


def _site(tmp_path: Path, pages: dict[str, str]) -> Path:
    for name, body in pages.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<html><body>{body}</body></html>", encoding="utf-8")
    return tmp_path


def test_the_checker_passes_a_site_whose_links_resolve(tmp_path):
    root = _site(
        tmp_path,
        {
            "index.html": '<a href="guide/a.html#part">a</a> <a href="#top">top</a>'
            '<p id="top"></p><img src="pic.png"> <a href="https://example.org/x">outside</a>'
            '<a href="mailto:someone@example.org">mail</a> <a href="guide/">dir</a>',
            "guide/a.html": '<h2 id="part">Part</h2><a href="../index.html">back</a>',
            "guide/index.html": "",
        },
    )
    (root / "pic.png").write_bytes(b"")
    assert check_links.broken_links(root) == []


def test_the_checker_names_a_missing_page_and_a_missing_anchor(tmp_path):
    root = _site(
        tmp_path,
        {
            "index.html": '<a href="gone.html">x</a> <a href="b.html#nowhere">y</a>'
            '<img src="img/missing.png">',
            "b.html": '<p id="somewhere"></p>',
        },
    )
    assert check_links.broken_links(root) == [
        "index.html: gone.html (no such file)",
        "index.html: b.html#nowhere (no id 'nowhere' there)",
        "index.html: img/missing.png (no such file)",
    ]
    assert check_links.main([str(root)]) == 1


def _sources() -> list[Path]:
    skip = {"_build", "generated", "jupyter_execute", "_ext"}
    return [p for p in DOCS.rglob("*.md") if not skip & set(p.relative_to(DOCS).parts)]


def test_the_markdown_sources_link_to_files_that_exist():
    link = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
    broken = []
    sources = _sources()
    assert len(sources) >= 15
    for page in sources:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in link.findall(text):
            path = target.split("#", 1)[0]
            if re.match(r"^[a-z]+:", target) or not path:
                continue
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(DOCS)}: {target}")
    assert broken == []
