"""One output entry followed back through the graph, as plain text lines.

Draws the steps of :mod:`chainrule.explain.element` as the seed shows the
sigmoid: the entry's value, the upstream gradient, each local derivative and the
product passed down; a matmul's or a convolution's entry as its sum, written out
term by term up to :data:`MAX_TERMS` terms and summarised by count and value past
that. Read by the text and Markdown renderers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.explain import expr as E
from chainrule.explain.element import ElementStep, Share, at

if TYPE_CHECKING:
    from chainrule.explain.report import Report

#: a sum with at most this many terms is written out; a longer one is summarised
MAX_TERMS = 8


def num6(v: Any) -> str:
    """A number as the element section shows it (6 significant digits)."""
    return E.format_number(float(v), 6)


def listed(values: list[float]) -> str:
    """``[a, b, c]`` for a few values, else their count and sum."""
    if len(values) <= MAX_TERMS:
        return "[" + ", ".join(num6(x) for x in values) + "]"
    return f"{len(values)} values, sum {num6(np.sum(values))}"


def terms_text(s: ElementStep) -> str:
    """``a0·b0 + a1·b1 + …`` (and the bias) for a short sum, else its count."""
    if len(s.terms) <= MAX_TERMS:
        parts = ["·".join(num6(f.value) for f in t.factors) for t in s.terms]
    else:
        parts = [f"(a sum of {len(s.terms)} terms)"]
    parts += [num6(e.value) for e in s.extra]
    return " + ".join(parts) if parts else "0"


def sum_head(s: ElementStep) -> str:
    """``Σ_k x[1, k]·w[k, 2] + b[2]``: the entry's sum in index form."""
    over = s.sum_over if s.sum_over is not None and len(s.sum_over) == 1 else f"{{{s.sum_over}}}"
    return f"Σ_{over} {s.formula}" + "".join(f" + {at(e.node, e.index)}" for e in s.extra)


def by_input(s: ElementStep) -> dict[str, list[Share]]:
    """The step's shares grouped by the input they go to, in order of appearance."""
    groups: dict[str, list[Share]] = {}
    for sh in s.shares:
        groups.setdefault(sh.wrt, []).append(sh)
    return groups


def _local_lines(s: ElementStep, out: str) -> list[str]:
    here = at(s.node, s.index)
    lines = [f"  {here} = {num6(s.value)}", f"    upstream ∂{out}/∂{here} = {num6(s.upstream)}"]
    for name, shares in by_input(s).items():
        if len(shares) > MAX_TERMS:  # a reduction: many input entries, one each
            lines.append(
                f"    ∂{here}/∂{name}: {len(shares)} entries, local derivatives "
                f"{listed([x.local for x in shares])}   → {name}: "
                f"{listed([x.product for x in shares])}"
            )
            continue
        for sh in shares:
            src = at(sh.wrt, sh.index)
            lines.append(
                f"    ∂{here}/∂{src} = {E.to_pretty(sh.formula)} = {num6(sh.local)}"
                f"   → {src}: {num6(s.upstream)} · {num6(sh.local)} = {num6(sh.product)}"
            )
    return lines


def _term_lines(s: ElementStep) -> list[str]:
    """A convolution's short sum, one term a line: the term, and the single entry of
    each factor's input that it sends a gradient to (the other factor, times upstream)."""
    lines = []
    variable = {sh.wrt for sh in s.shares}
    up = num6(s.upstream)
    for t in s.terms:
        names = " · ".join(at(f.node, f.index) for f in t.factors)
        values = "·".join(num6(f.value) for f in t.factors)
        line = f"      {names} = {values} = {num6(t.value)}"
        for f, other in ((t.factors[0], t.factors[1]), (t.factors[1], t.factors[0])):
            if f.node in variable:
                line += f"   → {at(f.node, f.index)}: {up} · {num6(other.value)}"
                line += f" = {num6(s.upstream * other.value)}"
        lines.append(line)
    return lines


def _sum_lines(s: ElementStep, out: str) -> list[str]:
    here = at(s.node, s.index)
    ranges = f"   ({s.ranges})" if s.ranges else ""
    lines = [f"  {here} = {sum_head(s)} = {terms_text(s)} = {num6(s.value)}{ranges}"]
    if s.op == "conv2d":
        lines.append(
            f"    a convolution ({len(s.terms)} terms: input channels × kernel window; "
            f"recorded as {', '.join(s.folded)})"
        )
        if s.padded:
            lines.append(f"    {s.padded} more terms fall in the zero padding: 0")
    lines.append(f"    upstream ∂{out}/∂{here} = {num6(s.upstream)}")
    if s.op == "conv2d" and len(s.terms) <= MAX_TERMS:
        lines.append("    term by term, each factor's local derivative is the other factor:")
        lines += _term_lines(s)
    for name, shares in by_input(s).items():
        entry, other = s.patterns.get(name, (name, "?"))
        if other == "1":  # the bias: one entry, local derivative 1
            sh = shares[0]
            lines.append(
                f"    ∂{here}/∂{entry} = 1   → {entry}: {num6(s.upstream)} · 1 = {num6(sh.product)}"
            )
            continue
        lines.append(f"    ∂{here}/∂{entry} = {other} = {listed([x.local for x in shares])}")
        lines.append(
            f"    → {name}: ∂{out}/∂{entry} = {num6(s.upstream)} · {other} = "
            f"{listed([x.product for x in shares])}"
        )
    return lines


def step_lines(s: ElementStep, out: str) -> list[str]:
    """One step of the walk as text lines."""
    if s.kind == "spread":
        return [f"  {s.node}: the gradient reaches {s.reached} entries (see the table)"]
    if s.kind == "sum":
        return _sum_lines(s, out)
    return _local_lines(s, out)


def element_lines(ex: Report) -> list[str]:
    """The chosen entry followed from the output back, one block per node; [] when
    the explanation has no ``element``."""
    lines: list[str] = []
    for s in ex.element_steps:
        lines += step_lines(s, ex.output)
    return lines
