"""Dtypes under PyTorch's names, the default floating dtype, and the CPU device.

``cr.float32`` and its aliases are NumPy dtype objects, so ``t.dtype == cr.float``
holds for a tensor's ``dtype`` (a ``numpy.dtype``) and every NumPy call takes them.

The default dtype (float32, as PyTorch's) is what ``cr.tensor`` gives Python
floats and what the factories (``cr.zeros``, ``cr.randn``, ``cr.linspace``, ...)
make. A NumPy array keeps its own dtype: ``cr.tensor(np.ones(3))`` is float64, as
``torch.tensor(np.ones(3))`` is. chainrule.numpy and the function transforms
(``cr.grad(f)(0.5)``) follow NumPy, whose default is float64.

chainrule computes on the CPU, with NumPy. ``cr.device("cpu")`` is accepted
wherever PyTorch takes a device; any other device is refused with one clear error
where it would be used, never ignored.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

float16 = half = np.dtype("float16")
float32 = np.dtype("float32")
float64 = double = np.dtype("float64")
int8 = char = np.dtype("int8")
uint8 = byte = np.dtype("uint8")
int16 = short = np.dtype("int16")
int32 = np.dtype("int32")
int64 = long = np.dtype("int64")
bool_ = np.dtype("bool")
complex64 = np.dtype("complex64")
complex128 = cdouble = np.dtype("complex128")

#: PyTorch's names that shadow Python builtins in ``chainrule``'s namespace
#: (``cr.float``, ``cr.int``, ``cr.bool``); installed there by ``__init__``.
BUILTIN_NAMED = {"float": float32, "int": int32, "bool": bool_, "cfloat": complex64}

_FLOATING = (float16, float32, float64)
_default = [float32]


def get_default_dtype() -> np.dtype:
    """The dtype of Python floats in ``cr.tensor`` and of the factories (float32)."""
    return _default[0]


def set_default_dtype(dtype: Any) -> None:
    """Make ``dtype`` (float16, float32 or float64) the default floating dtype.

    Global, as PyTorch's is: every thread sees the change.
    """
    resolved = as_dtype(dtype)
    if resolved not in _FLOATING:
        raise TypeError(
            f"set_default_dtype(): only a floating dtype (float16, float32, float64) can "
            f"be the default, not {resolved}"
        )
    _default[0] = resolved


def as_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a NumPy dtype; PyTorch's spellings (``"float"``, ``"long"``) too."""
    if isinstance(dtype, np.dtype):
        return dtype
    if isinstance(dtype, str):
        name = dtype.removeprefix("torch.").removeprefix("chainrule.")
        named = BUILTIN_NAMED.get(name) or _ALIASES.get(name)
        if named is not None:
            return named
        dtype = name
    if dtype is builtins.float:
        return float64  # NumPy's meaning of the Python type
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype (try cr.float32, cr.int64, ...)") from None


_ALIASES = {
    "half": float16,
    "double": float64,
    "long": int64,
    "short": int16,
    "cdouble": complex128,
}


class device:  # noqa: N801 - PyTorch's name
    """A device: chainrule runs on the CPU, so ``device("cpu")`` is the one that works.

    Other devices may be named (``cr.device("cuda" if cr.cuda.is_available() else
    "cpu")`` is a common line), but using one raises :class:`DeviceError`.

    >>> import chainrule as cr
    >>> cr.device("cpu") == "cpu"
    True
    """

    __slots__ = ("type", "index")

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a string such as 'cpu', got {type!r}")
        name, _, number = type.partition(":")
        if number:
            index = builtins.int(number)
        self.type = name
        self.index = index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type={self.type!r}" + (
            ")" if self.index is None else f", index={self.index})"
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        return (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


class DeviceError(RuntimeError):
    """A device other than the CPU was asked for."""


CPU = device("cpu")


# Device types PyTorch knows, so that ``to("mps")`` is read as a device, not a dtype name.
_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "ipu", "hpu", "mtia", "vulkan")


def device_name(where: Any) -> str | None:
    """The device's text ("cpu", "cuda:0") if ``where`` names one, else None."""
    if isinstance(where, str):
        kind = where.split(":", 1)[0].strip().lower()
        return where if kind in _DEVICE_TYPES else None
    kind = getattr(where, "type", None)  # cr.device, torch.device
    if isinstance(kind, str):
        index = getattr(where, "index", None)
        return kind if index is None else f"{kind}:{index}"
    if isinstance(where, (np.dtype, type)):
        return None
    return device_name(str(where))  # an object known only by its text


def check_device(where: Any, what: str = "device") -> None:
    """Accept None or the CPU (``"cpu"``, ``"cpu:0"``, ``cr.device("cpu")``, any object
    whose ``type`` or text is ``"cpu"``); refuse every other device in one line."""
    if where is None:
        return
    name = device_name(where) or str(where)
    if name.split(":", 1)[0].strip().lower() == "cpu":
        return
    raise DeviceError(
        f"{what}: chainrule runs on the CPU only, so device {name!r} is not available "
        "(use 'cpu', or leave the device out; cr.cuda.is_available() is False)"
    )


def parse_to(args: tuple, kwargs: dict, what: str) -> tuple[Any, Any, bool]:
    """The ``(device, dtype, copy)`` of a PyTorch-style ``to(...)`` call: ``to(dtype)``,
    ``to(device)``, ``to(device, dtype)``, ``to(tensor)`` (its dtype), keywords
    ``device=``, ``dtype=``, ``copy=``, ``non_blocking=``. The device is checked."""
    kwargs = dict(kwargs)
    where = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    copy = bool(kwargs.pop("copy", False))
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"{what}() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
    for arg in args:
        if not isinstance(arg, type) and hasattr(arg, "dtype") and hasattr(arg, "shape"):
            # a tensor or array: take its dtype (np.float64, a type, has both as attributes)
            dtype = arg.dtype
        elif isinstance(arg, (bool, np.bool_)) or arg is None:
            continue  # non_blocking or copy, given by position
        elif device_name(arg) is not None:
            where = arg
        elif _is_dtype(arg):
            dtype = arg
        else:
            raise TypeError(f"{what}(): expected a dtype, a device or a tensor, got {arg!r}")
    check_device(where, f"{what}(device)")
    return where, None if dtype is None else _any_dtype(dtype), copy


def _any_dtype(x: Any) -> np.dtype:
    """:func:`as_dtype`, also of objects known by their text (``torch.float32``)."""
    return as_dtype(x if isinstance(x, (str, np.dtype, type)) else str(x))


def _is_dtype(x: Any) -> bool:
    try:
        _any_dtype(x)
    except TypeError:
        return False
    return True
