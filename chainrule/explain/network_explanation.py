"""``NetworkExplanation``: a network's report, with a method for each format.

The data is :class:`~chainrule.explain.network_report.NetworkReport`; this class
adds what a user calls and reaches the renderers of the ``"network"`` kind
through :mod:`chainrule.explain.formats`, one layer down.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from typing import Any, ClassVar

from chainrule.explain import formats
from chainrule.explain.errors import ExplainError
from chainrule.explain.network_report import LayerCapture, NetworkReport

#: the full page explains the first this many layer calls node by node (each one
#: re-runs that layer's forward on its captured input)
MAX_DRILL = 40


class NetworkExplanation(NetworkReport):
    """The chain rule one level up: each layer of a network, its gradients and gain.

    Built by ``cr.explain(model, *inputs, target=None, loss=None)``. ``str(ex)`` is a
    text table; ``to_markdown``, ``to_html``, ``to_dict``, ``to_json`` are the other
    formats and ``plot(path)`` draws a PNG. ``to_dict()`` schema::

        {"model": str, "loss": float,
         "layers": [{"name": str, "type": str, "output_shape": [int],
                     "grad_output_norm": float, "grad_input_norm": float | None,
                     "gain": float | None,
                     "params": {name: {"norm": float, "grad_norm": float}},
                     "stats": {"mean": float, "std": float,
                               "saturated": float | None, "dead": float | None}}],
         "product": [float], "diagnosis": [str]}

    ``grad_norm`` is None for a parameter that does not require grad.

    ``layer(name)`` drills down into one layer: see :meth:`layer`.
    """

    #: explains one captured layer call (``explain_layer(capture)``); set by the
    #: building layer above, as Report.analyser is, so this class imports no builder
    explainer: ClassVar[Callable[[LayerCapture], Any] | None] = None

    #: one per entry of ``layers``: the input, upstream gradient and parameters that
    #: call had; the builder sets it on the instance (an explanation built by hand has
    #: none), so the copies live exactly as long as the explanation
    captures: tuple[LayerCapture, ...] | list[LayerCapture] = ()

    def layer(self, name: str, call: int = 0) -> Any:
        """The node-by-node explanation of layer ``name``'s own computation.

        The layer's forward runs again on the input it received in the network's
        pass, with its parameters as they were then, and the chain rule is seeded
        with d loss / d its output from that pass: the upstream gradients shown are
        the real ones of the network's loss, and ``gradients["x"]`` is d loss / d the
        layer's input. Arrays are summarised by shape and statistics. A module
        called several times has one entry per call: ``call=0`` (the default) is
        the first, ``call=1`` the second. Returns an
        :class:`~chainrule.explain.explanation.Explanation`.
        """
        entries = [c for c in self.captures if c.name == name]
        if not entries:
            names = ", ".join(dict.fromkeys(repr(layer.name) for layer in self.layers))
            raise ExplainError(f"no layer named {name!r}; the layers are: {names or 'none'}")
        if not isinstance(call, int) or not 0 <= call < len(entries):
            raise ExplainError(
                f"layer {name!r} was called {len(entries)} time(s); call= is 0 to "
                f"{len(entries) - 1}, not {call!r}"
            )
        explain_layer = type(self).explainer
        if explain_layer is None:  # only when the builder was never imported
            raise ExplainError("layer() needs chainrule.explain.build")
        return explain_layer(entries[call])

    def to_dict(self) -> dict[str, Any]:
        return formats.render(self, "dict")

    def to_json(self, indent: int | None = 2) -> str:
        """``to_dict()`` as JSON; non-finite numbers are written as "inf", "-inf", "nan"."""
        return formats.render(self, "json", indent=indent)

    def to_text(self) -> str:
        return formats.render(self, "text")

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return (
            f"<NetworkExplanation {self.model}: {self.loss_name}={self.loss:.6g}, "
            f"{len(self.layers)} layers>"
        )

    def to_markdown(self) -> str:
        return formats.render(self, "markdown")

    def to_latex(self, standalone: bool = False) -> str:
        """The table as a LaTeX ``tabular`` and the diagnosis as a list (``standalone``:
        a whole document)."""
        return formats.render(self, "latex", standalone=standalone)

    def to_dot(self) -> str:
        """Graphviz DOT: the input, the layers (shape, gradient norm, gain, product) and
        the loss, in the order the forward pass called them."""
        return formats.render(self, "dot")

    def to_svg(self) -> str:
        """The layers drawn as SVG, as on the HTML page (no Graphviz needed)."""
        return formats.render(self, "svg")

    def to_html(self, full_page: bool = True, drill: bool = True) -> str:
        """One self-contained page that works offline (inline style and script).

        The full page draws the layers as a graph (click a layer to highlight its row
        and its chain of gains), steps through the forward and the backward pass one
        layer at a time, and, with ``drill``, links each layer's row to its own
        node-by-node explanation (:meth:`layer`) further down the page (the first
        :data:`MAX_DRILL` layer calls). ``full_page=False`` gives a notebook fragment:
        the table and the diagnosis.
        """
        if not full_page:
            return formats.render(self, "html", full_page=False)
        fragments = self._drill_fragments() if drill else None
        shape = list(self.captures[0].inputs[0].shape) if self.captures else None
        return formats.render(self, "html", drill=fragments, input_shape=shape)

    def _drill_fragments(self) -> dict[int, str]:
        out: dict[int, str] = {}
        calls: dict[str, int] = {}
        for k, capture in enumerate(self.captures[:MAX_DRILL]):
            call = calls.get(capture.name, 0)
            calls[capture.name] = call + 1
            try:
                out[k] = self.layer(capture.name, call).to_html(full_page=False, graph=False)
            except ExplainError as exc:  # shown in place of that layer's section
                out[k] = f"<p>{html.escape(str(exc))}</p>"
        return out

    def plot(self, path: str | os.PathLike[str]) -> str:
        """A PNG of gradient norms and gains per layer, written to ``path`` (needs
        matplotlib, the ``train`` extra); returns the path."""
        return formats.render(self, "png", path)

    def _repr_html_(self) -> str:
        return self.to_html(full_page=False)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()
