"""PyTorch's conversions on tensors: ``float()``, ``to()``, ``cpu()``, ``clone()``,
``type_as()``, ``device``, ``f"{loss:.4f}"``, and the in-place ``exp_``, ``uniform_``,
``normal_``, ``masked_fill_`` and their kin.

Conversions between floating dtypes keep the gradient (as ``astype`` does); a
conversion to the dtype a tensor already has returns the tensor itself, as
PyTorch's ``to`` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.dtypes import CPU, DeviceError, parse_to
from chainrule.nn.rng import as_generator
from chainrule.numpy._misc import copy as _np_copy
from chainrule.ops import activations as _act
from chainrule.ops import elementwise as _el
from chainrule.tensor import Tensor, unary_op
from chainrule.tensor_inplace import (
    _buffer,
    _check_recordable,
    _records,
    _refuse_under_trace,
    bump,
    change_in_place,
)


def _cast(self: Tensor, dtype: np.dtype) -> Tensor:
    return self if self.dtype == dtype else F.astype(self, dtype)


def _caster(dtype: str, name: str) -> Any:
    target = np.dtype(dtype)

    def method(self: Tensor, memory_format: Any = None) -> Tensor:
        return _cast(self, target)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``t.{name}()``: the tensor as {dtype} (itself if it already is)."
    return method


for _name, _dtype in (
    ("half", "float16"),
    ("float", "float32"),
    ("double", "float64"),
    ("short", "int16"),
    ("int", "int32"),
    ("long", "int64"),
    ("byte", "uint8"),
    ("char", "int8"),
    ("bool", "bool"),
):
    setattr(Tensor, _name, _caster(_dtype, _name))


def _to(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """``t.to(dtype)``, ``t.to("cpu")``, ``t.to(device, dtype)``, ``t.to(other)``.

    Any device but the CPU raises :class:`chainrule.dtypes.DeviceError`.
    """
    _, dtype, copy = parse_to(args, kwargs, "to")
    out = self if dtype is None else _cast(self, dtype)
    return _np_copy.impl(out) if copy and out is self else out


def _cpu(self: Tensor, memory_format: Any = None) -> Tensor:
    """The tensor itself: chainrule's tensors are always on the CPU."""
    return self


def _cuda(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise DeviceError(
        "cuda(): chainrule computes on the CPU only (with NumPy); there is no CUDA device "
        "(cr.cuda.is_available() is False)"
    )


def _type_as(self: Tensor, other: Tensor) -> Tensor:
    """The tensor in ``other``'s dtype."""
    return _cast(self, other.dtype)


def _clone(self: Tensor, memory_format: Any = None) -> Tensor:
    """A copy with its own memory; the gradient flows back through it."""
    return _np_copy.impl(self)


def _format(self: Tensor, spec: str) -> str:
    """``f"{loss:.4f}"``: a format spec applies to one-element tensors, as in PyTorch."""
    if not spec:
        return str(self)
    if self.data.size != 1:
        raise TypeError(
            f"format spec {spec!r} on a tensor of shape {self.data.shape}: a spec applies to "
            "one-element tensors only (format t.tolist() or each element)"
        )
    return format(self.item(), spec)


Tensor.to = _to
Tensor.cpu = _cpu
Tensor.cuda = _cuda
Tensor.type_as = _type_as
Tensor.clone = _clone
Tensor.__format__ = _format
Tensor.device = property(lambda self: CPU, doc="Always ``cr.device('cpu')``.")
Tensor.is_cuda = property(lambda self: False, doc="Always False: chainrule runs on the CPU.")


# ------------------------------------------------------------ more in-place
def _inplace(
    self: Tensor, what: str, recorded: Any, numpy_update: Any, other: Any = None
) -> Tensor:
    """Change ``self`` in place: ``recorded(old)`` builds the recorded result while
    gradients flow (to ``self`` or to ``other``, a value written into it);
    ``numpy_update(data)`` writes into the array otherwise."""
    return change_in_place(self, recorded, what, update=numpy_update, other=other)


def _unary_inplace(prim: Any, name: str) -> Any:
    op = unary_op(prim)

    def method(self: Tensor) -> Tensor:
        return change_in_place(self, op, f"{name}()")

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``t.{name}()``: {prim.name} in place; returns ``t``."
    return method


for _prim, _method in (
    (_el.exp, "exp_"),
    (_el.log, "log_"),
    (_el.sqrt, "sqrt_"),
    (_el.abs, "abs_"),
    (_el.sin, "sin_"),
    (_el.cos, "cos_"),
    (_el.tanh, "tanh_"),
    (_act.sigmoid, "sigmoid_"),
    (_act.relu, "relu_"),
):
    setattr(Tensor, _method, _unary_inplace(_prim, _method))


def _random_fill(self: Tensor, what: str, draw: Any, generator: Any) -> Tensor:
    """Overwrite with random values: the result depends on nothing, so it is a
    constant (as after ``fill_``); a leaf requiring grad must be under no_grad."""
    _refuse_under_trace(what)
    data = _buffer(self, what)
    if _records(self, None):
        _check_recordable(self, data, what)
        self._node = None
        self._requires_grad = False
    if data.dtype.kind != "f":
        raise TypeError(f"{what}: needs a floating-point tensor, not {data.dtype}")
    bump(data)
    data[...] = draw(as_generator(generator), data.shape)
    return self


def _uniform_(self: Tensor, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fill with samples from U(a, b) drawn from chainrule's generator; returns ``t``."""
    return _random_fill(self, "uniform_()", lambda g, s: g.uniform(a, b, s), generator)


def _normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fill with samples from N(mean, std²) drawn from chainrule's generator; returns ``t``."""
    return _random_fill(self, "normal_()", lambda g, s: g.normal(mean, std, s), generator)


def _masked_fill_(self: Tensor, mask: Any, value: Any) -> Tensor:
    """Set the elements where ``mask`` is true to ``value``, in place; returns ``t``."""
    cond = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if cond.dtype != np.bool_:
        raise TypeError(f"masked_fill_(): the mask must be boolean, not {cond.dtype}")
    return _inplace(
        self,
        "masked_fill_()",
        lambda old: F.where(cond, value, old),
        lambda d: np.copyto(d, value.data if isinstance(value, Tensor) else value, where=cond),
        value,
    )


Tensor.uniform_ = _uniform_
Tensor.normal_ = _normal_
Tensor.masked_fill_ = _masked_fill_
