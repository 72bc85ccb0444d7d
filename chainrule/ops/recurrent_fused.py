"""One LSTM layer from its raw input, as one primitive that oneDNN's fused LSTM
computes when the ``onednn`` backend is selected (:mod:`chainrule.conv_backend`).

``lstm_fused(x, h0, c0, w_ih, w_hh, b)`` takes the input x (T, N, I), the initial
state h0, c0 (N, H), PyTorch's weights W_ih (4H, I), W_hh (4H, H) and the summed
bias b = b_ih + b_hh (4H,), and returns one packed array (T+1, N, H): rows 0..T-1
the h sequence, row T the last c (the last h is row T-1). That is what oneDNN's
LSTM takes and gives (PyTorch's CPU LSTM is the same primitive), so a float32
layer is one oneDNN call forward and one backward, where :mod:`chainrule.ops.recurrent`
runs a Python loop over the steps.

Where it runs:

* forward: oneDNN when the backend is selected and usable (not a forked child) and
  every array is non-empty float32; else, for float32 arrays with the compiled
  kernels there, their loop (:mod:`chainrule.ops.recurrent_fused_loop`: the input
  projection folded in, the weights' gradients one GEMM each); otherwise NumPy, by
  ``lstm_layer``'s loop after the input projection ``x W_ih^T + b`` (the same
  values within float32 rounding).
* backward, in a plain pass (arrays, nothing records): oneDNN's backward from the
  workspace its forward wrote (kept with the output array, as the max pool's is),
  or the compiled loop's from the arrays its forward kept, where the gradient is
  float32 and the kernels are still on; else ``lstm_layer``'s walk back (its
  forward run again where it did not run before).
* backward in a recorded pass (create_graph, higher orders): written with the
  differentiable primitives (the projection and ``lstm_layer``), so gradients of
  gradients are right; a recorded pass that nothing differentiates (``cr.jit``'s
  trace of a gradient) records one ``lstm_fused_grads`` operation instead.
* forward mode: ``lstm_layer``'s push-forward, on the NumPy path.

All six gradients come from one backward run: the first rule keeps them for the
other five (keyed by the very ``g`` and ``ans`` objects, as ``lstm_layer`` does).
"""

from __future__ import annotations

import weakref

import numpy as np

from chainrule import conv_backend
from chainrule.ops import recurrent as _rec
from chainrule.ops import recurrent_fused_loop as _loop
from chainrule.ops import saved
from chainrule.ops.errors import InputError, refuse_differentiation
from chainrule.ops.primitive import Primitive, StepCache, call, pass_is_differentiated


class LstmShapeError(InputError, ValueError):
    """lstm_fused's arrays do not fit together."""


def _check(x, h0, c0, w_ih, w_hh, b) -> tuple[int, int, int, int]:
    if np.ndim(x) != 3:
        raise LstmShapeError(f"lstm_fused: x must be (T, N, I), got shape {np.shape(x)}")
    steps, n, inputs = x.shape
    if steps == 0:
        raise LstmShapeError("lstm_fused: x has no time steps (T = 0); it needs at least one")
    hidden = np.shape(w_hh)[-1] if np.ndim(w_hh) == 2 else -1
    want = {
        "h0": (np.shape(h0), (n, hidden)),
        "c0": (np.shape(c0), (n, hidden)),
        "w_ih": (np.shape(w_ih), (4 * hidden, inputs)),
        "w_hh": (np.shape(w_hh), (4 * hidden, hidden)),
        "b": (np.shape(b), (4 * hidden,)),
    }
    for name, (got, expected) in want.items():
        if tuple(got) != expected:
            raise LstmShapeError(
                f"lstm_fused: {name} must be {expected} for x {tuple(x.shape)} and H = "
                f"{hidden}, got {tuple(got)}"
            )
    return steps, n, inputs, hidden


# ----------------------------------------------------------------- forward
#: What each forward kept for the backward of its output (chainrule.ops.saved: a row
#: serves only a backward of that forward's very inputs): oneDNN's (workspace,
#: plan); the NumPy path's (xproj, lstm_layer's output); the compiled loop's
#: recurrent_fused_loop.Saved.
_workspaces: dict[int, tuple] = {}
_numpy_saved: dict[int, tuple] = {}
_loop_saved: dict[int, tuple] = {}


#: Workspaces of freed outputs, by plan, for the next forward of the same geometry:
#: a fresh one of several MB would be faulted in page by page at each step (measured
#: on B6: the forward took 14 ms instead of 8). One is handed back only once its
#: output is gone, when no backward pass can read it any more.
_spare: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SPARES = 2


def _spare_workspace(kept: tuple) -> None:
    """A freed output's workspace, kept for the next forward of its plan."""
    if _spare is None:  # interpreter shutdown: this module's globals are gone
        return
    workspace, plan = kept
    spares = _spare.setdefault(plan, [])
    if len(spares) < _SPARES:
        spares.append(workspace)


def _on_onednn(*arrays: np.ndarray) -> bool:
    return conv_backend.takes(*arrays) and arrays[0].ndim == 3


def _forward(x, h0, c0, w_ih, w_hh, b):
    steps, n, inputs, hidden = _check(x, h0, c0, w_ih, w_hh, b)
    args = (x, h0, c0, w_ih, w_hh, b)
    if _on_onednn(*args):
        plan = conv_backend._planner.lstm(steps, n, inputs, hidden)
        out = np.empty((steps + 1, n, hidden), dtype=np.float32)
        h_last = np.empty((n, hidden), dtype=np.float32)
        spares = _spare.get(plan)
        workspace = spares.pop() if spares else np.empty(plan.workspace_bytes, dtype=np.uint8)
        plan.forward(*map(np.ascontiguousarray, args), out[:steps], h_last, out[steps], workspace)
        saved.keep(_workspaces, out, args, (workspace, plan), _spare_workspace)
        return out
    cells = _loop.kernels_for(*args)
    if cells is not None:
        out, loop_saved = _loop.forward(*args, cells)
        saved.keep(_loop_saved, out, args, loop_saved)
        return out
    xproj, ys = _numpy_layer(x, h0, c0, w_ih, w_hh, b)
    out = _pack(ys, hidden)
    saved.keep(_numpy_saved, out, args, (xproj, ys))
    return out


def _projection(x, w_ih, b):
    """x W_ih^T + b, (T, N, 4H), as a view of a (T, 4H, N) array: the layout
    lstm_layer's loop reads without a copy (as nn.LSTM's input projection)."""
    return (np.matmul(w_ih, x.swapaxes(1, 2)) + b[:, None]).swapaxes(1, 2)


def _numpy_layer(x, h0, c0, w_ih, w_hh, b):
    xproj = _projection(x, w_ih, b)
    return xproj, call(_rec.lstm_layer, xproj, h0, c0, w_hh)


def _pack(ys, hidden):
    """lstm_layer's [h_t, c_t] (T, N, 2H) as (T+1, N, H): the h sequence, then the last c."""
    return np.concatenate([ys[..., :hidden], ys[-1:, :, hidden:]], axis=0)


# ----------------------------------------------------------------- reverse mode
def _layer_gradient(g, hidden):
    """The packed output's gradient as lstm_layer's (T, N, 2H): h rows as they are,
    c zero but at the last step."""
    steps = g.shape[0] - 1
    c_part = np.concatenate([np.zeros((steps - 1, *g.shape[1:]), dtype=g.dtype), g[steps:]])
    return np.concatenate([g[:steps], c_part], axis=-1)


def _sizes(steps, n, inputs, hidden):
    h4 = 4 * hidden
    return (steps * n * inputs, n * hidden, n * hidden, h4 * inputs, h4 * hidden, h4)


def _unpack(flat, steps, n, inputs, hidden):
    shapes = ((steps, n, inputs), (n, hidden), (n, hidden), (4 * hidden, inputs),
              (4 * hidden, hidden), (4 * hidden,))  # fmt: skip
    parts, start = [], 0
    for size, shape in zip(_sizes(steps, n, inputs, hidden), shapes):
        parts.append(flat[start : start + size].reshape(shape))
        start += size
    return parts


def _grads_arrays(g, ans, x, h0, c0, w_ih, w_hh, b):
    """(flat, the six gradients as its views), in a plain backward pass."""
    steps, n, inputs = x.shape
    hidden = w_hh.shape[1]
    args = (x, h0, c0, w_ih, w_hh, b)
    entry = saved.kept(_workspaces, ans, args)
    if entry is not None and g.dtype == np.float32 and conv_backend._usable():
        workspace, plan = entry
        flat = np.empty(sum(_sizes(steps, n, inputs, hidden)), dtype=np.float32)
        grads = _unpack(flat, steps, n, inputs, hidden)
        g = np.ascontiguousarray(g)
        no_h_grad = np.zeros((n, hidden), dtype=np.float32)  # h_T's is row T-1's
        outputs = (ans[:steps], ans[steps - 1], ans[steps])
        plan.backward(
            tuple(map(np.ascontiguousarray, args)),
            outputs,
            (g[:steps], no_h_grad, g[steps]),
            workspace,
            grads,
        )
        return flat, grads
    loop_saved = saved.kept(_loop_saved, ans, args)
    cells = _loop.kernels_for(g, *args) if loop_saved is not None else None
    if cells is not None and g.shape == ans.shape:
        flat = np.empty(sum(_sizes(steps, n, inputs, hidden)), dtype=np.float32)
        grads = _unpack(flat, steps, n, inputs, hidden)
        _loop.gradients(g, loop_saved, w_ih, w_hh, cells, grads)
        return flat, grads
    numpy_saved = saved.kept(_numpy_saved, ans, args)
    if numpy_saved is not None:
        xproj, ys = numpy_saved
    else:  # no usable forward of these inputs (oneDNN's, the loop's): NumPy's again
        xproj, ys = _numpy_layer(x, h0, c0, w_ih, w_hh, b)
    dtype = np.result_type(g, *args)
    dxproj, dh0, dc0, dw_hh = _rec._grads_from_saved(
        _layer_gradient(g, hidden), ys, xproj, h0, c0, w_hh
    )[1]
    flat = np.empty(sum(_sizes(steps, n, inputs, hidden)), dtype=dtype)
    grads = _unpack(flat, steps, n, inputs, hidden)
    np.matmul(dxproj, w_ih, out=grads[0])
    grads[1][...], grads[2][...], grads[4][...] = dh0, dc0, dw_hh
    flat2 = dxproj.reshape(-1, 4 * hidden) if dxproj.flags.c_contiguous else None
    if flat2 is None:
        flat2 = np.ascontiguousarray(dxproj).reshape(-1, 4 * hidden)
    np.matmul(flat2.T, x.reshape(steps * n, inputs), out=grads[3])
    np.sum(flat2, axis=0, out=grads[5])
    return flat, grads


def _grads_recorded(g, ans, x, h0, c0, w_ih, w_hh, b):
    """The six gradients written with recording, differentiable operations: the
    projection and lstm_layer (its own rules walk back), so they can be
    differentiated again."""
    hidden = w_hh.shape[1]
    xproj = x @ w_ih.T + b
    ys = _rec.lstm_layer(xproj, h0, c0, w_hh)
    gy = _layer_gradient(g, hidden)
    dxproj, dh0, dc0, dw_hh = _rec._walk_back(gy, ys, xproj, h0, c0, w_hh, release=True)
    steps, n, inputs = x.shape
    flat_dxproj = dxproj.reshape(steps * n, 4 * hidden)
    dw_ih = flat_dxproj.T @ x.reshape(steps * n, inputs)
    return [dxproj @ w_ih, dh0, dc0, dw_ih, dw_hh, flat_dxproj.sum(axis=0)]


_step = StepCache()


def _all_grads(g, ans, *args, release=False):
    """The six gradients, once per backward step (``release``: its last call)."""
    return _step.once(g, ans, lambda: _all_grads_any(g, ans, *args), release)


def _all_grads_any(g, ans, *args):
    if type(g) is np.ndarray and all(type(a) is np.ndarray for a in args):
        return _grads_arrays(g, ans, *args)[1]
    if not pass_is_differentiated():
        flat = call(lstm_fused_grads, g, ans, *args)
        steps, n, inputs = args[0].shape
        return _unpack(flat, steps, n, inputs, args[4].shape[1])
    return _grads_recorded(g, ans, *args)


def _vjp(k):
    def rule(g, ans, x, h0, c0, w_ih, w_hh, b):
        # b's rule runs last: the step's gradients are let go after it.
        return _all_grads(g, ans, x, h0, c0, w_ih, w_hh, b, release=k == 5)[k]

    return rule


# ----------------------------------------------------------------- forward mode
def _jvp(k):
    def rule(t, ans, x, h0, c0, w_ih, w_hh, b):
        hidden = w_hh.shape[1]
        xproj, ys = _numpy_layer(x, h0, c0, w_ih, w_hh, b)
        extra = dh = dc = None
        if k == 0:
            extra = lambda s: t[s] @ w_ih.T  # noqa: E731
        elif k == 1:
            dh = t
        elif k == 2:
            dc = t
        elif k == 3:
            extra = lambda s: x[s] @ t.T  # noqa: E731
        elif k == 4:
            h_prev = _rec._previous(ys[..., :hidden], h0)
            extra = lambda s: h_prev[s] @ t.T  # noqa: E731
        else:
            extra = lambda s: t  # noqa: E731  (broadcast over the batch)
        return _pack(_rec._push_forward(ys, xproj, h0, c0, w_hh, extra, dh, dc), hidden)

    return rule


lstm_fused = Primitive(
    "lstm_fused",
    _forward,
    vjp=tuple(_vjp(k) for k in range(6)),
    jvp=tuple(_jvp(k) for k in range(6)),
    formula=("d/dx (BPTT)", "d/dh0", "d/dc0", "d/dW_ih", "d/dW_hh", "d/db"),
    saves_ans=True,
    doc="One LSTM layer from its input: x (T, N, I), h0 and c0 (N, H), W_ih (4H, I), "
    "W_hh (4H, H), b = b_ih + b_hh (4H,) -> (T+1, N, H): every step's h, then the last "
    "c. oneDNN's fused LSTM computes it with the onednn backend (float32).",
)


_not_differentiated = refuse_differentiation("lstm_fused_grads", "lstm_fused")


lstm_fused_grads = Primitive(
    "lstm_fused_grads",
    lambda g, ans, x, h0, c0, w_ih, w_hh, b: _grads_arrays(g, ans, x, h0, c0, w_ih, w_hh, b)[0],
    vjp=(_not_differentiated,) * 8,
    jvp=(_not_differentiated,) * 8,
    formula=("not differentiated",) * 8,
    doc="lstm_fused's six gradients (x, h0, c0, W_ih, W_hh, b) raveled into one array: "
    "its backward pass in one operation, for a backward pass that nothing "
    "differentiates (cr.jit compiles it; oneDNN's backward from the saved workspace).",
)
