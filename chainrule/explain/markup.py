"""Expression trees as math markup: LaTeX (for the ``latex`` format) and MathML Core
(for the HTML page). The plain and pretty text printers live with the language in
:mod:`chainrule.explain.expr`; these two are apart because only two renderers use them.
"""

from __future__ import annotations

import math
import re
from html import escape

from chainrule.explain.expr import (
    _PREC,
    Bin,
    Call,
    Expr,
    Neg,
    Num,
    Opaque,
    Var,
    _needs_parens_right,
    _prec,
    format_number,
)

# ------------------------------------------------------------------------ LaTeX
_LATEX_FUNCS = {
    "log": r"\log",
    "sin": r"\sin",
    "cos": r"\cos",
    "tan": r"\tan",
    "tanh": r"\tanh",
    "max": r"\max",
    "min": r"\min",
    "sigmoid": r"\sigma",
}


def latex_name(name: str) -> str:
    """A variable name in LaTeX: ``h1`` as ``h_{1}``, ``w_out`` as ``w_{\\mathrm{out}}``."""
    m = re.fullmatch(r"([A-Za-z])_?(\d+)", name)
    if m:
        return f"{m.group(1)}_{{{m.group(2)}}}"
    if "_" in name:
        head, tail = name.split("_", 1)
        return f"{latex_name(head)}_{{{latex_text(tail)}}}"
    if len(name) == 1:
        return name
    return rf"\mathrm{{{latex_text(name)}}}"


def latex_text(s: str) -> str:
    """Plain text with LaTeX's special characters escaped."""
    out = []
    for ch in s:
        if ch in "#$%&_{}":
            out.append("\\" + ch)
        elif ch == "\\":
            out.append(r"\textbackslash{}")
        elif ch == "^":
            out.append(r"\^{}")
        elif ch == "~":
            out.append(r"\~{}")
        else:
            out.append(ch)
    return "".join(out)


def to_latex(e: Expr) -> str:
    """``e`` in LaTeX math (amsmath), fractions as ``\\frac`` and e^x as ``e^{x}``."""
    if isinstance(e, Num):
        if e.value in (math.e, math.pi):  # the language's constants, by name
            return "e" if e.value == math.e else r"\pi"
        return format_number(e.value, 12).replace("inf", r"\infty")
    if isinstance(e, Var):
        return r"\pi" if e.name == "pi" else latex_name(e.name)
    if isinstance(e, Opaque):
        return rf"\text{{{latex_text(e.text)}}}"
    if isinstance(e, Neg):
        inner = to_latex(e.arg)
        return f"-\\left({inner}\\right)" if _prec(e.arg) < _PREC["*"] else f"-{inner}"
    if isinstance(e, Call):
        args = ", ".join(to_latex(a) for a in e.args)
        if e.fn == "exp":
            return f"e^{{{args}}}"
        if e.fn == "sqrt":
            return rf"\sqrt{{{args}}}"
        if e.fn == "abs":
            return rf"\left|{args}\right|"
        fn = _LATEX_FUNCS.get(e.fn, rf"\operatorname{{{e.fn}}}")
        if "\\frac" in args:
            return rf"{fn}\left({args}\right)"
        return f"{fn}({args})"
    assert isinstance(e, Bin)
    if e.op == "/":
        return rf"\frac{{{to_latex(e.left)}}}{{{to_latex(e.right)}}}"
    if e.op == "^":
        base = to_latex(e.left)
        if _prec(e.left) <= _PREC["^"] or isinstance(e.left, Call) and e.left.fn == "exp":
            base = rf"\left({base}\right)"
        elif not isinstance(e.left, Var) or len(base) > 1:
            base = f"{{{base}}}"
        return f"{base}^{{{to_latex(e.right)}}}"
    left = to_latex(e.left)
    if _prec(e.left) < _PREC[e.op]:
        left = rf"\left({left}\right)"
    right = to_latex(e.right)
    if _needs_parens_right(e.op, e.right):
        right = rf"\left({right}\right)"
    if e.op == "*":
        if right.startswith(r"\left("):
            return rf"{left}\,{right}"
        return rf"{left} \cdot {right}"
    return f"{left} {e.op} {right}"


# ----------------------------------------------------------------------- MathML
def mathml_name(name: str) -> str:
    m = re.fullmatch(r"([A-Za-z])_?(\d+)", name)
    if m:
        return f"<msub><mi>{m.group(1)}</mi><mn>{m.group(2)}</mn></msub>"
    if len(name) > 1:
        return f'<mi mathvariant="normal">{escape(name)}</mi>'
    return f"<mi>{escape(name)}</mi>"


def _mo(op: str) -> str:
    return f"<mo>{escape(op)}</mo>"


_OPEN = "<mo stretchy='false' lspace='0' rspace='0'>(</mo>"
_CLOSE = "<mo stretchy='false' lspace='0' rspace='0'>)</mo>"


def _paren(inner: str) -> str:
    return f"<mrow>{_OPEN}{inner}{_CLOSE}</mrow>"


_MINUS = "\u2212"


def mathml_number(v: float) -> str:
    s = format_number(v, 12)
    if s.startswith("-"):
        return f"<mrow><mo>{_MINUS}</mo><mn>{escape(s[1:])}</mn></mrow>"
    return f"<mn>{escape(s).replace('inf', '∞')}</mn>"


def to_mathml(e: Expr) -> str:
    """``e`` as MathML Core presentation markup (the inside of a ``<math>`` element)."""
    if isinstance(e, Num):
        if e.value in (math.e, math.pi):  # the language's constants, by name
            return "<mi>e</mi>" if e.value == math.e else "<mi>π</mi>"
        return mathml_number(e.value)
    if isinstance(e, Var):
        return "<mi>π</mi>" if e.name == "pi" else mathml_name(e.name)
    if isinstance(e, Opaque):
        return f"<mtext>{escape(e.text)}</mtext>"
    if isinstance(e, Neg):
        inner = to_mathml(e.arg)
        if _prec(e.arg) < _PREC["*"]:
            inner = _paren(inner)
        return f"<mrow><mo>{_MINUS}</mo>{inner}</mrow>"
    if isinstance(e, Call):
        args = "<mo>,</mo>".join(to_mathml(a) for a in e.args)
        if e.fn == "exp":
            return f"<msup><mi>e</mi><mrow>{args}</mrow></msup>"
        if e.fn == "sqrt":
            return f"<msqrt>{args}</msqrt>"
        if e.fn == "abs":
            return f"<mrow><mo>|</mo>{args}<mo>|</mo></mrow>"
        name = "σ" if e.fn == "sigmoid" else e.fn
        return f"<mrow><mi>{name}</mi><mo>&#x2061;</mo>{_paren(args)}</mrow>"
    assert isinstance(e, Bin)
    if e.op == "/":
        return f"<mfrac><mrow>{to_mathml(e.left)}</mrow><mrow>{to_mathml(e.right)}</mrow></mfrac>"
    if e.op == "^":
        base = to_mathml(e.left)
        if _prec(e.left) <= _PREC["^"] or isinstance(e.left, Call) and e.left.fn == "exp":
            base = _paren(base)
        return f"<msup><mrow>{base}</mrow><mrow>{to_mathml(e.right)}</mrow></msup>"
    left = to_mathml(e.left)
    if _prec(e.left) < _PREC[e.op]:
        left = _paren(left)
    right = to_mathml(e.right)
    if _needs_parens_right(e.op, e.right):
        right = _paren(right)
        if e.op == "*":  # sigma(z)(1 - sigma(z)): a product without a dot
            return f"<mrow>{left}{right}</mrow>"
    op = {"*": "·", "-": _MINUS}.get(e.op, e.op)
    return f"<mrow>{left}{_mo(op)}{right}</mrow>"
