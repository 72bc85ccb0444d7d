"""Constructors, array facts and the functions with no derivative.

- ``array``/``asarray`` of a list mixing Tensors and numbers stack it, so
  ``np.array([t1, 2.0, t3])`` stays differentiable; of plain data they are NumPy's.
- ``zeros``, ``ones``, ``eye``, ``arange``... return NumPy arrays: constants. The
  ``*_like`` functions of a Tensor return constant Tensors; ``full`` and
  ``linspace`` with Tensor values are differentiable in them.
- ``argmax``, ``argsort``, ``allclose``, ``nonzero``... compute on the data: their
  results are integers or booleans, which carry no gradient.
- ``r_`` and ``c_`` join Tensors, arrays, numbers and slices as NumPy's do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.numpy._core import (
    array_arg,
    binding,
    constant,
    data,
    has_tensor,
    like_data,
    nested,
    shape,
)
from chainrule.ops import elementwise as _el
from chainrule.tensor import Tensor, _wrap, apply

_NO = np._NoValue


# -------------------------------------------------------------- constructors
def _as_tensor(obj: Any, dtype: Any, ndmin: int) -> Any:
    t = nested(obj)
    if dtype is not None and np.dtype(dtype) != t.dtype:
        t = F.astype(t, dtype)
    if ndmin > t.ndim:
        t = F.reshape(t, (1,) * (ndmin - t.ndim) + tuple(t.shape))
    return t


@binding(np.array)
def array(object: Any, dtype: Any = None, *, copy: Any = True, ndmin: int = 0, **kw: Any) -> Any:  # noqa: A002
    """An array of ``object``; a list mixing Tensors and numbers becomes a Tensor that
    keeps the gradient of each Tensor in it."""
    t = _as_tensor(object, dtype, ndmin)
    if t is object:
        # A new Tensor in memory of its own (an in-place change of it must not reach
        # the original): a copy of constant data, or a copy node in the graph.
        return apply(_el.copy, (t,)) if t.requires_grad else _wrap(t.data.copy(), None)
    return t


@binding(np.asarray)
def asarray(a: Any, dtype: Any = None, order: Any = None, **kw: Any) -> Any:
    """``a`` itself when it is a Tensor (cast if ``dtype`` differs); a list mixing
    Tensors and numbers as a differentiable Tensor."""
    return _as_tensor(a, dtype, 0)


asanyarray = binding(np.asanyarray, "asanyarray")(asarray.impl)
ascontiguousarray = binding(np.ascontiguousarray, "ascontiguousarray")(asarray.impl)


@binding(np.copy)
def copy(a: Any, order: str = "K", subok: bool = False) -> Any:
    """A copy (for a Tensor that requires grad, an identity node in the graph)."""
    return array.impl(a)


def _like(name: str, np_func: Any) -> Any:
    def impl(a: Any, *args: Any, **kwargs: Any) -> Any:
        return _wrap(np.asarray(np_func(like_data(array_arg(a)), *args, **kwargs)), None)

    impl.__name__ = name
    impl.__doc__ = f"NumPy's {name} of the Tensor's data: a constant Tensor."
    return impl


zeros_like = binding(np.zeros_like, "zeros_like")(_like("zeros_like", np.zeros_like))
ones_like = binding(np.ones_like, "ones_like")(_like("ones_like", np.ones_like))
empty_like = binding(np.empty_like, "empty_like")(_like("empty_like", np.empty_like))


@binding(np.full)
def full(shape: Any, fill_value: Any, dtype: Any = None, order: str = "C", **kw: Any) -> Any:
    """``fill_value`` repeated to ``shape``; differentiable in a Tensor ``fill_value``."""
    value = array_arg(fill_value)
    if dtype is not None:
        value = F.astype(value, dtype)
    target = (int(shape),) if isinstance(shape, int | np.integer) else tuple(shape)
    return F.broadcast_to(value, target) * 1  # a writable array, as NumPy's


@binding(np.full_like)
def full_like(a: Any, fill_value: Any, dtype: Any = None, **kw: Any) -> Any:
    """``fill_value`` in the shape of ``a``; a Tensor ``fill_value`` keeps its gradient."""
    if isinstance(fill_value, Tensor):
        dt = dtype if dtype is not None else np.result_type(like_data(array_arg(a)))
        return full.impl(shape(like_data(array_arg(a))), fill_value, dt)
    return _wrap(np.full_like(like_data(array_arg(a)), fill_value, dtype=dtype, **kw), None)


@binding(np.linspace)
def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    """``num`` evenly spaced values from start to stop; differentiable in Tensor ends."""
    start, stop = array_arg(start), array_arg(stop)
    div = (num - 1) if endpoint else num
    frac = np.arange(num, dtype=np.result_type(like_data(start), like_data(stop), 1.0))
    frac = frac / div if div > 0 else frac * 0
    nd = max(start.ndim, stop.ndim)
    frac = frac.reshape((-1,) + (1,) * nd)
    step = stop - start
    out = F.expand_dims(start, 0) + F.expand_dims(step, 0) * frac
    if endpoint and num > 1:
        # The last value is exactly stop, as NumPy makes it.
        last = np.arange(num) == num - 1
        out = F.where(last.reshape((-1,) + (1,) * nd), F.expand_dims(stop, 0) + out * 0, out)
    if axis != 0:
        out = F.transpose(out, _move_first_to(axis % (nd + 1), nd + 1))
    if dtype is not None:
        out = F.astype(out, dtype)
    if retstep:
        return out, (step / div if div > 0 else step * np.nan)
    return out


def _move_first_to(axis: int, nd: int) -> list[int]:
    order = list(range(1, nd))
    order.insert(axis, 0)
    return order


# Constructors from shapes and numbers: NumPy's own (constants).
zeros = np.zeros
ones = np.ones
empty = np.empty
eye = np.eye
identity = np.identity
arange = np.arange
logspace = np.logspace
geomspace = np.geomspace
meshgrid = np.meshgrid
indices = np.indices


# ------------------------------------------------------------------ array facts
@binding(np.shape)
def shape_of(a: Any) -> tuple[int, ...]:
    """The shape, a tuple of ints."""
    return tuple(array_arg(a).shape)


shape_of.__name__ = "shape"


@binding(np.ndim)
def ndim(a: Any) -> int:
    """The number of axes."""
    return array_arg(a).ndim


@binding(np.size)
def size(a: Any, axis: Any = None) -> int:
    """The number of elements (along ``axis``, if given)."""
    x = array_arg(a)
    return x.size if axis is None else x.shape[axis]


# ------------------------------------------------- results without a derivative
def _on_data(np_func: Any, name: str | None = None) -> Any:
    """NumPy's function on the data of the arguments; arrays come back as constant
    Tensors (integer and boolean results carry no gradient)."""

    def impl(*args: Any, **kwargs: Any) -> Any:
        return constant(np_func(*data(args), **data(kwargs)))

    impl.__name__ = name or np_func.__name__
    impl.__doc__ = f"numpy.{impl.__name__} on the data (no derivative)."
    return binding(np_func, impl.__name__)(impl)


argmax = _on_data(np.argmax)
argmin = _on_data(np.argmin)
argsort = _on_data(np.argsort)
argwhere = _on_data(np.argwhere)
nonzero = _on_data(np.nonzero)
flatnonzero = _on_data(np.flatnonzero)
count_nonzero = _on_data(np.count_nonzero)
searchsorted = _on_data(np.searchsorted)
allclose = _on_data(np.allclose)
isclose = _on_data(np.isclose)
array_equal = _on_data(np.array_equal)
array_equiv = _on_data(np.array_equiv)
all = _on_data(np.all)  # noqa: A001 - NumPy's name
any = _on_data(np.any)  # noqa: A001 - NumPy's name


# --------------------------------------------------------------------- r_, c_
class _Joiner:
    """``r_[...]`` / ``c_[...]``: slices become ranges (NumPy's r_), everything else
    is joined; with a Tensor among the items the result is a differentiable Tensor."""

    def __init__(self, numpy_joiner: Any, columns: bool) -> None:
        self._numpy = numpy_joiner
        self._columns = columns

    def __getitem__(self, key: Any) -> Any:
        items = key if isinstance(key, tuple) else (key,)
        if not has_tensor(items):
            return self._numpy[key]
        if items and isinstance(items[0], str):
            raise NotImplementedError(
                "r_/c_ with Tensors: string directives ('0,2', 'r', 'c') are not supported; "
                "use concatenate or stack"
            )
        parts = []
        for item in items:
            part = np.r_[item] if isinstance(item, slice) else array_arg(item)
            if self._columns:
                # c_ is r_['-1,2,0', ...]: at least 2-D, a 1-D array as a column.
                if part.ndim == 0:
                    part = F.reshape(part, (1, 1))
                elif part.ndim == 1:
                    part = F.reshape(part, (-1, 1))
            elif part.ndim == 0:
                part = F.reshape(part, (1,))
            parts.append(part)
        return F.concatenate(parts, -1 if self._columns else 0)

    def __len__(self) -> int:
        return 0


r_ = _Joiner(np.r_, columns=False)
c_ = _Joiner(np.c_, columns=True)
