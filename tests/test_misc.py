"""chainrule.misc: flatten, the optimizers and fixed_point, against HIPS autograd's."""

import autograd
import autograd.misc.fixed_points as a_fixed_points
import autograd.misc.optimizers as a_optimizers
import autograd.numpy as anp
import numpy as np
import pytest
from autograd.misc import flatten as a_flatten
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.misc import fixed_points, flatten, flatten_func, optimizers


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "layers": [(rng.normal(size=(3, 4)), rng.normal(size=4)), (rng.normal(size=(4, 2)), 0.1)],
        "scale": rng.normal(size=2),
    }


def _leaves_close(a, b, rtol=1e-12):
    la, lb = cr.tree.leaves(a), cr.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=1e-12)


# ------------------------------------------------------------------ flatten
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**16), st.lists(st.sampled_from([(), (2,), (2, 3)]), min_size=1, max_size=4))
def test_flatten_matches_autograds_vector_and_round_trips(seed, shapes):
    rng = np.random.default_rng(seed)
    value = {f"k{9 - i}": rng.normal(size=s) for i, s in enumerate(shapes)}  # unsorted keys
    value = {"d": value, "l": [rng.normal(size=2), (rng.normal(),)]}
    flat, unflatten = flatten(value)
    a_flat, a_unflatten = a_flatten(value)
    np.testing.assert_array_equal(flat, a_flat)  # dict values in sorted key order, as autograd
    rebuilt = unflatten(flat)
    # ... while the rebuilt dicts keep the value's key order, as autograd's do: a
    # program printing its parameters prints the same text
    assert list(rebuilt["d"]) == list(value["d"]) == list(a_unflatten(a_flat)["d"])
    assert repr(rebuilt) == repr(a_unflatten(a_flat))
    for k in value["d"]:
        np.testing.assert_array_equal(rebuilt["d"][k], value["d"][k])
    _leaves_close(rebuilt["l"], value["l"], rtol=0)
    assert type(rebuilt["l"][1]) is tuple


def test_unflatten_gives_each_float_leaf_its_own_dtype_as_autograds():
    # The vector is float64 beside a Python float; a float32 leaf comes back float32
    # (an optimizer step must not turn it float64), an int leaf is not truncated.
    value = {"w": np.ones(2, np.float32), "b": {"d": np.float32(1), "c": [1.0, 2.0]}}
    flat, unflatten = flatten(value)
    a_flat, a_unflatten = a_flatten(value)
    assert flat.dtype == np.float64
    assert repr(unflatten(flat * 2.5)) == repr(a_unflatten(a_flat * 2.5))
    flat, unflatten = flatten({"n": 3, "x": np.float32(1)})
    assert unflatten(flat * 2.5)["n"] == 7.5
    assert unflatten(flat * 2.5)["x"].dtype == np.float32
    t = cr.tensor([1.0, 2.0], dtype=cr.float32, requires_grad=True)
    vector, unflatten = flatten({"t": t, "s": 1.0})
    back = unflatten(vector * 2)
    assert back["t"].dtype == np.float32 and back["t"].requires_grad


def test_flatten_is_differentiable_and_checks_lengths():
    params = _params()
    flat, unflatten = flatten(params)

    def loss_of_flat(v):
        p = unflatten(v)
        return cnp.sum(p["scale"] ** 2) + cnp.sum(cnp.tanh(p["layers"][0][0]))

    g = cr.grad(loss_of_flat)(flat)
    a_flat, a_unflatten = a_flatten(params)
    a_g = autograd.grad(
        lambda v: (
            anp.sum(a_unflatten(v)["scale"] ** 2)
            + anp.sum(anp.tanh(a_unflatten(v)["layers"][0][0]))
        )
    )(a_flat)
    np.testing.assert_allclose(g, a_g, rtol=1e-12)
    # flatten inside a transform: the vector is recorded from the leaves
    gp = cr.grad(lambda p: cnp.sum(flatten(p)[0] ** 2))(params)
    _leaves_close(gp, cr.tree.map(lambda x: 2 * np.asarray(x), params))
    with pytest.raises(ValueError, match="expected a vector of 27 elements"):
        unflatten(np.zeros(3))
    assert flatten([])[0].shape == (0,)
    f, unflat, ex = flatten_func(lambda p, k: [p[0] * k, p[1]], [np.ones(2), 3.0])
    np.testing.assert_array_equal(f(ex, 2.0), [2.0, 2.0, 3.0])


# ------------------------------------------------------------------ optimizers
def _problem(m):
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))

    def loss(params, i):
        h = x
        for w, b in params["layers"]:
            h = m.tanh(h @ w + b)
        return m.mean((h[:, :2] * params["scale"] - y) ** 2) + 1e-3 * i

    return loss


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("sgd", {"step_size": 0.1, "mass": 0.8}),
        ("rmsprop", {"step_size": 0.01, "gamma": 0.95}),
        ("adam", {"step_size": 0.01, "b1": 0.8, "b2": 0.99}),
    ],
)
def test_optimizers_give_autograds_numbers(name, options):
    ours_seen, theirs_seen = [], []
    ours = getattr(optimizers, name)(
        cr.grad(_problem(cnp)),
        _params(),
        callback=lambda p, i, g: ours_seen.append((i, p, g)),
        num_iters=30,
        **options,
    )
    theirs = getattr(a_optimizers, name)(
        autograd.grad(_problem(anp)),
        _params(),
        callback=lambda p, i, g: theirs_seen.append((i, p, g)),
        num_iters=30,
        **options,
    )
    _leaves_close(ours, theirs, rtol=1e-10)
    assert [s[0] for s in ours_seen] == list(range(30))
    for (_, p, g), (_, ap, ag) in zip(ours_seen, theirs_seen):
        _leaves_close(p, ap, rtol=1e-10)
        _leaves_close(g, ag, rtol=1e-10)
    assert cr.tree.structure(ours) == cr.tree.structure(theirs)
    loss = _problem(np)
    assert loss(ours, 0) < loss(_params(), 0)  # it did descend


def test_optimizer_defaults_match_autograd():
    grad = cr.grad(lambda p, i: cnp.sum((p - 2.0) ** 2))
    a_grad = autograd.grad(lambda p, i: anp.sum((p - 2.0) ** 2))
    for name in ("sgd", "rmsprop", "adam"):
        ours = getattr(optimizers, name)(grad, np.zeros(3))
        theirs = getattr(a_optimizers, name)(a_grad, np.zeros(3))
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


# ------------------------------------------------------------------ fixed_point
def _newton_sqrt(m):
    return lambda a: lambda x: 0.5 * (x + a / x)


def _dist(x, y):
    return np.max(np.abs(np.asarray(x) - np.asarray(y)))


def test_fixed_point_value_and_gradient_match_autograd_and_closed_form():
    a = np.array([2.0, 9.0, 0.5])

    def ours(a):
        return cnp.sum(fixed_points.fixed_point(_newton_sqrt(cnp), a, np.ones(3), _dist, 1e-12))

    def theirs(a):
        return anp.sum(
            a_fixed_points.fixed_point(
                _newton_sqrt(anp), a, np.ones(3), lambda x, y: anp.max(anp.abs(x - y)), 1e-12
            )
        )

    assert float(ours(a)) == pytest.approx(np.sum(np.sqrt(a)), rel=1e-12)
    g = cr.grad(ours)(a)
    np.testing.assert_allclose(g, 0.5 / np.sqrt(a), rtol=1e-9)  # d sqrt(a) / da
    np.testing.assert_allclose(g, autograd.grad(theirs)(a), rtol=1e-9)


def test_fixed_point_of_a_pytree_parameter():
    # x = tanh(W x + b): a contraction for small W; gradient w.r.t. (W, b) vs differences
    rng = np.random.default_rng(3)
    w, b = 0.3 * rng.normal(size=(3, 3)), rng.normal(size=3)

    def step(params):
        w, b = params
        return lambda x: cnp.tanh(w @ x + b)

    def loss(params):
        x = fixed_points.fixed_point(step, params, np.zeros(3), _dist, 1e-13)
        return cnp.sum(x * np.array([1.0, -2.0, 0.5]))

    gw, gb = cr.grad(loss)((w, b))
    eps = 1e-6
    for e in range(3):
        d = np.zeros(3)
        d[e] = eps
        fd = (float(loss((w, b + d))) - float(loss((w, b - d)))) / (2 * eps)
        assert gb[e] == pytest.approx(fd, rel=1e-5, abs=1e-8)
    d = np.zeros((3, 3))
    d[1, 2] = eps
    fd = (float(loss((w + d, b))) - float(loss((w - d, b)))) / (2 * eps)
    assert gw[1, 2] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def _fd(f, x, eps=1e-5):
    """Central difference of scalar function f along each coordinate of x."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        d = np.zeros(x.shape)
        d[idx] = eps
        out[idx] = (float(np.sum(f(x + d))) - float(np.sum(f(x - d)))) / (2 * eps)
    return out


def _sqrt_sum(a):
    x = fixed_points.fixed_point(_newton_sqrt(cnp), a, np.ones(np.shape(a)), _dist, 1e-13)
    return cnp.sum(x)


def test_fixed_point_second_and_third_derivatives_against_differences_and_autograd():
    # d/da sqrt(a) = a^-1/2 / 2, d2 = -a^-3/2 / 4, d3 = 3 a^-5/2 / 8
    def sqrt(a):
        return fixed_points.fixed_point(_newton_sqrt(cnp), a, 1.0, _dist, 1e-13)

    def a_sqrt(a):
        return a_fixed_points.fixed_point(
            _newton_sqrt(anp), a, 1.0, lambda x, y: anp.abs(x - y), 1e-13
        )

    d1, d2, d3 = cr.grad(sqrt), cr.grad(cr.grad(sqrt)), cr.grad(cr.grad(cr.grad(sqrt)))
    for a in (0.7, 2.0, 5.0):
        assert float(d2(a)) == pytest.approx(_fd(lambda x: d1(float(x)), a)[()], rel=1e-6)
        assert float(d3(a)) == pytest.approx(_fd(lambda x: d2(float(x)), a)[()], rel=1e-5)
        assert float(d2(a)) == pytest.approx(-0.25 * a**-1.5, rel=1e-9)
        assert float(d3(a)) == pytest.approx(0.375 * a**-2.5, rel=1e-8)
        assert float(d2(a)) == pytest.approx(autograd.grad(autograd.grad(a_sqrt))(a), rel=1e-9)


def test_fixed_point_hessian_and_jvp_are_forward_mode_through_it():
    a = np.array([2.0, 3.0, 0.5])
    hess = cr.hessian(_sqrt_sum)(a)
    np.testing.assert_allclose(hess, np.diag(-0.25 * a**-1.5), rtol=1e-9, atol=1e-12)
    _, tangent = cr.jvp(_sqrt_sum, (a,), (np.array([1.0, -1.0, 2.0]),))
    assert float(tangent) == pytest.approx(np.dot(0.5 / np.sqrt(a), [1.0, -1.0, 2.0]), rel=1e-9)


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_fixed_point_hessian_of_a_pytree_parameter_against_differences(n, seed):
    # x = tanh(W x + b), W small (a contraction): the Hessian in b against differences
    # of the gradient, and a mixed second derivative (W, b) by grad of grad.
    rng = np.random.default_rng(seed)
    w, b = 0.3 * rng.normal(size=(n, n)) / n, rng.normal(size=n)
    c = rng.normal(size=n)

    def loss(w, b):
        step = lambda p: lambda x: cnp.tanh(p[0] @ x + p[1])  # noqa: E731
        x = fixed_points.fixed_point(step, (w, b), np.zeros(n), _dist, 1e-14)
        return cnp.sum(cnp.sin(x) * c)

    grad_b = cr.grad(loss, argnums=1)
    # rows by grad of grad (cr.jacobian vmaps the backward pass, refused below)
    hess = np.stack([cr.grad(lambda bb, i=i: grad_b(w, bb)[i])(b) for i in range(n)])
    fd = np.stack([_fd(lambda bb, i=i: grad_b(w, bb)[i], b) for i in range(n)])
    np.testing.assert_allclose(hess, fd, rtol=1e-5, atol=1e-7)
    mixed = cr.grad(lambda w, b: cnp.sum(grad_b(w, b) * c), argnums=0)(w, b)
    fd_w = _fd(lambda ww: np.sum(grad_b(ww, b) * c), w)
    np.testing.assert_allclose(mixed, fd_w, rtol=1e-5, atol=1e-7)


def test_fixed_point_derivatives_under_vmap_say_so():
    def f(a):
        x = fixed_points.fixed_point(_newton_sqrt(cnp), a, np.ones(2), _dist, 1e-12)
        return cnp.sum(x)

    with pytest.raises(NotImplementedError, match="cannot run under cr.vmap"):
        cr.jacobian(cr.grad(f))(np.array([2.0, 3.0]))
