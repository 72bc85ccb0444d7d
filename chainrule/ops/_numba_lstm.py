"""The LSTM cell's float32 elementwise work as two compiled loops (numba; see
:mod:`chainrule.ops.compiled`).

Why compiled: per step, NumPy makes about fifteen passes over (H, N) blocks, and
its float32 tanh is not vectorised on AVX2 (191 us for 128 x 512 values on the
2-core AMD EPYC of BENCHMARKS.md, 2.9 ns a value): the forward pass's tanh alone
took 6.7 ms of a 37 ms LSTM step. One loop per step reads each value once, with
:func:`~chainrule.ops._numba_math.tanh32` (28 us for the same block). The sigmoids
are ``(1 + tanh(x / 2)) / 2``, as the NumPy path computes them.
"""

from __future__ import annotations

from numba import njit

from chainrule.ops._numba_math import _HALF, _ONE, COMPILE, tanh32


@njit(**COMPILE)
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


@njit(**COMPILE)
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
