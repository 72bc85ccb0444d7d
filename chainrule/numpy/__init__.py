"""``chainrule.numpy``: NumPy's names, differentiable.

Change one import and existing NumPy code computes gradients::

    import chainrule as cr
    import chainrule.numpy as np   # instead of: import numpy as np

    def loss(w, x, y):
        p = 1 / (1 + np.exp(-(x @ w)))
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    g = cr.grad(loss)(np.zeros(3), x, y)

Every function accepts Tensors, NumPy arrays, Python numbers and lists mixing
them. With no Tensor among its arguments it *is* NumPy's function (same values,
same types); with a Tensor it returns a Tensor and records the graph, so reverse
mode, forward mode and higher orders work through it. All derivatives are rules
of the one primitive table (``chainrule.ops``); ``chainrule.numpy`` only composes.
NumPy's own functions reach the same implementations when called on Tensors
(``numpy.exp(t)``, ``numpy.linalg.norm(t)``), through NumPy's dispatch protocols.

Names not defined here (dtypes, constants such as ``pi``, and NumPy functions
without a rule) are NumPy's; a function without a rule refuses a Tensor that
requires grad, naming itself, instead of dropping the gradient.
"""

# ruff: noqa: F401  (this module re-exports the implementations)
from __future__ import annotations

import importlib as _importlib
from typing import Any

import numpy as _np

from chainrule.numpy._linear import (
    diag,
    diagonal,
    dot,
    einsum,
    inner,
    kron,
    outer,
    tensordot,
    trace,
    tril,
    triu,
    vdot,
)
from chainrule.numpy._misc import (
    all,
    allclose,
    any,
    arange,
    argmax,
    argmin,
    argsort,
    argwhere,
    array,
    array_equal,
    array_equiv,
    asanyarray,
    asarray,
    ascontiguousarray,
    c_,
    copy,
    count_nonzero,
    empty,
    empty_like,
    eye,
    flatnonzero,
    full,
    full_like,
    geomspace,
    identity,
    indices,
    isclose,
    linspace,
    logspace,
    meshgrid,
    ndim,
    nonzero,
    ones,
    ones_like,
    r_,
    searchsorted,
    size,
    zeros,
    zeros_like,
)
from chainrule.numpy._misc import shape_of as shape
from chainrule.numpy._real_parts import (
    angle,
    conj,
    conjugate,
    deg2rad,
    degrees,
    imag,
    rad2deg,
    radians,
    real,
    real_if_close,
)
from chainrule.numpy._rearrange import (
    cross,
    dsplit,
    gradient,
    nan_to_num,
    partition,
    rollaxis,
    rot90,
    select,
)
from chainrule.numpy._reductions import (
    amax,
    amin,
    average,
    cumprod,
    cumsum,
    max,
    mean,
    min,
    prod,
    ptp,
    std,
    sum,
    var,
)
from chainrule.numpy._shape import (
    append,
    array_split,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    broadcast_arrays,
    broadcast_to,
    column_stack,
    concatenate,
    diff,
    dstack,
    expand_dims,
    flip,
    fliplr,
    flipud,
    hsplit,
    hstack,
    moveaxis,
    pad,
    ravel,
    repeat,
    reshape,
    roll,
    sort,
    split,
    squeeze,
    stack,
    swapaxes,
    take,
    take_along_axis,
    tile,
    transpose,
    vsplit,
    vstack,
)
from chainrule.numpy._ufuncs import (
    abs,
    absolute,
    add,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    around,
    cbrt,
    ceil,
    clip,
    cos,
    cosh,
    divide,
    equal,
    exp,
    exp2,
    expm1,
    fabs,
    floor,
    floor_divide,
    fmax,
    fmin,
    greater,
    greater_equal,
    hypot,
    isfinite,
    isinf,
    isnan,
    less,
    less_equal,
    log,
    log1p,
    log2,
    log10,
    logaddexp,
    logaddexp2,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    matmul,
    maximum,
    minimum,
    mod,
    multiply,
    negative,
    not_equal,
    positive,
    power,
    reciprocal,
    remainder,
    rint,
    round,
    sign,
    signbit,
    sin,
    sinc,
    sinh,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
    true_divide,
    trunc,
    where,
)

# NumPy's constants and types, named here so that they show in dir() and editors.
pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, _np.newaxis
float16, float32, float64 = _np.float16, _np.float32, _np.float64
int8, int16, int32, int64 = _np.int8, _np.int16, _np.int32, _np.int64
uint8, bool_, intp = _np.uint8, _np.bool_, _np.intp
ndarray, dtype, ufunc = _np.ndarray, _np.dtype, _np.ufunc
finfo, iinfo, errstate, seterr = _np.finfo, _np.iinfo, _np.errstate, _np.seterr
result_type, promote_types, can_cast = _np.result_type, _np.promote_types, _np.can_cast
broadcast_shapes, isscalar, newaxis = _np.broadcast_shapes, _np.isscalar, _np.newaxis


# Loaded on first use (``np.linalg``, ``import chainrule.numpy.fft``): most programs
# never touch them, and a program's run time includes its imports.
_SUBMODULES = ("fft", "linalg", "random")


def __getattr__(name: str) -> Any:
    """``fft``, ``linalg`` and ``random`` are chainrule's, imported on first use;
    anything else is NumPy's (``np.float128``, ``np.unique``, ...)."""
    if name in _SUBMODULES:
        return _importlib.import_module(f"chainrule.numpy.{name}")
    return getattr(_np, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(_np)) | set(_SUBMODULES))


__all__ = [n for n in dir() if not n.startswith("_") and n not in ("annotations", "Any")]
__all__ += [n for n in _SUBMODULES if n not in __all__]
