"""The autograd layer: graph nodes, grad modes and the backward engine.

``chainrule.autograd.grad(outputs, inputs, ...)`` returns gradients without
accumulating them (PyTorch's ``torch.autograd.grad``). The engine is loaded on
first use, so that :mod:`chainrule.tensor` and the engine can refer to each other.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("grad", "run_backward"):
        from chainrule.autograd import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'chainrule.autograd' has no attribute {name!r}")
