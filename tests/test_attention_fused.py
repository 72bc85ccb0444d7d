"""``attention`` and ``attention_qkv``: scaled dot-product attention in one node (what
``F.scaled_dot_product_attention`` and ``nn.MultiheadAttention`` use without dropout
or returned weights), against finite differences and the composition they replace
(two batched products around a softmax), in every mode: gradients, second
derivatives, forward mode, vmap, cr.jit, masks at their edges, memory layouts, and
on oneDNN."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import (
    assert_onednn_agrees_in_float32,
    assert_successive_backward_passes_agree,
    run_in_threads,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.nn.functional_attention import attend
from chainrule.ops import attention

FLOAT32 = {"rtol": 2e-4, "atol": 2e-5}

pytestmark = pytest.mark.usefixtures("conv_backend_restored")


def _prims(t) -> set[str]:
    """The names of the primitives recorded on the way to ``t``."""
    seen, todo, names = set(), [t._node], set()
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen or not hasattr(node, "prim"):
            continue
        seen.add(id(node))
        names.add(node.prim.name)
        todo.extend(p for p in node.parents if p is not None)
    return names


def _array(x) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, cr.Tensor) else np.asarray(x)


def _fused(q, k, v, bias=None, scale=0.37, safe=True):
    return attention.attention(q, k, v, bias, scale=scale, safe=safe)


def _composed(q, k, v, bias=None, scale=0.37, safe=True):
    return attend(q, k, v, bias, scale, 0.0, safe, need_weights=True)[0]


def _tensors(rng, shapes, dtype=np.float64):
    return [cr.tensor(rng.normal(size=s).astype(dtype), requires_grad=True) for s in shapes]


# lead axes (broadcast between q and k/v), L, S, E, Ev
geometry = st.tuples(
    st.lists(st.integers(1, 3), min_size=0, max_size=2),
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(1, 4),
    st.integers(1, 4),
    st.booleans(),
)


def _shapes(lead, length, keys, e, ev, broadcast_q):
    q_lead = [1] * len(lead) if broadcast_q else lead
    return [(*q_lead, length, e), (*lead, keys, e), (*lead, keys, ev)]


@settings(max_examples=25, deadline=None)
@given(geometry, st.integers(0, 2**16))
def test_gradients_match_finite_differences(geo, seed):
    rng = np.random.default_rng(seed)
    q, k, v = _tensors(rng, _shapes(*geo))
    bias = cr.tensor(rng.normal(size=(q.shape[-2], k.shape[-2])), requires_grad=True)
    assert cr.gradcheck(
        lambda q, k, v, b: _fused(q, k, v, b), (q, k, v, bias), rtol=1e-5, atol=1e-6
    )


@settings(max_examples=20, deadline=None)
@given(geometry, st.integers(0, 2**16), st.booleans())
def test_values_gradients_and_second_derivatives_are_the_compositions(geo, seed, masked):
    rng = np.random.default_rng(seed)
    q, k, v = _tensors(rng, _shapes(*geo))
    bias = None
    if masked:  # -inf where masked, one query row masked from every key
        hit = rng.random((q.shape[-2], k.shape[-2])) < 0.3
        hit[0] = True
        bias = np.where(hit, -np.inf, 0.0)
    lead = np.broadcast_shapes(q.shape[:-2], v.shape[:-2])
    g = cr.tensor(rng.normal(size=(*lead, q.shape[-2], v.shape[-1])))

    def loss(f):
        return lambda q, k, v: (f(q, k, v, bias) * g).sum() + (f(q, k, v, bias) ** 2).sum()

    fused, composed = _fused(q, k, v, bias).data, _composed(q, k, v, bias).data
    np.testing.assert_allclose(fused, composed, rtol=1e-12, atol=1e-12)
    if masked:
        assert (fused[..., 0, :] == 0).all()  # the fully masked query: 0s, not NaNs
    got = cr.grad(loss(_fused), argnums=(0, 1, 2))(q, k, v)
    want = cr.grad(loss(_composed), argnums=(0, 1, 2))(q, k, v)
    for a, e in zip(got, want):
        assert a.shape == e.shape
        np.testing.assert_allclose(a.data, e.data, rtol=1e-10, atol=1e-10)
    # .backward() runs the rules on arrays (cr.grad records them, to differentiate).
    for f in (_fused, _composed):
        for t in (q, k, v):
            t.grad = None
        loss(f)(q, k, v).backward()
        if f is _fused:
            got = [t.grad.data.copy() for t in (q, k, v)]
    for a, t in zip(got, (q, k, v)):
        np.testing.assert_allclose(a, t.grad.data, rtol=1e-10, atol=1e-10)

    def hvp(f):
        first = cr.grad(loss(f), argnums=(0, 1, 2))
        return cr.grad(
            lambda q, k, v: sum((d * d).sum() for d in first(q, k, v)), argnums=(0, 1, 2)
        )

    for a, e in zip(hvp(_fused)(q, k, v), hvp(_composed)(q, k, v)):
        np.testing.assert_allclose(a.data, e.data, rtol=1e-8, atol=1e-8)


def test_without_safe_a_fully_masked_row_is_nan_as_the_plain_softmax_gives():
    rng = np.random.default_rng(0)
    q, k, v = _tensors(rng, [(2, 3, 4), (2, 5, 4), (2, 5, 2)])
    bias = np.zeros((3, 5))
    bias[1] = -np.inf
    fused = _fused(q, k, v, bias, safe=False).data
    assert np.isnan(fused[:, 1]).all() and np.isfinite(fused[:, [0, 2]]).all()
    np.testing.assert_allclose(fused, _composed(q, k, v, bias, safe=False).data, rtol=1e-12)


def test_forward_mode_is_the_compositions_in_every_input():
    rng = np.random.default_rng(1)
    q, k, v = _tensors(rng, [(2, 3, 4), (2, 5, 4), (2, 5, 3)])
    bias = cr.tensor(rng.normal(size=(3, 5)))
    args = (q, k, v, bias)
    tangents = tuple(cr.tensor(rng.normal(size=a.shape)) for a in args)
    _, got = cr.jvp(_fused, args, tangents)
    _, want = cr.jvp(_composed, args, tangents)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-10, atol=1e-10)


def test_a_float_mask_gets_its_gradient():
    rng = np.random.default_rng(2)
    q, k, v = _tensors(rng, [(2, 3, 4), (2, 5, 4), (2, 5, 3)])
    mask = cr.tensor(rng.normal(size=(2, 3, 5)), requires_grad=True)

    def loss(f):
        return lambda m: (f(q, k, v, m) ** 2).sum()

    got, want = cr.grad(loss(_fused))(mask), cr.grad(loss(_composed))(mask)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-10, atol=1e-12)


def test_per_example_results_and_gradients_by_vmap_are_the_loops():
    rng = np.random.default_rng(3)
    q, k, v = _tensors(rng, [(4, 2, 3, 4), (2, 5, 4), (2, 5, 3)])
    biases = cr.tensor(rng.normal(size=(4, 3, 5)))

    def loss(q, k, v, b):
        return (_fused(q, k, v, b) ** 2).sum()

    out = cr.vmap(_fused, in_axes=(0, None, None, 0))(q, k, v, biases)
    loop = np.stack([_fused(q[i], k, v, biases[i]).data for i in range(4)])
    np.testing.assert_allclose(out.data, loop, rtol=1e-12)
    grads = cr.vmap(cr.grad(loss, argnums=(0, 1)), in_axes=(0, None, None, 0))(q, k, v, biases)
    for j in range(2):
        each = [cr.grad(loss, argnums=(0, 1))(q[i], k, v, biases[i])[j].data for i in range(4)]
        np.testing.assert_allclose(grads[j].data, np.stack(each), rtol=1e-10, atol=1e-12)


def test_jit_compiles_the_gradients_with_the_eager_numbers():
    rng = np.random.default_rng(4)
    calls = [[rng.normal(size=s) for s in [(2, 3, 4), (2, 5, 4), (2, 5, 3)]] for _ in range(3)]
    weight = cr.tensor(rng.normal(size=(2, 3, 3)))

    def loss(q, k, v):
        return (F.scaled_dot_product_attention(q, k, v) * weight).sum()

    grad = cr.grad(loss, argnums=(0, 1, 2))
    jitted = cr.jit(grad)
    assert jitted.source(*calls[0]).count("attention_grad") == 3
    for args in calls:
        for got, want in zip(jitted(*args), grad(*args)):
            np.testing.assert_allclose(got.data, want.data, rtol=1e-12, atol=1e-14)


def test_differentiating_a_recorded_gradient_operation_is_refused():
    rng = np.random.default_rng(5)
    q, k, v = _tensors(rng, [(3, 2), (4, 2), (4, 2)])
    out = _fused(q, k, v)
    grad_op = attention.attention_grad(cr.tensor(np.ones(out.shape)), out, q, k, v, None)
    with pytest.raises(RuntimeError, match="attention_grad.*not to be differentiated"):
        grad_op.sum().backward()


def test_successive_backward_passes_never_reuse_a_stale_gradient():
    rng = np.random.default_rng(6)
    q, k, v = _tensors(rng, [(2, 3, 4), (2, 5, 4), (2, 5, 3)])
    assert_successive_backward_passes_agree(_fused(q, k, v), _composed(q, k, v), (q, k, v))
    # v without a gradient: its rule, the step's last, never runs, so the step's
    # gradients stay cached into the next pass, which must not read them.
    fixed = v.detach()
    assert_successive_backward_passes_agree(_fused(q, k, fixed), _composed(q, k, fixed), (q, k))


def test_heads_split_from_a_projection_are_merged_back_without_a_copy():
    """The result and the gradients come in their inputs' memory layouts, so the
    transposes and reshapes that undo the heads' views stay views."""
    rng = np.random.default_rng(7)
    n, length, heads, d = 2, 5, 3, 4
    proj = [cr.tensor(rng.normal(size=(n, length, heads * d)), requires_grad=True) for _ in "qkv"]
    q, k, v = (p.reshape(n, length, heads, d).swapaxes(1, 2) for p in proj)
    out = _fused(q, k, v)
    merged = out.swapaxes(1, 2)
    assert merged.data.flags.c_contiguous  # (n, L, heads, d) in memory: reshape is a view
    assert np.shares_memory(merged.reshape(n, length, heads * d).data, out.data)
    (merged.reshape(n, length, heads * d) ** 2).sum().backward()

    def composed(*ps):
        heads_of = [p.reshape(n, length, heads, d).swapaxes(1, 2) for p in ps]
        return (_composed(*heads_of).swapaxes(1, 2) ** 2).sum()

    want = cr.grad(composed, argnums=(0, 1, 2))(*proj)
    for p, e in zip(proj, want):
        np.testing.assert_allclose(p.grad.data, e.data, rtol=1e-10, atol=1e-12)


def test_sdpa_uses_one_node_without_dropout_and_composes_with_it():
    rng = np.random.default_rng(8)
    q, k, v = _tensors(rng, [(2, 3, 4), (2, 5, 4), (2, 5, 3)])
    assert "attention" in _prims(F.scaled_dot_product_attention(q, k, v, is_causal=True))
    dropped = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert "attention" not in _prims(dropped) and "safe_softmax" in _prims(dropped)


# ------------------------------------------------------------- attention_qkv
def _mha(embed=12, heads=3, **kw):
    cr.nn.manual_seed(0)
    return cr.nn.MultiheadAttention(embed, heads, batch_first=True, **kw).double()


def _packed_and_composed(mha, x, **kw):
    """Self-attention (one object: the packed path) and the same with key and value
    other objects (the three projections and the composition)."""
    packed = mha(x, x, x, need_weights=False, **kw)[0]
    composed = mha(x, x * 1.0, x * 1.0, need_weights=False, **kw)[0]
    return packed, composed


def test_self_attention_is_one_projection_and_one_node():
    mha = _mha()
    x = cr.tensor(np.random.default_rng(9).normal(size=(2, 4, 12)), requires_grad=True)
    packed, composed = _packed_and_composed(mha, x)
    assert "attention_qkv" in _prims(packed) and "getitem" not in _prims(packed)
    assert "attention_qkv" not in _prims(composed)
    # Returned weights, dropout in training, added keys: the composition.
    assert "attention_qkv" not in _prims(mha(x, x, x)[0])
    dropping = _mha(dropout=0.5)
    assert "attention_qkv" not in _prims(dropping(x, x, x, need_weights=False)[0])
    dropping.eval()
    assert "attention_qkv" in _prims(dropping(x, x, x, need_weights=False)[0])
    assert "attention_qkv" not in _prims(_mha(add_bias_kv=True)(x, x, x, need_weights=False)[0])


@settings(max_examples=20, deadline=None)
@given(
    st.integers(1, 3), st.integers(1, 6), st.sampled_from([(6, 1), (6, 2), (12, 3)]),
    st.sampled_from(["none", "padding", "causal", "float"]), st.integers(0, 2**16),
)  # fmt: skip
def test_self_attention_values_and_gradients_are_the_compositions(n, length, dims, mask, seed):
    rng = np.random.default_rng(seed)
    mha = _mha(*dims)
    x = cr.tensor(rng.normal(size=(n, length, dims[0])), requires_grad=True)
    kw = {}
    if mask == "padding":
        pad = rng.random((n, length)) < 0.3
        pad[0] = True  # a sequence with every key masked: 0s
        kw["key_padding_mask"] = pad
    elif mask == "causal":
        kw["attn_mask"] = np.triu(np.ones((length, length), bool), 1)
        kw["is_causal"] = True
    elif mask == "float":
        kw["attn_mask"] = rng.normal(size=(n * dims[1], length, length))
    packed, composed = _packed_and_composed(mha, x, **kw)
    np.testing.assert_allclose(packed.data, composed.data, rtol=1e-12, atol=1e-12)
    params = [mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight]
    g = cr.tensor(rng.normal(size=packed.shape))

    def grads(same):
        def loss(x, *ps):
            y = x if same else x * 1.0
            return ((mha(x, y, y, need_weights=False, **kw)[0] * g) ** 2).sum()

        return cr.grad(loss, argnums=(0, 1, 2, 3))(x, *params)

    for a, e in zip(grads(True), grads(False)):
        np.testing.assert_allclose(a.data, e.data, rtol=1e-10, atol=1e-10)
    # And by .backward(), the rules on arrays.
    found = []
    for out in (packed, composed):
        for t in (x, *params):
            t.grad = None
        ((out * g) ** 2).sum().backward()
        found.append([t.grad.data.copy() for t in (x, *params)])
    for a, e in zip(*found):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-10)


def test_self_attention_gradients_match_finite_differences_and_second_derivatives():
    rng = np.random.default_rng(10)
    qkv = cr.tensor(rng.normal(size=(2, 4, 18)), requires_grad=True)
    bias = cr.tensor(rng.normal(size=(3, 4, 4)), requires_grad=True)

    def f(qkv, bias):
        return attention.attention_qkv(qkv, bias, heads=3, scale=0.4)

    assert cr.gradcheck(f, (qkv, bias), rtol=1e-5, atol=1e-6)

    def composed(qkv, bias):
        q, k, v = (attention.split_heads(qkv[..., i * 6 : (i + 1) * 6], 3) for i in range(3))
        return attention.merge_heads(_composed(q, k, v, bias, scale=0.4))

    def hvp(fn):
        first = cr.grad(lambda a, b: (fn(a, b) ** 3).sum(), argnums=(0, 1))
        return cr.grad(lambda a, b: sum((d * d).sum() for d in first(a, b)), argnums=(0, 1))

    for a, e in zip(hvp(f)(qkv, bias), hvp(composed)(qkv, bias)):
        np.testing.assert_allclose(a.data, e.data, rtol=1e-8, atol=1e-8)
    tangents = (cr.tensor(rng.normal(size=qkv.shape)), cr.tensor(rng.normal(size=bias.shape)))
    got = cr.jvp(f, (qkv, bias), tangents)[1]
    np.testing.assert_allclose(got.data, cr.jvp(composed, (qkv, bias), tangents)[1].data, 1e-10)


def test_self_attention_under_vmap_and_jit_is_the_loop_and_eager():
    rng = np.random.default_rng(11)
    mha = _mha()
    xs = rng.normal(size=(3, 2, 4, 12))
    masks = rng.normal(size=(3, 4, 4))

    def loss(x, m):
        return (mha(x, x, x, need_weights=False, attn_mask=m)[0] ** 2).sum()

    per_example = _array(cr.vmap(cr.grad(loss), in_axes=(0, 0))(xs, masks))
    for i in range(3):
        np.testing.assert_allclose(per_example[i], _array(cr.grad(loss)(xs[i], masks[i])), 1e-10)
    shared = _array(cr.vmap(loss, in_axes=(None, 0))(xs[0], masks))
    np.testing.assert_allclose(shared, [_array(loss(xs[0], m)) for m in masks], 1e-12)
    jitted = cr.jit(cr.grad(loss))
    assert jitted.source(xs[0], masks[0]).count("attention_qkv_grad") == 1
    for i in range(3):
        got, want = jitted(xs[i], masks[i]), cr.grad(loss)(xs[i], masks[i])
        np.testing.assert_allclose(_array(got), _array(want), rtol=1e-12)


@pytest.mark.parametrize("batch_first", [True, False])
def test_self_attention_unbatched_and_sequence_first_inputs(batch_first):
    rng = np.random.default_rng(12)
    cr.nn.manual_seed(0)
    mha = cr.nn.MultiheadAttention(8, 2, batch_first=batch_first).double()
    for shape in [(5, 8), (3, 5, 8)]:
        x = cr.tensor(rng.normal(size=shape), requires_grad=True)
        packed = mha(x, x, x, need_weights=False)[0]
        composed = mha(x, x * 1.0, x * 1.0, need_weights=False)[0]
        assert packed.shape == shape and "attention_qkv" in _prims(packed)
        np.testing.assert_allclose(packed.data, composed.data, rtol=1e-12, atol=1e-12)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**16), st.booleans())
def test_onednn_computes_it_as_numpys_path_does(seed, masked):
    rng = np.random.default_rng(seed)
    cr.nn.manual_seed(0)
    mha = cr.nn.MultiheadAttention(16, 4, batch_first=True)
    x = cr.tensor(rng.normal(size=(8, 16, 16)).astype(np.float32), requires_grad=True)
    pad = (rng.random((8, 16)) < 0.2) if masked else None

    def run():
        params = [x, mha.in_proj_weight, mha.out_proj.weight]
        for p in params:
            p.grad = None
        out = mha(x, x, x, need_weights=False, key_padding_mask=pad)[0]
        (out * out).sum().backward()
        return [out.data] + [p.grad.data for p in params]

    assert_onednn_agrees_in_float32(run, **FLOAT32)


def test_takes_only_what_the_composition_would_compute_the_same_way():
    f32 = np.zeros((2, 3), np.float32)
    assert attention.takes(f32, f32, f32, None)
    assert not attention.takes(f32, f32.astype(np.float64), f32, None)  # promotion
    assert not attention.takes(f32.astype(int), f32, f32, None)
    assert not attention.takes(f32, f32, f32, np.zeros((2, 2)))  # a float64 bias
    assert attention.takes_packed((2, 4, 18), np.float32, None, 3)
    assert not attention.takes_packed((2, 4, 18), np.float32, None, 4)  # E = 6: not 4 heads
    assert not attention.takes_packed((2, 4, 18), np.float32, np.zeros((5, 3, 4, 4), np.float32), 3)
    assert attention.takes_packed((2, 4, 18), np.float32, np.zeros((2, 1, 1, 4), np.float32), 3)


@pytest.mark.parametrize("backend", ["numpy", "onednn"])
def test_threads_may_attend_and_backpropagate_at_once(backend):
    """Self-attention forward and backward from four threads at once: the weights
    each forward saves and the gradients each backward step computes once stay
    with their own result and thread."""
    cr.set_conv_backend(backend)
    rng = np.random.default_rng(13)
    cr.nn.manual_seed(0)
    mha = cr.nn.MultiheadAttention(16, 4, batch_first=True)
    inputs = [rng.normal(size=(4 + i, 6 + i, 16)).astype(np.float32) for i in range(4)]

    def one(x):
        x = cr.tensor(x, requires_grad=True)
        out = mha(x, x, x, need_weights=False)[0]
        (out * out).sum().backward()
        return out.data, x.grad.data

    want = [one(x) for x in inputs]
    got = run_in_threads(lambda i: [one(inputs[i]) for _ in range(10)])
    for i in range(4):
        for results in got[i]:
            for g, w in zip(results, want[i]):
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
