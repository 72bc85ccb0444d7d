"""Angle units and the complex-number functions, for real inputs.

``deg2rad``/``radians`` and ``rad2deg``/``degrees`` scale by a constant. On real
numbers ``real``, ``conj``/``conjugate`` and ``real_if_close`` are the identity,
``imag`` is 0 and ``angle`` is 0 or pi by the sign (piecewise constant, so its
derivative is 0), as NumPy defines them. Complex values are not differentiable in
chainrule yet: a complex Tensor is refused with that reason.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.numpy._core import arg, array_arg, binding, constant, data, no_out, no_where
from chainrule.numpy._ufuncs import UFUNCS
from chainrule.tensor import Tensor


def _real_only(x: Any, name: str) -> None:
    if isinstance(x, Tensor) and x.dtype.kind == "c":
        raise TypeError(f"{name}: complex Tensors are not differentiable in chainrule yet")


def _scaling(ufunc: np.ufunc, factor: float, doc: str) -> Any:
    name = ufunc.__name__

    def impl(x: Any, /, out: Any = None, *, where: Any = True, dtype: Any = None) -> Any:
        if out is not None:
            no_out(name, out)
        if where is not True:
            no_where(name, where)
        x = arg(x)
        _real_only(x, name)
        if dtype is not None:
            x = F.astype(x, dtype)
        elif isinstance(x, Tensor) and x.dtype.kind not in "f":
            x = F.astype(x, np.float64)  # NumPy's loops for integers give float64
        return x * factor

    impl.__name__ = name
    impl.__doc__ = doc
    fn = binding(ufunc, name)(impl)
    UFUNCS[ufunc] = fn
    return fn


deg2rad = _scaling(np.deg2rad, math.pi / 180, "Degrees to radians: x * pi / 180.")
radians = _scaling(np.radians, math.pi / 180, "Degrees to radians: x * pi / 180.")
rad2deg = _scaling(np.rad2deg, 180 / math.pi, "Radians to degrees: x * 180 / pi.")
degrees = _scaling(np.degrees, 180 / math.pi, "Radians to degrees: x * 180 / pi.")


def _conjugate_impl(x: Any, /, out: Any = None, *, where: Any = True, dtype: Any = None) -> Any:
    """The complex conjugate: a real array itself."""
    if out is not None:
        no_out("conjugate", out)
    if where is not True:
        no_where("conjugate", where)
    x = arg(x)
    _real_only(x, "conjugate")
    return x if dtype is None else F.astype(x, dtype)


conjugate = binding(np.conjugate, "conjugate")(_conjugate_impl)
conj = conjugate
UFUNCS[np.conjugate] = conjugate


@binding(np.real)
def real(val: Any) -> Any:
    """The real part: a real array itself."""
    x = array_arg(val)
    _real_only(x, "real")
    return x


@binding(np.imag)
def imag(val: Any) -> Any:
    """The imaginary part: zeros for a real array (a constant, derivative 0)."""
    x = array_arg(val)
    _real_only(x, "imag")
    return constant(np.zeros(x.shape, x.dtype))


@binding(np.angle)
def angle(z: Any, deg: bool = False) -> Any:
    """The angle in the complex plane: 0 for x >= 0, pi (180) for x < 0 on real input,
    piecewise constant (derivative 0)."""
    x = array_arg(z)
    _real_only(x, "angle")
    return constant(np.asarray(np.angle(data(x), deg=deg)))


@binding(np.real_if_close)
def real_if_close(a: Any, tol: float = 100) -> Any:
    """Real input unchanged (complex input with tiny imaginary parts would drop them)."""
    x = array_arg(a)
    _real_only(x, "real_if_close")
    return x
