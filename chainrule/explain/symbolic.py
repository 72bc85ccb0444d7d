"""The symbolic side of an explanation, with SymPy (the ``explain`` extra).

Nothing here knows a derivative. Each node's forward operation is written as a
SymPy expression of one symbol per input position, and SymPy differentiates it;
the whole function is the composition of those expressions. Trees are built from
the parsed expression objects, never from text, so no user text reaches SymPy's
parser (which evaluates code).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.explain import expr as E
from chainrule.explain.model import definition, finite
from chainrule.explain.trace import Vertex

if TYPE_CHECKING:
    from chainrule.explain.core import Explanation

MAX_NODES = 40
MAX_SIMPLIFY_OPS = 40
#: the functions a simplified result may use (others, such as cosh, read worse)
_READABLE = {"exp", "log", "sin", "cos", "tan", "tanh", "Abs", "Max", "Min", "Heaviside", "sign"}


class _NoSymbolic(Exception):
    pass


@dataclass
class InputDerivative:
    """d output / d input, symbolically."""

    name: str
    in_names: E.Expr | None  # the product chain in node names, as SymPy leaves it
    in_inputs: E.Expr  # in terms of the inputs, as differentiation gives it
    simplified: E.Expr | None  # a shorter equal form, when SymPy finds one
    closed_form: E.Expr | None  # a known closed form it equals (sigma(z)(1 - sigma(z)))
    closed_form_of: str | None  # which function's derivative that is
    value: float


@dataclass
class Symbolic:
    ok: bool
    reason: str | None = None  # why there is no symbolic part ("missing": no SymPy)
    locals: dict[tuple[str, int], E.Expr] = field(default_factory=dict)
    derivatives: dict[str, InputDerivative] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    function: E.Expr | None = None  # the output in terms of the inputs

    def to_dict(self) -> dict[str, Any] | None:
        if not self.ok:
            return None
        out = {}
        for n, d in self.derivatives.items():
            out[n] = {
                "in_node_names": None if d.in_names is None else E.to_text(d.in_names),
                "in_inputs": E.to_text(d.in_inputs),
                "simplified": None if d.simplified is None else E.to_text(d.simplified),
                "closed_form": None if d.closed_form is None else E.to_text(d.closed_form),
                "value": d.value,
            }
        return {
            "function": None if self.function is None else E.to_text(self.function),
            "derivatives": out,
        }


def _number(sp: Any, v: float) -> Any:
    if not math.isfinite(v):
        raise _NoSymbolic("a constant is not finite")
    if v == int(v) and abs(v) < 1e6:
        return sp.Integer(int(v))
    text = repr(v)
    if len(text) <= 8:
        return sp.Rational(text)
    return sp.Float(v)


def to_sympy(sp: Any, e: E.Expr, symbols: dict[str, Any]) -> Any:
    """Our expression tree as a SymPy expression (built from objects, not parsed)."""
    if isinstance(e, E.Num):
        return _number(sp, e.value)
    if isinstance(e, E.Var):
        if e.name not in symbols:
            raise _NoSymbolic(f"unknown name {e.name}")
        return symbols[e.name]
    if isinstance(e, E.Neg):
        return -to_sympy(sp, e.arg, symbols)
    if isinstance(e, E.Bin):
        a, b = to_sympy(sp, e.left, symbols), to_sympy(sp, e.right, symbols)
        if e.op == "+":
            return a + b
        if e.op == "-":
            return a - b
        if e.op == "*":
            return a * b
        if e.op == "/":
            return a / b
        return a**b
    if isinstance(e, E.Call):
        args = [to_sympy(sp, a, symbols) for a in e.args]
        x = args[0]
        simple = {
            "exp": sp.exp,
            "log": sp.log,
            "sqrt": sp.sqrt,
            "abs": sp.Abs,
            "sin": sp.sin,
            "cos": sp.cos,
            "tan": sp.tan,
            "tanh": sp.tanh,
        }
        if e.fn in simple:
            return simple[e.fn](x)
        if e.fn == "sigmoid":
            return 1 / (1 + sp.exp(-x))
        if e.fn == "relu":
            return sp.Max(x, 0)
        if e.fn in ("max", "min") and len(args) == 2:
            return (sp.Max if e.fn == "max" else sp.Min)(*args)
        if e.fn in ("max", "min", "sum", "mean", "prod", "logsumexp") and len(args) == 1:
            return x  # of a single number: the number itself
        raise _NoSymbolic(f"no symbolic form of {e.fn}")
    raise _NoSymbolic(f"no symbolic form of {E.to_text(e)}")


def from_sympy(sp: Any, x: Any) -> E.Expr:
    """A SymPy expression as our tree, to print in every format the same way."""
    if x.is_Symbol:
        return E.Var(x.name)
    if x is sp.E:
        return E.Var("e")
    if x is sp.pi:
        return E.Var("π")
    if x.is_Integer:
        return E.Num(float(int(x)))
    if x.is_Rational:
        p, q = int(x.p), int(x.q)
        frac = E.Bin("/", E.Num(float(abs(p))), E.Num(float(q)))
        return E.Neg(frac) if p < 0 else frac
    if x.is_Float:
        return E.Num(float(x))
    if x.is_Add:
        terms = list(x.as_ordered_terms())
        terms.sort(key=lambda t: 0 if t.is_Number else 1)
        out = from_sympy(sp, terms[0])
        for t in terms[1:]:
            if t.could_extract_minus_sign():
                out = E.Bin("-", out, from_sympy(sp, -t))
            else:
                out = E.Bin("+", out, from_sympy(sp, t))
        return out
    if x.is_Mul:
        return _mul(sp, x)
    if x.is_Pow:
        base, ex = x.args
        if ex == sp.Rational(1, 2):
            return E.Call("sqrt", (from_sympy(sp, base),))
        if ex.is_Number and ex < 0:
            inner = base if ex == -1 else base ** (-ex)
            return E.Bin("/", E.Num(1.0), from_sympy(sp, inner))
        return E.Bin("^", from_sympy(sp, base), from_sympy(sp, ex))
    if isinstance(x, sp.exp):
        return E.Call("exp", (from_sympy(sp, x.args[0]),))
    if isinstance(x, sp.Heaviside):
        return E.Opaque(f"[{E.to_text(from_sympy(sp, x.args[0]))}>0]")
    names = {"Abs": "abs", "Max": "max", "Min": "min"}
    fname = type(x).__name__
    if x.is_Function and x.args:
        return E.Call(names.get(fname, fname), tuple(from_sympy(sp, a) for a in x.args))
    return E.Opaque(str(x))


def _mul(sp: Any, x: Any) -> E.Expr:
    coeff, factors = x.as_coeff_mul()
    negative = coeff < 0
    coeff = abs(coeff)
    num: list[E.Expr] = []
    den: list[E.Expr] = []
    if coeff != 1:
        if coeff.is_Rational and not coeff.is_Integer:
            if coeff.p != 1:
                num.append(E.Num(float(coeff.p)))
            den.append(E.Num(float(coeff.q)))
        else:
            num.append(from_sympy(sp, coeff))
    for f in factors:
        if f.is_Pow and f.args[1].is_Number and f.args[1] < 0:
            b, ex = f.args
            den.append(from_sympy(sp, b if ex == -1 else b ** (-ex)))
        else:
            num.append(from_sympy(sp, f))

    def prod(items: list[E.Expr]) -> E.Expr:
        if not items:
            return E.Num(1.0)
        out = items[0]
        for it in items[1:]:
            out = E.Bin("*", out, it)
        return out

    e = prod(num) if not den else E.Bin("/", prod(num), prod(den))
    return E.Neg(e) if negative else e


def _closed_forms(sp: Any, z: Any) -> list[tuple[str, Any, E.Expr]]:
    """(function, the function of z, its derivative's closed form in our tree)."""
    s = E.Call("sigmoid", (E.Var(z.name),))
    one_minus_s = E.Bin("-", E.Num(1.0), s)
    t = E.Call("tanh", (E.Var(z.name),))
    return [
        ("σ(z) = 1/(1 + e^-z)", 1 / (1 + sp.exp(-z)), E.Bin("*", s, one_minus_s)),
        ("tanh", sp.tanh(z), E.Bin("-", E.Num(1.0), E.Bin("^", t, E.Num(2.0)))),
        ("softplus log(1 + e^z)", sp.log(1 + sp.exp(z)), s),
        ("log σ(z)", -sp.log(1 + sp.exp(-z)), one_minus_s),
    ]


def _equal_numerically(sp: Any, a: Any, b: Any, z: Any) -> bool:
    for point in (-2.3, -0.7, 0.4, 1.9, 3.1):
        try:
            va = complex(a.evalf(subs={z: point}))
            vb = complex(b.evalf(subs={z: point}))
        except (TypeError, ValueError):
            return False
        if not (abs(va - vb) <= 1e-9 * max(1.0, abs(vb))):
            return False
    return True


def _readable(sp: Any, e: Any) -> bool:
    return all(type(f).__name__ in _READABLE for f in e.atoms(sp.Function))


def analyse(ex: Explanation) -> Symbolic:
    """The symbolic part of ``ex``, or a Symbolic with ``ok=False`` and the reason."""
    try:
        import sympy as sp
    except ImportError:
        return Symbolic(False, "missing")
    if ex.root is None or not ex.nodes:
        return Symbolic(False, "the output is not computed from the inputs")
    if not ex.scalar:
        return Symbolic(False, "the values are arrays")
    if len(ex.nodes) > MAX_NODES:
        return Symbolic(False, f"more than {MAX_NODES} nodes")
    try:
        return _analyse(sp, ex)
    except _NoSymbolic as why:
        return Symbolic(False, str(why))
    except (TypeError, ValueError, ZeroDivisionError, RecursionError) as exc:
        return Symbolic(False, f"SymPy could not follow the graph ({exc})")


def _analyse(sp: Any, ex: Explanation) -> Symbolic:
    names = {s.name: sp.Symbol(s.name, real=True) for s in ex.steps}
    values = {names[s.name]: float(s.vertex.value) for s in ex.steps}
    in_inputs: dict[str, Any] = {}
    result = Symbolic(True)
    local_sym: dict[tuple[int, int], Any] = {}  # (id vertex, position) -> in node names
    for s in ex.steps:
        v = s.vertex
        if v.is_leaf:
            in_inputs[v.name] = names[v.name]
            continue
        slots = {f"_{i}": sp.Dummy(f"a{i}") for i in range(len(v.args))}
        positional = [
            E.Var(f"_{i}") if isinstance(a, Vertex) else _const_tree(a)
            for i, a in enumerate(v.args)
        ]
        forward = to_sympy(sp, definition(v, positional), slots)
        by_names = {slots[f"_{i}"]: names[a.name] for i, a in v.var_inputs}
        by_inputs = {slots[f"_{i}"]: in_inputs[a.name] for i, a in v.var_inputs}
        in_inputs[v.name] = forward.xreplace(by_inputs)
        for loc in s.locals:
            d = sp.diff(forward, slots[f"_{loc.position}"]).xreplace(by_names)
            local_sym[(id(v), loc.position)] = d
            result.locals[(v.name, loc.position)] = from_sympy(sp, d)
            _compare_formula(
                sp, result, loc.formula, d, names, values, f"∂{v.name}/∂{loc.src.name}"
            )
    out = in_inputs[ex.output]
    result.function = from_sympy(sp, out)
    at = {names[n]: float(x) for n, x in ex.inputs.items()}
    for name in ex.inputs:
        z = names[name]
        raw = sp.diff(out, z)
        count, found = ex.paths(name)
        in_names = None
        if found and count == len(found):
            total = sp.Integer(0)
            for path in found:
                term = sp.Integer(1)
                for v, loc in path:
                    term = term * local_sym[(id(v), loc.position)]
                total = total + term
            in_names = from_sympy(sp, total)
        simplified = None
        if sp.count_ops(raw) <= MAX_SIMPLIFY_OPS:
            simple = sp.simplify(raw)
            if sp.count_ops(simple) < sp.count_ops(raw) and _readable(sp, simple):
                simplified = from_sympy(sp, simple)
        closed = closed_of = None
        if out.free_symbols <= {z}:
            for what, known, form in _closed_forms(sp, z):
                if _equal_numerically(sp, raw, sp.diff(known, z), z):
                    closed, closed_of = form, what
                    break
        try:
            value = float(raw.evalf(subs=at))
        except (TypeError, ValueError):
            value = float("nan")
        result.derivatives[name] = InputDerivative(
            name, in_names, from_sympy(sp, raw), simplified, closed, closed_of, value
        )
    return result


def _const_tree(c: Any) -> E.Expr:
    v = c.value
    if v is None or np.ndim(v) != 0:
        raise _NoSymbolic("an array constant")
    return E.Num(float(v))


def _compare_formula(
    sp: Any,
    result: Symbolic,
    formula: E.Expr,
    derived: Any,
    names: dict[str, Any],
    values: dict[Any, float],
    what: str,
) -> None:
    """Flag a primitive-table formula that disagrees with SymPy's derivative."""
    try:
        shown = to_sympy(sp, formula, names)
    except _NoSymbolic:
        return
    try:
        a = complex(shown.evalf(subs=values))
        b = complex(derived.evalf(subs=values))
    except (TypeError, ValueError):
        return
    if not (finite(a.real) and finite(b.real)):
        return
    if abs(a - b) > 1e-8 * max(1.0, abs(b)):
        result.mismatches.append(what)
