"""``chainrule.scipy.linalg``: the SciPy linear algebra HIPS autograd differentiates.

- ``solve_sylvester(a, b, q)``: X with a X + X b = q (in a, b and q);
- ``sqrtm(A)``: the principal square root (real results only);
- ``solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False)``: in a and b;
  the gradient of ``a`` lives on the triangle that is read (without the diagonal
  when ``unit_diagonal``);
- ``cholesky(a, lower=False)``: SciPy's default is the *upper* factor U with
  a = U^T U; the gradient lives on the triangle LAPACK reads (upper when
  ``lower=False``), as for ``chainrule.numpy.linalg.cholesky``.

Other names are SciPy's, without derivatives (a Tensor that requires grad is refused).
"""

from __future__ import annotations

from typing import Any

import scipy.linalg as _sl

import chainrule.numpy as cnp
from chainrule.numpy._core import arg, binding
from chainrule.ops import scipy_linalg as _ops
from chainrule.tensor import apply


@binding(_sl.solve_sylvester)
def solve_sylvester(a: Any, b: Any, q: Any) -> Any:
    """X with a @ X + X @ b = q."""
    return apply(_ops.solve_sylvester, (arg(a), arg(b), arg(q)))


@binding(_sl.sqrtm)
def sqrtm(A: Any, *args: Any, **kwargs: Any) -> Any:
    """The principal square root of a square matrix (real results only)."""
    if args or kwargs:
        raise TypeError(f"sqrtm on a Tensor takes the matrix only; got extra {args or kwargs}")
    return apply(_ops.sqrtm, (arg(A),))


_TRANS = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1, "C": 2}


@binding(_sl.solve_triangular)
def solve_triangular(
    a: Any,
    b: Any,
    trans: Any = 0,
    lower: bool = False,
    unit_diagonal: bool = False,
    overwrite_b: bool = False,
    check_finite: bool = True,
) -> Any:
    """x with op(a) @ x = b, a triangular (``lower`` picks the triangle read)."""
    if trans not in _TRANS:
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    params = {"trans": _TRANS[trans], "lower": bool(lower), "unit_diagonal": bool(unit_diagonal)}
    return apply(_ops.solve_triangular, (arg(a), arg(b)), params)


@binding(_sl.cholesky)
def cholesky(
    a: Any, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True
) -> Any:
    """The Cholesky factor: upper U (a = U^T U) by default, lower L with ``lower=True``."""
    a = arg(a)
    if lower:
        return cnp.linalg.cholesky(a)
    # The upper factor of a is the transposed lower factor of a^T (whose lower
    # triangle is a's upper one: the triangle LAPACK reads for lower=False).
    return cnp.swapaxes(cnp.linalg.cholesky(cnp.swapaxes(a, -1, -2)), -1, -2)


def __getattr__(name: str) -> Any:
    """Anything else is SciPy's (no derivative)."""
    return getattr(_sl, name)


__all__ = ["cholesky", "solve_sylvester", "solve_triangular", "sqrtm"]
