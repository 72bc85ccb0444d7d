"""The explanation as one self-contained HTML page: tables, MathML, a live graph.

Nothing is loaded from the network: the style is inline, the math is MathML Core
(which browsers draw natively), and the graph is inline SVG drawn by
:mod:`chainrule.explain.page_live`, whose one inline script makes it clickable
and steps through the forward and backward passes. The notebook fragment
(``full_page=False``) has the same tables and a still graph, without the script.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from chainrule.explain import expr as E
from chainrule.explain import markup as M
from chainrule.explain.i18n import labels
from chainrule.explain.model import Local
from chainrule.explain.page_chain import page_graph
from chainrule.explain.page_live import (
    PAGE_CSS,
    VARS,
    csp,
    graph_svg,
    live_block,
    script_block,
)
from chainrule.explain.render_common import (
    chains,
    check_line,
    check_mark,
    composition,
    inputs_text,
    notes,
    num,
    ordered,
    symbolic_skipped,
)
from chainrule.explain.render_element_html import element_html
from chainrule.explain.trace import Vertex

if TYPE_CHECKING:
    from chainrule.explain.report import Report

_VARS = VARS
_FONT = """font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK KR",
  "Apple SD Gothic Neo",sans-serif;"""
_PAGE_CSS = f"""
:root {{ {_VARS} }}
* {{ box-sizing: border-box; }}
body {{ margin:0; background:#fff; color:var(--ink); {_FONT} }}
main {{ max-width: 1040px; margin: 0 auto; padding: 28px 32px 40px; }}
header {{ border-bottom: 1px solid var(--line); padding-bottom: 14px; margin-bottom: 8px; }}
"""
_FRAGMENT_CSS = f"""
.chainrule-explain {{ {_VARS} color:var(--ink); {_FONT} }}
.chainrule-explain header {{ border-bottom: 1px solid var(--line); padding-bottom: 10px; }}
"""
_CSS = """
h1 { font-size: 22px; margin: 0 0 4px; font-weight: 650; letter-spacing: -0.01em; }
h1 .brand { color: var(--fwd); }
h2 { font-size: 15px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
     margin: 26px 0 8px; font-weight: 600; }
.point { color: var(--muted); font-variant-numeric: tabular-nums; }
math { font-size: 1.15em; font-family: "Latin Modern Math", "STIX Two Math", "Cambria Math", math; }
math[display="block"] { margin: 10px 0; }
.pair { display: flex; gap: 36px; flex-wrap: wrap; align-items: center; }
.pair > div { min-width: 220px; }
.caption { color: var(--muted); font-size: 13px; }
table.nodes { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
table.nodes th { text-align: left; font-size: 12px; font-weight: 600; color: var(--muted);
                 border-bottom: 2px solid var(--line); padding: 6px 10px; white-space: nowrap; }
table.nodes td { border-bottom: 1px solid var(--line); padding: 6px 10px; vertical-align: middle; }
table.nodes tr.leaf td { background: var(--soft); }
table.nodes tr.cont td { border-top: none; }
td.name { font-weight: 650; font-family: ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace; }
td.num { text-align: right; font-family: ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;
         font-size: 13.5px; white-space: nowrap; }
td.value { color: var(--fwd); }
td.local { color: var(--local); }
td.grad { color: var(--grad); font-weight: 600; }
td.passed { color: var(--grad); font-family: ui-monospace,Menlo,Consolas,monospace;
            font-size: 13.5px; white-space: nowrap; }
.kind { color: var(--muted); font-style: italic; }
.legend span { display:inline-block; margin-right: 18px; font-size: 13px; color: var(--muted); }
.legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; }
mtable.chain mtd:first-child { text-align: right; }
mtable.chain mtd:nth-child(2) { text-align: left; }
mtable.chain mtd:nth-child(3) { text-align: left; }
mtable.chain mtd:last-child { text-align: left; }
.tag { color: var(--muted); font-size: 12.5px; padding-left: 14px;
       font-family: system-ui, "Noto Sans", "Noto Sans CJK KR", sans-serif; }
.check { padding: 10px 14px; border-radius: 8px; background: #eef8f1; color: #17643a; }
.check.bad { background: #fdecea; color: var(--bad); }
.check.unknown { background: #f3f3f3; color: var(--muted); }
ul.notes { color: var(--muted); font-size: 13.5px; padding-left: 20px; }
.multi code { font-family: ui-monospace,Menlo,Consolas,monospace; font-size: 13.5px; }
figure { margin: 8px 0 0; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
"""


def _mi(name: str) -> str:
    return M.mathml_name(name)


def _math(inner: str, block: bool = False, label: str | None = None) -> str:
    disp = ' display="block"' if block else ""
    alt = f' alttext="{escape(label)}"' if label else ""
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML"{disp}{alt}>{inner}</math>'


def _paren(inner: str) -> str:
    return f"{M._OPEN}{inner}{M._CLOSE}"


def function_of(v: Vertex) -> str:
    seen: list[str] = []
    for _, a in v.var_inputs:
        if a.name not in seen:
            seen.append(a.name)
    return f"<mrow>{_mi(v.name)}{_paren('<mo>,</mo>'.join(_mi(s) for s in seen))}</mrow>"


def partial(of: str, wrt: str, occurrence: int = 0) -> str:
    den = f"<mo>∂</mo>{_mi(wrt)}"
    if occurrence:
        den = f"<mo>∂</mo><msub>{_mi(wrt)}<mn>[{occurrence}]</mn></msub>"
    return f"<mfrac><mrow><mo>∂</mo>{_mi(of)}</mrow><mrow>{den}</mrow></mfrac>"


def local_lhs(v: Vertex, loc: Local) -> str:
    if len(v.var_inputs) == 1:
        prime = '<mo lspace="0" rspace="0">′</mo>'
        return f"<mrow>{_mi(v.name)}{prime}{_paren(_mi(loc.src.name))}</mrow>"
    return partial(v.name, loc.src.name, loc.occurrence)


def factor(e: E.Expr) -> str:
    s = M.to_mathml(e)
    atom = isinstance(e, (E.Var, E.Call)) or isinstance(e, E.Num) and e.value >= 0
    return s if atom else f"<mrow>{_paren(s)}</mrow>"


def _value(v) -> str:
    s = num(v)
    try:
        return M.mathml_number(float(s))
    except ValueError:
        return f"<mtext>{escape(s)}</mtext>"


def _value_factor(v) -> str:
    s = num(v)
    inner = _value(v)
    return f"<mrow>{_paren(inner)}</mrow>" if s.startswith("-") else inner


def _cases(rows: list[tuple[str, str]]) -> str:
    trs = "".join(
        f'<mtr><mtd style="text-align:left">{lhs}<mo>=</mo>{rhs}</mtd></mtr>' for lhs, rhs in rows
    )
    return f'<mrow><mo stretchy="true">{{</mo><mtable>{trs}</mtable></mrow>'


def decomposition(ex: Report) -> str:
    return _cases([(function_of(s.vertex), M.to_mathml(s.definition)) for s in ex.nodes])


def local_cases(ex: Report) -> str:
    rows = []
    for s in ex.nodes:
        for loc in s.locals:
            rows.append((local_lhs(s.vertex, loc), M.to_mathml(loc.formula)))
    return _cases(rows)


def chain_tables(ex: Report, lang: str) -> list[str]:
    L = labels(lang)
    out = ex.output
    sym = ex.symbolic
    blocks = []
    for ch in chains(ex):
        lhs = partial(out, ch.input)
        rows: list[tuple[str, str]] = []
        if ch.count and ch.paths != [[]]:
            terms = [
                "<mo>·</mo>".join(partial(v.name, loc.src.name, loc.occurrence) for v, loc in p)
                for p in ch.paths
            ]
            rows.append(
                ("<mo>+</mo>".join(terms) + ("" if ch.complete else "<mo>+</mo><mo>…</mo>"), "")
            )
            if ch.seed_order:
                p = ordered(ch, ch.paths[0])
                rows.append(('<mspace width="0.2em"/>'.join(local_lhs(v, loc) for v, loc in p), ""))
            if ch.complete:
                rows.append(
                    (
                        "<mo>+</mo>".join(
                            "<mo>·</mo>".join(factor(loc.formula) for _, loc in ordered(ch, p))
                            for p in ch.paths
                        ),
                        L["product"],
                    )
                )
            else:
                rows.append((f"<mtext>{escape(L['more_paths'].format(n=ch.count))}</mtext>", ""))
        if sym is not None and sym.ok and ch.input in sym.derivatives:
            d = sym.derivatives[ch.input]
            for f, tag in (
                (None if d.in_names == d.in_inputs else d.in_names, L["in_names"]),
                (d.in_inputs, L["in_inputs"]),
                (d.simplified, L["simplified"]),
                (d.closed_form, L["closed_form"].format(what=d.closed_form_of)),
            ):
                if f is not None:
                    text = M.to_mathml(f)
                    if not rows or rows[-1][0] != text:
                        rows.append((text, tag))
        if ex.scalar and ch.complete and ch.count and ch.paths != [[]]:
            rows.append(
                (
                    "<mo>+</mo>".join(
                        "<mo>·</mo>".join(_value_factor(loc.value) for _, loc in ordered(ch, p))
                        for p in ch.paths
                    ),
                    "",
                )
            )
        rows.append((_value(ex.gradients[ch.input]), L["gradient"]))
        trs = []
        for k, (rhs, tag) in enumerate(rows):
            first = f"<mrow>{lhs}</mrow>" if k == 0 else ""
            tag_cell = f'<mtext class="tag">{escape(tag)}</mtext>' if tag else ""
            trs.append(
                f"<mtr><mtd>{first}</mtd><mtd><mo>=</mo></mtd><mtd>{rhs}</mtd>"
                f"<mtd>{tag_cell}</mtd></mtr>"
            )
        blocks.append(_math(f'<mtable class="chain">{"".join(trs)}</mtable>', block=True))
    return blocks


def node_table(ex: Report, lang: str) -> str:
    L = labels(lang)
    out = ex.output
    head = (
        f"<tr><th>{escape(L['node'])}</th><th>{escape(L['definition'])}</th>"
        f"<th>{escape(L['value'])}</th><th>{escape(L['local'])}</th>"
        f"<th>{escape(L['local_value'])}</th>"
        f"<th>{escape(L['upstream'])} ∂{escape(out)}/∂{escape(L['node'])}</th>"
        f"<th>{escape(L['passed'])}</th></tr>"
    )
    rows = [head]
    for n, s in enumerate(ex.steps):
        v = s.vertex
        node = f' data-node="n{n}"'
        if v.is_leaf:
            kind = L["input"] if v.kind == "input" else L["leaf"]
            rows.append(
                f'<tr class="leaf"{node}><td class="name">{escape(v.name)}</td>'
                f'<td class="kind">{escape(kind)}</td>'
                f'<td class="num value">{escape(num(v.value))}</td><td></td><td></td>'
                f'<td class="num grad">{escape(num(v.grad))}</td><td></td></tr>'
            )
            continue
        definition = _math(
            f"{_mi(v.name)}<mo>=</mo>{M.to_mathml(s.definition)}",
            label=f"{v.name} = {E.to_text(s.definition)}",
        )
        locals_ = s.locals or [None]
        span = len(locals_)
        for k, loc in enumerate(locals_):
            cls = ' class="cont"' if k else ""
            cells = []
            if k == 0:
                rs = f' rowspan="{span}"' if span > 1 else ""
                cells.append(f'<td class="name"{rs}>{escape(v.name)}</td>')
                cells.append(f"<td{rs}>{definition}</td>")
                cells.append(f'<td class="num value"{rs}>{escape(num(v.value))}</td>')
            if loc is None:
                cells += ["<td></td>", "<td></td>"]
            else:
                formula = _math(
                    f"{partial(v.name, loc.src.name, loc.occurrence)}<mo>=</mo>"
                    f"{M.to_mathml(loc.formula)}",
                    label=f"∂{v.name}/∂{loc.src.name} = {E.to_text(loc.formula)}",
                )
                lv = "" if loc.value is None else num(loc.value)
                cells += [f"<td>{formula}</td>", f'<td class="num local">{escape(lv)}</td>']
            if k == 0:
                rs = f' rowspan="{span}"' if span > 1 else ""
                cells.append(f'<td class="num grad"{rs}>{escape(num(v.grad))}</td>')
            if loc is None or loc.passed is None:
                cells.append("<td></td>")
            else:
                cells.append(
                    f'<td class="passed">→ {escape(loc.src.name)}: {escape(num(loc.passed))}</td>'
                )
            rows.append(f"<tr{cls}{node}>{''.join(cells)}</tr>")
    return f'<table class="nodes">{"".join(rows)}</table>'


def render(ex: Report, lang: str, full_page: bool = True, graph: bool = True) -> str:
    L = labels(lang)
    live = page_graph(ex, lang) if ex.steps else None
    if ex.expression is not None:
        title = _math(M.to_mathml(ex.expression), label=E.to_text(ex.expression))
    else:
        title = f"<code>{escape(ex.title)}</code>"
    parts = [
        "<header>",
        f'<h1><span class="brand">chainrule</span> · {escape(L["explain"])} {title}</h1>',
        "</header>",
    ]
    if ex.inputs:
        parts.insert(-1, f'<div class="point">{escape(L["at"])} {escape(inputs_text(ex))}</div>')
    comp = composition(ex)
    if ex.nodes:
        lhs = ""
        if comp:
            lhs = f"{_comp_mathml(comp)}<mo>=</mo>"
        expr_ml = f"{M.to_mathml(ex.expression)}<mo>=</mo>" if ex.expression is not None else ""
        parts.append(f"<h2>{escape(L['decomposition'])}</h2>")
        parts.append(
            '<div class="pair">'
            f"<div>{_math(decomposition(ex), block=True)}</div>"
            f"<div>{_math(f'{lhs}{expr_ml}{_value(ex.value)}', block=True)}</div>"
            "</div>"
        )
        parts.append(f"<h2>{escape(L['local_derivatives'])}</h2>")
        parts.append(_math(local_cases(ex), block=True))
    if live is not None and full_page:
        parts.append(live_block(live, _headings(L), draw=graph))
    elif live is not None and graph:
        parts.append(f"<h2>{escape(L['graph'])}</h2>")
        parts.append(f'<figure class="cr-figure">{graph_svg(live)}</figure>')
    parts.append(f"<h2>{escape(L['table'])}</h2>")
    parts.append(
        '<div class="legend">'
        f'<span><i style="background:var(--fwd)"></i>{escape(L["value"])}</span>'
        f'<span><i style="background:var(--local)"></i>{escape(L["local"])}</span>'
        f'<span><i style="background:var(--grad)"></i>{escape(L["upstream"])} · '
        f"{escape(L['passed'])}</span></div>"
    )
    parts.append(node_table(ex, lang))
    parts.append(f"<h2>{escape(L['chain'])}</h2>")
    parts += chain_tables(ex, lang)
    parts.append(element_html(ex))  # "" unless explain(..., element=...)
    from chainrule.explain.render_text import multivariate_lines

    multi = multivariate_lines(ex, lang)
    if multi:
        parts.append(f'<div class="multi"><p>{escape(multi[0])}</p><ul>')
        parts += [f"<li><code>{escape(line.strip())}</code></li>" for line in multi[1:]]
        parts.append("</ul></div>")
    text = symbolic_skipped(ex, lang)
    if text is not None:
        parts.append(f'<p class="caption">{escape(L["symbolic"])}: {escape(text)}</p>')
    ok, text = check_line(ex, lang)
    parts.append(f"<h2>{escape(L['check'])}</h2>")
    mark, state = check_mark(ex, ok)
    style = {"ok": "", "bad": " bad", "unknown": " unknown"}[state]
    parts.append(f'<p class="check{style}">{mark} {escape(text)}</p>')
    extra = notes(ex, lang)
    if extra:
        parts.append(
            '<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in extra) + "</ul>"
        )
    body = "\n".join(parts)
    if not full_page:
        # scoped with CSS nesting, so a notebook's own styles stay untouched
        css = _FRAGMENT_CSS + ".chainrule-explain {" + _CSS + PAGE_CSS + "}"
        return f'<div class="chainrule-explain"><style>{css}</style>{body}</div>'
    script = "" if live is None else script_block(live, L["step_start"])
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp()}">\n'
        f"<title>{escape(L['title_html'])} — {escape(ex.title)}</title>\n"
        f"<style>{_PAGE_CSS}{_CSS}{PAGE_CSS}</style>\n</head>\n<body>\n"
        f'<main id="cr-root">\n{body}\n</main>\n{script}\n</body>\n</html>\n'
    )


def _headings(L: dict[str, str]) -> dict[str, str]:
    return {
        "graph": L["graph"],
        "stepper": L["stepper"],
        "start": L["step_start"],
        "back": L["step_back"],
        "next": L["step_next"],
        "reset": L["step_reset"],
    }


def _comp_mathml(comp: str) -> str:
    """``i(h(g(f(z))))`` as MathML."""
    out, word = [], ""
    for ch in comp + "\0":
        if ch.isalnum() or ch == "_":
            word += ch
            continue
        if word:
            out.append(_mi(word))
            word = ""
        if ch in "(),":
            out.append(f'<mo stretchy="false" lspace="0" rspace="0">{ch}</mo>')
    return f"<mrow>{''.join(out)}</mrow>"
