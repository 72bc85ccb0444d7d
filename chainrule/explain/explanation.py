"""``Explanation``: the report of the chain rule, with a method for each format.

The data is :class:`~chainrule.explain.report.Report`; this class adds what a
user calls (``str(ex)``, ``to_html()``, notebook display) and reaches the
renderers through :mod:`chainrule.explain.formats`, one layer down.
"""

from __future__ import annotations

from typing import Any

from chainrule.explain import formats
from chainrule.explain.model import summarize
from chainrule.explain.report import Report


class Explanation(Report):
    """Every step of the chain rule for one function at one point.

    Built by :func:`~chainrule.explain.build.explain`. ``value`` is the output,
    ``gradients`` maps each input name to d output / d input (of the sum of the
    output, for array outputs). ``str(ex)`` is a text table; ``to_markdown``,
    ``to_latex``, ``to_html``, ``to_dot``, ``to_svg`` and ``to_dict`` are the other
    formats. ``lang`` ("en" or "ko") picks the labels' language.

    >>> import chainrule as cr
    >>> ex = cr.explain("x*x", x=3.0)
    >>> ex.to_dict()["gradients"], ex.to_dot().splitlines()[0]
    ({'x': 6.0}, 'digraph chainrule {')
    """

    @staticmethod
    def analyser(report: Report, timeout: float | None) -> Any:
        # SymPy's side is imported on first use, as the renderers are (see formats)
        from chainrule.explain import symbolic

        return symbolic.analyse(report, timeout)

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable form (see the module doc of :mod:`chainrule.explain`)."""
        return formats.render(self, "dict")

    def to_json(self, indent: int | None = 2) -> str:
        """``to_dict()`` as JSON; non-finite numbers are written as "inf", "-inf", "nan"."""
        return formats.render(self, "json", indent=indent)

    def to_text(self, lang: str | None = None) -> str:
        return formats.render(self, "text", lang or self.lang)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        grads = ", ".join(f"{n}={_short(g)}" for n, g in self.gradient_arrays.items())
        return f"<Explanation {self.title}: value={_short(self.out_value)}, gradients: {grads}>"

    def to_markdown(self, lang: str | None = None) -> str:
        return formats.render(self, "markdown", lang or self.lang)

    def to_latex(self, lang: str | None = None, standalone: bool = False) -> str:
        """The seed's form: the decomposition and the local derivatives as ``cases``
        blocks, then the product chain and its value. ``standalone`` makes a whole
        document (amsmath)."""
        return formats.render(self, "latex", lang or self.lang, standalone=standalone)

    def to_html(self, lang: str | None = None, full_page: bool = True, graph: bool = True) -> str:
        """One self-contained page that works offline: tables, MathML and a live graph.

        The full page draws the graph (inline SVG, no Graphviz needed) and carries one
        inline script: clicking a node highlights its row and its chain, and a stepper
        walks the forward pass, then the backward pass, one node at a time. Nothing is
        loaded from the network. ``graph=False`` leaves the drawing out (the stepper
        stays); ``full_page=False`` gives a notebook fragment: tables and a still
        graph, no script.
        """
        return formats.render(self, "html", lang or self.lang, full_page=full_page, graph=graph)

    def to_dot(self, lang: str | None = None) -> str:
        """Graphviz DOT: nodes with values and gradients, edges with local derivatives."""
        return formats.render(self, "dot", lang or self.lang)

    def to_svg(self, lang: str | None = None) -> str:
        """The DOT drawing as SVG, by ``dot`` on PATH or the ``graphviz-pure`` wheel."""
        return formats.svg_from_dot(self.to_dot(lang))

    def _repr_html_(self) -> str:
        return self.to_html(full_page=False)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _short(v: Any) -> str:
    return summarize(v, 6)
