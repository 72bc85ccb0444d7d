"""``chainrule.numpy.linalg``: NumPy's ``numpy.linalg`` with derivatives.

norm (vector and matrix orders), vector_norm, matrix_norm, inv, det, slogdet,
solve, cholesky, eig and eigvals (real or complex), eigh, eigvalsh, svd, svdvals, pinv,
matrix_power, multi_dot.
The rules are in :mod:`chainrule.ops.numpy_linalg`, which also says what happens at
the hard points: the gradient of ``norm`` at 0 is 0 (a subgradient), never NaN;
``det`` of a singular matrix has its cofactor matrix as gradient; ``inv`` and
``solve`` of a singular matrix raise ``LinAlgError``; ``eigh`` with repeated
eigenvalues gives exact gradients of functions of the eigenvalues, and finite
(but not exact) ones of functions of the eigenvectors, whose coupling inside the
repeated eigenspace has no derivative and is left out.

Other names fall through to NumPy's ``numpy.linalg`` (on a Tensor that requires
grad they refuse, naming the function, rather than drop the gradient).
"""

from __future__ import annotations

import functools
import math
import sys as _sys
from collections import namedtuple
from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.numpy import _dispatch
from chainrule.numpy._core import array_arg, axis_arg, binding, constant, data, normalize_axis
from chainrule.ops import numpy_eig as _eig
from chainrule.ops import numpy_linalg as _nl
from chainrule.ops import numpy_reductions as _nr
from chainrule.tensor import Tensor, apply

LinAlgError = np.linalg.LinAlgError

SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
EigResult = namedtuple("EigResult", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])

_NO = np._NoValue


def _linalg_errors(impl: Any) -> Any:
    """Let ``LinAlgError`` from a primitive's forward reach the caller as such (the
    op wrapper turns forward errors into ValueError, naming the op and shapes)."""

    @functools.wraps(impl)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return impl(*args, **kwargs)
        except ValueError as exc:
            if isinstance(exc.__context__, LinAlgError) and not isinstance(exc, LinAlgError):
                raise LinAlgError(str(exc)) from None
            raise

    return wrapped


def _float(x: Any) -> Any:
    x = array_arg(x)
    return x if x.dtype.kind in "fc" else F.astype(x, np.float64)


def _moduli(x: Any, ord: Any = None) -> Any:
    """|x| for a complex Tensor, else x: every vector norm, and the matrix norms but
    the spectral ones (2, -2, 'nuc', through svd), depend on the moduli only."""
    if isinstance(x, Tensor) and x.dtype.kind == "c" and ord not in (2, -2, "nuc"):
        return F.abs(x)
    return x


def _square(x: Any, name: str) -> None:
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise LinAlgError(
            f"{name}: the last two axes must be square, but the array has shape {x.shape}"
        )


# -------------------------------------------------------------------- inverses
@binding(np.linalg.inv)
@_linalg_errors
def inv(a: Any) -> Any:
    """The inverse of a square matrix (a batch of them); singular: ``LinAlgError``."""
    x = _float(a)
    _square(x, "inv")
    return apply(_nl.inv, (x,))


@binding(np.linalg.solve)
@_linalg_errors
def solve(a: Any, b: Any) -> Any:
    """x with a @ x = b; differentiable in a and b. Singular a: ``LinAlgError``."""
    x = _float(a)
    _square(x, "solve")
    return apply(_nl.solve, (x, _float(b)))


@binding(np.linalg.pinv)
@_linalg_errors
def pinv(a: Any, rcond: Any = None, hermitian: bool = False, *, rtol: Any = _NO) -> Any:
    """The Moore-Penrose pseudo-inverse (its derivative holds where the rank is constant)."""
    options: dict[str, Any] = {}
    if rcond is not None:
        options["rcond"] = rcond
    if rtol is not _NO:
        options["rtol"] = rtol
    if hermitian:
        options["hermitian"] = True
    return apply(_nl.pinv, (_float(a),), options or None)


# ---------------------------------------------------------------- determinants
@binding(np.linalg.det)
@_linalg_errors
def det(a: Any) -> Any:
    """The determinant; its gradient is the cofactor matrix, singular matrices included."""
    x = _float(a)
    _square(x, "det")
    return apply(_nl.det, (x,))


@binding(np.linalg.slogdet)
@_linalg_errors
def slogdet(a: Any) -> SlogdetResult:
    """(sign, log|det|): the sign is a constant; log|det| has gradient inv(a)^T (a
    singular matrix, where log|det| = -inf, raises ``LinAlgError`` when differentiated)."""
    x = _float(a)
    _square(x, "slogdet")
    if isinstance(x, Tensor) and x.dtype.kind == "c":
        # log|det| = log(abs(det)) through the rules of det, abs and log, which hold
        # for complex values; the sign det/|det| is a constant here as for real ones.
        d = apply(_nl.det, (x,))
        return SlogdetResult(constant(np.linalg.slogdet(data(x))[0]), F.log(F.abs(d)))
    return SlogdetResult(apply(_nl.det_sign, (x,)), apply(_nl.logabsdet, (x,)))


# -------------------------------------------------------------- decompositions
@binding(np.linalg.cholesky)
@_linalg_errors
def cholesky(a: Any, /, *, upper: bool = False) -> Any:
    """The Cholesky factor (lower, or ``upper=True``); reads the lower (upper) triangle.
    Not positive definite: ``LinAlgError``."""
    x = _float(a)
    _square(x, "cholesky")
    if upper:
        return F.swapaxes(apply(_nl.cholesky, (F.swapaxes(x, -1, -2),)), -1, -2)
    return apply(_nl.cholesky, (x,))


@binding(np.linalg.eigh)
@_linalg_errors
def eigh(a: Any, UPLO: str = "L") -> EighResult:  # noqa: N803 - NumPy's name
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix, read
    from its lower (``UPLO='L'``) or upper triangle."""
    x = _float(a)
    _square(x, "eigh")
    uplo = str(UPLO).upper()
    if uplo not in ("L", "U"):
        raise ValueError("eigh: UPLO must be 'L' or 'U'")
    w, v = _nl.unpack_eigh(apply(_nl.eigh, (x,), {"UPLO": uplo}))
    return EighResult(w, v)


@binding(np.linalg.eig)
@_linalg_errors
def eig(a: Any) -> EigResult:
    """Eigenvalues and unit eigenvectors (columns) of a square matrix, real or complex,
    differentiable (complex results too, in HIPS autograd's convention; functions of
    complex eigenvectors that depend on their phase have no well-defined derivative:
    see :mod:`chainrule.ops.numpy_eig`)."""
    x = _float(a)
    _square(x, "eig")
    if not (isinstance(x, Tensor) and x.requires_grad):  # nothing to differentiate
        return EigResult(*map(constant, np.linalg.eig(data(x))))
    w, v = _eig.unpack_eig(apply(_eig.eig, (x,)))
    return EigResult(w, v)


@binding(np.linalg.eigvals)
def eigvals(a: Any) -> Any:
    """The eigenvalues of a square matrix (differentiable, complex ones too)."""
    return eig.impl(a)[0]


@binding(np.linalg.eigvalsh)
def eigvalsh(a: Any, UPLO: str = "L") -> Any:  # noqa: N803 - NumPy's name
    """The eigenvalues of a symmetric matrix, ascending."""
    return eigh.impl(a, UPLO)[0]


@binding(np.linalg.svd)
@_linalg_errors
def svd(
    a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False
) -> Any:
    """The singular value decomposition, differentiable (values and vectors).

    With ``compute_uv=True`` and a non-square matrix, ``full_matrices=True`` (NumPy's
    default) adds columns that are not unique, so they have no derivative: ask for
    ``full_matrices=False`` to differentiate U and Vh.
    """
    x = _float(a)
    if x.ndim < 2:
        raise LinAlgError(f"svd: the array must have at least 2 axes, got shape {x.shape}")
    m, n = x.shape[-2:]
    if compute_uv and full_matrices and m != n:
        if isinstance(x, Tensor) and x.requires_grad:
            raise NotImplementedError(
                "svd of a non-square matrix with full_matrices=True: the added singular "
                "vectors are not unique and have no derivative; pass full_matrices=False"
            )
        return SVDResult(*constant(tuple(np.linalg.svd(data(x), full_matrices=True))))
    u, s, vh = _nl.unpack_svd(apply(_nl.svd, (x,)), m)
    return SVDResult(u, s, vh) if compute_uv else s


@binding(np.linalg.svdvals)
def svdvals(x: Any, /) -> Any:
    """The singular values, descending."""
    return svd.impl(x, compute_uv=False)


# ---------------------------------------------------------------------- norms
def _vector_norm(x: Any, ord: Any, axis: Any, keepdims: bool) -> Any:
    x = _moduli(x)
    if ord is None or ord == 2:
        ord = 2.0
    if ord == math.inf:
        return F.max(F.abs(x), axis, keepdims)
    if ord == -math.inf:
        return F.min(F.abs(x), axis, keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
    if ord == 0:
        return F.sum(F.astype(x != 0, x.dtype), axis, keepdims)
    if ord > 0:
        params = {"ord": float(ord), "axis": axis, "keepdims": bool(keepdims)}
        return apply(_nr.vector_norm, (x,), params)
    return F.sum(F.abs(x) ** ord, axis, keepdims) ** (1.0 / ord)


def _keep(result: Any, x: Any, axes: tuple[int, ...]) -> Any:
    return F.reshape(result, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))


def _matrix_norm(x: Any, ord: Any, axes: tuple[int, int], keepdims: bool) -> Any:
    row, col = axes
    if row == col:
        raise ValueError("norm: duplicate axes given")
    if ord is None or ord == "fro":
        result = apply(_nr.vector_norm, (x,), {"ord": 2.0, "axis": axes, "keepdims": False})
    elif ord in ("nuc", 2, -2):
        values = svd.impl(F.transpose(x, _to_last(x.ndim, row, col)), compute_uv=False)
        reduce = F.sum if ord == "nuc" else F.max if ord == 2 else F.min
        result = reduce(values, -1)
    elif ord in (1, -1):
        sums = F.sum(F.abs(x), row)
        result = (F.max if ord == 1 else F.min)(sums, col - 1 if col > row else col)
    elif ord in (math.inf, -math.inf):
        sums = F.sum(F.abs(x), col)
        result = (F.max if ord == math.inf else F.min)(sums, row - 1 if row > col else row)
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    return _keep(result, x, axes) if keepdims else result


def _to_last(nd: int, row: int, col: int) -> list[int]:
    return [i for i in range(nd) if i not in (row, col)] + [row, col]


@binding(np.linalg.norm)
def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """Vector norms (ord 2, 1, inf, -inf, 0, p) and matrix norms ('fro', 'nuc', 1, -1,
    2, -2, inf, -inf), NumPy's rules for which applies. The gradient at 0 is 0."""
    x = _float(x)
    axis = axis_arg(axis)
    if axis is not None and len((axis,) if isinstance(axis, int) else axis) == 1:
        x = _moduli(x)  # a vector norm, whatever its ord
    else:
        x = _moduli(x, ord)
    if axis is None:
        if ord is None:
            flat = x if x.ndim == 1 else F.reshape(x, (-1,))
            result = apply(_nr.vector_norm, (flat,), {"ord": 2.0, "axis": 0, "keepdims": False})
            return F.reshape(result, (1,) * x.ndim) if keepdims else result
        if x.ndim == 1:
            axis = (0,)
        elif x.ndim == 2:
            axis = (0, 1)
        else:
            raise ValueError("norm: improper number of dimensions to norm")
    axes = (axis,) if isinstance(axis, int) else axis
    axes = tuple(normalize_axis(a, x.ndim, "norm") for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, (axes[0], axes[1]), keepdims)
    raise ValueError("norm: improper number of dimensions to norm")


@binding(np.linalg.vector_norm)
def vector_norm(x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:
    """The vector norm over ``axis`` (all axes by default, whatever the shape)."""
    x = _moduli(_float(x))
    axis = axis_arg(axis)
    if axis is None:
        result = _vector_norm(x if x.ndim == 1 else F.reshape(x, (-1,)), ord, 0, False)
        return F.reshape(result, (1,) * x.ndim) if keepdims else result
    return _vector_norm(x, ord, axis, keepdims)


@binding(np.linalg.matrix_norm)
def matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Any:
    """The matrix norm over the last two axes."""
    x = _moduli(_float(x), ord)
    return _matrix_norm(x, ord, (x.ndim - 2, x.ndim - 1), keepdims)


# ---------------------------------------------------------------------- products
@binding(np.linalg.matrix_power)
def matrix_power(a: Any, n: int) -> Any:
    """a @ a @ ... (n times); n = 0 gives the identity, n < 0 powers of the inverse."""
    x = array_arg(a)
    _square(x, "matrix_power")
    n = int(n)
    if n == 0:
        eye = np.broadcast_to(np.eye(x.shape[-1], dtype=x.dtype), x.shape)
        return constant(eye.copy())
    if n < 0:
        x, n = inv.impl(x), -n
    result = None
    base = x
    while n:  # square and multiply
        if n & 1:
            result = base if result is None else F.matmul(result, base)
        n >>= 1
        if n:
            base = F.matmul(base, base)
    return result


@binding(np.linalg.multi_dot)
def multi_dot(arrays: Any, *, out: Any = None) -> Any:
    """The product of the matrices in order (left to right)."""
    parts = [array_arg(a) for a in arrays]
    result = parts[0]
    for p in parts[1:]:
        result = F.matmul(result, p)
    return result


@binding(np.linalg.matrix_transpose)
def matrix_transpose(x: Any, /) -> Any:
    """The last two axes swapped."""
    return F.swapaxes(array_arg(x), -1, -2)


def __getattr__(name: str) -> Any:
    return getattr(np.linalg, name)


# numpy.linalg.X(tensor) reaches these implementations (NumPy's dispatch).
_dispatch.install_functions(_sys.modules[__name__])
