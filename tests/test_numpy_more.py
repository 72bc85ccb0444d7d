"""The ``chainrule.numpy`` functions autograd programs use that had no rule: rot90,
nan_to_num, gradient, deg2rad/rad2deg/radians/degrees, real/imag/conj/conjugate/
angle/real_if_close (real inputs), partition, rollaxis, cross, dsplit, select and
linalg.eig (real eigenvalues).

For each, over random shapes (hypothesis): the value equals NumPy's, the gradient
equals central differences (``cr.gradcheck``), the forward-mode tangent and the
second derivatives pass ``check_grads``, and the gradient equals HIPS autograd's
where autograd differentiates the function (its ``gradient`` and ``partition``
only in 1-D).
"""

from __future__ import annotations

import warnings

import autograd
import autograd.numpy as anp
import numpy as onp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.numpy as np
from chainrule.test_util import check_grads

FEW = settings(
    max_examples=10,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def values(x):
    if isinstance(x, tuple | list):
        return type(x)(values(v) for v in x)
    return x.detach().data if isinstance(x, cr.Tensor) else onp.asarray(x)


def arrays(min_dims=1, max_dims=3, min_side=1, max_side=4):
    shapes = hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )
    return hnp.arrays(
        onp.float64, shapes, elements=st.floats(-3, 3, allow_nan=False, allow_subnormal=False)
    )


def first(out):
    return out[0] if isinstance(out, tuple | list) else out


def check_all(fn, x, autograd_fn=None):
    """Value vs NumPy, gradient vs differences and vs autograd, JVP and order 2."""
    numpy_fn = getattr(fn, "numpy_twin", None)
    t = cr.tensor(x, requires_grad=True)
    out = fn(t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # NumPy's 2-vector cross
        expected = fn(x)  # no Tensor: NumPy's own function
    onp.testing.assert_allclose(values(first(out)), onp.asarray(first(expected)), rtol=1e-12)
    del numpy_fn
    w = onp.random.default_rng(x.size).normal(size=onp.shape(values(first(out))))

    def loss(a):
        return np.sum(first(fn(a)) * w)

    assert cr.gradcheck(loss, (t,))
    check_grads(lambda a: first(fn(a)), modes=["fwd", "rev"], order=2)(x)
    if autograd_fn is not None:
        theirs = autograd.grad(lambda a: anp.sum(first(autograd_fn(a)) * w))(x)
        onp.testing.assert_allclose(values(cr.grad(loss)(x)), theirs, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ moving
@FEW
@given(arrays(min_dims=2), st.integers(-5, 5), st.sampled_from([(0, 1), (1, 0), (-1, 0)]))
def test_rot90(x, k, axes):
    twin = (lambda a: anp.rot90(a, k)) if axes == (0, 1) else None  # autograd: no axes=
    check_all(lambda a: np.rot90(a, k, axes), x, twin)


def test_rot90_refuses_bad_axes():
    t = cr.tensor(onp.ones((2, 2)), requires_grad=True)
    with pytest.raises(ValueError, match="different"):
        np.rot90(t, 1, (1, 1))
    with pytest.raises(ValueError, match="at least 2 axes"):
        np.rot90(cr.tensor(onp.ones(3), requires_grad=True))


@FEW
@given(arrays(min_dims=1), st.data())
def test_rollaxis(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    start = data.draw(st.integers(-x.ndim, x.ndim))
    twin = (lambda a: anp.rollaxis(a, axis, start)) if min(axis, start) >= 0 else None
    check_all(lambda a: np.rollaxis(a, axis, start), x, twin)


@FEW
@given(arrays(min_dims=3, max_dims=4), st.data())
def test_dsplit(x, data):
    pieces = data.draw(st.sampled_from([d for d in (1, 2, 3, 4) if x.shape[2] % d == 0]))
    part = data.draw(st.integers(0, pieces - 1))
    check_all(lambda a: np.dsplit(a, pieces)[part], x, lambda a: anp.dsplit(a, pieces)[part])
    with pytest.raises(ValueError, match="3 or more"):
        np.dsplit(cr.tensor(onp.ones((2, 2)), requires_grad=True), 2)


@FEW
@given(arrays(min_dims=1, max_dims=3, max_side=5), st.data())
def test_partition(x, data):
    # Distinct values, well apart: where two are equal the order has no derivative.
    ranks = onp.argsort(onp.argsort(x, axis=None, kind="stable")).reshape(x.shape)
    x = ranks * 0.5 + x * 0.01
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    kth = data.draw(st.integers(0, x.shape[axis] - 1))
    twin = (lambda a: anp.partition(a, kth)) if x.ndim == 1 else None
    check_all(lambda a: np.partition(a, kth, axis=axis), x, twin)


def test_partition_flattens_with_axis_none():
    x = onp.random.default_rng(0).normal(size=(3, 4))
    onp.testing.assert_allclose(
        values(np.partition(cr.tensor(x, requires_grad=True), 5, axis=None)),
        onp.partition(x, 5, axis=None),
    )


# ---------------------------------------------------------------- choosing
@FEW
@given(arrays())
def test_select(x):
    near = onp.min(onp.abs(x[..., None] - onp.array([-1.0, 0.0, 1.0])), axis=-1) < 0.05
    x = onp.where(near, x + 0.1, x)  # away from the jumps between choices

    def fn(lib):
        return lambda a: lib.select([a > 1, a < -1, a > 0], [a**2, 2 * a, lib.sin(a)], -0.5)

    check_all(fn(np), x, fn(anp))


def test_select_refuses_what_numpy_refuses():
    t = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="same length"):
        np.select([t > 0], [t, t])
    with pytest.raises(TypeError, match="boolean"):
        np.select([onp.array([1])], [t])


@FEW
@pytest.mark.filterwarnings("ignore:overflow encountered")
@given(arrays(), st.data())
def test_nan_to_num(x, data):
    mask = data.draw(hnp.arrays(onp.int8, x.shape, elements=st.integers(0, 3)))
    x = onp.where(mask == 1, onp.nan, onp.where(mask == 2, onp.inf, x))
    options = data.draw(st.sampled_from([{}, {"nan": 2.0, "posinf": 9.0, "neginf": -9.0}]))
    t = cr.tensor(x, requires_grad=True)
    onp.testing.assert_array_equal(
        values(np.nan_to_num(t, **options)), onp.nan_to_num(x, **options)
    )
    g = cr.grad(lambda a: np.sum(np.nan_to_num(a, **options) * 3.0))(x)
    onp.testing.assert_array_equal(values(g), onp.where(onp.isfinite(x), 3.0, 0.0))
    theirs = autograd.grad(lambda a: anp.sum(anp.nan_to_num(a) * 3.0))(x)
    onp.testing.assert_array_equal(values(g), theirs)
    finite = onp.where(onp.isfinite(x), x, 0.5)
    check_grads(lambda a: np.nan_to_num(a), order=2)(finite)


# ----------------------------------------------------------------- angles, parts
UNITS = {
    "deg2rad": onp.pi / 180,
    "radians": onp.pi / 180,
    "rad2deg": 180 / onp.pi,
    "degrees": 180 / onp.pi,
}


@FEW
@given(arrays(min_dims=0), st.sampled_from(sorted(UNITS)))
def test_angle_units(x, name):
    fn, twin = getattr(np, name), getattr(anp, name)
    check_all(fn, x, twin)
    g = cr.grad(lambda a: np.sum(fn(a)))(x)
    onp.testing.assert_allclose(values(g), onp.full(x.shape, UNITS[name]))
    # NumPy's own ufunc reaches the same function on a Tensor.
    t = cr.tensor(x, requires_grad=True)
    assert getattr(onp, name)(t).requires_grad


@FEW
@given(arrays(min_dims=0), st.sampled_from(["real", "conj", "conjugate", "real_if_close"]))
def test_identity_parts_of_a_real_array(x, name):
    check_all(getattr(np, name), x, getattr(anp, name))


@FEW
@given(arrays(min_dims=0), st.sampled_from(["imag", "angle"]))
def test_constant_parts_of_a_real_array(x, name):
    x = onp.where(onp.abs(x) < 0.1, 0.5, x)  # angle jumps at 0 (autograd: NaN near it)
    t = cr.tensor(x, requires_grad=True)
    onp.testing.assert_array_equal(values(getattr(np, name)(t)), getattr(onp, name)(x))
    g = cr.grad(lambda a: np.sum(getattr(np, name)(a) * 2.0 + a))(x)
    theirs = autograd.grad(lambda a: anp.sum(getattr(anp, name)(a) * 2.0 + a))(x)
    onp.testing.assert_array_equal(values(g), onp.ones(x.shape))
    onp.testing.assert_array_equal(values(g), theirs)


def test_angle_in_degrees_and_of_complex_tensors():
    t = cr.tensor([-1.0, 2.0], requires_grad=True)
    onp.testing.assert_allclose(values(np.angle(t, deg=True)), [180.0, 0.0])
    z = cr.tensor(onp.array([1 + 1j]))
    onp.testing.assert_allclose(values(np.real(z)), [1.0])
    onp.testing.assert_allclose(values(np.angle(z, deg=True)), [45.0])
    with pytest.raises(TypeError, match="converts angles"):
        np.deg2rad(z)


# ----------------------------------------------------------------- products
@FEW
@given(st.data())
def test_cross(data):
    lead = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    na, nb = data.draw(st.sampled_from([(3, 3), (2, 3), (3, 2), (2, 2)]))
    elements = st.floats(-3, 3, allow_nan=False, allow_subnormal=False)
    a = data.draw(hnp.arrays(onp.float64, (*lead, na), elements=elements))
    b = data.draw(hnp.arrays(onp.float64, (*lead, nb), elements=elements))
    axisc = -1 if na == nb == 2 else data.draw(st.integers(-len(lead) - 1, len(lead)))
    flat = onp.concatenate([a.ravel(), b.ravel()])

    def split(lib):
        def fn(v):
            x = lib.reshape(v[: a.size], a.shape)
            y = lib.reshape(v[a.size :], b.shape)
            return lib.cross(x, y, axisc=axisc)

        return fn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # autograd's cross differentiates vectors of 3 components only
        check_all(split(np), flat, split(anp) if na == nb == 3 else None)


def test_cross_moves_axes_and_refuses_bad_lengths():
    rng = onp.random.default_rng(1)
    a, b = rng.normal(size=(3, 5)), rng.normal(size=(5, 3))
    ours = np.cross(cr.tensor(a, requires_grad=True), cr.tensor(b), axisa=0, axisb=1, axisc=0)
    onp.testing.assert_allclose(values(ours), onp.cross(a, b, axisa=0, axisb=1, axisc=0))
    ours = np.cross(cr.tensor(a.T, requires_grad=True), cr.tensor(b), axis=1)
    onp.testing.assert_allclose(values(ours), onp.cross(a.T, b, axis=1))
    with pytest.raises(ValueError, match="dimension must be 2 or 3"):
        np.cross(cr.tensor(onp.ones(4), requires_grad=True), onp.ones(3))


# ----------------------------------------------------------------- gradient
@FEW
@given(arrays(min_dims=1, max_dims=3, min_side=3, max_side=5), st.data())
def test_gradient(x, data):
    edge_order = data.draw(st.sampled_from([1, 2]))
    axis = data.draw(st.sampled_from([None, -1, 0]))
    axes = list(range(x.ndim)) if axis is None else [axis % x.ndim]
    kind = data.draw(st.sampled_from(["default", "scalar", "coords"]))
    if kind == "default":
        spacing = ()
    elif kind == "scalar":
        spacing = (data.draw(st.floats(0.2, 3)),)
    else:
        spacing = tuple(
            onp.cumsum(data.draw(hnp.arrays(onp.float64, x.shape[d], elements=st.floats(0.3, 2))))
            for d in axes
        )

    def fn(lib):
        def g(a):
            out = lib.gradient(a, *spacing, axis=axis, edge_order=edge_order)
            return lib.stack(out) if isinstance(out, tuple | list) else out

        return g

    # autograd's gradient: 1-D, no spacing, no edge_order
    plain = x.ndim == 1 and x.size >= 4 and kind == "default" and edge_order == 1  # (3: its bug)
    twin = (lambda a: anp.gradient(a, axis=axis)) if plain else None
    check_all(fn(np), x, twin)


def test_gradient_refuses_what_numpy_refuses():
    t = cr.tensor(onp.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="too small"):
        np.gradient(t, edge_order=2)
    with pytest.raises(ValueError, match="edge_order"):
        np.gradient(t, edge_order=3)


# ----------------------------------------------------------------- linalg.eig
def matrix_with_real_eigenvalues(rng, n, batch=()):
    w = onp.sort(rng.uniform(-2, 2, size=(*batch, n)), axis=-1) + onp.arange(n) * 0.7
    v = onp.eye(n) + 0.4 * rng.normal(size=(*batch, n, n))
    return onp.linalg.solve(onp.swapaxes(v, -1, -2), onp.swapaxes(v * w[..., None, :], -1, -2))


def eig_loss(lib, weights):
    def loss(a):
        w, v = lib.linalg.eig(a)
        # Invariant to each eigenvector's sign, which LAPACK chooses.
        return lib.sum(w * weights[0]) + lib.sum(v**2 * weights[1])

    return loss


@FEW
@given(st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_eig_real_eigenvalues(n, seed):
    rng = onp.random.default_rng(seed)
    a = matrix_with_real_eigenvalues(rng, n)
    weights = (rng.normal(size=n), rng.normal(size=(n, n)))
    t = cr.tensor(a, requires_grad=True)
    w, v = np.linalg.eig(t)
    w0, v0 = onp.linalg.eig(a)
    onp.testing.assert_allclose(values(w), w0, rtol=1e-12)
    onp.testing.assert_allclose(values(v), v0, rtol=1e-12, atol=1e-14)
    loss = eig_loss(np, weights)
    assert cr.gradcheck(loss, (t,), atol=1e-6)
    check_grads(loss, modes=["fwd", "rev"], order=2)(a)
    theirs = autograd.grad(eig_loss(anp, weights))(a)
    onp.testing.assert_allclose(values(cr.grad(loss)(a)), theirs, rtol=1e-8, atol=1e-10)


def test_eig_batches_and_eigvals():
    rng = onp.random.default_rng(5)
    a = matrix_with_real_eigenvalues(rng, 3, batch=(2,))
    t = cr.tensor(a, requires_grad=True)
    onp.testing.assert_allclose(values(np.linalg.eigvals(t)), onp.linalg.eigvals(a), rtol=1e-12)
    weights = (rng.normal(size=3), rng.normal(size=(3, 3)))
    assert cr.gradcheck(eig_loss(np, weights), (t,), atol=1e-6)


def test_eig_with_complex_eigenvalues_is_differentiable_as_in_autograd():
    rotation = onp.array([[0.0, -1.0], [1.0, 0.5]])
    w, _ = np.linalg.eig(cr.tensor(rotation, requires_grad=True))
    assert w.dtype.kind == "c"  # complex results of a real matrix
    weights = onp.array([1.0 + 2.0j, -0.5j])

    def loss(m):
        return lambda a: m.abs(m.sum(m.linalg.eig(a)[0] * weights))

    g = cr.grad(loss(np))(rotation)
    assert g.dtype == onp.float64  # a real matrix gets a real gradient
    onp.testing.assert_allclose(g, autograd.grad(loss(anp))(rotation), rtol=1e-10)
    # Without a gradient to compute, NumPy's complex values come back as constants.
    w, _ = np.linalg.eig(cr.tensor(onp.array([[0.0, -1.0], [1.0, 0.0]])))
    onp.testing.assert_allclose(onp.sort_complex(values(w)), [-1j, 1j])


@pytest.mark.parametrize(
    "fn",
    [
        lambda a: np.rot90(a),
        lambda a: np.rollaxis(a, 1),
        lambda a: np.deg2rad(a),
        lambda a: np.degrees(a),
        lambda a: np.real(a),
        lambda a: np.conj(a),
        lambda a: np.nan_to_num(a),
        lambda a: np.partition(a, 1),
        lambda a: np.select([a > 0], [a * a], 0.0),
        lambda a: np.cross(a[:, :3], a[:, 1:]),
        lambda a: np.gradient(a)[1],
        lambda a: np.linalg.eig(a[:, :3] @ a[:, :3].T)[0],
    ],
)
def test_float32_stays_float32(fn):
    x = onp.random.default_rng(2).normal(size=(3, 4)).astype(onp.float32)
    t = cr.tensor(x, requires_grad=True)
    out = fn(t)
    assert out.dtype == onp.float32
    out.sum().backward()
    assert t.grad.dtype == onp.float32
