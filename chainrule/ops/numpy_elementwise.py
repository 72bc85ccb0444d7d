"""Elementwise primitives behind ``chainrule.numpy``: NumPy's ufuncs beyond the core set.

Functions of one variable have a diagonal Jacobian, so one rule serves both
modes: the upstream gradient ``g`` (reverse) or the tangent ``t`` (forward)
times the local derivative. Constants in rules are Python floats (``math.log(2)``,
not ``np.log(2)``): NumPy scalars are not weak under NEP 50 and would turn a
float32 gradient into float64.

Points where a derivative is infinite (``cbrt`` at 0, ``arcsin`` at the ends of
its domain) give inf, as ``sqrt`` does at 0, but a zero gradient arriving there
stays 0 (``divide_safely``), so ``np.where(x > 0, np.cbrt(x), 0)`` has gradient 0
at 0, not 0 * inf = NaN. Points where a derivative does not exist but a
subgradient does (``hypot`` and ``arctan2`` at the origin) give 0, never NaN.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from chainrule.ops.elementwise import _diagonal, divide_safely, symmetric_rules
from chainrule.ops.primitive import Primitive, call

LN2 = math.log(2.0)
LN10 = math.log(10.0)
PI = math.pi


def _safe(d):
    """``d`` with zeros replaced by 1: a divisor for points where the numerator is 0 too."""
    return np.where(d == 0, 1, d)


# ------------------------------------------------------ powers, exponentials, logs
square = _diagonal("square", np.square, lambda g, ans, x: g * (x * 2), "2*x", "x^2.")
cbrt = _diagonal(
    "cbrt",
    np.cbrt,
    # 1/(3 x^(2/3)) = 1/(3 cbrt(x)^2): inf at 0, like sqrt.
    lambda g, ans, x: divide_safely(g, (ans * ans) * 3),
    "1/(3*cbrt(x)^2)",
    "Cube root (its derivative is inf at 0).",
    saves_ans=True,
)
reciprocal = _diagonal(
    "reciprocal",
    np.reciprocal,
    lambda g, ans, x: divide_safely(-g, x * x),
    "-1/x^2",
    "1/x.",
)
exp2 = _diagonal(
    "exp2", np.exp2, lambda g, ans, x: g * (ans * LN2), "2^x*log(2)", "2^x.", saves_ans=True
)
expm1 = _diagonal(
    "expm1", np.expm1, lambda g, ans, x: g * (ans + 1), "exp(x)", "e^x - 1, exact near 0.", True
)
log2 = _diagonal(
    "log2", np.log2, lambda g, ans, x: divide_safely(g, x * LN2), "1/(x*log(2))", "Base-2 log."
)
log10 = _diagonal(
    "log10", np.log10, lambda g, ans, x: divide_safely(g, x * LN10), "1/(x*log(10))", "Base-10 log."
)
log1p = _diagonal(
    "log1p",
    np.log1p,
    lambda g, ans, x: divide_safely(g, x + 1),
    "1/(1+x)",
    "log(1 + x), exact near 0.",
)

# ------------------------------------------------------------------ trigonometry
tan = _diagonal(
    "tan", np.tan, lambda g, ans, x: g * (ans * ans + 1), "1+tan(x)^2", "Tangent.", saves_ans=True
)
arcsin = _diagonal(
    "arcsin",
    np.arcsin,
    lambda g, ans, x: divide_safely(g, np.sqrt(1 - x * x)),
    "1/sqrt(1-x^2)",
    "Inverse sine (derivative inf at -1 and 1).",
)
arccos = _diagonal(
    "arccos",
    np.arccos,
    lambda g, ans, x: divide_safely(-g, np.sqrt(1 - x * x)),
    "-1/sqrt(1-x^2)",
    "Inverse cosine (derivative -inf at -1 and 1).",
)
arctan = _diagonal(
    "arctan", np.arctan, lambda g, ans, x: g / (x * x + 1), "1/(1+x^2)", "Inverse tangent."
)
sinh = _diagonal("sinh", np.sinh, lambda g, ans, x: g * np.cosh(x), "cosh(x)", "Hyperbolic sine.")
cosh = _diagonal("cosh", np.cosh, lambda g, ans, x: g * np.sinh(x), "sinh(x)", "Hyperbolic cosine.")
arcsinh = _diagonal(
    "arcsinh",
    np.arcsinh,
    lambda g, ans, x: g / np.sqrt(x * x + 1),
    "1/sqrt(x^2+1)",
    "Inverse hyperbolic sine.",
)
arccosh = _diagonal(
    "arccosh",
    np.arccosh,
    lambda g, ans, x: divide_safely(g, np.sqrt(x * x - 1)),
    "1/sqrt(x^2-1)",
    "Inverse hyperbolic cosine (x >= 1; derivative inf at 1).",
)
arctanh = _diagonal(
    "arctanh",
    np.arctanh,
    lambda g, ans, x: divide_safely(g, 1 - x * x),
    "1/(1-x^2)",
    "Inverse hyperbolic tangent.",
)
fabs = _diagonal(
    "fabs",
    np.fabs,
    lambda g, ans, x: g * np.sign(x),
    "sign(x)",
    "|x| as a float; its derivative at 0 is taken as 0.",
)


# ---------------------------------------------------------------------- sinc
# sinc(x) = sin(pi x)/(pi x). Its derivative (cos(pi x) - sinc(x))/x is 0/0 at 0
# and loses digits near 0, so it is a primitive of its own with a series there;
# its derivative in turn, -pi^2 sinc(x) - 2 sinc'(x)/x, tends to -pi^2/3 at 0.
_SERIES = 1e-3


def _sinc_prime_forward(x):
    small = np.abs(x) < _SERIES
    xs = np.where(small, 1, x)
    exact = (np.cos(PI * xs) - np.sinc(xs)) / xs
    x2 = x * x
    series = x * (-(PI**2) / 3 + x2 * (PI**4 / 30))
    return np.where(small, series, exact)


def _sinc_prime_rule(g, ans, x):
    small = np.abs(x) < _SERIES
    xs = np.where(small, 1, x)
    d2 = -(PI**2) * np.sinc(x) - call(sinc_prime, x) * 2 / xs
    series = x * x * (PI**4 / 10) - PI**2 / 3
    return g * np.where(small, series, d2)


sinc_prime = _diagonal(
    "sinc_prime",
    _sinc_prime_forward,
    _sinc_prime_rule,
    "-pi^2*sinc(x)-2*sinc'(x)/x",
    "The derivative of sinc, (cos(pi x) - sinc(x)) / x, with its limit 0 at x = 0.",
)
sinc = _diagonal(
    "sinc",
    np.sinc,
    lambda g, ans, x: g * call(sinc_prime, x),
    "(cos(pi*x)-sinc(x))/x",
    "sin(pi x) / (pi x), 1 at 0.",
)


# ------------------------------------------------------------- two variables
def _hypot_share(g, ans, a):
    # d hypot / d a = a / hypot; at the origin the subgradient 0 (a = 0 there).
    return g * (a / _safe(ans))


hypot = Primitive(
    "hypot",
    np.hypot,
    vjp=(
        lambda g, ans, x, y: _hypot_share(g, ans, x),
        lambda g, ans, x, y: _hypot_share(g, ans, y),
    ),
    jvp=(
        lambda t, ans, x, y: _hypot_share(t, ans, x),
        lambda t, ans, x, y: _hypot_share(t, ans, y),
    ),
    formula=("x/hypot(x,y)", "y/hypot(x,y)"),
    saves_ans=True,
    doc="sqrt(x^2 + y^2), without overflow; gradient 0 at the origin.",
)


def _arctan2_y(g, ans, y, x):
    return g * (x / _safe(x * x + y * y))


def _arctan2_x(g, ans, y, x):
    return -(g * (y / _safe(x * x + y * y)))


arctan2 = Primitive(
    "arctan2",
    np.arctan2,
    vjp=(_arctan2_y, _arctan2_x),
    jvp=(_arctan2_y, _arctan2_x),
    formula=("x/(x^2+y^2)", "-y/(x^2+y^2)"),
    doc="The angle of the point (x, y): arctan2(y, x); gradient 0 at the origin.",
)


def _logaddexp_share(g, ans, mine, other):
    return g * np.exp(mine - ans)


_LOGADDEXP_RULES = symmetric_rules(_logaddexp_share)


logaddexp = Primitive(
    "logaddexp",
    np.logaddexp,
    vjp=_LOGADDEXP_RULES,
    jvp=_LOGADDEXP_RULES,
    formula=("exp(x-logaddexp(x,y))", "exp(y-logaddexp(x,y))"),
    saves_ans=True,
    doc="log(e^x + e^y), computed stably.",
)


def _logaddexp2_share(g, ans, mine, other):
    return g * np.exp2(mine - ans)


_LOGADDEXP2_RULES = symmetric_rules(_logaddexp2_share)


logaddexp2 = Primitive(
    "logaddexp2",
    np.logaddexp2,
    vjp=_LOGADDEXP2_RULES,
    jvp=_LOGADDEXP2_RULES,
    formula=("2^(x-logaddexp2(x,y))", "2^(y-logaddexp2(x,y))"),
    saves_ans=True,
    doc="log2(2^x + 2^y), computed stably.",
)


def _nan_ignoring_share(beats):
    """fmax/fmin pass the gradient to the input that ``beats`` the other, or to the
    only one that is not NaN; ties split the gradient evenly."""

    def share(g, ans, mine, other):
        wins = beats(mine, other) | (np.isnan(other) & ~np.isnan(mine))
        return np.where(wins, g, np.where(mine == other, g * 0.5, 0))

    return share


_FMAX_RULES = symmetric_rules(_nan_ignoring_share(operator.gt))
_FMIN_RULES = symmetric_rules(_nan_ignoring_share(operator.lt))

fmax = Primitive(
    "fmax",
    np.fmax,
    vjp=_FMAX_RULES,
    jvp=_FMAX_RULES,
    formula=("[x>y or y=nan] + ½[x=y]", "[y>x or x=nan] + ½[x=y]"),
    doc="Elementwise maximum ignoring NaNs; ties split the gradient evenly.",
)
fmin = Primitive(
    "fmin",
    np.fmin,
    vjp=_FMIN_RULES,
    jvp=_FMIN_RULES,
    formula=("[x<y or y=nan] + ½[x=y]", "[y<x or x=nan] + ½[x=y]"),
    doc="Elementwise minimum ignoring NaNs; ties split the gradient evenly.",
)

remainder = Primitive(
    "remainder",
    np.remainder,
    # x mod y = x - floor(x/y) y: slope 1 in x, -floor(x/y) in y (between the jumps).
    vjp=(lambda g, ans, x, y: g, lambda g, ans, x, y: -(g * np.floor_divide(x, y))),
    jvp=(lambda t, ans, x, y: t, lambda t, ans, x, y: -(t * np.floor_divide(x, y))),
    formula=("1", "-floor(x/y)"),
    doc="x mod y with the sign of y (Python's %); piecewise linear.",
)

# ------------------------------------------- piecewise constant (no derivative)
# Their derivative is 0 wherever it exists: results are constants, as NumPy data.
floor = Primitive("floor", np.floor, differentiable=False, doc="Largest integer <= x.")
ceil = Primitive("ceil", np.ceil, differentiable=False, doc="Smallest integer >= x.")
trunc = Primitive("trunc", np.trunc, differentiable=False, doc="x rounded toward 0.")
rint = Primitive("rint", np.rint, differentiable=False, doc="x rounded to the nearest integer.")
floor_divide = Primitive(
    "floor_divide", np.floor_divide, differentiable=False, doc="floor(x / y) (Python's //)."
)
isinf = Primitive("isinf", np.isinf, differentiable=False, doc="True where +-inf.")
signbit = Primitive("signbit", np.signbit, differentiable=False, doc="True where the sign is -.")
logical_xor = Primitive("logical_xor", np.logical_xor, differentiable=False, doc="x xor y.")


def _round_forward(x, decimals=0):
    return np.round(x, decimals)


round = Primitive(  # noqa: A001 - NumPy's name
    "round", _round_forward, differentiable=False, doc="x rounded to ``decimals`` places."
)

# Holomorphic functions: their real-number rules hold for complex inputs unchanged
# (HIPS autograd's convention, chainrule.ops.complex_parts).
for _prim in (square, reciprocal, exp2, expm1, log2, log10, log1p, tan, arcsin, arccos):
    _prim.complex_rules = True
for _prim in (arctan, sinh, cosh, arcsinh, arccosh, arctanh):
    _prim.complex_rules = True
