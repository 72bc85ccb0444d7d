"""``chainrule.scipy.special``: SciPy's special functions with derivatives.

Called without a Tensor each function is SciPy's own; with one it applies the
primitive of :mod:`chainrule.ops.scipy_special`, whose rules are differentiable
again (higher orders work). The order argument of ``polygamma``, ``iv``, ``ive``,
``jn`` and ``yn`` and the dimension ``d`` of ``multigammaln`` are indices, not
variables: no derivative is taken with respect to them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.special as _sp

from chainrule import functions as F
from chainrule.numpy._core import arg, binding, data, no_out
from chainrule.ops import reductions as _red
from chainrule.ops import scipy_special as _ss
from chainrule.tensor import UFUNC_RULES, Tensor, apply, unary


def _one(sp_func: Any, prim: Any, name: str) -> Any:
    # The fast path (unary) records a node unconditionally: differentiable ones only.
    fast = prim.differentiable

    def impl(x: Any, /, out: Any = None, **kwargs: Any) -> Any:
        no_out(name, out)
        if kwargs:
            raise TypeError(f"scipy.special.{name} on a Tensor: unsupported {sorted(kwargs)}")
        x = arg(x)
        return unary(prim, x) if fast and isinstance(x, Tensor) else apply(prim, (x,))

    impl.__name__ = name
    impl.__doc__ = prim.doc
    fn = binding(sp_func, name)(impl)
    if isinstance(sp_func, np.ufunc):
        UFUNC_RULES[sp_func] = impl  # scipy.special.gammaln(tensor) is this function too
    return fn


def _two(sp_func: Any, prim: Any, name: str) -> Any:
    def impl(a: Any, x: Any, /, out: Any = None, **kwargs: Any) -> Any:
        no_out(name, out)
        if kwargs:
            raise TypeError(f"scipy.special.{name} on a Tensor: unsupported {sorted(kwargs)}")
        return apply(prim, (arg(a), arg(x)))

    impl.__name__ = name
    impl.__doc__ = prim.doc
    fn = binding(sp_func, name)(impl)
    if isinstance(sp_func, np.ufunc):
        UFUNC_RULES[sp_func] = impl
    return fn


# ------------------------------------------------------------------ gamma family
gammaln = _one(_sp.gammaln, _ss.gammaln, "gammaln")
digamma = _one(_sp.digamma, _ss.digamma, "digamma")
psi = _one(_sp.psi, _ss.digamma, "psi")
gamma = _one(_sp.gamma, _ss.gamma, "gamma")
rgamma = _one(_sp.rgamma, _ss.rgamma, "rgamma")
gammasgn = _one(_sp.gammasgn, _ss.gammasgn, "gammasgn")
polygamma = _two(_sp.polygamma, _ss.polygamma, "polygamma")
beta = _two(_sp.beta, _ss.beta, "beta")
betaln = _two(_sp.betaln, _ss.betaln, "betaln")
gammainc = _two(_sp.gammainc, _ss.gammainc, "gammainc")
gammaincc = _two(_sp.gammaincc, _ss.gammaincc, "gammaincc")
stdtr = _two(_sp.stdtr, _ss.stdtr, "stdtr")


@binding(_sp.betainc)
def betainc(a: Any, b: Any, x: Any) -> Any:
    """The regularized incomplete beta function I_x(a, b) (differentiable in x only)."""
    return apply(_ss.betainc, (arg(a), arg(b), arg(x)))


@binding(_sp.multigammaln)
def multigammaln(a: Any, d: int) -> Any:
    """log of the multivariate gamma function of dimension ``d``:
    d(d-1)/4 log(pi) + sum_j gammaln(a - j/2), j = 0..d-1 (differentiable in ``a``)."""
    d = int(d)
    if d < 1:
        raise ValueError(f"multigammaln: the dimension d must be a positive integer, got {d}")
    a = arg(a)
    if np.any(np.asarray(data(a)) <= 0.5 * (d - 1)):
        raise ValueError(f"multigammaln: needs a > (d - 1) / 2 = {0.5 * (d - 1)} everywhere")
    halves = np.arange(d) * 0.5
    terms = gammaln.impl(F.expand_dims(a, -1) - halves)
    return F.sum(terms, axis=-1) + d * (d - 1) * 0.25 * float(np.log(np.pi))


# ------------------------------------------------------------ error functions
erf = _one(_sp.erf, _ss.erf, "erf")
erfc = _one(_sp.erfc, _ss.erfc, "erfc")
erfinv = _one(_sp.erfinv, _ss.erfinv, "erfinv")
erfcinv = _one(_sp.erfcinv, _ss.erfcinv, "erfcinv")
ndtr = _one(_sp.ndtr, _ss.ndtr, "ndtr")
log_ndtr = _one(_sp.log_ndtr, _ss.log_ndtr, "log_ndtr")

# ------------------------------------------------------------ logistic pair
expit = _one(_sp.expit, _ss.expit, "expit")
logit = _one(_sp.logit, _ss.logit, "logit")

# ------------------------------------------------------------ Bessel functions
j0 = _one(_sp.j0, _ss.j0, "j0")
j1 = _one(_sp.j1, _ss.j1, "j1")
jn = _two(_sp.jn, _ss.jv, "jn")
jv = _two(_sp.jv, _ss.jv, "jv")
y0 = _one(_sp.y0, _ss.y0, "y0")
y1 = _one(_sp.y1, _ss.y1, "y1")
yn = _two(_sp.yn, _ss.yn, "yn")
i0 = _one(_sp.i0, _ss.i0, "i0")
i1 = _one(_sp.i1, _ss.i1, "i1")
iv = _two(_sp.iv, _ss.iv, "iv")
ive = _two(_sp.ive, _ss.ive, "ive")


# ------------------------------------------------------------------ logsumexp
@binding(_sp.logsumexp)
def logsumexp(
    a: Any,
    axis: Any = None,
    b: Any = None,
    keepdims: bool = False,
    return_sign: bool = False,
) -> Any:
    """log(sum(b * e^a)) over ``axis``, computed stably; differentiable in ``a`` and ``b``.

    With ``return_sign=True`` returns ``(log|sum|, sign)``, the sign a constant.
    """
    a = arg(a)
    axis = _axis(axis)
    if b is None and not return_sign:
        return apply(_red.logsumexp, (a,), {"axis": axis, "keepdims": bool(keepdims)})
    b = np.ones((), dtype=np.result_type(data(a))) if b is None else arg(b)
    out = apply(_ss.logsumexp_b, (a, b), {"axis": axis, "keepdims": bool(keepdims)})
    if return_sign:
        sign = _sp.logsumexp(data(a), axis=axis, b=data(b), keepdims=keepdims, return_sign=True)[1]
        return out, sign
    return out


def _axis(axis: Any) -> Any:
    if axis is None or isinstance(axis, int | np.integer):
        return None if axis is None else int(axis)
    return tuple(int(v) for v in axis)


__all__ = [
    "beta",
    "betainc",
    "betaln",
    "digamma",
    "erf",
    "erfc",
    "erfcinv",
    "erfinv",
    "expit",
    "gamma",
    "gammainc",
    "gammaincc",
    "gammaln",
    "gammasgn",
    "i0",
    "i1",
    "iv",
    "ive",
    "j0",
    "j1",
    "jn",
    "jv",
    "log_ndtr",
    "logit",
    "logsumexp",
    "multigammaln",
    "ndtr",
    "polygamma",
    "psi",
    "rgamma",
    "stdtr",
    "y0",
    "y1",
    "yn",
]
