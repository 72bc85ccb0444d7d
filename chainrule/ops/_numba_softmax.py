"""The softmax over the last axis and its rule, float32, as compiled loops (numba;
see :mod:`chainrule.ops.compiled`).

NumPy's path makes five passes forward (the rows' maxima, the shift, its float32
exp, which is not vectorised on AVX2, the sums, the division) and three backward;
here each row is read once or twice while in cache, with
:func:`~chainrule.ops._numba_math.exp32`. Measured on the AMD EPYC of
BENCHMARKS.md, one thread: attention weights (128, 4, 16, 16) 329 against 464 us
forward and 62 against 129 us for the rule; (256, 1000) 277 against 593 us and
50 against 222 us. The rows' sums are reassociated (``reassoc``), so they differ
from NumPy's in float32's last bits.

NaN and infinities as NumPy's path gives them: a NaN in a row makes the row NaN;
+inf makes it NaN (inf - inf); ``safe`` (``safe_softmax``): a row that is -inf
throughout gets 0s, else NaN.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from chainrule.ops._numba_math import COMPILE, exp32

_SUMS = dict(COMPILE, fastmath={"contract", "reassoc"})
_ZERO, _ONE, _NEG_INF = np.float32(0.0), np.float32(1.0), np.float32(-np.inf)


@njit(**_SUMS)
def softmax_rows(x, out, safe):
    """``out`` = softmax of each row of ``x`` (rows, n)."""
    rows, n = x.shape
    for r in range(rows):
        m = _NEG_INF
        nan = False
        for j in range(n):
            xj = x[r, j]
            nan |= xj != xj
            if xj > m:
                m = xj
        if nan:
            m = np.float32(np.nan)  # as NumPy's max: the whole row NaN
        elif safe and m == _NEG_INF:
            m = _ZERO  # masked throughout: every exp(-inf) is 0
        total = _ZERO
        for j in range(n):
            e = exp32(x[r, j] - m)
            out[r, j] = e
            total += e
        if safe and total == _ZERO:
            total = _ONE
        inv = _ONE / total
        for j in range(n):
            out[r, j] *= inv


@njit(**_SUMS)
def softmax_rule_rows(v, p, out):
    """``out = p (v - sum(v p))`` row by row: the softmax's Jacobian times ``v``."""
    rows, n = v.shape
    for r in range(rows):
        dot = _ZERO
        for j in range(n):
            dot += v[r, j] * p[r, j]
        for j in range(n):
            out[r, j] = p[r, j] * (v[r, j] - dot)
