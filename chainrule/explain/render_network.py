"""A network explanation as text, Markdown, HTML and plain data (the ``"network"`` kind).

One table, a row per layer call: output shape, the gradient norms around the
layer, its gain (its local derivative, in norm) and the running product of gains
from the output back to it, then the activation statistics and the diagnosis.
Every format shows the same columns, from :data:`COLUMNS`.
"""

from __future__ import annotations

import html
import json
from typing import Any

from chainrule.explain.network_report import LayerRecord, NetworkReport
from chainrule.explain.page_live import (
    PAGE_CSS,
    VARS,
    csp,
    graph_svg,
    live_block,
    script_block,
)
from chainrule.explain.page_network import layer_id, page_graph
from chainrule.explain.render_common import pad, width

#: column titles, in the order every table shows them
COLUMNS = (
    "layer",
    "type",
    "output shape",
    "‖∂loss/∂out‖",
    "‖∂loss/∂in‖",
    "gain",
    "product",
    "mean ± std",
    "dead / saturated",
)


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.0f}%"


def _cells(layer: LayerRecord, product: float) -> list[str]:
    flags = []
    if layer.dead is not None:
        flags.append(f"{_pct(layer.dead)} dead")
    if layer.saturated is not None:
        flags.append(f"{_pct(layer.saturated)} saturated")
    return [
        layer.name or "(model)",
        layer.type,
        "×".join(map(str, layer.output_shape)) or "scalar",
        _num(layer.grad_output_norm),
        _num(layer.grad_input_norm),
        _num(layer.gain),
        _num(product),
        f"{layer.mean:.3g} ± {layer.std:.3g}",
        ", ".join(flags),
    ]


def _rows(rep: NetworkReport) -> list[list[str]]:
    return [_cells(lay, p) for lay, p in zip(rep.layers, rep.product)]


def _title(rep: NetworkReport) -> str:
    return f"Explain {rep.model}: {rep.loss_name} = {rep.loss:.6g}"


# -------------------------------------------------------------------------- text
def render_text(rep: NetworkReport) -> str:
    rows = _rows(rep)
    widths = [max([width(c)] + [width(r[i]) for r in rows]) for i, c in enumerate(COLUMNS)]
    numeric = {3, 4, 5, 6}

    def line(cells: list[str] | tuple[str, ...]) -> str:
        parts = [pad(c, w, right=i in numeric) for i, (c, w) in enumerate(zip(cells, widths))]
        return ("  " + "  ".join(parts)).rstrip()

    out = [_title(rep), "", line(COLUMNS), "  " + "  ".join("─" * w for w in widths)]
    out += [line(r) for r in rows]
    out += ["", "Gain = ‖∂loss/∂in‖ / ‖∂loss/∂out‖; product = the gains from the output down to"]
    out += ["the layer, multiplied (how much of the output's gradient reaches it).", ""]
    out += ["Diagnosis"] + [f"  • {d}" for d in rep.diagnosis]
    params = _param_lines(rep)
    if params:
        out += ["", "Parameters (‖p‖, ‖∂loss/∂p‖)"] + [f"  {p}" for p in params]
    return "\n".join(out) + "\n"


def _param_lines(rep: NetworkReport) -> list[str]:
    lines = []
    for lay in rep.layers:
        for pname, p in lay.params.items():
            full = f"{lay.name}.{pname}" if lay.name else pname
            lines.append(f"{full}: {_num(p.norm)}, {_num(p.grad_norm)}")
    return lines


# ---------------------------------------------------------------------- markdown
def _md(s: str) -> str:
    return s.replace("|", "\\|")


def render_markdown(rep: NetworkReport) -> str:
    out = [f"### {_md(_title(rep))}", ""]
    out.append("| " + " | ".join(COLUMNS) + " |")
    out.append(
        "|" + "|".join("---:" if i in (3, 4, 5, 6) else "---" for i in range(len(COLUMNS))) + "|"
    )
    out += ["| " + " | ".join(_md(c) for c in r) + " |" for r in _rows(rep)]
    out += ["", "**Diagnosis**", ""] + [f"- {_md(d)}" for d in rep.diagnosis]
    return "\n".join(out) + "\n"


_LATEX_SPECIAL = {c: "\\" + c for c in "&%$#_{}"}


def _tex(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(c, c) for c in text)
    for uni, tex in (
        ("‖", "$\\|$"), ("∂", "$\\partial$"), ("±", "$\\pm$"), ("×", "$\\times$"),
        ("σ", "$\\sigma$"), ("≤", "$\\le$"), ("−", "-"), ("—", "--"), ("²", "$^2$"),
        ("'", "'"), ("•", ""),
    ):  # fmt: skip
        out = out.replace(uni, tex)
    return out


def render_latex(rep: NetworkReport, standalone: bool = False) -> str:
    """The table as a ``tabular`` and the diagnosis as a list; ``standalone`` wraps a
    whole document."""
    spec = "".join("r" if i in (3, 4, 5, 6) else "l" for i in range(len(COLUMNS)))
    lines = [
        f"% {_title(rep)}",
        f"\\begin{{tabular}}{{{spec}}}",
        " & ".join(_tex(c) for c in COLUMNS) + " \\\\ \\hline",
    ]
    lines += [" & ".join(_tex(c) for c in r) + " \\\\" for r in _rows(rep)]
    lines += ["\\end{tabular}", "", "\\begin{itemize}"]
    lines += [f"  \\item {_tex(d)}" for d in rep.diagnosis]
    lines.append("\\end{itemize}")
    body = "\n".join(lines) + "\n"
    if not standalone:
        return body
    return (
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n"
        "\\usepackage[landscape,margin=1.5cm]{geometry}\n\\begin{document}\n"
        f"\\section*{{{_tex(_title(rep))}}}\n{body}\\end{{document}}\n"
    )


def render_dot(rep: NetworkReport) -> str:
    """Graphviz DOT: the input, each layer call (output shape, gradient norm, gain) and
    the loss, as the chain the forward pass made."""

    def q(text: str) -> str:
        return '"' + text.replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = ["digraph chainrule_network {", "  rankdir=LR;", "  node [shape=box];"]
    lines.append('  "in" [label="input"];')
    for k, (lay, p) in enumerate(zip(rep.layers, rep.product)):
        label = (
            f"{lay.name + ' · ' if lay.name else ''}{lay.type}\n"
            f"{'×'.join(map(str, lay.output_shape)) or 'scalar'}\n"
            f"‖∂loss/∂out‖ {_num(lay.grad_output_norm)}, gain {_num(lay.gain)}\n"
            f"product {_num(p)}"
        )
        colour = ", color=red" if p < 1e-3 else ""
        lines.append(f'  "l{k}" [label={q(label)}{colour}];')
    lines.append(f'  "loss" [label={q(f"{rep.loss_name} = {rep.loss:.6g}")}];')
    ids = ["in"] + [f"l{k}" for k in range(len(rep.layers))] + ["loss"]
    lines += [f'  "{a}" -> "{b}";' for a, b in zip(ids, ids[1:])]
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_svg(rep: NetworkReport) -> str:
    """The page's drawing of the layers as a standalone SVG (no Graphviz needed)."""
    return '<?xml version="1.0" encoding="utf-8"?>\n' + graph_svg(page_graph(rep), standalone=True)


# -------------------------------------------------------------------------- html
_CSS = """
.chainrule-network { color:#1d2330; font-family: system-ui, "Noto Sans", sans-serif; }
.chainrule-network h1 { font-size: 20px; margin: 0 0 10px; }
.chainrule-network h2 { font-size: 14px; text-transform: uppercase; letter-spacing: .06em;
  color: #5b6475; margin: 24px 0 8px; }
.chainrule-network table.layers { border-collapse: collapse; font-variant-numeric: tabular-nums; }
.chainrule-network table.layers th { text-align: left; font-size: 12px; color:#5f6b7a;
  border-bottom: 2px solid #dde3ea; padding: 6px 10px; white-space: nowrap; }
.chainrule-network table.layers td { border-bottom: 1px solid #dde3ea; padding: 6px 10px;
  white-space: nowrap; }
.chainrule-network td.num { text-align: right; font-family: ui-monospace, Menlo, monospace; }
.chainrule-network td.low { color: #b3261e; font-weight: 600; }
.chainrule-network ul { padding-left: 20px; }
.chainrule-network details.drill { border-top: 1px solid #dde3ea; padding: 8px 0; }
.chainrule-network details.drill summary { cursor: pointer; font-weight: 600; }
"""
_PAGE = """
:root { %s }
body { margin: 0; background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 40px; overflow-x: auto; }
"""


def _table(rep: NetworkReport, drill: dict[int, str] | None) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
    body_rows = []
    for k, (r, p) in enumerate(zip(_rows(rep), rep.product)):
        tds = []
        for i, c in enumerate(r):
            cls = "num" if i in (3, 4, 5, 6) else ""
            if i == 6 and p < 1e-3:
                cls += " low"  # the gradient has vanished by this layer
            text = e(c)
            if i == 0:
                cls = "name"
                if drill and k in drill:
                    text = f'<a href="#drill-{k}">{text}</a>'
            tds.append(f'<td class="{cls.strip()}">{text}</td>' if cls else f"<td>{text}</td>")
        body_rows.append(f'<tr data-node="{layer_id(k)}">' + "".join(tds) + "</tr>")
    return (
        f'<table class="layers"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body_rows)}</tbody></table>"
    )


def _drill_sections(rep: NetworkReport, drill: dict[int, str]) -> str:
    e = html.escape
    parts = ["<h2>Inside each layer: node by node</h2>"]
    for k, fragment in sorted(drill.items()):
        lay = rep.layers[k]
        parts.append(
            f'<details class="drill" id="drill-{k}"><summary>{e(lay.label)} ({e(lay.type)})'
            f"</summary>{fragment}</details>"
        )
    return "".join(parts)


def render_html(
    rep: NetworkReport,
    full_page: bool = True,
    drill: dict[int, str] | None = None,
    input_shape: list[int] | None = None,
) -> str:
    """The table and the diagnosis; the full page adds the live graph and stepper
    (:mod:`chainrule.explain.page_live`) and, given ``drill`` (layer index -> an
    HTML fragment of that layer's own explanation), a section per layer that its
    row links to."""
    e = html.escape
    diagnosis = "".join(f"<li>{e(d)}</li>" for d in rep.diagnosis)
    table = _table(rep, drill if full_page else None)
    if not full_page:
        body = (
            f'<div class="chainrule-network"><h1>{e(_title(rep))}</h1>{table}'
            f"<h2>Diagnosis</h2><ul>{diagnosis}</ul></div>"
        )
        return f"<style>{_CSS}</style>{body}"
    live = page_graph(rep, input_shape)
    body = (
        f'<div class="chainrule-network"><div id="cr-root"><h1>{e(_title(rep))}</h1>'
        f"<h2>Diagnosis</h2><ul>{diagnosis}</ul>"
        f"{live_block(live)}<h2>Layer by layer</h2>{table}</div>"
        f"{_drill_sections(rep, drill) if drill else ''}</div>"
    )
    start = "Press next ▶ (or the → key) to walk the forward pass, then the backward pass."
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp()}">\n'
        f"<title>{e(_title(rep))}</title>\n"
        f"<style>{_PAGE % VARS}{_CSS}{PAGE_CSS}</style>\n</head>\n"
        f"<body>\n<main>{body}</main>\n{script_block(live, start)}\n</body>\n</html>\n"
    )


# -------------------------------------------------------------------------- data
def to_dict(rep: NetworkReport) -> dict[str, Any]:
    """The schema of issue 17, exactly (see ``NetworkExplanation``)."""
    return {
        "model": rep.model,
        "loss": rep.loss,
        "layers": [
            {
                "name": lay.name,
                "type": lay.type,
                "output_shape": list(lay.output_shape),
                "grad_output_norm": lay.grad_output_norm,
                "grad_input_norm": lay.grad_input_norm,
                "gain": lay.gain,
                "params": {
                    n: {"norm": p.norm, "grad_norm": p.grad_norm} for n, p in lay.params.items()
                },
                "stats": {
                    "mean": lay.mean,
                    "std": lay.std,
                    "saturated": lay.saturated,
                    "dead": lay.dead,
                },
            }
            for lay in rep.layers
        ],
        "product": list(rep.product),
        "diagnosis": list(rep.diagnosis),
    }


def to_json(rep: NetworkReport, indent: int | None = 2) -> str:
    """``to_dict`` as JSON; non-finite numbers are written as "inf", "-inf", "nan"."""
    from chainrule.explain.render_json import _json_safe  # the chain kind's rule, shared

    return json.dumps(_json_safe(to_dict(rep)), indent=indent, ensure_ascii=False)
