"""``Parameter``: a leaf tensor that a ``Module`` registers as one of its weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.dtypes import get_default_dtype
from chainrule.tensor import Tensor


class Parameter(Tensor):
    """A tensor that requires grad and is collected by ``Module.parameters()``.

    Assigning one to a module attribute registers it under that name:

    >>> import chainrule as cr
    >>> p = cr.nn.Parameter(cr.zeros((2, 3), dtype="float32"))
    >>> p.requires_grad, p.dtype.name
    (True, 'float32')
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty(0, dtype=get_default_dtype())
        super().__init__(data.data if isinstance(data, Tensor) else data)
        if requires_grad:
            self.requires_grad = True

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
