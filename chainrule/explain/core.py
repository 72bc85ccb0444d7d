"""``cr.explain``: run a function or an expression, and keep every step of the chain rule."""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from chainrule.explain import expr as E
from chainrule.explain.budget import resolve_timeout
from chainrule.explain.check import Check, finite_difference_check, numeric_closed_form
from chainrule.explain.errors import ExplainError
from chainrule.explain.evaluate import evaluate, run_forward
from chainrule.explain.model import Step, build_steps, count_paths, paths, to_plain
from chainrule.explain.orders import MAX_ORDER, higher_order
from chainrule.explain.trace import Vertex, backpropagate, read_graph
from chainrule.tensor import Tensor, name_of, tensor
from chainrule.tensor import name as set_name


# ----------------------------------------------------------------------- inputs
def _as_input(name: str, value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.data
    try:
        a = np.array(value, dtype=np.float64)
    except OverflowError:
        raise ExplainError(
            f"input {name!r} is too large for a float64 (the largest is about 1.8e308)"
        ) from None
    except (TypeError, ValueError):
        raise ExplainError(
            f"input {name!r} must be a number or an array of numbers, not {type(value).__name__}"
        ) from None
    return a


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
        #: seconds SymPy may take (None: the default, see chainrule.explain.budget)
        self.symbolic_timeout: float | None = None

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

            self._symbolic = symbolic.analyse(self, self.symbolic_timeout)
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
                "not_comparable": self.check.not_comparable,
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
#: explain()'s own keyword parameters: a variable of that name is passed in a dict
RESERVED = ("order", "wrt", "symbolic_timeout")


def explain(
    fn_or_expression: Callable[..., Any] | str,
    values: Mapping[str, Any] | None = None,
    /,
    *,
    order: int = 1,
    wrt: str | None = None,
    symbolic_timeout: float | None = None,
    **inputs: Any,
) -> Explanation:
    """Run ``fn_or_expression`` at ``inputs`` and keep every step of the chain rule.

    With ``order=2`` the function explained is the first derivative (with respect
    to ``wrt``, by default the only input), as the engine computes it: the forward
    graph followed by its backward pass, recorded as a computation of its own. The
    chain rule applied to that graph gives the second derivative (``order=3`` goes
    one level further, up to :data:`MAX_ORDER`).

    ``fn_or_expression`` is a Python function of named inputs (written with
    chainrule operations) or a string in the expression language (numbers,
    variables, the constants ``e`` and ``pi``, ``+ - * / ^ **``, parentheses, exp
    log sqrt abs sin cos tan tanh sigmoid relu max min, and sum mean for arrays).
    Inputs are numbers or arrays, given as keywords or, for a variable named like a
    parameter of this function (``order``, ``wrt``), in the dict ``values``; they
    are computed in float64.

    The symbolic part (SymPy) runs within ``symbolic_timeout`` seconds (default 5,
    or the environment variable ``CHAINRULE_SYMBOLIC_TIMEOUT``; ``math.inf``: no
    limit); past it the report says so and keeps the numeric chain and the check.

    >>> import chainrule as cr
    >>> ex = cr.explain("1/(1+exp(-z))", z=0.5)
    >>> [s.name for s in ex.nodes]
    ['f', 'g', 'h', 'i']
    >>> round(ex.gradients["z"], 10)
    0.2350037122
    >>> cr.explain("order * 2", {"order": 1.5}).gradients
    {'order': 2.0}
    """
    if values is not None:
        if not isinstance(values, Mapping):
            raise ExplainError(
                f"explain()'s second argument is a dict of values, not {type(values).__name__}"
            )
        both = [n for n in values if n in inputs]
        if both:
            raise ExplainError(
                f"{', '.join(map(repr, both))} given twice (in the dict and as keywords)"
            )
        inputs = {**values, **inputs}
    clash = _reserved_clash(fn_or_expression, inputs)
    if clash is not None:
        how = "explain(fn, " if callable(fn_or_expression) else f"explain({fn_or_expression!r}, "
        raise ExplainError(
            f"{clash!r} names a variable and a parameter of explain(); pass the values in "
            f"a dict: {how}{{{clash!r}: ...}})"
        )
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        raise ExplainError(f"order must be a positive integer, got {order!r}")
    if order > MAX_ORDER:
        raise ExplainError(
            f"order {order} is above the highest explained, {MAX_ORDER} (each order about "
            "triples the graph)"
        )
    timeout = resolve_timeout(symbolic_timeout)  # a bad value fails now, not at printing
    arrays = {n: _as_input(n, v) for n, v in inputs.items()}
    if isinstance(fn_or_expression, str):
        forward, title, tree = _from_expression(fn_or_expression, arrays)
    elif callable(fn_or_expression):
        fn = fn_or_expression
        _check_signature(fn, arrays)
        title = getattr(fn, "__name__", "function")
        tree = None

        def forward(env: dict[str, Any]) -> Any:
            return fn(**env)
    else:
        raise ExplainError(
            "explain() takes a function or an expression string, not "
            f"{type(fn_or_expression).__name__}"
        )
    if order != 1:
        forward, title = higher_order(
            forward, title, arrays, order, wrt, from_text=isinstance(fn_or_expression, str)
        )
        tree = None
    # inf and nan are reported (the "not finite" note, the check's "not comparable"),
    # so NumPy's own warnings about them would only repeat it, as a Python warning.
    with np.errstate(all="ignore"):
        ex = _explain(forward, arrays, title, tree, from_text=isinstance(fn_or_expression, str))
    ex.symbolic_timeout = timeout
    return ex


def _reserved_clash(fn_or_expression: Any, inputs: dict[str, Any]) -> str | None:
    """A variable named like a parameter of explain() whose value Python bound to the
    parameter instead (``explain("order*2", order=1)``): the name, else None."""
    if isinstance(fn_or_expression, str):
        try:
            names = E.variables(E.parse(fn_or_expression))
        except ExplainError:
            return None  # the parse error is reported where it belongs
    else:
        try:
            params = inspect.signature(fn_or_expression).parameters.values()
        except (TypeError, ValueError):
            return None
        # only a parameter that needs a value: f(x, order=2) keeps its default
        names = [
            p.name
            for p in params
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
    return next((n for n in names if n in RESERVED and n not in inputs), None)


def _from_expression(
    text: str, arrays: dict[str, np.ndarray]
) -> tuple[Callable[[dict[str, Any]], Any], str, E.Expr]:
    tree = E.parse(text)
    names = E.variables(tree)
    bound = [n for n in arrays if n in E.CONSTANTS]
    if bound:
        n = bound[0]
        raise ExplainError(
            f"{n!r} is the constant {n} = {E.CONSTANTS[n]:.6g} in expressions, not a variable; "
            "give the variable another name"
        )
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
            f"{', '.join(map(repr, unused))} does not appear in the expression {text!r}"
        )

    def forward(env: dict[str, Any]) -> Any:
        return evaluate(tree, env)

    return forward, E.to_pretty(tree), tree


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
    from_text: bool = False,
) -> Explanation:
    notes: list[str] = []
    tensors = {n: tensor(a, requires_grad=True) for n, a in arrays.items()}
    for n, t in tensors.items():
        set_name(t, n)
    out = run_forward(forward, tensors, from_text)
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

        grads = engine.grad(  # NumPy's warnings are off here: see explain()
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
