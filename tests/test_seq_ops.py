"""The primitives behind the recurrent and attention layers: ``lstm_layer`` (the
whole LSTM recurrence) and ``safe_softmax`` (softmax with fully masked rows),
against finite differences in float64, to second order, over random shapes."""

import gc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops import recurrent
from chainrule.ops.activations import safe_softmax
from chainrule.ops.recurrent import lstm_layer
from chainrule.test_util import check_grads


def _lstm_inputs(rng, steps, batch, hidden, inputs=None):
    return (
        rng.normal(size=(steps, batch, 4 * hidden)),
        rng.normal(size=(batch, hidden)),
        rng.normal(size=(batch, hidden)),
        rng.normal(size=(4 * hidden, hidden)) * 0.7,
    )


def _lstm_by_hand(xproj, h, c, w):
    """PyTorch's cell, step by step in NumPy: the reference."""
    hidden = h.shape[-1]
    out = []
    for t in range(xproj.shape[0]):
        a = xproj[t] + h @ w.T
        i, f, g, o = (a[:, k * hidden : (k + 1) * hidden] for k in range(4))
        sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        out.append(np.concatenate([h, c], axis=-1))
    return np.stack(out)


@settings(max_examples=15, deadline=None)
@given(
    steps=st.integers(1, 4),
    batch=st.integers(1, 3),
    hidden=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_lstm_layer_values_and_derivatives(steps, batch, hidden, seed):
    args = _lstm_inputs(np.random.default_rng(seed), steps, batch, hidden)
    np.testing.assert_allclose(lstm_layer(*args).data, _lstm_by_hand(*args), rtol=1e-12, atol=1e-12)
    check_grads(lstm_layer, argnum=(0, 1, 2, 3), modes=["fwd", "rev"], order=2)(*args)


def test_lstm_layer_gradcheck_and_gradgradcheck():
    args = [
        cr.tensor(a, requires_grad=True) for a in _lstm_inputs(np.random.default_rng(1), 3, 2, 2)
    ]
    f = lambda *a: lstm_layer(*a)  # noqa: E731
    assert cr.gradcheck(f, args)
    assert cr.gradgradcheck(f, args)


def test_the_saved_and_the_recomputed_backward_agree():
    # A plain backward pass reads what the forward pass saved; a recorded one
    # (create_graph) recomputes with Tensors. Both must give the same gradients.
    rng = np.random.default_rng(2)
    args = _lstm_inputs(rng, 5, 3, 4)
    gy = rng.normal(size=(5, 3, 8))
    plain = [cr.tensor(a, requires_grad=True) for a in args]
    lstm_layer(*plain).backward(gy)
    recorded = [cr.tensor(a, requires_grad=True) for a in args]
    grads = cr.autograd.grad(lstm_layer(*recorded), recorded, gy, create_graph=True)
    for p, g in zip(plain, grads):
        np.testing.assert_allclose(p.grad.data, g.data, rtol=1e-12, atol=1e-12)


def _feature_major(xproj):
    """``xproj`` as nn.LSTM hands it over: a (L, N, 4H) view of a (L, 4H, N) array."""
    return np.ascontiguousarray(xproj.swapaxes(1, 2)).swapaxes(1, 2)


@settings(max_examples=15, deadline=None)
@given(
    steps=st.integers(1, 5),
    batch=st.integers(1, 4),
    hidden=st.integers(1, 3),
    live=st.lists(st.booleans(), min_size=5, max_size=5),
    seed=st.integers(0, 2**16),
)
def test_either_layout_and_zero_output_gradients_give_the_recorded_gradients(
    steps, batch, hidden, live, seed
):
    # The plain backward pass skips the steps whose output gradient is zero and
    # reads xproj feature-major without a copy (nn.LSTM's layout) or after one; the
    # recorded pass (create_graph) uses neither shortcut. All must agree.
    rng = np.random.default_rng(seed)
    args = _lstm_inputs(rng, steps, batch, hidden)
    gy = rng.normal(size=(steps, batch, 2 * hidden)) * np.array(live[:steps])[:, None, None]
    recorded = [cr.tensor(a, requires_grad=True) for a in args]
    want = cr.autograd.grad(lstm_layer(*recorded), recorded, gy, create_graph=True)
    for xproj in (args[0], _feature_major(args[0])):
        plain = [cr.tensor(a, requires_grad=True) for a in (xproj, *args[1:])]
        y = lstm_layer(*plain)
        np.testing.assert_allclose(y.data, _lstm_by_hand(*args), rtol=1e-12, atol=1e-12)
        y.backward(gy)
        for p, g in zip(plain, want):
            np.testing.assert_allclose(p.grad.data, g.data, rtol=1e-10, atol=1e-12)


def test_lstm_layer_on_the_feature_major_layout_passes_gradcheck():
    rng = np.random.default_rng(11)
    xproj, h0, c0, w = _lstm_inputs(rng, 3, 2, 2)
    x = cr.tensor(_feature_major(xproj), requires_grad=True)
    assert not x.data.flags.c_contiguous  # the layout under test reaches the op
    args = [x] + [cr.tensor(a, requires_grad=True) for a in (h0, c0, w)]
    assert cr.gradcheck(lambda *a: lstm_layer(*a), args)


@settings(max_examples=15, deadline=None)
@given(
    steps=st.integers(1, 4),
    batch=st.integers(1, 3),
    features=st.integers(1, 4),
    hidden=st.integers(1, 3),
    bias=st.booleans(),
    reverse=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_lstm_gate_inputs_are_the_linear_map_with_its_gradients(
    steps, batch, features, hidden, bias, reverse, seed
):
    # nn.LSTM's input projection, made feature-major (the bias a column of W_ih
    # against a row of ones): the values and gradients of F.linear.
    from chainrule.nn.layers_recurrent import _gate_inputs

    rng = np.random.default_rng(seed)
    arrays = [
        rng.normal(size=(steps, batch, features)),
        rng.normal(size=(4 * hidden, features)),
        rng.normal(size=4 * hidden) if bias else None,
    ]
    gy = rng.normal(size=(steps, batch, 4 * hidden))
    results = []
    for fn in (_gate_inputs, cr.nn.functional.linear):
        ts = [None if a is None else cr.tensor(a, requires_grad=True) for a in arrays]
        seq = ts[0][::-1] if reverse else ts[0]  # nn.RNNBase's reverse direction
        y = fn(seq, *ts[1:])
        y.backward(gy)
        results.append([y.data] + [t.grad.data for t in ts if t is not None])
    assert results[0][0].swapaxes(1, 2).flags.c_contiguous  # (L, 4H, N) underneath
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_what_the_forward_pass_saved_goes_with_its_output():
    before = len(recurrent._saved)
    args = [
        cr.tensor(a, requires_grad=True) for a in _lstm_inputs(np.random.default_rng(3), 3, 2, 2)
    ]
    y = lstm_layer(*args)
    assert len(recurrent._saved) == before + 1
    y.sum().backward()
    del y
    gc.collect()
    assert len(recurrent._saved) == before


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_layer_keeps_float32_and_saturates_without_nan(dtype):
    rng = np.random.default_rng(4)
    xproj, h0, c0, w = (a.astype(dtype) for a in _lstm_inputs(rng, 3, 2, 2))
    xproj[0, 0] = 1e4  # exp overflows: the gates saturate at 0 or 1
    xproj[1, 1] = -1e4
    x = cr.tensor(xproj, requires_grad=True)
    y = lstm_layer(x, h0, c0, w)
    assert y.dtype == dtype and np.isfinite(y.data).all()
    y.sum().backward()
    assert x.grad.dtype == dtype and np.isfinite(x.grad.data).all()


# ------------------------------------------------------------------ safe_softmax
@settings(max_examples=20, deadline=None)
@given(rows=st.integers(1, 4), cols=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_safe_softmax_is_softmax_where_a_row_has_a_finite_entry(rows, cols, seed):
    x = np.random.default_rng(seed).normal(size=(rows, cols))
    np.testing.assert_allclose(safe_softmax(x).data, cr.softmax(x).data, rtol=1e-14)
    check_grads(lambda t: safe_softmax(t, axis=-1), modes=["fwd", "rev"], order=2)(x)


def test_safe_softmax_gives_zeros_and_zero_gradient_on_a_fully_masked_row():
    x = np.array([[0.5, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf]])
    t = cr.tensor(x, requires_grad=True)
    y = safe_softmax(t, axis=-1)
    np.testing.assert_array_equal(y.data[1], 0.0)
    assert np.isfinite(y.data).all()
    (y * np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
    np.testing.assert_array_equal(t.grad.data[1], 0.0)
    assert t.grad.data[0, 1] == 0.0


# ------------------------------------------------------------------ layer_normalize
@settings(max_examples=20, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    last=st.integers(1, 2),
    eps=st.sampled_from([1e-5, 0.1]),
    seed=st.integers(0, 2**16),
)
def test_layer_normalize_values_and_derivatives(shape, last, eps, seed):
    from chainrule.ops.normalization import normalize

    x = np.random.default_rng(seed).normal(size=tuple(shape) + (3,))
    axes = tuple(range(x.ndim - min(last, x.ndim), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    want = (x - mean) / np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + eps)
    np.testing.assert_allclose(normalize(x, eps=eps, axes=axes).data, want, rtol=1e-12, atol=1e-12)
    check_grads(lambda t: normalize(t, eps=eps, axes=axes), modes=["fwd", "rev"], order=2)(x)


def test_layer_norm_keeps_float32():
    x = cr.tensor(
        np.random.default_rng(5).normal(size=(4, 6)).astype(np.float32), requires_grad=True
    )
    ln = cr.nn.LayerNorm(6)
    y = ln(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and ln.weight.grad.dtype == np.float32


# ------------------------------------------------------------------ lstm_layer under cr.jit
def _lstm_loss(w_hh, xproj, h0, c0):
    y = lstm_layer(xproj, h0, c0, w_hh)
    return (y * y).sum()


def _traced_prims(fn, *args):
    """The primitives a cr.jit trace of ``fn(*args)`` recorded, by name."""
    from chainrule.jit.tracer import Tracer
    from chainrule.tensor import _wrap, set_tracer

    tracer = Tracer("test")
    traced = []
    for a in args:
        t = _wrap(np.asarray(a).view(), None)
        t._requires_grad = True
        tracer.new_input(t)
        tracer.grad_only_for_tracing.add(id(t))
        tracer.array_inputs[id(t)] = False
        traced.append(t)
    previous = set_tracer(tracer)
    try:
        fn(*traced)
    finally:
        set_tracer(previous)
    return [e.prim.name for e in tracer.entries]


def test_a_jitted_gradient_walks_back_from_what_the_forward_saved():
    # jit records a gradient's backward pass; nothing differentiates it, so the LSTM's
    # walk back is one operation reading the saved gates, not a loop of formulas.
    rng = np.random.default_rng(5)
    xproj, h0, c0, w = (a.astype(np.float32) for a in _lstm_inputs(rng, 6, 3, 4))
    names = _traced_prims(cr.value_and_grad(_lstm_loss), w, xproj, h0, c0)
    assert names.count("lstm_layer_grads") == 1 and names.count("lstm_layer") == 1
    assert "sigmoid" not in names and len(names) < 20
    eager_value, eager_grad = cr.value_and_grad(_lstm_loss)(w, xproj, h0, c0)
    jitted = cr.jit(cr.value_and_grad(_lstm_loss))
    for _ in range(3):  # traced, traced again and compared, then compiled
        value, grad = jitted(w, xproj, h0, c0)
        np.testing.assert_allclose(value, eager_value, rtol=1e-6)
        np.testing.assert_allclose(grad, eager_grad, rtol=1e-5, atol=1e-6)
    x2 = xproj[::-1].copy()  # new values, through the compiled code
    np.testing.assert_allclose(
        jitted(w, x2, h0, c0)[1],
        cr.value_and_grad(_lstm_loss)(w, x2, h0, c0)[1],
        rtol=1e-5,
        atol=1e-6,
    )


def test_a_jitted_second_derivative_through_lstm_layer_keeps_the_formulas():
    # A gradient inside a gradient is differentiated: its walk back is the recorded
    # formulas (right to any order); only the outer one, which nothing differentiates,
    # is the one-operation walk.
    rng = np.random.default_rng(6)
    xproj, h0, c0, w = _lstm_inputs(rng, 3, 2, 2)

    def outer(w, xproj, h0, c0):
        g = cr.grad(_lstm_loss)(w, xproj, h0, c0)
        return (g * g).sum()

    names = _traced_prims(cr.grad(outer), w, xproj, h0, c0)
    assert names.count("lstm_layer_grads") == 1 and "sigmoid" in names
    want = cr.grad(outer)(w, xproj, h0, c0)
    jitted = cr.jit(cr.grad(outer))
    for _ in range(3):
        np.testing.assert_allclose(jitted(w, xproj, h0, c0), want, rtol=1e-10)
    # and the second derivative itself against finite differences
    check_grads(lambda w: outer(w, xproj, h0, c0), modes=["rev"], order=1)(w)


def test_a_jitted_gradient_of_a_tensor_that_requires_grad_stays_differentiable():
    # With a Tensor that requires grad, the caller may differentiate the gradient
    # inside the function, as eagerly: the recorded formulas again.
    rng = np.random.default_rng(7)
    xproj, h0, c0, w = _lstm_inputs(rng, 3, 2, 2)

    def f(w, xproj):
        g = cr.grad(_lstm_loss)(w, xproj, h0, c0)
        return cr.autograd.grad((g * g).sum(), w)[0]

    wt = cr.tensor(w, requires_grad=True)
    want = f(wt, xproj).data
    jitted = cr.jit(f)
    for _ in range(3):
        np.testing.assert_allclose(cr.tensor(jitted(wt, xproj)).data, want, rtol=1e-10)


def test_the_packed_walk_back_refuses_to_be_differentiated():
    rng = np.random.default_rng(8)
    xproj, h0, c0, w = _lstm_inputs(rng, 2, 2, 2)
    y = lstm_layer(xproj, h0, c0, w)
    gy = cr.tensor(rng.normal(size=y.shape), requires_grad=True)
    packed = recurrent.lstm_layer_grads(gy, y.data, xproj, h0, c0, w)
    with pytest.raises(RuntimeError, match="lstm_layer_grads.*not to be differentiated"):
        packed.sum().backward()
    with pytest.raises(RuntimeError, match="lstm_layer_grads.*not to be differentiated"):
        cr.jvp(
            lambda g: recurrent.lstm_layer_grads(g, y.data, xproj, h0, c0, w),
            (gy.data,),
            (gy.data,),
        )


def test_the_packed_walk_back_recomputes_what_was_not_saved():
    # Given an output the forward pass saved nothing for (a copy), the walk back runs
    # the forward pass again: the same gradients.
    rng = np.random.default_rng(9)
    args = _lstm_inputs(rng, 4, 3, 2)
    gy = rng.normal(size=(4, 3, 4))
    y = lstm_layer(*args).data
    direct = recurrent.lstm_layer_grads(gy, y, *args).data
    copied = recurrent.lstm_layer_grads(gy, y.copy(), *args).data
    np.testing.assert_array_equal(direct, copied)
    plain = [cr.tensor(a, requires_grad=True) for a in args]
    lstm_layer(*plain).backward(gy)
    # the packed array holds d xproj feature-major ((L, 4H, N), nn.LSTM's layout)
    parts = recurrent._unpack(direct, recurrent._sizes(4, 3, 2), 4, 3, 2)
    for part, p in zip(parts, plain):
        np.testing.assert_allclose(part, p.grad.data, rtol=1e-12)


# ------------------------------------------------------------------ layer_normalize, linear
@settings(max_examples=15, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_layer_normalize_rule_from_the_saved_rstd_is_the_recomputed_one(shape, dtype, seed):
    from chainrule.ops import normalization

    rng = np.random.default_rng(seed)
    x = (rng.normal(size=shape) * 3 + 1).astype(dtype)
    v = rng.normal(size=shape).astype(dtype)
    y = normalization._normalize_forward(x)
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, want, rtol=tol, atol=tol)
    saved = normalization._normalize_rule(v, y, x)  # y's rstd was saved
    recomputed = normalization._normalize_rule(v, y.copy(), x)  # a copy's was not
    np.testing.assert_allclose(saved, recomputed, rtol=tol, atol=tol)
    assert saved.dtype == dtype


def test_a_jitted_gradient_through_layer_normalize_is_one_operation():
    from chainrule.ops.normalization import normalize

    rng = np.random.default_rng(10)
    x = rng.normal(size=(4, 3, 6)).astype(np.float32)
    v = rng.normal(size=(4, 3, 6)).astype(np.float32)

    def loss(x, v):
        return (normalize(x) * v).sum()

    names = _traced_prims(cr.grad(loss), x, v)
    assert names.count("layer_normalize_grad") == 1 and "sqrt" not in names
    jitted = cr.jit(cr.grad(loss))
    for xb in (x, x, x[::-1].copy()):
        np.testing.assert_allclose(jitted(xb, v), cr.grad(loss)(xb, v), rtol=1e-5, atol=1e-6)
    # differentiated inside the trace: the recorded formulas, right to second order
    hess = cr.jit(cr.grad(lambda x, v: (cr.grad(loss)(x, v) ** 2).sum()))
    x64, v64 = x.astype(np.float64), v.astype(np.float64)
    want = cr.grad(lambda x, v: (cr.grad(loss)(x, v) ** 2).sum())(x64, v64)
    for _ in range(3):
        np.testing.assert_allclose(hess(x64, v64), want, rtol=1e-10)


def test_the_layer_normalize_grad_operation_refuses_to_be_differentiated():
    from chainrule.ops.normalization import normalize, normalize_grad

    x = np.random.default_rng(11).normal(size=(2, 3))
    y = normalize(x).data
    v = cr.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match="layer_normalize_grad.*not to be differentiated"):
        normalize_grad(v, y, x).sum().backward()


@settings(max_examples=15, deadline=None)
@given(
    lead=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    fan=st.integers(1, 4),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_linear_bias_gradient_is_the_sum_over_leading_axes(lead, fan, dtype, seed):
    from chainrule.ops.nn_ops import linear

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(*lead, 3)).astype(dtype)
    w = rng.normal(size=(fan, 3)).astype(dtype)
    g = rng.normal(size=(*lead, fan)).astype(dtype)
    b = cr.tensor(rng.normal(size=fan).astype(dtype), requires_grad=True)
    linear(x, w, b).backward(g)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    want = g.reshape(-1, fan).sum(axis=0)
    np.testing.assert_allclose(b.grad.data, want, rtol=tol, atol=tol)
    assert b.grad.dtype == dtype
    # recorded (Tensors): the same, and differentiable
    b2 = cr.tensor(b.data, requires_grad=True)
    gt = cr.tensor(g, requires_grad=True)
    (db,) = cr.autograd.grad(linear(x, w, b2), [b2], gt, create_graph=True)
    np.testing.assert_allclose(db.data, want, rtol=tol, atol=tol)
    (dg,) = cr.autograd.grad(db.sum(), [gt])
    np.testing.assert_array_equal(dg.data, np.ones_like(g))


def test_what_layer_normalize_saved_goes_with_its_output():
    from chainrule.ops import normalization

    before = len(normalization._saved_rstd)
    x = cr.tensor(np.random.default_rng(12).normal(size=(3, 5)), requires_grad=True)
    y = normalization.normalize(x)
    assert len(normalization._saved_rstd) == before + 1
    (y * y).sum().backward()
    del y
    gc.collect()
    assert len(normalization._saved_rstd) == before


def test_vmap_of_the_two_walk_back_operations_is_the_loop_over_examples():
    import warnings

    from chainrule.ops import normalization

    rng = np.random.default_rng(13)
    x, v = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 4, 5))
    y = np.stack([normalization._normalize_forward(xi) for xi in x])
    args = _lstm_inputs(rng, 3, 2, 2)
    ys = lstm_layer(*args).data
    gy = rng.normal(size=(4, *ys.shape))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a rule of their own: no loop warning
        norm = cr.vmap(lambda v, y, x: normalization.normalize_grad(v, y, x))(v, y, x)
        walk = cr.vmap(lambda g: recurrent.lstm_layer_grads(g, ys, *args))(gy)
    want = [normalization.normalize_grad(*a).data for a in zip(v, y, x)]
    np.testing.assert_allclose(norm, np.stack(want), rtol=1e-12)
    want = [recurrent.lstm_layer_grads(g, ys, *args).data for g in gy]
    np.testing.assert_allclose(walk, np.stack(want), rtol=1e-12)


def _lstm_module_and_loss(seed):
    cr.nn.manual_seed(seed)
    lstm = cr.nn.LSTM(3, 4, batch_first=True, dtype=np.float64)
    names = [name for name, _ in lstm.named_parameters()]

    def loss(params, x):
        saved = [getattr(lstm, n) for n in names]
        try:
            for n, p in zip(names, params):
                object.__setattr__(lstm, n, p)
            out, (h, c) = lstm(x)
            return (out**2).sum() + (h * c).sum()
        finally:
            for n, p in zip(names, saved):
                object.__setattr__(lstm, n, p)

    return [p.data.copy() for p in lstm.parameters()], loss


def test_nn_lstm_under_vmap_and_jit_gives_the_loops_and_eager_gradients():
    # nn.LSTM's feature-major input projection (concatenate, batched matmul,
    # swapaxes) under vmap (per-example gradients) and cr.jit (the compiled
    # gradient): the same as a loop over examples and as the eager gradient.
    params, loss = _lstm_module_and_loss(0)
    xs = np.random.default_rng(12).normal(size=(3, 2, 5, 3))  # 3 examples of (N=2, L=5, C=3)
    per_example = cr.vmap(cr.grad(loss), in_axes=(None, 0))(params, xs)
    for k, x in enumerate(xs):
        for got, want in zip(per_example, cr.grad(loss)(params, x)):
            np.testing.assert_allclose(cr.tensor(got).data[k], cr.tensor(want).data, rtol=1e-10)
    jitted = cr.jit(cr.value_and_grad(loss))
    for x in (xs[0], xs[0], xs[1]):  # traced, compared, compiled
        value, grads = jitted(params, x)
        want_value, want_grads = cr.value_and_grad(loss)(params, x)
        np.testing.assert_allclose(cr.tensor(value).data, cr.tensor(want_value).data, rtol=1e-12)
        for got, want in zip(grads, want_grads):
            np.testing.assert_allclose(cr.tensor(got).data, cr.tensor(want).data, rtol=1e-10)
