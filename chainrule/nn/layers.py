"""Layers: PyTorch's names, constructor arguments, parameter shapes and initialisation.

The classes live in themed modules (``layers_linear``, ``layers_conv``, ``layers_shape``,
``layers_norm``, ``layers_activation``, ``layers_loss``); this module gathers them so
that ``chainrule.nn.layers.X`` keeps working. Parameters have the default floating
dtype (float32 unless ``cr.set_default_dtype`` changed it) unless ``dtype=`` says
otherwise. Initialisation uses ``cr.nn``'s default generator (reseed it with
``cr.nn.manual_seed``) or the ``generator=`` given.
"""

from chainrule.nn.layers_activation import (
    ELU,
    GELU,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Tanh,
)
from chainrule.nn.layers_conv import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    Conv2d,
    MaxPool1d,
    MaxPool2d,
)
from chainrule.nn.layers_linear import Embedding, Identity, Linear
from chainrule.nn.layers_loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from chainrule.nn.layers_norm import BatchNorm1d, BatchNorm2d, LayerNorm
from chainrule.nn.layers_shape import Dropout, Flatten, Unflatten

__all__ = [
    "ELU",
    "GELU",
    "Hardtanh",
    "LogSigmoid",
    "Mish",
    "ReLU6",
    "SiLU",
    "Softmin",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "MaxPool1d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "HuberLoss",
    "Identity",
    "KLDivLoss",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "NLLLoss",
    "ReLU",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Softplus",
    "Tanh",
    "Unflatten",
]
