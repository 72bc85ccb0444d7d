"""Which function draws which kind of report in which format.

The renderers read a report's data and nothing above it; this table is the one
place that knows them all, so ``Explanation.to_html()`` and its siblings reach
a renderer by looking it up here, without any renderer importing the class that
calls it. Another kind of data (``Report.kind``) gets its own row of functions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chainrule.explain.errors import ExplainError


@functools.cache
def _chain_renderers() -> dict[str, Callable[..., Any]]:
    # Imported on first use, as before this table existed: the renderers would add
    # tens of milliseconds to every `import chainrule`, and most programs never show one.
    from chainrule.explain import (
        render_dot,
        render_html,
        render_json,
        render_latex,
        render_markdown,
        render_text,
    )

    return {
        "text": render_text.render,
        "markdown": render_markdown.render,
        "latex": render_latex.render,
        "html": render_html.render,
        "dot": render_dot.explanation_dot,
        "dict": render_json.to_dict,
        "json": render_json.to_json,
    }


@functools.cache
def _network_renderers() -> dict[str, Callable[..., Any]]:
    from chainrule.explain import render_network, render_plot  # on first use, as above

    return {
        "text": render_network.render_text,
        "markdown": render_network.render_markdown,
        "latex": render_network.render_latex,
        "dot": render_network.render_dot,
        "svg": render_network.render_svg,
        "html": render_network.render_html,
        "dict": render_network.to_dict,
        "json": render_network.to_json,
        "png": render_plot.render_png,
    }


#: kind of report -> its renderers by format (format -> renderer(report, options...))
RENDERERS: dict[str, Callable[[], dict[str, Callable[..., Any]]]] = {
    "chain": _chain_renderers,
    "network": _network_renderers,
}


def render(report: Any, fmt: str, *args: Any, **options: Any) -> Any:
    """``report`` in the format ``fmt``, by the renderer registered for its kind."""
    renderers = RENDERERS.get(report.kind)
    renderer = None if renderers is None else renderers().get(fmt)
    if renderer is None:
        raise ExplainError(f"no {fmt} renderer for a report of kind {report.kind!r}")
    return renderer(report, *args, **options)


def svg_from_dot(dot: str) -> str:
    """A DOT drawing as SVG (by ``dot`` on PATH or the ``graphviz-pure`` wheel)."""
    from chainrule.explain import render_dot  # on first use, see _chain_renderers

    return render_dot.dot_to_svg(dot)
