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

import importlib as _importlib

from chainrule.dtypes import DeviceError
from chainrule.nn.rng import default_generator, get_rng_state, manual_seed, set_rng_state

# Imported on first use (PEP 562): ``import chainrule`` needs only the generator
# (``chainrule.nn.rng``); the layers and losses load when a program first names one.
_SUBMODULES = frozenset({"functional", "init", "utils"})
_LAZY = {
    "ELU": "chainrule.nn.layers",
    "GELU": "chainrule.nn.layers",
    "AdaptiveAvgPool1d": "chainrule.nn.layers",
    "AdaptiveAvgPool2d": "chainrule.nn.layers",
    "AdaptiveMaxPool1d": "chainrule.nn.layers",
    "AdaptiveMaxPool2d": "chainrule.nn.layers",
    "AvgPool1d": "chainrule.nn.layers",
    "MaxPool1d": "chainrule.nn.layers",
    "AvgPool2d": "chainrule.nn.layers",
    "BatchNorm1d": "chainrule.nn.layers",
    "BatchNorm2d": "chainrule.nn.layers",
    "BCELoss": "chainrule.nn.layers",
    "BCEWithLogitsLoss": "chainrule.nn.layers",
    "Conv2d": "chainrule.nn.layers",
    "CrossEntropyLoss": "chainrule.nn.layers",
    "Dropout": "chainrule.nn.layers",
    "Embedding": "chainrule.nn.layers",
    "Flatten": "chainrule.nn.layers",
    "Hardtanh": "chainrule.nn.layers",
    "HuberLoss": "chainrule.nn.layers",
    "Identity": "chainrule.nn.layers",
    "KLDivLoss": "chainrule.nn.layers",
    "L1Loss": "chainrule.nn.layers",
    "LayerNorm": "chainrule.nn.layers",
    "LeakyReLU": "chainrule.nn.layers",
    "Linear": "chainrule.nn.layers",
    "LogSigmoid": "chainrule.nn.layers",
    "LogSoftmax": "chainrule.nn.layers",
    "MaxPool2d": "chainrule.nn.layers",
    "Mish": "chainrule.nn.layers",
    "MSELoss": "chainrule.nn.layers",
    "NLLLoss": "chainrule.nn.layers",
    "ReLU": "chainrule.nn.layers",
    "ReLU6": "chainrule.nn.layers",
    "Sigmoid": "chainrule.nn.layers",
    "SiLU": "chainrule.nn.layers",
    "SmoothL1Loss": "chainrule.nn.layers",
    "Softmax": "chainrule.nn.layers",
    "Softmin": "chainrule.nn.layers",
    "Softplus": "chainrule.nn.layers",
    "Tanh": "chainrule.nn.layers",
    "Unflatten": "chainrule.nn.layers",
    "IncompatibleKeys": "chainrule.nn.module",
    "Module": "chainrule.nn.module",
    "ModuleDict": "chainrule.nn.module",
    "ModuleList": "chainrule.nn.module",
    "Sequential": "chainrule.nn.module",
    "ParameterDict": "chainrule.nn.param_containers",
    "ParameterList": "chainrule.nn.param_containers",
    "Parameter": "chainrule.nn.parameter",
    "MultiheadAttention": "chainrule.nn.layers_attention",
    "Transformer": "chainrule.nn.layers_transformer",
    "TransformerDecoder": "chainrule.nn.layers_transformer",
    "TransformerDecoderLayer": "chainrule.nn.layers_transformer",
    "TransformerEncoder": "chainrule.nn.layers_attention",
    "TransformerEncoderLayer": "chainrule.nn.layers_attention",
    "Conv1d": "chainrule.nn.layers_conv_family",
    "ConvTranspose2d": "chainrule.nn.layers_conv_family",
    "GroupNorm": "chainrule.nn.layers_conv_family",
    "Upsample": "chainrule.nn.layers_conv_family",
    "UpsamplingBilinear2d": "chainrule.nn.layers_conv_family",
    "UpsamplingNearest2d": "chainrule.nn.layers_conv_family",
    "GRU": "chainrule.nn.layers_recurrent",
    "LSTM": "chainrule.nn.layers_recurrent",
    "RNN": "chainrule.nn.layers_recurrent",
    "RNNBase": "chainrule.nn.layers_recurrent",
    "GRUCell": "chainrule.nn.layers_recurrent_cells",
    "LSTMCell": "chainrule.nn.layers_recurrent_cells",
    "RNNCell": "chainrule.nn.layers_recurrent_cells",
    "RNNCellBase": "chainrule.nn.layers_recurrent_cells",
}


def __getattr__(name: str) -> object:
    if name in _SUBMODULES:
        return _importlib.import_module(f"chainrule.nn.{name}")
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'chainrule.nn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES | set(_LAZY))


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
    "GRU",
    "LSTM",
    "RNN",
    "RNNBase",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "RNNCellBase",
    "MultiheadAttention",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "Conv1d",
    "ConvTranspose2d",
    "GroupNorm",
    "Upsample",
    "UpsamplingBilinear2d",
    "UpsamplingNearest2d",
]
