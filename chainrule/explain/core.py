"""``cr.explain``: run a function or an expression, and keep every step of the chain rule."""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.autograd.grad_mode import enable_grad, no_grad
from chainrule.explain import expr as E
from chainrule.explain.errors import ExplainError
from chainrule.explain.model import Step, build_steps, count_paths, paths, to_plain
from chainrule.explain.trace import Vertex, backpropagate, read_graph
from chainrule.tensor import Tensor, name_of, tensor
from chainrule.tensor import name as set_name


# ------------------------------------------------------------- the expression language
def _numeric(fn: str, args: list[Any]) -> Any:
    """A function of the language on constants (floats), never raising on overflow."""
    a = [np.float64(x) if np.ndim(x) == 0 else np.asarray(x, dtype=float) for x in args]
    x = a[0]
    if fn == "exp":
        return np.exp(x)
    if fn == "log":
        return np.log(x)
    if fn == "sqrt":
        return np.sqrt(x)
    if fn == "abs":
        return np.abs(x)
    if fn == "sin":
        return np.sin(x)
    if fn == "cos":
        return np.cos(x)
    if fn == "tan":
        return np.tan(x)
    if fn == "tanh":
        return np.tanh(x)
    if fn == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if fn == "relu":
        return np.maximum(x, 0)
    if fn in ("max", "min"):
        if len(a) == 2:
            return (np.maximum if fn == "max" else np.minimum)(a[0], a[1])
        return np.max(x) if fn == "max" else np.min(x)
    if fn == "sum":
        return np.sum(x)
    if fn == "mean":
        return np.mean(x)
    raise ExplainError(f"unknown function {fn!r}")  # the parser lets none through


def _traced(fn: str, args: list[Any]) -> Tensor:
    x = args[0]
    if fn == "tan":
        # tan is not a primitive: the quotient of two, each with its own rule
        return F.sin(x) / F.cos(x)
    if fn in ("max", "min") and len(args) == 2:
        return (F.maximum if fn == "max" else F.minimum)(args[0], args[1])
    return getattr(F, fn)(x)


_BIN = {"+": F.add, "-": F.subtract, "*": F.multiply, "/": F.divide, "^": F.power}
_NUM_BIN = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power}


def evaluate(e: E.Expr, env: dict[str, Any]) -> Any:
    """Compute ``e`` with chainrule; subexpressions without variables are folded to floats.

    Values in ``env`` are Tensors (to record a graph) or arrays (to only compute).
    Numbers are float64, so ``9^9^9^9`` overflows to inf instead of growing an integer.
    """
    with np.errstate(all="ignore"):
        return _eval(e, env)


def _is_const(v: Any) -> bool:
    return not isinstance(v, Tensor)


def _const(v: Any) -> Any:
    v = np.asarray(v, dtype=float)
    return float(v) if v.ndim == 0 else v


def _eval(e: E.Expr, env: dict[str, Any]) -> Any:
    if isinstance(e, E.Num):
        return e.value
    if isinstance(e, E.Var):
        if e.name not in env:
            raise ExplainError(f"no value for {e.name!r}; pass {e.name}=... (CLI: --at)")
        return env[e.name]
    if isinstance(e, E.Neg):
        a = _eval(e.arg, env)
        return _const(np.negative(a)) if _is_const(a) else F.negative(a)
    if isinstance(e, E.Bin):
        a, b = _eval(e.left, env), _eval(e.right, env)
        if _is_const(a) and _is_const(b):
            return _const(_NUM_BIN[e.op](np.asarray(a, float), np.asarray(b, float)))
        return _BIN[e.op](a, b)
    if isinstance(e, E.Call):
        args = [_eval(a, env) for a in e.args]
        if all(_is_const(a) for a in args):
            return _const(_numeric(e.fn, args))
        if e.fn == "mean":
            return F.mean(args[0])
        return _traced(e.fn, args)
    raise ExplainError(f"cannot evaluate {e!r}")


# ----------------------------------------------------------------------- inputs
def _as_input(name: str, value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.data
    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ExplainError(
            f"input {name!r} must be a number or an array of numbers, not {type(value).__name__}"
        ) from None
    return a


@dataclass
class Check:
    """The gradient checked against central finite differences (float64)."""

    max_abs_error: float
    max_rel_error: float
    checked: int
    total: int
    ok: bool
    skipped: str | None = None


FD_MAX_ENTRIES = 200


def finite_difference_check(
    forward: Callable[[dict[str, np.ndarray]], Any],
    inputs: dict[str, np.ndarray],
    gradients: dict[str, np.ndarray],
) -> Check:
    """Compare each gradient entry with (F(x+h) - F(x-h)) / 2h, F = sum of the output."""
    rng = np.random.default_rng(0)
    worst_abs = worst_rel = 0.0
    checked = total = 0
    ok = True

    def f(env: dict[str, np.ndarray]) -> float:
        with no_grad(), np.errstate(all="ignore"):
            out = forward(env)
        data = out.data if isinstance(out, Tensor) else np.asarray(out, dtype=float)
        return float(np.sum(data))

    for name, x in inputs.items():
        total += x.size
        flat = np.arange(x.size)
        if x.size > FD_MAX_ENTRIES:
            flat = np.sort(rng.choice(x.size, FD_MAX_ENTRIES, replace=False))
        grad = np.asarray(gradients[name], dtype=float).reshape(-1)
        for k in flat:
            idx = np.unravel_index(k, x.shape)
            h = 1e-6 * max(1.0, abs(float(x[idx])))
            env = dict(inputs)
            up, down = x.copy(), x.copy()
            up[idx] += h
            down[idx] -= h
            env[name] = up
            fp = f(env)
            env[name] = down
            fm = f(env)
            fd = (fp - fm) / (2 * h)
            g = float(grad[k])
            if not (math.isfinite(fd) and math.isfinite(g)):
                if not (fd == g or (math.isnan(fd) and math.isnan(g))):
                    ok = False
                checked += 1
                continue
            err = abs(fd - g)
            worst_abs = max(worst_abs, err)
            worst_rel = max(worst_rel, err / max(1.0, abs(g)))
            if err > 1e-5 * max(1.0, abs(g)):
                ok = False
            checked += 1
    return Check(worst_abs, worst_rel, checked, total, ok)


# ------------------------------------------------------- closed forms, without SymPy
def _closed_form_candidates(z: str) -> list[tuple[str, Callable, Callable, E.Expr]]:
    """(function, f(x), f'(x), f' as an expression of z): derivatives people know."""

    def sig(x):
        return 1 / (1 + np.exp(-x))

    s = E.Call("sigmoid", (E.Var(z),))
    t = E.Call("tanh", (E.Var(z),))
    return [
        (
            "σ(z) = 1/(1 + e^-z)",
            sig,
            lambda x: sig(x) * (1 - sig(x)),
            E.Bin("*", s, E.Bin("-", E.Num(1.0), s)),
        ),
        (
            "tanh",
            np.tanh,
            lambda x: 1 - np.tanh(x) ** 2,
            E.Bin("-", E.Num(1.0), E.Bin("^", t, E.Num(2.0))),
        ),
        ("softplus log(1 + e^z)", lambda x: np.log1p(np.exp(x)), sig, s),
    ]


def numeric_closed_form(
    forward: Callable[[dict[str, Any]], Any], arrays: dict[str, np.ndarray]
) -> tuple[E.Expr, str, float] | None:
    """For a function of one number: a known function it equals at several points
    (so its derivative has that function's closed form). Needs no SymPy."""
    if len(arrays) != 1:
        return None
    ((name, x0),) = arrays.items()
    if x0.ndim:
        return None
    points = float(x0) + np.array([-1.3, -0.4, 0.0, 0.35, 1.1, 2.0])
    try:
        with no_grad(), np.errstate(all="ignore"):
            values = []
            for p in points:
                out = forward({name: np.float64(p)})
                values.append(float(np.asarray(getattr(out, "data", out))))
    except (ArithmeticError, ValueError, TypeError):
        return None
    values = np.array(values)
    for what, f, df, form in _closed_form_candidates(name):
        if np.allclose(values, f(points), rtol=1e-10, atol=1e-12):
            return form, what, float(df(float(x0)))
    return None


# -------------------------------------------------------------------- explanation
class Explanation:
    """Every step of the chain rule for one function at one point.

    Built by :func:`explain`. ``value`` is the output, ``gradients`` maps each input
    name to d output / d input (of the sum of the output, for array outputs).
    ``str(ex)`` is a text table; ``to_markdown``, ``to_latex``, ``to_html``,
    ``to_dot``, ``to_svg`` and ``to_dict`` are the other formats. ``lang`` ("en" or
    "ko") picks the labels' language.
    """

    def __init__(
        self,
        *,
        title: str,
        expression: E.Expr | None,
        inputs: dict[str, np.ndarray],
        vertices: list[Vertex],
        root: Vertex | None,
        out_value: np.ndarray,
        gradients: dict[str, np.ndarray],
        check: Check,
        notes: list[str],
        lang: str = "en",
        closed_form: tuple[E.Expr, str, float] | None = None,
    ) -> None:
        self.title = title
        self.expression = expression
        self.inputs = inputs
        self.vertices = vertices
        self.root = root
        self._value = out_value
        self._gradients = gradients
        self.check = check
        self.notes = notes
        self.lang = lang
        #: (closed form of d out / d input, whose derivative it is, its value), found
        #: numerically for a function of one number; SymPy's part does it symbolically
        self.closed_form = closed_form
        self.steps: list[Step] = build_steps(vertices)
        self._symbolic: Any = None
        self._symbolic_done = False

    # ------------------------------------------------------------------- facts
    @property
    def output(self) -> str:
        """The output's name (``i`` for the seed's sigmoid)."""
        return self.root.name if self.root is not None else "out"

    @property
    def value(self) -> float | np.ndarray:
        v = self._value
        return float(v) if np.ndim(v) == 0 else v

    @property
    def gradients(self) -> dict[str, float | np.ndarray]:
        return {n: float(g) if np.ndim(g) == 0 else g for n, g in self._gradients.items()}

    @property
    def scalar(self) -> bool:
        """True when every value in the graph is a single number."""
        return all(np.ndim(s.vertex.value) == 0 for s in self.steps)

    @property
    def nodes(self) -> list[Step]:
        return [s for s in self.steps if not s.vertex.is_leaf]

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def paths(self, input_name: str) -> tuple[int, list]:
        """(how many paths lead from the output to the input, up to 12 of them)."""
        target = self.step(input_name).vertex
        if self.root is None:
            return 0, []
        if self.root is target:
            return 1, [[]]
        return count_paths(self.steps, self.root, target), paths(self.steps, self.root, target)

    @property
    def symbolic(self) -> Any:
        """The SymPy part (:class:`~chainrule.explain.symbolic.Symbolic`), or None when
        SymPy is missing or the graph is not a function of scalars SymPy can follow."""
        if not self._symbolic_done:
            from chainrule.explain import symbolic

            self._symbolic = symbolic.analyse(self)
            self._symbolic_done = True
        return self._symbolic

    # ------------------------------------------------------------------- formats
    def to_dict(self) -> dict[str, Any]:
        """The machine-readable form (see the module doc of :mod:`chainrule.explain`)."""
        nodes = []
        for s in self.nodes:
            v = s.vertex
            nodes.append(
                {
                    "name": v.name,
                    "op": v.op,
                    "inputs": [
                        a.name if isinstance(a, Vertex) else _const_plain(a.value) for a in v.args
                    ],
                    "value": to_plain(v.value),
                    "local": [
                        {
                            "wrt": loc.src.name,
                            "formula": E.to_text(loc.formula),
                            "value": None if loc.value is None else to_plain(loc.value),
                        }
                        for loc in s.locals
                    ],
                    "grad": to_plain(v.grad),
                }
            )
        sym = self.symbolic
        return {
            "inputs": {n: to_plain(x) for n, x in self.inputs.items()},
            "output": self.output,
            "value": to_plain(self._value),
            "gradients": {n: to_plain(g) for n, g in self._gradients.items()},
            "nodes": nodes,
            "check": {
                "method": "central finite differences",
                "max_abs_error": self.check.max_abs_error,
                "checked": self.check.checked,
                "total": self.check.total,
                "ok": self.check.ok,
            },
            "symbolic": None if sym is None else sym.to_dict(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """``to_dict()`` as JSON; non-finite numbers are written as "inf", "-inf", "nan"."""
        return json.dumps(_json_safe(self.to_dict()), indent=indent, ensure_ascii=False)

    def to_text(self, lang: str | None = None) -> str:
        from chainrule.explain.render_text import render

        return render(self, lang or self.lang)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        grads = ", ".join(f"{n}={_short(g)}" for n, g in self._gradients.items())
        return f"<Explanation {self.title}: value={_short(self._value)}, gradients: {grads}>"

    def to_markdown(self, lang: str | None = None) -> str:
        from chainrule.explain.render_markdown import render

        return render(self, lang or self.lang)

    def to_latex(self, lang: str | None = None, standalone: bool = False) -> str:
        """The seed's form: the decomposition and the local derivatives as ``cases``
        blocks, then the product chain and its value. ``standalone`` makes a whole
        document (amsmath)."""
        from chainrule.explain.render_latex import render

        return render(self, lang or self.lang, standalone=standalone)

    def to_html(self, lang: str | None = None, full_page: bool = True, graph: bool = True) -> str:
        """One self-contained page (no scripts, no network): tables and MathML.

        With ``graph`` (and a Graphviz renderer, see :meth:`to_svg`) the drawn graph
        is included as inline SVG; without a renderer it is left out.
        """
        from chainrule.explain.render_html import render

        lang = lang or self.lang
        svg = None
        if graph:
            try:
                svg = self.to_svg(lang)
            except ExplainError:
                svg = None
        return render(self, lang, full_page=full_page, graph_svg=svg)

    def to_dot(self, lang: str | None = None) -> str:
        """Graphviz DOT: nodes with values and gradients, edges with local derivatives."""
        from chainrule.explain.render_dot import explanation_dot

        return explanation_dot(self, lang or self.lang)

    def to_svg(self, lang: str | None = None) -> str:
        """The DOT drawing as SVG, by ``dot`` on PATH or the ``graphviz-pure`` wheel."""
        from chainrule.explain.render_dot import dot_to_svg

        return dot_to_svg(self.to_dot(lang))

    def _repr_html_(self) -> str:
        return self.to_html(full_page=False)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _short(v: Any) -> str:
    from chainrule.explain.model import summarize

    return summarize(v, 6)


def _const_plain(value: Any) -> Any:
    if value is None:
        return None
    try:
        return to_plain(value)
    except (TypeError, ValueError):
        return str(value)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


# ------------------------------------------------------------------------ explain
def explain(
    fn_or_expression: Callable[..., Any] | str,
    /,
    *,
    order: int = 1,
    wrt: str | None = None,
    **inputs: Any,
) -> Explanation:
    """Run ``fn_or_expression`` at ``inputs`` and keep every step of the chain rule.

    With ``order=2`` the function explained is the first derivative (with respect
    to ``wrt``, by default the only input), as the engine computes it: the forward
    graph followed by its backward pass, recorded as a computation of its own. The
    chain rule applied to that graph gives the second derivative (``order=3`` goes
    one level further, and so on).

    ``fn_or_expression`` is a Python function of named inputs (written with
    chainrule operations) or a string in the expression language (numbers,
    variables, ``+ - * / ^ **``, parentheses, exp log sqrt abs sin cos tan tanh
    sigmoid relu max min, and sum mean for arrays). Inputs are numbers or arrays
    and are computed in float64.

    >>> import chainrule as cr
    >>> ex = cr.explain("1/(1+exp(-z))", z=0.5)
    >>> [s.name for s in ex.nodes]
    ['f', 'g', 'h', 'i']
    >>> round(ex.gradients["z"], 10)
    0.2350037122
    """
    arrays = {n: _as_input(n, v) for n, v in inputs.items()}
    if isinstance(fn_or_expression, str):
        tree = E.parse(fn_or_expression)
        names = E.variables(tree)
        missing = [n for n in names if n not in arrays]
        if missing:
            raise ExplainError(
                f"no value for {', '.join(map(repr, missing))}; pass "
                + ", ".join(f"{n}=..." for n in missing)
                + " (CLI: --at NAME=VALUE)"
            )
        unused = [n for n in arrays if n not in names]
        if unused:
            raise ExplainError(
                f"{', '.join(map(repr, unused))} does not appear in the expression "
                f"{fn_or_expression!r}"
            )
        title = E.to_pretty(tree)

        def forward(env: dict[str, Any]) -> Any:
            return evaluate(tree, env)

        if order != 1:
            forward, title = _higher_order(forward, title, arrays, order, wrt)
            return _explain(forward, arrays, title, None)
        return _explain(forward, arrays, title, tree)
    if not callable(fn_or_expression):
        raise ExplainError(
            "explain() takes a function or an expression string, not "
            f"{type(fn_or_expression).__name__}"
        )
    fn = fn_or_expression
    _check_signature(fn, arrays)
    title = getattr(fn, "__name__", "function")

    def forward_fn(env: dict[str, Any]) -> Any:
        return fn(**env)

    if order != 1:
        forward_fn, title = _higher_order(forward_fn, title, arrays, order, wrt)
    return _explain(forward_fn, arrays, title, None)


def _higher_order(
    forward: Callable[[dict[str, Any]], Any],
    title: str,
    arrays: dict[str, np.ndarray],
    order: int,
    wrt: str | None,
) -> tuple[Callable[[dict[str, Any]], Any], str]:
    """``forward`` replaced by its derivative ``order - 1`` times, each recorded."""
    if not isinstance(order, int) or order < 1:
        raise ExplainError(f"order must be a positive integer, got {order!r}")
    if wrt is None:
        if len(arrays) != 1:
            raise ExplainError(
                f"order={order} with several inputs: say which one to differentiate by, "
                f"e.g. wrt={next(iter(arrays))!r}"
            )
        wrt = next(iter(arrays))
    if wrt not in arrays:
        raise ExplainError(f"wrt={wrt!r} is not one of the inputs ({', '.join(arrays)})")
    for k in range(1, order):
        forward = _derivative(forward, wrt)
        title = f"d/d{wrt} {title}" if k == 1 else f"d/d{wrt} ({title})"
    return forward, title


def _derivative(
    forward: Callable[[dict[str, Any]], Any], wrt: str
) -> Callable[[dict[str, Any]], Any]:
    """The derivative of sum(forward) by ``wrt``, with its backward pass recorded."""
    from chainrule.autograd import engine

    def first(env: dict[str, Any]) -> Any:
        with enable_grad():
            leaves = {
                n: v
                if isinstance(v, Tensor) and v.requires_grad
                else tensor(np.asarray(getattr(v, "data", v), dtype=float), requires_grad=True)
                for n, v in env.items()
            }
            out = forward(leaves)
            if not isinstance(out, Tensor) or not out.requires_grad:
                return tensor(np.zeros_like(leaves[wrt].data))
            (g,) = engine.grad(
                out,
                [leaves[wrt]],
                grad_outputs=np.ones_like(out.data),
                create_graph=True,
                materialize_grads=True,
            )
        return g

    return first


def _check_signature(fn: Callable[..., Any], arrays: dict[str, Any]) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(**arrays)
    except TypeError as exc:
        params = ", ".join(sig.parameters)
        given = ", ".join(arrays) or "none"
        raise ExplainError(
            f"the inputs ({given}) do not fit the parameters of "
            f"{getattr(fn, '__name__', 'the function')}({params}): {exc}"
        ) from None


def _explain(
    forward: Callable[[dict[str, Any]], Any],
    arrays: dict[str, np.ndarray],
    title: str,
    tree: E.Expr | None,
) -> Explanation:
    notes: list[str] = []
    tensors = {n: tensor(a, requires_grad=True) for n, a in arrays.items()}
    for n, t in tensors.items():
        set_name(t, n)
    with enable_grad(), np.errstate(all="ignore"):
        out = forward(tensors)
    if not isinstance(out, Tensor):
        try:
            out = tensor(np.asarray(out, dtype=float))
        except (TypeError, ValueError):
            raise ExplainError(
                f"the function returned {type(out).__name__}, not a tensor or a number"
            ) from None
    if out.dtype.kind != "f":
        raise ExplainError(f"the output has dtype {out.dtype}; only float outputs have gradients")
    vertices, root = read_graph(out, tensors)
    # inputs the output does not depend on still get a row (and a zero gradient)
    present = {v.name for v in vertices}
    missing = [
        Vertex(n, "input", leaf=t, value=t.data) for n, t in tensors.items() if n not in present
    ]
    vertices = missing + vertices
    seed = np.ones_like(out.data)
    if out.data.ndim:
        notes.append("array_output")
    if root is not None:
        backpropagate(vertices, root, seed)
    # the engine's own backward pass, for the gradients reported
    gradients: dict[str, np.ndarray] = {}
    if tensors and out.requires_grad:
        from chainrule.autograd import engine

        with np.errstate(all="ignore"):
            grads = engine.grad(
                out, list(tensors.values()), grad_outputs=seed, retain_graph=True, allow_unused=True
            )
    else:
        grads = (None,) * len(tensors)
    for (n, a), g in zip(arrays.items(), grads):
        gradients[n] = np.zeros_like(a) if g is None else np.asarray(g.data, dtype=float)
    # the table's gradients come from the same rules; say so if they ever disagree
    for v in vertices:
        if v.kind == "input" and v.grad is not None:
            same = np.allclose(v.grad, gradients[v.name], rtol=1e-9, atol=1e-12, equal_nan=True)
            if not same:
                notes.append("hooks")
    if any(
        not np.all(np.isfinite(np.asarray(v.value, float))) for v in vertices if v.value is not None
    ):
        notes.append("non_finite")
    check = finite_difference_check(forward, arrays, gradients)
    closed = numeric_closed_form(forward, arrays)
    return Explanation(
        closed_form=closed,
        title=title,
        expression=tree,
        inputs=arrays,
        vertices=vertices,
        root=root,
        out_value=out.data,
        gradients=gradients,
        check=check,
        notes=notes,
    )


# -------------------------------------------------------------------------- graph
def graph(t: Tensor, lang: str = "en") -> str:
    """The Graphviz DOT of the graph that produced ``t`` (any computation).

    Nodes show each operation with its value; edges are labelled with the local
    derivative's formula. Leaves keep the names given with ``cr.name``.

    >>> import chainrule as cr
    >>> x = cr.name(cr.tensor(2.0, requires_grad=True), "x")
    >>> print(cr.graph(x * x + cr.sin(x)).splitlines()[0])
    digraph chainrule {
    """
    from chainrule.explain.render_dot import graph_dot

    if not isinstance(t, Tensor):
        raise ExplainError(f"graph() takes a Tensor, not {type(t).__name__}")
    vertices, root = read_graph(t, None)
    if root is None:
        leaf_name = name_of(t) or "x"
        vertices = [Vertex(leaf_name, "leaf", leaf=t, value=t.data)]
        root = vertices[0]
    return graph_dot(vertices, root, lang)
