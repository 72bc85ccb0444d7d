"""Every function of ``chainrule.numpy``: values and derivatives against NumPy.

Each case is a function ``f(m, *xs)`` written once against a NumPy-like module
``m``. For inputs ``xs`` (float64, inside the function's domain, away from kinks
and ties) it checks that

1. ``f(chainrule.numpy, *tensors)`` and ``f(numpy, *tensors)`` (NumPy's own
   functions reaching chainrule through ``__array_ufunc__``/``__array_function__``)
   give NumPy's value, shape and dtype;
2. reverse mode (``cr.vjp``) matches central finite differences of NumPy's
   function, and each gradient has its input's shape and dtype;
3. forward mode (``cr.jvp``, through NumPy's own functions) matches the directional
   difference, and <v, J u> = <J^T v, u>;
4. second order: the Hessian-vector product H u of s = <v, f> by forward over
   reverse (``cr.hvp``), reverse over reverse and reverse over forward, and
   u^T H u by forward over forward, match differences of the gradient.

Shapes cover (), (3,), (2, 3) and broadcasting (1, 3) against (2, 3); reductions
run over axis None, 0, -1, tuples, with and without keepdims.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

EPS = 1e-6
EPS2 = 1e-5
FD = {"rtol": 1e-5, "atol": 1e-6}
FD2 = {"rtol": 1e-4, "atol": 1e-5}


# ---------------------------------------------------------------- the checker
def _shifted(xs, i, delta):
    return [x + delta if j == i else x for j, x in enumerate(xs)]


def _fd_vjp(fn, xs, i, v, eps=EPS):
    """d <v, fn(xs)> / d xs[i] by central differences."""
    x = xs[i]
    grad = np.zeros_like(x)
    for e in range(x.size):
        step = np.zeros_like(x)
        step.flat[e] = eps
        plus = np.asarray(fn(*_shifted(xs, i, step)), dtype=np.float64)
        minus = np.asarray(fn(*_shifted(xs, i, -step)), dtype=np.float64)
        grad.flat[e] = np.sum((plus - minus) * v) / (2 * eps)
    return grad


def _fd_jvp(fn, xs, us, eps=EPS):
    plus = np.asarray(fn(*[x + eps * u for x, u in zip(xs, us)]), dtype=np.float64)
    minus = np.asarray(fn(*[x - eps * u for x, u in zip(xs, us)]), dtype=np.float64)
    return (plus - minus) / (2 * eps)


def _data(t):
    return t.data if isinstance(t, cr.Tensor) else np.asarray(t)


def check(f, *xs, second=True, dispatch=True, value_tol=1e-10, seed=0, fd=FD, fd2=FD2):
    """``dispatch=False`` for functions NumPy cannot dispatch (a list of Tensors is
    not a Tensor to NumPy): forward mode then runs through chainrule.numpy too."""
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    ref = np.asarray(f(np, *xs))
    assert ref.dtype == np.float64
    via_numpy = np if dispatch else cnp

    # 1. values, through the binding and through NumPy's dispatch
    for m in (cnp, via_numpy):
        out = f(m, *[cr.tensor(x) for x in xs])
        assert isinstance(out, cr.Tensor), f"{m.__name__}: got {type(out)}"
        assert out.shape == ref.shape and out.dtype == ref.dtype
        np.testing.assert_allclose(_data(out), ref, rtol=value_tol, atol=value_tol)

    def numpy_fn(*a):
        return np.asarray(f(np, *a))

    rng = np.random.default_rng(seed)
    v = rng.standard_normal(ref.shape)
    us = [rng.standard_normal(x.shape) for x in xs]

    # 2. reverse mode
    value, vjp_fn = cr.vjp(lambda *a: f(cnp, *a), *xs)
    np.testing.assert_allclose(_data(value), ref, rtol=value_tol, atol=value_tol)
    grads = vjp_fn(v)
    for i, (g, x) in enumerate(zip(grads, xs)):
        assert g.shape == x.shape and g.dtype == x.dtype
        np.testing.assert_allclose(
            _data(g), _fd_vjp(numpy_fn, xs, i, v), **fd, err_msg=f"vjp of input {i}"
        )

    # 3. forward mode, through NumPy's own functions on Tensors
    _, ju = cr.jvp(lambda *a: f(via_numpy, *a), xs, us)
    assert ju.shape == ref.shape and ju.dtype == ref.dtype
    np.testing.assert_allclose(_data(ju), _fd_jvp(numpy_fn, xs, us), **fd, err_msg="jvp")
    forward = np.sum(v * _data(ju))
    reverse = sum(np.sum(_data(g) * u) for g, u in zip(grads, us))
    np.testing.assert_allclose(forward, reverse, rtol=1e-9, atol=1e-9)

    if not second:
        return
    # 4. second order: H u of s = <v, f>, forward over reverse and reverse over reverse
    nums = tuple(range(len(xs)))

    def s(*a):
        return cnp.sum(f(cnp, *a) * v)

    grad_s = cr.grad(s, argnums=nums)
    hu_fwd = cr.hvp(s, xs, us)
    hu_fwd = hu_fwd if isinstance(hu_fwd, tuple) else (hu_fwd,)

    def directional(*a):
        return sum(cnp.sum(gi * u) for gi, u in zip(grad_s(*a), us))

    hu_rev = cr.grad(directional, argnums=nums)(*xs)

    def forward_directional(*a):  # <v, J(a) u>, by forward mode
        return cnp.sum(cr.jvp(lambda *b: f(cnp, *b), a, us)[1] * v)

    hu_rev_fwd = cr.grad(forward_directional, argnums=nums)(*xs)
    _, uhu = cr.jvp(forward_directional, xs, us)  # forward over forward: u^T H u
    plus = grad_s(*[x + EPS2 * u for x, u in zip(xs, us)])
    minus = grad_s(*[x - EPS2 * u for x, u in zip(xs, us)])
    uhu_fd = 0.0
    for i in nums:
        fd_hu = (_data(plus[i]) - _data(minus[i])) / (2 * EPS2)
        uhu_fd += np.sum(fd_hu * us[i])
        np.testing.assert_allclose(_data(hu_fwd[i]), fd_hu, **fd2, err_msg=f"hvp fwd/rev {i}")
        np.testing.assert_allclose(_data(hu_rev[i]), fd_hu, **fd2, err_msg=f"hvp rev/rev {i}")
        np.testing.assert_allclose(_data(hu_rev_fwd[i]), fd_hu, **fd2, err_msg=f"hvp rev/fwd {i}")
    np.testing.assert_allclose(_data(uhu), uhu_fd, **fd2, err_msg="u^T H u fwd/fwd")


# ---------------------------------------------------------------- inputs
RNG = np.random.default_rng(1234)


def normal(shape):
    return RNG.standard_normal(shape)


def positive(shape):
    return RNG.uniform(0.5, 2.0, shape)


def unit(shape):
    return RNG.uniform(-0.8, 0.8, shape)


def above_one(shape):
    return RNG.uniform(1.3, 3.0, shape)


def spread(shape):
    """Distinct values away from 0 and from each other: no kinks, no ties."""
    n = int(np.prod(shape))
    values = (RNG.permutation(n) + 1) * 0.37 * RNG.choice([-1.0, 1.0], n)
    return (values + RNG.uniform(-0.05, 0.05, n)).reshape(shape)


def spd(n, batch=()):
    a = RNG.standard_normal((*batch, n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def well_conditioned(n, batch=()):
    return RNG.standard_normal((*batch, n, n)) * 0.3 + 2 * np.eye(n)


SHAPES = [(), (3,), (2, 3)]
PAIRS = [((), (3,)), ((3,), (2, 3)), ((2, 3), (1, 3)), ((2, 3), (2, 3))]

# ------------------------------------------------------- elementwise functions
UNARY = {
    "negative": (lambda m, x: m.negative(x), normal),
    "positive": (lambda m, x: m.positive(x) * 2, normal),
    "square": (lambda m, x: m.square(x), normal),
    "sqrt": (lambda m, x: m.sqrt(x), positive),
    "cbrt": (lambda m, x: m.cbrt(x), spread),
    "reciprocal": (lambda m, x: m.reciprocal(x), spread),
    "exp": (lambda m, x: m.exp(x), normal),
    "exp2": (lambda m, x: m.exp2(x), normal),
    "expm1": (lambda m, x: m.expm1(x), normal),
    "log": (lambda m, x: m.log(x), positive),
    "log2": (lambda m, x: m.log2(x), positive),
    "log10": (lambda m, x: m.log10(x), positive),
    "log1p": (lambda m, x: m.log1p(x), unit),
    "sin": (lambda m, x: m.sin(x), normal),
    "cos": (lambda m, x: m.cos(x), normal),
    "tan": (lambda m, x: m.tan(x), unit),
    "arcsin": (lambda m, x: m.arcsin(x), unit),
    "arccos": (lambda m, x: m.arccos(x), unit),
    "arctan": (lambda m, x: m.arctan(x), normal),
    "sinh": (lambda m, x: m.sinh(x), normal),
    "cosh": (lambda m, x: m.cosh(x), normal),
    "tanh": (lambda m, x: m.tanh(x), normal),
    "arcsinh": (lambda m, x: m.arcsinh(x), normal),
    "arccosh": (lambda m, x: m.arccosh(x), above_one),
    "arctanh": (lambda m, x: m.arctanh(x), unit),
    "abs": (lambda m, x: m.abs(x), spread),
    "absolute": (lambda m, x: m.absolute(x), spread),
    "fabs": (lambda m, x: m.fabs(x), spread),
    "sinc": (lambda m, x: m.sinc(x), normal),
    "clip": (lambda m, x: m.clip(x, -0.9, 0.9), spread),
    "clip_max": (lambda m, x: m.clip(x, None, 0.5), spread),
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, shape):
    f, gen = UNARY[name]
    check(f, gen(shape))


BINARY = {
    "add": (lambda m, x, y: m.add(x, y), normal, normal),
    "subtract": (lambda m, x, y: m.subtract(x, y), normal, normal),
    "multiply": (lambda m, x, y: m.multiply(x, y), normal, normal),
    "divide": (lambda m, x, y: m.divide(x, y), normal, positive),
    "true_divide": (lambda m, x, y: m.true_divide(x, y), normal, positive),
    "power": (lambda m, x, y: m.power(x, y), positive, normal),
    "maximum": (lambda m, x, y: m.maximum(x, y), spread, spread),
    "minimum": (lambda m, x, y: m.minimum(x, y), spread, spread),
    "fmax": (lambda m, x, y: m.fmax(x, y), spread, spread),
    "fmin": (lambda m, x, y: m.fmin(x, y), spread, spread),
    "arctan2": (lambda m, y, x: m.arctan2(y, x), normal, spread),
    "hypot": (lambda m, x, y: m.hypot(x, y), spread, spread),
    "logaddexp": (lambda m, x, y: m.logaddexp(x, y), normal, normal),
    "logaddexp2": (lambda m, x, y: m.logaddexp2(x, y), normal, normal),
    "remainder": (
        lambda m, x, y: m.remainder(x, y),
        lambda s: RNG.uniform(0.1, 1.4, s),
        lambda s: RNG.uniform(1.5, 2.0, s),
    ),
    "matmul_broadcast": (lambda m, x, y: m.matmul(x[..., None], y[..., None, :]), normal, normal),
}


@pytest.mark.parametrize("shapes", PAIRS, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name, shapes):
    f, gx, gy = BINARY[name]
    if name in ("maximum", "minimum", "fmax", "fmin", "hypot"):
        # distinct values across both operands: no ties anywhere
        joint = spread((int(np.prod(shapes[0])) + int(np.prod(shapes[1])),))
        n0 = int(np.prod(shapes[0]))
        x, y = joint[:n0].reshape(shapes[0]), joint[n0:].reshape(shapes[1])
    else:
        x, y = gx(shapes[0]), gy(shapes[1])
    check(f, x, y)


def test_where_and_clip_with_array_bounds():
    x, y = spread((2, 3)), normal((1, 3))
    cond = x > 0
    check(lambda m, a, b: m.where(cond, a, b), x, y)
    lo, hi = np.full((3,), -0.6), np.full((2, 1), 0.7)
    x = spread((2, 3))
    check(lambda m, a, lo_, hi_: m.clip(a, lo_, hi_), x, lo, hi, second=False)


def test_arithmetic_operators_and_reflected_forms():
    def f(m, x, y):
        return (2 + x) * (y - 1) / (3 - y) ** 2 - x / 2 + 1 / (y + 4) + (-x) ** 2 + abs(x) + x % 5

    check(f, spread((2, 3)), RNG.uniform(0.2, 0.9, (3,)))


# ------------------------------------------------------------------ reductions
REDUCE_AXES = [
    ((), [None]),
    ((3,), [None, 0, -1]),
    ((2, 3), [None, 0, 1, -1, (0, 1)]),
]
REDUCTIONS = {
    "sum": (lambda m, x, ax, kd: m.sum(x, axis=ax, keepdims=kd), normal),
    "mean": (lambda m, x, ax, kd: m.mean(x, axis=ax, keepdims=kd), normal),
    "prod": (lambda m, x, ax, kd: m.prod(x, axis=ax, keepdims=kd), spread),
    "max": (lambda m, x, ax, kd: m.max(x, axis=ax, keepdims=kd), spread),
    "amax": (lambda m, x, ax, kd: m.amax(x, axis=ax, keepdims=kd), spread),
    "min": (lambda m, x, ax, kd: m.min(x, axis=ax, keepdims=kd), spread),
    "amin": (lambda m, x, ax, kd: m.amin(x, axis=ax, keepdims=kd), spread),
    "ptp": (lambda m, x, ax, kd: m.ptp(x, axis=ax, keepdims=kd), spread),
    "var": (lambda m, x, ax, kd: m.var(x, axis=ax, keepdims=kd), normal),
    "std": (lambda m, x, ax, kd: m.std(x, axis=ax, keepdims=kd), normal),
}


def _reduction_cases():
    for shape, axes in REDUCE_AXES:
        for ax in axes:
            for kd in (False, True):
                yield shape, ax, kd


@pytest.mark.parametrize("shape,axis,keepdims", list(_reduction_cases()), ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions(name, shape, axis, keepdims):
    f, gen = REDUCTIONS[name]
    x = gen(shape)
    if name in ("ptp", "var", "std") and (shape == () or x.size == 1 or axis is not None):
        # one element per reduced slice: ptp, var and std are constant 0
        slice_size = x.size if axis is None else np.prod([x.shape[a] for a in np.atleast_1d(axis)])
        if slice_size < 2:
            # One element per reduced slice: the function is constantly 0, so finite
            # differences have nothing to check; its gradient must be exactly 0 (for
            # std, the subgradient at 0), never NaN.
            xt = cr.tensor(x, requires_grad=True)
            y = f(cnp, xt, axis, keepdims)
            np.testing.assert_array_equal(y.data, np.zeros_like(y.data))
            y.sum().backward()
            np.testing.assert_array_equal(xt.grad.data, np.zeros_like(x))
            return
    check(lambda m, a: f(m, a, axis, keepdims), x)


@pytest.mark.parametrize("ddof", [1, 2])
def test_var_std_ddof(ddof):
    x = normal((2, 4))
    check(lambda m, a: m.var(a, axis=1, ddof=ddof), x)
    check(lambda m, a: m.std(a, axis=-1, ddof=ddof, keepdims=True), x)
    check(lambda m, a: m.std(a, ddof=ddof), x)


@pytest.mark.parametrize("shape,axis", [((), None), ((4,), None), ((4,), 0), ((2, 3), 0),
                                        ((2, 3), -1), ((2, 3), None)], ids=str)  # fmt: skip
def test_cumsum_cumprod(shape, axis):
    check(lambda m, a: m.cumsum(a, axis=axis), normal(shape))
    check(lambda m, a: m.cumprod(a, axis=axis), spread(shape))


def test_cumprod_with_zeros_one_and_two_per_slice():
    x = np.array([[0.5, 0.0, 1.5, -2.0], [1.2, 0.0, 0.7, 0.0], [1.1, -0.9, 1.3, 0.8]])
    # second order at zeros is not covered by the piecewise rule's derivative
    check(lambda m, a: m.cumprod(a, axis=1), x, second=False)
    check(lambda m, a: m.cumprod(a, axis=0), x.T.copy(), second=False)


def test_average():
    x, w = normal((2, 3)), positive((2, 3))
    check(lambda m, a, b: m.average(a, weights=b), x, w)
    check(lambda m, a, b: m.average(a, axis=1, weights=b), x, positive((3,)))
    check(lambda m, a, b: m.average(a, axis=0, weights=b, keepdims=True), x, positive((2,)))
    check(lambda m, a: m.average(a, axis=-1), x)
    avg, total = cnp.average(cr.tensor(x), axis=1, weights=np.ones(3) * 2, returned=True)
    np.testing.assert_allclose(total.data, [6.0, 6.0])
    with pytest.raises(ZeroDivisionError):
        cnp.average(cr.tensor(x), axis=1, weights=cr.tensor(np.zeros(3)))


def test_reductions_of_lists_mixing_tensors_and_numbers():
    check(lambda m, a, b: m.mean([a, b, 2.0]), normal(()), normal(()), dispatch=False)
    check(lambda m, a, b: m.sum((a, b), axis=0), normal((3,)), normal((3,)), dispatch=False)
    check(lambda m, a, b: m.array([[a, 1.0], [2.0, b]]), normal(()), normal(()), dispatch=False)
    check(lambda m, a, b: m.std([a, b, a * b], ddof=1), normal(()), normal(()), dispatch=False)


# --------------------------------------------------------------- products
PRODUCTS = [
    ("dot_1d", lambda m, a, b: m.dot(a, b), (3,), (3,)),
    ("dot_scalar", lambda m, a, b: m.dot(a, b), (), (2, 3)),
    ("dot_mv", lambda m, a, b: m.dot(a, b), (2, 3), (3,)),
    ("dot_mm", lambda m, a, b: m.dot(a, b), (2, 3), (3, 4)),
    ("dot_3d_2d", lambda m, a, b: m.dot(a, b), (2, 2, 3), (3, 2)),
    ("dot_3d_1d", lambda m, a, b: m.dot(a, b), (2, 3, 4), (4,)),
    ("dot_2d_3d", lambda m, a, b: m.dot(a, b), (2, 3), (2, 3, 2)),
    ("vdot", lambda m, a, b: m.vdot(a, b), (2, 3), (3, 2)),
    ("inner", lambda m, a, b: m.inner(a, b), (2, 3), (4, 3)),
    ("inner_1d", lambda m, a, b: m.inner(a, b), (3,), (3,)),
    ("outer", lambda m, a, b: m.outer(a, b), (3,), (2, 2)),
    ("matmul", lambda m, a, b: m.matmul(a, b), (2, 2, 3), (3, 2)),
    ("matmul_op", lambda m, a, b: a @ b, (3,), (3, 2)),
    ("tensordot_1", lambda m, a, b: m.tensordot(a, b, axes=1), (2, 3), (3, 2)),
    ("tensordot_2", lambda m, a, b: m.tensordot(a, b), (2, 3, 2), (3, 2, 2)),
    ("tensordot_pairs", lambda m, a, b: m.tensordot(a, b, axes=([1, 0], [2, 0])),
     (3, 2, 2), (3, 2, 2)),
    ("tensordot_0", lambda m, a, b: m.tensordot(a, b, axes=0), (2,), (3,)),
    ("kron", lambda m, a, b: m.kron(a, b), (2, 2), (2, 3)),
    ("kron_1d_2d", lambda m, a, b: m.kron(a, b), (3,), (2, 2)),
]  # fmt: skip


@pytest.mark.parametrize("name,f,sa,sb", PRODUCTS, ids=[p[0] for p in PRODUCTS])
def test_products(name, f, sa, sb):
    check(f, normal(sa), normal(sb))


EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 2)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->ji", [(2, 3)]),
    ("i,i", [(3,), (3,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("...i,...i->...", [(2, 3), (2, 3)]),
    ("...ij,jk", [(2, 2, 3), (3, 2)]),
    ("i...,i...->...", [(3, 2), (3, 1)]),
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),
    ("iij->j", [(2, 2, 3)]),
    ("ij,->ij", [(2, 3), ()]),
]


@pytest.mark.parametrize("subscripts,shapes", EINSUMS, ids=[e[0] for e in EINSUMS])
def test_einsum(subscripts, shapes):
    check(lambda m, *ops: m.einsum(subscripts, *ops), *[normal(s) for s in shapes])


def test_einsum_sublist_form():
    a, b = normal((2, 3)), normal((3, 2))
    check(lambda m, x, y: m.einsum(x, [0, 1], y, [1, 2], [0, 2]), a, b)


STRUCTURE = [
    ("trace", lambda m, a: m.trace(a), (3, 3)),
    ("trace_offset", lambda m, a: m.trace(a, offset=1), (3, 4)),
    ("trace_3d", lambda m, a: m.trace(a, axis1=1, axis2=2), (2, 3, 3)),
    ("diag_of_matrix", lambda m, a: m.diag(a), (3, 3)),
    ("diag_k", lambda m, a: m.diag(a, k=-1), (3, 4)),
    ("diag_of_vector", lambda m, a: m.diag(a), (3,)),
    ("diag_of_vector_k", lambda m, a: m.diag(a, 2), (3,)),
    ("diagonal", lambda m, a: m.diagonal(a), (2, 3)),
    ("diagonal_axes", lambda m, a: m.diagonal(a, 1, 0, 2), (3, 2, 4)),
    ("triu", lambda m, a: m.triu(a), (3, 3)),
    ("triu_k", lambda m, a: m.triu(a, 1), (2, 3, 4)),
    ("tril", lambda m, a: m.tril(a, -1), (3, 4)),
    ("tril_1d", lambda m, a: m.tril(a), (3,)),
]


@pytest.mark.parametrize("name,f,shape", STRUCTURE, ids=[s[0] for s in STRUCTURE])
def test_matrix_structure(name, f, shape):
    check(f, normal(shape))


# ---------------------------------------------------------------- np.linalg
def _eig_sign_free(m, a):
    w, v = m.linalg.eigh(a)
    # squares of eigenvector entries and v diag(c) v^T do not depend on the signs
    c = np.array([0.3, -1.2, 2.0])
    return m.concatenate([w, m.ravel(v * v), m.ravel((v * c) @ v.T)])


def _svd_sign_free(m, a):
    u, s, vh = m.linalg.svd(a, full_matrices=False)
    c = np.arange(1.0, s.shape[-1] + 1)
    return m.concatenate([s, m.ravel(u * u), m.ravel(vh * vh), m.ravel((u * c) @ vh)])


LINALG = [
    ("norm", lambda m, a: m.linalg.norm(a), normal((2, 3))),
    ("norm_3d", lambda m, a: m.linalg.norm(a, keepdims=True), normal((2, 2, 2))),
    ("norm_vec_1", lambda m, a: m.linalg.norm(a, 1), spread((4,))),
    ("norm_vec_3", lambda m, a: m.linalg.norm(a, 3), spread((4,))),
    ("norm_vec_half", lambda m, a: m.linalg.norm(a, 0.5), spread((4,))),
    ("norm_vec_-2", lambda m, a: m.linalg.norm(a, -2), spread((4,))),
    ("norm_vec_inf", lambda m, a: m.linalg.norm(a, np.inf), spread((4,))),
    ("norm_vec_-inf", lambda m, a: m.linalg.norm(a, -np.inf), spread((4,))),
    ("norm_axis", lambda m, a: m.linalg.norm(a, axis=1, keepdims=True), normal((2, 3))),
    ("norm_axis_ord", lambda m, a: m.linalg.norm(a, 3, axis=0), spread((2, 3))),
    ("norm_fro", lambda m, a: m.linalg.norm(a, "fro"), normal((2, 3))),
    ("norm_nuc", lambda m, a: m.linalg.norm(a, "nuc"), normal((3, 2))),
    ("norm_2", lambda m, a: m.linalg.norm(a, 2), normal((2, 3))),
    ("norm_-2", lambda m, a: m.linalg.norm(a, -2), normal((3, 3))),
    ("norm_1", lambda m, a: m.linalg.norm(a, 1), spread((3, 3))),
    ("norm_-1", lambda m, a: m.linalg.norm(a, -1), spread((3, 3))),
    ("norm_inf", lambda m, a: m.linalg.norm(a, np.inf), spread((3, 3))),
    ("norm_-inf", lambda m, a: m.linalg.norm(a, -np.inf), spread((3, 3))),
    ("norm_matrix_axes", lambda m, a: m.linalg.norm(a, "fro", axis=(2, 0), keepdims=True),
     normal((2, 3, 2))),
    ("norm_matrix_axes_inf", lambda m, a: m.linalg.norm(a, np.inf, axis=(1, 0)), spread((3, 2))),
    ("vector_norm", lambda m, a: m.linalg.vector_norm(a, axis=-1), normal((2, 3))),
    ("matrix_norm", lambda m, a: m.linalg.matrix_norm(a, ord="nuc"), normal((2, 3, 2))),
    ("inv", lambda m, a: m.linalg.inv(a), well_conditioned(3)),
    ("inv_batch", lambda m, a: m.linalg.inv(a), well_conditioned(2, (2,))),
    ("det", lambda m, a: m.linalg.det(a), well_conditioned(3)),
    ("det_batch", lambda m, a: m.linalg.det(a), well_conditioned(2, (3,))),
    ("slogdet", lambda m, a: m.linalg.slogdet(a)[1], well_conditioned(3) - 2.5 * np.eye(3)),
    ("cholesky", lambda m, a: m.linalg.cholesky(a), spd(3)),
    ("cholesky_batch", lambda m, a: m.linalg.cholesky(a), spd(2, (2,))),
    ("cholesky_upper", lambda m, a: m.linalg.cholesky(a, upper=True), spd(3)),
    ("eigh", _eig_sign_free, spd(3)),
    ("eigh_upper", lambda m, a: m.linalg.eigh(a, UPLO="U")[0] * np.array([1.0, 2.0, 3.0]),
     spd(3)),
    ("eigvalsh_batch", lambda m, a: m.linalg.eigvalsh(a), spd(2, (2,))),
    ("svd_square", _svd_sign_free, normal((3, 3))),
    ("svd_tall", _svd_sign_free, normal((4, 2))),
    ("svd_wide", _svd_sign_free, normal((2, 4))),
    ("svd_values", lambda m, a: m.linalg.svd(a, compute_uv=False), normal((2, 3, 2))),
    ("svdvals", lambda m, a: m.linalg.svdvals(a), normal((3, 2))),
    ("pinv_tall", lambda m, a: m.linalg.pinv(a), normal((4, 2))),
    ("pinv_wide", lambda m, a: m.linalg.pinv(a), normal((2, 3))),
    ("matrix_power", lambda m, a: m.linalg.matrix_power(a, 3), normal((2, 2))),
    ("matrix_power_neg", lambda m, a: m.linalg.matrix_power(a, -2), well_conditioned(2)),
]  # fmt: skip


@pytest.mark.parametrize("name,f,a", LINALG, ids=[c[0] for c in LINALG])
def test_linalg(name, f, a):
    check(f, a)


SOLVES = [
    ("vector", (3, 3), (3,)),
    ("matrix", (3, 3), (3, 2)),
    ("batch", (2, 3, 3), (2, 3, 1)),
    ("batch_a_vector_b", (2, 3, 3), (3,)),
]


@pytest.mark.parametrize("name,sa,sb", SOLVES, ids=[s[0] for s in SOLVES])
def test_solve(name, sa, sb):
    a = well_conditioned(sa[-1], sa[:-2])
    check(lambda m, x, y: m.linalg.solve(x, y), a, normal(sb))


def test_multi_dot():
    check(
        lambda m, a, b, c: m.linalg.multi_dot([a, b, c]), normal((2, 3)), normal((3, 3)), normal(3)
    )


# ------------------------------------------------------------------ shapes
def _weighted(m, pieces, axis=0):
    """The pieces of a split joined again, each scaled differently."""
    return m.concatenate([p * (i + 1) for i, p in enumerate(pieces)], axis=axis)


SHAPE_FUNCS = [
    ("reshape", lambda m, a: m.reshape(a, (3, 2)), (2, 3)),
    ("reshape_method", lambda m, a: a.reshape(3, -1) * 1.5, (2, 3)),
    ("ravel", lambda m, a: m.ravel(a), (2, 3)),
    ("transpose", lambda m, a: m.transpose(a, (2, 0, 1)), (2, 3, 2)),
    ("swapaxes", lambda m, a: m.swapaxes(a, 0, -1), (2, 3, 2)),
    ("moveaxis", lambda m, a: m.moveaxis(a, [0, 1], [-1, 0]), (2, 3, 2)),
    ("expand_dims", lambda m, a: m.expand_dims(a, (0, 2)), (2, 3)),
    ("squeeze", lambda m, a: m.squeeze(a, 1), (2, 1, 3)),
    ("atleast_1d", lambda m, a: m.atleast_1d(a), ()),
    ("atleast_2d", lambda m, a: m.atleast_2d(a), (3,)),
    ("atleast_3d", lambda m, a: m.atleast_3d(a), (2, 3)),
    ("broadcast_to", lambda m, a: m.broadcast_to(a, (2, 2, 3)), (1, 3)),
    ("tile", lambda m, a: m.tile(a, (2, 1, 2)), (2, 3)),
    ("tile_int", lambda m, a: m.tile(a, 3), (2,)),
    ("repeat", lambda m, a: m.repeat(a, 2, axis=1), (2, 3)),
    ("repeat_counts", lambda m, a: m.repeat(a, [1, 0, 3]), (3,)),
    ("repeat_flat", lambda m, a: m.repeat(a, 2), (2, 2)),
    ("flip", lambda m, a: m.flip(a), (2, 3)),
    ("flip_axis", lambda m, a: m.flip(a, 1), (2, 3)),
    ("fliplr", lambda m, a: m.fliplr(a), (2, 3)),
    ("flipud", lambda m, a: m.flipud(a), (2, 3)),
    ("roll", lambda m, a: m.roll(a, 2), (2, 3)),
    ("roll_axes", lambda m, a: m.roll(a, (1, -1), axis=(0, 1)), (2, 3)),
    ("pad_constant", lambda m, a: m.pad(a, ((1, 0), (2, 1)), constant_values=0.5), (2, 3)),
    ("pad_int", lambda m, a: m.pad(a, 1), (3,)),
    ("pad_edge", lambda m, a: m.pad(a, (1, 2), mode="edge"), (2, 3)),
    ("pad_reflect", lambda m, a: m.pad(a, 2, mode="reflect"), (2, 3)),
    ("pad_wrap", lambda m, a: m.pad(a, ((0, 1), (2, 2)), mode="wrap"), (2, 3)),
    ("take", lambda m, a: m.take(a, [0, 2, 2]), (2, 3)),
    ("take_axis", lambda m, a: m.take(a, [[1, 0], [1, 1]], axis=1), (2, 3)),
    ("take_wrap", lambda m, a: m.take(a, [4, -1], axis=0, mode="wrap"), (3, 2)),
    ("take_along_axis", lambda m, a: m.take_along_axis(a, np.array([[2, 0], [1, 1]]), 1), (2, 3)),
    ("sort", lambda m, a: m.sort(a), (2, 3)),
    ("sort_axis0", lambda m, a: m.sort(a, axis=0), (3, 2)),
    ("sort_flat", lambda m, a: m.sort(a, axis=None), (2, 3)),
    ("diff", lambda m, a: m.diff(a, 2, axis=1), (2, 4)),
    ("getitem", lambda m, a: a[None, ..., [0, 2]][:, ::-1], (2, 3)),
    ("getitem_bool", lambda m, a: a[np.array([[True, False, True], [False, True, True]])], (2, 3)),
    ("split", lambda m, a: _weighted(m, m.split(a, 3, 1)), (2, 3)),
    ("array_split", lambda m, a: _weighted(m, m.array_split(a, 3)), (5,)),
    ("split_indices", lambda m, a: _weighted(m, m.split(a, [1, 2], axis=1), axis=1), (2, 4)),
    ("hsplit_vsplit", lambda m, a: m.hsplit(a, 2)[1] + m.vsplit(a, 2)[0].T @ m.ones((1, 2)),
     (2, 2)),
]  # fmt: skip


@pytest.mark.parametrize("name,f,shape", SHAPE_FUNCS, ids=[s[0] for s in SHAPE_FUNCS])
def test_shape_functions(name, f, shape):
    check(f, spread(shape))


JOINS = [
    ("concatenate", lambda m, a, b: m.concatenate((a, b), axis=1), (2, 3), (2, 2)),
    ("concatenate_none", lambda m, a, b: m.concatenate([a, b], axis=None), (2, 3), (3,)),
    ("stack", lambda m, a, b: m.stack([a, b], axis=-1), (2, 3), (2, 3)),
    ("hstack", lambda m, a, b: m.hstack([a, b]), (3,), (2,)),
    ("vstack", lambda m, a, b: m.vstack([a, b]), (3,), (2, 3)),
    ("dstack", lambda m, a, b: m.dstack([a, b]), (2, 3), (2, 3)),
    ("column_stack", lambda m, a, b: m.column_stack([a, b]), (3,), (3, 2)),
    ("append", lambda m, a, b: m.append(a, b), (2, 2), (3,)),
    ("broadcast_arrays", lambda m, a, b: m.broadcast_arrays(a, b)[0] * m.broadcast_arrays(a, b)[1],
     (2, 1), (3,)),
]  # fmt: skip


@pytest.mark.parametrize("name,f,sa,sb", JOINS, ids=[j[0] for j in JOINS])
def test_joins(name, f, sa, sb):
    check(f, normal(sa), normal(sb))


# --------------------------------------------------- float32 stays float32
FLOAT32 = [
    lambda m, x: m.cbrt(x) + m.log1p(x * x) + m.arctan(x) + m.sinc(x),
    lambda m, x: m.linalg.norm(x) + m.std(x) + m.var(x, ddof=1),
    lambda m, x: m.cumprod(x) + m.cumsum(x),
    lambda m, x: m.einsum("i,i->", x, x) + m.dot(x, x) + m.trace(m.outer(x, x)),
    lambda m, x: m.linalg.det(m.outer(x, x) + m.eye(3, dtype=m.float32)),
    lambda m, x: m.sum(m.linalg.eigvalsh(m.outer(x, x) + m.eye(3, dtype=m.float32)) ** 2),
    lambda m, x: m.sum(m.sort(x) * m.arange(3, dtype=m.float32) + m.pad(x, 1)[1:4] + m.roll(x, 1)),
]


@pytest.mark.parametrize("k", range(len(FLOAT32)))
def test_float32_values_and_gradients_stay_float32(k):
    f = FLOAT32[k]
    x = np.array([0.3, -0.7, 1.1], dtype=np.float32)
    value, g = cr.value_and_grad(lambda t: cnp.sum(f(cnp, t)))(x)
    assert value.dtype == np.float32 and g.dtype == np.float32
    _, g64 = cr.value_and_grad(lambda t: cnp.sum(f(cnp, t)))(x.astype(np.float64))
    np.testing.assert_allclose(g.data, g64.data, rtol=2e-3, atol=2e-3)
    _, tangent = cr.jvp(lambda t: cnp.sum(f(np, t)), (x,), (np.ones(3, np.float32),))
    assert tangent.dtype == np.float32
