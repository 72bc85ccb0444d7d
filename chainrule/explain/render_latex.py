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
from chainrule.explain.element import ElementStep
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
from chainrule.explain.render_element import MAX_TERMS, by_input, num6
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
    drill = element_blocks(ex)
    if drill:
        parts.append(f"% {L['element_sums']}")
        parts += ["\\[\n" + block + "\n\\]" for block in drill]
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


def _entry(name: str, index: tuple[int, ...] | None) -> str:
    """``x[0, 1]`` in math: the name in LaTeX form, the index as written."""
    return f"{_n(name)}[{', '.join(map(str, index))}]" if index else _n(name)


def _pattern(text: str) -> str:
    """An entry in index form (``x[0, c, 2 + p, 1 + q]``) in math."""
    head, bracket, rest = text.partition("[")
    rest = rest.replace("·", r" \cdot ").replace("…", r"\dots")
    return _n(head) + (bracket + rest if bracket else "")


def _vf(v: float) -> str:
    """A number as a factor of a product: parenthesized when negative."""
    s = num6(v)
    return f"({s})" if s.startswith("-") else s


def _values(values: list[float]) -> str:
    if len(values) <= MAX_TERMS:
        return r"\left[" + ", ".join(num6(v) for v in values) + r"\right]"
    total = num6(sum(values))
    return rf"\text{{{len(values)} values, sum }} {total}"


def _element_rows(s: ElementStep, out: str) -> list[str]:
    here = _entry(s.node, s.index)
    up_lhs = rf"\frac{{\partial {_n(out)}}}{{\partial {here}}}"
    if s.kind == "sum":
        over = (s.sum_over or "k").replace(" ", "")
        body = r" \, ".join(_pattern(f) for f in s.factors)
        extra = "".join(f" + {_entry(e.node, e.index)}" for e in s.extra)
        rows = [f"{here} &= \\sum_{{{over}}} {body}{extra}"]
        if len(s.terms) <= MAX_TERMS:
            terms = [r" \cdot ".join(_vf(f.value) for f in t.factors) for t in s.terms]
            terms += [_vf(e.value) for e in s.extra]
            rows.append("&= " + (" + ".join(terms) or "0"))
        else:
            rows.append(rf"&= \text{{(a sum of {len(s.terms)} terms)}}")
        rows[-1] += f" = {num6(s.value)}"
        rows.append(f"{up_lhs} &= {num6(s.upstream)}")
        for name, shares in by_input(s).items():
            entry, other = s.patterns.get(name, (name, "1"))
            lhs = rf"\frac{{\partial {_n(out)}}}{{\partial {_pattern(entry)}}}"
            if other == "1":
                rows.append(f"{lhs} &= {num6(s.upstream)} \\cdot 1 = {num6(shares[0].product)}")
                continue
            rows.append(
                f"{lhs} &= {num6(s.upstream)} \\cdot {_pattern(other)} = "
                + _values([x.product for x in shares])
            )
        return rows
    rows = [f"{here} &= {num6(s.value)}", f"{up_lhs} &= {num6(s.upstream)}"]
    for name, shares in by_input(s).items():
        if len(shares) > MAX_TERMS:
            lhs = rf"\frac{{\partial {_n(out)}}}{{\partial {_n(name)}}}"
            rows.append(f"{lhs} &= " + _values([x.product for x in shares]))
            continue
        for sh in shares:
            src = _entry(sh.wrt, sh.index)
            local = rf"\frac{{\partial {here}}}{{\partial {src}}}"
            lhs = rf"\frac{{\partial {_n(out)}}}{{\partial {src}}}"
            rows.append(
                f"{lhs} &= {up_lhs} \\cdot {local} = {_vf(s.upstream)} \\cdot "
                f"{factor(sh.formula)} = {_vf(s.upstream)} \\cdot "
                f"{_vf(sh.local)} = {num6(sh.product)}"
            )
    return rows


def element_blocks(ex: Report) -> list[str]:
    """The ``element=`` entry followed back, one ``aligned`` block per step; [] when
    the explanation has no element."""
    blocks = []
    for s in ex.element_steps:
        if s.kind == "spread":
            text = f"{s.node}: the gradient reaches {s.reached} entries"
            blocks.append(rf"\text{{{M.latex_text(text)}}}")
            continue
        rows = _element_rows(s, ex.output)
        blocks.append("\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}")
    return blocks


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
