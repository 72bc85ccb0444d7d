"""NumPy's functions on Tensors: the tables ``Tensor.__array_ufunc__`` and
``Tensor.__array_function__`` consult, filled with ``chainrule.numpy``'s
implementations, so ``numpy.exp(t)``, ``numpy.sum(t, axis=0)``,
``numpy.linalg.norm(t)`` are the same differentiable functions as
``chainrule.numpy.exp(t)`` and the rest.

Ufunc methods are covered where they have a meaning here: ``np.add.reduce``
(sum), ``np.multiply.reduce`` (prod), ``np.maximum.reduce``/``np.minimum.reduce``
(max/min), ``np.add.accumulate`` (cumsum), ``np.multiply.accumulate`` (cumprod)
and ``outer`` of every binary ufunc with a rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule.numpy as cnp
from chainrule import functions as F
from chainrule.numpy._core import no_out
from chainrule.numpy._ufuncs import UFUNCS
from chainrule.tensor import FUNCTION_RULES, LAZY_FUNCTION_RULES, UFUNC_RULES


def _reduce(fn: Any, name: str) -> Any:
    def reduce(a: Any, axis: Any = 0, dtype: Any = None, out: Any = None, **kw: Any) -> Any:
        no_out(name, out)
        return fn.impl(a, axis=axis, dtype=dtype, **kw)

    return reduce


def _reduce_extremum(fn: Any, name: str) -> Any:
    def reduce(a: Any, axis: Any = 0, dtype: Any = None, out: Any = None, **kw: Any) -> Any:
        no_out(name, out)
        a = a if dtype is None else F.astype(a, dtype)
        return fn.impl(a, axis=axis, **kw)

    return reduce


def _accumulate(fn: Any, name: str) -> Any:
    def accumulate(a: Any, axis: int = 0, dtype: Any = None, out: Any = None) -> Any:
        no_out(name, out)
        return fn.impl(a, axis=axis, dtype=dtype)

    return accumulate


def _outer(fn: Any) -> Any:
    def outer(a: Any, b: Any, **kwargs: Any) -> Any:
        a, b = cnp.asarray.impl(a), cnp.asarray.impl(b)
        a = F.reshape(a, tuple(a.shape) + (1,) * b.ndim)
        return fn.impl(a, b, **kwargs)

    return outer


def install() -> None:
    for ufunc, fn in UFUNCS.items():
        UFUNC_RULES[ufunc] = fn.impl
        if ufunc.nin == 2:
            UFUNC_RULES[(ufunc, "outer")] = _outer(fn)
    UFUNC_RULES[(np.add, "reduce")] = _reduce(cnp.sum, "add.reduce")
    UFUNC_RULES[(np.multiply, "reduce")] = _reduce(cnp.prod, "multiply.reduce")
    UFUNC_RULES[(np.maximum, "reduce")] = _reduce_extremum(cnp.max, "maximum.reduce")
    UFUNC_RULES[(np.minimum, "reduce")] = _reduce_extremum(cnp.min, "minimum.reduce")
    UFUNC_RULES[(np.add, "accumulate")] = _accumulate(cnp.cumsum, "add.accumulate")
    UFUNC_RULES[(np.multiply, "accumulate")] = _accumulate(cnp.cumprod, "multiply.accumulate")

    install_functions(cnp)
    # chainrule.numpy.linalg and .fft load on first use, and install their own rules
    # then; numpy.linalg.norm(t) before that loads them (see Tensor.__array_function__).
    LAZY_FUNCTION_RULES["numpy.linalg"] = "chainrule.numpy.linalg"
    LAZY_FUNCTION_RULES["numpy.fft"] = "chainrule.numpy.fft"


def install_functions(module: Any) -> None:
    """NumPy's functions that ``module`` (a ``chainrule.numpy`` module) implements
    reach those implementations when called on Tensors."""
    for name in dir(module):
        fn = module.__dict__.get(name)
        impl = getattr(fn, "impl", None)
        np_func = getattr(fn, "numpy", None)
        if impl is not None and np_func is not None and not isinstance(np_func, np.ufunc):
            FUNCTION_RULES[np_func] = impl


install()
