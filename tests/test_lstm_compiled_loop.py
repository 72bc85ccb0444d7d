"""``lstm_fused``'s float32 path on the compiled kernels (``recurrent_fused_loop``):
its values and six gradients against the NumPy path (the kernels off, float64 as
well) over random geometries, input layouts and output gradients; the fallbacks
(kernels turned off between the passes, another dtype of gradient); the reuse of
its arrays' memory never changing an array that is still seen; nn.LSTM on it, with
cr.jit, against PyTorch."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
from _helpers import lstm_fused_inputs, run_in_threads
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn as nn
from chainrule.ops import compiled, recurrent_fused, recurrent_fused_loop
from chainrule.ops.recurrent_fused import lstm_fused

pytestmark = pytest.mark.usefixtures("numba_kernels_at_any_size")
pytest.importorskip("numba")

GRADS32 = {"rtol": 2e-4, "atol": 2e-4}  # sums over steps and batch, in float32


def _inputs(rng, steps, batch, inputs, hidden):
    return lstm_fused_inputs(rng, steps, batch, inputs, hidden, np.float32)


def _run(args, g, numba, dtype=np.float32):
    """lstm_fused's packed output and its six gradients for output gradient g."""
    compiled.use_numba(numba)
    ts = [cr.tensor(a.astype(dtype), requires_grad=True) for a in args]
    y = lstm_fused(*ts)
    (y * g.astype(dtype)).sum().backward()
    return [y.data] + [t.grad.data for t in ts]


def _assert_close(got, want, **tol):
    assert len(got) == len(want)
    for a, e in zip(got, want):
        assert a.shape == e.shape
        np.testing.assert_allclose(a, e, **(tol or GRADS32))


@settings(max_examples=25, deadline=None)
@given(
    steps=st.integers(1, 5),
    batch=st.integers(1, 4),
    inputs=st.integers(1, 5),
    hidden=st.integers(1, 5),
    live=st.sampled_from(["all", "last h", "last c", "some"]),
    seed=st.integers(0, 2**16),
)
def test_values_and_gradients_are_the_numpy_paths(steps, batch, inputs, hidden, live, seed):
    rng = np.random.default_rng(seed)
    args = _inputs(rng, steps, batch, inputs, hidden)
    g = rng.normal(size=(steps + 1, batch, hidden)).astype(np.float32)
    if live == "last h":  # a loss on the last h only (nn.LSTM's h_n): one live step
        g[:-2] = 0
        g[-1] = 0
    elif live == "last c":  # only c_n's gradient
        g[:-1] = 0
    elif live == "some":
        g[rng.random(steps + 1) < 0.5] = 0
    calls = []
    real = recurrent_fused_loop.gradients
    recurrent_fused_loop.gradients = lambda *a: calls.append(1) or real(*a)
    try:
        got = _run(args, g, numba=True)
    finally:
        recurrent_fused_loop.gradients = real
    assert calls == [1]  # the compiled loop ran, both ways
    _assert_close(got, _run(args, g, numba=False))
    _assert_close(got, _run(args, g, numba=False, dtype=np.float64))


def test_a_layer_with_no_inputs_runs_on_its_state_alone():
    # I = 0: the gates are W_hh h + b; both paths agree, float64 passes gradcheck.
    rng = np.random.default_rng(3)
    args = _inputs(rng, 3, 2, 0, 4)
    g = rng.normal(size=(4, 2, 4)).astype(np.float32)
    _assert_close(_run(args, g, numba=True), _run(args, g, numba=False))
    ts = [cr.tensor(a.astype(np.float64), requires_grad=True) for a in args]
    assert cr.gradcheck(lstm_fused, ts)
    assert cr.gradgradcheck(lstm_fused, ts)


@pytest.mark.parametrize("layout", ["batch first", "reversed", "sliced"])
def test_any_layout_of_the_input_gives_the_contiguous_inputs_result(layout):
    rng = np.random.default_rng(4)
    x, *rest = _inputs(rng, 6, 3, 4, 5)
    if layout == "batch first":
        view = np.ascontiguousarray(x.swapaxes(0, 1)).swapaxes(0, 1)
    elif layout == "reversed":
        view = np.ascontiguousarray(x[::-1])[::-1]
    else:
        view = np.concatenate([x, x], axis=2)[:, :, ::2]
        x = view.copy()
    assert not view.flags.c_contiguous
    g = rng.normal(size=(7, 3, 5)).astype(np.float32)
    _assert_close(_run([view, *rest], g, True), _run([x, *rest], g, True), rtol=0, atol=0)


def test_the_forward_pass_keeps_what_the_backward_pass_reads():
    rng = np.random.default_rng(2)
    args = _inputs(rng, 4, 3, 2, 5)
    out = recurrent_fused._forward(*args)
    assert id(out) in recurrent_fused._loop_saved
    assert id(out) not in recurrent_fused._numpy_saved
    np.testing.assert_allclose(
        out, _run(args, np.zeros_like(out), numba=False)[0], rtol=2e-6, atol=2e-6
    )
    key = id(out)
    del out
    gc.collect()
    assert key not in recurrent_fused._loop_saved  # the entry goes with its output


def test_kernels_turned_off_between_the_passes_give_numpys_gradients():
    rng = np.random.default_rng(6)
    args = _inputs(rng, 5, 2, 3, 4)
    g = rng.normal(size=(6, 2, 4)).astype(np.float32)
    out = recurrent_fused._forward(*args)  # on the compiled loop
    assert id(out) in recurrent_fused._loop_saved
    compiled.use_numba(False)
    got = recurrent_fused._grads_arrays(g, out, *args)[1]
    want = _run(args, g, numba=False)[1:]
    _assert_close(got, want)


def test_a_float64_gradient_takes_numpys_path_with_the_same_result():
    rng = np.random.default_rng(7)
    args = _inputs(rng, 3, 2, 3, 4)
    g = rng.normal(size=(4, 2, 4))
    out = recurrent_fused._forward(*args)
    assert id(out) in recurrent_fused._loop_saved
    got = recurrent_fused._grads_arrays(g, out, *args)[1]
    assert all(a.dtype == np.float64 for a in got)
    want = _run(args, g.astype(np.float32), numba=False)[1:]
    _assert_close(got, want)


def test_memory_is_reused_only_once_nothing_reads_it(monkeypatch):
    """The loop's arrays come from the buffer pool: h_n (a view of the packed
    output) must keep its values through the steps after its own, and the memory
    of a step whose arrays are all gone must be used again (no fresh pages)."""
    rng = np.random.default_rng(8)
    args = _inputs(rng, 8, 16, 4, 32)  # every array of the loop at least the pool's
    monkeypatch.setattr(recurrent_fused_loop.buffer_pool, "STEP_MIN_BYTES", 1024)
    ts = [cr.tensor(a) for a in args]
    h_last = lstm_fused(*ts)[7]  # the packed output itself is gone after this line
    gc.collect()
    kept = h_last.data.copy()
    for seed in range(3):  # other inputs, the same geometry: the freed memory is reused
        other = _inputs(np.random.default_rng(seed), 8, 16, 4, 32)
        lstm_fused(*[cr.tensor(a) for a in other])
        gc.collect()
    np.testing.assert_array_equal(h_last.data, kept)
    before = recurrent_fused_loop.buffer_pool.idle_bytes()
    assert before > 0  # the later steps' arrays went back to the pool
    lstm_fused(*[cr.tensor(a) for a in args])
    gc.collect()
    assert recurrent_fused_loop.buffer_pool.idle_bytes() == before  # taken, then given back


def test_threads_each_get_their_own_results():
    # The loop's arrays come from a shared pool and its saved state from a shared
    # table: four threads at once must each get what one thread alone gets.
    problems = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        args = _inputs(rng, 6, 8, 5, 16)
        problems.append((args, rng.normal(size=(7, 8, 16)).astype(np.float32)))
    alone = [_run(args, g, numba=True) for args, g in problems]
    for _ in range(3):
        together = run_in_threads(lambda i: _run(*problems[i], numba=True), count=4)
        for got, want in zip(together, alone):
            _assert_close(got, want, rtol=0, atol=0)


def test_nn_lstm_takes_the_loop_on_float32_and_numpys_on_float64(monkeypatch):
    calls = []
    real = recurrent_fused_loop.forward
    monkeypatch.setattr(recurrent_fused_loop, "forward", lambda *a: calls.append(1) or real(*a))
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    m(cr.tensor(x.astype(np.float32)))
    assert len(calls) == 4  # two layers, two directions
    m64 = nn.LSTM(3, 4).double()
    m64(cr.tensor(x))
    compiled.use_numba(False)
    m(cr.tensor(x.astype(np.float32)))
    assert len(calls) == 4


def _torch_step(sd, x, labels):
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(x.shape[2], 16, batch_first=True), torch.nn.Linear(16, 10)
    lstm.load_state_dict({k[5:]: torch.tensor(v) for k, v in sd.items() if k.startswith("lstm.")})
    head.load_state_dict({k[5:]: torch.tensor(v) for k, v in sd.items() if k.startswith("head.")})
    out, _ = lstm(torch.tensor(x))
    loss = torch.nn.functional.cross_entropy(head(out[:, -1]), torch.tensor(labels))
    loss.backward()
    grads = {f"lstm.{k}": p.grad.numpy() for k, p in lstm.named_parameters()}
    grads.update({f"head.{k}": p.grad.numpy() for k, p in head.named_parameters()})
    return loss.item(), grads


class _Net(nn.Module):
    def __init__(self, inputs):
        super().__init__()
        self.lstm, self.head = nn.LSTM(inputs, 16, batch_first=True), nn.Linear(16, 10)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def test_a_jitted_training_gradient_is_torchs(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 9, 5)).astype(np.float32)
    labels = rng.integers(0, 10, 6)
    net = _Net(5)
    sd = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    names = [k for k, _ in net.named_parameters()]

    def loss(params, xb, yb):
        return cr.nn.functional.cross_entropy(
            cr.func.functional_call(net, dict(zip(names, params)), (xb,)), yb
        )

    params = [p.detach() for _, p in net.named_parameters()]
    want_loss, want = _torch_step(sd, x, labels)
    step = cr.jit(cr.value_and_grad(loss))
    calls = []
    real = recurrent_fused_loop.gradients
    monkeypatch.setattr(recurrent_fused_loop, "gradients", lambda *a: calls.append(1) or real(*a))
    for _ in range(3):  # traced, traced again and compared, then compiled
        value, grads = step(params, cr.tensor(x), cr.tensor(labels))
        assert abs(float(value.data) - want_loss) < 1e-5
        for name, grad in zip(names, grads):
            np.testing.assert_allclose(grad.data, want[name], **GRADS32)
    assert len(calls) == 3  # each call's backward read what its own forward kept
