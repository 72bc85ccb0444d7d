"""PyTorch's in-place spellings of activations: ``F.relu_``, ``F.elu_``,
``F.leaky_relu_``, ``F.hardtanh_``, ``F.threshold_``, ``F.celu_``, ``F.selu_``.

Each is its function with ``inplace=True``: the result is written into the input,
which is returned (see :mod:`chainrule.nn.inplace` for what is recorded and refused).
"""

from __future__ import annotations

import chainrule.functions as _f
from chainrule.nn import functional_activation as _act
from chainrule.nn.functional_activation import celu, selu
from chainrule.nn.functional_extra import elu, hardtanh, leaky_relu
from chainrule.nn.inplace import inplace_spelling, relu_update
from chainrule.tensor import Tensor


def relu_(input: Tensor) -> Tensor:
    """max(x, 0) written into ``input``; returns ``input``."""
    return inplace_spelling("relu", input, _f.relu, relu_update)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """``F.elu(input, alpha)`` written into ``input``; returns ``input``."""
    return inplace_spelling("elu", input, lambda x: elu(x, alpha))


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``F.leaky_relu(input, negative_slope)`` written into ``input``; returns ``input``."""
    return inplace_spelling("leaky_relu", input, lambda x: leaky_relu(x, negative_slope))


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """``F.hardtanh(input, min_val, max_val)`` written into ``input``; returns ``input``."""
    return inplace_spelling("hardtanh", input, lambda x: hardtanh(x, min_val, max_val))


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """``F.threshold(input, threshold, value)`` written into ``input``; returns ``input``."""
    return inplace_spelling("threshold", input, lambda x: _act.threshold(x, threshold, value))


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """``F.celu(input, alpha)`` written into ``input``; returns ``input``."""
    return inplace_spelling("celu", input, lambda x: celu(x, alpha))


def selu_(input: Tensor) -> Tensor:
    """``F.selu(input)`` written into ``input``; returns ``input``."""
    return inplace_spelling("selu", input, selu)
