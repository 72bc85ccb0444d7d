"""The oneDNN backend's transformer primitives: float32 matrix products, layer
normalisation and the softmax (forward and gradient), against NumPy's path over
random shapes and layouts, at their edges (masked rows, NaN, infinities, small or
strided products that stay on NumPy), and through the layers, cr.jit, vmap and
second derivatives.

oneDNN's CPU wheel (``onednn-cpu-gomp``) is in the test extra, so these run
wherever the suite does."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from _helpers import run_in_threads
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn as nn
from chainrule import conv_backend
from chainrule.ops import activations, linalg, normalization

FLOAT32 = {"rtol": 1e-5, "atol": 1e-5}


pytestmark = pytest.mark.usefixtures("conv_backend_restored")


def _both(fn):
    """fn() on NumPy's path, then on oneDNN's."""
    cr.set_conv_backend("numpy")
    want = fn()
    cr.set_conv_backend("onednn")
    return want, fn()


def _layout(rng, shape, how):
    """An array of ``shape`` with values from rng: C-ordered, a transposed view, or
    rows of a wider array (a leading dimension larger than the row)."""
    if how == "transposed":
        return np.ascontiguousarray(rng.normal(size=shape[::-1]).astype(np.float32)).T
    if how == "wide":
        return rng.normal(size=(shape[0], shape[1] + 3)).astype(np.float32)[:, 1 : shape[1] + 1]
    return rng.normal(size=shape).astype(np.float32)


# ----------------------------------------------------------------- matrix products
@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 96),
    st.integers(1, 96),
    st.integers(1, 96),
    st.sampled_from(["c", "transposed", "wide"]),
    st.sampled_from(["c", "transposed", "wide"]),
    st.booleans(),
    st.integers(0, 2**16),
)
def test_onednn_multiplies_matrices_of_any_layout_as_numpy_does(m, k, n, la, lb, into, seed):
    rng = np.random.default_rng(seed)
    a, b = _layout(rng, (m, k), la), _layout(rng, (k, n), lb)
    want = a.astype(np.float64) @ b.astype(np.float64)
    cr.set_conv_backend("onednn")
    out = np.full((m, n), np.nan, dtype=np.float32) if into else None
    got = linalg.stack_matmul(a, b, out)
    if into:
        assert got is out
    assert got.dtype == np.float32 and got.shape == (m, n)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    # Products of enough work went to oneDNN; the others to NumPy, bit for bit.
    taken = conv_backend.matmul(a, b) is not None
    assert taken == (m * k * n >= conv_backend.MIN_GEMM_WORK)
    if not taken:
        assert np.array_equal(got, a @ b)


def test_a_stack_times_a_matrix_goes_to_onednn_folded():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(8, 16, 64)).astype(np.float32)
    b = rng.normal(size=(64, 48)).astype(np.float32)
    want, got = _both(lambda: linalg.stack_matmul(a, b))
    np.testing.assert_allclose(got, want, **FLOAT32)
    assert any(
        key[0] == "matmul" and key[1:4] == (128, 64, 48) for key in conv_backend.kernel_names()
    )


@pytest.mark.parametrize(
    "case",
    [
        "float64",
        "mixed",
        "strided",
        "overlapping out",
        "transposed out",
        "small",
        "3-D b",
        "int",
        "unaligned",
    ],
)
def test_what_onednn_does_not_multiply_stays_on_numpy_bit_for_bit(case):
    rng = np.random.default_rng(2)
    a = rng.normal(size=(64, 96)).astype(np.float32)
    b = rng.normal(size=(96, 80)).astype(np.float32)
    out = None
    if case == "float64":
        a, b = a.astype(np.float64), b.astype(np.float64)
    elif case == "mixed":
        b = b.astype(np.float64)
    elif case == "strided":
        a = rng.normal(size=(64, 192)).astype(np.float32)[:, ::2]  # no unit stride
    elif case == "overlapping out":
        a = rng.normal(size=(64, 64)).astype(np.float32)
        b = rng.normal(size=(64, 64)).astype(np.float32)
        out = a
    elif case == "transposed out":
        out = np.empty((80, 64), dtype=np.float32).T
    elif case == "small":
        a, b = a[:8, :8], b[:8, :8]
    elif case == "3-D b":
        b = np.stack([b, b])
    elif case == "int":
        a, b = (a * 10).astype(np.int32), (b * 10).astype(np.int32)
    elif case == "unaligned":  # float32 values one byte off a 4-byte boundary
        raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
        a = np.frombuffer(raw.data[1:], dtype=np.float32).reshape(a.shape)
        a[...] = rng.normal(size=a.shape)
        assert not a.flags.aligned
    cr.set_conv_backend("onednn")
    assert conv_backend.matmul(a, b, out) is None
    want = np.matmul(a, b, out=None if out is None else np.empty_like(out))  # out's layout
    got = linalg.stack_matmul(a, b, out)
    assert np.array_equal(got, want)
    if out is not None:
        assert got is out


# ----------------------------------------------------------------- layer normalisation
@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(1, 9), min_size=0, max_size=2),
    st.integers(1, 80),
    st.sampled_from([1e-5, 1e-3]),
    st.integers(0, 2**16),
)
def test_onednn_layer_norm_and_its_gradient_match_numpys(lead, n, eps, seed):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(*lead, n)) * 3 + 1).astype(np.float32)
    v = rng.normal(size=x.shape).astype(np.float32)

    def run():
        ans = normalization._normalize_forward(x, eps)
        return ans, normalization._rule_arrays(v, ans, x, eps)

    (ans0, g0), (ans1, g1) = _both(run)
    np.testing.assert_allclose(ans1, ans0, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(g1, g0, rtol=1e-4, atol=2e-4)


def test_the_layer_norm_gradient_after_a_switch_to_numpy_uses_onednns_statistics():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 24)).astype(np.float32)
    v = rng.normal(size=x.shape).astype(np.float32)
    cr.set_conv_backend("numpy")
    want = normalization._rule_arrays(v, normalization._normalize_forward(x), x)
    cr.set_conv_backend("onednn")
    ans = normalization._normalize_forward(x)
    assert id(ans) in normalization._saved_stats
    cr.set_conv_backend("numpy")
    np.testing.assert_allclose(normalization._rule_arrays(v, ans, x), want, rtol=1e-4, atol=1e-4)


def test_the_saved_statistics_go_with_their_result():
    cr.set_conv_backend("onednn")
    before = len(normalization._saved_stats)
    ans = normalization._normalize_forward(np.ones((4, 8), dtype=np.float32))
    assert len(normalization._saved_stats) == before + 1
    del ans
    assert len(normalization._saved_stats) == before


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_row_with_nan_or_infinity_normalises_to_nan_on_both_paths(bad):
    x = np.random.default_rng(4).normal(size=(3, 16)).astype(np.float32)
    x[1, 5] = bad
    want, got = _both(lambda: normalization._normalize_forward(x))
    assert np.isnan(got[1]).all() and np.isnan(want[1]).all()
    np.testing.assert_allclose(got[[0, 2]], want[[0, 2]], rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------- softmax
@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(1, 7), min_size=0, max_size=3),
    st.integers(1, 40),
    st.sampled_from([activations._softmax_forward, activations._safe_softmax_forward]),
    st.integers(0, 2**16),
)
def test_onednn_softmax_and_its_gradient_match_numpys(lead, n, forward, seed):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(*lead, n)) * 4).astype(np.float32)
    g = rng.normal(size=x.shape).astype(np.float32)

    def run():
        ans = forward(x)
        return ans, activations._softmax_rule_arrays(g, ans)

    (ans0, g0), (ans1, g1) = _both(run)
    np.testing.assert_allclose(ans1, ans0, **FLOAT32)
    np.testing.assert_allclose(g1, g0, **FLOAT32)


@pytest.mark.parametrize(
    "forward", [activations._softmax_forward, activations._safe_softmax_forward]
)
@pytest.mark.parametrize("bad", ["masked", "all masked", "nan", "inf"])
def test_softmax_of_masked_or_non_finite_rows_is_numpys_bit_for_bit(forward, bad):
    """What a masked row (-inf), a fully masked row, NaN or inf give is NumPy's path's
    answer (0s for a fully masked row in safe_softmax, NaN in softmax, as PyTorch)."""
    x = np.random.default_rng(5).normal(size=(2, 3, 8)).astype(np.float32)
    if bad == "masked":
        x[0, 1, 2:5] = -np.inf
    elif bad == "all masked":
        x[1, 2, :] = -np.inf
    else:
        x[0, 0, 3] = np.nan if bad == "nan" else np.inf
    want, got = _both(lambda: forward(x))
    assert np.array_equal(got, want, equal_nan=True)


def test_the_softmax_gradient_goes_to_numpy_where_onednn_has_no_jit_kernel_for_it(monkeypatch):
    cr.set_conv_backend("onednn")
    ans = activations._softmax_forward(np.ones((4, 6), dtype=np.float32))
    g = np.arange(24, dtype=np.float32).reshape(4, 6)
    plan = conv_backend._planner.softmax((4, 6))
    monkeypatch.setattr(plan, "backward_jit", False)
    assert conv_backend.softmax_grad(g, ans) is None
    want = ans * (g - (g * ans).sum(-1, keepdims=True))
    assert np.array_equal(activations._softmax_rule_arrays(g, ans), want)


# ----------------------------------------------------------------- through the layers
def _encoder_grads(backend, jit=False):
    cr.set_conv_backend(backend)
    nn.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=True)
    x = cr.tensor(np.random.default_rng(6).normal(size=(8, 10, 32)).astype(np.float32))
    names = [name for name, _ in layer.named_parameters()]
    owners = []
    for name in names:
        *path, leaf = name.split(".")
        mod = layer
        for part in path:
            mod = getattr(mod, part)
        owners.append((mod, leaf))

    def loss(*ps):  # the parameters swapped in as arguments, as cr.jit needs them
        saved = [getattr(m, leaf) for m, leaf in owners]
        try:
            for (m, leaf), p in zip(owners, ps):
                object.__setattr__(m, leaf, p)
            return (layer(x) ** 2).mean()
        finally:
            for (m, leaf), p in zip(owners, saved):
                object.__setattr__(m, leaf, p)

    params = [p.data for _, p in layer.named_parameters()]
    grad = cr.grad(loss, argnums=tuple(range(len(params))))
    if jit:
        grad = cr.jit(grad)
    return [np.asarray(g.data) for g in grad(*params)]


def test_an_encoder_layer_has_the_same_gradients_on_both_backends_eager_and_jitted():
    want = _encoder_grads("numpy")
    eager = _encoder_grads("onednn")
    jitted = _encoder_grads("onednn", jit=True)
    for w, e, j in zip(want, eager, jitted):
        np.testing.assert_allclose(e, w, rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(j, e, rtol=2e-4, atol=2e-5)
    assert any(key[0] == "layer_normalize" for key in conv_backend.kernel_names())
    assert any(key[0] == "softmax" for key in conv_backend.kernel_names())


def test_jit_compiles_the_softmax_gradient_as_one_operation():
    def f(x):
        return (activations.softmax(x, axis=-1) * cr.tensor(np.arange(6.0))).sum()

    x = np.random.default_rng(7).normal(size=(3, 6))
    jitted = cr.jit(cr.grad(f))
    assert "softmax_grad" in jitted.source(x)
    np.testing.assert_allclose(jitted(x).data, cr.grad(f)(x).data, rtol=1e-12)


def test_second_derivatives_and_vmap_of_the_softmax_and_layer_norm_on_onednn():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(4, 6)).astype(np.float32)
    w = cr.tensor(rng.normal(size=(6,)).astype(np.float32))

    def f(x):
        return (activations.softmax(normalization.normalize(x) * w, axis=-1) ** 2).sum()

    def run():
        hvp = cr.grad(lambda x: (cr.grad(f)(x) * x).sum())(cr.tensor(x))
        per_row = cr.vmap(cr.grad(f))(cr.tensor(x))
        rows = np.stack([cr.grad(f)(cr.tensor(r)).data for r in x])
        return hvp.data, per_row.data, rows

    (h0, v0, r0), (h1, v1, r1) = _both(run)
    np.testing.assert_allclose(v1, r1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(v0, r0, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h1, h0, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(v1, v0, rtol=1e-4, atol=1e-5)


def test_differentiating_the_compiled_softmax_gradient_is_refused_in_one_line():
    ans = cr.tensor(np.full((2, 3), 1 / 3))
    g = cr.tensor(np.ones((2, 3)), requires_grad=True)
    rule = activations.softmax_grad.vjps[0]
    with pytest.raises(RuntimeError, match="softmax_grad") as info:
        rule(g, ans, g, ans)
    assert "\n" not in str(info.value)


def test_compiled_float32_matrix_products_call_the_dispatching_product():
    """cr.jit compiles a float32 2-D product as stack_matmul, which picks the backend
    at each call: the same compiled code runs on NumPy or oneDNN."""
    w = np.random.default_rng(9).normal(size=(64, 96)).astype(np.float32)
    x = np.random.default_rng(10).normal(size=(80, 64)).astype(np.float32)

    def f(x, w):
        return cr.tanh(x @ w).sum()

    jitted = cr.jit(cr.grad(f, argnums=1))
    assert "_stack_matmul(" in jitted.source(x, w)
    cr.set_conv_backend("numpy")
    want = [jitted(x, w).data for _ in range(3)]
    assert np.array_equal(want[2], cr.grad(f, argnums=1)(x, w).data)
    cr.set_conv_backend("onednn")
    got = jitted(x, w).data
    np.testing.assert_allclose(got, want[2], rtol=1e-4, atol=1e-4)
    assert any(key[0] == "matmul" for key in conv_backend.kernel_names())


def test_the_environment_variable_selects_onednn_for_a_transformer_alone():
    """CHAINRULE_CONV=onednn: the first layer normalisation loads the backend (no
    convolution needed first), and ``import chainrule`` alone loads none of it."""
    code = (
        "import sys, numpy as np, chainrule as cr\n"
        "assert 'chainrule.conv_backend' not in sys.modules\n"
        "ln = cr.nn.LayerNorm(8)\n"
        "ln(cr.tensor(np.ones((4, 8), dtype=np.float32)))\n"
        "from chainrule import conv_backend\n"
        "print(cr.get_conv_backend(), sorted(k[0] for k in conv_backend.kernel_names()))\n"
    )
    env = {**os.environ, "CHAINRULE_CONV": "onednn"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "onednn ['layer_normalize']"


def test_threads_may_multiply_and_normalise_at_once():
    """Products and layer norms of several shapes from four threads at once: each
    plan runs one call at a time (its memory objects are set, then run), and the
    layer norms' saved statistics and gradients stay each thread's own."""
    rng = np.random.default_rng(11)
    cases = [
        (
            rng.normal(size=(64 + 16 * i, 96)).astype(np.float32),
            rng.normal(size=(96, 80)).astype(np.float32),
            rng.normal(size=(32, 24 + i)).astype(np.float32),
        )
        for i in range(4)
    ]

    def one(a, b, x):
        ans = normalization._normalize_forward(x)
        v = np.linspace(-1, 1, x.size, dtype=np.float32).reshape(x.shape)
        return linalg.stack_matmul(a, b), ans, normalization._rule_arrays(v, ans, x)

    cr.set_conv_backend("numpy")
    want = [one(*case) for case in cases]
    cr.set_conv_backend("onednn")
    got = run_in_threads(lambda i: [one(*cases[i]) for _ in range(15)])
    for i in range(4):
        for results in got[i]:
            for g, w in zip(results, want[i]):
                np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_a_softmax_along_another_axis_stays_on_numpy_bit_for_bit():
    x = np.random.default_rng(12).normal(size=(6, 5, 4)).astype(np.float32)
    g = np.random.default_rng(13).normal(size=x.shape).astype(np.float32)

    def run():
        ans = activations._softmax_forward(x, axis=1)
        return ans, activations._softmax_rule_arrays(g, ans, axis=1)

    (a0, g0), (a1, g1) = _both(run)
    assert np.array_equal(a1, a0) and np.array_equal(g1, g0)
