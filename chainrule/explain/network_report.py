"""What a network explanation shows: the chain rule one level up, with layers as nodes.

A :class:`NetworkReport` is data only (numbers, names, sentences), read by the
renderers of the ``"network"`` kind (see :mod:`chainrule.explain.formats`); the
user-facing :class:`~chainrule.explain.network_explanation.NetworkExplanation`
adds the ``to_*`` methods. The sentences of ``diagnosis`` are written here, from
the numbers alone, so that every format says the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

#: below this ``product`` at the first layer, the gradient is said to vanish
VANISHING = 1e-3
#: above it, to explode
EXPLODING = 1e3
#: a ReLU layer with more than this fraction of zeros is reported: about half is
#: usual at initialisation, so only clearly more is worth a sentence
DEAD = 0.6
#: a Sigmoid or Tanh layer with more than this fraction saturated is reported
SATURATED = 0.2


@dataclass
class ParamRecord:
    """One parameter of a layer: its L2 norm and that of d loss / d parameter."""

    norm: float
    grad_norm: float | None  # None for a parameter that does not require grad


@dataclass
class LayerRecord:
    """One call of a leaf module: its output and the gradients around it."""

    name: str  # the path as in named_modules ("" for a model that is itself a leaf)
    type: str
    output_shape: list[int]
    grad_output_norm: float
    grad_input_norm: float | None
    gain: float | None
    params: dict[str, ParamRecord] = field(default_factory=dict)
    mean: float = 0.0
    std: float = 0.0
    saturated: float | None = None
    dead: float | None = None

    @property
    def label(self) -> str:
        """How a sentence names the layer: "layer 3", or its type for an unnamed root."""
        return f"layer {self.name}" if self.name else self.type


@dataclass(eq=False)
class LayerCapture:
    """What ``layer(name)`` needs to explain one call again: the module, the input it
    received and d loss / d its output, with its parameters and the random state as
    they were at that call (copies, kept only as long as the explanation)."""

    name: str
    module: Any  # the leaf Module (not imported: this is data, below the nn layer's users)
    inputs: list[np.ndarray]
    grad_output: np.ndarray | None
    params: dict[str, np.ndarray]
    rng_state: Any


@dataclass
class NetworkReport:
    """Per-layer gradient norms and gains of one forward and backward pass.

    ``layers`` are in the order the forward pass called them; ``product[i]`` is
    the product of the gains of layers i, i+1, ... to the last, so for a chain of
    layers it is the gradient reaching layer i's input relative to the gradient
    at the output (a layer without an input gradient counts as a gain of 1).
    """

    kind: ClassVar[str] = "network"

    model: str
    loss_name: str
    loss: float
    layers: list[LayerRecord]
    product: list[float] = field(default_factory=list)
    diagnosis: list[str] = field(default_factory=list)


def running_product(layers: list[LayerRecord]) -> list[float]:
    """The product of gains from the output back to each layer (see NetworkReport)."""
    out = [0.0] * len(layers)
    p = 1.0
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        if layer.gain is not None:
            p *= layer.gain
        elif layer.grad_output_norm == 0.0:
            p = 0.0  # no gradient reaches this layer at all: the chain is cut here
        out[i] = p
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def diagnose(layers: list[LayerRecord], product: list[float]) -> list[str]:
    """Sentences a learner understands, saying what the numbers show."""
    if not layers:
        return ["the model called no layers: there is nothing to explain"]
    said: list[str] = []
    first = layers[0].label
    p0 = product[0]
    if p0 == 0.0:
        cut = next((lay for lay in reversed(layers) if lay.gain == 0.0), None)
        said.append(
            f"no gradient reaches {first}"
            + (f": {cut.label} ({cut.type}) passes none back" if cut is not None else "")
            + "; the layers below it do not learn from this batch"
        )
    elif p0 < VANISHING:
        sentence = f"the gradient reaching {first} is {p0:.2g} of the gradient at the output"
        sigmoids = sum(1 for lay in layers if lay.type == "Sigmoid")
        tanhs = [lay for lay in layers if lay.type == "Tanh" and (lay.saturated or 0) > 0]
        if sigmoids:
            sentence += (
                ": each Sigmoid multiplies it by at most 1/4 (σ' = σ(1−σ) ≤ 1/4), and "
                f"{sigmoids} of them are in the chain"
            )
        elif tanhs:
            sentence += (
                ": a saturated Tanh passes almost nothing (tanh' = 1 − tanh² < 0.02 where "
                f"|tanh| > 0.99), and {len(tanhs)} Tanh layers have saturated outputs"
            )
        else:
            smallest = min(
                (lay for lay in layers if lay.gain is not None),
                key=lambda lay: lay.gain,
                default=None,
            )
            if smallest is not None:
                sentence += (
                    f": the layers' gains multiply to it, the smallest is {smallest.label}'s "
                    f"({smallest.gain:.2g})"
                )
        said.append(sentence + "; the first layers barely learn")
    elif p0 > EXPLODING:
        said.append(
            f"the gradient reaching {first} is {p0:.2g} times the gradient at the output: "
            "it grows layer by layer (gains above 1 multiply), so steps may be too large"
        )
    for lay in layers:
        if lay.dead is not None and lay.dead > DEAD:
            if lay.dead >= 1.0:
                said.append(
                    f"all of {lay.label}'s {lay.type} outputs are 0: no gradient passes "
                    "through it, and the layers before it get none"
                )
            else:
                said.append(
                    f"{_pct(lay.dead)} of {lay.label}'s {lay.type} outputs are 0: no gradient "
                    "passes through them"
                )
        if lay.saturated is not None and lay.saturated > SATURATED:
            said.append(
                f"{_pct(lay.saturated)} of {lay.label}'s {lay.type} outputs are saturated "
                "(their local derivative is below 0.02): little gradient passes through them"
            )
    if not said:
        said.append(
            f"no vanishing, exploding, dead or saturated layers: the gradient reaching {first} "
            f"is {p0:.2g} times the gradient at the output"
        )
    return said
