"""Tensor operators and methods, and NumPy's dispatch onto chainrule.

Kept apart from :mod:`chainrule.tensor` because they are defined by the
primitive table, which itself builds on the Tensor class. Importing this module
(``import chainrule`` does) installs them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.ops import activations as _act
from chainrule.ops import complex_parts as _cx
from chainrule.ops import elementwise as _el
from chainrule.ops import linalg as _la
from chainrule.ops import numpy_elementwise as _ne
from chainrule.tensor import Tensor, apply, binary_op, unary_op

_unary_method = unary_op
_binary_method = binary_op


def _compare(prim: Any) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        return apply(prim, (self, other))

    return method


# ------------------------------------------------------------------ operators
Tensor.__add__ = _binary_method(_el.add)
Tensor.__radd__ = _binary_method(_el.add, reflected=True)
Tensor.__sub__ = _binary_method(_el.sub)
Tensor.__rsub__ = _binary_method(_el.sub, reflected=True)
Tensor.__mul__ = _binary_method(_el.mul)
Tensor.__rmul__ = _binary_method(_el.mul, reflected=True)
Tensor.__truediv__ = _binary_method(_el.div)
Tensor.__rtruediv__ = _binary_method(_el.div, reflected=True)
Tensor.__pow__ = _binary_method(_el.pow)
Tensor.__rpow__ = _binary_method(_el.pow, reflected=True)
Tensor.__matmul__ = _binary_method(_la.matmul)
Tensor.__rmatmul__ = _binary_method(_la.matmul, reflected=True)
Tensor.__neg__ = _unary_method(_el.neg)
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = _unary_method(_el.abs)
Tensor.__eq__ = _compare(_el.equal)  # type: ignore[assignment]
Tensor.__ne__ = _compare(_el.not_equal)  # type: ignore[assignment]
Tensor.__lt__ = _compare(_el.less)
Tensor.__le__ = _compare(_el.less_equal)
Tensor.__gt__ = _compare(_el.greater)
Tensor.__ge__ = _compare(_el.greater_equal)
Tensor.__and__ = _compare(_el.logical_and)
Tensor.__rand__ = _compare(_el.logical_and)
Tensor.__or__ = _compare(_el.logical_or)
Tensor.__ror__ = _compare(_el.logical_or)
Tensor.__invert__ = lambda self: apply(_el.logical_not, (self,))
Tensor.__getitem__ = F.getitem


# Complex parts, PyTorch's spellings: t.real and t.imag (properties), t.conj(), t.angle().
def _real_part(self: Tensor) -> Tensor:
    """The real part (the tensor itself when it is real)."""
    return _cx.real(self) if self.dtype.kind == "c" else self


def _imag_part(self: Tensor) -> Tensor:
    """The imaginary part; PyTorch refuses it on a real tensor, and so does chainrule."""
    if self.dtype.kind != "c":
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes")
    return _cx.imag(self)


def _conj(self: Tensor) -> Tensor:
    """The complex conjugate (the tensor itself when it is real)."""
    return _cx.conj(self) if self.dtype.kind == "c" else self


def _angle(self: Tensor) -> Tensor:
    """The angle of each element in the complex plane (radians)."""
    if self.dtype.kind == "c":
        return _cx.angle(self)
    return apply(_cx.angle, (self.detach(),))  # piecewise constant on real values


Tensor.real = property(_real_part)
Tensor.imag = property(_imag_part)
Tensor.conj = _conj
Tensor.angle = _angle


# t[i] = v, +=, add_(), zero_() and the other in-place operations: see tensor_inplace.
from chainrule import tensor_inplace as _tensor_inplace  # noqa: E402, F401

# -------------------------------------------------------------------- methods
for _prim in (_el.exp, _el.log, _el.sqrt, _el.abs, _el.sin, _el.cos, _el.tanh):
    setattr(Tensor, _prim.name, _unary_method(_prim))
Tensor.sigmoid = _unary_method(_act.sigmoid)
Tensor.relu = _unary_method(_act.relu)
Tensor.logsumexp = F.logsumexp
Tensor.softmax = F.softmax
Tensor.log_softmax = F.log_softmax
Tensor.matmul = F.matmul
Tensor.expand_dims = F.expand_dims
Tensor.broadcast_to = F.broadcast_to
Tensor.swapaxes = F.swapaxes


def _reshape(self: Tensor, *shape: Any) -> Tensor:
    """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = tuple(shape[0])
    return F.reshape(self, shape)


def _transpose(self: Tensor, *axes: Any) -> Tensor:
    """``t.transpose()``, ``t.transpose(1, 0, 2)`` or ``t.transpose((1, 0, 2))``."""
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = axes[0]
    return F.transpose(self, axes or None)


Tensor.transpose = _transpose
Tensor.T = property(lambda self: F.transpose(self), doc="The tensor with its axes reversed.")

# ------------------------------------------------- NumPy functions on Tensors
# numpy.exp(t), numpy.sum(t, axis=0), numpy.linalg.norm(t): the dispatch tables
# (UFUNC_RULES, FUNCTION_RULES) are filled with chainrule.numpy's implementations.
from chainrule.numpy import _dispatch  # noqa: E402, F401  (installs the tables)
from chainrule.numpy import _linear as _np_linear  # noqa: E402
from chainrule.numpy import _misc as _np_misc  # noqa: E402
from chainrule.numpy import _reductions as _np_red  # noqa: E402
from chainrule.numpy import _shape as _np_shape  # noqa: E402
from chainrule.numpy import _ufuncs as _np_ufuncs  # noqa: E402

# ------------------------------------------- ndarray methods, NumPy's signatures
Tensor.sum = _np_red.sum.impl
Tensor.mean = _np_red.mean.impl
Tensor.prod = _np_red.prod.impl
Tensor.max = _np_red.max.impl
Tensor.min = _np_red.min.impl
Tensor.var = _np_red.var.impl
Tensor.std = _np_red.std.impl
Tensor.cumsum = _np_red.cumsum.impl
Tensor.cumprod = _np_red.cumprod.impl
Tensor.clip = _np_ufuncs.clip_inclusive  # PyTorch's clip (= clamp): bounds pass the gradient
Tensor.round = _np_ufuncs.round.impl
Tensor.ravel = _np_shape.ravel.impl
Tensor.flatten = _np_shape.ravel.impl
Tensor.squeeze = _np_shape.squeeze.impl
Tensor.repeat = _np_shape.repeat.impl
Tensor.take = _np_shape.take.impl
Tensor.dot = _np_linear.dot.impl
Tensor.diagonal = _np_linear.diagonal.impl
Tensor.trace = _np_linear.trace.impl
Tensor.argmax = _np_misc.argmax.impl
Tensor.argmin = _np_misc.argmin.impl
Tensor.argsort = _np_misc.argsort.impl
Tensor.nonzero = _np_misc.nonzero.impl
Tensor.all = _np_misc.all.impl
Tensor.any = _np_misc.any.impl
Tensor.copy = _np_misc.copy.impl
Tensor.mT = property(
    lambda self: F.swapaxes(self, -1, -2), doc="The tensor with its last two axes swapped."
)
Tensor.itemsize = property(lambda self: self.data.itemsize)
Tensor.nbytes = property(lambda self: self.data.nbytes)


def _astype(
    self: Tensor, dtype: Any, order: str = "K", casting: str = "unsafe", **kw: Any
) -> Tensor:
    """``t.astype(dtype)``; gradients flow between floating dtypes."""
    return F.astype(self, dtype)


def _reshape_order(self: Tensor, *shape: Any, order: str = "C", copy: Any = None) -> Tensor:
    """``t.reshape(2, 3)`` or ``t.reshape((2, 3))`` (C order)."""
    if order != "C":
        raise NotImplementedError("reshape on a Tensor: only order='C' is supported")
    return _reshape(self, *shape)


Tensor.astype = _astype
Tensor.reshape = _reshape_order

# Operators without a derivative (// and the boolean ^) give constants; % has one.
_floor_divide = _np_ufuncs.floor_divide.impl
Tensor.__floordiv__ = lambda self, other: _floor_divide(self, other)
Tensor.__rfloordiv__ = lambda self, other: _floor_divide(other, self)
Tensor.__mod__ = _binary_method(_ne.remainder)
Tensor.__rmod__ = _binary_method(_ne.remainder, reflected=True)
Tensor.__divmod__ = lambda self, other: (self // other, self % other)
Tensor.__rdivmod__ = lambda self, other: (other // self, other % self)
Tensor.__xor__ = _compare(_ne.logical_xor)
Tensor.__rxor__ = _compare(_ne.logical_xor)

# PyTorch's methods (dim=, keepdim=, view, size(), ...), installed over NumPy's above:
# each keeps NumPy's meaning when called in NumPy's spelling.
from chainrule import tensor_torch as _tensor_torch  # noqa: E402, F401
