"""More of NumPy's array functions, each a composition of existing differentiable ops.

``rot90``, ``rollaxis`` and ``dsplit`` move elements (flip, transpose, split);
``partition`` picks them (``take_along_axis``, whose adjoint scatters); ``select``
and ``nan_to_num`` choose between values (``where``); ``cross`` multiplies
components; ``gradient`` is linear in its input: a three-point stencil per output
element, applied with indexing. Their derivatives are those of the ops composed,
exact, so none needs a rule of its own.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.numpy._core import array_arg, binding, data, normalize_axis
from chainrule.numpy._shape import flip, moveaxis, split, take_along_axis, transpose
from chainrule.numpy._ufuncs import where
from chainrule.tensor import Tensor


def _values(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


# ------------------------------------------------------------------ moving
@binding(np.rot90)
def rot90(m: Any, k: int = 1, axes: Any = (0, 1)) -> Any:
    """The array turned by 90 degrees ``k`` times, from axis ``axes[0]`` towards ``axes[1]``."""
    x = array_arg(m)
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError("rot90: len(axes) must be 2")
    if x.ndim < 2:
        raise ValueError(f"rot90: the array must have at least 2 axes, it has {x.ndim}")
    a0, a1 = (normalize_axis(int(a), x.ndim, "rot90") for a in axes)
    if a0 == a1:
        raise ValueError("rot90: the two axes must be different")
    k = operator.index(k) % 4
    if k == 0:
        return x
    if k == 2:
        return flip.impl(flip.impl(x, a0), a1)
    order = list(range(x.ndim))
    order[a0], order[a1] = order[a1], order[a0]
    if k == 1:
        return transpose.impl(flip.impl(x, a1), order)
    return flip.impl(transpose.impl(x, order), a1)


@binding(np.rollaxis)
def rollaxis(a: Any, axis: int, start: int = 0) -> Any:
    """Axis ``axis`` moved to just before position ``start`` (``moveaxis`` is clearer)."""
    x = array_arg(a)
    n = x.ndim
    axis = normalize_axis(int(axis), n, "rollaxis")
    start = int(start)
    if start < 0:
        start += n
    if not 0 <= start <= n:
        raise np.exceptions.AxisError(
            f"rollaxis: start {start} is out of bounds for an array of dimension {n}"
        )
    if axis < start:
        start -= 1
    if axis == start:
        return x
    order = [d for d in range(n) if d != axis]
    order.insert(start, axis)
    return transpose.impl(x, order)


@binding(np.dsplit)
def dsplit(ary: Any, indices_or_sections: Any) -> list:
    """Pieces along the third axis (depth), as ``split(ary, ..., axis=2)``."""
    x = array_arg(ary)
    if x.ndim < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return split.impl(x, indices_or_sections, 2)


@binding(np.partition)
def partition(
    a: Any, kth: Any, axis: Any = -1, kind: str = "introselect", order: Any = None
) -> Any:
    """The ``kth`` element in its sorted place, smaller ones before it and larger after;
    each element carries the gradient of the one it came from."""
    if order is not None:
        raise NotImplementedError(
            "partition on a Tensor: order= (structured arrays) is not supported"
        )
    x = array_arg(a)
    if axis is None:
        x, axis = F.reshape(x, (-1,)), 0
    index = np.argpartition(_values(x), kth, axis=axis, kind=kind)
    return take_along_axis.impl(x, index, axis)


# ---------------------------------------------------------------- choosing
@binding(np.select)
def select(condlist: Any, choicelist: Any, default: Any = 0) -> Any:
    """Elementwise, the choice of the first condition that holds, else ``default``."""
    conds, choices = list(condlist), list(choicelist)
    if len(conds) != len(choices):
        raise ValueError("select: list of cases must be same length as list of conditions")
    if not choices:
        raise ValueError("select: select with an empty condition list is not possible")
    masks = [np.asarray(data(c)) for c in conds]
    for i, c in enumerate(masks):
        if c.dtype != np.bool_:
            raise TypeError(f"select: invalid entry {i} in condlist: should be boolean ndarray")
    out = default
    for c, choice in zip(reversed(masks), reversed(choices)):
        out = where.impl(c, choice, out)
    return out


@binding(np.nan_to_num)
def nan_to_num(
    x: Any, copy: bool = True, nan: float = 0.0, posinf: Any = None, neginf: Any = None
) -> Any:
    """NaN and infinities replaced by finite numbers (NumPy's defaults: 0 and the
    largest finite values); the gradient flows to the finite entries only."""
    t = array_arg(x)
    values = _values(t)
    if values.dtype.kind not in "fc":
        return t
    replaced = np.nan_to_num(values, nan=nan, posinf=posinf, neginf=neginf)
    return where.impl(np.isfinite(values), t, replaced)


# ----------------------------------------------------------------- products
def _component(x: Any, i: int) -> Any:
    return F.getitem(x, (Ellipsis, i))


@binding(np.cross)
def cross(
    a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: Any = None
) -> Any:
    """The cross product of vectors of 3 (or 2) components along the given axes."""
    if axis is not None:
        axisa = axisb = axisc = axis
    x, y = array_arg(a), array_arg(b)
    x = moveaxis.impl(x, normalize_axis(int(axisa), x.ndim, "cross"), -1)
    y = moveaxis.impl(y, normalize_axis(int(axisb), y.ndim, "cross"), -1)
    na, nb = x.shape[-1], y.shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(
            "cross: incompatible dimensions for cross product (dimension must be 2 or 3)"
        )
    a0, a1, b0, b1 = _component(x, 0), _component(x, 1), _component(y, 0), _component(y, 1)
    z = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return z
    if na == 3 and nb == 3:
        a2, b2 = _component(x, 2), _component(y, 2)
        parts = [a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, z]
    elif na == 2:  # a's third component is 0
        b2 = _component(y, 2)
        parts = [a1 * b2, -(a0 * b2), z]
    else:  # b's third component is 0
        a2 = _component(x, 2)
        parts = [-(a2 * b1), a2 * b0, z]
    shape = np.broadcast_shapes(*(np.shape(p) for p in parts))
    c = F.stack([F.broadcast_to(p, shape) for p in parts], -1)
    return moveaxis.impl(c, -1, normalize_axis(int(axisc), c.ndim, "cross"))


# ------------------------------------------------------------------ gradient
def _stencil(n: int, spacing: Any, edge_order: int) -> tuple[list, list]:
    """For each output position, three input positions and their weights: NumPy's
    second-order central differences inside, one-sided ones of ``edge_order`` at the ends."""
    mid = np.arange(1, n - 1)
    if edge_order == 1:  # ends: (f[1] - f[0]) / h and (f[-1] - f[-2]) / h
        ends = ((0, 1, 1), (n - 2, n - 1, n - 1))
    else:
        ends = ((0, 1, 2), (n - 3, n - 2, n - 1))
    idx = [np.r_[ends[0][k], mid - 1 + k, ends[1][k]] for k in range(3)]
    if np.ndim(spacing) == 0:
        h = float(spacing)
        inner = [np.full(n - 2, -0.5 / h), np.zeros(n - 2), np.full(n - 2, 0.5 / h)]
        if edge_order == 1:
            first = last = [-1 / h, 1 / h, 0.0]
        else:
            first, last = [-1.5 / h, 2 / h, -0.5 / h], [0.5 / h, -2 / h, 1.5 / h]
    else:
        xs = np.asarray(spacing, dtype=np.float64)
        d = np.diff(xs)
        d1, d2 = d[:-1], d[1:]
        inner = [-d2 / (d1 * (d1 + d2)), (d2 - d1) / (d1 * d2), d1 / (d2 * (d1 + d2))]
        if edge_order == 1:
            first, last = [-1 / d[0], 1 / d[0], 0.0], [-1 / d[-1], 1 / d[-1], 0.0]
        else:
            p, q = d[0], d[1]
            first = [-(2 * p + q) / (p * (p + q)), (p + q) / (p * q), -p / (q * (p + q))]
            p, q = d[-2], d[-1]
            last = [q / (p * (p + q)), -(q + p) / (p * q), (2 * q + p) / (q * (p + q))]
    weights = [np.r_[first[k], inner[k], last[k]] for k in range(3)]
    return idx, weights


def _spacings(varargs: tuple, axes: list[int], shape: tuple) -> list:
    if not varargs:
        return [1.0] * len(axes)
    if len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        return [varargs[0]] * len(axes)
    if len(varargs) != len(axes):
        raise TypeError("gradient: invalid number of arguments")
    out = []
    for ax, s in zip(axes, varargs):
        s = _values(s)
        if np.ndim(s) == 1:
            if len(s) != shape[ax]:
                raise ValueError(
                    "gradient: when 1d, distances must match the length of the dimension"
                )
            d = np.diff(s)
            s = float(d[0]) if np.all(d == d[0]) else s
        elif np.ndim(s) != 0:
            raise ValueError("gradient: distances must be either scalars or 1d")
        out.append(s)
    return out


@binding(np.gradient)
def gradient(f: Any, *varargs: Any, axis: Any = None, edge_order: int = 1) -> Any:
    """Central differences inside, one-sided at the ends (NumPy's ``gradient``): one
    array per axis, a tuple when there are several."""
    x = array_arg(f)
    if isinstance(x, Tensor) and x.dtype.kind != "f":
        x = F.astype(x, np.float64)
    if edge_order not in (1, 2):
        raise ValueError("gradient: 'edge_order' greater than 2 not supported")
    if axis is None:
        axes = list(range(x.ndim))
    else:
        listed = [axis] if isinstance(axis, int | np.integer) else list(axis)
        axes = [normalize_axis(int(a), x.ndim, "gradient") for a in listed]
    spacings = _spacings(varargs, axes, x.shape)
    outs = []
    for ax, h in zip(axes, spacings):
        n = x.shape[ax]
        if n < edge_order + 1:
            raise ValueError(
                "Shape of array too small to calculate a numerical gradient, "
                "at least (edge_order + 1) elements are required."
            )
        idx, weights = _stencil(n, h, edge_order)
        bshape = [1] * x.ndim
        bshape[ax] = n
        total = None
        for i, w in zip(idx, weights):
            part = F.getitem(x, (slice(None),) * ax + (i,)) * w.reshape(bshape).astype(x.dtype)
            total = part if total is None else total + part
        outs.append(total)
    return outs[0] if len(outs) == 1 else tuple(outs)
