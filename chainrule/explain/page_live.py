"""The interactive part of an explanation's HTML page: a drawn graph, a stepper, a script.

Both kinds of explanation (a formula's nodes, a network's layers) hand this module
the same plain data, a :class:`PageGraph`: nodes with a label and a short value
line, edges, for each node its chain in words (the local derivatives between it
and the output, which multiply to its gradient), and the steps of the forward
and backward pass. From that it draws the graph as inline
SVG (a layered layout of our own, so no Graphviz is needed) and embeds one small
script that makes it live:

* clicking a node (in the graph, or its name in the table) highlights it, its
  rows of the table and its chain (every node its value flows into, found from
  the edges), and states the chain;
* the stepper walks the forward pass and then the backward pass one node at a
  time, showing the gradient arriving, the local derivative and the product
  passed down.

The page stays offline: the script and the data are inline, and the page's
Content-Security-Policy allows exactly that script (by its SHA-256) and nothing
from the network.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from html import escape

#: node box size and gaps of the drawn graph, in CSS pixels
NODE_W, NODE_H, COL_GAP, ROW_GAP, MARGIN = 128, 50, 48, 22, 12
#: a graph with more nodes than this is not drawn (the table and stepper remain)
MAX_DRAWN = 240


@dataclass
class PageNode:
    id: str
    label: str  # the node's name, shown in bold
    value: str  # its forward value, shown under the name
    grad: str  # its gradient (upstream), shown once the backward pass reaches it
    title: str = ""  # tooltip
    chain_text: str = ""  # the chain from the output down to this node, in words
    flag: str = ""  # "" or "bad": drawn in the warning colour


@dataclass
class PageStep:
    phase: str  # "forward" or "backward"
    node: str  # id
    title: str
    rows: list[tuple[str, str, str]]  # (label, text, css class) shown in the step panel
    passed_to: list[str] = field(default_factory=list)  # ids the gradient flows to


@dataclass
class PageGraph:
    nodes: list[PageNode]
    edges: list[tuple[str, str]]  # (from id, to id), forward direction
    steps: list[PageStep]
    hint: str = "Click a node to see its chain."
    #: a chain drawn in rows of this many nodes (a network's layers), instead of the
    #: layered layout of a general graph
    wrap: int | None = None


# ----------------------------------------------------------------------- layout
def _levels(graph: PageGraph) -> dict[str, int]:
    """Column of each node: 0 for nodes without inputs, else one after its latest input."""
    inputs: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    for a, b in graph.edges:
        inputs[b].append(a)
    level: dict[str, int] = {}
    for n in graph.nodes:  # nodes come in forward order, so inputs are placed first
        level[n.id] = 1 + max((level[a] for a in inputs[n.id] if a in level), default=-1)
    return level


def _rows(graph: PageGraph, level: dict[str, int]) -> dict[str, float]:
    """Row of each node in its column, ordered by the mean row of its inputs (fewer
    crossings than the order of appearance)."""
    inputs: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    for a, b in graph.edges:
        inputs[b].append(a)
    row: dict[str, float] = {}
    columns: dict[int, list[str]] = {}
    for n in graph.nodes:
        columns.setdefault(level[n.id], []).append(n.id)
    for col in sorted(columns):
        ids = columns[col]
        order = {i: k for k, i in enumerate(ids)}
        ids.sort(key=lambda i: (_mean([row[a] for a in inputs[i] if a in row], order[i]), order[i]))
        for k, i in enumerate(ids):
            row[i] = k
    return row


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


#: the drawing's own style, for an SVG shown outside the page (``standalone``)
SVG_CSS = (
    ".gnode rect{fill:#fff;stroke:#9aa5b8;stroke-width:1.4}.gnode.bad rect{stroke:#c0392b}"
    "text{text-anchor:middle;font-family:monospace;font-size:11px}"
    ".glabel{font-weight:700;font-size:12.5px;fill:#1d2433}.gval{fill:#2f6fdf}"
    ".ggrad{fill:#1f8a4c}.gedge{fill:none;stroke:#a8b1c2;stroke-width:1.5}.arrowhead{fill:#a8b1c2}"
)


def graph_svg(graph: PageGraph, standalone: bool = False) -> str:
    """The graph as inline SVG: ``<g class="gnode" data-node=ID>`` per node and
    ``<path class="gedge" data-from=ID data-to=ID>`` per edge; ``standalone`` adds
    the drawing's own style (the page styles it otherwise)."""
    if graph.wrap:
        level = {n.id: k % graph.wrap for k, n in enumerate(graph.nodes)}
        row = {n.id: float(k // graph.wrap) for k, n in enumerate(graph.nodes)}
    else:
        level = _levels(graph)
        row = _rows(graph, level)
    height_rows = max(row.values(), default=0) + 1
    width = MARGIN * 2 + (max(level.values(), default=0) + 1) * (NODE_W + COL_GAP) - COL_GAP
    height = MARGIN * 2 + height_rows * (NODE_H + ROW_GAP) - ROW_GAP

    def xy(i: str) -> tuple[float, float]:
        return MARGIN + level[i] * (NODE_W + COL_GAP), MARGIN + row[i] * (NODE_H + ROW_GAP)

    parts = [
        f'<svg class="cr-graph" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="computational graph">' + (f"<style>{SVG_CSS}</style>" if standalone else ""),
        '<defs><marker id="cr-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
        'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" '
        'class="arrowhead"/></marker></defs>',
    ]
    for a, b in graph.edges:
        parts.append(
            f'<path class="gedge" data-from="{escape(a)}" data-to="{escape(b)}" '
            f'd="{_edge_path(xy(a), xy(b), graph.wrap is not None and row[a] != row[b])}" '
            'marker-end="url(#cr-arrow)"/>'
        )
    for n in graph.nodes:
        x, y = xy(n.id)
        flag = f" {n.flag}" if n.flag else ""
        parts.append(
            f'<g class="gnode{flag}" data-node="{escape(n.id)}" data-name="{escape(n.label)}" '
            f'transform="translate({x:.1f},{y:.1f})" tabindex="0">'
            f"<title>{escape(n.title or n.label)}</title>"
            f'<rect width="{NODE_W}" height="{NODE_H}" rx="9"/>'
            f'<text class="glabel" x="{NODE_W / 2}" y="17">{escape(_short(n.label, 16))}</text>'
            f'<text class="gval" x="{NODE_W / 2}" y="32">{escape(_short(n.value, 18))}</text>'
            f'<text class="ggrad" x="{NODE_W / 2}" y="45">{escape(_short(n.grad, 18))}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _edge_path(a: tuple[float, float], b: tuple[float, float], down: bool) -> str:
    """A curve from the right of box ``a`` to the left of box ``b``; ``down``: from
    the bottom of ``a`` to the top of ``b`` (a wrapped chain's next row)."""
    (x1, y1), (x2, y2) = a, b
    if down:
        x1, y1, x2, y2 = x1 + NODE_W / 2, y1 + NODE_H, x2 + NODE_W / 2, y2 - 2
        c1, c2 = y1 + ROW_GAP * 2, y2 - ROW_GAP * 2
        return f"M{x1:.1f},{y1:.1f} C{x1:.1f},{c1:.1f} {x2:.1f},{c2:.1f} {x2:.1f},{y2:.1f}"
    x1, y1, x2, y2 = x1 + NODE_W, y1 + NODE_H / 2, x2 - 2, y2 + NODE_H / 2
    mid = (x1 + x2) / 2
    return f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# ------------------------------------------------------------------ the script
#: the page's colours, shared by both kinds of page
VARS = """--ink:#1d2433; --muted:#5b6475; --line:#dfe3ea; --soft:#f6f8fb;
  --fwd:#2f6fdf; --local:#c2620a; --grad:#1f8a4c; --bad:#c0392b;"""

PAGE_CSS = """
.cr-live { display: grid; grid-template-columns: minmax(0, 1fr); gap: 10px; }
.cr-figure { margin: 0; overflow-x: auto; border: 1px solid var(--line); border-radius: 10px;
  padding: 6px; background: #fff; }
svg.cr-graph { display: block; max-width: none; }
svg.cr-graph .gnode { cursor: pointer; }
svg.cr-graph .gnode rect { fill: #fff; stroke: #9aa5b8; stroke-width: 1.4; }
svg.cr-graph .gnode.bad rect { stroke: var(--bad); }
svg.cr-graph text { text-anchor: middle; font-family: ui-monospace,Menlo,Consolas,monospace;
  font-size: 11px; }
svg.cr-graph .glabel { font-weight: 700; font-size: 12.5px; fill: var(--ink); }
svg.cr-graph .gval { fill: var(--fwd); }
svg.cr-graph .ggrad { fill: var(--grad); }
svg.cr-graph .gedge { fill: none; stroke: #a8b1c2; stroke-width: 1.5; }
svg.cr-graph .arrowhead { fill: #a8b1c2; }
svg.cr-graph .gnode.chain rect { stroke: var(--grad); stroke-width: 2.2; fill: #f1faf4; }
svg.cr-graph .gedge.chain { stroke: var(--grad); stroke-width: 2.4; }
svg.cr-graph .gnode.sel rect { stroke: var(--local); stroke-width: 3; fill: #fff6ec; }
svg.cr-graph .gnode.current rect { stroke: var(--fwd); stroke-width: 3.2; fill: #eef4ff; }
svg.cr-graph .gedge.flow { stroke: var(--grad); stroke-width: 3; stroke-dasharray: 6 4; }
.cr-stepping svg.cr-graph .gnode:not(.computed) .gval { visibility: hidden; }
.cr-stepping svg.cr-graph .gnode:not(.has-grad) .ggrad { visibility: hidden; }
.cr-stepping svg.cr-graph .gnode:not(.computed):not(.current) rect { stroke-dasharray: 4 3; }
table.element-steps { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
table.element-steps th { text-align: left; font-size: 12px; font-weight: 600; color: var(--muted);
  border-bottom: 2px solid var(--line); padding: 6px 10px; }
table.element-steps td { border-bottom: 1px solid var(--line); padding: 6px 10px;
  vertical-align: top; font-family: ui-monospace,Menlo,Consolas,monospace; font-size: 13px; }
table.element-steps td.value { color: var(--fwd); }
table.element-steps td.upstream, table.element-steps .passed { color: var(--grad); }
table.element-steps ul, table.element-steps ol { margin: 0; padding-left: 18px; }
section.element h3 { font-size: 15px; text-transform: uppercase; letter-spacing: .06em;
  color: var(--muted); margin: 26px 0 8px; font-weight: 600; }
tr.sel td { background: #fff6ec !important; }
tr.chain td { background: #f1faf4; }
tr.current td { background: #eef4ff !important; }
td.name { cursor: pointer; }
.cr-chain { font-family: ui-monospace,Menlo,Consolas,monospace; font-size: 13.5px;
  color: var(--ink); background: var(--soft); border-radius: 8px; padding: 8px 12px;
  min-height: 1.5em; white-space: pre-wrap; }
.cr-stepper { border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; }
.cr-stepper button { font: inherit; font-size: 13.5px; padding: 4px 12px; margin-right: 6px;
  border: 1px solid #b9c2d0; border-radius: 6px; background: #fff; cursor: pointer; }
.cr-stepper button:disabled { opacity: .45; cursor: default; }
.cr-step-title { font-weight: 650; margin: 8px 0 4px; }
.cr-step-title[data-phase="forward"] { color: var(--fwd); }
.cr-step-title[data-phase="backward"] { color: var(--grad); }
table.cr-step-rows { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.cr-step-rows td { padding: 2px 12px 2px 0; vertical-align: top; }
table.cr-step-rows td:first-child { color: var(--muted); white-space: nowrap; }
table.cr-step-rows td:last-child { font-family: ui-monospace,Menlo,Consolas,monospace; }
table.cr-step-rows .arriving { color: var(--grad); }
table.cr-step-rows .local { color: var(--local); }
table.cr-step-rows .product { color: var(--grad); font-weight: 650; }
table.cr-step-rows .value { color: var(--fwd); }
.cr-step-count { color: var(--muted); font-size: 12.5px; margin-left: 8px; }
"""

# One script for both kinds of page. It reads the data block, so what the page shows
# comes from the same numbers as the table; everything it touches is inside #cr-root.
SCRIPT = r"""
(() => {
  const root = document.getElementById('cr-root');
  const data = JSON.parse(document.getElementById('cr-data').textContent);
  const nodes = {};
  data.nodes.forEach(n => { nodes[n.id] = n; });
  const users = {};
  data.edges.forEach(([a, b]) => { (users[a] = users[a] || []).push(b); });
  const all = sel => Array.from(root.querySelectorAll(sel));
  // the graph's nodes and the rows of the node or layer table (not other tables' rows)
  const marked = '.gnode[data-node], table.nodes tr[data-node], table.layers tr[data-node]';
  const of = id => all(marked).filter(e => e.dataset.node === id);
  const clear = cls => all('.' + cls).forEach(e => e.classList.remove(cls));
  const chainBox = document.getElementById('cr-chain');
  let selected = null;
  function select(id) {
    clear('sel'); clear('chain');
    selected = id;
    if (id === null || !(id in nodes)) {
      selected = null; chainBox.textContent = data.hint; return;
    }
    const on = new Set([id]);  // id and every node its value flows into, up to the output
    const todo = [id];
    while (todo.length) {
      (users[todo.pop()] || []).forEach(u => { if (!on.has(u)) { on.add(u); todo.push(u); } });
    }
    on.forEach(c => of(c).forEach(e => e.classList.add('chain')));
    all('.gedge').forEach(e => {
      if (on.has(e.dataset.from) && on.has(e.dataset.to)) e.classList.add('chain');
    });
    of(id).forEach(e => e.classList.add('sel'));
    chainBox.textContent = nodes[id].chain_text;
  }
  all('.gnode').forEach(g => {
    const pick = () => select(selected === g.dataset.node ? null : g.dataset.node);
    g.addEventListener('click', pick);
    g.addEventListener('keydown', e => { if (e.key === 'Enter' || e.key === ' ') pick(); });
  });
  all('tr[data-node] td.name').forEach(td => td.addEventListener('click', () => {
    const id = td.parentElement.dataset.node;
    select(selected === id ? null : id);
  }));

  const steps = data.steps;
  let at = -1;
  const title = document.getElementById('cr-step-title');
  const rows = document.getElementById('cr-step-rows');
  const count = document.getElementById('cr-step-count');
  const prev = document.getElementById('cr-prev');
  const next = document.getElementById('cr-next');
  function show() {
    ['current', 'computed', 'has-grad', 'flow'].forEach(clear);
    root.classList.toggle('cr-stepping', at >= 0);
    for (let k = 0; k <= at; k++) {
      const s = steps[k];
      of(s.node).forEach(e => e.classList.add(s.phase === 'forward' ? 'computed' : 'has-grad'));
    }
    prev.disabled = at < 0;
    next.disabled = at >= steps.length - 1;
    rows.textContent = '';
    if (at < 0) {
      title.textContent = data.start;
      title.dataset.phase = '';
      root.dataset.step = '';
      count.textContent = steps.length + ' steps';
      return;
    }
    const s = steps[at];
    root.dataset.step = String(at);
    title.textContent = s.title;
    title.dataset.phase = s.phase;
    title.dataset.stepNode = s.node;
    count.textContent = 'step ' + (at + 1) + ' of ' + steps.length;
    of(s.node).forEach(e => e.classList.add('current'));
    all('.gedge').forEach(e => {
      if (e.dataset.to === s.node && s.passed_to.includes(e.dataset.from)) e.classList.add('flow');
    });
    s.rows.forEach(([label, text, cls]) => {
      const tr = document.createElement('tr');
      const a = document.createElement('td');
      const b = document.createElement('td');
      a.textContent = label; b.textContent = text;
      if (cls) b.className = cls;
      tr.append(a, b); rows.append(tr);
    });
  }
  next.addEventListener('click', () => { if (at < steps.length - 1) { at++; show(); } });
  prev.addEventListener('click', () => { if (at >= 0) { at--; show(); } });
  document.getElementById('cr-reset').addEventListener('click', () => { at = -1; show(); });
  document.addEventListener('keydown', e => {
    if (e.key === 'ArrowRight') next.click();
    if (e.key === 'ArrowLeft') prev.click();
  });
  // a layer's link to its drill-down opens the section it points to
  all('a[href^="#drill-"]').forEach(a => a.addEventListener('click', () => {
    const target = document.getElementById(a.getAttribute('href').slice(1));
    if (target && target.tagName === 'DETAILS') target.open = true;
  }));
  select(null);
  show();
})();
"""


def _data(graph: PageGraph, start: str) -> dict:
    return {
        "hint": graph.hint,
        "start": start,
        "nodes": [{"id": n.id, "label": n.label, "chain_text": n.chain_text} for n in graph.nodes],
        "edges": [list(e) for e in graph.edges],
        "steps": [
            {
                "phase": s.phase,
                "node": s.node,
                "title": s.title,
                "rows": [list(r) for r in s.rows],
                "passed_to": s.passed_to,
            }
            for s in graph.steps
        ],
    }


def _json_for_script(obj: object) -> str:
    # "</" would end the script element early; "\u003c" reads back as the same text
    return json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c")


def script_hash() -> str:
    """The CSP source that allows exactly :data:`SCRIPT` (and no other script)."""
    digest = hashlib.sha256(SCRIPT.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def csp() -> str:
    """Nothing from the network: inline style, data: images, and our one script."""
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {script_hash()}"
    )


ENGLISH = {
    "graph": "Graph",
    "stepper": "Step through the passes",
    "start": (
        "Press next ▶ (or the → key) to walk the forward pass, then the backward pass, "
        "one node at a time."
    ),
    "back": "back",
    "next": "next",
    "reset": "reset",
}


def live_block(graph: PageGraph, headings: dict[str, str] = ENGLISH, draw: bool = True) -> str:
    """The graph (when ``draw`` and not too big), the chain box and the stepper.

    ``headings``: "graph", "stepper", "start" (the stepper's first line), "back",
    "next", "reset".
    """
    parts = ['<section class="cr-live">']
    if draw and len(graph.nodes) <= MAX_DRAWN:
        parts.append(f"<h2>{escape(headings['graph'])}</h2>")
        parts.append(f'<figure class="cr-figure">{graph_svg(graph)}</figure>')
    elif draw:
        parts.append(
            f'<p class="caption">The graph has {len(graph.nodes)} nodes, more than '
            f"{MAX_DRAWN}: it is not drawn; the table and the stepper below show every node.</p>"
        )
    parts.append(
        f'<div id="cr-chain" class="cr-chain" aria-live="polite">{escape(graph.hint)}</div>'
    )
    parts.append(f"<h2>{escape(headings['stepper'])}</h2>")
    parts.append(
        '<div class="cr-stepper">'
        f'<button id="cr-prev" type="button">◀ {escape(headings["back"])}</button>'
        f'<button id="cr-next" type="button">{escape(headings["next"])} ▶</button>'
        f'<button id="cr-reset" type="button">{escape(headings["reset"])}</button>'
        '<span id="cr-step-count" class="cr-step-count"></span>'
        f'<div id="cr-step-title" class="cr-step-title">{escape(headings["start"])}</div>'
        '<table class="cr-step-rows"><tbody id="cr-step-rows"></tbody></table>'
        "</div>"
    )
    parts.append("</section>")
    return "\n".join(parts)


def script_block(graph: PageGraph, start: str) -> str:
    """The data and the script, to close the page's body."""
    return (
        f'<script type="application/json" id="cr-data">{_json_for_script(_data(graph, start))}'
        f"</script>\n<script>{SCRIPT}</script>"
    )
