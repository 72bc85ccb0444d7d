"""The explanation in LaTeX, as the seed writes it.

The decomposition as a ``cases`` block (``f(z) = -z``, ``g(f) = e^{f}``, ...), the
local derivatives as a ``cases`` block (``f'(z) = -1``, ...), then the product
chain, its symbolic forms and its value, in an ``aligned`` block. Needs amsmath
(MathJax and KaTeX have it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chainrule.explain import expr as E
from chainrule.explain import markup as M
from chainrule.explain.i18n import labels
from chainrule.explain.model import Local
from chainrule.explain.render_common import (
    chains,
    check_line,
    check_mark,
    composition,
    notes,
    num,
    ordered,
)
from chainrule.explain.trace import Vertex

if TYPE_CHECKING:
    from chainrule.explain.report import Report


def _n(name: str) -> str:
    return M.latex_name(name)


def function_of(v: Vertex) -> str:
    """``h(g)`` or ``h(f, g)``: the node as a function of its varying inputs."""
    seen: list[str] = []
    for _, a in v.var_inputs:
        if a.name not in seen:
            seen.append(a.name)
    return f"{_n(v.name)}({', '.join(_n(s) for s in seen)})"


def partial(of: str, wrt: str, occurrence: int = 0) -> str:
    tail = f"_{{[{occurrence}]}}" if occurrence else ""
    return rf"\frac{{\partial {_n(of)}}}{{\partial {_n(wrt)}{tail}}}"


def local_lhs(v: Vertex, loc: Local) -> str:
    if len(v.var_inputs) == 1:
        return f"{_n(v.name)}^\\prime({_n(loc.src.name)})"
    return partial(v.name, loc.src.name, loc.occurrence)


def factor(e: E.Expr) -> str:
    s = M.to_latex(e)
    atom = isinstance(e, (E.Var, E.Call)) or isinstance(e, E.Num) and e.value >= 0
    if atom:
        return s
    return rf"\left({s}\right)" if "\\frac" in s else f"({s})"


def value_factor(v) -> str:
    s = num(v)
    if s.startswith("-"):
        return f"({s})"
    return s if s[0].isdigit() else rf"\text{{{M.latex_text(s)}}}"


def decomposition(ex: Report) -> str:
    rows = [
        f"{function_of(s.vertex)} = {M.to_latex(s.definition)}"
        for s in ex.nodes
        if s.definition is not None
    ]
    return "\\begin{cases}\n" + " \\\\\n".join(rows) + "\n\\end{cases}"


def local_cases(ex: Report) -> str:
    rows = []
    for s in ex.nodes:
        for loc in s.locals:
            rows.append(f"{local_lhs(s.vertex, loc)} = {M.to_latex(loc.formula)}")
    return "\\begin{cases}\n" + " \\\\\n".join(rows) + "\n\\end{cases}"


def chain_block(ex: Report, lang: str) -> list[str]:
    """One ``aligned`` block per input: the chain, its forms and its value."""
    blocks = []
    out = ex.output
    sym = ex.symbolic
    for ch in chains(ex):
        lhs = rf"\frac{{\partial {_n(out)}}}{{\partial {_n(ch.input)}}}"
        rows: list[str] = []
        if ch.count and ch.paths != [[]]:
            terms = [
                r" \cdot ".join(partial(v.name, loc.src.name, loc.occurrence) for v, loc in p)
                for p in ch.paths
            ]
            rows.append(" + ".join(terms) + ("" if ch.complete else r" + \dots"))
            if ch.seed_order:
                p = ordered(ch, ch.paths[0])
                rows.append(r" \, ".join(local_lhs(v, loc) for v, loc in p))
            if ch.complete:
                rows.append(
                    " + ".join(
                        r" \cdot ".join(factor(loc.formula) for _, loc in ordered(ch, p))
                        for p in ch.paths
                    )
                )
        if sym is not None and sym.ok and ch.input in sym.derivatives:
            d = sym.derivatives[ch.input]
            forms = [d.in_names, d.in_inputs, d.simplified, d.closed_form]
            for f in forms:
                if f is not None:
                    text = M.to_latex(f)
                    if not rows or rows[-1] != text:
                        rows.append(text)
        if ex.scalar and ch.complete and ch.count and ch.paths != [[]]:
            rows.append(
                " + ".join(
                    r" \cdot ".join(value_factor(loc.value) for _, loc in ordered(ch, p))
                    for p in ch.paths
                )
            )
        value = num(ex.gradients[ch.input])
        rows.append(value if ex.scalar else rf"\text{{{M.latex_text(value)}}}")
        body = f"{lhs} &= " + " \\\\\n&= ".join(rows)
        blocks.append("\\begin{aligned}\n" + body + "\n\\end{aligned}")
    return blocks


def values_table(ex: Report, lang: str) -> str:
    L = labels(lang)
    out = _n(ex.output)
    head = (
        rf"\text{{{M.latex_text(L['node'])}}} & \text{{{M.latex_text(L['value'])}}} & "
        rf"\frac{{\partial {out}}}{{\partial\,\cdot}} \\ \hline"
    )
    rows = [head]
    for s in ex.steps:
        v = s.vertex
        cells = [_n(v.name), _cell(num(v.value)), _cell(num(v.grad))]
        rows.append(" & ".join(cells) + r" \\")
    return "\\begin{array}{lrr}\n" + "\n".join(rows) + "\n\\end{array}"


def _cell(s: str) -> str:
    try:
        float(s)
        return s
    except ValueError:
        return rf"\text{{{M.latex_text(s)}}}"


def render(ex: Report, lang: str, standalone: bool = False) -> str:
    L = labels(lang)
    parts = [f"% chainrule: {ex.title} ({', '.join(f'{n}' for n in ex.inputs)})"]
    comp = composition(ex)
    if ex.nodes:
        parts.append(f"% {L['decomposition']}")
        parts.append("\\[\n" + decomposition(ex) + "\n\\]")
        if comp:
            rhs = f" = {M.to_latex(ex.expression)}" if ex.expression is not None else ""
            parts.append(f"\\[\n{_latex_comp(comp)}{rhs}\n\\]")
        parts.append(f"% {L['local_derivatives']}")
        parts.append("\\[\n" + local_cases(ex) + "\n\\]")
    parts.append(f"% {L['chain']}")
    for block in chain_block(ex, lang):
        parts.append("\\[\n" + block + "\n\\]")
    parts.append(f"% {L['table']}")
    parts.append("\\[\n" + values_table(ex, lang) + "\n\\]")
    ok, text = check_line(ex, lang)
    parts.append(f"% {L['check']}: {check_mark(ex, ok)[0]} {text}")
    for n in notes(ex, lang):
        parts.append(f"% {n}")
    body = "\n\n".join(parts) + "\n"
    if standalone:
        return (
            "\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n\n"
            + body
            + "\n\\end{document}\n"
        )
    return body


def _latex_comp(comp: str) -> str:
    # i(h(g(f(z)))) with names in LaTeX form
    out, word = [], ""
    for ch in comp + "\0":
        if ch.isalnum() or ch == "_":
            word += ch
            continue
        if word:
            out.append(_n(word))
            word = ""
        if ch != "\0":
            out.append(ch)
    return "".join(out)
