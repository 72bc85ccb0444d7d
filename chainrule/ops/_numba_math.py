"""Float32 functions for the compiled kernels (numba; :mod:`chainrule.ops.compiled`),
written in plain arithmetic so that LLVM vectorises the loops that call them (eight
values per AVX2 instruction). NumPy's own float32 tanh and exp are not vectorised
on the AVX2 machine of BENCHMARKS.md: 2.9 and 1.7 ns a value (``tanh32`` below:
0.43 ns).

``tanh32`` is a rational function of our own fit, ``x P(x^2) / Q(x^2)`` with P of
degree 5 and Q of degree 4 in ``x^2``, its coefficients found by iteratively
reweighted least squares on [0, 9] for the least largest relative error (8.7e-9
evaluated in float64). Evaluated in float32 it is within 6 units in the last place
of the correctly rounded tanh (measured: at most 5.2 over 22 million values in
[-10, 10], mean 0.74; NumPy's own float32 tanh: at most 1.4). Past |x| = 9 the
float32 tanh is 1 to within a unit, so from there on the result is exactly 1 (or
-1); near 9 the rounding could pass 1, so the result is held to [-1, 1]. The
comparisons are written so that a NaN fails them and goes through: a NaN in gives
a NaN out, as np.tanh gives; infinities give -1 and 1.

``exp32`` is the textbook reduction ``e^x = 2^n e^r``, ``n = round(x / ln 2)``,
``r = x - n ln 2`` (ln 2 in two parts, so that ``n ln 2`` is exact), with
``e^r`` by its Taylor polynomial of degree 7 (|r| <= ln 2 / 2: the remainder is
below 2e-9 of e^r) and ``2^n`` written straight into a float's exponent bits.
Below x = -87.3 (where e^x leaves float32's normal numbers) it gives 0, above
88.7 infinity; NaN gives NaN.

Every kernel compiles with ``error_model="numpy"`` (no Python division-by-zero
check, which would keep a loop from vectorising) and ``fastmath`` limited to fused
multiply-adds (``contract``): no flag that assumes away NaNs or infinities.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_f = np.float32
# tanh(x) ~ x P(s) / Q(s), s = x^2 (see the module doc)
_P0, _P1, _P2 = _f(9.99999997e-01), _f(1.36488412e-01), _f(3.82986960e-03)
_P3, _P4, _P5 = _f(2.72616689e-05), _f(2.89155509e-08), _f(-1.10788201e-11)
_Q1, _Q2 = _f(4.69821694e-01), _f(2.71038409e-02)
_Q3, _Q4 = _f(3.87188907e-04), _f(1.23690372e-06)
_LIMIT, _ONE, _HALF = _f(9.0), _f(1.0), _f(0.5)

COMPILE = {"nogil": True, "error_model": "numpy", "fastmath": {"contract"}, "cache": True}


@njit(inline="always")
def tanh32(x):
    if x > _LIMIT:
        x = _LIMIT
    if x < -_LIMIT:
        x = -_LIMIT
    s = x * x
    p = x * (_P0 + s * (_P1 + s * (_P2 + s * (_P3 + s * (_P4 + s * _P5)))))
    q = _ONE + s * (_Q1 + s * (_Q2 + s * (_Q3 + s * _Q4)))
    r = p / q
    if r > _ONE or x == _LIMIT:
        r = _ONE
    if r < -_ONE or x == -_LIMIT:
        r = -_ONE
    return r


_LOG2E = _f(1.4426950408889634)
_LN2_HI, _LN2_LO = _f(0.693145751953125), _f(1.428606765330187e-06)
_EXP_LOW, _EXP_HIGH = _f(-87.33654), _f(88.72283)
# 1/k! for k = 2..7
_E2, _E3, _E4 = _f(1 / 2), _f(1 / 6), _f(1 / 24)
_E5, _E6, _E7 = _f(1 / 120), _f(1 / 720), _f(1 / 5040)
_ZERO, _INF = _f(0.0), _f(np.inf)


@njit(inline="always")
def exp32(x):
    y = x
    if y < _EXP_LOW:
        y = _EXP_LOW
    if y > _EXP_HIGH:
        y = _EXP_HIGH
    n = np.floor(y * _LOG2E + _HALF)
    r = y - n * _LN2_HI
    r = r - n * _LN2_LO
    p = _ONE + r * (_ONE + r * (_E2 + r * (_E3 + r * (_E4 + r * (_E5 + r * (_E6 + r * _E7))))))
    k = np.int32(n)
    # 2^n as (2^(n-1)) 2 for n > 0: 2^128 (x near 88.7) has no float32 exponent
    up = k > np.int32(0)
    if up:
        k = k - np.int32(1)
    out = p * np.int32((k + np.int32(127)) << np.int32(23)).view(np.float32)
    if up:
        out = out + out
    if x < _EXP_LOW:
        out = _ZERO
    if x > _EXP_HIGH:
        out = _INF
    return out


@njit(**COMPILE)
def tanh_into(x, out):
    """``out[k] = tanh32(x[k])`` over flat contiguous arrays (for the tests)."""
    for k in range(x.size):
        out[k] = tanh32(x[k])


@njit(**COMPILE)
def exp_into(x, out):
    """``out[k] = exp32(x[k])`` over flat contiguous arrays (for the tests)."""
    for k in range(x.size):
        out[k] = exp32(x[k])
