"""Complex numbers: ``real``, ``imag``, ``conj``, ``angle``, and the convention every rule follows.

chainrule differentiates complex values as HIPS autograd does. A reverse-mode rule
sends the cotangent ``g`` back *without* conjugation: pairing a cotangent ``g`` with
a tangent ``t`` as ``Re(sum(g * t))``, a VJP rule is the transpose of its JVP rule
under that pairing. Three consequences:

- a holomorphic function's rules are its real-number formulas, unchanged (the VJP
  of ``exp`` is ``g * exp(x)`` for complex ``x`` too), so most of the table needs
  nothing new;
- the gradient of a real-valued ``f(z)``, ``z = x + iy``, is ``df/dx - i df/dy``
  (``grad(lambda z: abs(z) ** 2)(z) == 2 * conj(z)``), as autograd returns it;
- ``grad(lambda z: real(f(z)))(z)`` is ``f'(z)`` for holomorphic ``f``
  (``holomorphic_grad``).

The functions here are not holomorphic, so their rules are written for complex
numbers (with ``k`` the derivative written so that VJP = ``g k``, JVP = ``Re(t k)``
for real outputs). A gradient that reaches a real input from complex values keeps
its real part (:func:`match_dtype`), where autograd's ``unbroadcast`` does too.
PyTorch's ``.grad`` is the conjugate of this (see ``Tensor.backward``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.ops.primitive import ELEMENTWISE, Primitive, call


def _copy_of(part: Any) -> Any:
    # np.real/np.imag of an array are views into it: a result of its own memory,
    # so that changing one never changes the other.
    return np.array(part)


real = Primitive(
    "real",
    lambda x: _copy_of(np.real(x)),
    vjp=lambda g, ans, x: g,  # the engine turns the real g into x's complex dtype
    jvp=lambda t, ans, x: call(real, t),
    formula="1",
    complex_rules=True,
    doc="The real part of x.",
)

imag = Primitive(
    "imag",
    lambda x: _copy_of(np.imag(x)),
    # Im(t) = Re(-i t): the cotangent -i g.
    vjp=lambda g, ans, x: g * -1j,
    jvp=lambda t, ans, x: call(imag, t),
    formula="-i",
    complex_rules=True,
    doc="The imaginary part of x.",
)

conj = Primitive(
    "conj",
    np.conjugate,
    vjp=lambda g, ans, x: call(conj, g),
    jvp=lambda t, ans, x: call(conj, t),
    formula="conj",
    complex_rules=True,
    doc="The complex conjugate of x.",
)


def _angle_factor(x: Any, deg: bool) -> Any:
    # d angle = Im(conj(z) dz) / |z|^2 = Re(-i conj(z) dz) / |z|^2; 0 at z = 0.
    r2 = call(real, x * call(conj, x))
    k = call(conj, x) * -1j / np.where(r2 == 0, 1, r2)
    return k * (180 / math.pi) if deg else k


angle = Primitive(
    "angle",
    lambda x, deg=False: np.angle(x, deg=deg),
    vjp=lambda g, ans, x, deg=False: g * _angle_factor(x, deg),
    jvp=lambda t, ans, x, deg=False: call(real, t * _angle_factor(x, deg)),
    formula="-i*conj(z)/|z|^2",
    complex_rules=True,
    doc="The angle of complex x in the plane (radians, or degrees with deg=True).",
)


def _abs_factor(x: Any) -> Any:
    # d|z| = Re(conj(z) dz) / |z|; the subgradient 0 at z = 0.
    r = np.abs(x)
    return call(conj, x) / np.where(r == 0, 1, r)


def abs_vjp(g: Any, ans: Any, x: Any) -> Any:
    """The VJP of ``abs``: ``g sign(x)`` for real x, ``g conj(x)/|x|`` for complex x."""
    if x.dtype.kind == "c":
        return g * _abs_factor(x)
    return g * np.sign(x)


def abs_jvp(t: Any, ans: Any, x: Any) -> Any:
    """The JVP of ``abs``: ``t sign(x)`` for real x, ``Re(t conj(x)/|x|)`` for complex x."""
    if x.dtype.kind == "c":
        return call(real, t * _abs_factor(x))
    if t.dtype.kind == "c":  # a complex tangent of a real input: its real part moves x
        t = call(real, t)
    return t * np.sign(x)


def match_dtype(g: Any, dtype: np.dtype) -> Any:
    """``g`` in ``dtype``: a complex gradient of a real value keeps its real part (the
    derivative along real directions, which are all a real input has)."""
    if g.dtype.kind == "c" and dtype.kind != "c":
        g = call(real, g)
    return g if g.dtype == dtype else g.astype(dtype)


def real_input(x, name):
    """Refuse complex input to a primitive whose real result has a rule for real input
    only (chainrule.numpy sends complex values another way: var, norms of |x|)."""
    if np.iscomplexobj(x):
        raise TypeError(
            f"{name}: this primitive takes real values (its rule is for real input); "
            "for complex values use chainrule.numpy's function of the same name"
        )


for _prim in (real, imag, conj, angle):
    _prim.batch = ELEMENTWISE
