"""The autograd layer: graph nodes, grad modes and the backward engine.

``chainrule.autograd.grad(outputs, inputs, ...)`` returns gradients without
accumulating them (PyTorch's ``torch.autograd.grad``); ``chainrule.autograd.Function``
is PyTorch's custom-function class (see :mod:`chainrule.autograd.function`);
``detect_anomaly`` finds where an inf or NaN is born (see
:mod:`chainrule.autograd.anomaly`). The first two are loaded on first use, so
that :mod:`chainrule.tensor` and the engine can refer to each other.
"""

from importlib import import_module
from typing import Any

from chainrule.autograd.anomaly import (
    AnomalyError,
    detect_anomaly,
    is_anomaly_enabled,
    set_detect_anomaly,
)

__all__ = [
    "AnomalyError",
    "detect_anomaly",
    "is_anomaly_enabled",
    "set_detect_anomaly",
    # loaded on first use (below)
    "Function",
    "FunctionCtx",
    "grad",
    "once_differentiable",
]

_FROM_FUNCTION = ("Function", "FunctionCtx", "once_differentiable")


def __getattr__(name: str) -> Any:
    if name in ("grad", "run_backward"):
        from chainrule.autograd import engine

        return getattr(engine, name)
    if name in _FROM_FUNCTION or name == "function":
        # import_module, not "from chainrule.autograd import function": that form
        # asks this __getattr__ for "function" again before the import is done.
        function = import_module("chainrule.autograd.function")
        return function if name == "function" else getattr(function, name)
    raise AttributeError(f"module 'chainrule.autograd' has no attribute {name!r}")
