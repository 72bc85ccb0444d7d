"""PyTorch's shape and indexing functions: ``cat``, ``split``, ``gather``, ``scatter_add``...

Compositions of the shape primitives and of indexing (``getitem``, whose adjoint is
``scatter_add``): no derivative rule is new. Re-exported by
:mod:`chainrule.torch_functions`, and so by ``chainrule``.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.numpy._core import array_arg
from chainrule.ops import indexing as _ix
from chainrule.tensor import Tensor, _wrap, apply
from chainrule.torch_dims import NOT_GIVEN as _NO
from chainrule.torch_dims import Dim, check_dim, check_dims
from chainrule.torch_dims import along as _along
from chainrule.torch_dims import spelled as _spelled


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
    the listed sizes (which must add up to the dim's length).

    >>> import chainrule as cr
    >>> cr.split(cr.arange(5), 2)
    (tensor([0, 1]), tensor([2, 3]), tensor([4]))
    >>> cr.split(cr.arange(5), [1, 4])
    (tensor([0]), tensor([1, 2, 3, 4]))
    """
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
    """At most ``chunks`` pieces of equal length ceil(n / chunks) along ``dim``.

    >>> import chainrule as cr
    >>> cr.chunk(cr.arange(5), 2)
    (tensor([0, 1, 2]), tensor([3, 4]))
    """
    if chunks <= 0:
        raise ValueError(f"chunk(): chunks must be positive, got {chunks}")
    x = array_arg(input)
    n = x.shape[check_dim("chunk", dim, x.shape)]
    return split(x, builtins.max(math.ceil(n / chunks), 1), dim)


def unbind(input: Any, dim: int = 0) -> tuple:
    """The slices along ``dim``, that dim removed.

    >>> import chainrule as cr
    >>> cr.unbind(cr.tensor([[1.0, 2.0], [3.0, 4.0]]))
    (tensor([1., 2.]), tensor([3., 4.]))
    """
    x = array_arg(input)
    if x.ndim == 0:
        raise IndexError("unbind(): a 0-d tensor has no dim to unbind")
    d = check_dim("unbind", dim, x.shape)
    return tuple(F.getitem(x, _along(d, i)) for i in range(x.shape[d]))


# ------------------------------------------------------------------- indexing
def _index(name: str, index: Any) -> Any:
    if getattr(index, "_batched", False):  # inside cr.vmap: each example's own index
        if index.dtype.kind not in "iu":
            raise TypeError(f"{name}(): index must be an integer tensor, not {index.dtype}")
        return index
    idx = np.asarray(index.data if isinstance(index, Tensor) else index)
    if idx.size == 0:
        idx = idx.astype(np.int64)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"{name}(): index must be an integer tensor, not {idx.dtype}")
    return idx


def _in_bounds(name: str, idx: np.ndarray, n: int, dim: int, shape: tuple) -> None:
    # NumPy would wrap a negative index around; PyTorch refuses it, and so do we.
    if getattr(idx, "_batched", False):
        from chainrule.batching.batched import physical_array

        idx = physical_array(idx)
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
    picked twice gets both gradients.

    >>> import chainrule as cr
    >>> t = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.gather(t, 1, cr.tensor([[1], [0]]))  # out[i][j] = t[i][index[i][j]]
    tensor([[2.],
            [3.]])
    """
    x = array_arg(input)
    idx = _index("gather", index)
    if x.ndim == 0:
        x = F.reshape(x, (1,) * builtins.max(idx.ndim, 1))
    d = check_dim("gather", dim, x.shape)
    full = _full_index("gather", idx, d, x.shape, [("the input", x.shape, d)])
    return F.getitem(x, full)


def scatter_add(input: Any, dim: int, index: Any, src: Any) -> Tensor:
    """``input`` with ``src[i][j]`` added at ``[index[i][j]][j]`` (dim 0); repeated
    indices add up. The gradient of src is the output's gradient gathered back.

    >>> import chainrule as cr
    >>> cr.scatter_add(cr.zeros(3), 0, cr.tensor([0, 2, 0]), cr.tensor([1.0, 2.0, 3.0]))
    tensor([4., 0., 2.])
    """
    x, s = array_arg(input), array_arg(src)
    idx = _index("scatter_add", index)
    d = check_dim("scatter_add", dim, x.shape)
    limits = [("src", s.shape, -1), ("the input", x.shape, d)]
    full = _full_index("scatter_add", idx, d, x.shape, limits)
    if tuple(s.shape) != idx.shape:
        s = F.getitem(s, tuple(slice(0, n) for n in idx.shape))
    return x + apply(_ix.scatter_add, (s,), {"index": full, "shape": tuple(x.shape)})


def index_select(input: Any, dim: int, index: Any) -> Tensor:
    """The slices at ``index`` (a 1-D integer tensor) along ``dim``.

    >>> import chainrule as cr
    >>> cr.index_select(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 0, cr.tensor([1, 1]))
    tensor([[3., 4.],
            [3., 4.]])
    """
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
    gradient of the places it fills.

    >>> import chainrule as cr
    >>> t = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.masked_fill(t, t > 2, 0.0)
    tensor([[1., 2.],
            [0., 0.]])
    """
    x = array_arg(input)
    m = mask if getattr(mask, "_batched", False) else np.asarray(getattr(mask, "data", mask))
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
    gradient flows to both. ``where(condition)`` alone: the indices of true elements.

    >>> import chainrule as cr
    >>> t = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.where(t > 2, t, -t)
    tensor([[-1., -2.],
            [ 3.,  4.]])
    """
    if input is None and other is None:
        c = np.asarray(condition.data if isinstance(condition, Tensor) else condition)
        return tuple(_wrap(i, None) for i in np.nonzero(c))
    return F.where(condition, input, other)
