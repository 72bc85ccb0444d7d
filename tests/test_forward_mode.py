"""Every primitive's JVP rule against its VJP rule and against finite differences.

For a function f with Jacobian J at x, a tangent u and a cotangent v:
    <v, J u>  (forward mode, cr.jvp)  ==  <J^T v, u>  (reverse mode, cr.vjp)
and J u equals the central difference (f(x + eps u) - f(x - eps u)) / (2 eps).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

EPS = 1e-6


def _positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def _spread(rng, shape):
    # Distinct values, away from 0 and from each other: no kinks, no ties.
    n = int(np.prod(shape)) if shape else 1
    values = rng.permutation(np.arange(1, n + 1)) * 0.37 * rng.choice([-1, 1], size=n)
    return values.reshape(shape) + rng.uniform(-0.05, 0.05, size=shape)


def _normal(rng, shape):
    return rng.normal(size=shape)


# name -> (function of tensors, [input generators], shape builder from a base shape)
CASES = {
    "add": (lambda a, b: a + b, [_normal, _normal], lambda s: [s, s[1:]]),
    "sub": (lambda a, b: a - b, [_normal, _normal], lambda s: [s[1:], s]),
    "mul": (lambda a, b: a * b, [_normal, _normal], lambda s: [s, s]),
    "div": (lambda a, b: a / b, [_normal, _positive], lambda s: [s, s[1:]]),
    "pow": (lambda a, b: a**b, [_positive, _normal], lambda s: [s, s]),
    "pow_scalar": (lambda a: a**3, [_normal], lambda s: [s]),
    "neg": (lambda a: -a, [_normal], lambda s: [s]),
    "exp": (cr.exp, [_normal], lambda s: [s]),
    "log": (cr.log, [_positive], lambda s: [s]),
    "sqrt": (cr.sqrt, [_positive], lambda s: [s]),
    "abs": (cr.abs, [_spread], lambda s: [s]),
    "sin": (cr.sin, [_normal], lambda s: [s]),
    "cos": (cr.cos, [_normal], lambda s: [s]),
    "tanh": (cr.tanh, [_normal], lambda s: [s]),
    "sigmoid": (cr.sigmoid, [_normal], lambda s: [s]),
    "relu": (cr.relu, [_spread], lambda s: [s]),
    "maximum": (cr.maximum, [_spread, _spread], lambda s: [s, s]),
    "minimum": (cr.minimum, [_spread, _spread], lambda s: [s, s[1:]]),
    "where": (lambda a, b: cr.where(a.data > 0, a, b), [_spread, _normal], lambda s: [s, s]),
    "clip": (lambda a: cr.clip(a, -0.9, 0.9), [_spread], lambda s: [s]),
    "sum": (lambda a: a.sum(axis=-1), [_normal], lambda s: [s]),
    "sum_all": (lambda a: a.sum(), [_normal], lambda s: [s]),
    "mean_keepdims": (lambda a: a.mean(axis=0, keepdims=True), [_normal], lambda s: [s]),
    "max": (lambda a: a.max(axis=0), [_spread], lambda s: [s]),
    "min": (lambda a: a.min(), [_spread], lambda s: [s]),
    "prod": (lambda a: a.prod(axis=-1), [_positive], lambda s: [s]),
    "logsumexp": (lambda a: cr.logsumexp(a, axis=-1), [_normal], lambda s: [s]),
    "softmax": (lambda a: cr.softmax(a, axis=-1), [_normal], lambda s: [s]),
    "log_softmax": (lambda a: cr.log_softmax(a, axis=0), [_normal], lambda s: [s]),
    "matmul_2d": (lambda a, b: a @ b, [_normal, _normal], lambda s: [(2, s[-1]), (s[-1], 3)]),
    "matmul_vec": (lambda a, b: a @ b, [_normal, _normal], lambda s: [(s[-1],), (s[-1], 2)]),
    "matmul_batch": (
        lambda a, b: a @ b,
        [_normal, _normal],
        lambda s: [(2, 3, s[-1]), (s[-1], 2)],
    ),
    "reshape": (lambda a: a.reshape(-1), [_normal], lambda s: [s]),
    "transpose": (lambda a: a.T * 1.5, [_normal], lambda s: [s]),
    "expand_squeeze": (lambda a: cr.squeeze(cr.expand_dims(a, 0)) * a, [_normal], lambda s: [s]),
    "broadcast_to": (lambda a: cr.broadcast_to(a, (2, *a.shape)), [_normal], lambda s: [s]),
    "concatenate": (
        lambda a, b: cr.concatenate([a, b], axis=0),
        [_normal, _normal],
        lambda s: [s, s],
    ),
    "stack": (lambda a, b: cr.stack([a, b], axis=-1), [_normal, _normal], lambda s: [s, s]),
    "getitem": (lambda a: a[[0, 0, -1]] * 2, [_normal], lambda s: [s]),
    "getitem_slice": (lambda a: a[1:, ...], [_normal], lambda s: [s]),
}

shapes = st.lists(st.integers(2, 4), min_size=1, max_size=3).map(tuple)


def _inner(a, b):
    return float(np.sum(np.asarray(a) * np.asarray(b)))


@pytest.mark.parametrize("name", sorted(CASES))
@given(shape=shapes, seed=st.integers(0, 2**31 - 1))
@settings(max_examples=12, deadline=None)
def test_jvp_matches_vjp_and_finite_differences(name, shape, seed):
    fn, makers, shape_of = CASES[name]
    rng = np.random.default_rng(seed)
    xs = [make(rng, s) for make, s in zip(makers, shape_of(shape))]
    us = [rng.normal(size=x.shape) for x in xs]

    out, tangent = cr.jvp(fn, xs, us)
    v = rng.normal(size=out.shape)
    _, vjp_fn = cr.vjp(fn, *xs)
    cotangents = vjp_fn(v)

    # <v, J u> == <J^T v, u>
    forward = _inner(v, tangent.data)
    reverse = sum(_inner(c.data, u) for c, u in zip(cotangents, us))
    assert forward == pytest.approx(reverse, rel=1e-9, abs=1e-9)

    # J u against central differences
    with cr.no_grad():
        plus = fn(*[cr.tensor(x + EPS * u) for x, u in zip(xs, us)]).data
        minus = fn(*[cr.tensor(x - EPS * u) for x, u in zip(xs, us)]).data
    np.testing.assert_allclose(tangent.data, (plus - minus) / (2 * EPS), rtol=1e-5, atol=1e-6)
    assert tangent.shape == out.shape and tangent.dtype == out.dtype


def test_every_differentiable_builtin_primitive_has_a_jvp_rule():
    # The modules whose primitives load on first use, loaded here so that they count.
    import chainrule.batching
    import chainrule.numpy.fft
    import chainrule.numpy.linalg  # noqa: F401

    builtins = [
        p
        for p in cr.PRIMITIVES.values()
        if not isinstance(p, cr.UserPrimitive) and not p.name.startswith("test_")
    ]
    assert len(builtins) > 30
    assert [p.name for p in builtins if p.differentiable and p.jvps is None] == []


def test_float32_tangents_stay_float32():
    x = np.array([0.5, 1.5], dtype=np.float32)
    out, t = cr.jvp(lambda a: cr.exp(a) * 2.0, (x,), (np.ones(2, dtype=np.float32),))
    assert out.dtype == np.float32 and t.dtype == np.float32


def test_cast_carries_tangents_between_float_dtypes():
    x = np.array([0.5, -1.5])
    u = np.array([1.0, 2.0])
    out, t = cr.jvp(lambda a: a.astype("float32") * 3.0, (x,), (u,))
    assert out.dtype == np.float32 and t.dtype == np.float32
    np.testing.assert_allclose(t.data, 3 * u)
    _, vjp_fn = cr.vjp(lambda a: a.astype("float32") * 3.0, x)
    (g,) = vjp_fn(np.ones(2, dtype=np.float32))
    assert g.dtype == np.float64
    np.testing.assert_allclose(g.data, [3.0, 3.0])


def test_jvp_of_a_function_not_depending_on_its_input_is_zero():
    out, t = cr.jvp(lambda a: cr.tensor(3.0) * 1.0, (np.ones(2),), (np.ones(2),))
    assert t.item() == 0.0


def test_jvp_errors():
    with pytest.raises(ValueError, match="tangent shape"):
        cr.jvp(cr.exp, (np.ones(2),), (np.ones(3),))
    with pytest.raises(ValueError, match="1 primals but 2 tangents"):
        cr.jvp(cr.exp, (np.ones(2),), (np.ones(2), np.ones(2)))
    with pytest.raises(TypeError, match="only floating-point"):
        cr.jvp(cr.exp, (np.ones(2, dtype=int),), (np.ones(2),))


@pytest.mark.parametrize("name", sorted(CASES))
@given(shape=shapes, seed=st.integers(0, 2**31 - 1))
@settings(max_examples=6, deadline=None)
def test_batched_jacfwd_equals_reverse_jacobian(name, shape, seed):
    # jacfwd pushes all unit tangents as one stack (batching rules, elementwise
    # broadcasting, or one by one); the reverse-mode Jacobian is the reference.
    fn, makers, shape_of = CASES[name]
    rng = np.random.default_rng(seed)
    xs = [make(rng, s) for make, s in zip(makers, shape_of(shape))]
    argnums = tuple(range(len(xs)))
    forward = cr.jacfwd(fn, argnums=argnums)(*xs)
    reverse = cr.jacobian(fn, argnums=argnums)(*xs)
    for f, r in zip(forward, reverse):
        assert f.shape == r.shape
        np.testing.assert_allclose(f.data, r.data, rtol=1e-12, atol=1e-12)


def test_batched_jacfwd_through_primitives_without_batching_rules():
    # softmax has no batching rule: its tangents go one by one.
    x = np.array([[0.1, 0.5, -0.3], [1.0, 2.0, 0.0]])
    f = lambda a: cr.softmax(a, axis=0) * cr.logsumexp(a, axis=1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(cr.jacfwd(f)(x).data, cr.jacobian(f)(x).data, rtol=1e-12)
