"""The LSTM recurrence over a whole sequence, as one primitive.

``lstm_layer(xproj, h0, c0, w_hh)`` runs one layer in one direction. ``xproj``
holds every step's input projection ``x_t W_ih^T + b_ih + b_hh`` (made by one GEMM
before the loop); each step adds ``h_{t-1} W_hh^T`` (one GEMM for the four gates)
and applies PyTorch's cell, gates in its order i, f, g, o::

    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    c_t = f c_{t-1} + i g;   h_t = o tanh(c_t)

The output, shaped (L, N, 2H), holds ``[h_t, c_t]`` of every step.

Why one primitive for the whole sequence: composed per step, each step's slice of
``xproj`` sends back a gradient the size of all of ``xproj`` (an index's adjoint is
a scatter into zeros), and each step costs a dozen graph nodes. Here the backward
pass recomputes the gates of all steps with one GEMM and a few vectorised calls,
then walks back through time doing only what the recurrence needs (one GEMM and a
few elementwise calls per step); ``W_hh``'s gradient is one GEMM over all steps
(in a plain backward pass, one per step, added up while the step is in cache).

Memory layout: the arrays of the plain forward and backward passes are
feature-major, a step's gates (4H, N) and its state (2H, N), so that each gate is
one contiguous (H, N) block and each of the two dozen elementwise calls of a step
is one flat loop (on (N, H) column slices of (N, 4H) rows NumPy runs one inner
loop per row, 2.5x slower at N = H = 128). The output is a (L, N, 2H) view of that
(L, 2H, N) array; nn.LSTM hands ``xproj`` over as a view of a (L, 4H, N) array
(read without a copy; any other layout is copied once) and takes its gradient back
in that layout.

The four inputs' gradients come from that one walk back, so it runs once per
backward visit: the first rule to run keeps its result for the others (keyed by
the very ``g`` and ``ans`` objects, as custom Functions do). The rules are written
with operations that also take Tensors, so gradients of gradients work.
"""

from __future__ import annotations

import numpy as np

from chainrule import gemm_backend
from chainrule.ops import activations as _act
from chainrule.ops import compiled, saved
from chainrule.ops.errors import refuse_differentiation
from chainrule.ops.primitive import Primitive, StepCache, call, pass_is_differentiated


def _sigmoid_inplace(a: np.ndarray) -> np.ndarray:
    # 1 / (1 + e^-x): e^-x overflows to inf for x < -88 (float32), giving 0 exactly.
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)
    return a


def _gates_inplace(a: np.ndarray, hidden: int) -> None:
    """The four gates' activations of (4H, N) pre-activations, in place: one tanh
    over all four, the three sigmoids as ``sigmoid(x) = (1 + tanh(x/2)) / 2`` (three
    fewer passes than ``1 / (1 + e^-x)``; it saturates to exactly 0 and 1)."""
    sig_if, sig_o = a[: 2 * hidden], a[3 * hidden :]
    sig_if *= 0.5
    sig_o *= 0.5
    np.tanh(a, out=a)
    for s in (sig_if, sig_o):
        s *= 0.5
        s += 0.5


#: What a forward pass computed on the way, for the backward pass of the same
#: output and inputs (chainrule.ops.saved): (states (L+1, 2H, N) with [h0, c0]
#: first, the gates' activations (L, 4H, N), tanh(c_t) (L, H, N); feature-major,
#: see the module doc). An entry goes with its output array, so it lives exactly as
#: long as the graph's saved output; PyTorch keeps the same (its workspace of gates).
_saved: dict[int, tuple] = {}


def _lstm_forward(xproj, h0, c0, w_hh):
    steps, n, four_h = xproj.shape
    hidden = four_h // 4
    dtype = np.result_type(xproj, h0, c0, w_hh)
    # Feature-major (module doc): nn.LSTM's xproj is a view of a (L, 4H, N) array;
    # any other layout is copied once.
    x_t = xproj.swapaxes(1, 2)
    if not x_t.flags.c_contiguous:
        x_t = np.ascontiguousarray(x_t)
    states = np.empty((steps + 1, 2 * hidden, n), dtype=dtype)
    states[0, :hidden] = h0.T
    states[0, hidden:] = c0.T
    acts = np.empty((steps, four_h, n), dtype=dtype)
    tanh_c = np.empty((steps, hidden, n), dtype=dtype)
    tmp = np.empty((hidden, n), dtype=dtype)
    w = w_hh if w_hh.dtype == dtype else w_hh.astype(dtype)
    # acts[t] = W_hh h_{t-1}, by the GEMM backend in use (gemm_backend)
    recurrent_product = gemm_backend.matmul_steps(w, states[:-1, :hidden], acts)
    cells = compiled.kernels_for(dtype) if x_t.dtype == dtype else None
    for t in range(steps):
        a = acts[t]
        recurrent_product(t)
        if cells is not None:  # the step's elementwise work in one compiled loop
            c_prev, new = states[t, hidden:], states[t + 1]
            cells.cell_forward(a, x_t[t], c_prev, new[hidden:], tanh_c[t], new[:hidden])
            continue
        a += x_t[t]
        _gates_inplace(a, hidden)
        g = a[2 * hidden : 3 * hidden]
        c_new = states[t + 1, hidden:]
        np.multiply(a[hidden : 2 * hidden], states[t, hidden:], out=c_new)
        np.multiply(a[:hidden], g, out=tmp)
        c_new += tmp
        np.tanh(c_new, out=tanh_c[t])
        np.multiply(a[3 * hidden :], tanh_c[t], out=states[t + 1, :hidden])
    out = states[1:].swapaxes(1, 2)
    saved.keep(_saved, out, (xproj, h0, c0, w_hh), (states, acts, tanh_c))
    return out


# ------------------------------------------------------------------ shared pieces
def _cat(parts, axis=-1):
    return np.concatenate(parts, axis=axis)


def _previous(seq, first):
    """(L, N, H): ``first`` then every step of ``seq`` but the last."""
    return _cat([first[None], seq[:-1]], axis=0)


def _recompute(ans, xproj, h0, c0, w_hh):
    """Everything the rules need, for all steps at once (no loop)."""
    hidden = h0.shape[-1]
    hs, cs = ans[..., :hidden], ans[..., hidden:]
    h_prev, c_prev = _previous(hs, h0), _previous(cs, c0)
    a = xproj + h_prev @ w_hh.T
    g = np.tanh(a[..., 2 * hidden : 3 * hidden])
    if type(a) is np.ndarray:  # a plain backward pass: in place, a is ours
        with np.errstate(over="ignore"):
            sig = _sigmoid_inplace(a)
    else:
        sig = call(_act.sigmoid, a)
    i, f, o = sig[..., :hidden], sig[..., hidden : 2 * hidden], sig[..., 3 * hidden :]
    return h_prev, c_prev, i, f, g, o, np.tanh(cs)


# ------------------------------------------------------------------ reverse mode
_step = StepCache()


def _walk_back(gy, ans, xproj, h0, c0, w_hh, release=False):
    """The gradients of all four inputs: (d xproj, d h0, d c0, d w_hh), once per
    backward step (``release``: the last call of the step)."""
    return _step.once(gy, ans, lambda: _walk_back_any(gy, ans, xproj, h0, c0, w_hh), release)


def _walk_back_any(gy, ans, xproj, h0, c0, w_hh):
    if type(gy) is np.ndarray:
        return _grads_from_saved(gy, ans, xproj, h0, c0, w_hh)[1]
    if not pass_is_differentiated():
        # A recorded pass that nothing differentiates (cr.jit's trace of a gradient):
        # the arrays' walk, as one recorded operation, instead of the formulas below.
        flat = call(lstm_layer_grads, gy, ans, xproj, h0, c0, w_hh)
        steps, n, four_h = xproj.shape
        return _unpack(flat, _sizes(steps, n, four_h // 4), steps, n, four_h // 4)
    return _walk_back_recorded(gy, ans, xproj, h0, c0, w_hh)


def _grads_from_saved(gy, ans, xproj, h0, c0, w_hh):
    """(packed gradients, their four views) from what the forward pass saved; when
    nothing was saved for ``ans`` and these inputs (vmap's loop, a copied output,
    other inputs), the forward pass is run again: it computes the same values."""
    args = (xproj, h0, c0, w_hh)
    kept = saved.kept(_saved, ans, args)
    if kept is None:
        again = _lstm_forward(*args)  # kept alive until its entry is read
        kept = saved.kept(_saved, again, args)
    return _walk_back_arrays(gy, w_hh, *kept)


def _walk_back_recorded(gy, ans, xproj, h0, c0, w_hh):
    """The walk back written with operations that record (create_graph), so that
    the gradients can be differentiated again."""
    hidden = h0.shape[-1]
    h_prev, c_prev, i, f, g, o, tc = _recompute(ans, xproj, h0, c0, w_hh)
    # Per-step factors, vectorised: d c_t/d h_t and d a/d (c_t, h_t) of each gate.
    dc_from_h = o * (1 - tc * tc)
    coeff = _cat([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g), tc * o * (1 - o)])
    gh, gc = gy[..., :hidden], gy[..., hidden:]
    dh = dc = None
    grads = []
    for t in range(xproj.shape[0] - 1, -1, -1):
        dh_t = gh[t] if dh is None else gh[t] + dh
        dc_t = gc[t] + dh_t * dc_from_h[t] if dc is None else gc[t] + dc + dh_t * dc_from_h[t]
        da = _cat([dc_t, dc_t, dc_t, dh_t]) * coeff[t]
        grads.append(da)
        dh = da @ w_hh
        dc = dc_t * f[t]
    da_all = np.stack(grads[::-1], axis=0)
    four_h = w_hh.shape[0]
    dw = da_all.reshape(-1, four_h).T @ h_prev.reshape(-1, hidden)
    return da_all, dh, dc, dw


def _walk_back_arrays(gy, w_hh, states, acts, tanh_c):
    """``_walk_back`` in a plain backward pass, from what the forward pass saved
    (feature-major, as the forward pass keeps it): the same formulas, step by step
    on contiguous (H, N) blocks that stay in cache, into preallocated buffers
    (streaming whole-sequence temporaries costs twice as much). The four gradients
    are views of one flat array (the packed result that ``lstm_layer_grads``
    returns): ``(flat, (d xproj, d h0, d c0, d W_hh))``; d xproj is laid out as
    (L, 4H, N), the layout nn.LSTM's input projection takes it back in."""
    steps, four_h, n = acts.shape
    hidden = four_h // 4
    dtype = np.result_type(gy, acts, w_hh)
    sizes = _sizes(steps, n, hidden)
    flat = np.empty(sum(sizes), dtype=dtype)
    da_all, dh0, dc0, dw = _unpack(flat, sizes, steps, n, hidden)
    da_all = da_all.swapaxes(1, 2)  # (L, 4H, N), contiguous
    # Only the steps whose output gradient is not zero add it (a loss on the last
    # state, the usual case, has one): one pass over gy instead of two per step.
    live = np.any(gy, axis=(1, 2))
    g_t = gy.swapaxes(1, 2)
    w_t = np.ascontiguousarray(w_hh.T, dtype=dtype)
    dh, dc, tmp = (np.zeros((hidden, n), dtype=dtype) for _ in range(3))
    tmp2 = np.empty((2 * hidden, n), dtype=dtype)
    dw[...] = 0
    # dh = W_hh^T da_t, and W_hh's gradient, sum over steps of da_t h_{t-1}^T, added
    # a step at a time while da_t is in cache (one GEMM over a transposed copy of all
    # steps is slower); by the GEMM backend in use (gemm_backend)
    dh_product = gemm_backend.matmul_steps(w_t, da_all, dh)
    dw_product = gemm_backend.matmul_steps(da_all, states[:-1, :hidden].swapaxes(1, 2), dw, True)
    # The compiled loop reads gy without bounds checks: only a gy of the output's shape
    # (any other takes NumPy's calls, which broadcast or refuse, as always).
    fits = gy.dtype == dtype == acts.dtype and gy.shape == (steps, n, 2 * hidden)
    cells = compiled.kernels_for(dtype) if fits else None
    for t in range(steps - 1, -1, -1):
        if cells is not None:  # the step's elementwise work in one compiled loop
            g_live = np.ascontiguousarray(g_t[t]) if live[t] else dh
            cells.cell_backward(
                acts[t], tanh_c[t], states[t, hidden:], dh, dc, bool(live[t]),
                g_live[:hidden], g_live[hidden:], da_all[t],
            )  # fmt: skip
            dh_product(t)
            dw_product(t)
            continue
        gates = acts[t]
        i, f = gates[:hidden], gates[hidden : 2 * hidden]
        g, o = gates[2 * hidden : 3 * hidden], gates[3 * hidden :]
        tc, c_prev, da = tanh_c[t], states[t, hidden:], da_all[t]
        if live[t]:
            dh += g_t[t, :hidden]
        # dc_t = gc + dc + dh_t o (1 - tanh(c_t)^2); dc holds dc_{t+1} f_{t+1} (or 0)
        np.multiply(tc, tc, out=tmp)
        np.subtract(1, tmp, out=tmp)
        tmp *= o
        tmp *= dh
        dc += tmp
        if live[t]:
            dc += g_t[t, hidden:]
        # each gate's pre-activation: (its share of dc or dh) times its derivative;
        # i and f (adjacent rows) together: s (1 - s) times (g; c_{t-1}), times dc
        i_f = gates[: 2 * hidden]
        np.subtract(1, i_f, out=tmp2)
        tmp2 *= i_f
        tmp2[:hidden] *= g
        tmp2[hidden:] *= c_prev
        np.multiply(tmp2.reshape(2, hidden, n), dc, out=da[: 2 * hidden].reshape(2, hidden, n))
        np.multiply(g, g, out=tmp)
        np.subtract(1, tmp, out=tmp)
        tmp *= i
        np.multiply(tmp, dc, out=da[2 * hidden : 3 * hidden])
        np.subtract(1, o, out=tmp)
        tmp *= o
        tmp *= tc
        np.multiply(tmp, dh, out=da[3 * hidden :])
        dh_product(t)
        dc *= f
        dw_product(t)
    np.copyto(dh0, dh.T)
    np.copyto(dc0, dc.T)
    return flat, _unpack(flat, sizes, steps, n, hidden)


def _sizes(steps, n, hidden):
    return (steps * n * 4 * hidden, n * hidden, n * hidden, 4 * hidden * hidden)


def _unpack(flat, sizes, steps, n, hidden):
    """The four gradients as views of the packed array (Tensors or arrays); d xproj
    (L, N, 4H) is a view of its (L, 4H, N) block."""
    shapes = ((steps, 4 * hidden, n), (n, hidden), (n, hidden), (4 * hidden, hidden))
    parts, start = [], 0
    for size, shape in zip(sizes, shapes):
        parts.append(flat[start : start + size].reshape(shape))
        start += size
    parts[0] = parts[0].swapaxes(1, 2)
    return parts


def _vjp(k):
    def rule(g, ans, xproj, h0, c0, w_hh):
        # w_hh's rule runs last: the step's gradients are let go after it.
        return _walk_back(g, ans, xproj, h0, c0, w_hh, release=k == 3)[k]

    return rule


# ------------------------------------------------------------------ forward mode
def _push_forward(ans, xproj, h0, c0, w_hh, extra, dh, dc):
    """The output's tangent, given each step's extra gate tangent ``extra(t)`` (or
    None) and the tangents ``dh``/``dc`` of the initial state (or None)."""
    hidden = h0.shape[-1]
    h_prev, c_prev, i, f, g, o, tc = _recompute(ans, xproj, h0, c0, w_hh)
    di_s, df_s, do_s = i * (1 - i), f * (1 - f), o * (1 - o)
    dg_s, dtc_s = 1 - g * g, 1 - tc * tc
    outs = []
    for t in range(xproj.shape[0]):
        da = extra(t) if extra is not None else None
        if dh is not None:
            from_h = dh @ w_hh.T
            da = from_h if da is None else da + from_h
        if da is None:  # no tangent yet (the state's tangent starts later)
            dc_t = dc * f[t]
        else:
            d_i = da[..., :hidden] * di_s[t]
            d_f = da[..., hidden : 2 * hidden] * df_s[t]
            d_g = da[..., 2 * hidden : 3 * hidden] * dg_s[t]
            d_o = da[..., 3 * hidden :] * do_s[t]
            dc_t = d_f * c_prev[t] + d_i * g[t] + i[t] * d_g
            if dc is not None:
                dc_t = dc_t + f[t] * dc
        dh_t = o[t] * dtc_s[t] * dc_t
        if da is not None:
            dh_t = dh_t + d_o * tc[t]
        outs.append(_cat([dh_t, dc_t]))
        dh, dc = dh_t, dc_t
    return np.stack(outs, axis=0)


def _jvp_xproj(t, ans, xproj, h0, c0, w_hh):
    return _push_forward(ans, xproj, h0, c0, w_hh, lambda s: t[s], None, None)


def _jvp_h0(t, ans, xproj, h0, c0, w_hh):
    return _push_forward(ans, xproj, h0, c0, w_hh, None, t, None)


def _jvp_c0(t, ans, xproj, h0, c0, w_hh):
    return _push_forward(ans, xproj, h0, c0, w_hh, None, None, t)


def _jvp_w(t, ans, xproj, h0, c0, w_hh):
    hidden = h0.shape[-1]
    h_prev = _previous(ans[..., :hidden], h0)
    return _push_forward(ans, xproj, h0, c0, w_hh, lambda s: h_prev[s] @ t.T, None, None)


lstm_layer = Primitive(
    "lstm_layer",
    _lstm_forward,
    vjp=(_vjp(0), _vjp(1), _vjp(2), _vjp(3)),
    jvp=(_jvp_xproj, _jvp_h0, _jvp_c0, _jvp_w),
    formula=("d[h,c]/da (BPTT)", "d[h,c]/dh0", "d[h,c]/dc0", "d[h,c]/dW_hh"),
    saves_ans=True,
    doc="One LSTM layer over a sequence: gate inputs xproj (L, N, 4H), initial h0 and "
    "c0 (N, H), recurrent weight W_hh (4H, H) -> [h_t, c_t] of every step, (L, N, 2H).",
)


_not_differentiated = refuse_differentiation("lstm_layer_grads", "lstm_layer")


lstm_layer_grads = Primitive(
    "lstm_layer_grads",
    lambda gy, ans, xproj, h0, c0, w_hh: _grads_from_saved(gy, ans, xproj, h0, c0, w_hh)[0],
    vjp=(_not_differentiated,) * 6,
    jvp=(_not_differentiated,) * 6,  # refused in both modes, never silently zero
    formula=("not differentiated",) * 6,
    doc="lstm_layer's four gradients (d xproj, d h0, d c0, d W_hh), raveled into one "
    "array: its backward pass in one operation, for a backward pass that nothing "
    "differentiates (cr.jit compiles it from what the forward pass saved).",
)
