"""The explanation in Markdown: the node table, and the math as ``$$`` LaTeX blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chainrule.explain import markup as M
from chainrule.explain.i18n import labels
from chainrule.explain.render_common import (
    at_text,
    check_line,
    check_mark,
    composition,
    notes,
    num,
    symbolic_skipped,
)
from chainrule.explain.render_element import element_lines
from chainrule.explain.render_latex import _latex_comp, chain_block, decomposition, local_cases
from chainrule.explain.render_text import multivariate_lines, table_rows

if TYPE_CHECKING:
    from chainrule.explain.report import Report


def _cell(s: str, code: bool = False) -> str:
    s = s.replace("|", "\\|")
    if code and s:
        return f"`{s}`"
    return s


def render(ex: Report, lang: str) -> str:
    L = labels(lang)
    out = [f"### {L['explain']} `{ex.title}` {at_text(ex, lang)}".rstrip(), ""]
    comp = composition(ex)
    if ex.nodes:
        out += [f"**{L['decomposition']}**", "", "$$", decomposition(ex), "$$", ""]
        if comp:
            rhs = f" = {M.to_latex(ex.expression)}" if ex.expression is not None else ""
            out += ["$$", f"{_latex_comp(comp)}{rhs} = {num(ex.value)}", "$$", ""]
        out += [f"**{L['local_derivatives']}**", "", "$$", local_cases(ex), "$$", ""]
    out += [f"**{L['table']}**", ""]
    header, rows = table_rows(ex, lang)
    out.append("| " + " | ".join(_cell(h) for h in header) + " |")
    out.append("|" + "|".join([":--", ":--", "--:", ":--", "--:", "--:", ":--"]) + "|")
    for r in rows:
        cells = [_cell(r[0]), _cell(r[1], True), _cell(r[2]), _cell(r[3], True)]
        cells += [_cell(c) for c in r[4:]]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", f"**{L['chain']}**", ""]
    for block in chain_block(ex, lang):
        out += ["$$", block, "$$", ""]
    multi = multivariate_lines(ex, lang)
    if multi:
        out += [f"**{multi[0]}**", ""]
        out += [f"- `{line.strip()}`" for line in multi[1:]]
        out.append("")
    drill = element_lines(ex)
    if drill:  # plain text in a fence: the sums line up as in the terminal
        out += [f"**{L['element_sums']}**", "", "```text", *drill, "```", ""]
    text = symbolic_skipped(ex, lang)
    if text is not None:
        out += [f"*{L['symbolic']}: {text}*", ""]
    ok, text = check_line(ex, lang)
    out += [f"**{L['check']}**: {check_mark(ex, ok)[0]} {text}"]
    for n in notes(ex, lang):
        out.append(f"- {n}")
    return "\n".join(out) + "\n"
