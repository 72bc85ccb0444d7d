"""NumPy's reductions and scans: sum, mean, prod, max/min, var, std, cumsum,
cumprod, average, ptp, with NumPy's ``axis``, ``keepdims``, ``dtype``, ``ddof``.

Lists mixing Tensors and numbers are accepted (``np.mean([t, u])``). ``max`` and
``min`` split the gradient evenly between tied elements.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.numpy._core import (
    array_arg,
    axis_arg,
    binding,
    constant,
    data,
    no_out,
    no_where,
    normalize_axis,
    shape,
)
from chainrule.ops import complex_parts as C
from chainrule.ops import numpy_reductions as _nr
from chainrule.tensor import Tensor, apply

_NO = np._NoValue  # NumPy's "argument not given"


def _prepare(name: str, a: Any, dtype: Any, out: Any, where: Any) -> Any:
    no_out(name, out)
    if where is not _NO:
        no_where(name, where)
    x = array_arg(a)
    return x if dtype is None else F.astype(x, dtype)


def _is_complex(x: Any) -> bool:
    return isinstance(x, Tensor) and x.dtype.kind == "c"


def _count(shape_: tuple[int, ...], axis: Any) -> int:
    if axis is None:
        return int(np.prod(shape_))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape_[a] for a in axes]))


@binding(np.sum)
def sum(  # noqa: A001 - NumPy's name
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    keepdims: bool = False,
    initial: Any = _NO,
    where: Any = _NO,
) -> Any:
    """Sum of the elements over ``axis``."""
    x = _prepare("sum", a, dtype, out, where)
    result = F.sum(x, axis_arg(axis), bool(keepdims))
    return result if initial is _NO else result + initial


@binding(np.mean)
def mean(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    keepdims: bool = False,
    *,
    where: Any = _NO,
) -> Any:
    """Arithmetic mean over ``axis``."""
    x = _prepare("mean", a, dtype, out, where)
    return F.mean(x, axis_arg(axis), bool(keepdims))


@binding(np.prod)
def prod(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    keepdims: bool = False,
    initial: Any = _NO,
    where: Any = _NO,
) -> Any:
    """Product of the elements over ``axis`` (right gradients at zeros too)."""
    x = _prepare("prod", a, dtype, out, where)
    result = F.prod(x, axis_arg(axis), bool(keepdims))
    return result if initial is _NO else result * initial


def _extremum(name: str, core: Any, combine: Any) -> Any:
    def impl(
        a: Any,
        axis: Any = None,
        out: Any = None,
        keepdims: bool = False,
        initial: Any = _NO,
        where: Any = _NO,
    ) -> Any:
        x = _prepare(name, a, None, out, where)
        result = core(x, axis_arg(axis), bool(keepdims))
        return result if initial is _NO else combine(result, initial)

    impl.__name__ = name
    impl.__doc__ = f"The {'largest' if 'max' in name else 'smallest'} element over ``axis``; " + (
        "tied elements share the gradient evenly."
    )
    return impl


max = binding(np.max, "max")(_extremum("max", F.max, F.maximum))  # noqa: A001
amax = binding(np.amax, "amax")(max.impl)
min = binding(np.min, "min")(_extremum("min", F.min, F.minimum))  # noqa: A001
amin = binding(np.amin, "amin")(min.impl)


@binding(np.ptp)
def ptp(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """max - min over ``axis``."""
    x = _prepare("ptp", a, None, out, _NO)
    axis = axis_arg(axis)
    return F.max(x, axis, bool(keepdims)) - F.min(x, axis, bool(keepdims))


def _ddof(ddof: Any, correction: Any) -> Any:
    if correction is not _NO:
        if ddof != 0:
            raise ValueError("var/std: give ddof or correction, not both")
        return correction
    return ddof


@binding(np.var)
def var(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    ddof: Any = 0,
    keepdims: bool = False,
    *,
    where: Any = _NO,
    mean: Any = _NO,
    correction: Any = _NO,
) -> Any:
    """Variance: mean of squared deviations from the mean, divided by N - ddof."""
    x = _prepare("var", a, dtype, out, where)
    axis = axis_arg(axis)
    m = F.mean(x, axis, True) if mean is _NO else array_arg(mean)
    d = x - m
    n = _count(shape(x), axis)
    # NumPy's variance of complex values is the mean of |d|^2, a real number.
    squares = C.real(d * C.conj(d)) if _is_complex(d) else d * d
    return F.sum(squares, axis, bool(keepdims)) / (n - _ddof(ddof, correction))


@binding(np.std)
def std(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    ddof: Any = 0,
    keepdims: bool = False,
    *,
    where: Any = _NO,
    mean: Any = _NO,
    correction: Any = _NO,
) -> Any:
    """Standard deviation (sqrt of ``var``); where it is 0 the gradient is 0, not NaN."""
    x = _prepare("std", a, dtype, out, where)
    if _is_complex(x) and mean is _NO:  # the std primitive's rule is for real values
        return var.impl(x, axis, ddof=ddof, keepdims=keepdims, correction=correction) ** 0.5
    if mean is not _NO:
        return var.impl(x, axis, ddof=ddof, keepdims=keepdims, mean=mean) ** 0.5
    params = {"axis": axis_arg(axis), "ddof": _ddof(ddof, correction), "keepdims": bool(keepdims)}
    return apply(_nr.std, (x,), params)


def _scan(name: str, prim: Any) -> Any:
    def impl(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
        x = _prepare(name, a, dtype, out, _NO)
        if axis is None:
            x, axis = (x if x.ndim == 1 else F.reshape(x, (-1,))), 0
        axis = normalize_axis(int(axis), x.ndim, name)
        return apply(prim, (x,), {"axis": axis})

    impl.__name__ = name
    impl.__doc__ = prim.doc
    return impl


cumsum = binding(np.cumsum, "cumsum")(_scan("cumsum", _nr.cumsum))
cumprod = binding(np.cumprod, "cumprod")(_scan("cumprod", _nr.cumprod))


@binding(np.average)
def average(
    a: Any,
    axis: Any = None,
    weights: Any = None,
    returned: bool = False,
    *,
    keepdims: bool = False,
) -> Any:
    """Weighted mean, differentiable in ``a`` and in ``weights``."""
    x = array_arg(a)
    axis = axis_arg(axis)
    if weights is None:
        avg = F.mean(x, axis, bool(keepdims))
        scale = np.full(avg.shape, x.size / builtins.max(avg.size, 1), dtype=avg.dtype)
    else:
        w = array_arg(weights)
        if w.shape != x.shape:
            if axis is None:
                raise TypeError("average: axis must be given when a and weights differ in shape")
            if w.ndim != 1:
                raise TypeError("average: 1-D weights expected when shapes of a and weights differ")
            if not isinstance(axis, int):
                raise TypeError("average: with 1-D weights, axis must be an int")
            axis = normalize_axis(axis, x.ndim, "average")
            if w.shape[0] != x.shape[axis]:
                raise ValueError("average: length of weights not compatible with specified axis")
            w = F.reshape(w, tuple(-1 if i == axis else 1 for i in range(x.ndim)))
        scale = F.sum(F.broadcast_to(w, np.broadcast_shapes(w.shape, x.shape)), axis, keepdims)
        if np.any(data(scale) == 0):
            raise ZeroDivisionError("average: weights sum to zero, can't be normalized")
        avg = F.sum(x * w, axis, bool(keepdims)) / scale
    if not returned:
        return avg
    if isinstance(scale, np.ndarray):
        return avg, constant(scale)
    return avg, (scale if scale.shape == avg.shape else F.broadcast_to(scale, avg.shape))
