"""Primitives behind ``chainrule.scipy.special``: SciPy's special functions and their rules.

The forward of each is SciPy's function; the rules are the textbook derivatives
(DLMF chapters 5, 7 and 10), written with these same primitives, so that every
rule is differentiable again (the second derivative of ``gammaln`` is
``polygamma(1, x)``, its third ``polygamma(2, x)``, and so on).

Functions of one variable have a diagonal Jacobian: one rule serves reverse mode
(upstream gradient ``g``) and forward mode (tangent ``t``). The order of a Bessel
function or of ``polygamma`` is an index, not a variable: asking for its
derivative raises :class:`NotImplementedError`. So does the shape parameter of
the incomplete gamma and beta functions, whose derivative has no closed form.
Constants are Python floats, so float32 stays float32 (NEP 50). Formulas name
the inputs x, y by position, as ``explain`` reads them (``jv(x, y)``: x the order).

This module imports SciPy; only :mod:`chainrule.scipy` imports it.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special as sp

from chainrule.ops.elementwise import _diagonal
from chainrule.ops.nn_ops import erf
from chainrule.ops.primitive import ELEMENTWISE, Primitive, call
from chainrule.tensor import Tensor

TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0
LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def not_differentiable(function: str, argument: str, why: str):
    """A rule for an argument that has no derivative here: it raises when one is asked for."""

    def rule(g, ans, *args, **params):
        raise NotImplementedError(
            f"{function}: no derivative with respect to {argument} ({why}); pass it as a constant"
        )

    return rule


def _order_rule(function: str):
    return not_differentiable(function, "the order", "it is an index, not a variable")


# ------------------------------------------------------------------ gamma family
def _polygamma_forward(n, x):
    return sp.polygamma(n, x)


polygamma = Primitive(
    "polygamma",
    _polygamma_forward,
    vjp=(
        _order_rule("polygamma"),
        lambda g, ans, n, x: g * call(polygamma, n + 1, x),
    ),
    jvp=(
        _order_rule("polygamma"),
        lambda t, ans, n, x: t * call(polygamma, n + 1, x),
    ),
    formula=("-", "polygamma(x+1, y)"),
    doc="The n-th derivative of the digamma function.",
)

digamma = _diagonal(
    "digamma",
    sp.digamma,
    lambda g, ans, x: g * call(polygamma, 1, x),
    "polygamma(1, x)",
    "The digamma function psi(x) = d log Gamma(x) / dx.",
)
gammaln = _diagonal(
    "gammaln",
    sp.gammaln,
    lambda g, ans, x: g * call(digamma, x),
    "digamma(x)",
    "log |Gamma(x)|.",
)
gamma = _diagonal(
    "gamma",
    sp.gamma,
    lambda g, ans, x: g * (ans * call(digamma, x)),
    "gamma(x)*digamma(x)",
    "The gamma function.",
    saves_ans=True,
)
gammasgn = Primitive(
    "gammasgn",
    sp.gammasgn,
    differentiable=False,
    doc="The sign of Gamma(x) (piecewise constant: no derivative).",
)
rgamma = _diagonal(
    "rgamma",
    sp.rgamma,
    # d (1/Gamma) / dx = -digamma(x) / Gamma(x). At the poles of Gamma (0, -1, ...)
    # digamma is infinite and the product is NaN: those points are not covered.
    lambda g, ans, x: -(g * (ans * call(digamma, x))),
    "-digamma(x)/gamma(x)",
    "1 / Gamma(x), zero at the poles of Gamma (its derivative there is not covered).",
    saves_ans=True,
)


def _beta_share(g, ans, mine, other):
    return g * (ans * (call(digamma, mine) - call(digamma, mine + other)))


def _betaln_share(g, ans, mine, other):
    return g * (call(digamma, mine) - call(digamma, mine + other))


def _symmetric(share):
    return (
        lambda g, ans, a, b: share(g, ans, a, b),
        lambda g, ans, a, b: share(g, ans, b, a),
    )


beta = Primitive(
    "beta",
    sp.beta,
    vjp=_symmetric(_beta_share),
    jvp=_symmetric(_beta_share),
    formula=("beta(x,y)*(digamma(x)-digamma(x+y))", "beta(x,y)*(digamma(y)-digamma(x+y))"),
    saves_ans=True,
    doc="The beta function B(a, b) = Gamma(a) Gamma(b) / Gamma(a + b).",
)
betaln = Primitive(
    "betaln",
    sp.betaln,
    vjp=_symmetric(_betaln_share),
    jvp=_symmetric(_betaln_share),
    formula=("digamma(x)-digamma(x+y)", "digamma(y)-digamma(x+y)"),
    doc="log |B(a, b)|.",
)


# d/dx of the regularized lower incomplete gamma P(a, x): the gamma density
# x^(a-1) e^-x / Gamma(a), written with logs so that it stays finite for large a.
def _gamma_density(a, x):
    return np.exp((a - 1) * np.log(x) - x - call(gammaln, a))


gammainc = Primitive(
    "gammainc",
    sp.gammainc,
    vjp=(
        not_differentiable("gammainc", "a", "no closed form"),
        lambda g, ans, a, x: g * _gamma_density(a, x),
    ),
    jvp=(
        not_differentiable("gammainc", "a", "no closed form"),
        lambda t, ans, a, x: t * _gamma_density(a, x),
    ),
    formula=("-", "y^(x-1)*exp(-y)/gamma(x)"),
    doc="The regularized lower incomplete gamma function P(a, x).",
)
gammaincc = Primitive(
    "gammaincc",
    sp.gammaincc,
    vjp=(
        not_differentiable("gammaincc", "a", "no closed form"),
        lambda g, ans, a, x: -(g * _gamma_density(a, x)),
    ),
    jvp=(
        not_differentiable("gammaincc", "a", "no closed form"),
        lambda t, ans, a, x: -(t * _gamma_density(a, x)),
    ),
    formula=("-", "-y^(x-1)*exp(-y)/gamma(x)"),
    doc="The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x).",
)


def _beta_density(a, b, x):
    return np.exp((a - 1) * np.log(x) + (b - 1) * np.log1p(-x) - call(betaln, a, b))


betainc = Primitive(
    "betainc",
    sp.betainc,
    vjp=(
        not_differentiable("betainc", "a", "no closed form"),
        not_differentiable("betainc", "b", "no closed form"),
        lambda g, ans, a, b, x: g * _beta_density(a, b, x),
    ),
    jvp=(
        not_differentiable("betainc", "a", "no closed form"),
        not_differentiable("betainc", "b", "no closed form"),
        lambda t, ans, a, b, x: t * _beta_density(a, b, x),
    ),
    formula=("-", "-", "t^(a-1)*(1-t)^(b-1)/beta(a,b) at t"),
    doc="The regularized incomplete beta function I_x(a, b).",
)


# d/dt of Student's t CDF: the t density with df degrees of freedom.
def _t_density(df, t):
    half = (df + 1) * 0.5
    log_norm = call(gammaln, half) - call(gammaln, df * 0.5) - 0.5 * np.log(df * math.pi)
    return np.exp(log_norm - half * np.log1p(t * t / df))


stdtr = Primitive(
    "stdtr",
    sp.stdtr,
    vjp=(
        not_differentiable("stdtr", "df", "no closed form"),
        lambda g, ans, df, t: g * _t_density(df, t),
    ),
    jvp=(
        not_differentiable("stdtr", "df", "no closed form"),
        lambda tt, ans, df, t: tt * _t_density(df, t),
    ),
    formula=("-", "the t density with x degrees of freedom at y"),
    doc="Student's t CDF with df degrees of freedom at t.",
)


# ------------------------------------------------------------ error functions
erfc = _diagonal(
    "erfc",
    sp.erfc,
    lambda g, ans, x: -(g * (np.exp(-(x * x)) * TWO_OVER_SQRT_PI)),
    "-2/sqrt(pi)*exp(-x^2)",
    "1 - erf(x), without the cancellation for large x.",
)
erfinv = _diagonal(
    "erfinv",
    sp.erfinv,
    lambda g, ans, x: g * (np.exp(ans * ans) * SQRT_PI_OVER_2),
    "sqrt(pi)/2*exp(erfinv(x)^2)",
    "The inverse of erf on (-1, 1).",
    saves_ans=True,
)
erfcinv = _diagonal(
    "erfcinv",
    sp.erfcinv,
    lambda g, ans, x: -(g * (np.exp(ans * ans) * SQRT_PI_OVER_2)),
    "-sqrt(pi)/2*exp(erfcinv(x)^2)",
    "The inverse of erfc on (0, 2).",
    saves_ans=True,
)
ndtr = _diagonal(
    "ndtr",
    sp.ndtr,
    lambda g, ans, x: g * np.exp(-(x * x) * 0.5 - LOG_SQRT_2PI),
    "exp(-x^2/2)/sqrt(2*pi)",
    "The standard normal CDF Phi(x).",
)
log_ndtr = _diagonal(
    "log_ndtr",
    sp.log_ndtr,
    # phi(x) / Phi(x) as exp(log phi - log Phi): finite far into the lower tail,
    # where both are below the smallest float.
    lambda g, ans, x: g * np.exp(-(x * x) * 0.5 - LOG_SQRT_2PI - ans),
    "exp(-x^2/2)/(sqrt(2*pi)*Phi(x))",
    "log Phi(x), accurate far into both tails.",
    saves_ans=True,
)

# ------------------------------------------------------------ logistic pair
expit = _diagonal(
    "expit",
    sp.expit,
    lambda g, ans, x: g * (ans * (1 - ans)),
    "expit(x)*(1-expit(x))",
    "The logistic function 1 / (1 + e^-x).",
    saves_ans=True,
)
logit = _diagonal(
    "logit",
    sp.logit,
    lambda g, ans, x: g / (x * (1 - x)),
    "1/(x*(1-x))",
    "log(x / (1 - x)), the inverse of expit.",
)


# ------------------------------------------------------------ Bessel functions
def _jv_forward(v, x):
    return sp.jv(v, x)


def _jv_rule(g, ans, v, x):
    # J_v' = (J_{v-1} - J_{v+1}) / 2 (DLMF 10.6.1)
    return g * ((call(jv, v - 1, x) - call(jv, v + 1, x)) * 0.5)


jv = Primitive(
    "jv",
    _jv_forward,
    vjp=(_order_rule("jv"), _jv_rule),
    jvp=(_order_rule("jv"), _jv_rule),
    formula=("-", "(jv(x-1,y)-jv(x+1,y))/2"),
    doc="The Bessel function of the first kind J_v(x) (scipy.special.jn is this function).",
)


def _yn_forward(n, x):
    return sp.yn(n, x)


def _yn_rule(g, ans, n, x):
    return g * ((call(yn, n - 1, x) - call(yn, n + 1, x)) * 0.5)


yn = Primitive(
    "yn",
    _yn_forward,
    vjp=(_order_rule("yn"), _yn_rule),
    jvp=(_order_rule("yn"), _yn_rule),
    formula=("-", "(yn(x-1,y)-yn(x+1,y))/2"),
    doc="The Bessel function of the second kind Y_n(x) of integer order n.",
)

j0 = _diagonal("j0", sp.j0, lambda g, ans, x: -(g * call(j1, x)), "-j1(x)", "J_0(x).")
j1 = _diagonal(
    "j1",
    sp.j1,
    lambda g, ans, x: g * ((call(j0, x) - call(jv, 2, x)) * 0.5),
    "(j0(x)-jn(2,x))/2",
    "J_1(x).",
)
y0 = _diagonal("y0", sp.y0, lambda g, ans, x: -(g * call(y1, x)), "-y1(x)", "Y_0(x).")
y1 = _diagonal(
    "y1",
    sp.y1,
    lambda g, ans, x: g * ((call(y0, x) - call(yn, 2, x)) * 0.5),
    "(y0(x)-yn(2,x))/2",
    "Y_1(x).",
)


def _iv_forward(v, x):
    out = sp.iv(v, x)
    tiny = np.isnan(out) & (np.abs(x) < 1e-150)
    if np.any(tiny):
        # SciPy's iv is nan near the smallest floats (iv(2, 2.2e-308)), which made
        # i1's derivative nan there; the series' leading term (x/2)^|v| / gamma(|v|+1)
        # (DLMF 10.25.2, I_-n = I_n) is exact in float64 for such x. A non-integer
        # order at a negative x stays nan: the value is complex.
        order = np.where(np.equal(np.round(v), v), np.abs(v), v)
        with np.errstate(all="ignore"):
            series = np.power(np.divide(x, 2.0), order) / sp.gamma(order + 1.0)
        out = np.where(tiny, series, out)
        out = out[()] if out.ndim == 0 else out
    return out


def _iv_rule(g, ans, v, x):
    # I_v' = (I_{v-1} + I_{v+1}) / 2 (DLMF 10.29.1)
    return g * ((call(iv, v - 1, x) + call(iv, v + 1, x)) * 0.5)


iv = Primitive(
    "iv",
    _iv_forward,
    vjp=(_order_rule("iv"), _iv_rule),
    jvp=(_order_rule("iv"), _iv_rule),
    formula=("-", "(iv(x-1,y)+iv(x+1,y))/2"),
    doc="The modified Bessel function of the first kind I_v(x).",
)


def _ive_forward(v, x):
    return sp.ive(v, x)


def _ive_rule(g, ans, v, x):
    # ive = iv e^-|x|, so ive' = (ive(v-1) + ive(v+1)) / 2 - sign(x) ive.
    return g * ((call(ive, v - 1, x) + call(ive, v + 1, x)) * 0.5 - np.sign(x) * call(ive, v, x))


ive = Primitive(
    "ive",
    _ive_forward,
    vjp=(_order_rule("ive"), _ive_rule),
    jvp=(_order_rule("ive"), _ive_rule),
    formula=("-", "(ive(x-1,y)+ive(x+1,y))/2-sign(y)*ive(x,y)"),
    doc="The exponentially scaled modified Bessel function iv(v, x) * exp(-|x|).",
)

i0 = _diagonal("i0", sp.i0, lambda g, ans, x: g * call(i1, x), "i1(x)", "I_0(x).")
i1 = _diagonal(
    "i1",
    sp.i1,
    lambda g, ans, x: g * ((call(i0, x) + call(iv, 2, x)) * 0.5),
    "(i0(x)+iv(2,x))/2",
    "I_1(x).",
)


# ------------------------------------------------------ weighted logsumexp
def _restore(v, axis, keepdims):
    """A reduced result with its axes back as length 1, to broadcast against the input."""
    if keepdims or axis is None:
        return v
    return np.expand_dims(v, axis)


def _logsumexp_b_forward(a, b, axis=None, keepdims=False):
    return sp.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=True)[0]


def _sign_of_sum(a, b, axis, keepdims):
    """The sign of sum(b e^a), a constant (the logsumexp primitive gives log |sum|)."""
    if getattr(a, "_batched", False) or getattr(b, "_batched", False):
        # Inside cr.vmap: the sign per example, from the rule's own operations.
        total = (b * np.exp(a - np.max(a, axis=axis, keepdims=True))).sum(
            axis=axis, keepdims=keepdims
        )
        return _restore(np.sign(total), axis, keepdims)
    raw = [x.data if isinstance(x, Tensor) else x for x in (a, b)]
    s = sp.logsumexp(raw[0], axis=axis, b=raw[1], keepdims=keepdims, return_sign=True)[1]
    return _restore(np.asarray(s), axis, keepdims)


def _weights(ans, a, b, axis, keepdims):
    # d log|S| / d a_i = b_i e^(a_i) / S = sign(S) b_i e^(a_i - log|S|)
    return np.exp(a - _restore(ans, axis, keepdims)) * _sign_of_sum(a, b, axis, keepdims)


logsumexp_b = Primitive(
    "logsumexp_b",
    _logsumexp_b_forward,
    vjp=(
        lambda g, ans, a, b, axis=None, keepdims=False: (
            _restore(g, axis, keepdims) * (b * _weights(ans, a, b, axis, keepdims))
        ),
        lambda g, ans, a, b, axis=None, keepdims=False: (
            _restore(g, axis, keepdims) * _weights(ans, a, b, axis, keepdims)
        ),
    ),
    jvp=(
        lambda t, ans, a, b, axis=None, keepdims=False: (
            t * (b * _weights(ans, a, b, axis, keepdims))
        ).sum(axis=axis, keepdims=keepdims),
        lambda t, ans, a, b, axis=None, keepdims=False: (
            t * _weights(ans, a, b, axis, keepdims)
        ).sum(axis=axis, keepdims=keepdims),
    ),
    formula=("b*exp(a-lse)", "exp(a-lse)"),
    saves_ans=True,
    doc="log |sum(b e^a)| over ``axis``, computed stably (scipy.special.logsumexp with b).",
)

ONE_VARIABLE = (
    digamma,
    gammaln,
    gamma,
    rgamma,
    erfc,
    erfinv,
    erfcinv,
    ndtr,
    log_ndtr,
    expit,
    logit,
    j0,
    j1,
    y0,
    y1,
    i0,
    i1,
)
TWO_VARIABLES = (polygamma, stdtr, beta, betaln, gammainc, gammaincc, betainc, jv, yn, iv, ive)

# Every rule here is elementwise in the tangent: a stack of tangents broadcasts.
# Not "exact": SciPy computes some derivatives (polygamma) in float64 for float32
# input, so the engine casts each gradient back to its input's dtype.
for _prim in ONE_VARIABLE + TWO_VARIABLES:
    _prim.batch = ELEMENTWISE
    _prim.exact = False

__all__ = ["erf", "gammasgn", "logsumexp_b", "not_differentiable"]
__all__ += [p.name for p in ONE_VARIABLE + TWO_VARIABLES]
