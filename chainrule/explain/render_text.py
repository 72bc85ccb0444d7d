"""The explanation as text for a terminal: an aligned table, the chain, the checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chainrule.explain import expr as E
from chainrule.explain.i18n import labels
from chainrule.explain.render_common import (
    at_text,
    chains,
    check_line,
    check_mark,
    composition,
    factor,
    notes,
    num,
    ordered,
    pad,
    partial,
    symbolic_skipped,
    value_factor,
    width,
)
from chainrule.explain.render_element import element_lines

if TYPE_CHECKING:
    from chainrule.explain.report import Report


def table_rows(ex: Report, lang: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the node table (a node with several inputs takes several rows)."""
    L = labels(lang)
    out = ex.output
    header = [
        L["node"],
        L["definition"],
        L["value"],
        L["local"],
        L["local_value"],
        f"{L['upstream']} ∂{out}/∂{L['node']}",
        L["passed"],
    ]
    rows = []
    for s in ex.steps:
        v = s.vertex
        if v.is_leaf:
            kind = L["input"] if v.kind == "input" else L["leaf"]
            rows.append([v.name, kind, num(v.value), "", "", num(v.grad), ""])
            continue
        first = [v.name, f"{v.name} = {E.to_pretty(s.definition)}", num(v.value)]
        up = num(v.grad)
        if not s.locals:
            rows.append([*first, "", "", up, ""])
            continue
        for k, loc in enumerate(s.locals):
            formula = f"{partial(out, v.name, loc.src.name, loc.occurrence)} = "
            formula += E.to_pretty(loc.formula)
            lv = "" if loc.value is None else num(loc.value)
            passed = "" if loc.passed is None else f"→ {loc.src.name}: {num(loc.passed)}"
            lead = first if k == 0 else ["", "", ""]
            rows.append([*lead, formula, lv, up if k == 0 else "", passed])
    return header, rows


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, None, *rows]:
        if r is None:
            lines.append("  " + "  ".join("─" * w for w in widths))
            continue
        cells = [pad(c, widths[i], i in right) for i, c in enumerate(r)]
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines


def chain_lines(ex: Report, lang: str) -> list[str]:
    L = labels(lang)
    out = ex.output
    lines: list[str] = []
    scalar = ex.scalar
    for ch in chains(ex):
        head = f"  ∂{out}/∂{ch.input} = "
        indent = " " * (width(head) - 2) + "= "
        if ch.count == 0:
            lines.append(head + "0")
            continue
        if ch.paths == [[]]:
            lines.append(head + "1")
            continue
        terms = []
        for p in ch.paths:
            terms.append(
                " · ".join(partial(out, v.name, loc.src.name, loc.occurrence) for v, loc in p)
            )
        lines.append(head + " + ".join(terms) + ("" if ch.complete else " + …"))
        if ch.seed_order:
            p = ordered(ch, ch.paths[0])
            lines.append(indent + " · ".join(f"{v.name}'({loc.src.name})" for v, loc in p))
        formulas, values = [], []
        for p in ch.paths:
            p = ordered(ch, p)
            formulas.append(" · ".join(factor(loc.formula) for _, loc in p))
            if scalar:
                values.append(" · ".join(value_factor(loc.value) for _, loc in p))
        if ch.complete:
            lines.append(indent + " + ".join(formulas))
            if scalar:
                lines.append(indent + " + ".join(values))
        else:
            lines.append(indent + L["more_paths"].format(n=ch.count))
        lines.append(indent + num(ex.gradients[ch.input]))
    return lines


def multivariate_lines(ex: Report, lang: str) -> list[str]:
    L = labels(lang)
    out = ex.output
    lines = []
    for s in ex.steps:
        v = s.vertex
        if len(v.received) < 2:
            continue
        order = {id(x.vertex): k for k, x in enumerate(ex.steps)}
        received = sorted(v.received, key=lambda r: (order[id(r[0])], r[1]))
        parts = [f"({L['via']} {c.name}) {num(val)}" for c, _, val in received]
        lines.append(f"  ∂{out}/∂{v.name} = " + " + ".join(parts) + f" = {num(v.grad)}")
    if lines:
        lines.insert(0, f"{L['multivariate']}: {L['multivariate_intro']}")
    return lines


def symbolic_lines(ex: Report, lang: str) -> list[str]:
    L = labels(lang)
    sym = ex.symbolic
    head = L["symbolic"]
    if sym is None or not sym.ok:
        if sym is not None and sym.reason == "missing":
            lines = [head, "  " + L["sympy_missing"]]
            if ex.closed_form is not None:
                form, what, value = ex.closed_form
                name = next(iter(ex.inputs))
                note = L["closed_form"].format(what=what)
                lines.append(
                    f"  ∂{ex.output}/∂{name} = {E.to_pretty(form)} = {num(value)}   [{note}]"
                )
            return lines
        return [head, "  " + (symbolic_skipped(ex, lang) or "?")]
    lines = [head]
    out = ex.output
    for name, d in sym.derivatives.items():
        start = f"  ∂{out}/∂{name} = "
        cont = " " * (width(start) - 2) + "= "
        rows: list[tuple[str, str]] = []
        if d.in_names is not None and d.in_names != d.in_inputs:
            rows.append((E.to_pretty(d.in_names), L["in_names"]))
        rows.append((E.to_pretty(d.in_inputs), L["in_inputs"]))
        if d.simplified is not None:
            rows.append((E.to_pretty(d.simplified), L["simplified"]))
        if d.closed_form is not None:
            rows.append(
                (E.to_pretty(d.closed_form), L["closed_form"].format(what=d.closed_form_of))
            )
        w = max(width(r[0]) for r in rows)
        for k, (text, note) in enumerate(rows):
            lines.append((start if k == 0 else cont) + pad(text, w) + f"   [{note}]")
        lines.append(cont + num(d.value))
    skipped = symbolic_skipped(ex, lang)
    if skipped is not None:
        lines.append("  " + skipped)
    return lines


def render(ex: Report, lang: str) -> str:
    L = labels(lang)
    lines = [f"{L['explain']} {ex.title}  {at_text(ex, lang)}".rstrip(), ""]
    comp = composition(ex)
    body = E.to_pretty(ex.expression) if ex.expression is not None else None
    lhs = comp or ex.output
    eq = f"  {lhs} = {body} = {num(ex.value)}" if body else f"  {lhs} = {num(ex.value)}"
    lines += [eq, ""]
    header, rows = table_rows(ex, lang)
    lines += _table(header, rows, right=set())
    lines += ["", L["chain"]]
    lines += chain_lines(ex, lang)
    multi = multivariate_lines(ex, lang)
    if multi:
        lines += ["", *multi]
    drill = element_lines(ex)
    if drill:
        lines += ["", L["element_sums"], *drill]
    lines += ["", *symbolic_lines(ex, lang)]
    ok, text = check_line(ex, lang)
    mark, _ = check_mark(ex, ok)
    lines += ["", L["check"], f"  {mark} {text}"]
    for n in notes(ex, lang):
        lines.append(f"  * {n}")
    return "\n".join(lines)
