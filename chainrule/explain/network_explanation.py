"""``NetworkExplanation``: a network's report, with a method for each format.

The data is :class:`~chainrule.explain.network_report.NetworkReport`; this class
adds what a user calls and reaches the renderers of the ``"network"`` kind
through :mod:`chainrule.explain.formats`, one layer down.
"""

from __future__ import annotations

import os
from typing import Any

from chainrule.explain import formats
from chainrule.explain.network_report import NetworkReport


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
    """

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

    def to_html(self, full_page: bool = True) -> str:
        """One self-contained page (inline CSS, no scripts, no network)."""
        return formats.render(self, "html", full_page=full_page)

    def plot(self, path: str | os.PathLike[str]) -> str:
        """A PNG of gradient norms and gains per layer, written to ``path`` (needs
        matplotlib, the ``train`` extra); returns the path."""
        return formats.render(self, "png", path)

    def _repr_html_(self) -> str:
        return self.to_html(full_page=False)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()
