"""One output entry followed back through the graph, as scalars (``element=(i, j)``).

The node table summarises arrays; for ``explain(fn, ..., element=(i, j))`` the
gradient of the chosen entry reaches each node at a single entry (until a matmul
spreads it along a row), so that entry can be shown as the seed shows the sigmoid:
the node's value there, its local derivative, the upstream gradient and their
product passed down. A matmul's entry is a sum over k, written out term by term.
Plain text lines, read by the text and Markdown renderers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.explain import expr as E
from chainrule.explain.model import Step
from chainrule.explain.trace import Const, Vertex

if TYPE_CHECKING:
    from chainrule.explain.report import Report

#: a sum over k with at most this many terms is written out; a longer one is summarised
MAX_TERMS = 8


def _n(v: Any) -> str:
    return E.format_number(float(v), 6)


def _at(name: str, index: tuple[int, ...]) -> str:
    return f"{name}[{', '.join(map(str, index))}]" if index else name


def _single(grad: Any) -> tuple[int, ...] | None:
    """The one entry where ``grad`` is not zero (() for a number), else None."""
    g = np.asarray(grad)
    if g.ndim == 0:
        return ()
    hits = np.argwhere(g != 0)
    return tuple(int(i) for i in hits[0]) if len(hits) == 1 else None


def _value(arg: Vertex | Const) -> np.ndarray:
    return np.asarray(arg.value, dtype=float)


def _label(arg: Vertex | Const, fallback: str) -> str:
    return arg.name if isinstance(arg, Vertex) else fallback


def _sum_terms(a: np.ndarray, b: np.ndarray) -> str:
    """``a0·b0 + a1·b1 + …`` for a short sum, else the count of its terms."""
    if len(a) <= MAX_TERMS:
        return " + ".join(f"{_n(x)}·{_n(y)}" for x, y in zip(a, b))
    return f"(a sum of {len(a)} terms)"


def _listed(values: np.ndarray) -> str:
    if len(values) <= MAX_TERMS:
        return "[" + ", ".join(_n(x) for x in values) + "]"
    return f"{len(values)} values, sum {_n(np.sum(values))}"


def matmul_lines(ex: Report, step: Step, index: tuple[int, int]) -> list[str]:
    """The entry ``index`` of ``v = A @ B`` as a sum over k, and each input's share."""
    v = step.vertex
    a_arg, b_arg = v.args[0], v.args[1]
    a, b = _value(a_arg), _value(b_arg)
    i, j = index
    an, bn = _label(a_arg, "A"), _label(b_arg, "B")
    row, col = a[i, :], b[:, j]
    up = float(np.asarray(v.grad)[i, j])
    out, at = ex.output, _at(v.name, index)
    lines = [
        f"  {at} = Σ_k {an}[{i}, k]·{bn}[k, {j}] = {_sum_terms(row, col)} = "
        f"{_n(np.dot(row, col))}   (k = 0 … {len(row) - 1})",
        f"    upstream ∂{out}/∂{at} = {_n(up)}",
    ]
    # each input: the local derivative of the entry, and the product passed down
    for arg, name, local, where in (
        (a_arg, an, col, f"{an}[{i}, k]"),
        (b_arg, bn, row, f"{bn}[k, {j}]"),
    ):
        if not isinstance(arg, Vertex):
            continue
        other = f"{bn}[k, {j}]" if arg is a_arg else f"{an}[{i}, k]"
        lines.append(f"    ∂{at}/∂{where} = {other} = {_listed(local)}")
        lines.append(f"    → {name}: ∂{out}/∂{where} = {_n(up)} · {other} = {_listed(up * local)}")
    return lines


def _elementwise_lines(ex: Report, step: Step, index: tuple[int, ...]) -> list[str] | None:
    """A node at one entry, when each input's entry is known: an input of the node's
    shape (elementwise), or the entry an indexing node selects; else None."""
    v = step.vertex
    shape = np.shape(v.value)
    up = float(np.asarray(v.grad)[index])
    at = _at(v.name, index)
    lines = [f"  {at} = {_n(np.asarray(v.value)[index])}"]
    lines.append(f"    upstream ∂{ex.output}/∂{at} = {_n(up)}")
    for loc in step.locals:
        if loc.value is None or loc.passed is None:
            continue
        if np.shape(loc.src.value) == shape:
            where, local = index, float(np.asarray(loc.value)[index])
        elif v.builtin_op == "getitem" and shape == ():
            where, local = _single(loc.passed), 1.0  # the entry selected passes it on as is
            if where is None:
                return None
        else:
            return None  # a broadcast or reducing node: its entry mixes several inputs
        src = _at(loc.src.name, where)
        lines.append(
            f"    ∂{at}/∂{src} = {E.to_pretty(loc.formula)} = {_n(local)}"
            f"   → {src}: {_n(up)} · {_n(local)} = {_n(up * local)}"
        )
    return lines


def element_lines(ex: Report) -> list[str]:
    """The chosen entry followed from the output back, one block per node; [] when
    the explanation has no ``element``."""
    if getattr(ex, "element", None) is None:
        return []
    lines: list[str] = []
    for step in reversed(ex.nodes):
        v = step.vertex
        if v.grad is None or not np.any(np.asarray(v.grad)):
            continue
        index = _single(v.grad)
        if index is None:
            # a second matmul on the way spreads the gradient over several entries
            count = int(np.count_nonzero(v.grad))
            lines.append(f"  {v.name}: the gradient reaches {count} entries (see the table)")
            continue
        if (
            v.builtin_op == "matmul"
            and len(index) == 2
            and all(_value(a).ndim == 2 for a in v.args[:2])
        ):
            lines += matmul_lines(ex, step, (index[0], index[1]))
            continue
        block = _elementwise_lines(ex, step, index)
        if block is not None:
            lines += block
    return lines
