"""A formula's explanation as the interactive page's data (a :class:`PageGraph`).

Nodes are the report's vertices (``n0``, ``n1``, … in forward order); each node's
chain is every node between it and the output, and its chain text is the product
of local derivatives along those paths, as the seed writes it
(``∂i/∂f = ∂i/∂h · ∂h/∂g · ∂g/∂f``), then in numbers. The steps are the forward
pass in order, then the backward pass from the output down: the gradient
arriving at the node, each local derivative and the product passed down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from chainrule.explain import expr as E
from chainrule.explain.i18n import labels
from chainrule.explain.model import MAX_PATHS, Local, Step, summarize
from chainrule.explain.page_live import PageGraph, PageNode, PageStep
from chainrule.explain.render_common import num
from chainrule.explain.trace import Vertex

if TYPE_CHECKING:
    from chainrule.explain.report import Report

Path = list[tuple[Vertex, Local]]  # from the output down: (consumer, its local derivative)


def _d(of: str, wrt: str, occurrence: int = 0) -> str:
    return f"∂{of}/∂{wrt}" + (f"[{occurrence}]" if occurrence else "")


def _factor(value: object) -> str:
    s = num(value)
    return f"({s})" if s.startswith("-") else s


def _scalar(*values: object) -> bool:
    return all(v is not None and np.ndim(v) == 0 for v in values)


def _paths(steps: list[Step], root: Vertex | None) -> dict[int, tuple[list[Path], int]]:
    """For each vertex (by id): up to MAX_PATHS paths to the output, and their count."""
    users: dict[int, list[tuple[Vertex, Local]]] = {}
    for s in steps:
        for loc in s.locals:
            users.setdefault(id(loc.src), []).append((s.vertex, loc))
    found: dict[int, tuple[list[Path], int]] = {}
    for s in reversed(steps):  # consumers before their inputs
        v = s.vertex
        if v is root:
            found[id(v)] = ([[]], 1)
            continue
        paths: list[Path] = []
        count = 0
        for user, loc in users.get(id(v), []):
            up, n = found.get(id(user), ([], 0))
            count += n
            paths += [p + [(user, loc)] for p in up][: MAX_PATHS - len(paths)]
        found[id(v)] = (paths, count)
    return found


def _chain_text(ex: Report, v: Vertex, paths: list[Path], count: int, lang: str) -> str:
    L = labels(lang)
    out = ex.output
    if v is ex.root:
        return L["is_output"].format(name=out)
    lhs = _d(out, v.name)
    pad = " " * len(lhs)
    if not count:
        return f"{lhs} = 0 ({out} does not depend on {v.name})"
    symbols = " + ".join(
        " · ".join(_d(u.name, loc.src.name, loc.occurrence) for u, loc in p) for p in paths
    )
    if count > len(paths):
        symbols += " + …"
    if count == 1 and len(paths[0]) == 1:  # one factor: say what it is
        return f"{lhs} = {E.to_text(paths[0][0][1].formula)} = {num(v.grad)}"
    lines = [f"{lhs} = {symbols}"]
    if count > 1:
        lines[0] += f"   ({L['sum_paths'].format(n=count)})"
    scalar = all(_scalar(loc.value) for p in paths for _, loc in p)
    if scalar and count == len(paths):
        values = " + ".join(" · ".join(_factor(loc.value) for _, loc in p) for p in paths)
        lines.append(f"{pad} = {values}")
    lines.append(f"{pad} = {num(v.grad)}")
    return "\n".join(lines)


def _forward_step(s: Step, node_id: str, L: dict[str, str]) -> PageStep:
    v = s.vertex
    if v.is_leaf:
        kind = L["input"] if v.kind == "input" else L["leaf"]
        title = f"{L['forward']} · {v.name} ({kind})"
        rows = [(L["value"], f"{v.name} = {num(v.value)}", "value")]
    else:
        title = f"{L['forward']} · {v.name}"
        definition = f"{v.name} = {E.to_text(s.definition)}" if s.definition is not None else ""
        rows = [
            (L["definition"], definition, ""),
            (L["value"], f"{v.name} = {num(v.value)}", "value"),
        ]
    return PageStep("forward", node_id, title, rows)


def _arriving(ex: Report, v: Vertex, L: dict[str, str]) -> str:
    out = ex.output
    if v is ex.root:
        return f"{_d(out, out)} = 1 ({L['the_output']})"
    text = f"{_d(out, v.name)} = {num(v.grad)}"
    parts = [value for _, _, value in v.received]
    if len(parts) > 1 and _scalar(*parts):
        text = (
            f"{_d(out, v.name)} = {' + '.join(_factor(p) for p in parts)} = {num(v.grad)}"
            f" ({L['sum_of_users'].format(n=len(parts))})"
        )
    return text


def _backward_step(ex: Report, s: Step, node_id: str, ids: dict[int, str], L) -> PageStep:
    v = s.vertex
    rows = [(L["arriving"], _arriving(ex, v, L), "arriving")]
    if v.is_leaf:
        kind = L["input"] if v.kind == "input" else L["leaf"]
        title = f"{L['backward']} · {v.name} ({kind})"
        rows.append((L["result"], L["is_gradient"].format(out=ex.output, name=v.name), ""))
        return PageStep("backward", node_id, title, rows)
    passed_to = []
    for loc in s.locals:
        src = loc.src.name
        formula = E.to_text(loc.formula)
        lv = "" if loc.value is None or num(loc.value) == formula else f" = {num(loc.value)}"
        local = f"{_d(v.name, src, loc.occurrence)} = {formula}{lv}"
        rows.append((L["local"], local, "local"))
        if loc.passed is None:
            continue
        if _scalar(v.grad, loc.value, loc.passed):
            product = f"{_factor(v.grad)} · {_factor(loc.value)} = {num(loc.passed)}"
        else:
            product = num(loc.passed)
        rows.append((L["passed_to"].format(name=src), product, "product"))
        passed_to.append(ids[id(loc.src)])
    return PageStep("backward", node_id, f"{L['backward']} · {v.name}", rows, passed_to)


def page_graph(ex: Report, lang: str) -> PageGraph:
    """The report's graph, chains and steps for the interactive page."""
    L = labels(lang)
    ids = {id(s.vertex): f"n{k}" for k, s in enumerate(ex.steps)}
    found = _paths(ex.steps, ex.root)
    nodes, edges = [], []
    for s in ex.steps:
        v = s.vertex
        paths, count = found[id(v)]
        nodes.append(
            PageNode(
                id=ids[id(v)],
                label=v.name,
                value=summarize(v.value, 6),
                grad=f"∂{ex.output}/∂{v.name}={summarize(v.grad, 6)}",
                title=(
                    f"{v.name} = {E.to_text(s.definition)}"
                    if not v.is_leaf and s.definition is not None
                    else v.name
                ),
                chain_text=_chain_text(ex, v, paths, count, lang),
                flag="" if _finite(v.value) and _finite(v.grad) else "bad",
            )
        )
        for _, a in v.var_inputs:
            edge = (ids.get(id(a)), ids[id(v)])
            if edge[0] is not None and edge not in edges:
                edges.append(edge)
    steps = [_forward_step(s, ids[id(s.vertex)], L) for s in ex.steps]
    steps += [_backward_step(ex, s, ids[id(s.vertex)], ids, L) for s in reversed(ex.steps)]
    return PageGraph(nodes, edges, steps, hint=L["graph_hint"])


def _finite(value: object) -> bool:
    if value is None:
        return True
    a = np.asarray(value)
    return a.dtype.kind not in "fc" or bool(np.all(np.isfinite(a)))
