"""Sphinx extension: the API reference, generated from chainrule itself.

At every build it writes one page per public module (``docs/api/generated/``,
not kept in git) holding a ``chainrule-api`` directive, and the directive expands
into autodoc entries grouped as :mod:`api_catalog` says. Nothing lists names by
hand, so a name added to an ``__all__`` appears at the next build.
"""

from __future__ import annotations

import re
from pathlib import Path

import api_catalog
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

GENERATED = Path("api") / "generated"


class ChainruleAPI(SphinxDirective):
    """``chainrule-api MODULE``: the grouped reference of one public module."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        text = api_catalog.module_rst(self.arguments[0])
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(
            self.state, StringList(text.splitlines(), "chainrule-api"), container
        )
        return container.children


def _page(modname: str) -> str:
    # eval-rst: the directive's autodoc entries are reStructuredText, parsed as such.
    return f"# `{modname}`\n\n```{{eval-rst}}\n.. chainrule-api:: {modname}\n```\n"


def write_pages(app: Sphinx) -> None:
    """One page per public module; files are rewritten only when they change."""
    folder = Path(app.srcdir) / GENERATED
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {f"{m}.md": _page(m) for m in api_catalog.public_modules()}
    for stale in folder.glob("*.md"):
        if stale.name not in wanted:
            stale.unlink()
    for name, text in wanted.items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


_STARRED = re.compile(r"(?<![\w*\\])(\*\*?)(?=[A-Za-z_])(\w+)\b(?!\*)")


def plain_markup(
    app: Sphinx, what: str, name: str, obj: object, options: dict, lines: list
) -> None:
    """Docstrings are plain prose: ``|x|`` is an absolute value, ``*args`` Python's.

    reST would read a substitution and an unclosed emphasis; outside inline
    literals, bars and the stars of ``*args``/``**kwargs`` are escaped (``*word*``
    stays emphasis).
    """
    for k, line in enumerate(lines):
        parts = line.split("``")
        for i in range(0, len(parts), 2):
            starred = _STARRED.sub(lambda m: "\\*" * len(m.group(1)) + m.group(2), parts[i])
            parts[i] = starred.replace("|", "\\|")
        lines[k] = "``".join(parts)


_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s#]+)(#[^)\s]*)?\)")


def repository_links(app: Sphinx, docname: str, source: list[str]) -> None:
    """A Markdown link to a file of the repository outside ``docs/`` (``../../README.md``)
    becomes the text and the file's path: the site holds only ``docs/``, and pages
    written for GitHub (``docs/reference/*.md``) link such files freely."""
    if app.env.doc2path(docname).suffix != ".md":
        return
    here = (Path(app.srcdir) / docname).parent
    srcdir = Path(app.srcdir).resolve()

    def rewrite(match: re.Match) -> str:
        text, target = match.group(1), match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            return match.group(0)  # http:, mailto:, ...
        resolved = (here / target).resolve()
        if resolved.is_relative_to(srcdir) or not resolved.exists():
            return match.group(0)  # inside the site, or broken: Sphinx says so
        return f"{text} (`{resolved.relative_to(srcdir.parent)}` in the repository)"

    source[0] = _LINK.sub(rewrite, source[0])


def setup(app: Sphinx) -> dict:
    app.add_directive("chainrule-api", ChainruleAPI)
    app.connect("source-read", repository_links)
    app.connect("autodoc-process-docstring", plain_markup)
    app.connect("builder-inited", write_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
