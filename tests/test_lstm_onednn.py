"""nn.LSTM on oneDNN's fused LSTM (the ``onednn`` backend): the ``lstm_fused``
primitive against finite differences in float64 (its NumPy path, to second order),
oneDNN's LSTM plan against PyTorch, and nn.LSTM on oneDNN against nn.LSTM on NumPy
and against PyTorch 2.13 (values and every gradient) over random geometries, with
cr.jit and second derivatives (which fall back to the differentiable primitives)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _helpers import lstm_fused_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn as nn
from chainrule import conv_backend, onednn
from chainrule.ops import recurrent_fused
from chainrule.ops.recurrent_fused import lstm_fused
from chainrule.test_util import check_grads

FLOAT32 = {"rtol": 2e-5, "atol": 2e-5}
GRADS32 = {"rtol": 1e-4, "atol": 1e-4}  # sums over steps and batch, in float32


@pytest.fixture(autouse=True)
def _restore_backend():
    before = cr.get_conv_backend()
    yield
    cr.set_conv_backend(before)


def _by_hand(x, h, c, w_ih, w_hh, b):
    """PyTorch's cell, step by step in NumPy, packed as lstm_fused packs it."""
    hidden = h.shape[-1]
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    hs = []
    for t in range(x.shape[0]):
        a = x[t] @ w_ih.T + b + h @ w_hh.T
        i, f, g, o = (a[:, k * hidden : (k + 1) * hidden] for k in range(4))
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        hs.append(h)
    return np.concatenate([np.stack(hs), c[None]])


# ----------------------------------------------------------------- the primitive
@settings(max_examples=10, deadline=None)
@given(
    steps=st.integers(1, 4),
    batch=st.integers(1, 3),
    inputs=st.integers(1, 3),
    hidden=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_lstm_fused_values_and_derivatives_in_float64(steps, batch, inputs, hidden, seed):
    args = lstm_fused_inputs(np.random.default_rng(seed), steps, batch, inputs, hidden)
    got = lstm_fused(*args).data
    np.testing.assert_allclose(got, _by_hand(*args), rtol=1e-12, atol=1e-12)
    check_grads(lstm_fused, argnum=(0, 1, 2, 3, 4, 5), modes=["fwd", "rev"], order=2)(*args)


def test_lstm_fused_gradcheck_and_gradgradcheck():
    args = [
        cr.tensor(a, requires_grad=True)
        for a in lstm_fused_inputs(np.random.default_rng(1), 3, 2, 2, 2)
    ]
    assert cr.gradcheck(lstm_fused, args)
    assert cr.gradgradcheck(lstm_fused, args)


def test_bad_shapes_raise_one_line():
    args = lstm_fused_inputs(np.random.default_rng(0), 3, 2, 4, 5)
    args[3] = args[3][:, :3]
    with pytest.raises(ValueError, match=r"w_ih must be \(20, 4\)") as info:
        lstm_fused(*args)
    assert "\n" not in str(info.value)
    args = lstm_fused_inputs(np.random.default_rng(0), 0, 2, 4, 5)
    with pytest.raises(ValueError, match="no time steps"):
        lstm_fused(*args)


# ----------------------------------------------------------------- the oneDNN plan
def test_the_plan_against_torch_and_its_backward_does_not_accumulate():
    cr.set_conv_backend("onednn")
    rng = np.random.default_rng(5)
    steps, batch, inputs, hidden = 6, 3, 5, 7
    x, h0, c0, w_ih, w_hh, b = lstm_fused_inputs(rng, steps, batch, inputs, hidden, np.float32)
    out = recurrent_fused._forward(x, h0, c0, w_ih, w_hh, b)
    assert id(out) in recurrent_fused._workspaces  # oneDNN computed it
    m = torch.nn.LSTM(inputs, hidden)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", w_ih), ("weight_hh_l0", w_hh), ("bias_ih_l0", b)):
            getattr(m, name).copy_(torch.from_numpy(value))
        m.bias_hh_l0.zero_()
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x, h0[None], c0[None]))
    ys, (hn, cn) = m(tx, (th, tc))
    np.testing.assert_allclose(out[:steps], ys.detach().numpy(), **FLOAT32)
    np.testing.assert_allclose(out[steps], cn.detach().numpy()[0], **FLOAT32)
    g = rng.normal(size=out.shape).astype(np.float32)
    loss = (ys * torch.from_numpy(g[:steps])).sum() + (cn[0] * torch.from_numpy(g[steps])).sum()
    loss.backward()
    want = [tx.grad, th.grad[0], tc.grad[0], m.weight_ih_l0.grad, m.weight_hh_l0.grad]
    want = [w.numpy() for w in [*want, m.bias_ih_l0.grad]]
    for _ in range(2):  # oneDNN adds into its weight gradients: a second run must not
        got = recurrent_fused._grads_arrays(g, out, x, h0, c0, w_ih, w_hh, b)[1]
        for a, e in zip(got, want):
            np.testing.assert_allclose(a, e, **GRADS32)


# ----------------------------------------------------------------- nn.LSTM
def _run_chainrule(backend, sd, cfg, x, state):
    cr.set_conv_backend(backend)
    m = nn.LSTM(**cfg)
    m.load_state_dict({k: cr.tensor(v) for k, v in sd.items()})
    xt = cr.tensor(x, requires_grad=True)
    st_ = [cr.tensor(s, requires_grad=True) for s in state] if state else None
    out, (h, c) = m(xt, tuple(st_) if st_ else None)
    loss = (out * out).sum() + (h * np.float32(0.5)).sum() + (c * c).sum()
    loss.backward()
    grads = [xt.grad.numpy()] + ([s.grad.numpy() for s in st_] if st_ else [])
    grads += [p.grad.numpy() for _, p in m.named_parameters()]
    return [out.numpy(), h.numpy(), c.numpy()], grads


def _run_torch(sd, cfg, x, state):
    m = torch.nn.LSTM(**cfg)
    m.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    xt = torch.tensor(x, requires_grad=True)
    st_ = [torch.tensor(s, requires_grad=True) for s in state] if state else None
    out, (h, c) = m(xt, tuple(st_) if st_ else None)
    loss = (out * out).sum() + (h * 0.5).sum() + (c * c).sum()
    loss.backward()
    grads = [xt.grad.numpy()] + ([s.grad.numpy() for s in st_] if st_ else [])
    grads += [p.grad.numpy() for _, p in m.named_parameters()]
    return [out.detach().numpy(), h.detach().numpy(), c.detach().numpy()], grads


@settings(max_examples=12, deadline=None)
@given(
    steps=st.integers(1, 5),
    batch=st.integers(1, 4),
    inputs=st.integers(1, 5),
    hidden=st.integers(1, 6),
    layers=st.sampled_from([1, 2]),
    bidirectional=st.booleans(),
    bias=st.booleans(),
    batch_first=st.booleans(),
    with_state=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_nn_lstm_on_onednn_matches_numpy_and_torch(
    steps, batch, inputs, hidden, layers, bidirectional, bias, batch_first, with_state, seed
):
    rng = np.random.default_rng(seed)
    cfg = dict(input_size=inputs, hidden_size=hidden, num_layers=layers, bias=bias,
               batch_first=batch_first, bidirectional=bidirectional)  # fmt: skip
    sd = {k: v.detach().numpy().copy() for k, v in torch.nn.LSTM(**cfg).state_dict().items()}
    x_shape = (batch, steps, inputs) if batch_first else (steps, batch, inputs)
    x = rng.normal(size=x_shape).astype(np.float32)
    n_states = layers * (2 if bidirectional else 1)
    state = (
        [rng.normal(size=(n_states, batch, hidden)).astype(np.float32) for _ in range(2)]
        if with_state
        else None
    )
    conv_backend.set_conv_backend("onednn")
    conv_backend._planner.plans.clear()
    runs = []
    backward = onednn.LstmPlan.backward
    onednn.LstmPlan.backward = lambda *a: runs.append(1) or backward(*a)
    try:
        got = _run_chainrule("onednn", sd, cfg, x, state)
    finally:
        onednn.LstmPlan.backward = backward
    assert len(runs) == layers * (2 if bidirectional else 1)  # oneDNN's backward ran
    planned = [k for k in conv_backend._planner.plans if k[0] == "lstm"]
    assert ("lstm", steps, batch, inputs, hidden) in planned  # oneDNN computed it
    on_numpy = _run_chainrule("numpy", sd, cfg, x, state)
    on_torch = _run_torch(sd, cfg, x, state)
    for want in (on_numpy, on_torch):
        for a, e in zip(got[0], want[0]):
            np.testing.assert_allclose(a, e, **FLOAT32)
        assert len(got[1]) == len(want[1])
        for a, e in zip(got[1], want[1]):
            np.testing.assert_allclose(a, e, **GRADS32)


def test_float64_stays_on_numpy_with_onednn_selected():
    rng = np.random.default_rng(7)
    args = lstm_fused_inputs(rng, 4, 2, 3, 5)
    cr.set_conv_backend("onednn")
    out = recurrent_fused._forward(*args)
    assert id(out) not in recurrent_fused._workspaces
    np.testing.assert_allclose(out, _by_hand(*args), rtol=1e-12, atol=1e-12)


def test_jit_and_second_derivatives_on_onednn():
    rng = np.random.default_rng(3)
    x = cr.tensor(rng.normal(size=(6, 3, 4)).astype(np.float32))
    w_ih, w_hh = (
        cr.tensor((rng.normal(size=s) * 0.5).astype(np.float32)) for s in ((20, 4), (20, 5))
    )
    b = cr.tensor((rng.normal(size=20) * 0.5).astype(np.float32))
    h0, c0 = (cr.tensor(rng.normal(size=(3, 5)).astype(np.float32)) for _ in range(2))

    def f(x, w_ih, w_hh):
        y = lstm_fused(x, h0, c0, w_ih, w_hh, b)
        return (y * y).sum()

    def results(backend):
        cr.set_conv_backend(backend)
        eager = cr.grad(f, argnums=(0, 1, 2))(x, w_ih, w_hh)
        jitted = cr.jit(cr.grad(f, argnums=(0, 1, 2)))(x, w_ih, w_hh)
        jitted_again = cr.jit(cr.grad(f, argnums=(0, 1, 2)))(x, w_ih, w_hh)
        # a second derivative: the recorded backward goes through lstm_layer
        hvp = cr.grad(lambda w: (cr.grad(f, argnums=2)(x, w_ih, w) * w).sum())(w_hh)
        data = lambda gs: [g.data for g in gs]  # noqa: E731
        return data(eager), data(jitted), data(jitted_again), hvp.data

    want, got = results("numpy"), results("onednn")
    for a, e in zip(got[1] + got[2], got[0] * 2):  # jit = eager on oneDNN
        np.testing.assert_allclose(a, e, **GRADS32)
    for a, e in zip(got[0], want[0]):
        np.testing.assert_allclose(a, e, **GRADS32)
    np.testing.assert_allclose(got[3], want[3], rtol=1e-4, atol=1e-4)


def test_second_derivative_on_onednn_matches_float64_finite_differences_path():
    # The recorded backward (create_graph) of a float32 oneDNN forward must equal the
    # float64 NumPy path's, which check_grads verifies against finite differences.
    rng = np.random.default_rng(11)
    args64 = lstm_fused_inputs(rng, 3, 2, 3, 4)
    cr.set_conv_backend("onednn")
    ts = [cr.tensor(a.astype(np.float32), requires_grad=True) for a in args64]
    gy = rng.normal(size=(4, 2, 4)).astype(np.float32)
    grads = cr.autograd.grad(lstm_fused(*ts), ts, gy, create_graph=True)
    second = cr.autograd.grad(sum((g * g).sum() for g in grads), ts)
    t64 = [cr.tensor(a, requires_grad=True) for a in args64]
    g64 = cr.autograd.grad(lstm_fused(*t64), t64, gy.astype(np.float64), create_graph=True)
    second64 = cr.autograd.grad(sum((g * g).sum() for g in g64), t64)
    for a, e in zip(grads + second, list(g64) + list(second64)):
        np.testing.assert_allclose(a.data, e.data, rtol=2e-4, atol=2e-4)


def test_the_packed_gradients_refuse_to_be_differentiated():
    rng = np.random.default_rng(8)
    args = lstm_fused_inputs(rng, 2, 2, 2, 2)
    y = lstm_fused(*args)
    gy = cr.tensor(rng.normal(size=y.shape), requires_grad=True)
    packed = recurrent_fused.lstm_fused_grads(gy, y.data, *args)
    with pytest.raises(RuntimeError, match="lstm_fused_grads.*not to be differentiated"):
        packed.sum().backward()


def test_a_jitted_gradient_is_one_onednn_backward():
    # cr.jit records the backward pass of the gradient; nothing differentiates it, so
    # it is one lstm_fused_grads operation, which replays oneDNN's backward.
    rng = np.random.default_rng(9)
    args = [cr.tensor(a) for a in lstm_fused_inputs(rng, 5, 3, 4, 6, np.float32)]
    cr.set_conv_backend("onednn")

    def loss(w_hh, x):
        y = lstm_fused(x, args[1], args[2], args[3], w_hh, args[5])
        return (y * y).sum()

    want = cr.grad(loss)(args[4], args[0])
    runs = []
    backward = onednn.LstmPlan.backward
    onednn.LstmPlan.backward = lambda *a: runs.append(1) or backward(*a)
    try:
        jitted = cr.jit(cr.grad(loss))
        for _ in range(4):  # traced, traced again and compared, then compiled
            np.testing.assert_allclose(jitted(args[4], args[0]).data, want.data, **GRADS32)
    finally:
        onednn.LstmPlan.backward = backward
    assert len(runs) == 4
