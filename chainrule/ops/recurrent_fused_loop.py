"""``lstm_fused``'s float32 path on the compiled kernels (numba): one LSTM layer from
its raw input, the input projection folded into each step's GEMM, and the weights'
gradients as one GEMM over all steps.

Why not the projection, then ``lstm_layer``: that path writes every step's input
projection (L, 4H, N) and reads it back in the loop, then writes the gates'
gradients in a layout where each weight's gradient takes one small GEMM per step
(28 products of inner size N = 128 for B6's W_hh, added up). Here, on B6's layer
(L = 28, N = 128, I = 28, H = 128; ``benchmarks/lstm_layer_paths.py``), forward and
backward from arrays took 0.86 times as long.

The arrays, feature-major as ``lstm_layer``'s (each gate a contiguous (H, N) block):

- ``z`` (H + I + 1, L + 2, N): column t holds what step t multiplies,
  [h_{t-1}; x_t; 1], so that a step is one GEMM of [W_hh | W_ih | b] by it (the
  bias comes with the product: adding it to (4H, N) is one more pass). The h rows
  run on: column t + 1 gets step t's h, column L + 1 the last c, so the packed
  output (L + 1, N, H) is a view of the h rows' last L + 1 columns (no copy). The
  first L columns together are one (H + I + 1, L N) matrix, the second operand of
  all three weights' gradients at once;
- ``acts`` (L, 4H, N): step t's pre-activations, then its gates (i, f, g, o),
  written in place by the cell (``sequence_cell_forward``);
- ``cs`` (L + 1, H, N): c_0 .. c_L; ``tanh_c`` (L, H, N): tanh(c_t).

Backward, the gates' gradients go into ``da`` (4H, L, N), step by step
(``sequence_cell_backward``); as one (4H, L N) matrix it gives [W_hh | W_ih | b]'s
gradient and x's in two GEMMs after the loop, of inner size L N and 4H.

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

    z: np.ndarray
    acts: np.ndarray
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
    z = _empty(hidden + inputs + 1, steps + 2, n)
    z[:hidden, 0] = h0.T
    z[hidden:-1, :steps] = x.transpose(2, 0, 1)
    z[-1, :steps] = 1
    z[hidden:, steps:] = 0  # never read; written, as the pool asks of its arrays
    w_all = np.concatenate([w_hh, w_ih, b[:, None]], axis=1)
    acts = _empty(steps, 4 * hidden, n)
    cs = _empty(steps + 1, hidden, n)
    cs[0] = c0.T
    tanh_c = _empty(steps, hidden, n)
    # acts[t] = [W_hh | W_ih | b] [h_{t-1}; x_t; 1]
    product = gemm_backend.matmul_steps(w_all, z[:, :steps].swapaxes(0, 1), acts)
    for t in range(steps):
        product(t)
        cells.sequence_cell_forward(acts[t], cs[t], cs[t + 1], tanh_c[t], z, t)
    z[:hidden, steps + 1] = cs[steps]
    return z[:hidden, 1:].transpose(1, 2, 0), Saved(z, acts, cs, tanh_c)


def gradients(g, saved: Saved, w_ih, w_hh, cells: ModuleType, grads: list) -> None:
    """Writes the six gradients (x, h0, c0, W_ih, W_hh, b) into ``grads``, given the
    packed output's gradient ``g`` (L + 1, N, H)."""
    z, acts, cs, tanh_c = saved
    steps, four_h, n = acts.shape
    hidden, inputs = four_h // 4, w_ih.shape[1]
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
    # [W_hh | W_ih | b]'s gradient: sum over steps of da_t [h_{t-1}; x_t; 1]^T
    w_all = matmul(flat_da, z[:, :steps].reshape(z.shape[0], steps * n).T)
    grads[4][...] = w_all[:, :hidden]
    grads[3][...] = w_all[:, hidden:-1]
    grads[5][...] = w_all[:, -1]
    matmul(flat_da.T, w_ih, out=grads[0].reshape(steps * n, inputs))
    grads[1][...] = dh.T
    grads[2][...] = dc.T
