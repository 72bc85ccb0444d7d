"""The ``element=`` section as an HTML fragment, for the explanation's page.

``element_html(report)`` draws the steps of :mod:`chainrule.explain.element` as
one table, a row per step, so that a page (and a test) can find each by its
node: ``<section class="element">`` holding one ``<tr data-node=NAME>`` per step,
with ``data-index`` (the entry, comma separated) and ``data-kind`` ("local",
"sum" or "spread"). A sum's terms are an ``<ol class="terms">`` in its row, one
``<li>`` per term up to :data:`~chainrule.explain.render_element.MAX_TERMS`; each
local derivative is a ``<li class="share" data-wrt=... data-index=...>``. The
fragment has no script and no style of its own; the page brings both.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from chainrule.explain.element import ElementStep, Share, at
from chainrule.explain.i18n import labels
from chainrule.explain.render_element import MAX_TERMS, by_input, listed, num6, sum_head, terms_text

if TYPE_CHECKING:
    from chainrule.explain.report import Report


def _index(index: tuple[int, ...] | None) -> str:
    return "" if index is None else ",".join(map(str, index))


def _share(s: ElementStep, sh: Share) -> str:
    here = at(s.node, s.index)
    src = at(sh.wrt, sh.index)
    text = sh.formula_text
    return (
        f'<li class="share" data-wrt="{escape(sh.wrt)}" data-index="{_index(sh.index)}">'
        f"∂{escape(here)}/∂{escape(src)} = {escape(text)} = {num6(sh.local)}"
        f' → <span class="passed">{escape(at(sh.wrt, sh.index))}: {num6(sh.product)}</span></li>'
    )


def _shares(s: ElementStep) -> str:
    items = []
    for name, shares in by_input(s).items():
        if len(shares) > MAX_TERMS:  # summarised, as in the text
            items.append(
                f'<li class="share" data-wrt="{escape(name)}" data-count="{len(shares)}">'
                f"{escape(name)}: {len(shares)} entries, local derivatives "
                f"{escape(listed([x.local for x in shares]))}, passed down "
                f"{escape(listed([x.product for x in shares]))}</li>"
            )
            continue
        items += [_share(s, sh) for sh in shares]
    return '<ul class="shares">' + "".join(items) + "</ul>" if items else ""


def _terms(s: ElementStep) -> str:
    head = f'<div class="sum">{escape(sum_head(s))} = {escape(terms_text(s))}</div>'
    if len(s.terms) > MAX_TERMS:
        return head + f'<div class="terms" data-count="{len(s.terms)}"></div>'
    items = []
    for k, t in enumerate(s.terms):
        names = " · ".join(at(f.node, f.index) for f in t.factors)
        values = " · ".join(num6(f.value) for f in t.factors)
        items.append(
            f'<li data-term="{k}">{escape(names)} = {escape(values)} = {num6(t.value)}</li>'
        )
    return head + f'<ol class="terms" data-count="{len(s.terms)}">' + "".join(items) + "</ol>"


def _row(s: ElementStep) -> str:
    node = escape(s.node)
    if s.kind == "spread":
        return (
            f'<tr data-node="{node}" data-kind="spread"><td>{node}</td>'
            f'<td colspan="4">the gradient reaches {s.reached} entries (see the table)</td></tr>'
        )
    entry = escape(at(s.node, s.index))
    local = (_terms(s) if s.kind == "sum" else "") + _shares(s)
    return (
        f'<tr data-node="{node}" data-index="{_index(s.index)}" data-kind="{s.kind}" '
        f'data-op="{escape(s.op)}"><td class="entry">{entry}</td>'
        f'<td class="value">{num6(s.value)}</td><td class="upstream">{num6(s.upstream)}</td>'
        f'<td class="local">{local}</td>'
        f'<td class="product">{escape(listed([x.product for x in s.shares]))}</td></tr>'
    )


def element_html(report: Report) -> str:
    """The ``element=`` entry followed back as ``<section class="element">``, one
    ``<tr data-node=NAME>`` per step; "" when the report has no element."""
    steps = report.element_steps
    if report.element is None or not steps:
        return ""
    L = labels(report.lang)
    out = escape(report.output)
    head = "".join(
        f"<th>{escape(h)}</th>"
        for h in (
            L["node"],
            L["value"],
            f"{L['upstream']} ∂{report.output}/∂·",
            L["local"],
            L["passed"],
        )
    )
    rows = "".join(_row(s) for s in steps)
    return (
        f'<section class="element" data-element="{_index(report.element)}" '
        f'data-output="{out}"><h3>{escape(L["element_sums"])}</h3>'
        f'<table class="element-steps"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )
