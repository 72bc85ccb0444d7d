"""Property-based tests of every differentiable primitive reachable from the public API.

For random shapes (0-d and length-1 axes included), random broadcasting between
operands and both float32 and float64 inputs, each test checks that

1. the forward value and dtype equal NumPy's on the same arrays (float32 stays
   float32; Python scalars do not upcast, as NEP 50 says);
2. the gradient from ``backward()`` with a random upstream gradient equals central
   finite differences of the NumPy reference computed in float64 (for float32
   inputs: the gradient is float32 and close to the float64 one at float32
   tolerance);
3. the gradient has the input's shape (broadcasting undone).

Inputs stay inside each function's domain and away from kinks and ties, except
in the tests dedicated to kinks and ties. Further tests cover second derivatives
(``autograd.grad`` with ``create_graph=True`` twice) and numerical stability of
logsumexp, softmax and log_softmax at |x| ~ 1000.
"""

from __future__ import annotations

import itertools
import operator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr

# ---------------------------------------------------------------- settings
# Modest example counts: the whole file is meant to run in well under a minute.
FEW = settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SOME = settings(FEW, max_examples=30)

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
DTYPES = st.sampled_from([F32, F64])

# Forward tolerances (chainrule calls the same NumPy kernels, so these are loose).
FWD_TOL = {F32: {"rtol": 2e-6, "atol": 1e-6}, F64: {"rtol": 1e-12, "atol": 1e-12}}
# float64 gradient vs central differences (eps = 1e-6).
FD_EPS = 1e-6
FD_TOL = {"rtol": 1e-5, "atol": 1e-6}
# float32 gradient vs float64 gradient at the same points.
F32_TOL = {"rtol": 2e-4, "atol": 2e-4}


# ---------------------------------------------------------------- helpers
def finite_difference(fn, args, i, upstream, eps=FD_EPS):
    """d sum(fn(*args) * upstream) / d args[i], by central differences in float64.

    ``fn`` is a NumPy function. Only ``args[i]`` (a float64 array) is perturbed,
    one element at a time; the difference of the two outputs is taken before it
    is weighted by ``upstream``, which keeps cancellation small.
    """
    x = np.array(args[i], dtype=np.float64)
    grad = np.zeros_like(x)
    for e in range(x.size):
        original = x.flat[e]
        x.flat[e] = original + eps
        plus = np.asarray(fn(*args[:i], x.copy(), *args[i + 1 :]), dtype=np.float64)
        x.flat[e] = original - eps
        minus = np.asarray(fn(*args[:i], x.copy(), *args[i + 1 :]), dtype=np.float64)
        x.flat[e] = original
        grad.flat[e] = np.sum((plus - minus) * upstream) / (2 * eps)
    return grad


def _is_float_array(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _to64(a):
    return a.astype(np.float64) if _is_float_array(a) else a


def _run(cr_fn, args, diff, upstream):
    """Apply ``cr_fn`` to ``args`` (those at ``diff`` as Tensors requiring grad),
    backpropagate ``upstream`` and return (output, gradients)."""
    leaves = {i: cr.tensor(args[i], requires_grad=True) for i in diff}
    call_args = [leaves.get(i, a) for i, a in enumerate(args)]
    out = cr_fn(*call_args)
    assert isinstance(out, cr.Tensor)
    if upstream is not None:
        out.backward(upstream.astype(out.dtype))
    grads = []
    for i in diff:
        g = leaves[i].grad
        assert g is not None, f"input {i} got no gradient"
        grads.append(g.data)
    return out, grads


def check_op(cr_fn, np_fn, args, diff=None, seed=0, fwd_tol=None, fd_tol=None, check_fd=True):
    """Check forward value/dtype, gradients (FD in float64), gradient shapes/dtypes.

    ``args`` are NumPy arrays (float32 or float64) and other arguments (Python
    scalars, masks); ``diff`` lists the positions that become Tensors requiring
    grad (default: every float array). ``np_fn`` is the NumPy reference.
    """
    if diff is None:
        diff = [i for i, a in enumerate(args) if _is_float_array(a)]
    ref = np.asarray(np_fn(*args))

    # 1. forward value and dtype, against NumPy on the very same arrays.
    leaves = {i: cr.tensor(args[i], requires_grad=True) for i in diff}
    out = cr_fn(*[leaves.get(i, a) for i, a in enumerate(args)])
    assert isinstance(out, cr.Tensor)
    assert out.dtype == ref.dtype, f"forward dtype {out.dtype}, NumPy gives {ref.dtype}"
    assert out.shape == ref.shape, f"forward shape {out.shape}, NumPy gives {ref.shape}"
    tol = fwd_tol or FWD_TOL.get(ref.dtype, FWD_TOL[F64])
    np.testing.assert_allclose(out.data, ref, **tol, err_msg="forward value")
    if not diff:
        return

    # 2. gradients with a random upstream gradient.
    rng = np.random.default_rng(seed)
    upstream = rng.standard_normal(ref.shape).astype(ref.dtype)
    out.backward(upstream)
    grads = []
    for i in diff:
        g = leaves[i].grad
        assert g is not None, f"input {i} got no gradient"
        # 3. the gradient has the input's shape and dtype.
        assert g.shape == args[i].shape, f"grad shape {g.shape} != input shape {args[i].shape}"
        assert g.dtype == args[i].dtype, f"grad dtype {g.dtype} != input dtype {args[i].dtype}"
        grads.append(g.data)

    up64 = upstream.astype(np.float64)
    args64 = [_to64(a) for a in args]
    if any(_is_float_array(a) and a.dtype != F64 for a in args):
        # The same points in float64: the float32 gradient must be close to it.
        _, grads64 = _run(cr_fn, args64, diff, up64)
        for g32, g64 in zip(grads, grads64):
            scale = max(1.0, float(np.max(np.abs(g64), initial=0.0)))
            np.testing.assert_allclose(
                g32,
                g64,
                rtol=F32_TOL["rtol"],
                atol=F32_TOL["atol"] * scale,
                err_msg="float32 gradient vs float64 gradient",
            )
    else:
        grads64 = grads
    if not check_fd:
        return grads64, args64, up64
    tol = fd_tol or FD_TOL
    for i, g64 in zip(diff, grads64):
        fd = finite_difference(np_fn, args64, i, up64)
        np.testing.assert_allclose(g64, fd, **tol, err_msg=f"gradient of input {i} vs FD")
    return grads64, args64, up64


# ---------------------------------------------------------------- strategies
SEEDS = st.integers(0, 2**32 - 1)


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=3):
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def uniform(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def signed(lo, hi):
    """Values with lo <= |v| <= hi, of either sign (away from 0 by lo)."""
    return st.builds(operator.mul, st.sampled_from([-1.0, 1.0]), uniform(lo, hi))


def grid(ilo, ihi, olo, ohi):
    """An integer in [ilo, ihi] plus an offset in [olo, ohi]: two grids with disjoint
    offsets keep every pair of values at least the gap between the offsets apart."""
    return st.builds(operator.add, st.integers(ilo, ihi).map(float), uniform(olo, ohi))


def arrays(shape, elements, dtype=F64):
    return hnp.arrays(np.float64, shape, elements=elements).map(lambda a: a.astype(dtype))


@st.composite
def distinct_arrays(draw, shape, dtype=F64, spacing=0.37):
    """Arrays whose elements are pairwise at least ``spacing - 0.1`` apart (no ties)."""
    n = int(np.prod(shape))
    perm = np.array(draw(st.permutations(range(n))), dtype=np.float64)
    jitter = np.array(draw(st.lists(uniform(-0.05, 0.05), min_size=n, max_size=n)))
    values = (perm - n / 2) * spacing + jitter
    return values.reshape(shape).astype(dtype)


@st.composite
def axes_for(draw, ndim, allow_none=True):
    """An ``axis`` argument: None, an int (maybe negative) or a tuple (maybe negative)."""
    kinds = ["tuple"] + (["none"] if allow_none else []) + (["int"] if ndim else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(hnp.valid_tuple_axes(ndim))
    flips = draw(st.lists(st.booleans(), min_size=len(axes), max_size=len(axes)))
    # valid_tuple_axes mixes signs already; normalise, then negate at random.
    return tuple(a % ndim - ndim if f else a % ndim for a, f in zip(axes, flips))


def _normalized(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else axis
    return tuple(sorted(a % ndim for a in axes))


# ---------------------------------------------------------------- references
def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if keepdims:
        return out
    return out.reshape(()) if axis is None else np.squeeze(out, axis=axis)


def np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    return x - np_logsumexp(x, axis=axis, keepdims=True)


def reduce_to(g, shape):
    """Sum ``g`` down to ``shape`` (the test's own undoing of broadcasting)."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for ax, n in enumerate(shape):
        if n == 1 and g.shape[ax] != 1:
            g = g.sum(axis=ax, keepdims=True)
    return g


# ================================================================ unary elementwise
def _rpow(t):
    return 2.5**t


UNARY = {
    # name: (chainrule function, NumPy reference, element strategy)
    "neg": (operator.neg, np.negative, uniform(-3, 3)),
    "negative": (cr.negative, np.negative, uniform(-3, 3)),
    "exp": (cr.exp, np.exp, uniform(-3, 3)),
    "exp_method": (lambda t: t.exp(), np.exp, uniform(-3, 3)),
    "exp_numpy": (np.exp, np.exp, uniform(-3, 3)),
    "log": (cr.log, np.log, uniform(0.1, 5)),
    "log_numpy": (np.log, np.log, uniform(0.1, 5)),
    "sqrt": (cr.sqrt, np.sqrt, uniform(0.1, 5)),
    "sqrt_method": (lambda t: t.sqrt(), np.sqrt, uniform(0.1, 5)),
    "abs": (cr.abs, np.abs, signed(0.05, 3)),
    "abs_builtin": (abs, np.abs, signed(0.05, 3)),
    "sin": (cr.sin, np.sin, uniform(-4, 4)),
    "cos": (cr.cos, np.cos, uniform(-4, 4)),
    "cos_method": (lambda t: t.cos(), np.cos, uniform(-4, 4)),
    "tanh": (cr.tanh, np.tanh, uniform(-3, 3)),
    "sigmoid": (cr.sigmoid, np_sigmoid, uniform(-8, 8)),
    "sigmoid_method": (lambda t: t.sigmoid(), np_sigmoid, uniform(-8, 8)),
    "relu": (cr.relu, lambda x: np.maximum(x, 0), signed(0.05, 3)),
    "relu_method": (lambda t: t.relu(), lambda x: np.maximum(x, 0), signed(0.05, 3)),
    # pow with a Python-number exponent or base (NEP 50: a float32 tensor stays float32)
    "square": (lambda t: t**2, lambda x: x**2, uniform(-3, 3)),
    "cube": (lambda t: t**3, lambda x: x**3, uniform(-2, 2)),
    "pow_zero": (lambda t: t**0, lambda x: x**0, uniform(-2, 2)),
    "pow_half": (lambda t: t**0.5, lambda x: x**0.5, uniform(0.1, 4)),
    "pow_neg": (lambda t: t**-1.5, lambda x: x**-1.5, uniform(0.3, 4)),
    "pow_neg_int": (lambda t: t**-2, lambda x: x**-2.0, signed(0.4, 3)),
    "rpow": (_rpow, _rpow, uniform(-3, 3)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@FEW
@given(data=st.data(), dtype=DTYPES, seed=SEEDS)
def test_unary_elementwise(name, data, dtype, seed):
    cr_fn, np_fn, elements = UNARY[name]
    x = data.draw(arrays(shapes(max_dims=3), elements, dtype), label="x")
    check_op(cr_fn, np_fn, [x], seed=seed)


# ================================================================ binary elementwise
BINARY = {
    # name: (chainrule function, NumPy reference, x elements, y elements)
    "add": (operator.add, np.add, uniform(-3, 3), uniform(-3, 3)),
    "add_fn": (cr.add, np.add, uniform(-3, 3), uniform(-3, 3)),
    "sub": (operator.sub, np.subtract, uniform(-3, 3), uniform(-3, 3)),
    "subtract_fn": (cr.subtract, np.subtract, uniform(-3, 3), uniform(-3, 3)),
    "mul": (operator.mul, np.multiply, uniform(-3, 3), uniform(-3, 3)),
    "multiply_numpy": (np.multiply, np.multiply, uniform(-3, 3), uniform(-3, 3)),
    "div": (operator.truediv, np.true_divide, uniform(-3, 3), signed(0.5, 3)),
    "divide_fn": (cr.divide, np.true_divide, uniform(-3, 3), signed(0.5, 3)),
    # tensor base and tensor exponent: positive base
    "pow": (operator.pow, np.power, uniform(0.3, 3), uniform(-2, 2)),
    "power_fn": (cr.power, np.power, uniform(0.3, 3), uniform(-2, 2)),
    # two grids with disjoint offsets: |x - y| >= 0.2 everywhere, either may be larger
    "maximum": (cr.maximum, np.maximum, grid(-2, 2, 0.1, 0.4), grid(-2, 2, 0.6, 0.9)),
    "maximum_numpy": (np.maximum, np.maximum, grid(-2, 2, 0.1, 0.4), grid(-2, 2, 0.6, 0.9)),
    "minimum": (cr.minimum, np.minimum, grid(-2, 2, 0.1, 0.4), grid(-2, 2, 0.6, 0.9)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@FEW
@given(
    data=st.data(),
    bshapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    dtypes=st.tuples(DTYPES, DTYPES),
    seed=SEEDS,
)
def test_binary_elementwise_broadcasting(name, data, bshapes, dtypes, seed):
    cr_fn, np_fn, x_el, y_el = BINARY[name]
    xs, ys = bshapes.input_shapes
    x = data.draw(arrays(xs, x_el, dtypes[0]), label="x")
    y = data.draw(arrays(ys, y_el, dtypes[1]), label="y")
    check_op(cr_fn, np_fn, [x, y], seed=seed)


def _scalar_kinds():
    # Python numbers are "weak" under NEP 50; NumPy scalars are not.
    return st.sampled_from(["float", "int", "np.float64", "np.float32"])


def _make_scalar(kind, value):
    if kind == "int":
        return int(round(value)) or 1
    return {"float": float, "np.float64": np.float64, "np.float32": np.float32}[kind](value)


SCALAR_OPS = {
    # name: (operator, x elements, scalar range)
    "add": (operator.add, uniform(-3, 3), (-3, 3)),
    "sub": (operator.sub, uniform(-3, 3), (-3, 3)),
    "mul": (operator.mul, uniform(-3, 3), (-3, 3)),
    "div": (operator.truediv, signed(0.5, 3), (1, 3)),
    "pow": (operator.pow, uniform(0.3, 3), (1, 3)),
    "maximum": (np.maximum, grid(-2, 2, 0.1, 0.4), (0.75, 0.75)),
    "minimum": (np.minimum, grid(-2, 2, 0.1, 0.4), (-1.25, -1.25)),
}


@pytest.mark.parametrize("name", sorted(SCALAR_OPS))
@FEW
@given(
    data=st.data(),
    dtype=DTYPES,
    kind=_scalar_kinds(),
    tensor_first=st.booleans(),
    seed=SEEDS,
)
def test_binary_with_a_scalar_operand(name, data, dtype, kind, tensor_first, seed):
    op, x_el, (lo, hi) = SCALAR_OPS[name]
    x = data.draw(arrays(shapes(), x_el, dtype), label="x")
    s = _make_scalar(kind, data.draw(uniform(lo, hi), label="scalar"))
    if tensor_first:
        check_op(lambda t: op(t, s), lambda a: op(a, s), [x], seed=seed)
    else:
        check_op(lambda t: op(s, t), lambda a: op(s, a), [x], seed=seed)


def test_python_scalars_do_not_upcast_float32():
    x = cr.tensor(np.array([1.5, 2.5], dtype=np.float32), requires_grad=True)
    for out in (x + 1.0, 2.0 * x, x / 3, 1.0 - x, x**2.0, 2.0**x, cr.maximum(x, 0.0)):
        assert out.dtype == np.float32
    assert (x * np.float64(2.0)).dtype == np.float64  # NumPy scalars are not weak


# ================================================================ where, clip, astype
@FEW
@given(
    data=st.data(),
    bshapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
    dtypes=st.tuples(DTYPES, DTYPES),
    cond_as_tensor=st.booleans(),
    seed=SEEDS,
)
def test_where(data, bshapes, dtypes, cond_as_tensor, seed):
    cs, xs, ys = bshapes.input_shapes
    cond = data.draw(hnp.arrays(np.bool_, cs), label="cond")
    x = data.draw(arrays(xs, uniform(-3, 3), dtypes[0]), label="x")
    y = data.draw(arrays(ys, uniform(-3, 3), dtypes[1]), label="y")
    c = cr.tensor(cond) if cond_as_tensor else cond
    check_op(lambda a, b: cr.where(c, a, b), lambda a, b: np.where(cond, a, b), [x, y], seed=seed)


@FEW
@given(
    data=st.data(),
    bshapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
    dtypes=st.tuples(DTYPES, DTYPES, DTYPES),
    form=st.sampled_from(["tensors", "scalars", "lo_only", "hi_only", "method", "numpy"]),
    seed=SEEDS,
)
def test_clip(data, bshapes, dtypes, form, seed):
    # x is k + [0.1, 0.4]; the bounds are k + [0.6, 0.9] with lo <= -1 + 0.9 < 0.6 <= hi:
    # every element is at least 0.2 from both bounds, and lo < hi everywhere.
    xs, ls, hs = bshapes.input_shapes
    x = data.draw(arrays(xs, grid(-4, 3, 0.1, 0.4), dtypes[0]), label="x")
    lo = data.draw(arrays(ls, grid(-3, -1, 0.6, 0.9), dtypes[1]), label="lo")
    hi = data.draw(arrays(hs, grid(0, 2, 0.6, 0.9), dtypes[2]), label="hi")
    if form == "tensors":
        check_op(cr.clip, np.clip, [x, lo, hi], seed=seed)
    elif form == "method":
        check_op(lambda a, b, c: a.clip(b, c), np.clip, [x, lo, hi], seed=seed)
    elif form == "numpy":
        check_op(np.clip, np.clip, [x, lo, hi], seed=seed)
    elif form == "scalars":
        check_op(lambda a: cr.clip(a, -1.3, 1.7), lambda a: np.clip(a, -1.3, 1.7), [x], seed=seed)
    elif form == "lo_only":
        check_op(
            lambda a, b: cr.clip(a, b, None), lambda a, b: np.clip(a, b, None), [x, lo], seed=seed
        )
    else:
        check_op(
            lambda a, c: cr.clip(a, None, c), lambda a, c: np.clip(a, None, c), [x, hi], seed=seed
        )


@FEW
@given(
    data=st.data(),
    dtype=DTYPES,
    target=DTYPES,
    via=st.sampled_from(["function", "method"]),
    seed=SEEDS,
)
def test_astype_between_float32_and_float64(data, dtype, target, via, seed):
    x = data.draw(arrays(shapes(), uniform(-3, 3), dtype), label="x")
    fn = {"function": lambda t: cr.astype(t, target), "method": lambda t: t.astype(target)}[via]
    # The cast rounds (float64 -> float32), so the FD check is on the float64 path only.
    grads64, _, up64 = check_op(fn, lambda a: a.astype(target), [x], seed=seed, check_fd=False)
    np.testing.assert_allclose(grads64[0], up64, rtol=1e-6, atol=1e-7)
    # Gradient flows through a cast and back into ordinary arithmetic.
    t = cr.tensor(x, requires_grad=True)
    (fn(t) * 3.0).sum().backward()
    assert t.grad.dtype == x.dtype
    np.testing.assert_allclose(t.grad.data, np.full(x.shape, 3.0))


# ================================================================ reductions
REDUCTIONS = {
    # name: (chainrule function, NumPy reference, element strategy or None for distinct)
    "sum": (cr.sum, np.sum, uniform(-3, 3)),
    "mean": (cr.mean, np.mean, uniform(-3, 3)),
    "max": (cr.max, np.max, None),
    "min": (cr.min, np.min, None),
    # prod is multilinear, so FD is exact even at zeros: zeros are included.
    "prod": (cr.prod, np.prod, st.one_of(st.just(0.0), signed(0.7, 1.3), signed(0.7, 1.3))),
    "logsumexp": (cr.logsumexp, np_logsumexp, uniform(-5, 5)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SOME
@given(
    data=st.data(),
    shape=shapes(max_dims=3),
    dtype=DTYPES,
    keepdims=st.booleans(),
    via=st.sampled_from(["function", "method"]),
    seed=SEEDS,
)
def test_reduction(name, data, shape, dtype, keepdims, via, seed):
    cr_fn, np_fn, elements = REDUCTIONS[name]
    if elements is None:
        x = data.draw(distinct_arrays(shape, dtype), label="x")
    else:
        x = data.draw(arrays(shape, elements, dtype), label="x")
    axis = data.draw(axes_for(len(shape)), label="axis")
    if via == "function":
        fn = lambda t: cr_fn(t, axis=axis, keepdims=keepdims)
    else:
        fn = lambda t: getattr(t, name)(axis=axis, keepdims=keepdims)
    check_op(fn, lambda a: np_fn(a, axis=axis, keepdims=keepdims), [x], seed=seed)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@SOME
@given(
    data=st.data(),
    shape=shapes(max_dims=3),
    dtype=DTYPES,
    via=st.sampled_from(["function", "method"]),
    seed=SEEDS,
)
def test_softmax_and_log_softmax(name, data, shape, dtype, via, seed):
    np_fn = np_softmax if name == "softmax" else np_log_softmax
    x = data.draw(arrays(shape, uniform(-5, 5), dtype), label="x")
    axis = data.draw(axes_for(len(shape)), label="axis")
    if via == "function":
        fn = lambda t: getattr(cr, name)(t, axis=axis)
    else:
        fn = lambda t: getattr(t, name)(axis=axis)
    check_op(fn, lambda a: np_fn(a, axis=axis), [x], seed=seed)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@FEW
@given(x=arrays(shapes(min_dims=1), uniform(-5, 5)), seed=SEEDS)
def test_softmax_default_axis_is_last(name, x, seed):
    np_fn = np_softmax if name == "softmax" else np_log_softmax
    check_op(getattr(cr, name), lambda a: np_fn(a, axis=-1), [x], seed=seed)


# ---- ties and kinks
def _slices_along(x, axes):
    """x with the reduced ``axes`` moved last and flattened: (rows, kept shape)."""
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, kept + list(axes))
    kept_shape = moved.shape[: len(kept)]
    return moved.reshape(int(np.prod(kept_shape)), -1), kept, kept_shape


@pytest.mark.parametrize("name", ["max", "min"])
@SOME
@given(
    data=st.data(),
    shape=shapes(max_dims=3),
    dtype=DTYPES,
    keepdims=st.booleans(),
    seed=SEEDS,
)
def test_extremum_reduction_ties_share_the_gradient_evenly(
    name, data, shape, dtype, keepdims, seed
):
    # Values from {-1, 0, 1}: ties are frequent.
    x = data.draw(arrays(shape, st.sampled_from([-1.0, 0.0, 1.0]), dtype), label="x")
    axis = data.draw(axes_for(len(shape)), label="axis")
    t = cr.tensor(x, requires_grad=True)
    out = getattr(cr, name)(t, axis=axis, keepdims=keepdims)
    ref = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    assert out.dtype == ref.dtype and out.shape == ref.shape
    np.testing.assert_array_equal(out.data, ref)
    upstream = np.random.default_rng(seed).standard_normal(ref.shape).astype(dtype)
    out.backward(upstream)

    # Reference, one reduced slice at a time.
    axes = _normalized(axis, x.ndim)
    rows, kept, kept_shape = _slices_along(x, axes)
    g_rows = upstream.reshape(-1)
    expected_rows = np.zeros(rows.shape)
    for r in range(rows.shape[0]):
        hit = rows[r] == (rows[r].max() if name == "max" else rows[r].min())
        expected_rows[r, hit] = g_rows[r] / hit.sum()
    moved_shape = kept_shape + tuple(x.shape[a] for a in axes)
    expected = np.transpose(expected_rows.reshape(moved_shape), np.argsort(kept + list(axes)))
    assert t.grad.shape == x.shape and t.grad.dtype == dtype
    np.testing.assert_allclose(t.grad.data, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@SOME
@given(
    data=st.data(),
    bshapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    dtype=DTYPES,
    seed=SEEDS,
)
def test_elementwise_extremum_ties_split_half_and_half(name, data, bshapes, dtype, seed):
    xs, ys = bshapes.input_shapes
    x = data.draw(arrays(xs, st.sampled_from([-1.0, 0.0, 1.0]), dtype), label="x")
    y = data.draw(arrays(ys, st.sampled_from([-1.0, 0.0, 1.0]), dtype), label="y")
    tx, ty = cr.tensor(x, requires_grad=True), cr.tensor(y, requires_grad=True)
    out = getattr(cr, name)(tx, ty)
    ref = getattr(np, name)(x, y)
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out.data, ref)
    g = np.random.default_rng(seed).standard_normal(ref.shape).astype(ref.dtype)
    out.backward(g)
    bx, by = np.broadcast_arrays(x, y)
    x_wins = bx > by if name == "maximum" else bx < by
    tie = bx == by
    share_x = np.where(x_wins, 1.0, np.where(tie, 0.5, 0.0))
    share_y = np.where(~x_wins & ~tie, 1.0, np.where(tie, 0.5, 0.0))
    np.testing.assert_allclose(tx.grad.data, reduce_to(g * share_x, x.shape), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ty.grad.data, reduce_to(g * share_y, y.shape), rtol=1e-6, atol=1e-6)
    assert tx.grad.shape == x.shape and ty.grad.shape == y.shape


def test_maximum_tie_gives_half_to_each():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = cr.tensor([1.0, 5.0, 3.0], requires_grad=True)
    cr.maximum(x, y).backward(np.array([2.0, 2.0, 4.0]))
    np.testing.assert_array_equal(x.grad.data, [1.0, 0.0, 2.0])
    np.testing.assert_array_equal(y.grad.data, [1.0, 2.0, 2.0])


def test_max_reduction_tie_splits_evenly_among_tied_elements():
    x = cr.tensor([[3.0, 1.0, 3.0, 3.0], [0.0, 2.0, 2.0, -1.0]], requires_grad=True)
    cr.max(x, axis=1).backward(np.array([3.0, 1.0]))
    np.testing.assert_allclose(x.grad.data, [[1.0, 0.0, 1.0, 1.0], [0.0, 0.5, 0.5, 0.0]])
    x.grad = None
    cr.max(x).backward()
    np.testing.assert_allclose(x.grad.data, [[1 / 3, 0, 1 / 3, 1 / 3], [0, 0, 0, 0]])


@pytest.mark.parametrize("name", ["relu", "abs"])
@FEW
@given(
    x=arrays(shapes(), st.sampled_from([-2.0, -0.5, 0.0, 0.0, 0.5, 2.0])),
    dtype=DTYPES,
)
def test_relu_and_abs_have_derivative_zero_at_zero(name, x, dtype):
    x = x.astype(dtype)
    t = cr.tensor(x, requires_grad=True)
    getattr(cr, name)(t).sum().backward()
    expected = (x > 0).astype(dtype) if name == "relu" else np.sign(x)
    assert t.grad.dtype == dtype
    np.testing.assert_array_equal(t.grad.data, expected)


def test_clip_at_the_bounds_passes_the_gradient_to_x():
    x = cr.tensor([-1.0, -0.5, 0.0, 1.0, 2.0], requires_grad=True)
    lo = cr.tensor(-1.0, requires_grad=True)
    hi = cr.tensor(1.0, requires_grad=True)
    cr.clip(x, lo, hi).backward(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(x.grad.data, [1.0, 2.0, 3.0, 4.0, 0.0])
    assert lo.grad.item() == 0.0
    assert hi.grad.item() == 5.0


# ================================================================ matmul
@st.composite
def matmul_shapes(draw):
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    a_vec, b_vec = draw(st.booleans()), draw(st.booleans())
    batch = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3)
    )
    a_batch, b_batch = batch.input_shapes
    if draw(st.booleans()):  # plain matrices and vectors half of the time
        a_batch, b_batch = (), ()
    a = (k,) if a_vec else a_batch + (m, k)
    b = (k,) if b_vec else b_batch + (k, n)
    return a, b


@SOME
@given(
    data=st.data(),
    ab=matmul_shapes(),
    dtypes=st.tuples(DTYPES, DTYPES),
    via=st.sampled_from(["operator", "function", "method", "numpy"]),
    seed=SEEDS,
)
def test_matmul(data, ab, dtypes, via, seed):
    a = data.draw(arrays(ab[0], uniform(-2, 2), dtypes[0]), label="a")
    b = data.draw(arrays(ab[1], uniform(-2, 2), dtypes[1]), label="b")
    fn = {
        "operator": operator.matmul,
        "function": cr.matmul,
        "method": lambda x, y: x.matmul(y),
        "numpy": np.matmul,
    }[via]
    check_op(fn, np.matmul, [a, b], seed=seed)


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [
        ((3,), (3,)),
        ((3,), (3, 2)),
        ((2, 3), (3,)),
        ((2, 3), (3, 4)),
        ((2, 1, 2, 3), (5, 3, 2)),
        ((3,), (2, 3, 4)),
        ((2, 4, 3), (3,)),
        ((1, 3), (3, 1)),
        ((4, 2, 3), (3, 5)),  # a stack times one matrix: one folded GEMM
        ((2, 3, 4, 3), (3, 2)),
        ((2, 3, 0), (0, 4)),  # an empty contraction: zero products, zero gradients
        ((0, 3, 2), (2, 4)),  # an empty stack
    ],
)
def test_matmul_each_kind_of_operand(a_shape, b_shape):
    rng = np.random.default_rng(0)
    for dtype in (F32, F64):
        a = rng.uniform(-2, 2, a_shape).astype(dtype)
        b = rng.uniform(-2, 2, b_shape).astype(dtype)
        check_op(operator.matmul, np.matmul, [a, b], seed=1)


@settings(SOME, max_examples=80)
@given(
    lead=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
    mkn=st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)),
    dtypes=st.sampled_from([(F32, F32), (F64, F64), (F32, F64), (np.int64, F32)]),
    layout=st.sampled_from(["contiguous", "transposed", "strided"]),
    into=st.sampled_from([None, "contiguous", "transposed"]),
    seed=SEEDS,
)
def test_stack_matmul_is_matmul(lead, mkn, dtypes, layout, into, seed):
    """A stack (..., m, k) times one matrix (k, n) as one GEMM over the folded stack:
    NumPy's product, its dtype and shape, for any layout of the stack, into out= too."""
    from chainrule.ops.linalg import stack_matmul

    m, k, n = mkn
    rng = np.random.default_rng(seed)
    a = (rng.uniform(-2, 2, (*lead, m, k)) * 4).astype(dtypes[0])
    if layout == "transposed" and a.ndim > 3:
        a = np.ascontiguousarray(np.swapaxes(a, 0, 1)).swapaxes(0, 1)
    elif layout == "strided":
        a = np.repeat(a, 2, axis=-1)[..., ::2]
    b = rng.uniform(-2, 2, (k, n)).astype(dtypes[1])
    want = np.matmul(a, b)
    if into:
        # out= as given, one whose stack axes cannot be folded too (a reshape of it
        # would be a copy, and the product would go there)
        out = np.full(want.shape, np.nan, dtype=want.dtype)
        if into == "transposed":
            out = np.full(want.swapaxes(0, -2).shape, np.nan, dtype=want.dtype).swapaxes(0, -2)
        assert stack_matmul(a, b, out) is out
        got = out
    else:
        got = stack_matmul(a, b)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5 if F32 in dtypes else 1e-12, atol=1e-5)


# ================================================================ shape primitives
@st.composite
def reshape_targets(draw, size):
    """A shape with ``size`` elements, maybe with one entry replaced by -1."""
    dims = []
    rest = size
    for _ in range(draw(st.integers(0, 3))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = draw(st.sampled_from(divisors))
        dims.append(d)
        rest //= d
    if rest != 1 or not dims or draw(st.booleans()):
        dims.append(rest)
    dims = draw(st.permutations(dims))
    if dims and draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return tuple(dims)


@SOME
@given(
    data=st.data(),
    shape=shapes(max_dims=3),
    dtype=DTYPES,
    via=st.sampled_from(["function", "method_tuple", "method_args", "numpy"]),
    seed=SEEDS,
)
def test_reshape(data, shape, dtype, via, seed):
    x = data.draw(arrays(shape, uniform(-3, 3), dtype), label="x")
    target = data.draw(reshape_targets(x.size), label="target")
    fn = {
        "function": lambda t: cr.reshape(t, target),
        "method_tuple": lambda t: t.reshape(target),
        "method_args": lambda t: t.reshape(*target),
        "numpy": lambda t: np.reshape(t, target),
    }[via]
    check_op(fn, lambda a: np.reshape(a, target), [x], seed=seed)


@FEW
@given(x=arrays(shapes(), uniform(-3, 3)), dtype=DTYPES, seed=SEEDS)
def test_flatten(x, dtype, seed):
    check_op(lambda t: t.flatten(), lambda a: a.reshape(-1), [x.astype(dtype)], seed=seed)


@SOME
@given(
    data=st.data(),
    shape=shapes(max_dims=4),
    dtype=DTYPES,
    via=st.sampled_from(["function", "method_tuple", "method_args", "numpy"]),
    seed=SEEDS,
)
def test_transpose_random_permutation(data, shape, dtype, via, seed):
    x = data.draw(arrays(shape, uniform(-3, 3), dtype), label="x")
    perm = tuple(data.draw(st.permutations(range(len(shape))), label="perm"))
    fn = {
        "function": lambda t: cr.transpose(t, perm),
        "method_tuple": lambda t: t.transpose(perm),
        "method_args": lambda t: t.transpose(*perm),
        "numpy": lambda t: np.transpose(t, perm),
    }[via]
    if via == "method_args" and len(perm) == 2:
        # t.transpose(d0, d1) is PyTorch's swap (tests/test_torch_methods.py): on a
        # matrix (0, 1) transposes, where NumPy's permutation (0, 1) would not.
        check_op(fn, lambda a: np.swapaxes(a, *perm), [x], seed=seed)
        return
    check_op(fn, lambda a: np.transpose(a, perm), [x], seed=seed)


@SOME
@given(data=st.data(), shape=shapes(min_dims=1, max_dims=4), dtype=DTYPES, seed=SEEDS)
def test_transpose_with_negative_axes(data, shape, dtype, seed):
    # NumPy accepts negative entries in a permutation: (-1, 0) on a matrix is x.T.
    x = data.draw(arrays(shape, uniform(-3, 3), dtype), label="x")
    ndim = len(shape)
    perm = data.draw(st.permutations(range(ndim)), label="perm")
    flips = data.draw(st.lists(st.booleans(), min_size=ndim, max_size=ndim), label="flips")
    axes = tuple(a - ndim if f else a for a, f in zip(perm, flips))
    check_op(lambda t: cr.transpose(t, axes), lambda a: np.transpose(a, axes), [x], seed=seed)


def test_transpose_with_negative_axes_on_a_matrix():
    # (-1, 0) is the matrix transpose; its gradient must be the upstream transposed back.
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = cr.transpose(x, (-1, 0))
    np.testing.assert_array_equal(y.data, x.data.T)
    g = np.arange(6.0).reshape(3, 2)
    y.backward(g)
    np.testing.assert_array_equal(x.grad.data, g.T)


@FEW
@given(
    x=arrays(shapes(max_dims=4), uniform(-3, 3)),
    dtype=DTYPES,
    via=st.sampled_from(["T", "transpose()", "function"]),
    seed=SEEDS,
)
def test_transpose_reverse_and_T(x, dtype, via, seed):
    fn = {"T": lambda t: t.T, "transpose()": lambda t: t.transpose(), "function": cr.transpose}[via]
    check_op(fn, lambda a: a.T, [x.astype(dtype)], seed=seed)


@FEW
@given(data=st.data(), shape=shapes(min_dims=1, max_dims=4), dtype=DTYPES, seed=SEEDS)
def test_swapaxes(data, shape, dtype, seed):
    x = data.draw(arrays(shape, uniform(-3, 3), dtype), label="x")
    nd = len(shape)
    a1 = data.draw(st.integers(-nd, nd - 1), label="axis1")
    a2 = data.draw(st.integers(-nd, nd - 1), label="axis2")
    check_op(lambda t: t.swapaxes(a1, a2), lambda a: np.swapaxes(a, a1, a2), [x], seed=seed)


@SOME
@given(
    data=st.data(),
    shape=shapes(max_dims=3),
    dtype=DTYPES,
    via=st.sampled_from(["function", "method", "numpy"]),
    seed=SEEDS,
)
def test_expand_dims(data, shape, dtype, via, seed):
    x = data.draw(arrays(shape, uniform(-3, 3), dtype), label="x")
    nd = len(shape)
    if data.draw(st.booleans(), label="int axis"):
        axis = data.draw(st.integers(-(nd + 1), nd), label="axis")
    else:
        out_nd = nd + data.draw(st.integers(1, 2), label="new axes")
        axes = data.draw(hnp.valid_tuple_axes(out_nd, min_size=out_nd - nd, max_size=out_nd - nd))
        flips = data.draw(st.lists(st.booleans(), min_size=len(axes), max_size=len(axes)))
        axis = tuple(a % out_nd - out_nd if f else a % out_nd for a, f in zip(axes, flips))
    fn = {
        "function": lambda t: cr.expand_dims(t, axis),
        "method": lambda t: t.expand_dims(axis),
        "numpy": lambda t: np.expand_dims(t, axis),
    }[via]
    check_op(fn, lambda a: np.expand_dims(a, axis), [x], seed=seed)


@SOME
@given(
    data=st.data(),
    shape=shapes(max_dims=4, max_side=2),
    dtype=DTYPES,
    via=st.sampled_from(["function", "method", "numpy"]),
    seed=SEEDS,
)
def test_squeeze(data, shape, dtype, via, seed):
    x = data.draw(arrays(shape, uniform(-3, 3), dtype), label="x")
    nd = len(shape)
    ones = [a for a, n in enumerate(shape) if n == 1]
    choice = data.draw(st.sampled_from(["none", "int", "tuple"] if ones else ["none", "tuple"]))
    if choice == "none":
        axis = None
    elif choice == "int":
        a = data.draw(st.sampled_from(ones))
        axis = a - nd if data.draw(st.booleans()) else a
    else:
        subset = data.draw(st.lists(st.sampled_from(ones), unique=True)) if ones else []
        flips = data.draw(st.lists(st.booleans(), min_size=len(subset), max_size=len(subset)))
        axis = tuple(a - nd if f else a for a, f in zip(subset, flips))
    fn = {
        "function": lambda t: cr.squeeze(t, axis),
        "method": lambda t: t.squeeze(axis),
        "numpy": lambda t: np.squeeze(t, axis),
    }[via]
    check_op(fn, lambda a: np.squeeze(a, axis), [x], seed=seed)


@st.composite
def broadcast_pairs(draw):
    """(shape, target): ``shape`` broadcasts to exactly ``target``."""
    target = draw(shapes(max_dims=4))
    keep = draw(st.integers(0, len(target)))
    tail = target[len(target) - keep :]
    shape = tuple(1 if draw(st.booleans()) else n for n in tail)
    return shape, target


@SOME
@given(
    data=st.data(),
    pair=broadcast_pairs(),
    dtype=DTYPES,
    via=st.sampled_from(["function", "method", "numpy"]),
    seed=SEEDS,
)
def test_broadcast_to(data, pair, dtype, via, seed):
    shape, target = pair
    x = data.draw(arrays(shape, uniform(-3, 3), dtype), label="x")
    fn = {
        "function": lambda t: cr.broadcast_to(t, target),
        "method": lambda t: t.broadcast_to(target),
        "numpy": lambda t: np.broadcast_to(t, target),
    }[via]
    check_op(fn, lambda a: np.broadcast_to(a, target), [x], seed=seed)


@SOME
@given(
    data=st.data(),
    base=shapes(min_dims=1, max_dims=3),
    count=st.integers(1, 4),
    via=st.sampled_from(["function", "numpy"]),
    seed=SEEDS,
)
def test_concatenate(data, base, count, via, seed):
    nd = len(base)
    axis = data.draw(st.integers(-nd, nd - 1), label="axis")
    xs = []
    for i in range(count):
        shape = list(base)
        shape[axis] = data.draw(st.integers(1, 3), label=f"length {i}")
        xs.append(data.draw(arrays(tuple(shape), uniform(-3, 3), data.draw(DTYPES)), label=f"x{i}"))
    fn = cr.concatenate if via == "function" else np.concatenate
    check_op(
        lambda *ts: fn(list(ts), axis=axis), lambda *a: np.concatenate(a, axis=axis), xs, seed=seed
    )


@SOME
@given(
    data=st.data(),
    shape=shapes(max_dims=3),
    count=st.integers(1, 4),
    via=st.sampled_from(["function", "numpy"]),
    seed=SEEDS,
)
def test_stack(data, shape, count, via, seed):
    nd = len(shape)
    axis = data.draw(st.integers(-(nd + 1), nd), label="axis")
    xs = [
        data.draw(arrays(shape, uniform(-3, 3), data.draw(DTYPES)), label=f"x{i}")
        for i in range(count)
    ]
    fn = cr.stack if via == "function" else np.stack
    check_op(lambda *ts: fn(list(ts), axis=axis), lambda *a: np.stack(a, axis=axis), xs, seed=seed)


def test_concatenate_and_stack_mixed_dtypes_keep_each_gradient_dtype():
    a = np.array([1.0, 2.0], dtype=np.float32)
    b = np.array([3.0, 4.0], dtype=np.float64)
    check_op(lambda *t: cr.concatenate(t), lambda *x: np.concatenate(x), [a, b], seed=2)
    check_op(lambda *t: cr.stack(t, axis=1), lambda *x: np.stack(x, axis=1), [a, b], seed=3)


# ---- getitem
@SOME
@given(data=st.data(), shape=shapes(max_dims=3, max_side=4), dtype=DTYPES, seed=SEEDS)
def test_getitem_basic(data, shape, dtype, seed):
    x = data.draw(arrays(shape, uniform(-3, 3), dtype), label="x")
    index = data.draw(
        hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True), label="index"
    )
    check_op(lambda t: t[index], lambda a: a[index], [x], seed=seed)


@st.composite
def integer_array_index(draw, shape):
    """An index with integer arrays (repeated entries likely), maybe mixed with slices."""

    def ints(n, size):
        return np.array(draw(st.lists(st.integers(-n, n - 1), min_size=size, max_size=size)))

    size = draw(st.integers(1, 6))
    forms = ["array", "list", "2d_array", "array_int"]
    if len(shape) >= 2:
        forms += ["slice_array", "array_array"]
    form = draw(st.sampled_from(forms))
    if form == "array":
        return ints(shape[0], size)
    if form == "list":
        return ints(shape[0], size).tolist()
    if form == "2d_array":
        return ints(shape[0], size * 2).reshape(2, size)
    if form == "array_int":
        rest = tuple(draw(st.integers(-n, n - 1)) for n in shape[1:])
        return (ints(shape[0], size),) + rest
    if form == "slice_array":
        return (slice(None), ints(shape[1], size))
    return (ints(shape[0], size), ints(shape[1], size))


@SOME
@given(data=st.data(), shape=shapes(min_dims=1, max_dims=3), dtype=DTYPES, seed=SEEDS)
def test_getitem_integer_arrays_with_repeats(data, shape, dtype, seed):
    x = data.draw(arrays(shape, uniform(-3, 3), dtype), label="x")
    index = data.draw(integer_array_index(shape), label="index")
    check_op(lambda t: t[index], lambda a: a[index], [x], seed=seed)
    check_op(lambda t: cr.getitem(t, index), lambda a: a[index], [x], seed=seed)


def test_getitem_repeated_index_accumulates():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[np.array([0, 2, 0, 0, -1])].backward(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(x.grad.data, [8.0, 0.0, 7.0])


@SOME
@given(
    data=st.data(),
    shape=shapes(min_dims=1, max_dims=3),
    dtype=DTYPES,
    mask_as_tensor=st.booleans(),
    seed=SEEDS,
)
def test_getitem_boolean_mask(data, shape, dtype, mask_as_tensor, seed):
    x = data.draw(arrays(shape, uniform(-3, 3), dtype), label="x")
    lead = data.draw(st.integers(1, len(shape)), label="mask dims")
    mask = data.draw(hnp.arrays(np.bool_, shape[:lead]), label="mask")
    index = cr.tensor(mask) if mask_as_tensor else mask
    check_op(lambda t: t[index], lambda a: a[mask], [x], seed=seed)


# ================================================================ second derivatives
SECOND = {
    # name: (function, analytic first derivative in NumPy, element strategy)
    "exp": (cr.exp, np.exp, uniform(-2, 2)),
    "log": (cr.log, lambda x: 1 / x, uniform(0.3, 4)),
    "sqrt": (cr.sqrt, lambda x: 0.5 / np.sqrt(x), uniform(0.3, 4)),
    "sin": (cr.sin, np.cos, uniform(-4, 4)),
    "cos": (cr.cos, lambda x: -np.sin(x), uniform(-4, 4)),
    "tanh": (cr.tanh, lambda x: 1 - np.tanh(x) ** 2, uniform(-2, 2)),
    "sigmoid": (cr.sigmoid, lambda x: np_sigmoid(x) * (1 - np_sigmoid(x)), uniform(-4, 4)),
    "cube": (lambda t: t**3, lambda x: 3 * x**2, uniform(-2, 2)),
    "reciprocal": (lambda t: 1 / t, lambda x: -1 / x**2, signed(0.5, 2)),
    "rpow": (lambda t: 2.0**t, lambda x: 2.0**x * np.log(2.0), uniform(-2, 2)),
}


@pytest.mark.parametrize("name", sorted(SECOND))
@FEW
@given(data=st.data(), dtype=DTYPES, seed=SEEDS)
def test_second_derivative_elementwise(name, data, dtype, seed):
    fn, d1, elements = SECOND[name]
    x = data.draw(arrays(shapes(max_dims=2), elements, dtype), label="x")
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(x.shape).astype(dtype)
    v = rng.standard_normal(x.shape).astype(dtype)
    t = cr.tensor(x, requires_grad=True)
    (g1,) = cr.autograd.grad(fn(t), t, grad_outputs=u, create_graph=True)
    assert g1.requires_grad and g1.dtype == dtype and g1.shape == x.shape
    (g2,) = cr.autograd.grad(g1, t, grad_outputs=v)
    assert g2.dtype == dtype and g2.shape == x.shape

    x64, u64, v64 = x.astype(F64), u.astype(F64), v.astype(F64)
    # The elementwise second derivative: FD of the analytic first derivative.
    d2 = (d1(x64 + 1e-5) - d1(x64 - 1e-5)) / 2e-5
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == F64 else {"rtol": 2e-4, "atol": 2e-4}
    np.testing.assert_allclose(g1.data, u64 * d1(x64), **tol, err_msg="first derivative")
    np.testing.assert_allclose(g2.data, v64 * u64 * d2, **tol, err_msg="second derivative")


BINARY_SECOND = {
    # name: (function, (df/dx, df/dy) in NumPy, x elements, y elements)
    "mul": (operator.mul, (lambda x, y: y, lambda x, y: x), uniform(-2, 2), uniform(-2, 2)),
    "div": (
        operator.truediv,
        (lambda x, y: 1 / y, lambda x, y: -x / y**2),
        uniform(-2, 2),
        signed(0.5, 2),
    ),
    "pow": (
        operator.pow,
        (lambda x, y: y * x ** (y - 1), lambda x, y: x**y * np.log(x)),
        uniform(0.3, 2.5),
        uniform(-2, 2),
    ),
}


@pytest.mark.parametrize("name", sorted(BINARY_SECOND))
@FEW
@given(data=st.data(), shape=shapes(max_dims=2), dtype=DTYPES, seed=SEEDS)
def test_second_derivative_binary(name, data, shape, dtype, seed):
    fn, (fx, fy), x_el, y_el = BINARY_SECOND[name]
    x = data.draw(arrays(shape, x_el, dtype), label="x")
    y = data.draw(arrays(shape, y_el, dtype), label="y")
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(shape).astype(dtype)
    v = rng.standard_normal(shape).astype(dtype)
    tx, ty = cr.tensor(x, requires_grad=True), cr.tensor(y, requires_grad=True)
    gx, gy = cr.autograd.grad(fn(tx, ty), (tx, ty), grad_outputs=u, create_graph=True)

    x64, y64, u64, v64 = (a.astype(F64) for a in (x, y, u, v))
    h = 1e-5
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == F64 else {"rtol": 5e-4, "atol": 5e-4}
    for g1, d1 in ((gx, fx), (gy, fy)):
        np.testing.assert_allclose(g1.data, u64 * d1(x64, y64), **tol)
        g2x, g2y = cr.autograd.grad(g1, (tx, ty), grad_outputs=v, materialize_grads=True)
        d1x = (d1(x64 + h, y64) - d1(x64 - h, y64)) / (2 * h)
        d1y = (d1(x64, y64 + h) - d1(x64, y64 - h)) / (2 * h)
        assert g2x.dtype == dtype and g2y.dtype == dtype
        np.testing.assert_allclose(g2x.data, v64 * u64 * d1x, **tol)
        np.testing.assert_allclose(g2y.data, v64 * u64 * d1y, **tol)


def test_pow_mixed_second_derivative_at_zero_exponent():
    # d/dx x^y = y x^(y-1); its derivative in y is x^(y-1) (1 + y log x): 1/x at y = 0.
    for y0 in (0.0, 1e-9):
        x = cr.tensor(2.0, requires_grad=True)
        y = cr.tensor(y0, requires_grad=True)
        (gx,) = cr.autograd.grad(x**y, x, create_graph=True)
        (gxy,) = cr.autograd.grad(gx, y)
        assert gxy.item() == pytest.approx(2.0 ** (y0 - 1) * (1 + y0 * np.log(2.0)))


# ================================================================ numerical stability
@pytest.mark.parametrize("name", ["logsumexp", "softmax", "log_softmax"])
@FEW
@given(
    data=st.data(),
    shape=shapes(min_dims=1, max_dims=3),
    dtype=DTYPES,
    centres=st.sampled_from([(1000.0,), (-1000.0,), (-1000.0, 1000.0)]),
    seed=SEEDS,
)
def test_stable_at_large_magnitude(name, data, shape, dtype, centres, seed):
    elements = st.builds(operator.add, st.sampled_from(centres), uniform(-5, 5))
    x = data.draw(arrays(shape, elements, dtype), label="x")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    t = cr.tensor(x, requires_grad=True)
    out = getattr(cr, name)(t, axis=axis)
    x64 = x.astype(F64)
    ref = {
        "logsumexp": lambda a: np_logsumexp(a, axis=axis),
        "softmax": lambda a: np_softmax(a, axis=axis),
        "log_softmax": lambda a: np_log_softmax(a, axis=axis),
    }[name](x64)
    assert out.dtype == dtype and out.shape == ref.shape
    assert np.all(np.isfinite(out.data))
    fwd_tol = {"rtol": 1e-12, "atol": 1e-9} if dtype == F64 else {"rtol": 1e-6, "atol": 2e-4}
    np.testing.assert_allclose(out.data, ref, **fwd_tol)

    g = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    out.backward(g)
    assert t.grad.dtype == dtype and t.grad.shape == x.shape
    assert np.all(np.isfinite(t.grad.data))
    g64 = g.astype(F64)
    s = np_softmax(x64, axis=axis)
    expected = {
        "logsumexp": lambda: np.expand_dims(g64, axis) * s,
        "softmax": lambda: s * (g64 - np.sum(g64 * s, axis=axis, keepdims=True)),
        "log_softmax": lambda: g64 - s * np.sum(g64, axis=axis, keepdims=True),
    }[name]()
    tol = {"rtol": 1e-9, "atol": 1e-9} if dtype == F64 else {"rtol": 2e-4, "atol": 2e-4}
    np.testing.assert_allclose(t.grad.data, expected, **tol)


def test_stable_formulas_at_1000_exactly():
    x = cr.tensor([1000.0, 1000.0, -1000.0], dtype="float64", requires_grad=True)
    lse = cr.logsumexp(x)
    assert lse.item() == pytest.approx(1000.0 + np.log(2.0), abs=1e-12)
    lse.backward()
    np.testing.assert_allclose(x.grad.data, [0.5, 0.5, 0.0], atol=1e-15)
    np.testing.assert_allclose(cr.softmax(x.detach()).data, [0.5, 0.5, 0.0], atol=1e-15)
    np.testing.assert_allclose(cr.log_softmax(x.detach()).data[:2], [-np.log(2.0)] * 2)
    assert cr.log_softmax(x.detach()).data[2] == pytest.approx(-2000.0 - np.log(2.0))


# ================================================================ a sanity check of the FD
def test_finite_difference_helper_is_right():
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    up = np.array([[1.0, 2.0], [-1.0, 0.5]])
    fd = finite_difference(lambda a: a**3, [x], 0, up)
    np.testing.assert_allclose(fd, up * 3 * x**2, rtol=1e-8)
    # A full Jacobian, one column per upstream basis vector.
    for i, j in itertools.product(range(2), range(2)):
        e = np.zeros((2, 2))
        e[i, j] = 1.0
        col = finite_difference(lambda a: a @ a, [x], 0, e)
        np.testing.assert_allclose(col, e @ x.T + x.T @ e, rtol=1e-7, atol=1e-9)
