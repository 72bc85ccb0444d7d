"""Angle units and the complex-number functions.

``deg2rad``/``radians`` and ``rad2deg``/``degrees`` scale by a constant (real
input). On real numbers ``real``, ``conj``/``conjugate`` and ``real_if_close`` are
the identity, ``imag`` is 0 and ``angle`` is 0 or pi by the sign (piecewise
constant, so its derivative is 0), as NumPy defines them. On complex numbers they
are the primitives of :mod:`chainrule.ops.complex_parts` (HIPS autograd's
convention, docs/reference/complex.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.numpy._core import arg, array_arg, binding, constant, data, no_out, no_where
from chainrule.numpy._ufuncs import UFUNCS
from chainrule.ops import complex_parts as C
from chainrule.tensor import Tensor


def _real_only(x: Any, name: str) -> None:
    if isinstance(x, Tensor) and x.dtype.kind == "c":
        raise TypeError(
            f"{name}: converts angles, so it takes real values, not a complex Tensor "
            "(take np.angle or np.real of it first)"
        )


def _is_complex(x: Any) -> bool:
    return isinstance(x, Tensor) and x.dtype.kind == "c"


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
    """The complex conjugate (a real array itself)."""
    if out is not None:
        no_out("conjugate", out)
    if where is not True:
        no_where("conjugate", where)
    x = arg(x)
    if _is_complex(x):
        x = C.conj(x)
    return x if dtype is None else F.astype(x, dtype)


conjugate = binding(np.conjugate, "conjugate")(_conjugate_impl)
conj = conjugate
UFUNCS[np.conjugate] = conjugate


@binding(np.real)
def real(val: Any) -> Any:
    """The real part (a real array itself)."""
    x = array_arg(val)
    return C.real(x) if _is_complex(x) else x


@binding(np.imag)
def imag(val: Any) -> Any:
    """The imaginary part (zeros for a real array: a constant, derivative 0)."""
    x = array_arg(val)
    if _is_complex(x):
        return C.imag(x)
    return constant(np.zeros(x.shape, x.dtype))


@binding(np.angle)
def angle(z: Any, deg: bool = False) -> Any:
    """The angle in the complex plane; on real input 0 for x >= 0, pi (180) for x < 0,
    piecewise constant (derivative 0)."""
    x = array_arg(z)
    if _is_complex(x):
        return C.angle(x, deg=bool(deg))
    return constant(np.asarray(np.angle(data(x), deg=deg)))


@binding(np.real_if_close)
def real_if_close(a: Any, tol: float = 100) -> Any:
    """The real part where every imaginary part is within ``tol`` machine epsilons
    of 0, as NumPy decides it; else x unchanged."""
    x = array_arg(a)
    if _is_complex(x) and np.real_if_close(data(x), tol=tol).dtype.kind != "c":
        return C.real(x)
    return x
