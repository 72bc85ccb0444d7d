"""The symbolic side of an explanation, with SymPy (the ``explain`` extra).

Nothing here knows a derivative. Each node's forward operation is written as a
SymPy expression of one symbol per input position, and SymPy differentiates it;
the whole function is the composition of those expressions. Trees are built from
the parsed expression objects, never from text, so no user text reaches SymPy's
parser (which evaluates code).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.explain import expr as E
from chainrule.explain.budget import call_with_timeout, resolve_timeout
from chainrule.explain.model import definition, finite
from chainrule.explain.trace import Vertex

if TYPE_CHECKING:
    from chainrule.explain.report import Report

MAX_NODES = 40
MAX_SIMPLIFY_OPS = 40
#: the functions a simplified result may use (others, such as cosh, read worse)
_READABLE = {
    "exp",
    "log",
    "sin",
    "cos",
    "tan",
    "tanh",
    "Abs",
    "Max",
    "Min",
    "Heaviside",
    "sign",
    "relu",
}


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
    # the budget it ran past: with ok=False (reason "timeout") nothing came in time;
    # with ok=True the derivatives did, their simplified forms did not
    timeout: float | None = None

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
    # the expression language's constants e and pi arrive as their float values
    if v == math.e:
        return sp.E
    if v == math.pi:
        return sp.pi
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
        if e.name not in symbols and e.name in E.CONSTANTS:
            return sp.E if e.name == "e" else sp.pi
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
            return _relu(sp)(x)
        if e.fn in ("max", "min") and len(args) == 2:
            return (sp.Max if e.fn == "max" else sp.Min)(*args)
        if e.fn in ("max", "min", "sum", "mean", "prod", "logsumexp") and len(args) == 1:
            return x  # of a single number: the number itself
        raise _NoSymbolic(f"no symbolic form of {e.fn}")
    raise _NoSymbolic(f"no symbolic form of {E.to_text(e)}")


_RELU: dict[int, Any] = {}


def _relu(sp: Any) -> Any:
    """relu as a SymPy function whose derivative is the engine's: 0 at 0.

    ``Max(x, 0)`` would differentiate to ``Heaviside(x)``, which SymPy takes as 1/2
    at 0; the primitive table's relu rule gives 0 there (as PyTorch), and the
    report must show one convention. (``Max(x, y)`` needs no such care: the
    table's maximum splits a tie evenly, as ``Heaviside(0) = 1/2`` does.)
    """
    cls = _RELU.get(id(sp))
    if cls is None:

        class relu(sp.Function):  # noqa: N801  (printed by its class name)
            @classmethod
            def eval(cls, x: Any) -> Any:
                if x.is_extended_real and x.is_number:
                    return sp.Max(x, 0)
                return None

            def fdiff(self, argindex: int = 1) -> Any:
                return sp.Heaviside(self.args[0], 0)

            def _eval_evalf(self, prec: int) -> Any:
                return sp.Max(self.args[0], 0)._eval_evalf(prec)

        cls = _RELU[id(sp)] = relu
    return cls


def from_sympy(sp: Any, x: Any) -> E.Expr:
    """A SymPy expression as our tree, to print in every format the same way."""
    if x.is_Symbol:
        return E.Var(x.name)
    if x is sp.E:
        return E.Var("e")
    if x is sp.pi:
        return E.Var("pi")
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
        return _step(sp, x)
    names = {"Abs": "abs", "Max": "max", "Min": "min"}
    fname = type(x).__name__
    if x.is_Function and x.args:
        return E.Call(names.get(fname, fname), tuple(from_sympy(sp, a) for a in x.args))
    return E.Opaque(str(x))


def _step(sp: Any, x: Any) -> E.Expr:
    """Heaviside(u, H0) in the primitive table's notation, its value at 0 included.

    SymPy's default H0 is 1/2, which is what the table's maximum and minimum give at
    a tie; written as a bare ``[u>0]`` it would read as 0 there. relu's step (H0 = 0)
    stays ``[u>0]``.
    """
    u = E.to_text(from_sympy(sp, x.args[0]))
    at_zero = x.args[1] if len(x.args) > 1 else sp.Rational(1, 2)
    if at_zero == 0:
        return E.Opaque(f"[{u}>0]")
    if at_zero == 1:
        return E.Opaque(f"[{u}≥0]")
    if at_zero == sp.Rational(1, 2):
        # A sum, so that a product around it is parenthesized when printed.
        return E.Bin("+", E.Opaque(f"[{u}>0]"), E.Opaque(f"½[{u}=0]"))
    return E.Opaque(f"[{u}>0] + {at_zero}[{u}=0]")


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


@dataclass
class _Step:
    """One step of the graph as plain data, so a spawned worker can receive it by pickle."""

    name: str
    value: float
    definition: E.Expr | None = None  # over the positional slots _0, _1, ...; None for a leaf
    inputs: list[tuple[int, str]] = field(default_factory=list)  # (slot, input's name)
    formulas: list[tuple[int, str, E.Expr]] = field(default_factory=list)  # (slot, input, table)


@dataclass
class _Job:
    steps: list[_Step]
    output: str
    inputs: dict[str, float]
    # per input, every path from the output down as (node, slot), or None when the
    # paths were too many to list
    paths: dict[str, list[list[tuple[str, int]]] | None]


def _job(ex: Report) -> _Job:
    steps = []
    for s in ex.steps:
        v = s.vertex
        if v.is_leaf:
            steps.append(_Step(v.name, float(v.value)))
            continue
        positional = [
            E.Var(f"_{i}") if isinstance(a, Vertex) else _const_tree(a)
            for i, a in enumerate(v.args)
        ]
        steps.append(
            _Step(
                v.name,
                float(v.value),
                definition(v, positional),
                [(i, a.name) for i, a in v.var_inputs],
                [(loc.position, loc.src.name, loc.formula) for loc in s.locals],
            )
        )
    paths: dict[str, list[list[tuple[str, int]]] | None] = {}
    for name in ex.inputs:
        count, found = ex.paths(name)
        complete = bool(found) and count == len(found)
        paths[name] = (
            [[(v.name, loc.position) for v, loc in p] for p in found] if complete else None
        )
    inputs = {n: float(x) for n, x in ex.inputs.items()}
    return _Job(steps, ex.output, inputs, paths)


def analyse(ex: Report, timeout: float | None = None) -> Symbolic:
    """The symbolic part of ``ex``, or a Symbolic with ``ok=False`` and the reason.

    SymPy runs within ``timeout`` seconds (see :mod:`chainrule.explain.budget`);
    past it the answer is ``Symbolic(False, "timeout", timeout=...)``.
    """
    try:
        import sympy  # noqa: F401  (imported here so a forked worker inherits it)
    except ImportError:
        return Symbolic(False, "missing")
    if ex.root is None or not ex.nodes:
        return Symbolic(False, "the output is not computed from the inputs")
    if not ex.scalar:
        return Symbolic(False, "the values are arrays")
    if len(ex.nodes) > MAX_NODES:
        return Symbolic(False, f"more than {MAX_NODES} nodes")
    try:
        job = _job(ex)
    except _NoSymbolic as why:
        return Symbolic(False, str(why))
    seconds = resolve_timeout(timeout)
    _warm_up()
    status, answer = call_with_timeout(run_job, job, seconds)
    if status == "ok":
        return answer
    if status == "timeout":
        if answer is not None and answer.ok:
            answer.timeout = seconds  # the derivatives came, their simplification did not
            return answer
        return Symbolic(False, "timeout", timeout=seconds)
    return Symbolic(False, f"SymPy stopped: {answer}")


_warm = False


def _warm_up() -> None:
    """SymPy's first differentiation and simplification in a process take ~0.3 s
    (lazy imports, caches) against ~0.03 s after; a forked worker inherits this
    process, so do that once here, on a fixed small job whose time is known."""
    global _warm
    if not _warm:
        _warm = True
        # a warm-up is an optimisation: never the reason to fail
        with contextlib.suppress(Exception):
            for _ in _stages(_import_sympy(), _SEED_JOB):
                pass


def run_job(job: _Job) -> Iterator[Symbolic]:
    """The worker's side: SymPy over the plain job (module level, so spawn can pickle
    it). Yields the derivatives first, then again with their simplified forms."""
    sp = _import_sympy()
    try:
        yield from _stages(sp, job)
    except _NoSymbolic as why:
        yield Symbolic(False, str(why))
    except (TypeError, ValueError, ZeroDivisionError, RecursionError) as exc:
        # some exceptions (RecursionError, ZeroDivisionError()) carry no message
        yield Symbolic(False, f"SymPy could not follow the graph ({_describe(exc)})")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _import_sympy() -> Any:
    import sympy

    return sympy


def _stages(sp: Any, job: _Job) -> Iterator[Symbolic]:
    names = {s.name: sp.Symbol(s.name, real=True) for s in job.steps}
    values = {names[s.name]: s.value for s in job.steps}
    in_inputs: dict[str, Any] = {}
    result = Symbolic(True)
    local_sym: dict[tuple[str, int], Any] = {}  # (node, slot) -> in node names
    for s in job.steps:
        if s.definition is None:
            in_inputs[s.name] = names[s.name]
            continue
        slots = {f"_{i}": sp.Dummy(f"a{i}") for i in range(_slot_count(s))}
        forward = to_sympy(sp, s.definition, slots)
        by_names = {slots[f"_{i}"]: names[a] for i, a in s.inputs}
        by_inputs = {slots[f"_{i}"]: in_inputs[a] for i, a in s.inputs}
        in_inputs[s.name] = forward.xreplace(by_inputs)
        for position, src, formula in s.formulas:
            d = sp.diff(forward, slots[f"_{position}"]).xreplace(by_names)
            local_sym[(s.name, position)] = d
            result.locals[(s.name, position)] = from_sympy(sp, d)
            _compare_formula(sp, result, formula, d, names, values, f"∂{s.name}/∂{src}")
    out = in_inputs[job.output]
    result.function = from_sympy(sp, out)
    at = {names[n]: x for n, x in job.inputs.items()}
    raws: dict[str, Any] = {}
    for name, found in job.paths.items():
        z = names[name]
        raw = sp.diff(out, z)
        in_names = None
        if found:
            total = sp.Integer(0)
            for path in found:
                term = sp.Integer(1)
                for key in path:
                    term = term * local_sym[key]
                total = total + term
            in_names = from_sympy(sp, total)
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
        raws[name] = raw
        result.derivatives[name] = InputDerivative(
            name, in_names, from_sympy(sp, raw), None, closed, closed_of, value
        )
    yield result
    # simplify() is most of SymPy's time (4.6 of 4.8 s for a sum of eight
    # functions): it comes last, so a timeout still leaves the derivatives
    for name, raw in raws.items():
        if sp.count_ops(raw) <= MAX_SIMPLIFY_OPS:
            simple = sp.simplify(raw)
            if sp.count_ops(simple) < sp.count_ops(raw) and _readable(sp, simple):
                result.derivatives[name].simplified = from_sympy(sp, simple)
    yield result


def _slot_count(s: _Step) -> int:
    return max((i for i, _ in s.inputs), default=-1) + 1


#: the seed's sigmoid, as the warm-up job
_SEED_JOB = _Job(
    steps=[
        _Step("z", 0.5),
        _Step("f", -0.5, E.Neg(E.Var("_0")), [(0, "z")], [(0, "z", E.Num(-1.0))]),
        _Step("g", 0.6, E.Call("exp", (E.Var("_0"),)), [(0, "f")], [(0, "f", E.Var("g"))]),
        _Step("h", 1.6, E.Bin("+", E.Num(1.0), E.Var("_1")), [(1, "g")], [(1, "g", E.Num(1.0))]),
        _Step("i", 0.62, E.Bin("/", E.Num(1.0), E.Var("_1")), [(1, "h")], [(1, "h", E.Num(1.0))]),
    ],
    output="i",
    inputs={"z": 0.5},
    paths={"z": [[("i", 1), ("h", 1), ("g", 0), ("f", 0)]]},
)


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
