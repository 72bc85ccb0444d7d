"""``lstm_fused``'s float32 path on the compiled kernels (numba): one LSTM layer from
its raw input, the input projection folded into the loop's arrays, and the weights'
gradients as one GEMM each over all steps.

Why not the projection, then ``lstm_layer``: that path writes every step's input
projection (L, 4H, N) and reads it back in the loop, then writes the gates'
gradients in a layout where each weight's gradient takes one small GEMM per step
(28 products of inner size N = 128 for B6's W_hh, added up). Here, measured on
B6's layer (L = 28, N = 128, I = 28, H = 128; two threads, the 2-core AMD EPYC
of BENCHMARKS.md), the backward pass with the three weight and input gradients
took 11.8 ms against 16.6, the forward pass 6.9 ms against 8.3.

The arrays, feature-major as ``lstm_layer``'s (each gate a contiguous (H, N) block):

- ``x1`` (L N, I + 1): the input with a column of ones, so that one product with
  [W_ih | b] gives every step's projection with its bias (adding a bias to
  (L, 4H, N) costs more than that product), and its transpose gives [W_ih | b]'s
  gradient in one more;
- ``acts`` (L, 4H, N): step t's projection, to which the step's GEMM adds
  W_hh h_{t-1} (beta = 1: no second array to read), then the gates (i, f, g, o),
  written in place by the cell (``sequence_cell_forward``);
- ``hs`` (H, L + 2, N): h_0, h_1 .. h_L, then c_L. The packed output (L + 1, N, H)
  is a view of its last L + 1 columns (no copy), and h_0 .. h_{L-1} together are
  one (H, L N) matrix, the second operand of W_hh's gradient;
- ``cs`` (L + 1, H, N): c_0 .. c_L; ``tanh_c`` (L, H, N): tanh(c_t).

Backward, the gates' gradients go into ``da`` (4H, L, N), step by step
(``sequence_cell_backward``); as one (4H, L N) matrix it gives W_hh's, [W_ih | b]'s
and x's gradients in three GEMMs after the loop, of inner size L N.

The products are the GEMM backend's (:mod:`chainrule.gemm_backend`). The kernels
do no bounds checks: every array they are given is made here, of the shapes the
forward pass's checks (``recurrent_fused._check``) allow.
"""

from __future__ import annotations

from types import ModuleType
from typing import NamedTuple

import numpy as np

from chainrule import buffer_pool, gemm_backend
from chainrule.ops import compiled

_F32 = np.dtype(np.float32)


def _empty(*shape: int) -> np.ndarray:
    """A float32 array of the loop's, whose memory an earlier step's (dead) array of
    the same size may have held (:mod:`chainrule.buffer_pool`: reused only once no
    view of it is left): fresh pages cost a fault each (see ``STEP_MIN_BYTES``)."""
    return buffer_pool.empty(shape, _F32, buffer_pool.STEP_MIN_BYTES)


class Saved(NamedTuple):
    """What the forward pass keeps for the backward pass (see the module doc)."""

    x1: np.ndarray
    acts: np.ndarray
    hs: np.ndarray
    cs: np.ndarray
    tanh_c: np.ndarray


def kernels_for(*arrays: object) -> ModuleType | None:
    """The compiled kernels where this path serves these arrays (every one a plain
    float32 NumPy array, of any layout: the path copies what it reads), else None."""
    if all(type(a) is np.ndarray and a.dtype == _F32 for a in arrays):
        return compiled.kernels_for(_F32)
    return None


def serves(*dtypes: np.dtype) -> bool:
    """Whether a layer whose arrays have these dtypes runs on this path: all float32,
    with the kernels there (what ``nn.LSTM`` asks before it picks ``lstm_fused``)."""
    return all(d == _F32 for d in dtypes) and compiled.kernels_for(_F32) is not None


def forward(x, h0, c0, w_ih, w_hh, b, cells: ModuleType) -> tuple[np.ndarray, Saved]:
    """The packed output (L + 1, N, H): every step's h, then the last c; and what
    the backward pass needs. Shapes as ``recurrent_fused._check`` has them."""
    steps, n, inputs = x.shape
    hidden = w_hh.shape[1]
    x1 = np.empty((steps * n, inputs + 1), _F32)
    x1[:, :inputs].reshape(steps, n, inputs)[...] = x
    x1[:, inputs] = 1
    w1 = np.concatenate([w_ih, b[:, None]], axis=1)
    acts = _empty(steps, 4 * hidden, n)
    gemm_backend.matmul(w1, x1.reshape(steps, n, inputs + 1).swapaxes(1, 2), out=acts)
    hs = _empty(hidden, steps + 2, n)
    hs[:, 0] = h0.T
    cs = _empty(steps + 1, hidden, n)
    cs[0] = c0.T
    tanh_c = _empty(steps, hidden, n)
    # acts[t] += W_hh h_{t-1}
    recurrent = gemm_backend.matmul_steps(w_hh, hs[:, :steps].swapaxes(0, 1), acts, True)
    for t in range(steps):
        recurrent(t)
        cells.sequence_cell_forward(acts[t], cs[t], cs[t + 1], tanh_c[t], hs, t)
    hs[:, steps + 1] = cs[steps]
    return hs[:, 1:].transpose(1, 2, 0), Saved(x1, acts, hs, cs, tanh_c)


def gradients(g, saved: Saved, w_ih, w_hh, cells: ModuleType, grads: list) -> None:
    """Writes the six gradients (x, h0, c0, W_ih, W_hh, b) into ``grads``, given the
    packed output's gradient ``g`` (L + 1, N, H)."""
    x1, acts, hs, cs, tanh_c = saved
    steps, four_h, n = acts.shape
    hidden, inputs = four_h // 4, x1.shape[1] - 1
    da = _empty(four_h, steps, n)
    dh = np.zeros((hidden, n), _F32)
    dc = np.empty((hidden, n), _F32)
    dc[...] = g[steps].T  # the last c's gradient, from the step after the last
    gh = np.empty((hidden, n), _F32)
    # Only the steps whose h has a gradient add it (a loss on the last h has one).
    live = np.any(g[:steps], axis=(1, 2))
    # dh = W_hh^T da_t, the gradient reaching h_{t-1}
    back = gemm_backend.matmul_steps(np.ascontiguousarray(w_hh.T), da.swapaxes(0, 1), dh)
    for t in range(steps - 1, -1, -1):
        if live[t]:
            gh[...] = g[t].T
        cells.sequence_cell_backward(acts[t], tanh_c[t], cs[t], dh, dc, bool(live[t]), gh, da, t)
        back(t)
    flat_da = da.reshape(four_h, steps * n)
    matmul = gemm_backend.matmul
    matmul(flat_da, hs[:, :steps].reshape(hidden, steps * n).T, out=grads[4])
    dw1 = matmul(flat_da, x1)
    grads[3][...] = dw1[:, :inputs]
    grads[5][...] = dw1[:, inputs]
    matmul(flat_da.T, w_ih, out=grads[0].reshape(steps * n, inputs))
    grads[1][...] = dh.T
    grads[2][...] = dc.T
