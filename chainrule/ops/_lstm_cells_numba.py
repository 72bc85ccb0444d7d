"""The LSTM cell's float32 elementwise work as two compiled loops (numba): the body
of :mod:`chainrule.ops.lstm_cells`, imported only when numba is there and a float32
LSTM first runs (importing numba takes half a second).

Why compiled: per step, NumPy makes about fifteen passes over (H, N) blocks, and
its float32 tanh is not vectorised on AVX2 (191 us for 128 x 512 values on the
2-core AMD EPYC of BENCHMARKS.md, 2.9 ns a value): the forward pass's tanh alone
took 6.7 ms of a 37 ms LSTM step. One loop per step reads each value once, and the
tanh below, plain arithmetic, vectorises (eight values per AVX2 instruction:
28 us for the same block).

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

The sigmoids are ``(1 + tanh(x / 2)) / 2``, as the NumPy path computes them.
``error_model="numpy"`` drops Python's division-by-zero check (it would keep the
loop from vectorising; the denominator is at least 1 anyway); ``fastmath`` only
allows fused multiply-adds (``contract``): no flag that assumes away NaNs or
infinities.
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

_COMPILE = {"nogil": True, "error_model": "numpy", "fastmath": {"contract"}, "cache": True}


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


@njit(**_COMPILE)
def tanh_into(x, out):
    """``out[k] = tanh32(x[k])`` over flat contiguous arrays (for the tests)."""
    for k in range(x.size):
        out[k] = tanh32(x[k])


@njit(**_COMPILE)
def cell_forward(a, x, c_prev, c_new, tanh_c, h_new):
    """One step forward, feature-major: ``a`` (4H, N) holds h_{t-1}'s product with
    W_hh and is overwritten with the gates' activations (i, f, g, o); ``x`` (4H, N)
    is the step's input projection; c_prev, c_new, tanh_c and h_new are (H, N)."""
    hidden, n = c_prev.shape
    for j in range(hidden):
        for k in range(n):
            i = _HALF + _HALF * tanh32(_HALF * (a[j, k] + x[j, k]))
            f = _HALF + _HALF * tanh32(_HALF * (a[hidden + j, k] + x[hidden + j, k]))
            g = tanh32(a[2 * hidden + j, k] + x[2 * hidden + j, k])
            o = _HALF + _HALF * tanh32(_HALF * (a[3 * hidden + j, k] + x[3 * hidden + j, k]))
            a[j, k] = i
            a[hidden + j, k] = f
            a[2 * hidden + j, k] = g
            a[3 * hidden + j, k] = o
            c = f * c_prev[j, k] + i * g
            c_new[j, k] = c
            tc = tanh32(c)
            tanh_c[j, k] = tc
            h_new[j, k] = o * tc


@njit(**_COMPILE)
def cell_backward(gates, tanh_c, c_prev, dh, dc, live, gh, gc, da):
    """One step back, feature-major: from the step's gates (4H, N), tanh(c_t) and
    c_{t-1}, the gradient ``dh`` reaching h_t from the next step and ``dc`` (dc_{t+1}
    f_{t+1}), plus the step's own output gradients ``gh``/``gc`` when ``live``:
    writes the gates' pre-activation gradients into ``da`` (4H, N) and leaves
    ``dc_t f_t`` in ``dc`` for the step before."""
    hidden, n = dh.shape
    for j in range(hidden):
        for k in range(n):
            i = gates[j, k]
            f = gates[hidden + j, k]
            g = gates[2 * hidden + j, k]
            o = gates[3 * hidden + j, k]
            t = tanh_c[j, k]
            dh_t = dh[j, k]
            dc_t = dc[j, k]
            if live:
                dh_t += gh[j, k]
                dc_t += gc[j, k]
            dc_t += dh_t * o * (_ONE - t * t)
            da[j, k] = dc_t * g * (i * (_ONE - i))
            da[hidden + j, k] = dc_t * c_prev[j, k] * (f * (_ONE - f))
            da[2 * hidden + j, k] = dc_t * i * (_ONE - g * g)
            da[3 * hidden + j, k] = dh_t * t * (o * (_ONE - o))
            dc[j, k] = dc_t * f
