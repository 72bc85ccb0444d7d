"""Neural networks: ``Module``, ``Parameter``, layers, losses, ``functional``, ``init``.

Names, arguments, shapes and defaults are PyTorch's, so state dicts map one to one.

>>> import numpy as np
>>> import chainrule as cr
>>> _ = cr.nn.manual_seed(0)
>>> model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3))
>>> x = cr.tensor(np.ones((2, 4), dtype=np.float32))
>>> loss = cr.nn.functional.cross_entropy(model(x), np.array([0, 2]))
>>> loss.backward()
>>> model[0].weight.grad.shape
(8, 4)
"""

from chainrule.dtypes import DeviceError
from chainrule.nn import functional, init, utils
from chainrule.nn.layers import (
    ELU,
    GELU,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    BCELoss,
    BCEWithLogitsLoss,
    Conv2d,
    CrossEntropyLoss,
    Dropout,
    Embedding,
    Flatten,
    Hardtanh,
    HuberLoss,
    Identity,
    KLDivLoss,
    L1Loss,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSigmoid,
    LogSoftmax,
    MaxPool2d,
    Mish,
    MSELoss,
    NLLLoss,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    SmoothL1Loss,
    Softmax,
    Softmin,
    Softplus,
    Tanh,
    Unflatten,
)
from chainrule.nn.layers_conv_family import Conv1d, ConvTranspose2d, GroupNorm
from chainrule.nn.module import IncompatibleKeys, Module, ModuleDict, ModuleList, Sequential
from chainrule.nn.param_containers import ParameterDict, ParameterList
from chainrule.nn.parameter import Parameter
from chainrule.nn.rng import default_generator, get_rng_state, manual_seed, set_rng_state

__all__ = [
    "ELU",
    "GELU",
    "Hardtanh",
    "LogSigmoid",
    "Mish",
    "ReLU6",
    "SiLU",
    "Softmin",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "CrossEntropyLoss",
    "DeviceError",
    "Dropout",
    "Embedding",
    "Flatten",
    "HuberLoss",
    "Identity",
    "IncompatibleKeys",
    "KLDivLoss",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ParameterDict",
    "ParameterList",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Softplus",
    "Tanh",
    "Unflatten",
    "default_generator",
    "functional",
    "get_rng_state",
    "init",
    "manual_seed",
    "set_rng_state",
    "utils",
    "Conv1d",
    "ConvTranspose2d",
    "GroupNorm",
]
