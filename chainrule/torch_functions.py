"""PyTorch's spellings of chainrule's functions: ``dim=``/``keepdim=``, named tuples.

So that ``import chainrule as torch`` runs common PyTorch code. Every function here
forwards to an existing implementation (:mod:`chainrule.functions`,
:mod:`chainrule.numpy`, the indexing primitives): no derivative rule is new.

Where NumPy and PyTorch spell one thing two ways, both are accepted: ``axis=``/
``keepdims=`` keep NumPy's meaning, ``dim=``/``keepdim=`` and positional arguments
PyTorch's. The few places where the two disagree on a meaning are listed in the
README ("PyTorch's methods and functions"). The shape and indexing functions live
in :mod:`chainrule.torch_shape` and are re-exported here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from chainrule import functions as F
from chainrule.numpy import _linear as _npl
from chainrule.numpy import _reductions as _npr
from chainrule.numpy import _shape as _nps
from chainrule.numpy import _ufuncs as _npu
from chainrule.numpy._core import array_arg, facts
from chainrule.tensor import Tensor, _wrap
from chainrule.torch_dims import NOT_GIVEN as _NO
from chainrule.torch_dims import Dim, check_dim, check_dims
from chainrule.torch_dims import along as _along
from chainrule.torch_dims import spelled as _spelled
from chainrule.torch_shape import (  # noqa: F401  (re-exported: cr.cat, cr.gather...)
    cat,
    chunk,
    concat,
    flatten,
    gather,
    index_select,
    masked_fill,
    permute,
    scatter_add,
    split,
    squeeze,
    stack,
    transpose,
    unbind,
    unsqueeze,
    where,
)


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


def _reduce(name: str, fn: Any, input: Any, dim: Dim, keepdim: bool) -> Tensor:
    """``fn(x, dims, keepdim)`` over checked dims. PyTorch lets dim 0 (or -1) name a
    0-d tensor's one element, NumPy does not: such a tensor is reduced as shape (1,)."""
    x = array_arg(input)
    dims = check_dims(name, dim, x.shape)
    if x.ndim == 0 and dims is not None:
        return F.reshape(fn(F.reshape(x, (1,)), 0, keepdim), ())
    # An int stays an int: the graph (cr.explain) shows axis=1, as the user wrote it.
    return fn(x, dims[0] if isinstance(dim, int | np.integer) else dims, keepdim)


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


def _batched_arg(name: str, np_arg: Any, x: Any, dim: Any, keep: bool) -> Any:
    from chainrule.batching.batched import batch_levels

    if dim is None:  # over each example's flattened values
        k = batch_levels(x)
        lead = (1,) * x.ndim if keep else ()

        def flat(v: Any, _: Any) -> Any:
            return np_arg(v.reshape(v.shape[:k] + (-1,)), axis=-1).reshape(v.shape[:k] + lead)

        return facts(x, flat)
    d = check_dim(name, dim, x.shape)
    return facts(x, lambda v, ax: np_arg(v, axis=ax, keepdims=keep), d)


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
        if getattr(x, "_batched", False):  # inside cr.vmap: each example's own index
            return _batched_arg(name, np_arg, x, dim, keep)
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
    return _reduce("cumsum", lambda v, d, _: _npr.cumsum.impl(v, d), x, int(dim), False)


def _softmax(name: str, core: Any) -> Any:
    def fn(input: Any, dim: Any = None, dtype: Any = None, *, axis: Any = _NO) -> Tensor:
        x = array_arg(input) if dtype is None else F.astype(input, dtype)
        if axis is not _NO:  # NumPy's spelling: axis=None is all elements at once
            if dim is not None:
                raise TypeError(f"{name}(): give dim or axis, not both")
            dim = tuple(range(x.ndim)) if axis is None else axis
        return _reduce(name, lambda v, ds, _: core(v, ds), x, -1 if dim is None else dim, False)

    fn.__name__ = fn.__qualname__ = name
    # (no docstring to adapt under python -OO, which strips them)
    fn.__doc__ = core.__doc__ and core.__doc__.replace("axis", "dim")
    return fn


softmax = _softmax("softmax", F.softmax)
log_softmax = _softmax("log_softmax", F.log_softmax)


def norm(
    input: Any, p: Any = "fro", dim: Dim = None, keepdim: bool = False, dtype: Any = None
) -> Tensor:
    """PyTorch's norm: a number ``p`` (2, 1, inf, -inf, 0, any float) is the vector
    norm over ``dim`` (all elements if None, several dims taken as one vector);
    'fro' is p = 2; 'nuc' the nuclear norm of the matrices in two dims. Gradient 0 at 0."""
    from chainrule.numpy import linalg as _nla  # loaded on first use

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
def _as_index(index: Any) -> Any:
    return index if isinstance(index, Tensor) else _wrap(index, None)


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
    # Stable, so ties keep their order; descending sorts -x, keeping ties in order too.
    # (Inside cr.vmap the order is each example's: a batched index.)
    index = facts(x, lambda v, ax: np.argsort(-v if descending else v, axis=ax, kind="stable"), d)
    if k is not None:
        index = index[_along(d, slice(0, k))]
    picked = _nps.take_along_axis.impl(x, index, d)
    if lifted:
        index = index.reshape(())
    return result(F.reshape(picked, ()) if lifted else picked, _as_index(index))


def sort(input: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """(sorted values, their indices) along ``dim``, a named tuple; each value carries
    the gradient of the element it came from. Always stable."""
    return _ordered("sort", input, dim, descending, None, SortResult)


def topk(
    input: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True
) -> TopkResult:
    """(the k largest (or smallest) values, their indices) along ``dim``, sorted.

    >>> import chainrule as cr
    >>> cr.topk(cr.tensor([3.0, 1.0, 4.0, 1.5]), 2)
    TopkResult(values=tensor([4., 3.]), indices=tensor([2, 0]))
    """
    return _ordered("topk", input, dim, largest, int(k), TopkResult)


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
    """Einstein summation: ``einsum("ij,jk->ik", a, b)`` or ``einsum(eq, [a, b])``.

    >>> import chainrule as cr
    >>> cr.einsum("ij,j->i", cr.tensor([[1.0, 2.0], [3.0, 4.0]]), cr.tensor([1.0, 1.0]))
    tensor([3., 7.])
    """
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    return _npl.einsum.impl(equation, *operands)


def addmm(input: Any, mat1: Any, mat2: Any, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2).

    >>> import chainrule as cr
    >>> m = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.addmm(cr.ones(2, 2), m, m)  # ones + m @ m
    tensor([[ 8., 11.],
            [16., 23.]])
    """
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
    """input + weight * (end - input).

    >>> import chainrule as cr
    >>> cr.lerp(cr.tensor([0.0, 10.0]), cr.tensor([1.0, 20.0]), 0.25)  # start + w (end - start)
    tensor([ 0.25, 12.5 ])
    """
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
