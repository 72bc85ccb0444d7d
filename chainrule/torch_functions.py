"""PyTorch's spellings of chainrule's functions: ``dim=``/``keepdim=``, named tuples.

So that ``import chainrule as torch`` runs common PyTorch code. Every function here
forwards to an existing implementation (:mod:`chainrule.functions`,
:mod:`chainrule.numpy`, the indexing primitives): no derivative rule is new.

Where NumPy and PyTorch spell one thing two ways, both are accepted: ``axis=``/
``keepdims=`` keep NumPy's meaning, ``dim=``/``keepdim=`` and positional arguments
PyTorch's. The few places where the two disagree on a meaning are listed in the
README ("PyTorch's methods and functions").
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from chainrule import functions as F
from chainrule.numpy import _linear as _npl
from chainrule.numpy import _reductions as _npr
from chainrule.numpy import _shape as _nps
from chainrule.numpy import _ufuncs as _npu
from chainrule.numpy import linalg as _nla
from chainrule.numpy._core import array_arg
from chainrule.ops import indexing as _ix
from chainrule.tensor import Tensor, _wrap, apply

_NO: Any = np._NoValue  # "not given": None is a meaningful dim (all of them)
Dim = int | Sequence[int] | None


class ValuesIndices(NamedTuple):
    """``(values, indices)``, as ``torch.return_types.max`` and its kin."""

    values: Tensor
    indices: Tensor


# One type per function, as torch.return_types has: the repr says which made it.
class MaxResult(ValuesIndices):
    __slots__ = ()


class MinResult(ValuesIndices):
    __slots__ = ()


class SortResult(ValuesIndices):
    __slots__ = ()


class TopkResult(ValuesIndices):
    __slots__ = ()


# ------------------------------------------------------------------ dims
def check_dim(name: str, dim: Any, shape: tuple[int, ...], extra: int = 0) -> int:
    """``dim`` as an index in [0, ndim + extra); a 0-d tensor has one dim (0 or -1),
    as in PyTorch. Out of range: an IndexError naming the function and the shape."""
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise TypeError(f"{name}(): dim must be an int, not {type(dim).__name__}")
    n = builtins.max(len(shape) + extra, 1)
    if not -n <= dim < n:
        # AxisError is an IndexError and a ValueError: NumPy's and PyTorch's callers
        # catch what they expect.
        raise np.exceptions.AxisError(
            f"{name}(): dim {int(dim)} is out of range for a tensor of shape {tuple(shape)} "
            f"(expected a dim in [{-n}, {n - 1}])"
        )
    return int(dim) % n


def check_dims(name: str, dim: Dim, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """None (all dims), or an int or sequence of ints as a tuple of distinct dims."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int | np.integer) else tuple(dim)
    out = tuple(check_dim(name, d, shape) for d in dims)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}(): dim {dim} names a dim more than once")
    return out


def _spelled(name: str, dim: Any, axis: Any, keepdim: Any, keepdims: Any) -> tuple[Any, bool]:
    """dim or NumPy's axis (not both); keepdim or NumPy's keepdims."""
    if axis is not _NO and axis is not None:
        if dim is not None:
            raise TypeError(f"{name}(): give dim or axis, not both")
        dim = axis
    return dim, bool(keepdim) or (keepdims is not _NO and bool(keepdims))


def _reduce(name: str, fn: Any, input: Any, dim: Dim, keepdim: bool) -> Tensor:
    """``fn(x, dims, keepdim)`` over checked dims. PyTorch lets dim 0 (or -1) name a
    0-d tensor's one element, NumPy does not: such a tensor is reduced as shape (1,)."""
    x = array_arg(input)
    dims = check_dims(name, dim, x.shape)
    if x.ndim == 0 and dims is not None:
        return F.reshape(fn(F.reshape(x, (1,)), (0,), keepdim), ())
    return fn(x, dims, keepdim)


def _along(dim: int, index: Any) -> tuple:
    return (slice(None),) * dim + (index,)


# ------------------------------------------------------------------ reductions
def sum(  # noqa: A001 - PyTorch's name
    input: Any,
    axis: Dim = None,
    keepdims: bool = False,
    *,
    dim: Dim = None,
    keepdim: bool | None = None,
    dtype: Any = None,
) -> Tensor:
    """Sum over ``dim`` (int, tuple, or None for all); ``cr.sum(x, 0, True)`` reads
    the same in both spellings."""
    dim, keep = _spelled("sum", dim, axis, keepdim, keepdims)
    x = array_arg(input) if dtype is None else F.astype(input, dtype)
    return _reduce("sum", F.sum, x, dim, keep)


def mean(
    input: Any,
    axis: Dim = None,
    keepdims: bool = False,
    *,
    dim: Dim = None,
    keepdim: bool | None = None,
    dtype: Any = None,
) -> Tensor:
    """Arithmetic mean over ``dim`` (int, tuple, or None for all)."""
    dim, keep = _spelled("mean", dim, axis, keepdim, keepdims)
    x = array_arg(input) if dtype is None else F.astype(input, dtype)
    return _reduce("mean", F.mean, x, dim, keep)


def prod(
    input: Any,
    axis: Dim = None,
    keepdims: bool = False,
    *,
    dim: Dim = None,
    keepdim: bool | None = None,
    dtype: Any = None,
) -> Tensor:
    """Product over ``dim``; the gradient is right at zeros too."""
    dim, keep = _spelled("prod", dim, axis, keepdim, keepdims)
    x = array_arg(input) if dtype is None else F.astype(input, dtype)
    return _reduce("prod", F.prod, x, dim, keep)


def _values_indices(
    name: str, input: Any, dim: Any, keepdim: bool, arg: Any, result: type
) -> ValuesIndices:
    """The values picked by ``arg`` (np.argmax...) along ``dim`` and their indices.
    The values are taken at the indices, so each gets the gradient of the one
    element it came from (ties are not shared: PyTorch's rule for max(dim))."""
    x = array_arg(input)
    d = check_dim(name, dim, x.shape)
    lifted = x.ndim == 0
    if lifted:
        x = F.reshape(x, (1,))
    index = arg(x.data if isinstance(x, Tensor) else x, axis=d, keepdims=True)
    values = _nps.take_along_axis.impl(x, index, d)
    if lifted:
        return result(F.reshape(values, ()), _wrap(index.reshape(()), None))
    if not keepdim:
        values, index = F.squeeze(values, d), index.squeeze(d)
    return result(values, _wrap(index, None))


def _extremum(name: str, reduce: Any, pairwise: Any, arg: Any, result: type) -> Any:
    def fn(
        input: Any,
        dim: Any = None,
        keepdim: bool = False,
        *,
        axis: Any = _NO,
        keepdims: Any = _NO,
        out: Any = None,
    ) -> Any:
        if isinstance(dim, Tensor | np.ndarray | list):
            return pairwise(input, dim)  # torch.max(a, b): the elementwise maximum
        if axis is not _NO or keepdims is not _NO or not isinstance(dim, int | np.integer):
            # NumPy's axis= or all dims (or a tuple): the value; tied elements share
            # the gradient evenly.
            d, keep = _spelled(name, dim, axis, keepdim, keepdims)
            return _reduce(name, reduce, input, d, keep)
        return _values_indices(name, input, dim, keepdim, arg, result)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"``{name}(x)``: the {name} element; ``{name}(x, dim)``: ({name} values, indices) "
        f"along dim, a named tuple; ``{name}(x, other)``: the elementwise {name}imum; "
        f"``{name}(x, axis=...)``: NumPy's (a value)."
    )
    return fn


max = _extremum("max", F.max, F.maximum, np.argmax, MaxResult)  # noqa: A001
min = _extremum("min", F.min, F.minimum, np.argmin, MinResult)  # noqa: A001


def _arg_extremum(name: str, np_arg: Any) -> Any:
    def fn(
        input: Any,
        dim: Any = None,
        keepdim: bool = False,
        *,
        axis: Any = _NO,
        keepdims: Any = _NO,
        out: Any = None,
    ) -> Tensor:
        dim, keep = _spelled(name, dim, axis, keepdim, keepdims)
        x = array_arg(input)
        values = x.data if isinstance(x, Tensor) else x
        if dim is None:
            return _wrap(np.asarray(np_arg(values, keepdims=keep)), None)
        d = check_dim(name, dim, x.shape)
        if x.ndim == 0:
            return _wrap(np.zeros((), np.int64), None)
        return _wrap(np.asarray(np_arg(values, axis=d, keepdims=keep)), None)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Index of the {name[3:]} along ``dim`` (flattened if None); no gradient."
    return fn


argmax = _arg_extremum("argmax", np.argmax)
argmin = _arg_extremum("argmin", np.argmin)


def _moments(name: str, numpy_impl: Any) -> Any:
    def fn(
        input: Any,
        dim: Any = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: Any = None,
        axis: Any = _NO,
        ddof: Any = _NO,
        keepdims: Any = _NO,
        dtype: Any = None,
        out: Any = None,
        **numpy_kw: Any,
    ) -> Tensor:
        if axis is not _NO or ddof is not _NO or keepdims is not _NO or numpy_kw:
            # NumPy's spelling, NumPy's meaning: divide by N - ddof (ddof 0 unless given).
            return numpy_impl(
                input,
                None if axis is _NO else axis,
                dtype,
                out,
                0 if ddof is _NO else ddof,
                False if keepdims is _NO else keepdims,
                **numpy_kw,
            )
        if isinstance(dim, bool):  # torch.std(x, unbiased)
            dim, unbiased = None, dim
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        x = array_arg(input) if dtype is None else F.astype(input, dtype)
        return _reduce(
            name,
            lambda v, dims, keep: numpy_impl(v, dims, ddof=correction, keepdims=keep),
            x,
            dim,
            bool(keepdim),
        )

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"PyTorch's {name}: over ``dim``, divided by N - correction (1 unless "
        f"``correction=`` or ``unbiased=False``). With ``axis=`` or ``ddof=``, NumPy's: "
        "divided by N - ddof (0 unless given)."
    )
    return fn


var = _moments("var", _npr.var.impl)
std = _moments("std", _npr.std.impl)


def cumsum(input: Any, dim: Any = None, *, axis: Any = None, dtype: Any = None) -> Tensor:
    """Running sum along ``dim`` (NumPy's ``axis=None``: of the flattened tensor)."""
    dim, _ = _spelled("cumsum", dim, axis, False, None)
    x = array_arg(input) if dtype is None else F.astype(input, dtype)
    if dim is None:
        return _npr.cumsum.impl(x)
    return _reduce("cumsum", lambda v, dims, _: _npr.cumsum.impl(v, dims[0]), x, int(dim), False)


def _softmax(name: str, core: Any) -> Any:
    def fn(input: Any, dim: Any = None, dtype: Any = None, *, axis: Any = _NO) -> Tensor:
        x = array_arg(input) if dtype is None else F.astype(input, dtype)
        if axis is not _NO:  # NumPy's spelling: axis=None is all elements at once
            if dim is not None:
                raise TypeError(f"{name}(): give dim or axis, not both")
            dim = tuple(range(x.ndim)) if axis is None else axis
        return _reduce(name, lambda v, ds, _: core(v, ds), x, -1 if dim is None else dim, False)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = core.__doc__.replace("axis", "dim")
    return fn


softmax = _softmax("softmax", F.softmax)
log_softmax = _softmax("log_softmax", F.log_softmax)


def norm(
    input: Any, p: Any = "fro", dim: Dim = None, keepdim: bool = False, dtype: Any = None
) -> Tensor:
    """PyTorch's norm: a number ``p`` (2, 1, inf, -inf, 0, any float) is the vector
    norm over ``dim`` (all elements if None, several dims taken as one vector);
    'fro' is p = 2; 'nuc' the nuclear norm of the matrices in two dims. Gradient 0 at 0."""
    x = array_arg(input) if dtype is None else F.astype(input, dtype)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"norm(): expected a floating-point tensor, got dtype {x.dtype}")
    if p == "nuc":
        dims = check_dims("norm", (-2, -1) if dim is None else dim, x.shape)
        return _nla.norm.impl(x, "nuc", dims, keepdim)
    if isinstance(p, str) and p != "fro":
        raise ValueError(f"norm(): unknown p {p!r} (expected a number, 'fro' or 'nuc')")
    order = 2.0 if p in ("fro", None) else float(p)

    def vector(v: Any, dims: Any, keep: bool) -> Any:
        if dims is None:
            flat = F.reshape(v, (-1,))
            result = _nla._vector_norm(flat, order, 0, False)
            return F.reshape(result, (1,) * v.ndim) if keep else result
        return _nla._vector_norm(v, order, dims, keep)

    return _reduce("norm", vector, x, dim, bool(keepdim))


def _logical(name: str, np_fn: Any) -> Any:
    def fn(
        input: Any,
        dim: Dim = None,
        keepdim: bool = False,
        *,
        axis: Any = _NO,
        keepdims: Any = _NO,
        out: Any = None,
    ) -> Tensor:
        dim, keep = _spelled(name, dim, axis, keepdim, keepdims)
        x = array_arg(input)
        values = np.asarray(x.data if isinstance(x, Tensor) else x)
        dims = check_dims(name, dim, values.shape)
        if values.ndim == 0 and dims is not None:
            dims = None  # a 0-d tensor's one element (see _reduce)
        return _wrap(np.asarray(np_fn(values, dims, keepdims=keep)), None)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Whether {name} elements are true, over ``dim``; a bool tensor, no gradient."
    return fn


all = _logical("all", np.all)  # noqa: A001
any = _logical("any", np.any)  # noqa: A001


# ------------------------------------------------------------ sorting, top k
def _ordered(
    name: str, input: Any, dim: Any, descending: bool, k: int | None, result: type
) -> ValuesIndices:
    x = array_arg(input)
    d = check_dim(name, dim, x.shape)
    lifted = x.ndim == 0
    if lifted:
        x = F.reshape(x, (1,))
    n = x.shape[d]
    if k is not None and not 0 <= k <= n:
        raise ValueError(
            f"{name}(): k = {k} is out of range for dim {dim} of a tensor of shape "
            f"{tuple(x.shape)} (expected 0 <= k <= {n})"
        )
    values = x.data if isinstance(x, Tensor) else x
    # Stable, so ties keep their order; descending sorts -x, keeping ties in order too.
    index = np.argsort(-values if descending else values, axis=d, kind="stable")
    if k is not None:
        index = index[_along(d, slice(0, k))]
    picked = _nps.take_along_axis.impl(x, index, d)
    if lifted:
        return result(F.reshape(picked, ()), _wrap(index.reshape(()), None))
    return result(picked, _wrap(index, None))


def sort(input: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """(sorted values, their indices) along ``dim``, a named tuple; each value carries
    the gradient of the element it came from. Always stable."""
    return _ordered("sort", input, dim, descending, None, SortResult)


def topk(
    input: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True
) -> TopkResult:
    """(the k largest (or smallest) values, their indices) along ``dim``, sorted."""
    return _ordered("topk", input, dim, largest, int(k), TopkResult)


# ---------------------------------------------------------------------- shape
def _tensors(name: str, tensors: Any) -> list:
    if isinstance(tensors, Tensor) or not len(tensors):
        raise TypeError(f"{name}(): expected a non-empty list or tuple of tensors")
    return [array_arg(t) for t in tensors]


def cat(tensors: Sequence[Any], dim: int = 0, *, axis: Any = None) -> Tensor:
    """Join tensors along an existing ``dim``."""
    parts = _tensors("cat", tensors)
    dim, _ = _spelled("cat", dim if axis is None else None, axis, False, None)
    return F.concatenate(parts, check_dim("cat", dim, parts[0].shape))


concat = cat


def stack(tensors: Sequence[Any], dim: int = 0, *, axis: Any = None) -> Tensor:
    """Join tensors of one shape along a new ``dim`` (0 to ndim, negative allowed)."""
    parts = _tensors("stack", tensors)
    dim, _ = _spelled("stack", dim if axis is None else None, axis, False, None)
    return F.stack(parts, check_dim("stack", dim, parts[0].shape, extra=1))


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Dims ``start_dim`` .. ``end_dim`` merged into one (a 0-d tensor becomes 1-d)."""
    x = array_arg(input)
    start = check_dim("flatten", start_dim, x.shape)
    end = check_dim("flatten", end_dim, x.shape)
    if start > end:
        raise ValueError(f"flatten(): start_dim {start_dim} comes after end_dim {end_dim}")
    if x.ndim == 0:
        return F.reshape(x, (1,))
    return F.reshape(x, x.shape[:start] + (-1,) + x.shape[end + 1 :])


def unsqueeze(input: Any, dim: int) -> Tensor:
    """A dim of length 1 inserted at ``dim`` (in [-ndim - 1, ndim])."""
    x = array_arg(input)
    return F.expand_dims(x, check_dim("unsqueeze", dim, x.shape, extra=1))


def squeeze(input: Any, dim: Dim = None, *, axis: Any = _NO) -> Tensor:
    """Dims of length 1 removed: all, or those of ``dim`` that have length 1 (PyTorch:
    naming a longer dim is no error). NumPy's ``axis=`` refuses a longer one."""
    if axis is not _NO:
        return F.squeeze(input, axis)
    x = array_arg(input)
    dims = check_dims("squeeze", dim, x.shape)
    if dims is None or x.ndim == 0:
        return F.squeeze(x)
    ones = tuple(d for d in dims if x.shape[d] == 1)
    return F.squeeze(x, ones) if ones else x


def permute(input: Any, *dims: Any) -> Tensor:
    """The dims reordered: ``permute(x, (2, 0, 1))`` or, as a method, ``x.permute(2, 0, 1)``."""
    x = array_arg(input)
    if len(dims) == 1 and not isinstance(dims[0], int | np.integer):
        dims = tuple(dims[0])
    order = check_dims("permute", dims, x.shape) or ()
    if len(order) != x.ndim:
        raise ValueError(
            f"permute(): dims {tuple(dims)} do not match a tensor of shape {tuple(x.shape)} "
            f"(expected a permutation of {x.ndim} dims)"
        )
    return F.transpose(x, order)


def transpose(input: Any, *dims: Any, axes: Any = None) -> Tensor:
    """``transpose(x, d0, d1)``: PyTorch's, those two dims swapped. ``transpose(x)``,
    ``transpose(x, (perm))`` or ``axes=``: NumPy's, the dims reversed or permuted. As
    a method, ``x.transpose(1, 0, 2)`` (a full permutation, ndim != 2) is NumPy's."""
    x = array_arg(input)
    if axes is not None:
        dims = (axes,)
    if len(dims) == 2 and all(isinstance(d, int | np.integer) for d in dims):
        if x.ndim == 0:
            check_dims("transpose", dims, x.shape)
            return F.reshape(x, ())
        d0, d1 = (check_dim("transpose", d, x.shape) for d in dims)
        return F.swapaxes(x, d0, d1)
    if not dims or dims == (None,):
        return F.transpose(x)
    return permute(x, *dims)


def _pieces(name: str, x: Any, d: int, sizes: list[int]) -> tuple:
    starts = np.cumsum([0, *sizes])
    return tuple(F.getitem(x, _along(d, slice(int(a), int(b)))) for a, b in zip(starts, starts[1:]))


def split(tensor: Any, split_size_or_sections: Any, dim: int = 0) -> tuple:
    """Pieces along ``dim``: each of ``split_size`` (the last may be shorter), or of
    the listed sizes (which must add up to the dim's length)."""
    x = array_arg(tensor)
    d = check_dim("split", dim, x.shape)
    n = x.shape[d]
    if isinstance(split_size_or_sections, int | np.integer):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split(): split_size must be positive, got {size}")
        sizes = [builtins.min(size, n - i) for i in range(0, n, size)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise ValueError(
                f"split(): sizes {sizes} add up to {builtins.sum(sizes)}, but dim {dim} of a "
                f"tensor of shape {tuple(x.shape)} has length {n}"
            )
    return _pieces("split", x, d, sizes)


def chunk(input: Any, chunks: int, dim: int = 0) -> tuple:
    """At most ``chunks`` pieces of equal length ceil(n / chunks) along ``dim``."""
    if chunks <= 0:
        raise ValueError(f"chunk(): chunks must be positive, got {chunks}")
    x = array_arg(input)
    n = x.shape[check_dim("chunk", dim, x.shape)]
    return split(x, builtins.max(math.ceil(n / chunks), 1), dim)


def unbind(input: Any, dim: int = 0) -> tuple:
    """The slices along ``dim``, that dim removed."""
    x = array_arg(input)
    if x.ndim == 0:
        raise IndexError("unbind(): a 0-d tensor has no dim to unbind")
    d = check_dim("unbind", dim, x.shape)
    return tuple(F.getitem(x, _along(d, i)) for i in range(x.shape[d]))


# ------------------------------------------------------------------- indexing
def _index(name: str, index: Any) -> np.ndarray:
    idx = np.asarray(index.data if isinstance(index, Tensor) else index)
    if idx.size == 0:
        idx = idx.astype(np.int64)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"{name}(): index must be an integer tensor, not {idx.dtype}")
    return idx


def _in_bounds(name: str, idx: np.ndarray, n: int, dim: int, shape: tuple) -> None:
    # NumPy would wrap a negative index around; PyTorch refuses it, and so do we.
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx.min() if idx.min() < 0 else idx.max())
        raise IndexError(
            f"{name}(): index {bad} is out of bounds for dim {dim} with length {n} "
            f"(tensor of shape {tuple(shape)})"
        )


def _full_index(name: str, idx: np.ndarray, d: int, shape: tuple, limits: list[tuple]) -> tuple:
    """The integer-array index picking ``idx[i, j, ...]`` along dim ``d`` and i, j, ...
    along the others (as gather and scatter_add read ``index``)."""
    if idx.ndim != len(shape):
        raise ValueError(
            f"{name}(): index has {idx.ndim} dims, the tensor of shape {tuple(shape)} has "
            f"{len(shape)}: they must be equal"
        )
    for what, limit, skip in limits:
        for k, (i, m) in enumerate(zip(idx.shape, limit)):
            if k != skip and i > m:
                raise ValueError(
                    f"{name}(): index of shape {idx.shape} is larger than {what} of shape "
                    f"{tuple(limit)} in dim {k}"
                )
    _in_bounds(name, idx, shape[d], d, shape)
    grid = list(np.ogrid[tuple(slice(0, n) for n in idx.shape)])
    grid[d] = idx
    return tuple(grid)


def gather(input: Any, dim: int, index: Any) -> Tensor:
    """``out[i][j] = input[index[i][j]][j]`` (dim 0), as PyTorch's gather; an element
    picked twice gets both gradients."""
    x = array_arg(input)
    idx = _index("gather", index)
    if x.ndim == 0:
        x = F.reshape(x, (1,) * builtins.max(idx.ndim, 1))
    d = check_dim("gather", dim, x.shape)
    full = _full_index("gather", idx, d, x.shape, [("the input", x.shape, d)])
    return F.getitem(x, full)


def scatter_add(input: Any, dim: int, index: Any, src: Any) -> Tensor:
    """``input`` with ``src[i][j]`` added at ``[index[i][j]][j]`` (dim 0); repeated
    indices add up. The gradient of src is the output's gradient gathered back."""
    x, s = array_arg(input), array_arg(src)
    idx = _index("scatter_add", index)
    d = check_dim("scatter_add", dim, x.shape)
    limits = [("src", s.shape, -1), ("the input", x.shape, d)]
    full = _full_index("scatter_add", idx, d, x.shape, limits)
    if tuple(s.shape) != idx.shape:
        s = F.getitem(s, tuple(slice(0, n) for n in idx.shape))
    return x + apply(_ix.scatter_add, (s,), {"index": full, "shape": tuple(x.shape)})


def index_select(input: Any, dim: int, index: Any) -> Tensor:
    """The slices at ``index`` (a 1-D integer tensor) along ``dim``."""
    x = array_arg(input)
    idx = _index("index_select", index).reshape(-1)
    d = check_dim("index_select", dim, x.shape)
    if x.ndim == 0:
        _in_bounds("index_select", idx, 1, d, x.shape)
        return F.reshape(x, ())
    _in_bounds("index_select", idx, x.shape[d], d, x.shape)
    return F.getitem(x, _along(d, idx))


def masked_fill(input: Any, mask: Any, value: Any) -> Tensor:
    """``input`` with ``value`` where ``mask`` is true; a 0-d tensor ``value`` gets the
    gradient of the places it fills."""
    x = array_arg(input)
    m = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill(): mask must be a bool tensor, not {m.dtype}")
    if np.broadcast_shapes(m.shape, x.shape) != tuple(x.shape):
        raise ValueError(
            f"masked_fill(): a mask of shape {m.shape} does not broadcast to the tensor's "
            f"shape {tuple(x.shape)}"
        )
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(
            f"masked_fill(): value must be a number or a 0-d tensor, not {value.shape}"
        )
    out = F.where(m, value, x)
    return out if out.dtype == x.dtype else F.astype(out, x.dtype)


def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """``input`` where ``condition`` holds, else ``other`` (tensors or numbers); the
    gradient flows to both. ``where(condition)`` alone: the indices of true elements."""
    if input is None and other is None:
        c = np.asarray(condition.data if isinstance(condition, Tensor) else condition)
        return tuple(_wrap(i, None) for i in np.nonzero(c))
    return F.where(condition, input, other)


# ------------------------------------------------------------- linear algebra
def _ndim(name: str, x: Any, nd: int, what: str) -> None:
    if x.ndim != nd:
        raise ValueError(f"{name}(): {what} must be {nd}-D, got shape {tuple(x.shape)}")


def mm(input: Any, mat2: Any) -> Tensor:
    """The product of two matrices."""
    a, b = array_arg(input), array_arg(mat2)
    _ndim("mm", a, 2, "input")
    _ndim("mm", b, 2, "mat2")
    return F.matmul(a, b)


def bmm(input: Any, mat2: Any) -> Tensor:
    """Products of two batches of matrices, (b, n, m) @ (b, m, p)."""
    a, b = array_arg(input), array_arg(mat2)
    _ndim("bmm", a, 3, "input")
    _ndim("bmm", b, 3, "mat2")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"bmm(): batch sizes differ: {tuple(a.shape)} and {tuple(b.shape)}")
    return F.matmul(a, b)


def dot(input: Any, other: Any) -> Tensor:
    """The dot product of two 1-D tensors (PyTorch's; NumPy's is ``cr.numpy.dot``)."""
    a, b = array_arg(input), array_arg(other)
    _ndim("dot", a, 1, "input")
    _ndim("dot", b, 1, "other")
    return F.matmul(a, b)


def outer(input: Any, vec2: Any) -> Tensor:
    """The outer product of two vectors."""
    return _npl.outer.impl(input, vec2)


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation: ``einsum("ij,jk->ik", a, b)`` or ``einsum(eq, [a, b])``."""
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    return _npl.einsum.impl(equation, *operands)


def addmm(input: Any, mat1: Any, mat2: Any, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2)."""
    product = mm(mat1, mat2)
    return (input if beta == 1 else beta * array_arg(input)) + (
        product if alpha == 1 else alpha * product
    )


def tril(input: Any, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims, from ``diagonal`` down."""
    _ndim_at_least("tril", input)
    return _npl.tril.impl(input, diagonal)


def triu(input: Any, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims, from ``diagonal`` up."""
    _ndim_at_least("triu", input)
    return _npl.triu.impl(input, diagonal)


def _ndim_at_least(name: str, x: Any) -> None:
    if array_arg(x).ndim < 2:
        raise ValueError(f"{name}(): input must have at least 2 dims, got shape {np.shape(x)}")


# ------------------------------------------------------------------ elementwise
def clamp(input: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """``input`` limited to [min, max] (either may be None)."""
    if min is None and max is None:
        raise ValueError("clamp(): give min, max or both")
    return F.clip(input, min, max)


def pow(input: Any, exponent: Any) -> Tensor:  # noqa: A001
    """input ** exponent, broadcasting; differentiable in both."""
    return F.power(input, exponent)


def lerp(input: Any, end: Any, weight: Any) -> Tensor:
    """input + weight * (end - input)."""
    return input + weight * (array_arg(end) - input)


def round(input: Any, decimals: int = 0) -> Tensor:  # noqa: A001
    """Rounded to ``decimals`` places, halves to even; gradient 0."""
    return _npu.round.impl(input, decimals)


square, sign, floor, ceil = _npu.square, _npu.sign, _npu.floor, _npu.ceil
isnan, isinf, isfinite = _npu.isnan, _npu.isinf, _npu.isfinite


def isclose(
    input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Tensor:
    """|input - other| <= atol + rtol |other|, elementwise; a bool tensor."""
    a, b = (np.asarray(v.data if isinstance(v, Tensor) else v) for v in (input, other))
    return _wrap(np.asarray(np.isclose(a, b, rtol, atol, equal_nan)), None)


def allclose(
    input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    """Whether ``isclose`` holds for every element."""
    return bool(np.all(isclose(input, other, rtol, atol, equal_nan).data))


def numel(input: Any) -> int:
    """The number of elements."""
    return int(np.size(input.data if isinstance(input, Tensor) else input))


def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a chainrule Tensor."""
    return isinstance(obj, Tensor)
