"""``cr.explain`` and ``cr.graph``: run a function or an expression, trace it, check it.

Building an explanation: the inputs are read as float64 arrays, the forward pass
runs and is read back as a graph, the chain rule is applied node by node and
compared with the engine's own backward pass and with finite differences; the
result is an :class:`~chainrule.explain.explanation.Explanation`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import enable_grad
from chainrule.explain import expr as E
from chainrule.explain.budget import resolve_timeout
from chainrule.explain.check import finite_difference_check, numeric_closed_form
from chainrule.explain.errors import ExplainError
from chainrule.explain.evaluate import evaluate, run_forward
from chainrule.explain.explanation import Explanation
from chainrule.explain.network_build import (
    explain_network,
    restore_buffers,
    snapshot_buffers,
)
from chainrule.explain.network_explanation import NetworkExplanation
from chainrule.explain.network_report import LayerCapture
from chainrule.explain.orders import MAX_ORDER, higher_order
from chainrule.explain.trace import Vertex, backpropagate, read_graph
from chainrule.nn.module import Module
from chainrule.nn.rng import get_rng_state, set_rng_state
from chainrule.tensor import Tensor, name_of, tensor
from chainrule.tensor import name as set_name


# ------------------------------------------------------------------------ network
def _explain_model(
    model: Module,
    first: Any,
    more: tuple[Any, ...],
    order: int,
    wrt: str | None,
    symbolic_timeout: float | None,
    options: dict[str, Any],
) -> NetworkExplanation:
    # explain()'s positional slots are the model's inputs here; its keywords are
    # target and loss, and the chain's own options mean nothing for a network
    if order != 1 or wrt is not None or symbolic_timeout is not None:
        raise ExplainError("order, wrt and symbolic_timeout apply to a function, not to a model")
    unknown = sorted(set(options) - {"target", "loss"})
    if unknown:
        raise ExplainError(
            f"explain(model, ...) takes the inputs, target= and loss=, not {unknown[0]}="
        )
    inputs = () if first is None else (first, *more)
    return explain_network(model, *inputs, **options)


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


# ------------------------------------------------------------------------ explain
#: explain()'s own keyword parameters: a variable of that name is passed in a dict
RESERVED = ("order", "wrt", "symbolic_timeout", "element")


def explain(
    fn_or_expression: Callable[..., Any] | str | Module,
    values: Mapping[str, Any] | None = None,
    /,
    *more: Any,
    order: int = 1,
    wrt: str | None = None,
    symbolic_timeout: float | None = None,
    element: tuple[int, ...] | None = None,
    **inputs: Any,
) -> Explanation | NetworkExplanation:
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

    ``element=(i, j)``, for a function whose output is an array, explains the one
    number ``y[i, j]`` instead of the sum of the entries: the gradients are those of
    that entry, and each matmul on the way shows the entry's sum over k with its terms,
    each convolution its sum over input channels and kernel window (``w·x + b``); see
    :mod:`chainrule.explain.element` (the data) and ``ex.element_steps``.

    ``cr.explain(model, *inputs, target=None, loss=None)``, for a ``cr.nn.Module``,
    explains a network instead, with its layers as the nodes: see
    :func:`~chainrule.explain.network_build.explain_network`.
    """
    if isinstance(fn_or_expression, Module):
        if element is not None:
            raise ExplainError("element= applies to a function, not to a model")
        return _explain_model(fn_or_expression, values, more, order, wrt, symbolic_timeout, inputs)
    if more:
        raise TypeError(
            f"explain() takes from 1 to 2 positional arguments but {2 + len(more)} were given"
        )
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
    if element is not None:
        forward, title = _select_element(forward, title, element)
        tree = None  # the text form has no indexing; the graph shows it as a node
    # inf and nan are reported (the "not finite" note, the check's "not comparable"),
    # so NumPy's own warnings about them would only repeat it, as a Python warning.
    with np.errstate(all="ignore"):
        ex = _explain(forward, arrays, title, tree, from_text=isinstance(fn_or_expression, str))
    ex.symbolic_timeout = timeout
    ex.element = element
    return ex


def _select_element(
    forward: Callable[[dict[str, Any]], Any], title: str, element: Any
) -> tuple[Callable[[dict[str, Any]], Any], str]:
    """``forward`` followed by ``[element]``: the one output entry explained."""
    if isinstance(element, int) and not isinstance(element, bool):
        element = (element,)
    if not isinstance(element, tuple) or not all(
        isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in element
    ):
        raise ExplainError(f"element must be a tuple of integers such as (0, 1), not {element!r}")
    index = tuple(int(i) for i in element)

    def selected(env: dict[str, Any]) -> Any:
        out = forward(env)
        shape = tuple(np.shape(out.data if isinstance(out, Tensor) else out))
        # checked on every run (the shape is only known from the output), so the
        # finite-difference runs see the same index
        if len(index) != len(shape) or not all(-n <= i < n for i, n in zip(index, shape)):
            raise ExplainError(
                f"element={element!r} does not index the output, of shape {shape}: give one "
                f"integer per axis, each within the axis ({len(shape)} axes)"
            )
        if not isinstance(out, Tensor):
            return np.asarray(out, dtype=float)[index]
        return out[index]

    return selected, f"{title}[{', '.join(map(str, index))}]"


def _explain_layer(capture: LayerCapture) -> Explanation:
    """One layer's call explained again (see NetworkExplanation.layer)."""
    if len(capture.inputs) != 1:
        raise ExplainError(
            f"layer {capture.name!r} took {len(capture.inputs)} tensor inputs; layer() "
            "explains layers of one input"
        )
    if capture.grad_output is None:
        raise ExplainError(f"layer {capture.name!r}'s output has no gradient from the loss")
    module = capture.module
    params = {n: p for n, p in module._parameters.items() if p is not None}
    # the parameters as the call saw them, named as in the module, and the random
    # state and buffers of that call (Dropout, BatchNorm); all put back afterwards
    saved = {n: (p.data, p._extra) for n, p in params.items()}
    shots = snapshot_buffers(module)
    rng = get_rng_state()
    # The layer alone computes the same with inplace=False, and its input here is a
    # leaf that requires grad, which it could not change in place.
    inplace = module.__dict__.get("inplace")

    def forward(env: dict[str, Any]) -> Any:
        set_rng_state(capture.rng_state)  # every run (finite differences too) draws alike
        return module(env["x"])

    try:
        if inplace is not None:
            module.inplace = False
        for n, p in params.items():
            p.data = capture.params.get(n, p.data)
            p._extra = dict(p._extra or {})
            set_name(p, n)
        arrays = {"x": np.asarray(capture.inputs[0], dtype=np.float64)}
        with enable_grad(), np.errstate(all="ignore"):
            ex = _explain(
                forward,
                arrays,
                f"layer {capture.name!r} ({type(module).__name__})",
                None,
                seed=np.asarray(capture.grad_output, dtype=np.float64),
            )
    finally:
        if inplace is not None:
            module.inplace = inplace
        for n, p in params.items():
            p.data, p._extra = saved[n]
        restore_buffers(shots)
        set_rng_state(rng)
    return ex


NetworkExplanation.explainer = staticmethod(_explain_layer)


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
    seed: np.ndarray | None = None,
) -> Explanation:
    """The explanation of ``forward`` at ``arrays``; ``seed`` is d loss / d output
    when the output feeds a loss further on (a network's layer), else ones."""
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
    if seed is None:
        seed = np.ones_like(out.data)
        if out.data.ndim:
            notes.append("array_output")
    else:
        if np.shape(seed) != out.shape:
            raise ExplainError(f"the upstream gradient's shape {np.shape(seed)} is not {out.shape}")
        notes.append("seeded")
        plain = forward

        def forward(env: dict[str, Any]) -> Any:
            # what finite differences compare with: sum(seed * output), whose gradient
            # is the seeded one
            return plain(env) * seed

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
    from chainrule.explain.render_dot import graph_dot  # on first use, see formats

    if not isinstance(t, Tensor):
        raise ExplainError(f"graph() takes a Tensor, not {type(t).__name__}")
    vertices, root = read_graph(t, None)
    if root is None:
        leaf_name = name_of(t) or "x"
        vertices = [Vertex(leaf_name, "leaf", leaf=t, value=t.data)]
        root = vertices[0]
    return graph_dot(vertices, root, lang)
