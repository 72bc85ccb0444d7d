"""What a fused primitive's forward keeps for its backward (chainrule.ops.saved)
serves only a backward of that very output and those very inputs: each rule, asked
for other inputs' gradients with a kept output (as its ``*_grad`` primitive may be
called), computes them afresh instead of answering with the other forward's
pieces. And the mechanism itself: rows go with their output, arrays are matched by
identity, other values by equality."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from chainrule.ops import (
    attention,
    normalization,
    normalization_affine,
    recurrent,
    recurrent_fused,
    saved,
)

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _close(got, want):
    for a, e in zip(got, want):
        np.testing.assert_allclose(a, e, **TOL)


def _pair(rng, *shapes):
    """Two sets of float64 arrays of these shapes: the forward's, and others."""
    return [[rng.normal(size=s) for s in shapes] for _ in range(2)]


def test_lstm_layer():
    first, other = _pair(np.random.default_rng(0), (4, 3, 20), (3, 5), (3, 5), (20, 5))
    out = recurrent._lstm_forward(*first)
    gy = np.random.default_rng(1).normal(size=out.shape)
    got = recurrent._grads_from_saved(gy, out, *other)[1]
    want = recurrent._grads_from_saved(gy, recurrent._lstm_forward(*other), *other)[1]
    _close(got, want)


@pytest.mark.parametrize("numba", [True, False])
def test_lstm_fused(numba):
    from chainrule.ops import compiled

    rng = np.random.default_rng(2)
    shapes = ((4, 3, 2), (3, 5), (3, 5), (20, 2), (20, 5), (20,))
    first, other = ([a.astype(np.float32) for a in s] for s in _pair(rng, *shapes))
    g = rng.normal(size=(5, 3, 5)).astype(np.float32)
    try:
        compiled.use_numba(numba)
        out = recurrent_fused._forward(*first)
        got = recurrent_fused._grads_arrays(g, out, *other)[1]
        want = recurrent_fused._grads_arrays(g, recurrent_fused._forward(*other), *other)[1]
    finally:
        compiled.use_numba(True)
    for a, e in zip(got, want):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5)


def test_attention():
    rng = np.random.default_rng(3)
    first, other = _pair(rng, (2, 4, 3), (2, 5, 3), (2, 5, 3))
    out = attention._forward(*first, scale=0.5)
    g = rng.normal(size=out.shape)
    got = attention._grads_arrays(g, out, *other, None, 0.5, True, which=2)[:3]
    p = attention._weights(other[0], other[1], None, 0.5, True)
    want = attention._grads_into(g, p, *other, 0.5, None, None, None)[:3]
    _close(got, want)


def test_attention_with_another_scale():
    rng = np.random.default_rng(4)
    q, k, v = (rng.normal(size=(2, 4, 3)) for _ in range(3))
    out = attention._forward(q, k, v, scale=0.5)
    g = rng.normal(size=out.shape)
    got = attention._grads_arrays(g, out, q, k, v, None, 0.25, True, which=2)[:3]
    p = attention._weights(q, k, None, 0.25, True)
    _close(got, attention._grads_into(g, p, q, k, v, 0.25, None, None, None)[:3])


def test_self_attention_from_one_projection():
    rng = np.random.default_rng(5)
    first, other = _pair(rng, (2, 4, 12))
    out = attention._packed_forward(first[0], heads=2, scale=0.5)
    g = rng.normal(size=out.shape)
    got = attention._packed_grads_arrays(g, out, other[0], None, 2, 0.5, True)[0]
    fresh = attention._packed_forward(other[0], heads=2, scale=0.5)
    want = attention._packed_grads_arrays(g, fresh, other[0], None, 2, 0.5, True)[0]
    _close([got], [want])


def test_layer_normalize():
    rng = np.random.default_rng(6)
    first, other = _pair(rng, (3, 7))
    out = normalization._normalize_forward(first[0])
    v = rng.normal(size=out.shape)
    got = normalization._rule_arrays(v, out, other[0])
    # The rule reads the output itself as well; only the kept rstd is the forward's
    # input's, and for another input it is that input's, recomputed.
    inner = v - v.mean(-1, keepdims=True) - out * (v * out).mean(-1, keepdims=True)
    _close([got], [inner * normalization._rstd(other[0], 1e-5, (-1,))])


def test_layer_norm_affine():
    rng = np.random.default_rng(7)
    first, other = _pair(rng, (3, 7))
    w, b = rng.normal(size=7), rng.normal(size=7)
    out = normalization_affine._forward(first[0], w, b)
    g = rng.normal(size=out.shape)
    got = normalization_affine._grads_now(g, out, other[0], w, b, 1e-5)
    fresh = normalization_affine._forward(other[0], w, b)
    _close(got, normalization_affine._grads_now(g, fresh, other[0], w, b, 1e-5))


# ----------------------------------------------------------------- the mechanism
def test_a_row_serves_its_output_and_inputs_only():
    table: dict = {}
    x, y = np.ones(3), np.ones(3)
    out = np.zeros(2)
    saved.keep(table, out, (x, 1e-5, None), "stats")
    assert saved.kept(table, out, (x, 1e-5, None)) == "stats"
    assert saved.kept(table, out, (y, 1e-5, None)) is None  # an equal array, not the same
    assert saved.kept(table, out, (x, 1e-6, None)) is None  # another value
    assert saved.kept(table, out, (x, 1e-5, x)) is None  # an array where None was
    assert saved.kept(table, out, (x, 1e-5)) is None  # fewer inputs
    assert saved.kept(table, out.copy(), (x, 1e-5, None)) is None  # another output


def test_a_row_goes_with_its_output_and_hands_back_its_value():
    table: dict = {}
    freed = []
    out = np.zeros(2)
    saved.keep(table, out, (np.ones(1),), "workspace", freed.append)
    assert len(table) == 1
    del out
    gc.collect()
    assert table == {} and freed == ["workspace"]


def test_an_input_freed_since_the_forward_serves_nothing():
    table: dict = {}
    x, out = np.ones(3), np.zeros(2)
    saved.keep(table, out, (x,), "stats")
    del x
    gc.collect()
    assert saved.kept(table, out, (np.ones(3),)) is None
