"""Every compiled kernel, in one namespace: what :func:`chainrule.ops.compiled.kernels_for`
hands the primitives (imported only once numba is known to be there)."""

from __future__ import annotations

import numpy as np

from chainrule.ops._numba_conv import col2im, im2col
from chainrule.ops._numba_lstm import (
    cell_backward,
    cell_forward,
    sequence_cell_backward,
    sequence_cell_forward,
)
from chainrule.ops._numba_math import exp_into, tanh_into
from chainrule.ops._numba_norm import layer_norm_backward, layer_norm_forward
from chainrule.ops._numba_pool import max_pool_2x2, max_pool_2x2_scatter
from chainrule.ops._numba_softmax import softmax_rows, softmax_rule_rows

__all__ = [
    "cell_backward",
    "cell_forward",
    "col2im",
    "exp_into",
    "im2col",
    "layer_norm_backward",
    "layer_norm_forward",
    "max_pool_2x2",
    "max_pool_2x2_scatter",
    "sequence_cell_backward",
    "sequence_cell_forward",
    "softmax_rows",
    "softmax_rule_rows",
    "tanh_into",
    "warm_up",
]


def warm_up() -> None:
    """Each kernel once on tiny float32 arrays (compiling it, or loading it from
    numba's cache), with the argument types the primitives pass."""
    a = np.zeros((4, 1), np.float32)
    one = np.zeros((1, 1), np.float32)
    cell_forward(a, a.copy(), one, one.copy(), one.copy(), one.copy())
    cell_backward(a, one, one, one.copy(), one.copy(), False, one, one, a.copy())
    hs, da = np.zeros((1, 3, 1), np.float32), np.zeros((4, 1, 1), np.float32)
    sequence_cell_forward(a.copy(), one, one.copy(), one.copy(), hs, 0)
    sequence_cell_backward(a, one, one, one.copy(), one.copy(), False, one, da, 0)
    row, vec = np.ones((1, 2), np.float32), np.ones(2, np.float32)
    stat = np.ones(1, np.float32)
    layer_norm_forward(row, vec, vec, 1e-5, row.copy(), stat.copy(), stat.copy())
    layer_norm_backward(row, row, vec, stat, stat, row.copy(), np.zeros(2), np.zeros(2))
    softmax_rows(row, row.copy(), True)
    planes, pooled = np.ones((1, 2, 2), np.float32), np.ones((1, 1, 1), np.float32)
    max_pool_2x2(planes, pooled)
    max_pool_2x2_scatter(pooled, planes, pooled, planes.copy())
    image = np.ones((1, 1, 2, 2), np.float32)
    cols = np.empty((1, 4), np.float32)
    im2col(image, 0, 1, 1, 1, 0, 0, 2, 2, cols)
    col2im(cols, 1, 1, 0, 0, 2, 2, image.copy())
    softmax_rule_rows(row, row, row.copy())
