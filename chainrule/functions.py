"""The public functions over the primitive table: ``cr.exp``, ``cr.sum``, ``cr.matmul``...

Each takes Tensors, NumPy arrays or Python numbers and returns a Tensor. The
derivatives live in :mod:`chainrule.ops`; composite functions (``mean``) are
built from primitives and need no rule of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.ops import activations as _act
from chainrule.ops import elementwise as _el
from chainrule.ops import indexing as _ix
from chainrule.ops import linalg as _la
from chainrule.ops import reductions as _red
from chainrule.ops import shape as _sh
from chainrule.tensor import Tensor, apply, binary_op, unary_op

ArrayLike = Tensor | np.ndarray | float | int | Sequence[Any]
Axis = int | Sequence[int] | None


def _axis(axis: Axis) -> int | tuple[int, ...] | None:
    if axis is None or isinstance(axis, (int, np.integer)):
        return axis
    return tuple(int(a) for a in axis)


def _shape_of(x: ArrayLike) -> tuple[int, ...]:
    return x.shape if isinstance(x, Tensor | np.ndarray) else np.shape(x)


def _public(name: str, op: Any) -> Any:
    """Publish a specialised elementwise op (see chainrule.tensor.unary_op) under
    ``name``: ``cr.exp`` is the hot path itself, with no wrapper call in front."""
    op.__name__ = op.__qualname__ = name
    op.__module__ = __name__
    return op


# --------------------------------------------------------------- arithmetic
add = _public("add", binary_op(_el.add, doc="x + y, broadcasting."))
subtract = _public("subtract", binary_op(_el.sub, doc="x - y, broadcasting."))
multiply = _public("multiply", binary_op(_el.mul, doc="x * y, broadcasting."))
divide = _public("divide", binary_op(_el.div, doc="x / y, broadcasting."))
power = _public(
    "power",
    binary_op(
        _el.pow, doc="x ** y, broadcasting; differentiable in x and in y (d/dy = x^y log x)."
    ),
)
negative = _public("negative", unary_op(_el.neg, "-x."))
maximum = _public(
    "maximum",
    binary_op(_el.maximum, doc="Elementwise maximum; tied elements share the gradient evenly."),
)
minimum = _public(
    "minimum",
    binary_op(_el.minimum, doc="Elementwise minimum; tied elements share the gradient evenly."),
)


# ---------------------------------------------------- functions of one variable
exp = _public("exp", unary_op(_el.exp, "e^x."))
log = _public("log", unary_op(_el.log, "Natural logarithm."))
sqrt = _public("sqrt", unary_op(_el.sqrt, "Square root (its derivative is inf at 0)."))
abs = _public("abs", unary_op(_el.abs, "|x| (derivative sign(x), taken as 0 at 0)."))  # noqa: A001
sin = _public("sin", unary_op(_el.sin, "Sine."))
cos = _public("cos", unary_op(_el.cos, "Cosine."))
tanh = _public("tanh", unary_op(_el.tanh, "Hyperbolic tangent."))
sigmoid = _public(
    "sigmoid",
    unary_op(
        _act.sigmoid,
        "1 / (1 + e^-x), stable for large |x|; derivative sigmoid(x) (1 - sigmoid(x)).",
    ),
)
relu = _public("relu", unary_op(_act.relu, "max(x, 0), with derivative 0 at 0."))


def where(condition: ArrayLike, x: ArrayLike, y: ArrayLike) -> Tensor:
    """x where ``condition`` holds, else y; gradients flow to x and y, not the condition."""
    if isinstance(condition, Tensor) and not condition._batched:
        condition = condition.data
    return apply(_el.where, (condition, x, y))


def clip(x: ArrayLike, a_min: ArrayLike | None = None, a_max: ArrayLike | None = None) -> Tensor:
    """x limited to [a_min, a_max]; the gradient passes where x is inside (bounds included)."""
    if a_min is None and a_max is None:
        raise ValueError("clip: give a_min, a_max or both")
    return apply(_el.clip, (x, a_min, a_max))


def astype(x: ArrayLike, dtype: Any) -> Tensor:
    """x converted to ``dtype``; gradients flow between floating dtypes only."""
    return apply(_el.cast, (x,), {"dtype": np.dtype(dtype)})


# --------------------------------------------------------------- reductions
def sum(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (int, tuple, or None for all)."""
    return apply(_red.sum, (x,), {"axis": _axis(axis), "keepdims": keepdims})


def mean(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis``: the sum divided by the number of elements."""
    axis = _axis(axis)
    shape = _shape_of(x)
    if axis is None:
        count = int(np.prod(shape))
    else:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
        count = int(np.prod([shape[a] for a in axes]))
    return sum(x, axis, keepdims) / count


def max(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest element over ``axis``; tied maxima share the gradient evenly."""
    return apply(_red.max, (x,), {"axis": _axis(axis), "keepdims": keepdims})


def min(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Smallest element over ``axis``; tied minima share the gradient evenly."""
    return apply(_red.min, (x,), {"axis": _axis(axis), "keepdims": keepdims})


def prod(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis``; the gradient is right at zeros too."""
    return apply(_red.prod, (x,), {"axis": _axis(axis), "keepdims": keepdims})


def logsumexp(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, stable for large |x|."""
    return apply(_red.logsumexp, (x,), {"axis": _axis(axis), "keepdims": keepdims})


def softmax(x: ArrayLike, axis: Axis = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis`` (default: the last), stable for large |x|."""
    return apply(_act.softmax, (x,), {"axis": _axis(axis)})


def log_softmax(x: ArrayLike, axis: Axis = -1) -> Tensor:
    """x - logsumexp(x) along ``axis`` (default: the last), stable for large |x|."""
    return apply(_act.log_softmax, (x,), {"axis": _axis(axis)})


# ------------------------------------------------------------ linear algebra
matmul = _public(
    "matmul",
    binary_op(
        _la.matmul, doc="Matrix product with NumPy's rules (1-D vectors, broadcast batch axes)."
    ),
)


# ---------------------------------------------------------------------- shape
def reshape(x: ArrayLike, shape: int | Sequence[int]) -> Tensor:
    """The same elements in a new shape; one entry may be -1."""
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return apply(_sh.reshape, (x,), {"shape": shape})


def transpose(x: ArrayLike, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes (default: reverse them)."""
    return apply(_sh.transpose, (x,), {"axes": None if axes is None else tuple(axes)})


def swapaxes(x: ArrayLike, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes."""
    perm = list(range(len(_shape_of(x))))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return transpose(x, perm)


def expand_dims(x: ArrayLike, axis: int | Sequence[int]) -> Tensor:
    """Insert axes of length 1 at ``axis``."""
    return apply(_sh.expand_dims, (x,), {"axis": _axis(axis)})


def squeeze(x: ArrayLike, axis: Axis = None) -> Tensor:
    """Remove axes of length 1 (all, or those in ``axis``)."""
    return apply(_sh.squeeze, (x,), {"axis": _axis(axis)})


def broadcast_to(x: ArrayLike, shape: Sequence[int]) -> Tensor:
    """Repeat x to ``shape`` by NumPy's broadcasting rules; the gradient is summed back."""
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return apply(_sh.broadcast_to, (x,), {"shape": shape})


def _arrays(items: Sequence[ArrayLike]) -> tuple:
    """Tensors as they are, anything else (lists, numbers) as an array: the rules of
    concatenate and stack read their inputs' shapes."""
    return tuple(t if isinstance(t, Tensor | np.ndarray) else np.asarray(t) for t in items)


def concatenate(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = _arrays(tensors)
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    return apply(_sh.concatenate, tensors, {"axis": int(axis)})


def stack(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    tensors = _arrays(tensors)
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    return apply(_sh.stack, tensors, {"axis": int(axis)})


def getitem(x: ArrayLike, index: Any) -> Tensor:
    """x[index]; with integer arrays, repeated indices accumulate gradient."""
    return apply(_ix.getitem, (x,), {"index": normalize_index(index)})


def normalize_index(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays (indices carry no gradient).
    A batched index (inside cr.vmap) is kept: each example picks its own elements."""
    if isinstance(index, Tensor):
        return index if index._batched else index.data
    if isinstance(index, tuple):
        return tuple(_index_array(i) for i in index)
    if isinstance(index, list) and any(isinstance(i, Tensor) for i in index):
        return [_index_array(i) for i in index]
    return index


def _index_array(i: Any) -> Any:
    return i.data if isinstance(i, Tensor) and not i._batched else i
