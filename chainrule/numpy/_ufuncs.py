"""NumPy's elementwise functions (ufuncs) over the primitive table.

Each accepts what the ufunc accepts (``dtype=``, and ``out=None``/``where=True``
as NumPy passes them) and broadcasts as NumPy does. Piecewise-constant functions
(floor, sign, comparisons) have no derivative: their results are constants.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.autograd.grad_mode import grad_enabled
from chainrule.numpy._core import arg, binding, constant, data, no_out, no_where
from chainrule.ops import elementwise as _el
from chainrule.ops import linalg as _la
from chainrule.ops import numpy_elementwise as _ne
from chainrule.tensor import Tensor, apply, binary, unary

#: ufunc -> public function, filled as the functions are made (for the dispatch table).
UFUNCS: dict[np.ufunc, Any] = {}


def _cast(x: Any, dtype: Any) -> Any:
    return x if dtype is None else F.astype(x, dtype)


def _unary(ufunc: np.ufunc, prim: Any) -> Any:
    name = ufunc.__name__
    # The fast paths record a node unconditionally: only for differentiable primitives.
    fast = prim.differentiable

    def impl(x: Any, /, out: Any = None, *, where: Any = True, dtype: Any = None) -> Any:
        if out is not None:
            no_out(name, out)
        if where is not True:
            no_where(name, where)
        x = _cast(arg(x), dtype)
        return unary(prim, x) if fast and isinstance(x, Tensor) else apply(prim, (x,))

    impl.__name__ = name
    impl.__doc__ = prim.doc
    fn = binding(ufunc, name)(impl)
    UFUNCS[ufunc] = fn
    return fn


def _binary(ufunc: np.ufunc, prim: Any) -> Any:
    name = ufunc.__name__
    fast = prim.differentiable

    def impl(x: Any, y: Any, /, out: Any = None, *, where: Any = True, dtype: Any = None) -> Any:
        if out is not None:
            no_out(name, out)
        if where is not True:
            no_where(name, where)
        x, y = _cast(arg(x), dtype), _cast(arg(y), dtype)
        if fast and (isinstance(x, Tensor) or isinstance(y, Tensor)):
            return binary(prim, x, y)
        return apply(prim, (x, y))

    impl.__name__ = name
    impl.__doc__ = prim.doc
    fn = binding(ufunc, name)(impl)
    UFUNCS[ufunc] = fn
    return fn


# ------------------------------------------------------------------ arithmetic
add = _binary(np.add, _el.add)
subtract = _binary(np.subtract, _el.sub)
multiply = _binary(np.multiply, _el.mul)
divide = _binary(np.divide, _el.div)
true_divide = divide
power = _binary(np.power, _el.pow)
negative = _unary(np.negative, _el.neg)
remainder = _binary(np.remainder, _ne.remainder)
mod = remainder
matmul = _binary(np.matmul, _la.matmul)
square = _unary(np.square, _ne.square)
sqrt = _unary(np.sqrt, _el.sqrt)
cbrt = _unary(np.cbrt, _ne.cbrt)
reciprocal = _unary(np.reciprocal, _ne.reciprocal)
absolute = _unary(np.absolute, _el.abs)
abs = absolute  # noqa: A001 - NumPy's name
fabs = _unary(np.fabs, _ne.fabs)


@binding(np.positive)
def positive(x: Any, /, out: Any = None, **kwargs: Any) -> Any:
    """+x (the same tensor)."""
    no_out("positive", out)
    return arg(x)


UFUNCS[np.positive] = positive

# ------------------------------------------------------------ exponentials, logs
exp = _unary(np.exp, _el.exp)
exp2 = _unary(np.exp2, _ne.exp2)
expm1 = _unary(np.expm1, _ne.expm1)
log = _unary(np.log, _el.log)
log2 = _unary(np.log2, _ne.log2)
log10 = _unary(np.log10, _ne.log10)
log1p = _unary(np.log1p, _ne.log1p)
logaddexp = _binary(np.logaddexp, _ne.logaddexp)
logaddexp2 = _binary(np.logaddexp2, _ne.logaddexp2)

# ------------------------------------------------------------------ trigonometry
sin = _unary(np.sin, _el.sin)
cos = _unary(np.cos, _el.cos)
tan = _unary(np.tan, _ne.tan)
arcsin = _unary(np.arcsin, _ne.arcsin)
arccos = _unary(np.arccos, _ne.arccos)
arctan = _unary(np.arctan, _ne.arctan)
arctan2 = _binary(np.arctan2, _ne.arctan2)
hypot = _binary(np.hypot, _ne.hypot)
sinh = _unary(np.sinh, _ne.sinh)
cosh = _unary(np.cosh, _ne.cosh)
tanh = _unary(np.tanh, _el.tanh)
arcsinh = _unary(np.arcsinh, _ne.arcsinh)
arccosh = _unary(np.arccosh, _ne.arccosh)
arctanh = _unary(np.arctanh, _ne.arctanh)


@binding(np.sinc)
def sinc(x: Any) -> Any:
    """sin(pi x) / (pi x), 1 at 0."""
    return _sinc_op(arg(x))


def _sinc_op(x: Any) -> Any:
    return unary(_ne.sinc, x) if isinstance(x, Tensor) else apply(_ne.sinc, (x,))


# ------------------------------------------------------------------- extrema
maximum = _binary(np.maximum, _el.maximum)
minimum = _binary(np.minimum, _el.minimum)
fmax = _binary(np.fmax, _ne.fmax)
fmin = _binary(np.fmin, _ne.fmin)


@binding(np.clip)
def clip(a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, **kwargs: Any) -> Any:
    """a limited to [a_min, a_max]; NumPy 2's ``min=``/``max=`` keywords work too.
    At a bound the gradient in ``a`` is 0, as HIPS autograd's (``Tensor.clip``, which
    is also PyTorch's ``clamp``, passes it through there)."""
    return _clip(_el.clip_strict, a, a_min, a_max, out, kwargs)


def clip_inclusive(
    a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, **kwargs: Any
) -> Any:
    """``clip`` whose gradient in ``a`` passes at the bounds (PyTorch's ``clamp``)."""
    return _clip(_el.clip, a, a_min, a_max, out, kwargs)


def _clip(prim: Any, a: Any, a_min: Any, a_max: Any, out: Any, kwargs: dict) -> Any:
    no_out("clip", out)
    a_min = kwargs.pop("min", a_min)
    a_max = kwargs.pop("max", a_max)
    if kwargs:
        raise TypeError(f"numpy.clip on a Tensor: unsupported arguments {sorted(kwargs)}")
    if a_min is None and a_max is None:
        raise ValueError("clip: give a_min, a_max or both")
    return apply(prim, (arg(a), arg(a_min), arg(a_max)))


@binding(np.where)
def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    """x where ``condition`` holds, else y (the gradient flows to x and y);
    ``where(condition)`` alone is ``nonzero(condition)``."""
    if x is None and y is None:
        return constant(np.nonzero(data(condition)))
    if x is None or y is None:
        raise ValueError("where: give both x and y, or neither")
    return F.where(arg(condition), arg(x), arg(y))


# ------------------------------------------- piecewise constant: no derivative
sign = _unary(np.sign, _el.sign)
_real_sign = sign.impl


def _sign_impl(x: Any, /, out: Any = None, *, where: Any = True, dtype: Any = None) -> Any:
    # On real numbers sign is piecewise constant (no derivative); on complex ones it
    # is z/|z|, which is not constant, so a gradient would be silently lost.
    if isinstance(x, Tensor) and x.requires_grad and x.dtype.kind == "c" and grad_enabled():
        raise TypeError(
            "sign: of a complex Tensor that requires grad, it is z/|z|, not a constant, and "
            "has no rule here; write z / np.abs(z) to differentiate it"
        )
    return _real_sign(x, out, where=where, dtype=dtype)


sign = binding(np.sign, "sign")(_sign_impl)
sign.__doc__ = _el.sign.doc
UFUNCS[np.sign] = sign
floor = _unary(np.floor, _ne.floor)
ceil = _unary(np.ceil, _ne.ceil)
trunc = _unary(np.trunc, _ne.trunc)
rint = _unary(np.rint, _ne.rint)
floor_divide = _binary(np.floor_divide, _ne.floor_divide)
isnan = _unary(np.isnan, _el.isnan)
isfinite = _unary(np.isfinite, _el.isfinite)
isinf = _unary(np.isinf, _ne.isinf)
signbit = _unary(np.signbit, _ne.signbit)
equal = _binary(np.equal, _el.equal)
not_equal = _binary(np.not_equal, _el.not_equal)
less = _binary(np.less, _el.less)
less_equal = _binary(np.less_equal, _el.less_equal)
greater = _binary(np.greater, _el.greater)
greater_equal = _binary(np.greater_equal, _el.greater_equal)
logical_and = _binary(np.logical_and, _el.logical_and)
logical_or = _binary(np.logical_or, _el.logical_or)
logical_xor = _binary(np.logical_xor, _ne.logical_xor)
logical_not = _unary(np.logical_not, _el.logical_not)


@binding(np.round)
def round(a: Any, decimals: int = 0, out: Any = None) -> Any:  # noqa: A001 - NumPy's name
    """a rounded to ``decimals`` places (a constant: no derivative)."""
    no_out("round", out)
    return apply(_ne.round, (arg(a),), {"decimals": int(decimals)})


around = binding(np.around, "around")(round.impl)
