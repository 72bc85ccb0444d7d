"""The compiled float32 LSTM cells (chainrule.ops.lstm_cells, numba): their tanh's
accuracy, agreement with NumPy's calls (values and all four gradients), NaNs and
infinities, the switches, and the fallbacks when numba is missing or broken."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops import lstm_cells
from chainrule.ops.recurrent import lstm_layer

pytest.importorskip("numba")
from chainrule.ops import _lstm_cells_numba as kernels  # noqa: E402


@pytest.fixture(autouse=True)
def _numba_on():
    lstm_cells.use_numba(True)
    yield
    lstm_cells.use_numba(True)


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


def _tanh(values) -> np.ndarray:
    x = np.asarray(values, dtype=np.float32)
    out = np.empty_like(x)
    kernels.tanh_into(x, out)
    return out


def test_tanh32_passes_nan_through_and_saturates_at_infinities():
    out = _tanh([np.nan, np.inf, -np.inf, 0.0, -0.0])
    assert np.isnan(out[0])
    np.testing.assert_array_equal(out[1:3], [1.0, -1.0])
    assert out[3] == 0 and not np.signbit(out[3]) and np.signbit(out[4])


def _inputs(rng, steps, batch, hidden, dtype=np.float32):
    return (
        rng.normal(size=(steps, batch, 4 * hidden)).astype(dtype),
        rng.normal(size=(batch, hidden)).astype(dtype),
        rng.normal(size=(batch, hidden)).astype(dtype),
        (rng.normal(size=(4 * hidden, hidden)) * 0.7).astype(dtype),
    )


def _layer_and_grads(args, seed_grad, numba: bool):
    lstm_cells.use_numba(numba)
    ts = [cr.tensor(a, requires_grad=True) for a in args]
    y = lstm_layer(*ts)
    (y * seed_grad).sum().backward()
    return [y.data] + [t.grad.data for t in ts]


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
    assert lstm_cells.numba_in_use()
    args = _inputs(np.random.default_rng(1), 3, 2, 4)
    want = lstm_layer(*args).data

    class Broken:
        @staticmethod
        def cell_forward(a, x, c_prev, c_new, tanh_c, h_new):
            a[...] = c_new[...] = tanh_c[...] = h_new[...] = 0

    real = lstm_cells._kernels
    lstm_cells._kernels = Broken
    try:
        got = lstm_layer(*args).data
    finally:
        lstm_cells._kernels = real
    assert not np.allclose(got, want)


def test_float64_and_mixed_dtypes_keep_numpys_calls():
    assert lstm_cells.cells_for(np.dtype(np.float64)) is None
    assert lstm_cells.cells_for(np.dtype(np.float16)) is None
    assert lstm_cells.cells_for(np.dtype(np.float32)) is kernels
    # float16 gate inputs with float32 states: computed in float32 by NumPy's calls
    xproj, h0, c0, w = _inputs(np.random.default_rng(2), 3, 2, 4)
    y = lstm_layer(xproj.astype(np.float16), h0, c0, w)
    lstm_cells.use_numba(False)
    np.testing.assert_array_equal(y.data, lstm_layer(xproj.astype(np.float16), h0, c0, w).data)


def test_a_nan_in_the_gates_reaches_the_outputs_and_gradients():
    xproj, h0, c0, w = _inputs(np.random.default_rng(3), 4, 3, 5)
    xproj[1, 2, 7] = np.nan
    x = cr.tensor(xproj, requires_grad=True)
    y = lstm_layer(x, h0, c0, w)
    assert np.isnan(y.data[1:, 2]).any() and np.isfinite(y.data[0]).all()
    y.sum().backward()
    assert np.isnan(x.grad.data).any()


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
    lstm_cells.use_numba(False)
    assert not lstm_cells.numba_in_use()
    lstm_cells.use_numba(True)
    assert lstm_cells.numba_in_use()
    import importlib

    monkeypatch.setenv("CHAINRULE_LSTM_CELLS", "numpy")
    fresh = importlib.reload(lstm_cells)
    try:
        assert not fresh.numba_in_use()
    finally:
        monkeypatch.delenv("CHAINRULE_LSTM_CELLS")
        importlib.reload(lstm_cells)


def test_without_numba_numpys_calls_run_quietly(monkeypatch, recwarn):
    monkeypatch.setattr(lstm_cells, "_kernels", None)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    assert lstm_cells.cells_for(np.dtype(np.float32)) is None
    assert not [w for w in recwarn if "LSTM" in str(w.message)]
    y = lstm_layer(*_inputs(np.random.default_rng(5), 2, 2, 3))
    assert np.isfinite(y.data).all()


def test_a_numba_that_fails_to_compile_warns_once_and_falls_back(monkeypatch):
    def broken(_kernels):
        raise RuntimeError("no LLVM here")

    monkeypatch.setattr(lstm_cells, "_kernels", None)
    monkeypatch.setattr(lstm_cells, "_warm_up", broken)
    with pytest.warns(RuntimeWarning, match="compiled LSTM cells are off.*no LLVM here"):
        assert lstm_cells.cells_for(np.dtype(np.float32)) is None
    assert lstm_cells.cells_for(np.dtype(np.float32)) is None  # no second warning


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
