"""A network explanation drawn as a PNG: gradient norms and gains per layer (matplotlib).

matplotlib is the ``train`` extra; it is imported here, on first use, so that
``import chainrule`` never needs it.
"""

from __future__ import annotations

import io
import os

from chainrule._files import write_atomic
from chainrule.explain.errors import ExplainError
from chainrule.explain.network_report import NetworkReport


def render_png(rep: NetworkReport, path: str | os.PathLike[str]) -> str:
    """Write the plot to ``path``; returns the path as a string."""
    try:
        # a Figure of its own, not pyplot: no global backend or figure list is touched
        from matplotlib.figure import Figure
    except ImportError:
        raise ExplainError(
            'plot() needs matplotlib, the "train" extra: pip install "chainrule[train]"'
        ) from None
    labels = [f"{lay.name or '(model)'} {lay.type}" for lay in rep.layers]
    xs = list(range(len(rep.layers)))
    fig = Figure(figsize=(max(6.0, 0.55 * len(xs) + 2), 6.5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    # a log scale: vanishing gradients are the point, and they span decades
    top.semilogy(xs, [_pos(lay.grad_output_norm) for lay in rep.layers], "o-", label="‖∂loss/∂out‖")
    top.semilogy(xs, [_pos(p) for p in rep.product], "s--", label="product of gains")
    top.set_title(f"{rep.model}: {rep.loss_name} = {rep.loss:.4g}")
    top.legend()
    top.grid(True, which="both", alpha=0.3)
    gains = [lay.gain if lay.gain is not None else float("nan") for lay in rep.layers]
    bottom.bar(xs, gains, color="#3f6fd8")
    bottom.axhline(1.0, color="#888", lw=1)  # above: the layer amplifies; below: shrinks
    bottom.set_ylabel("gain")
    bottom.set_xticks(xs)
    bottom.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    # Atomic: an earlier plot at ``path`` is replaced whole or kept, never half-written.
    write_atomic(path, buffer.getvalue())
    return os.fspath(path)


def _pos(v: float | None) -> float:
    # a log axis cannot show 0 or None: they are left as gaps
    return v if v is not None and v > 0 else float("nan")
