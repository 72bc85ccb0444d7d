"""PyTorch's Tensor methods: ``t.sum(dim=1, keepdim=True)``, ``t.view(-1)``, ``t.size(0)``...

Installed by :mod:`chainrule.tensor_methods` after NumPy's methods, which stay: a
method called in NumPy's spelling (``axis=``, ``keepdims=``, ``ddof=``) keeps NumPy's
meaning, one called in PyTorch's (``dim=``, positional dims) gets PyTorch's. Each
method forwards to :mod:`chainrule.torch_functions` or to an existing function; no
derivative rule is new. Where one name means two things (``repeat``, ``transpose``,
``std``/``var``, ``max(1)``), the README's "PyTorch's methods and functions" says
which wins when.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule import torch_functions as T
from chainrule.numpy import _reductions as _npr
from chainrule.numpy import _shape as _nps
from chainrule.numpy import _ufuncs as _npu
from chainrule.tensor import Tensor


class Size(int):
    """``t.size``: the number of elements (an int, as NumPy's ``ndarray.size``) that
    can also be called as PyTorch's ``t.size()`` (the shape) or ``t.size(d)``."""

    def __new__(cls, shape: tuple[int, ...]) -> Size:
        self = super().__new__(cls, math.prod(shape))
        self._shape = tuple(shape)
        return self

    def __getnewargs__(self) -> tuple:  # pickle and copy rebuild it from the shape
        return (self._shape,)

    def __call__(self, dim: int | None = None) -> Any:
        if dim is None:
            return self._shape
        if not self._shape:
            raise IndexError(f"size(): dim {dim} is out of range: the tensor is 0-d")
        return self._shape[T.check_dim("size", dim, self._shape)]


def _sizes(args: tuple) -> tuple[int, ...]:
    """``f(2, 3)`` or ``f((2, 3))``: the sizes as a tuple."""
    if len(args) == 1 and not isinstance(args[0], int | np.integer):
        return tuple(int(s) for s in args[0])
    return tuple(int(s) for s in args)


def _numpy_call(kwargs: dict, *names: str) -> bool:
    return any(n in kwargs for n in names)


# ---------------------------------------------------------------- reductions
def _sum_like(name: str, numpy_impl: Any, torch_fn: Any) -> Any:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        # NumPy's second positional is dtype, PyTorch's keepdim: a bool there is PyTorch's.
        # t.sum() and t.sum(d) mean the same in both (PyTorch's errors name the shape).
        numpy_only = _numpy_call(kwargs, "axis", "keepdims", "out", "initial", "where")
        if not numpy_only and (len(args) <= 1 or isinstance(args[1], bool)):
            return torch_fn(self, *args, **kwargs)
        return numpy_impl(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"{torch_fn.__doc__}\n\nWith NumPy's arguments, NumPy's {name}."
    return method


def _max_like(name: str, numpy_impl: Any, torch_fn: Any) -> Any:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        if _numpy_call(kwargs, "axis", "keepdims", "out", "initial", "where"):
            return numpy_impl(self, *args, **kwargs)
        return torch_fn(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = torch_fn.__doc__
    return method


Tensor.sum = _sum_like("sum", _npr.sum.impl, T.sum)
Tensor.mean = _sum_like("mean", _npr.mean.impl, T.mean)
Tensor.prod = _sum_like("prod", _npr.prod.impl, T.prod)
Tensor.max = _max_like("max", _npr.max.impl, T.max)
Tensor.min = _max_like("min", _npr.min.impl, T.min)
Tensor.std = T.std
Tensor.var = T.var
Tensor.argmax = T.argmax
Tensor.argmin = T.argmin
Tensor.softmax = T.softmax
Tensor.log_softmax = T.log_softmax
Tensor.cumsum = T.cumsum
Tensor.norm = T.norm
Tensor.all = T.all
Tensor.any = T.any
Tensor.sort = T.sort
Tensor.topk = T.topk

# ------------------------------------------------------------- array facts
Tensor.size = property(lambda self: Size(self.shape), doc=Size.__doc__)
Tensor.numel = lambda self: math.prod(self.shape)
Tensor.nelement = Tensor.numel
Tensor.dim = lambda self: self.ndim
Tensor.element_size = lambda self: self.dtype.itemsize
Tensor.contiguous = lambda self, memory_format=None: self  # NumPy's data is C-ordered
Tensor.is_contiguous = lambda self, memory_format=None: True


# ---------------------------------------------------------------------- shape
def _view(self: Tensor, *shape: Any) -> Tensor:
    """The same elements in a new shape: ``t.view(2, -1)`` or ``t.view((2, -1))``."""
    return F.reshape(self, _sizes(shape))


def _flatten(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """PyTorch's ``flatten(start_dim=0, end_dim=-1)``; ``flatten('C')`` or ``order=``:
    NumPy's (a flat copy)."""
    if (args and isinstance(args[0], str)) or "order" in kwargs:
        return _nps.ravel.impl(self, *args, **kwargs)
    return T.flatten(self, *args, **kwargs)


def _squeeze(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """Dims of length 1 removed (PyTorch: a named longer dim is left alone);
    ``axis=``: NumPy's (a longer dim is an error)."""
    if "axis" in kwargs:
        return _nps.squeeze.impl(self, *args, **kwargs)
    return T.squeeze(self, *args, **kwargs)


def _expand(self: Tensor, *sizes: Any) -> Tensor:
    """A view repeating dims of length 1 (and new leading dims) to ``sizes``; -1 keeps
    a dim. The gradient is summed back."""
    sizes = _sizes(sizes)
    lead = len(sizes) - self.ndim
    if lead < 0:
        raise ValueError(
            f"expand(): {len(sizes)} sizes {sizes} for a tensor of shape {self.shape}: "
            "give at least one per dim"
        )
    target = tuple(
        self.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes)
    )
    if any(s < 0 for s in target):
        raise ValueError(f"expand(): -1 is only allowed for existing dims, got {sizes}")
    return F.broadcast_to(self, target)


def _repeat(self: Tensor, *sizes: Any, **kwargs: Any) -> Tensor:
    """PyTorch's: the whole tensor tiled, ``sizes[i]`` times along dim i (as np.tile).
    With ``axis=``, NumPy's: each element repeated."""
    if "axis" in kwargs:
        return _nps.repeat.impl(self, *sizes, **kwargs)
    reps = _sizes(sizes)
    if len(reps) < self.ndim:
        raise ValueError(
            f"repeat(): {len(reps)} sizes {reps} for a tensor of shape {self.shape}: give at "
            "least one per dim (NumPy's element repeat: repeat(n, axis=...))"
        )
    return _nps.tile.impl(self, reps)


def _transpose(self: Tensor, *dims: Any, **kwargs: Any) -> Tensor:
    """``t.transpose(d0, d1)``: PyTorch's, those two dims swapped. ``t.transpose()``,
    ``t.transpose((perm))`` or a full permutation ``t.transpose(2, 0, 1)``: NumPy's."""
    if "dim0" in kwargs or "dim1" in kwargs:
        return T.transpose(self, kwargs.pop("dim0", dims[0] if dims else None), kwargs["dim1"])
    return T.transpose(self, *dims, **kwargs)


def _t(self: Tensor) -> Tensor:
    """A matrix transposed (a 0-d or 1-d tensor as it is)."""
    if self.ndim > 2:
        raise ValueError(f"t(): expects a tensor of at most 2 dims, got shape {self.shape}")
    return F.transpose(self) if self.ndim == 2 else self


Tensor.view = _view
Tensor.view_as = lambda self, other: F.reshape(self, tuple(other.shape))
Tensor.flatten = _flatten
Tensor.squeeze = _squeeze
Tensor.unsqueeze = T.unsqueeze
Tensor.permute = T.permute
Tensor.transpose = _transpose
Tensor.t = _t
Tensor.expand = _expand
Tensor.expand_as = lambda self, other: _expand(self, tuple(other.shape))
Tensor.repeat = _repeat
Tensor.chunk = T.chunk
Tensor.split = T.split
Tensor.unbind = T.unbind
Tensor.masked_fill = T.masked_fill
Tensor.gather = T.gather
Tensor.scatter_add = T.scatter_add
Tensor.index_select = T.index_select


# --------------------------------------------------------------- new tensors
def _new(fill: Any) -> Any:
    def method(
        self: Tensor, *size: Any, dtype: Any = None, requires_grad: bool = False, **kw: Any
    ) -> Tensor:
        out = Tensor(fill(_sizes(size), np.dtype(dtype or self.dtype)))
        return out.requires_grad_() if requires_grad else out

    return method


def _new_full(
    self: Tensor, size: Any, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False,
    **kw: Any,
) -> Tensor:  # fmt: skip
    out = Tensor(np.full(_sizes((size,)), fill_value, dtype=np.dtype(dtype or self.dtype)))
    return out.requires_grad_() if requires_grad else out


def _new_tensor(
    self: Tensor, data: Any, *, dtype: Any = None, requires_grad: bool = False, **kw: Any
) -> Tensor:
    values = data.data if isinstance(data, Tensor) else data
    out = Tensor(np.array(values, dtype=np.dtype(dtype or self.dtype)))
    return out.requires_grad_() if requires_grad else out


Tensor.new_zeros = _new(np.zeros)
Tensor.new_ones = _new(np.ones)
Tensor.new_full = _new_full
Tensor.new_tensor = _new_tensor


# ------------------------------------------------------- arithmetic, as methods
def _add(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
    """self + alpha * other."""
    return self + (other if alpha == 1 else alpha * other)


def _sub(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
    """self - alpha * other."""
    return self - (other if alpha == 1 else alpha * other)


def _div(self: Tensor, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """self / other; ``rounding_mode`` 'trunc' or 'floor' rounds the quotient (gradient 0)."""
    if rounding_mode is None:
        return self / other
    if rounding_mode == "floor":
        return _npu.floor(self / other)
    if rounding_mode == "trunc":
        return _npu.trunc(self / other)
    raise ValueError(
        f"div(): rounding_mode must be None, 'trunc' or 'floor', not {rounding_mode!r}"
    )


Tensor.add = _add
Tensor.sub = _sub
Tensor.mul = lambda self, other: self * other
Tensor.div = _div
Tensor.pow = lambda self, exponent: self**exponent
Tensor.clamp = T.clamp
Tensor.eq = lambda self, other: self == other
Tensor.ne = lambda self, other: self != other
Tensor.gt = lambda self, other: self > other
Tensor.lt = lambda self, other: self < other
Tensor.ge = lambda self, other: self >= other
Tensor.le = lambda self, other: self <= other
for _name in ("sign", "floor", "ceil", "log1p", "expm1", "square", "maximum", "minimum"):
    setattr(Tensor, _name, getattr(_npu, _name).impl)
Tensor.mm = T.mm
Tensor.bmm = T.bmm
Tensor.isnan = _npu.isnan.impl
Tensor.isinf = _npu.isinf.impl
Tensor.isfinite = _npu.isfinite.impl
Tensor.lerp = T.lerp
Tensor.addmm = lambda self, mat1, mat2, *, beta=1, alpha=1: T.addmm(
    self, mat1, mat2, beta=beta, alpha=alpha
)
Tensor.allclose = T.allclose
Tensor.isclose = T.isclose
