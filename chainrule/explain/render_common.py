"""Pieces every format shares: the chain of each input, written out, and the notes."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.explain import expr as E
from chainrule.explain.i18n import labels
from chainrule.explain.model import Local, is_scalar, summarize
from chainrule.explain.trace import Vertex

if TYPE_CHECKING:
    from chainrule.explain.report import Report


def width(s: str) -> int:
    """Columns ``s`` takes in a terminal (Hangul and other wide characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def pad(s: str, n: int, right: bool = False) -> str:
    fill = " " * max(0, n - width(s))
    return fill + s if right else s + fill


def num(v: Any) -> str:
    return summarize(v, 10)


def factor(e: E.Expr, printer=E.to_pretty) -> str:
    """A formula as one factor of a product: parenthesized unless it is an atom."""
    s = printer(e)
    atom = isinstance(e, (E.Var, E.Call)) or isinstance(e, E.Num) and e.value >= 0
    if isinstance(e, E.Opaque):
        atom = " " not in s
    return s if atom else f"({s})"


def value_factor(v: Any) -> str:
    s = num(v)
    return f"({s})" if s.startswith("-") else s


@dataclass
class Chain:
    """d output / d input written out, for one input."""

    input: str
    count: int  # number of paths
    paths: list[list[tuple[Vertex, Local]]]
    seed_order: bool  # a single path of one-input nodes: write it as the seed does

    @property
    def complete(self) -> bool:
        return self.count == len(self.paths)


def chains(ex: Report) -> list[Chain]:
    out = []
    for name in ex.inputs:
        count, found = ex.paths(name)
        seed_order = (
            count == 1 and bool(found[0]) and all(len(v.var_inputs) == 1 for v, _ in found[0])
        )
        out.append(Chain(name, count, found, seed_order))
    return out


def ordered(chain: Chain, path: list[tuple[Vertex, Local]]) -> list[tuple[Vertex, Local]]:
    """The seed writes f'(z) g'(f) h'(g) i'(h): from the input up to the output."""
    return list(reversed(path)) if chain.seed_order else path


def partial(out: str, of: str, wrt: str, occurrence: int = 0) -> str:
    tail = f"[{occurrence}]" if occurrence else ""
    return f"∂{of}/∂{wrt}{tail}"


def composition(ex: Report, limit: int = 72) -> str | None:
    """The seed's ``i(h(g(f(z))))``: the output as nested functions of the inputs."""
    if ex.root is None or ex.root.is_leaf:
        return None
    memo: dict[int, str] = {}
    for s in ex.steps:
        v = s.vertex
        if v.is_leaf:
            memo[id(v)] = v.name
            continue
        seen: list[str] = []
        for _, a in v.var_inputs:
            t = memo[id(a)]
            if t not in seen:
                seen.append(t)
        text = f"{v.name}({', '.join(seen)})"
        if len(text) > limit:
            return None
        memo[id(v)] = text
    return memo.get(id(ex.root))


def inputs_text(ex: Report) -> str:
    return ", ".join(f"{n} = {num(x)}" for n, x in ex.inputs.items())


def at_text(ex: Report, lang: str) -> str:
    """``(at z = 0.5)`` after a title; nothing for an expression without variables."""
    if not ex.inputs:
        return ""
    return f"({labels(lang)['at']} {inputs_text(ex)})"


def notes(ex: Report, lang: str) -> list[str]:
    L = labels(lang)
    out = []
    if "array_output" in ex.notes:
        out.append(L["array_output"].format(shape=tuple(np.shape(ex.value))))
    if "seeded" in ex.notes:
        out.append(L["seeded"])
    if not ex.scalar:
        out.append(L["arrays_note"])
    if "non_finite" in ex.notes:
        out.append(L["non_finite"])
    if "hooks" in ex.notes:
        out.append(L["hooks"])
    sym = ex.symbolic
    if sym is not None and sym.ok:
        for what in sym.mismatches:
            out.append(L["formula_mismatch"].format(what=what))
    return out


def check_line(ex: Report, lang: str) -> tuple[bool, str]:
    L = labels(lang)
    c = ex.check
    if c.checked and not c.comparable:
        # inf - inf is nan: a "difference" of 0.0 there would claim what was not measured
        return False, L["check_none"].format(checked=c.checked, total=c.total)
    key = "check_ok" if c.ok else "check_bad"
    text = L[key].format(err=f"{c.max_abs_error:.1e}", checked=c.checked, total=c.total)
    if c.not_comparable:
        text += "; " + L["check_some"].format(n=c.not_comparable)
    return c.ok, text


def check_mark(ex: Report, ok: bool) -> tuple[str, str]:
    """The check's mark and its state, "ok", "bad" or "unknown": a check where no
    entry was comparable (non-finite values around the point) measured nothing, so
    it is marked neither as passed nor as failed."""
    c = ex.check
    if ok:
        return "✓", "ok"
    if c.checked and not c.comparable:
        return "?", "unknown"
    return "✗", "bad"


def symbolic_skipped(ex: Report, lang: str) -> str | None:
    """What of the symbolic part was skipped and why, as one line; None when nothing was."""
    L = labels(lang)
    sym = ex.symbolic
    if sym is None:
        return None
    if sym.ok:
        # the derivatives came within the budget, their simplification did not
        if sym.timeout is None:
            return None
        return L["simplify_timeout"].format(seconds=f"{sym.timeout:g}")
    if sym.reason == "missing":
        return L["sympy_missing"]
    if sym.reason == "timeout":
        return L["sympy_timeout"].format(seconds=f"{sym.timeout:g}")
    return L["sympy_skipped"].format(why=sym.reason)


def scalar_chain(ex: Report) -> bool:
    return all(is_scalar(s.vertex.value) for s in ex.steps)
