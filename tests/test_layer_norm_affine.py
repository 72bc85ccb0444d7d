"""``layer_norm_affine``: layer normalisation with its scale and shift in one node
(what ``F.layer_norm`` and ``nn.LayerNorm`` use over one axis with both), against
finite differences and against the composition it replaces (``layer_normalize``
times w plus b), in every mode: gradients, second derivatives, forward mode, vmap,
cr.jit, and on oneDNN."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_onednn_agrees_in_float32, assert_successive_backward_passes_agree
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.ops import normalization, normalization_affine
from chainrule.ops.primitive import call

FLOAT32 = {"rtol": 2e-4, "atol": 2e-4}


pytestmark = pytest.mark.usefixtures("conv_backend_restored")


def _fused(x, w, b, eps=1e-5):
    return F.layer_norm(x, x.shape[-1], w, b, eps)


def _composed(x, w, b, eps=1e-5):
    return call(normalization.normalize, x, eps=eps) * w + b


def _inputs(rng, lead, n, dtype=np.float64):
    x = cr.tensor((rng.normal(size=(*lead, n)) * 2 + 0.5).astype(dtype), requires_grad=True)
    w = cr.tensor(rng.normal(size=n).astype(dtype), requires_grad=True)
    b = cr.tensor(rng.normal(size=n).astype(dtype), requires_grad=True)
    return x, w, b


shapes = st.tuples(st.lists(st.integers(1, 5), min_size=0, max_size=2), st.integers(1, 12))


def test_layer_norm_uses_one_node_with_a_scale_and_a_shift_and_composes_otherwise():
    rng = np.random.default_rng(0)
    x, w, b = _inputs(rng, (3,), 4)
    assert F.layer_norm(x, 4, w, b)._node.prim is normalization_affine.layer_norm_affine
    others = [
        F.layer_norm(x, 4, w, None),  # no shift
        F.layer_norm(x, 4, None, b),
        F.layer_norm(x, 4, cr.tensor(w.data.astype(np.float32), requires_grad=True), b),
        F.layer_norm(x.reshape(3, 2, 2), (2, 2), w.reshape(2, 2), b.reshape(2, 2)),  # 2 axes
    ]
    for out in others:
        assert out._node.prim is not normalization_affine.layer_norm_affine


@settings(max_examples=20, deadline=None)
@given(shapes, st.integers(0, 2**16))
def test_gradients_match_finite_differences(shape, seed):
    x, w, b = _inputs(np.random.default_rng(seed), *shape)
    assert cr.gradcheck(lambda x, w, b: _fused(x, w, b), (x, w, b), rtol=1e-5, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(shapes, st.integers(0, 2**16))
def test_values_gradients_and_second_derivatives_are_the_compositions(shape, seed):
    rng = np.random.default_rng(seed)
    x, w, b = _inputs(rng, *shape)
    g = cr.tensor(rng.normal(size=x.shape))

    def loss(f):
        return lambda x, w, b: (f(x, w, b) * g).sum() + (f(x, w, b) ** 2).sum()

    fused, composed = _fused(x, w, b).data, _composed(x, w, b).data
    np.testing.assert_allclose(fused, composed, rtol=1e-12, atol=1e-12)
    got = cr.grad(loss(_fused), argnums=(0, 1, 2))(x, w, b)
    want = cr.grad(loss(_composed), argnums=(0, 1, 2))(x, w, b)
    for a, e in zip(got, want):
        np.testing.assert_allclose(a.data, e.data, rtol=1e-10, atol=1e-10)

    def hvp(f):  # a second derivative through every input
        first = cr.grad(loss(f), argnums=(0, 1, 2))

        def square(x, w, b):
            return sum((d * d).sum() for d in first(x, w, b))

        return cr.grad(square, argnums=(0, 1, 2))

    for a, e in zip(hvp(_fused)(x, w, b), hvp(_composed)(x, w, b)):
        np.testing.assert_allclose(a.data, e.data, rtol=1e-8, atol=1e-8)


def test_forward_mode_is_the_compositions():
    rng = np.random.default_rng(1)
    x, w, b = _inputs(rng, (3, 2), 5)
    tangents = tuple(cr.tensor(rng.normal(size=a.shape)) for a in (x, w, b))
    _, got = cr.jvp(_fused, (x, w, b), tangents)
    _, want = cr.jvp(_composed, (x, w, b), tangents)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-10, atol=1e-10)


def test_per_example_gradients_by_vmap_are_the_loops():
    rng = np.random.default_rng(2)
    x, w, b = _inputs(rng, (4, 3), 6)

    def loss(x, w, b):
        return (_fused(x, w, b) ** 3).sum()

    grads = cr.vmap(cr.grad(loss, argnums=(1, 2)), in_axes=(0, None, None))(x, w, b)
    for k in range(2):
        loop = np.stack([cr.grad(loss, argnums=(1, 2))(x[i], w, b)[k].data for i in range(4)])
        np.testing.assert_allclose(grads[k].data, loop, rtol=1e-10, atol=1e-10)
    # Per-example scales: a call per example, each right.
    ws = cr.tensor(rng.normal(size=(4, 6)))
    out = cr.vmap(_fused, in_axes=(0, 0, None))(x, ws, b)
    loop = np.stack([_fused(x[i], ws[i], b).data for i in range(4)])
    np.testing.assert_allclose(out.data, loop, rtol=1e-12)


def test_jit_compiles_the_three_gradients_with_the_eager_numbers():
    rng = np.random.default_rng(3)
    calls = [tuple(a.data for a in _inputs(rng, (4, 3), 8)) for _ in range(3)]

    def loss(x, w, b):
        return (_fused(x, w, b) * cr.tensor(np.arange(8.0))).sum()

    grad = cr.grad(loss, argnums=(0, 1, 2))
    jitted = cr.jit(grad)
    assert jitted.source(*calls[0]).count("layer_norm_affine_grad") == 3
    for args in calls:
        for got, want in zip(jitted(*args), grad(*args)):
            assert np.array_equal(got.data, want.data)


def test_successive_backward_passes_never_reuse_a_stale_gradient():
    """The three gradients are computed once per backward step and kept for the
    step's other inputs; another pass through the same result (a new upstream
    gradient) computes them again."""
    rng = np.random.default_rng(4)
    x, w, b = _inputs(rng, (5,), 7)
    assert_successive_backward_passes_agree(_fused(x, w, b), _composed(x, w, b), (x, w, b))
    # b without a gradient: its rule, the step's last, never runs, so the step's
    # gradients stay cached into the next pass, which must not read them.
    fixed = b.detach()
    assert_successive_backward_passes_agree(_fused(x, w, fixed), _composed(x, w, fixed), (x, w))


@settings(max_examples=15, deadline=None)
@given(shapes, st.integers(0, 2**16))
def test_onednn_computes_it_as_numpys_path_does(shape, seed):
    rng = np.random.default_rng(seed)
    x, w, b = _inputs(rng, *shape, dtype=np.float32)
    g = cr.tensor(rng.normal(size=x.shape).astype(np.float32))

    def run():
        out = _fused(x, w, b)
        grads = cr.grad(lambda x, w, b: (_fused(x, w, b) * g).sum(), argnums=(0, 1, 2))(x, w, b)
        return [out.data] + [d.data for d in grads]

    assert_onednn_agrees_in_float32(run, **FLOAT32)


def test_a_row_with_nan_gives_nan_there_on_both_backends():
    x, w, b = _inputs(np.random.default_rng(5), (3,), 8, dtype=np.float32)
    x = cr.tensor(np.where(np.arange(24).reshape(3, 8) == 10, np.nan, x.data).astype(np.float32))
    for backend in ("numpy", "onednn"):
        cr.set_conv_backend(backend)
        out = _fused(x, w, b).data
        assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()


def test_a_transposed_input_normalises_as_its_values_do_on_both_backends():
    rng = np.random.default_rng(6)
    x = cr.tensor(rng.normal(size=(8, 5)).astype(np.float32).T)  # (5, 8), not C-ordered
    w = cr.tensor(rng.normal(size=8).astype(np.float32))
    b = cr.tensor(rng.normal(size=8).astype(np.float32))
    want = _composed(cr.tensor(np.ascontiguousarray(x.data)), w, b).data
    for backend in ("numpy", "onednn"):
        cr.set_conv_backend(backend)
        np.testing.assert_allclose(_fused(x, w, b).data, want, **FLOAT32)
