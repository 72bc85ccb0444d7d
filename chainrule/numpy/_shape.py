"""Shape, joining, splitting and indexing functions with NumPy's signatures.

All are compositions of the shape primitives (reshape, transpose, broadcast_to,
concatenate, stack) and of indexing (getitem, whose adjoint scatters and adds,
so an element picked twice by ``repeat`` or ``take`` gets both gradients).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.numpy._core import (
    array_arg,
    axis_arg,
    binding,
    data,
    facts,
    no_out,
    normalize_axis,
)
from chainrule.ops import indexing as _ix
from chainrule.tensor import Tensor, apply


def _along(axis: int, index: Any) -> tuple:
    """An index applying ``index`` to axis ``axis`` only."""
    return (slice(None),) * axis + (index,)


def _flat(x: Any) -> Any:
    return F.reshape(x, (-1,))


# ---------------------------------------------------------------- reshaping
@binding(np.reshape)
def reshape(
    a: Any, /, shape: Any = None, order: str = "C", *, newshape: Any = None, **kw: Any
) -> Any:
    """The same elements in a new shape (C order)."""
    if order != "C":
        raise NotImplementedError("reshape on a Tensor: only order='C' is supported")
    shape = newshape if shape is None else shape
    return F.reshape(array_arg(a), shape)


@binding(np.ravel)
def ravel(a: Any, order: str = "C") -> Any:
    """The elements as a 1-D array (C order)."""
    if order not in ("C", "K", "A"):
        raise NotImplementedError("ravel on a Tensor: only order='C' is supported")
    return _flat(array_arg(a))


@binding(np.transpose)
def transpose(a: Any, axes: Any = None) -> Any:
    """Axes permuted (default: reversed)."""
    return F.transpose(array_arg(a), None if axes is None else tuple(axes))


@binding(np.swapaxes)
def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    """Two axes exchanged."""
    return F.swapaxes(array_arg(a), axis1, axis2)


@binding(np.moveaxis)
def moveaxis(a: Any, source: Any, destination: Any) -> Any:
    """Axes moved to new positions; the others keep their order."""
    x = array_arg(a)
    nd = x.ndim
    src = [source] if isinstance(source, int | np.integer) else list(source)
    dst = [destination] if isinstance(destination, int | np.integer) else list(destination)
    if len(src) != len(dst):
        raise ValueError("moveaxis: source and destination must have the same number of axes")
    src = [normalize_axis(int(s), nd, "moveaxis") for s in src]
    dst = [normalize_axis(int(d), nd, "moveaxis") for d in dst]
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return F.transpose(x, order)


@binding(np.expand_dims)
def expand_dims(a: Any, axis: Any) -> Any:
    """New axes of length 1 at ``axis``."""
    return F.expand_dims(array_arg(a), axis_arg(axis))


@binding(np.squeeze)
def squeeze(a: Any, axis: Any = None) -> Any:
    """Axes of length 1 removed."""
    return F.squeeze(array_arg(a), axis_arg(axis))


@binding(np.broadcast_to)
def broadcast_to(array: Any, shape: Any, subok: bool = False) -> Any:
    """``array`` repeated to ``shape`` by broadcasting; the gradient is summed back."""
    return F.broadcast_to(array_arg(array), shape)


@binding(np.broadcast_arrays)
def broadcast_arrays(*args: Any, subok: bool = False) -> tuple:
    """The arguments broadcast against each other."""
    xs = [array_arg(a) for a in args]
    target = np.broadcast_shapes(*(x.shape for x in xs))
    return tuple(x if x.shape == target else F.broadcast_to(x, target) for x in xs)


def _atleast(n: int) -> Any:
    def one(x: Any) -> Any:
        x = array_arg(x)
        if x.ndim >= n:
            return x
        if n == 1:
            return F.reshape(x, (1,))
        if n == 2:
            return F.reshape(x, (1,) * (2 - x.ndim) + x.shape)
        # atleast_3d: (n,) -> (1, n, 1), (m, n) -> (m, n, 1)
        if x.ndim == 0:
            return F.reshape(x, (1, 1, 1))
        if x.ndim == 1:
            return F.reshape(x, (1, x.shape[0], 1))
        return F.reshape(x, x.shape + (1,))

    def impl(*arys: Any) -> Any:
        res = [one(a) for a in arys]
        return res[0] if len(res) == 1 else tuple(res)

    impl.__name__ = f"atleast_{n}d"
    impl.__doc__ = f"The inputs with at least {n} axes."
    return impl


atleast_1d = binding(np.atleast_1d, "atleast_1d")(_atleast(1))
atleast_2d = binding(np.atleast_2d, "atleast_2d")(_atleast(2))
atleast_3d = binding(np.atleast_3d, "atleast_3d")(_atleast(3))


# ------------------------------------------------------------------- joining
def _parts(arrays: Any) -> list:
    if isinstance(arrays, Tensor):  # iterating over its first axis, as NumPy does
        return list(arrays)
    return [array_arg(a) for a in arrays]


def _dtype_cast(parts: list, dtype: Any) -> list:
    return parts if dtype is None else [F.astype(p, dtype) for p in parts]


@binding(np.concatenate)
def concatenate(arrays: Any, axis: Any = 0, out: Any = None, dtype: Any = None, **kw: Any) -> Any:
    """Arrays joined along an existing axis (``axis=None``: flattened first)."""
    no_out("concatenate", out)
    parts = _dtype_cast(_parts(arrays), dtype)
    if axis is None:
        parts, axis = [_flat(p) for p in parts], 0
    return F.concatenate(parts, int(axis))


@binding(np.stack)
def stack(arrays: Any, axis: int = 0, out: Any = None, *, dtype: Any = None, **kw: Any) -> Any:
    """Arrays of one shape joined along a new axis."""
    no_out("stack", out)
    return F.stack(_dtype_cast(_parts(arrays), dtype), int(axis))


@binding(np.hstack)
def hstack(tup: Any, *, dtype: Any = None, **kw: Any) -> Any:
    """Joined along axis 1 (axis 0 for 1-D arrays)."""
    parts = [atleast_1d.impl(p) for p in _dtype_cast(_parts(tup), dtype)]
    return F.concatenate(parts, 0 if parts[0].ndim == 1 else 1)


@binding(np.vstack)
def vstack(tup: Any, *, dtype: Any = None, **kw: Any) -> Any:
    """Joined along axis 0, 1-D arrays as rows."""
    return F.concatenate([atleast_2d.impl(p) for p in _dtype_cast(_parts(tup), dtype)], 0)


@binding(np.dstack)
def dstack(tup: Any) -> Any:
    """Joined along axis 2."""
    return F.concatenate([atleast_3d.impl(p) for p in _parts(tup)], 2)


@binding(np.column_stack)
def column_stack(tup: Any) -> Any:
    """1-D arrays as columns of a 2-D array."""
    parts = [F.reshape(p, (-1, 1)) if p.ndim < 2 else p for p in _parts(tup)]
    return F.concatenate(parts, 1)


# ------------------------------------------------------------------ splitting
def _split_at(x: Any, points: list[int], axis: int) -> list:
    bounds = [0, *points, x.shape[axis]]
    return [F.getitem(x, _along(axis, slice(s, e))) for s, e in zip(bounds[:-1], bounds[1:])]


@binding(np.array_split)
def array_split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list:
    """Pieces along ``axis``: N nearly equal ones, or cut at the given indices."""
    x = array_arg(ary)
    axis = normalize_axis(axis, x.ndim, "array_split")
    n = x.shape[axis]
    if isinstance(indices_or_sections, int | np.integer):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError("array_split: the number of sections must be larger than 0")
        each, extra = divmod(n, sections)
        sizes = [each + 1] * extra + [each] * (sections - extra)
        points = list(np.cumsum(sizes)[:-1])
    else:
        points = [int(i) for i in indices_or_sections]
    return _split_at(x, points, axis)


@binding(np.split)
def split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list:
    """Pieces along ``axis``: N equal ones (N must divide the length), or cut at indices."""
    x = array_arg(ary)
    if isinstance(indices_or_sections, int | np.integer):
        n = x.shape[normalize_axis(axis, x.ndim, "split")]
        if int(indices_or_sections) <= 0 or n % int(indices_or_sections):
            raise ValueError("split: array split does not result in an equal division")
    return array_split.impl(x, indices_or_sections, axis)


@binding(np.hsplit)
def hsplit(ary: Any, indices_or_sections: Any) -> list:
    """``split`` along axis 1 (axis 0 for a 1-d array)."""
    x = array_arg(ary)
    return split.impl(x, indices_or_sections, 1 if x.ndim > 1 else 0)


@binding(np.vsplit)
def vsplit(ary: Any, indices_or_sections: Any) -> list:
    """``split`` along axis 0."""
    return split.impl(array_arg(ary), indices_or_sections, 0)


# ------------------------------------------------------------- rearranging
@binding(np.tile)
def tile(A: Any, reps: Any) -> Any:  # noqa: N803 - NumPy's name
    """``A`` repeated as whole blocks, ``reps`` times along each axis."""
    x = array_arg(A)
    reps = (int(reps),) if isinstance(reps, int | np.integer) else tuple(int(r) for r in reps)
    d = max(x.ndim, len(reps))
    shape = (1,) * (d - x.ndim) + tuple(x.shape)
    reps = (1,) * (d - len(reps)) + reps
    # (1, s0, 1, s1, ...) broadcast to (r0, s0, r1, s1, ...), then merged pairwise.
    spread = F.reshape(x, tuple(v for s in shape for v in (1, s)))
    tiled = F.broadcast_to(spread, tuple(v for r, s in zip(reps, shape) for v in (r, s)))
    return F.reshape(tiled, tuple(r * s for r, s in zip(reps, shape)))


@binding(np.repeat)
def repeat(a: Any, repeats: Any, axis: Any = None) -> Any:
    """Each element repeated ``repeats`` times (an int, or one count per element)."""
    x = array_arg(a)
    if axis is None:
        x, axis = _flat(x), 0
    axis = normalize_axis(int(axis), x.ndim, "repeat")
    index = np.repeat(np.arange(x.shape[axis]), data(repeats))
    return F.getitem(x, _along(axis, index))


@binding(np.flip)
def flip(m: Any, axis: Any = None) -> Any:
    """Elements in reversed order along ``axis`` (default: all axes)."""
    x = array_arg(m)
    if axis is None:
        axes = set(range(x.ndim))
    else:
        axes_ = (axis,) if isinstance(axis, int | np.integer) else axis
        axes = {normalize_axis(int(a), x.ndim, "flip") for a in axes_}
    rev = slice(None, None, -1)
    return F.getitem(x, tuple(rev if d in axes else slice(None) for d in range(x.ndim)))


@binding(np.fliplr)
def fliplr(m: Any) -> Any:
    """Columns in reversed order (``flip`` along axis 1)."""
    return flip.impl(m, 1)


@binding(np.flipud)
def flipud(m: Any) -> Any:
    """Rows in reversed order (``flip`` along axis 0)."""
    return flip.impl(m, 0)


@binding(np.roll)
def roll(a: Any, shift: Any, axis: Any = None) -> Any:
    """Elements shifted cyclically by ``shift`` along ``axis`` (default: flattened)."""
    x = array_arg(a)
    if axis is None:
        return F.reshape(roll.impl(_flat(x), shift, 0), x.shape)
    shifts = np.atleast_1d(shift)
    axes = np.atleast_1d(axis)
    shifts, axes = np.broadcast_arrays(shifts, axes)
    total: dict[int, int] = {}
    for s, ax in zip(shifts.tolist(), axes.tolist()):
        ax = normalize_axis(int(ax), x.ndim, "roll")
        total[ax] = total.get(ax, 0) + int(s)
    for ax, s in total.items():
        n = x.shape[ax]
        if n and s % n:
            x = F.getitem(x, _along(ax, (np.arange(n) - s) % n))
    return x


@binding(np.pad)
def pad(array: Any, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Any:
    """``array`` padded: mode 'constant' (``constant_values``, differentiable in the
    array and in a scalar constant), or 'edge', 'reflect', 'symmetric', 'wrap'."""
    x = array_arg(array)
    widths = np.broadcast_to(np.asarray(data(pad_width), dtype=np.intp), (x.ndim, 2))
    if mode == "constant":
        values = kwargs.pop("constant_values", 0)
        if kwargs:
            raise TypeError(f"pad: unsupported arguments {sorted(kwargs)} for mode='constant'")
        out_shape = tuple(int(s + b + e) for s, (b, e) in zip(x.shape, widths))
        inside = tuple(slice(int(b), int(b + s)) for s, (b, _) in zip(x.shape, widths))
        placed = apply(_ix.scatter_add, (x,), {"index": inside, "shape": out_shape})
        if isinstance(values, Tensor):
            if values.ndim:
                raise NotImplementedError("pad: a Tensor constant_values must be a scalar")
            border = np.pad(np.zeros(x.shape, dtype=bool), widths, constant_values=True)
            return placed + F.where(border, values, 0)
        if np.all(np.asarray(values) == 0):
            return placed
        border = np.pad(np.zeros(x.shape, dtype=x.dtype), widths, constant_values=values)
        return placed + border
    if mode in ("edge", "reflect", "symmetric", "wrap"):
        # These modes only copy elements: pad the element indices, then gather.
        positions = np.arange(x.size).reshape(x.shape)
        return F.getitem(_flat(x), np.pad(positions, widths, mode=mode, **kwargs))
    raise NotImplementedError(
        f"pad on a Tensor: mode {mode!r} is not supported "
        "(use 'constant', 'edge', 'reflect', 'symmetric' or 'wrap')"
    )


# ------------------------------------------------------------------ indexing
@binding(np.take)
def take(a: Any, indices: Any, axis: Any = None, out: Any = None, mode: str = "raise") -> Any:
    """Elements at ``indices`` along ``axis`` (default: of the flattened array)."""
    no_out("take", out)
    x = array_arg(a)
    if axis is None:
        x, axis = _flat(x), 0
    axis = normalize_axis(int(axis), x.ndim, "take")
    index = np.asarray(data(indices))
    n = x.shape[axis]
    if mode == "wrap":
        index = index % n
    elif mode == "clip":
        index = np.clip(index, 0, n - 1)
    return F.getitem(x, _along(axis, index))


@binding(np.take_along_axis)
def take_along_axis(arr: Any, indices: Any, axis: Any = -1, **kwargs: Any) -> Any:
    """arr[..., indices[i, j], ...] along ``axis``, as returned by argsort/argmax."""
    x = array_arg(arr)
    # An index that differs per example (inside cr.vmap) stays a batched tensor.
    index = indices if getattr(indices, "_batched", False) else np.asarray(data(indices))
    if axis is None:
        x, axis = _flat(x), 0
    nd = x.ndim
    axis = normalize_axis(int(axis), nd, "take_along_axis")
    if index.ndim != nd:
        raise ValueError("take_along_axis: indices and arr must have the same number of axes")
    full = []
    for d in range(nd):
        if d == axis:
            full.append(index)
        else:
            shape = [1] * nd
            shape[d] = x.shape[d]
            full.append(np.arange(x.shape[d]).reshape(shape))
    return F.getitem(x, tuple(full))


@binding(np.sort)
def sort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, **kwargs: Any) -> Any:
    """Sorted values; each carries the gradient of the element it came from."""
    x = array_arg(a)
    if axis is None:
        x, axis = _flat(x), 0
    index = facts(x, lambda v, ax: np.argsort(v, axis=ax, kind="stable"), axis)
    return take_along_axis.impl(x, index, axis)


@binding(np.diff)
def diff(a: Any, n: int = 1, axis: int = -1, **kwargs: Any) -> Any:
    """Differences of neighbours along ``axis``, ``n`` times."""
    if kwargs:
        raise NotImplementedError("diff on a Tensor: prepend= and append= are not supported")
    x = array_arg(a)
    axis = normalize_axis(axis, x.ndim, "diff")
    for _ in range(n):
        x = F.getitem(x, _along(axis, slice(1, None))) - F.getitem(x, _along(axis, slice(None, -1)))
    return x


@binding(np.append)
def append(arr: Any, values: Any, axis: Any = None) -> Any:
    """``values`` added at the end of ``arr`` (flattened when ``axis`` is None)."""
    x, v = array_arg(arr), array_arg(values)
    if axis is None:
        return F.concatenate([_flat(x), _flat(v)], 0)
    return F.concatenate([x, v], int(axis))
