"""What an explanation shows, independent of the format it is shown in.

Each vertex becomes a :class:`Step`: its definition as an expression over the
names of its inputs (``h = 1 + g``), and per input its local derivative, taken
from the primitive table's formula with the input names put in for ``x`` and
``y`` (``∂i/∂h = -1/h^2``), the derivative's value and the product passed down.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.explain import expr as E
from chainrule.explain.errors import ExplainError
from chainrule.explain.trace import Const, Vertex

#: The names a primitive's formulas use for its inputs, by position (default x, y).
_FORMULA_NAMES = {
    "where": (("cond",), ("x",), ("y",)),
    "clip": (("x",), ("lo",), ("hi",)),
    "clip_strict": (("x",), ("lo",), ("hi",)),
    "matmul": (("x", "A"), ("y", "B")),
}
_DEFAULT_NAMES = (("x",), ("y",))

_UNARY_CALLS = {"exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu"}
_BINARY_OPS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}
_REDUCTIONS = {"sum", "max", "min", "prod", "logsumexp"}

MAX_PATHS = 12


def summarize(value: Any, digits: int = 10) -> str:
    """A number as text, or an array as its shape and a short summary."""
    a = np.asarray(value)
    if a.ndim == 0:
        return E.format_number(float(a), digits) if a.dtype.kind in "fiub" else str(a)
    if a.dtype.kind not in "fiub":
        return f"array{a.shape}"
    if a.size <= 4 and a.ndim == 1:
        return "[" + ", ".join(E.format_number(float(x), 6) for x in a) + "]"
    if a.size == 0:
        return f"shape {a.shape}, empty"
    with np.errstate(all="ignore"):
        lo, hi, mean = float(np.min(a)), float(np.max(a)), float(np.mean(a))
    shape = "×".join(str(n) for n in a.shape)
    return (
        f"{shape}: mean {E.format_number(mean, 4)}, "
        f"[{E.format_number(lo, 4)} … {E.format_number(hi, 4)}]"
    )


def to_plain(value: Any) -> Any:
    """A value for to_dict: a float, or nested lists of floats."""
    a = np.asarray(value)
    if a.dtype.kind in "fiub":
        return float(a) if a.ndim == 0 else a.astype(float).tolist()
    return a.tolist()


def is_scalar(value: Any) -> bool:
    return value is not None and np.ndim(value) == 0


def _const_expr(value: Any) -> E.Expr:
    if value is None:
        return E.Opaque("None")
    if isinstance(value, (int, float, np.integer, np.floating)) or np.ndim(value) == 0:
        try:
            return E.Num(float(value))
        except (TypeError, ValueError):
            return E.Opaque(str(value))
    if np.ndim(value):
        a = np.asarray(value)
        if a.ndim == 1 and a.size <= 4:
            return E.Opaque(summarize(a, 4))
        return E.Opaque("[" + "×".join(str(n) for n in a.shape) + "]")
    return E.Opaque(str(value))


def ref(arg: Vertex | Const) -> E.Expr:
    """An input of a node as an expression: its name, or the constant."""
    if isinstance(arg, Vertex):
        return E.Var(arg.name)
    return _const_expr(arg.value)


def _params_text(params: dict | None) -> str:
    if not params:
        return ""
    parts = []
    for k, v in params.items():
        if k.startswith("_"):  # per-call state (a custom Function's ctx), not a parameter
            continue
        if k == "keepdims" and not v:
            continue
        if k == "axis" and v is None:
            continue
        if k == "index":
            continue
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def definition(v: Vertex, args: list[E.Expr] | None = None) -> E.Expr:
    """The node's operation over its inputs' names: ``Bin('+', 1, g)`` for h = 1 + g.

    ``args`` replaces the inputs (SymPy differentiates with one symbol per position).
    """
    args = [ref(a) for a in v.args] if args is None else args
    op = v.builtin_op or ""
    params = v.params or {}
    if op in _BINARY_OPS and len(args) == 2:
        return E.Bin(_BINARY_OPS[op], args[0], args[1])
    if op == "neg":
        return E.Neg(args[0])
    if op in _UNARY_CALLS and len(args) == 1:
        return E.Call(op, (args[0],))
    if op in ("maximum", "minimum") and len(args) == 2:
        return E.Call(op[:3], tuple(args))
    if op in _REDUCTIONS and not _params_text(params):
        return E.Call(op, (args[0],))
    names = [E.to_text(a) for a in args]
    if op == "matmul":
        return E.Opaque(f"{names[0]} @ {names[1]}")
    if op == "getitem":
        return E.Opaque(f"{names[0]}[{_index_text(params.get('index'))}]")
    if op == "cast":
        return E.Opaque(f"{names[0]} as {params.get('dtype')}")
    extra = _params_text(params)
    inside = ", ".join(names + ([extra] if extra else []))
    return E.Opaque(f"{v.op or ''}({inside})")


def _index_text(index: Any) -> str:
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if isinstance(p, slice):
            s = "" if p.start is None else str(p.start)
            s += ":" + ("" if p.stop is None else str(p.stop))
            if p.step is not None:
                s += f":{p.step}"
            out.append(s)
        elif p is Ellipsis:
            out.append("...")
        elif p is None:
            out.append("None")
        elif np.ndim(p):
            a = np.asarray(p)
            if a.ndim == 1 and a.size <= 6:
                out.append("[" + ", ".join(str(x) for x in a.tolist()) + "]")
            else:
                out.append(f"<{a.dtype.name} {'×'.join(str(n) for n in a.shape)}>")
        else:
            out.append(str(p))
    return ", ".join(out)


def _formula_names(op: str, position: int) -> tuple[str, ...]:
    table = _FORMULA_NAMES.get(op, _DEFAULT_NAMES)
    return table[position] if position < len(table) else ()


def local_formula(v: Vertex, position: int) -> E.Expr:
    """The primitive table's formula for d v / d (input ``position``), in names."""
    node = v.node
    formulas = node.prim.formulas if node is not None else ()
    if not formulas:
        return E.Opaque("?")
    text = formulas[position] if position < len(formulas) else formulas[-1]
    mapping: dict[str, E.Expr] = {}
    for i, a in enumerate(v.args):
        for alias in _formula_names(v.builtin_op or "", i):
            mapping[alias] = ref(a)
    try:
        parsed = E.parse(text)
    except ExplainError:
        parsed = None
    if parsed is not None and set(E.variables(parsed)) <= set(mapping):
        return E.simplify(E.substitute(parsed, mapping))

    def put(m: re.Match) -> str:
        e = mapping.get(m.group(0))
        return m.group(0) if e is None else E.to_text(e)

    return E.Opaque(re.sub(r"(?<![A-Za-z0-9])[A-Za-z]+(?![A-Za-z0-9(])", put, text))


@dataclass
class Local:
    position: int
    src: Vertex
    formula: E.Expr
    value: np.ndarray | None
    passed: np.ndarray | None
    # the input appears more than once among the node's inputs: 1, 2, ...
    occurrence: int = 0


@dataclass
class Step:
    vertex: Vertex
    definition: E.Expr | None
    locals: list[Local] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.vertex.name


def build_steps(vertices: list[Vertex]) -> list[Step]:
    """Inputs and other leaves first, then the nodes in evaluation order."""
    leaves = [v for v in vertices if v.is_leaf]
    leaves.sort(key=lambda v: v.kind != "input")
    steps = [Step(v, None) for v in leaves]
    for v in vertices:
        if v.is_leaf:
            continue
        step = Step(v, definition(v))
        counts: dict[int, int] = {}
        for _, src in v.var_inputs:
            counts[id(src)] = counts.get(id(src), 0) + 1
        seen: dict[int, int] = {}
        for position, src, local, passed in v.edges:
            seen[id(src)] = seen.get(id(src), 0) + 1
            occurrence = seen[id(src)] if counts[id(src)] > 1 else 0
            step.locals.append(
                Local(position, src, local_formula(v, position), local, passed, occurrence)
            )
        steps.append(step)
    return steps


# ---------------------------------------------------------------- paths
Edge = tuple[Vertex, Local]  # (consumer, its local derivative wrt the input)


def count_paths(steps: list[Step], root: Vertex, target: Vertex) -> int:
    """How many paths lead from ``root`` down to ``target`` (edges counted apart)."""
    by_vertex = {id(s.vertex): s for s in steps}
    ways: dict[int, int] = {id(root): 1}
    for s in reversed(steps):
        w = ways.get(id(s.vertex), 0)
        if not w:
            continue
        for loc in s.locals:
            ways[id(loc.src)] = ways.get(id(loc.src), 0) + w
    del by_vertex
    return ways.get(id(target), 0)


def paths(steps: list[Step], root: Vertex, target: Vertex, limit: int = MAX_PATHS) -> list:
    """Up to ``limit`` paths from ``root`` to ``target``, each a list of edges, output first."""
    by_vertex = {id(s.vertex): s for s in steps}
    # vertices from which target is reachable
    reach = {id(target)}
    for s in steps:
        if any(id(loc.src) in reach for loc in s.locals):
            reach.add(id(s.vertex))
    found: list[list[Edge]] = []
    stack: list[tuple[Vertex, list[Edge]]] = [(root, [])]
    while stack and len(found) < limit:
        v, path = stack.pop()
        if v is target:
            found.append(path)
            continue
        step = by_vertex.get(id(v))
        if step is None:
            continue
        for loc in reversed(step.locals):
            if id(loc.src) in reach:
                stack.append((loc.src, [*path, (v, loc)]))
    return found


def partial_text(out: str, v: Vertex, loc: Local) -> str:
    """``∂h/∂g``, or ``∂f/∂x[2]`` for the second of two uses of x in f."""
    tail = f"[{loc.occurrence}]" if loc.occurrence else ""
    return f"∂{v.name}/∂{loc.src.name}{tail}"


def prime_text(v: Vertex, loc: Local) -> str | None:
    """The seed's ``g'(f)`` for a node with one varying input, else None."""
    if len(v.var_inputs) != 1:
        return None
    return f"{v.name}'({loc.src.name})"


def finite(value: Any) -> bool:
    a = np.asarray(value)
    return a.dtype.kind not in "fc" or bool(np.all(np.isfinite(a)))


def product(values: list[Any]) -> float:
    return math.prod(float(v) for v in values)
