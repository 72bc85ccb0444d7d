"""The compiled float32 kernels (chainrule.ops.compiled, numba): their tanh's and
exp's accuracy; the LSTM cells, layer normalisation and the softmax against NumPy's
calls (values and every gradient, random shapes), NaNs and infinities, that each
primitive really calls its kernels; the switches, and the fallbacks when numba is
missing or broken."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from _helpers import KernelSpy, float32_normal, run_in_threads, values_and_grads
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops import compiled
from chainrule.ops.activations import safe_softmax
from chainrule.ops.normalization_affine import layer_norm_affine
from chainrule.ops.recurrent import lstm_layer

pytest.importorskip("numba")
from chainrule.ops import _numba_kernels as kernels  # noqa: E402

# every softmax of these tests through the kernels, however small
pytestmark = pytest.mark.usefixtures("numba_kernels_at_any_size")


def _ulps(got: np.ndarray, x: np.ndarray) -> np.ndarray:
    exact = np.tanh(x.astype(np.float64))
    spacing = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / spacing


def test_tanh32_is_within_6_ulps_over_its_range():
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            rng.uniform(-10, 10, 2_000_000),
            np.geomspace(1e-38, 12, 200_000),
            -np.geomspace(1e-38, 12, 200_000),
            [1e-45, 9.0, 9.01, 100.0, 3e38],
        ]
    ).astype(np.float32)
    out = np.empty_like(x)
    kernels.tanh_into(x, out)
    assert _ulps(out, x).max() <= 6
    assert np.abs(out).max() <= 1.0
    # odd, and exact at 0 and where float32's tanh is 1
    np.testing.assert_array_equal(out[x > 9.1], 1.0)
    np.testing.assert_array_equal(_tanh([-2.5, 2.5]), [-_tanh([2.5])[0], _tanh([2.5])[0]])


def _apply(kernel, values) -> np.ndarray:
    x = np.asarray(values, dtype=np.float32)
    out = np.empty_like(x)
    kernel(x, out)
    return out


def _tanh(values) -> np.ndarray:
    return _apply(kernels.tanh_into, values)


def test_tanh32_passes_nan_through_and_saturates_at_infinities():
    out = _tanh([np.nan, np.inf, -np.inf, 0.0, -0.0])
    assert np.isnan(out[0])
    np.testing.assert_array_equal(out[1:3], [1.0, -1.0])
    assert out[3] == 0 and not np.signbit(out[3]) and np.signbit(out[4])


def _exp(values) -> np.ndarray:
    return _apply(kernels.exp_into, values)


def test_exp32_is_within_1_ulp_over_float32s_normal_range():
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            rng.uniform(-87.3, 88.7, 2_000_000),
            rng.uniform(-20, 1, 1_000_000),
            np.geomspace(1e-38, 88.7, 100_000),
            -np.geomspace(1e-38, 87.3, 100_000),
        ]
    ).astype(np.float32)
    got = _exp(x)
    exact = np.exp(x.astype(np.float64))
    spacing = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert (np.abs(got - exact) / spacing).max() <= 1


def test_exp32_at_its_edges():
    got = _exp([0.0, -0.0, np.inf, -np.inf, np.nan, -87.4, -100.0, 88.8, 88.7])
    np.testing.assert_array_equal(got[:4], [1.0, 1.0, np.inf, 0.0])
    assert np.isnan(got[4])
    np.testing.assert_array_equal(got[5:8], [0.0, 0.0, np.inf])  # below normals: 0
    assert np.isfinite(got[8]) and got[8] > 3e38


def _inputs(rng, steps, batch, hidden, dtype=np.float32):
    return (
        rng.normal(size=(steps, batch, 4 * hidden)).astype(dtype),
        rng.normal(size=(batch, hidden)).astype(dtype),
        rng.normal(size=(batch, hidden)).astype(dtype),
        (rng.normal(size=(4 * hidden, hidden)) * 0.7).astype(dtype),
    )


def _layer_and_grads(args, seed_grad, numba: bool):
    return values_and_grads(lstm_layer, args, seed_grad, numba)


@settings(max_examples=25, deadline=None)
@given(
    steps=st.integers(1, 6),
    batch=st.integers(1, 9),
    hidden=st.integers(1, 11),
    live=st.sampled_from(["last", "all", "some"]),
    seed=st.integers(0, 2**16),
)
def test_compiled_cells_agree_with_numpys_calls(steps, batch, hidden, live, seed):
    rng = np.random.default_rng(seed)
    args = _inputs(rng, steps, batch, hidden)
    seed_grad = rng.normal(size=(steps, batch, 2 * hidden)).astype(np.float32)
    if live == "last":
        seed_grad[:-1] = 0
    elif live == "some":
        seed_grad[rng.random(steps) < 0.5] = 0
    fast = _layer_and_grads(args, seed_grad, numba=True)
    slow = _layer_and_grads(args, seed_grad, numba=False)
    for a, b in zip(fast, slow):
        assert a.dtype == np.float32
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-5 * scale)


def test_the_compiled_path_really_runs():
    """A mutation check for the test above: with the loops replaced by ones that
    compute nothing, the forward pass must differ."""
    assert compiled.numba_in_use()
    args = _inputs(np.random.default_rng(1), 3, 2, 4)
    want = lstm_layer(*args).data

    class Broken:
        @staticmethod
        def cell_forward(a, x, c_prev, c_new, tanh_c, h_new):
            a[...] = c_new[...] = tanh_c[...] = h_new[...] = 0

    real = compiled._kernels
    compiled._kernels = Broken
    try:
        got = lstm_layer(*args).data
    finally:
        compiled._kernels = real
    assert not np.allclose(got, want)


def test_float64_and_mixed_dtypes_keep_numpys_calls():
    assert compiled.kernels_for(np.dtype(np.float64)) is None
    assert compiled.kernels_for(np.dtype(np.float16)) is None
    assert compiled.kernels_for(np.dtype(np.float32)) is kernels
    # float16 gate inputs with float32 states: computed in float32 by NumPy's calls
    xproj, h0, c0, w = _inputs(np.random.default_rng(2), 3, 2, 4)
    y = lstm_layer(xproj.astype(np.float16), h0, c0, w)
    compiled.use_numba(False)
    np.testing.assert_array_equal(y.data, lstm_layer(xproj.astype(np.float16), h0, c0, w).data)


def test_a_nan_in_the_gates_reaches_the_outputs_and_gradients():
    xproj, h0, c0, w = _inputs(np.random.default_rng(3), 4, 3, 5)
    xproj[1, 2, 7] = np.nan
    x = cr.tensor(xproj, requires_grad=True)
    y = lstm_layer(x, h0, c0, w)
    assert np.isnan(y.data[1:, 2]).any() and np.isfinite(y.data[0]).all()
    y.sum().backward()
    assert np.isnan(x.grad.data).any()


def test_an_output_gradient_of_another_shape_takes_numpys_path():
    """The compiled backward reads the output gradient without bounds checks: one of
    another batch size is refused in one line, as on NumPy's path, never read past."""
    from chainrule.ops.recurrent import lstm_layer_grads

    xproj, h0, c0, w = _inputs(np.random.default_rng(14), 3, 4, 2)
    y = lstm_layer(xproj, h0, c0, w).data
    for numba in (True, False):
        compiled.use_numba(numba)
        with pytest.raises(ValueError, match="broadcast"):
            lstm_layer_grads(np.ones((3, 2, 4), np.float32), y, xproj, h0, c0, w)


def test_saturated_gates_stay_finite_and_exact():
    xproj, h0, c0, w = _inputs(np.random.default_rng(4), 3, 2, 2)
    xproj[0, 0] = 1e4
    xproj[1, 1] = -np.inf
    x = cr.tensor(xproj, requires_grad=True)
    y = lstm_layer(x, h0, c0, w)
    assert np.isfinite(y.data).all()
    hidden = 2
    # i = f = o = 1 and g = 1 at step 0, row 0: c_1 = c_0 + 1, h_1 = tanh(c_1)
    np.testing.assert_allclose(y.data[0, 0, hidden:], c0[0] + 1, rtol=1e-6)
    y.sum().backward()
    assert np.isfinite(x.grad.data).all()


def test_use_numba_false_and_the_environment_variable_switch_it_off(monkeypatch):
    compiled.use_numba(False)
    assert not compiled.numba_in_use()
    compiled.use_numba(True)
    assert compiled.numba_in_use()
    import importlib

    monkeypatch.setenv("CHAINRULE_KERNELS", "numpy")
    fresh = importlib.reload(compiled)
    try:
        assert not fresh.numba_in_use()
    finally:
        monkeypatch.delenv("CHAINRULE_KERNELS")
        importlib.reload(compiled)


def test_without_numba_numpys_calls_run_quietly(monkeypatch, recwarn):
    monkeypatch.setattr(compiled, "_kernels", None)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    assert compiled.kernels_for(np.dtype(np.float32)) is None
    assert not [w for w in recwarn if "LSTM" in str(w.message)]
    y = lstm_layer(*_inputs(np.random.default_rng(5), 2, 2, 3))
    assert np.isfinite(y.data).all()


def test_a_numba_that_fails_to_compile_warns_once_and_falls_back(monkeypatch):
    def broken(_kernels):
        raise RuntimeError("no LLVM here")

    monkeypatch.setattr(compiled, "_kernels", None)
    monkeypatch.setattr(compiled, "_warm_up", broken)
    with pytest.warns(RuntimeWarning, match="compiled kernels are off.*no LLVM here"):
        assert compiled.kernels_for(np.dtype(np.float32)) is None
    assert compiled.kernels_for(np.dtype(np.float32)) is None  # no second warning


def test_nn_lstm_float32_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    tm = torch.nn.LSTM(5, 7, batch_first=True)
    cm = cr.nn.LSTM(5, 7, batch_first=True)
    cm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rng.normal(size=(3, 6, 5)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    cx = cr.tensor(x, requires_grad=True)
    ty, (th, tc) = tm(tx)
    cy, (ch, cc) = cm(cx)
    (ty.sum() + 2 * tc.sum()).backward()
    (cy.sum() + 2 * cc.sum()).backward()
    np.testing.assert_allclose(cy.data, ty.detach().numpy(), rtol=0, atol=2e-6)
    np.testing.assert_allclose(cx.grad.data, tx.grad.numpy(), rtol=0, atol=1e-5)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(
            dict(cm.named_parameters())[name].grad.data, p.grad.numpy(), rtol=0, atol=2e-5
        )


# ------------------------------------------------------------------ every kernel is used
def test_each_primitive_calls_its_kernels(monkeypatch):
    spy = KernelSpy(kernels)
    monkeypatch.setattr(compiled, "_kernels", spy)
    rng = np.random.default_rng(8)
    ts = [cr.tensor(a, requires_grad=True) for a in _inputs(rng, 3, 2, 4)]
    lstm_layer(*ts).sum().backward()
    x = cr.tensor(float32_normal(rng, 5, 6), requires_grad=True)
    w, b = (cr.tensor(float32_normal(rng, 6), requires_grad=True) for _ in range(2))
    (layer_norm_affine(x, w, b) * float32_normal(rng, 5, 6)).sum().backward()
    (cr.softmax(x, axis=-1) * float32_normal(rng, 5, 6)).sum().backward()
    assert set(spy.calls) == {
        "cell_forward", "cell_backward", "layer_norm_forward", "layer_norm_backward",
        "softmax_rows", "softmax_rule_rows",
    }  # fmt: skip


# ------------------------------------------------------------------ layer normalisation
def _norm_and_grads(x, w, b, seed_grad, numba: bool):
    return values_and_grads(layer_norm_affine, (x, w, b), seed_grad, numba)


@settings(max_examples=25, deadline=None)
@given(
    lead=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    n=st.integers(1, 70),
    offset=st.sampled_from([0.0, 3.0, 1e3]),
    seed=st.integers(0, 2**16),
)
def test_compiled_layer_norm_agrees_with_numpys_calls(lead, n, offset, seed):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(*lead, n)) + offset).astype(np.float32)
    w, b = float32_normal(rng, n), float32_normal(rng, n)
    seed_grad = float32_normal(rng, *lead, n)
    fast = _norm_and_grads(x, w, b, seed_grad, numba=True)
    slow = _norm_and_grads(x, w, b, seed_grad, numba=False)
    if offset >= 100:
        # The large offset costs NumPy's float32 sums digits (theirs, not ours): a
        # row of variance 1e-3 at 1000 put its x gradient 0.10 off the float64
        # truth, where the kernel was 0.002 off. Measured against that truth.
        as64 = [a.astype(np.float64) for a in (x, w, b, seed_grad)]
        slow = values_and_grads(layer_norm_affine, as64[:3], as64[3], numba=False)
    for a, c in zip(fast, slow):
        assert a.dtype == np.float32 and a.shape == c.shape
        scale = max(1.0, float(np.abs(c).max()))
        tol = (2e-5 if offset < 100 else 2e-3) * scale
        np.testing.assert_allclose(a, c, rtol=0, atol=tol)


def test_compiled_layer_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    x, w, b = float32_normal(rng, 4, 7, 64) + 2, float32_normal(rng, 64), float32_normal(rng, 64)
    seed_grad = float32_normal(rng, 4, 7, 64)
    got = _norm_and_grads(x, w, b, seed_grad, numba=True)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.layer_norm(tx, (64,), tw, tb)
    (ty * torch.tensor(seed_grad)).sum().backward()
    want = [ty.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()]
    for a, c in zip(got, want):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=2e-5)


def test_compiled_layer_norm_keeps_a_nan_to_its_row():
    rng = np.random.default_rng(10)
    x, w, b = float32_normal(rng, 4, 8), float32_normal(rng, 8), float32_normal(rng, 8)
    x[2, 3] = np.nan
    y, dx, dw, db = _norm_and_grads(x, w, b, np.ones((4, 8), np.float32), numba=True)
    assert np.isnan(y[2]).all() and np.isfinite(np.delete(y, 2, axis=0)).all()
    assert np.isnan(dx[2]).all() and np.isfinite(np.delete(dx, 2, axis=0)).all()
    assert np.isnan(dw).all() and np.isfinite(db).all()


def test_a_strided_input_takes_numpys_path_with_the_same_numbers():
    rng = np.random.default_rng(11)
    x, w, b = float32_normal(rng, 6, 10), float32_normal(rng, 5), float32_normal(rng, 5)
    strided = x[:, ::2]
    compiled.use_numba(True)
    got = layer_norm_affine(strided, w, b).data
    compiled.use_numba(False)
    np.testing.assert_array_equal(got, layer_norm_affine(strided, w, b).data)


def test_a_weight_not_of_the_last_axis_shape_takes_numpys_path():
    """The kernels index w and b without bounds checks: a (1,) weight broadcasts and a
    (2,) weight raises, exactly as on NumPy's path, never a read past the array."""
    rng = np.random.default_rng(13)
    x = float32_normal(rng, 3, 5)
    b = np.zeros(1, np.float32)
    for numba in (True, False):
        compiled.use_numba(numba)
        got = layer_norm_affine(x, np.full(1, 2.0, np.float32), b).data
        with pytest.raises(ValueError, match="broadcast"):
            layer_norm_affine(x, np.ones(2, np.float32), b)
        if numba:
            fast = got
    np.testing.assert_array_equal(fast, got)


# ------------------------------------------------------------------ softmax
@settings(max_examples=30, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple),
    width=st.integers(1, 40),
    masks=st.sampled_from(["none", "some", "rows"]),
    safe=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_compiled_softmax_agrees_with_numpys_calls(shape, width, masks, safe, seed):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(*shape, width)) * 4).astype(np.float32)
    if masks != "none":
        x[rng.random(x.shape) < 0.3] = -np.inf
    if masks == "rows":
        x[(0,) * len(shape)] = -np.inf  # one row masked throughout
    seed_grad = float32_normal(rng, *shape, width)
    fn = (lambda t: safe_softmax(t, axis=-1)) if safe else (lambda t: cr.softmax(t, axis=-1))
    results = []
    for numba in (True, False):
        compiled.use_numba(numba)
        t = cr.tensor(x, requires_grad=True)
        y = fn(t)
        (y * seed_grad).sum().backward()
        results.append((y.data, t.grad.data))
    for a, c in zip(*results):
        np.testing.assert_allclose(a, c, rtol=0, atol=2e-6, equal_nan=True)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(c))


def test_compiled_softmax_nan_and_infinities_as_numpys():
    x = np.array(
        [[1, 2, np.nan], [-np.inf] * 3, [np.inf, 1, 2], [1e30, -1e30, 0], [0, 0, 0]], np.float32
    )
    for fn in (cr.softmax, lambda t: safe_softmax(t, axis=-1)):
        compiled.use_numba(True)
        got = fn(x).data
        compiled.use_numba(False)
        want = fn(x).data
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ threads
def test_kernels_from_several_threads_give_each_thread_its_own_numbers():
    """The kernels release the GIL and keep no state: four threads at once, each
    with its own inputs, get what each gets alone."""

    def work(i: int):
        rng = np.random.default_rng(100 + i)
        lstm_args = _inputs(rng, 5, 6, 8)
        ln_args = (float32_normal(rng, 7, 33), float32_normal(rng, 33), float32_normal(rng, 33))
        out = []
        for _ in range(3):
            ts = [cr.tensor(a, requires_grad=True) for a in lstm_args]
            lstm_layer(*ts).sum().backward()
            us = [cr.tensor(a, requires_grad=True) for a in ln_args]
            (cr.softmax(layer_norm_affine(*us), axis=-1) * ln_args[0]).sum().backward()
            out.append([t.grad.data for t in ts + us])
        return out

    alone = [work(i) for i in range(4)]
    together = run_in_threads(work, 4)
    for a, b in zip(alone, together):
        for xs, ys in zip(a, b):
            for x, y in zip(xs, ys):
                np.testing.assert_array_equal(x, y)


def test_small_softmaxes_keep_numpys_calls(monkeypatch):
    """Below compiled.MIN_SIZE values (a small network's cross-entropy) the softmax
    does not call the kernels, so it never loads numba for them."""
    monkeypatch.setattr(compiled, "MIN_SIZE", 1 << 14)
    spy = KernelSpy(kernels)
    monkeypatch.setattr(compiled, "_kernels", spy)
    rng = np.random.default_rng(12)
    logits = cr.tensor(float32_normal(rng, 128, 10), requires_grad=True)
    cr.nn.functional.cross_entropy(logits, rng.integers(0, 10, 128)).backward()
    (cr.softmax(logits, axis=-1) * 2.0).sum().backward()
    assert spy.calls == {}
    big = cr.tensor(float32_normal(rng, 128, 4, 16, 16), requires_grad=True)
    (cr.softmax(big, axis=-1) * float32_normal(rng, 128, 4, 16, 16)).sum().backward()
    assert spy.calls == {"softmax_rows": 1, "softmax_rule_rows": 1}
