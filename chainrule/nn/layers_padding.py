"""Padding layers and channel-wise dropout, as PyTorch has them: ``ZeroPad1d/2d/3d``,
``ConstantPad1d/2d/3d``, ``ReflectionPad1d/2d/3d``, ``ReplicationPad1d/2d/3d``,
``CircularPad1d/2d/3d`` (each ``F.pad`` in its mode), ``Dropout1d/2d/3d`` (whole
channels zeroed).

>>> import chainrule as cr
>>> cr.nn.ReflectionPad2d((1, 1, 2, 0))(cr.zeros((1, 3, 4, 4))).shape
(1, 3, 6, 6)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn.functional_dropout import dropout1d, dropout2d, dropout3d
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


class _PadNd(Module):
    """``F.pad(x, padding, mode)`` with ``padding`` an int (every side) or one
    (left, right) pair per padded axis, last axis first, as PyTorch's."""

    axes = 1
    mode = "constant"

    def __init__(self, padding: int | Sequence[int], value: float = 0.0) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(padding, int | np.integer):
            padding = (int(padding),) * (2 * self.axes)
        padding = tuple(int(p) for p in padding)
        if len(padding) != 2 * self.axes:
            raise ValueError(
                f"{name}: padding must be an int or {2 * self.axes} ints (left, right per "
                f"axis, last axis first), got {padding!r}"
            )
        self.padding = padding
        self.value = float(value)

    def forward(self, x: Any) -> Tensor:
        if self.mode == "constant":
            return F.pad(x, self.padding, "constant", self.value)
        return F.pad(x, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding: int | Sequence[int], value: float) -> None:
        super().__init__(padding, value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_PadNd):
    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 0.0)


def _pad_class(base: type, name: str, axes: int, mode: str) -> type:
    doc = (
        f"Pads the last {axes} ax{'is' if axes == 1 else 'es'} of its input with "
        f"``F.pad(x, padding, {mode!r}{', value' if base is _ConstantPadNd else ''})``, "
        f"as PyTorch's {name}."
    )
    return type(name, (base,), {"axes": axes, "mode": mode, "__doc__": doc, "__module__": __name__})


ZeroPad1d = _pad_class(_ZeroPadNd, "ZeroPad1d", 1, "constant")
ZeroPad2d = _pad_class(_ZeroPadNd, "ZeroPad2d", 2, "constant")
ZeroPad3d = _pad_class(_ZeroPadNd, "ZeroPad3d", 3, "constant")
ConstantPad1d = _pad_class(_ConstantPadNd, "ConstantPad1d", 1, "constant")
ConstantPad2d = _pad_class(_ConstantPadNd, "ConstantPad2d", 2, "constant")
ConstantPad3d = _pad_class(_ConstantPadNd, "ConstantPad3d", 3, "constant")
ReflectionPad1d = _pad_class(_PadNd, "ReflectionPad1d", 1, "reflect")
ReflectionPad2d = _pad_class(_PadNd, "ReflectionPad2d", 2, "reflect")
ReflectionPad3d = _pad_class(_PadNd, "ReflectionPad3d", 3, "reflect")
ReplicationPad1d = _pad_class(_PadNd, "ReplicationPad1d", 1, "replicate")
ReplicationPad2d = _pad_class(_PadNd, "ReplicationPad2d", 2, "replicate")
ReplicationPad3d = _pad_class(_PadNd, "ReplicationPad3d", 3, "replicate")
CircularPad1d = _pad_class(_PadNd, "CircularPad1d", 1, "circular")
CircularPad2d = _pad_class(_PadNd, "CircularPad2d", 2, "circular")
CircularPad3d = _pad_class(_PadNd, "CircularPad3d", 3, "circular")


class _DropoutNd(Module):
    function: Any = None

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, x: Any) -> Tensor:
        return type(self).function(x, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """In training, zero whole channels of (N, C, L) input with probability p."""

    function = staticmethod(dropout1d)


class Dropout2d(_DropoutNd):
    """In training, zero whole channels of (N, C, H, W) input with probability p."""

    function = staticmethod(dropout2d)


class Dropout3d(_DropoutNd):
    """In training, zero whole channels of (N, C, D, H, W) input with probability p."""

    function = staticmethod(dropout3d)
