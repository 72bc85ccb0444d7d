"""The LSTM cell's float32 elementwise work as two compiled loops (numba; see
:mod:`chainrule.ops.compiled`).

Why compiled: per step, NumPy makes about fifteen passes over (H, N) blocks, and
its float32 tanh is not vectorised on AVX2 (191 us for 128 x 512 values on the
2-core AMD EPYC of BENCHMARKS.md, 2.9 ns a value): the forward pass's tanh alone
took 6.7 ms of a 37 ms LSTM step. Two passes per step forward (the gates, then the
cell) and one back read each value once or twice while it is in cache, with
:func:`~chainrule.ops._numba_math.tanh32` (28 us for the same block). The sigmoids
are ``(1 + tanh(x / 2)) / 2``, as the NumPy path computes them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from chainrule.ops._numba_math import _HALF, _ONE, COMPILE, tanh32

_U0, _U1, _U2, _U3, _U4 = (np.uint64(i) for i in range(5))


@njit(inline="always")
def _cell(gates, c_prev, c_new, tanh_c, hs, col):
    """The cell from the step's gates (4H, N): c_t into ``c_new``, tanh(c_t) into
    ``tanh_c`` and h_t into ``hs[:, col]`` of an (H, columns, N) array (a 3-D array,
    so that the inner loop's stride is known to be one and LLVM vectorises it)."""
    hidden, n = c_prev.shape
    h = np.uint64(hidden)
    for j in range(h):
        for k in range(np.uint64(n)):
            c = gates[h + j, k] * c_prev[j, k] + gates[j, k] * gates[_U2 * h + j, k]
            c_new[j, k] = c
            tc = tanh32(c)
            tanh_c[j, k] = tc
            hs[j, col, k] = gates[_U3 * h + j, k] * tc


@njit(**COMPILE)
def cell_forward(a, x, c_prev, c_new, tanh_c, h_new):
    """One step forward, feature-major: ``a`` (4H, N) holds h_{t-1}'s product with
    W_hh and is overwritten with the gates' activations (i, f, g, o); ``x`` (4H, N)
    is the step's input projection; c_prev, c_new, tanh_c and h_new are (H, N).
    Two passes, as :func:`sequence_cell_forward`: the gates over ``a`` and ``x``
    alone, then the cell."""
    hidden, n = c_prev.shape
    h, m = np.uint64(hidden), np.uint64(n)
    flat, add = a.reshape(-1), x.reshape(-1)  # both C-contiguous (4H, N) blocks
    block = h * m
    for q in range(_U2 * block):  # i and f
        flat[q] = _HALF + _HALF * tanh32(_HALF * (flat[q] + add[q]))
    for q in range(_U2 * block, _U3 * block):  # g
        flat[q] = tanh32(flat[q] + add[q])
    for q in range(_U3 * block, _U4 * block):  # o
        flat[q] = _HALF + _HALF * tanh32(_HALF * (flat[q] + add[q]))
    _cell(a, c_prev, c_new, tanh_c, h_new.reshape(hidden, 1, n), _U0)


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


# The whole-sequence loop of lstm_fused (chainrule.ops.recurrent_fused_loop): the same
# cell, but the step's h goes into column t + 1 of an (H, L + 2, N) array and the
# gates' gradients into column t of a (4H, L, N) one, the layouts in which the
# weight gradients are one GEMM over all steps. Indexing a 3-D array by the step,
# rather than passing its strided (H, N) slice, keeps the inner loop's stride known
# to be one, so that LLVM vectorises it. The step t is checked by the caller.


@njit(**COMPILE)
def sequence_cell_forward(a, c_prev, c_new, tanh_c, hs, t):
    """Step ``t`` forward: ``a`` (4H, N) holds the step's input projection plus
    W_hh h_{t-1} and is overwritten with the gates (i, f, g, o); writes c_t into
    ``c_new``, tanh(c_t) into ``tanh_c`` and h_t into ``hs[:, t + 1]``.

    In two passes: the gates over ``a`` alone (flat, in place), then the cell. One
    pass that reads and writes all four gates and five other arrays ran at a third
    of the vectorised tanh's speed (94 against 66 us for H = N = 128): the first
    pass touches one array only, which LLVM vectorises without alias checks."""
    hidden, n = c_prev.shape
    h, m = np.uint64(hidden), np.uint64(n)
    flat = a.reshape(-1)  # a is C-contiguous: a row of acts (L, 4H, N)
    block = h * m
    for q in range(_U2 * block):  # i and f
        flat[q] = _HALF + _HALF * tanh32(_HALF * flat[q])
    for q in range(_U2 * block, _U3 * block):  # g
        flat[q] = tanh32(flat[q])
    for q in range(_U3 * block, _U4 * block):  # o
        flat[q] = _HALF + _HALF * tanh32(_HALF * flat[q])
    _cell(a, c_prev, c_new, tanh_c, hs, np.uint64(t) + _U1)


@njit(**COMPILE)
def sequence_cell_backward(gates, tanh_c, c_prev, dh, dc, live, gh, da, t):
    """Step ``t`` back: as :func:`cell_backward`, with only an h gradient ``gh`` of
    the step's own (the packed output's c is the last step's, which the caller puts
    into ``dc`` first), and the gates' pre-activation gradients written into
    ``da[:, t]`` of a (4H, L, N) array."""
    hidden, n = dh.shape
    h = np.uint64(hidden)
    col = np.uint64(t)
    for j in range(h):
        for k in range(np.uint64(n)):
            i = gates[j, k]
            f = gates[h + j, k]
            g = gates[_U2 * h + j, k]
            o = gates[_U3 * h + j, k]
            tc = tanh_c[j, k]
            dh_t = dh[j, k]
            if live:
                dh_t += gh[j, k]
            dc_t = dc[j, k] + dh_t * o * (_ONE - tc * tc)
            da[j, col, k] = dc_t * g * (i * (_ONE - i))
            da[h + j, col, k] = dc_t * c_prev[j, k] * (f * (_ONE - f))
            da[_U2 * h + j, col, k] = dc_t * i * (_ONE - g * g)
            da[_U3 * h + j, col, k] = dh_t * tc * (o * (_ONE - o))
            dc[j, k] = dc_t * f
