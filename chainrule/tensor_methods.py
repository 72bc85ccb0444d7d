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
from chainrule.ops import elementwise as _el
from chainrule.ops import linalg as _la
from chainrule.tensor import FUNCTION_RULES, UFUNC_RULES, Tensor, apply, binary_op, unary_op

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


def _setitem(self: Tensor, index: Any, value: Any) -> None:
    if self._requires_grad:
        raise RuntimeError(
            "in-place assignment to a tensor that requires grad would corrupt its gradient; "
            "build a new tensor instead (cr.where, cr.concatenate), or assign to "
            "t.data under cr.no_grad() for updates that must not be tracked"
        )
    self.data[F.normalize_index(index)] = value.data if isinstance(value, Tensor) else value


Tensor.__setitem__ = _setitem

# -------------------------------------------------------------------- methods
for _prim in (_el.exp, _el.log, _el.sqrt, _el.abs, _el.sin, _el.cos, _el.tanh):
    setattr(Tensor, _prim.name, _unary_method(_prim))
Tensor.sigmoid = _unary_method(_act.sigmoid)
Tensor.relu = _unary_method(_act.relu)
Tensor.sum = F.sum
Tensor.mean = F.mean
Tensor.max = F.max
Tensor.min = F.min
Tensor.prod = F.prod
Tensor.logsumexp = F.logsumexp
Tensor.softmax = F.softmax
Tensor.log_softmax = F.log_softmax
Tensor.clip = F.clip
Tensor.astype = F.astype
Tensor.matmul = F.matmul
Tensor.expand_dims = F.expand_dims
Tensor.squeeze = F.squeeze
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


Tensor.reshape = _reshape
Tensor.transpose = _transpose
Tensor.T = property(lambda self: F.transpose(self), doc="The tensor with its axes reversed.")
Tensor.flatten = lambda self: F.reshape(self, (-1,))

# ------------------------------------------------- NumPy functions on Tensors
UFUNC_RULES.update(
    {
        np.add: F.add,
        np.subtract: F.subtract,
        np.multiply: F.multiply,
        np.true_divide: F.divide,
        np.power: F.power,
        np.negative: F.negative,
        np.positive: lambda x: x,
        np.maximum: F.maximum,
        np.minimum: F.minimum,
        np.matmul: F.matmul,
        np.exp: F.exp,
        np.log: F.log,
        np.sqrt: F.sqrt,
        np.absolute: F.abs,
        np.sin: F.sin,
        np.cos: F.cos,
        np.tanh: F.tanh,
    }
)
for _prim in (
    _el.equal,
    _el.not_equal,
    _el.less,
    _el.less_equal,
    _el.greater,
    _el.greater_equal,
    _el.sign,
    _el.logical_and,
    _el.logical_or,
    _el.logical_not,
    _el.isfinite,
    _el.isnan,
):
    UFUNC_RULES[_prim.forward] = _prim


def _no_out(fn: Any) -> Any:
    """Accept NumPy's ``out=None`` keyword, refuse a real output buffer."""

    def wrapped(*args: Any, out: Any = None, **kwargs: Any) -> Any:
        if out is not None:
            raise TypeError(f"numpy.{fn.__name__} on a Tensor: out= is not supported")
        return fn(*args, **kwargs)

    wrapped.__name__ = fn.__name__
    return wrapped


FUNCTION_RULES.update(
    {
        np.sum: _no_out(F.sum),
        np.mean: _no_out(F.mean),
        np.max: _no_out(F.max),
        np.amax: _no_out(F.max),
        np.min: _no_out(F.min),
        np.amin: _no_out(F.min),
        np.prod: _no_out(F.prod),
        np.clip: _no_out(F.clip),
        np.where: F.where,
        np.reshape: F.reshape,
        np.transpose: F.transpose,
        np.swapaxes: F.swapaxes,
        np.expand_dims: F.expand_dims,
        np.squeeze: F.squeeze,
        np.broadcast_to: F.broadcast_to,
        np.concatenate: F.concatenate,
        np.stack: F.stack,
        np.shape: lambda a: a.shape,
        np.ndim: lambda a: a.ndim,
        np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
    }
)
