"""vmap, property-based: for each primitive (through the public functions that reach
it), over random example shapes, batch sizes, batch axes (0, 1, -1 and None mixed
across arguments) and dtypes (float32, float64):

- ``vmap(f)(xs)`` equals ``stack([f(x) for x in xs])``;
- ``vmap(grad(g))`` equals the loop of per-example gradients (``g`` a scalar of f);
- ``vmap(jvp)`` equals the loop of per-example JVPs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.nn.functional as F
import chainrule.numpy as cnp
import chainrule.scipy.special as csp

FEW = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TOL = {np.float32: {"rtol": 2e-4, "atol": 2e-5}, np.float64: {"rtol": 1e-9, "atol": 1e-11}}


def _np(v):
    return v.numpy() if isinstance(v, cr.Tensor) else np.asarray(v)


def _physical(ex, axis):
    """Examples ``ex`` (batch first) with the batch moved to ``axis``; None: shared."""
    return ex[0] if axis is None else np.moveaxis(ex, 0, axis)


def _example(ex, axis, b):
    return ex[0] if axis is None else ex[b]


def check_vmap(f, examples, axes, dtype, grad=True, jvp=True):
    """Compare vmap(f), vmap(grad(.)) and vmap(jvp) with loops over the examples."""
    size = examples[0].shape[0]
    tol = TOL[np.dtype(dtype).type]
    phys = [_physical(e, a) for e, a in zip(examples, axes)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no loop fallback for built-ins
        got = cr.vmap(f, in_axes=tuple(axes))(*phys)
    ref = np.stack(
        [_np(f(*[_example(e, a, b) for e, a in zip(examples, axes)])) for b in range(size)]
    )
    assert got.dtype == ref.dtype
    np.testing.assert_allclose(got, ref, **tol)
    floats = [k for k, e in enumerate(examples) if e.dtype.kind == "f"]
    if grad and floats:

        def g(*a):
            return cr.sum(cr.sin(f(*a)))

        nums = tuple(floats)
        got = cr.vmap(cr.grad(g, nums), in_axes=tuple(axes))(*phys)
        for b in range(size):
            one = cr.grad(g, nums)(*[_example(e, a, b) for e, a in zip(examples, axes)])
            for k in range(len(nums)):
                np.testing.assert_allclose(got[k][b], one[k], **tol)
    if jvp and floats:
        n = len(examples)
        rng = np.random.default_rng(1)
        tangents = [rng.standard_normal(examples[k].shape).astype(dtype) for k in floats]

        def push(*at):
            primals = list(at[:n])

            def h(*fl):
                args = list(primals)
                for k, v in zip(floats, fl):
                    args[k] = v
                return f(*args)

            return cr.jvp(h, [primals[k] for k in floats], list(at[n:]))[1]

        t_axes = [axes[k] for k in floats]
        t_phys = [_physical(t, a) for t, a in zip(tangents, t_axes)]
        got = cr.vmap(push, in_axes=tuple(axes) + tuple(t_axes))(*phys, *t_phys)
        for b in range(size):
            one = push(
                *[_example(e, a, b) for e, a in zip(examples, axes)],
                *[_example(t, a, b) for t, a in zip(tangents, t_axes)],
            )
            np.testing.assert_allclose(got[b], _np(one), **tol)


# ---------------------------------------------------------------- strategies
DTYPES = st.sampled_from([np.float32, np.float64])


@st.composite
def axes_for(draw, ndims):
    """A batch axis per argument (0, 1, -1 or None), at least one batched."""
    axes = []
    for n in ndims:
        choices = [0, -1, None] + ([1] if n >= 1 else [])
        axes.append(draw(st.sampled_from(choices)))
    if all(a is None for a in axes):
        axes[draw(st.integers(0, len(ndims) - 1))] = 0
    return axes


def examples_of(draw, shapes, dtype, low=-2.0, high=2.0):
    size = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, (size, *s)).astype(dtype) for s in shapes]


SHAPE = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)

UNARY = {
    "exp": cr.exp,
    "log": lambda x: cr.log(cr.abs(x) + 1),
    "sqrt": lambda x: cr.sqrt(x * x + 1),
    "sin": cr.sin,
    "tanh": cr.tanh,
    "sigmoid": cr.sigmoid,
    "relu": cr.relu,
    "neg": lambda x: -x,
    "arctan": cnp.arctan,
    "log1p": lambda x: cnp.log1p(x * x),
    "cosh": cnp.cosh,
    "square": cnp.square,
    "erf": csp.erf,
    "gammaln": lambda x: csp.gammaln(x * x + 1),
    "softplus": F.softplus,
    "astype": lambda x: cr.astype(x, np.float64) * 2,
    "clip": lambda x: cr.clip(x, -0.5, 0.7),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@FEW
@given(data=st.data(), dtype=DTYPES)
def test_unary(name, data, dtype):
    shape = data.draw(SHAPE)
    ex = examples_of(data.draw, [shape], dtype)
    check_vmap(UNARY[name], ex, data.draw(axes_for([len(shape)])), dtype)


BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / (y * y + 1),
    "pow": lambda x, y: (x * x + 1) ** y,
    "maximum": cr.maximum,
    "minimum": cr.minimum,
    "arctan2": cnp.arctan2,
    "hypot": lambda x, y: cnp.hypot(x, y + 3),
    "logaddexp": cnp.logaddexp,
    "where": lambda x, y: cr.where(x > y, x, y * 2),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@FEW
@given(data=st.data(), dtype=DTYPES)
def test_binary_broadcasting(name, data, dtype):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    ex = examples_of(data.draw, shapes.input_shapes, dtype)
    check_vmap(BINARY[name], ex, data.draw(axes_for([len(s) for s in shapes.input_shapes])), dtype)


def _axis_of(data, shape):
    return data.draw(st.integers(-len(shape), len(shape) - 1))


REDUCE = {
    "sum": lambda x, ax: cr.sum(x, axis=ax),
    "sum_all": lambda x, ax: cr.sum(x),
    "mean": lambda x, ax: cr.mean(x, axis=ax, keepdims=True),
    "prod": lambda x, ax: cr.prod(x, axis=ax),
    "max": lambda x, ax: cr.max(x, axis=ax),
    "min_all": lambda x, ax: cnp.min(x),
    "logsumexp": lambda x, ax: cr.logsumexp(x, axis=ax),
    "std": lambda x, ax: cnp.std(x, axis=ax) + cnp.std(x),
    "norm": lambda x, ax: cnp.linalg.norm(x + 3, axis=ax),
    "cumsum": lambda x, ax: cnp.cumsum(x, axis=ax),
    "cumprod": lambda x, ax: cnp.cumprod(x, axis=ax),
    "softmax": lambda x, ax: cr.softmax(x, axis=ax),
    "log_softmax": lambda x, ax: cr.log_softmax(x, axis=ax),
}


@pytest.mark.parametrize("name", sorted(REDUCE))
@FEW
@given(data=st.data(), dtype=DTYPES)
def test_reductions(name, data, dtype):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    ax = _axis_of(data, shape)
    ex = examples_of(data.draw, [shape], dtype)
    check_vmap(lambda x: REDUCE[name](x, ax), ex, data.draw(axes_for([len(shape)])), dtype)


SHAPE_OPS = {
    "reshape": lambda x: x.reshape(-1),
    "transpose": lambda x: x.transpose(),
    "swapaxes": lambda x: cr.swapaxes(x, 0, -1),
    "expand_dims": lambda x: cr.expand_dims(x, -1) * 2,
    "squeeze": lambda x: cnp.squeeze(cr.expand_dims(x, 0)),
    "broadcast_to": lambda x: cr.broadcast_to(x, (2, *x.shape)),
    "concatenate": lambda x: cr.concatenate([x, x * 2], axis=-1),
    "stack": lambda x: cr.stack([x, -x], axis=1),
    "getitem_slice": lambda x: x[..., ::-1][0:1],
    "getitem_array": lambda x: x[np.array([0, 0, -1])],
    "getitem_apart": lambda x: x[np.array([0, -1]), ..., np.array([-1, 0])] if x.ndim >= 2 else x,
    "getitem_int": lambda x: x[-1],
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
@FEW
@given(data=st.data(), dtype=DTYPES)
def test_shape_ops(name, data, dtype):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    ex = examples_of(data.draw, [shape], dtype)
    check_vmap(SHAPE_OPS[name], ex, data.draw(axes_for([len(shape)])), dtype)


@FEW
@given(
    data=st.data(),
    dtype=DTYPES,
    pair=st.sampled_from([(1, 1), (1, 2), (2, 1), (2, 2), (3, 2), (2, 3), (3, 3)]),
)
def test_matmul(data, dtype, pair):
    m, k, n, s = (data.draw(st.integers(1, 3)) for _ in range(4))
    shapes = {1: [(k,), (k,)], 2: [(m, k), (k, n)], 3: [(s, m, k), (s, k, n)]}
    a_shape = shapes[pair[0]][0]
    b_shape = shapes[pair[1]][1] if pair[1] > 1 else (k,)
    ex = examples_of(data.draw, [a_shape, b_shape], dtype)
    check_vmap(lambda a, b: a @ b, ex, data.draw(axes_for([len(a_shape), len(b_shape)])), dtype)


CONTRACT = {
    "einsum": lambda a, b: cnp.einsum("ij,jk->ik", a, b),
    "einsum_implicit": lambda a, b: cnp.einsum("ij,jk", a, b),
    "tensordot": lambda a, b: cnp.tensordot(a, b, axes=1),
    "linear": lambda a, b: F.linear(a, b.T, b[0]),
    "outer": lambda a, b: cnp.outer(a[0], b[:, 0]),
}


@pytest.mark.parametrize("name", sorted(CONTRACT))
@FEW
@given(data=st.data(), dtype=DTYPES)
def test_contractions(name, data, dtype):
    m, k = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    ex = examples_of(data.draw, [(m, k), (k, k)], dtype)
    check_vmap(CONTRACT[name], ex, data.draw(axes_for([2, 2])), dtype)


def _spd(a):
    return a @ cr.swapaxes(a, -1, -2) + 3 * cnp.eye(a.shape[-1])


LINALG = {
    "inv": lambda a, b: cnp.linalg.inv(_spd(a)),
    "det": lambda a, b: cnp.linalg.det(_spd(a)),
    "slogdet": lambda a, b: cnp.linalg.slogdet(_spd(a))[1],
    "solve_vector": lambda a, b: cnp.linalg.solve(_spd(a), b[:, 0]),
    "solve_matrix": lambda a, b: cnp.linalg.solve(_spd(a), b),
    "cholesky": lambda a, b: cnp.linalg.cholesky(_spd(a)),
    "eigh_values": lambda a, b: cnp.linalg.eigh(_spd(a))[0],
    "svd_values": lambda a, b: cnp.linalg.svd(_spd(a) + b @ b.T, compute_uv=False),
    "pinv": lambda a, b: cnp.linalg.pinv(_spd(a)),
}


@pytest.mark.parametrize("name", sorted(LINALG))
@FEW
@given(data=st.data(), dtype=st.just(np.float64))
def test_linalg_on_stacked_matrices(name, data, dtype):
    n = data.draw(st.integers(1, 3))
    ex = examples_of(data.draw, [(n, n), (n, n)], dtype, low=-1, high=1)
    check_vmap(LINALG[name], ex, data.draw(axes_for([2, 2])), dtype)


NN = {
    "conv2d": lambda x, w: F.conv2d(x[None], w, padding=1),
    "conv2d_stride": lambda x, w: F.conv2d(x[None], w, stride=2),
    "max_pool2d": lambda x, w: F.max_pool2d(x[None] * w[0, 0, 0, 0], 2),
    "avg_pool2d": lambda x, w: F.avg_pool2d(x[None] + w.sum(), 2),
    "cross_entropy": lambda x, w: F.cross_entropy(x.reshape(2, -1), np.array([0, 1])) * w.sum(),
    "log_softmax_rows": lambda x, w: F.log_softmax(x.reshape(2, -1), dim=-1) * w.mean(),
    "layer_norm": lambda x, w: F.layer_norm(x, x.shape[-2:]) * w.mean(),
}


@pytest.mark.parametrize("name", sorted(NN))
@FEW
@given(data=st.data(), dtype=DTYPES)
def test_network_ops(name, data, dtype):
    ex = examples_of(data.draw, [(2, 4, 4), (3, 2, 2, 2)], dtype)
    check_vmap(NN[name], ex, data.draw(axes_for([3, 4])), dtype)


def test_integer_and_boolean_operands_keep_their_kinds():
    x = np.arange(6).reshape(3, 2)
    np.testing.assert_array_equal(cr.vmap(lambda v: v * 2 + 1)(x), x * 2 + 1)
    np.testing.assert_array_equal(cr.vmap(lambda v: v > 2)(x), x > 2)
    got = cr.vmap(lambda v, f: v * f, in_axes=(0, None))(x, cr.tensor(np.float32(1.5)))
    assert got.dtype == np.float32  # an integer met with a float tensor takes its dtype
