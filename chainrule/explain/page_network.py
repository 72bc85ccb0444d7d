"""A network's explanation as the interactive page's data (a :class:`PageGraph`).

The chain rule one level up: the nodes are the input, each layer call (in the
order the forward pass made them, drawn as a chain) and the loss. A layer's chain
is every layer between it and the loss; its chain text is the running product of
gains, the norm of the gradient reaching it relative to the gradient at the
output. The steps are the forward pass (each layer's output and its statistics),
then the backward pass from the loss down: the gradient norm arriving at a
layer's output, its gain (its local derivative, in norm) and the norm passed
down to its input.
"""

from __future__ import annotations

from chainrule.explain.network_report import VANISHING, LayerRecord, NetworkReport
from chainrule.explain.page_live import PageGraph, PageNode, PageStep

#: layers per row of the drawn chain
ROW = 6


def _n(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


def _shape(shape: list[int]) -> str:
    return "×".join(map(str, shape)) or "scalar"


def _stats(lay: LayerRecord) -> list[tuple[str, str, str]]:
    rows = [
        ("output shape", _shape(lay.output_shape), "value"),
        ("mean ± std", f"{lay.mean:.4g} ± {lay.std:.4g}", "value"),
    ]
    if lay.dead is not None:
        rows.append(("dead (exactly 0)", f"{100 * lay.dead:.1f}%", ""))
    if lay.saturated is not None:
        rows.append(("saturated", f"{100 * lay.saturated:.1f}%", ""))
    return rows


def layer_id(k: int) -> str:
    return f"l{k}"


def page_graph(rep: NetworkReport, input_shape: list[int] | None = None) -> PageGraph:
    """The report's layers as a chain, with their products and the two passes' steps."""
    layers = rep.layers
    ids = ["in"] + [layer_id(k) for k in range(len(layers))] + ["loss"]
    names = [lay.name or lay.type for lay in layers]
    nodes = [
        PageNode(
            "in",
            "input",
            _shape(input_shape) if input_shape else "",
            "",
            title="the batch fed to the network",
            chain_text=_input_chain(rep),
        )
    ]
    for k, lay in enumerate(layers):
        flag = rep.product[k] < VANISHING or (lay.dead or 0) >= 1.0
        nodes.append(
            PageNode(
                layer_id(k),
                f"{names[k]} · {lay.type}" if lay.name else lay.type,
                _shape(lay.output_shape),
                f"‖∂/∂out‖ {_n(lay.grad_output_norm)}",
                title=f"{lay.label} ({lay.type})",
                chain_text=_chain(rep, k),
                flag="bad" if flag else "",
            )
        )
    nodes.append(
        PageNode(
            "loss",
            rep.loss_name,
            f"{rep.loss:.6g}",
            "∂/∂loss 1",
            title=f"the loss, {rep.loss_name}",
            chain_text=f"the loss ({rep.loss:.6g}): ∂loss/∂loss = 1, the backward pass starts here",
        )
    )
    edges = list(zip(ids[:-1], ids[1:]))
    steps = _steps(rep, ids, input_shape)
    return PageGraph(nodes, edges, steps, hint="Click a layer to see its chain.", wrap=ROW)


def _chain(rep: NetworkReport, k: int) -> str:
    lay = rep.layers[k]
    gains = [g.gain for g in rep.layers[k:] if g.gain is not None]
    shown = " · ".join(f"{g:.3g}" for g in reversed(gains[-12:]))
    if len(gains) > 12:
        shown += " · …"
    return (
        f"{lay.label} ({lay.type}): the gradient passed down to its input is "
        f"{rep.product[k]:.3g} of the gradient at the output\n"
        f"  product of the gains from the output back to it = {shown or '1'} "
        f"= {rep.product[k]:.3g}\n"
        f"  ‖∂loss/∂out‖ = {_n(lay.grad_output_norm)}, ‖∂loss/∂in‖ = {_n(lay.grad_input_norm)}"
    )


def _input_chain(rep: NetworkReport) -> str:
    p = rep.product[0] if rep.product else 1.0
    return f"the input: every layer's gain multiplies into the gradient that reaches it ({p:.3g})"


def _steps(rep: NetworkReport, ids: list[str], input_shape: list[int] | None) -> list[PageStep]:
    layers = rep.layers
    shape = _shape(input_shape) if input_shape else "—"
    steps = [PageStep("forward", "in", "forward · the input", [("shape", shape, "value")])]
    for k, lay in enumerate(layers):
        steps.append(
            PageStep("forward", ids[k + 1], f"forward · {lay.label} ({lay.type})", _stats(lay))
        )
    steps.append(
        PageStep(
            "forward",
            "loss",
            f"forward · the loss ({rep.loss_name})",
            [("loss", f"{rep.loss_name} = {rep.loss:.6g}", "value")],
        )
    )
    top = layers[-1].grad_output_norm if layers else 0.0
    steps.append(
        PageStep(
            "backward",
            "loss",
            "backward · the loss",
            [
                ("gradient arriving", "∂loss/∂loss = 1 (the chain starts with 1)", "arriving"),
                ("passed down to the output", f"‖∂loss/∂out‖ = {_n(top)}", "product"),
            ],
            [ids[-2]],
        )
    )
    for k in range(len(layers) - 1, -1, -1):
        lay = layers[k]
        rows = [("gradient arriving", f"‖∂loss/∂out‖ = {_n(lay.grad_output_norm)}", "arriving")]
        if lay.gain is None:
            rows.append(("local derivative", "no input gradient: the chain stops here", "local"))
        else:
            rows.append(("local derivative (gain, in norm)", f"{lay.gain:.4g}", "local"))
            rows.append(
                (
                    "passed down to its input",
                    f"{_n(lay.grad_output_norm)} · {lay.gain:.4g} = {_n(lay.grad_input_norm)}",
                    "product",
                )
            )
        rows.append(("running product from the output", f"{rep.product[k]:.4g}", ""))
        for name, p in lay.params.items():
            rows.append((f"‖∂loss/∂{name}‖", _n(p.grad_norm), ""))
        passed = [ids[k]] if lay.gain is not None else []
        steps.append(
            PageStep("backward", ids[k + 1], f"backward · {lay.label} ({lay.type})", rows, passed)
        )
    first = layers[0].grad_input_norm if layers else None
    steps.append(
        PageStep(
            "backward",
            "in",
            "backward · the input",
            [("gradient arriving", f"‖∂loss/∂input‖ = {_n(first)}", "arriving")],
        )
    )
    return steps
