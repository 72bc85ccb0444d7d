"""Which function draws which kind of report in which format.

The renderers read a report's data and nothing above it; this table is the one
place that knows them all, so ``Explanation.to_html()`` and its siblings reach
a renderer by looking it up here, without any renderer importing the class that
calls it. Another kind of data (``Report.kind``) gets its own row of functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.explain import (
    render_dot,
    render_html,
    render_json,
    render_latex,
    render_markdown,
    render_text,
)
from chainrule.explain.errors import ExplainError

#: kind of report -> format -> renderer(report, lang or other options...)
RENDERERS: dict[str, dict[str, Callable[..., Any]]] = {
    "chain": {
        "text": render_text.render,
        "markdown": render_markdown.render,
        "latex": render_latex.render,
        "html": render_html.render,
        "dot": render_dot.explanation_dot,
        "dict": render_json.to_dict,
        "json": render_json.to_json,
    },
}


def render(report: Any, fmt: str, *args: Any, **options: Any) -> Any:
    """``report`` in the format ``fmt``, by the renderer registered for its kind."""
    renderer = RENDERERS.get(report.kind, {}).get(fmt)
    if renderer is None:
        raise ExplainError(f"no {fmt} renderer for a report of kind {report.kind!r}")
    return renderer(report, *args, **options)


def svg_from_dot(dot: str) -> str:
    """A DOT drawing as SVG (by ``dot`` on PATH or the ``graphviz-pure`` wheel)."""
    return render_dot.dot_to_svg(dot)
