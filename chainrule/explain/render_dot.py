"""Graphviz drawings: DOT text, and SVG through a ``dot`` program.

Inputs sit on the left and the output on the right; each box shows a node's
definition, its value and (in an explanation) its gradient d out / d node; each
edge carries the local derivative, its formula and value.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from chainrule.explain import expr as E
from chainrule.explain.errors import ExplainError
from chainrule.explain.i18n import labels
from chainrule.explain.model import build_steps, local_formula, summarize
from chainrule.explain.trace import Vertex, backpropagate

if TYPE_CHECKING:
    from chainrule.explain.report import Report

FONT = "Helvetica"
_COLORS = {
    "input": ("#e7f5ec", "#2e8b57"),
    "leaf": ("#f3f0fa", "#7a5ea8"),
    "node": ("#eef3fd", "#3b67b8"),
    "output": ("#fff4e0", "#c2620a"),
}


def _id(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _html(s: str) -> str:
    return escape(s, quote=True)


def _box(title: str, rows: list[tuple[str, str]], kind: str) -> str:
    fill, line = _COLORS[kind]
    cells = [
        f'<tr><td colspan="2" align="center"><b>{_html(title)}</b></td></tr>',
    ]
    for key, val in rows:
        cells.append(
            f'<tr><td align="left"><font color="#5b6475" point-size="10">{_html(key)}</font></td>'
            f'<td align="right"><font face="Courier">{_html(val)}</font></td></tr>'
        )
    table = (
        f'<table border="0" cellborder="0" cellspacing="0" cellpadding="3" bgcolor="{fill}" '
        f'color="{line}">{"".join(cells)}</table>'
    )
    return f'shape=box, style="rounded,filled", fillcolor="{fill}", color="{line}", label=<{table}>'


def _header(title: str) -> list[str]:
    return [
        "digraph chainrule {",
        f'  graph [rankdir=LR, bgcolor="white", fontname="{FONT}", fontsize=12, '
        f"nodesep=0.35, ranksep=0.55, pad=0.25, labelloc=t, label=<{_html(title)}>];",
        f'  node [fontname="{FONT}", fontsize=12, penwidth=1.3, margin="0.06,0.03"];',
        f'  edge [fontname="{FONT}", fontsize=10, color="#6b7385", arrowsize=0.7, penwidth=1.1];',
    ]


def _draw(vertices: list[Vertex], root: Vertex, lang: str, title: str, gradients: bool) -> str:
    L = labels(lang)
    out = root.name
    steps = build_steps(vertices)
    lines = _header(title)
    for s in steps:
        v = s.vertex
        kind = "output" if v is root else v.kind if v.is_leaf else "node"
        if v.is_leaf:
            head = f"{v.name} ({L['input'] if v.kind == 'input' else L['leaf']})"
        else:
            head = f"{v.name} = {E.to_pretty(s.definition)}"
        rows = [(L["value"], "?" if v.value is None else summarize(v.value, 6))]
        if gradients and v.grad is not None:
            rows.append((f"∂{out}/∂{v.name}", summarize(v.grad, 6)))
        lines.append(f"  {_id(v.name)} [{_box(head, rows, kind)}];")
    for s in steps:
        v = s.vertex
        if v.is_leaf:
            continue
        locals_ = {(loc.position): loc for loc in s.locals}
        for position, src in v.var_inputs:
            loc = locals_.get(position)
            formula = loc.formula if loc is not None else local_formula(v, position)
            tail = f"[{loc.occurrence}]" if loc is not None and loc.occurrence else ""
            text = f"∂{v.name}/∂{src.name}{tail} = {E.to_pretty(formula)}"
            label = f'<font color="#c2620a">{_html(text)}</font>'
            if loc is not None and loc.value is not None:
                label += f'<br/><font color="#c2620a">= {_html(summarize(loc.value, 6))}</font>'
            if gradients and loc is not None and loc.passed is not None:
                label += f'<br/><font color="#1f8a4c">← {_html(summarize(loc.passed, 6))}</font>'
            lines.append(f"  {_id(src.name)} -> {_id(v.name)} [label=<{label}>];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def explanation_dot(ex: Report, lang: str) -> str:
    L = labels(lang)
    if ex.root is None:
        return "\n".join([*_header(ex.title), "}"]) + "\n"
    title = f"{L['explain']} {ex.title}"
    return _draw(ex.vertices, ex.root, lang, title, gradients=True)


def graph_dot(vertices: list[Vertex], root: Vertex, lang: str) -> str:
    """DOT of a graph read with :func:`~chainrule.explain.trace.read_graph`."""
    import numpy as np

    if all(v.node is None or v.node.args is not None for v in vertices) and root.value is not None:
        backpropagate(vertices, root, np.ones_like(root.value))
    return _draw(vertices, root, lang, labels(lang)["graph"], gradients=False)


# ----------------------------------------------------------------------------- SVG
def find_dot() -> list[str] | None:
    """The command that renders DOT: ``dot`` on PATH, else the graphviz-pure wheel's."""
    dot = shutil.which("dot")
    if dot:
        return [dot]
    scripts = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    for name in ("graphviz-pure", "graphviz-pure.exe"):
        found = shutil.which(name)
        if found:
            return [found]
        for d in scripts:
            p = d / name
            if p.is_file() and os.access(p, os.X_OK):
                return [str(p)]
    return None


def dot_to_svg(dot: str, timeout: float = 60.0) -> str:
    """Render DOT text as SVG (raises :class:`ExplainError` when no renderer is there)."""
    cmd = find_dot()
    if cmd is None:
        raise ExplainError(
            "to_svg() needs Graphviz: install the 'dot' program (e.g. apt-get install "
            'graphviz) or pip install "chainrule[explain]", which brings graphviz-pure'
        )
    try:
        done = subprocess.run(
            [*cmd, "-Tsvg"],
            input=dot.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExplainError(f"rendering the graph with {cmd[0]} failed: {exc}") from None
    if done.returncode != 0 or b"<svg" not in done.stdout:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ExplainError(
            f"rendering the graph with {cmd[0]} failed: {err[-1] if err else 'no output'}"
        )
    return done.stdout.decode("utf-8")
