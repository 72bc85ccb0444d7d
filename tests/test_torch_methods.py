"""PyTorch's Tensor methods and ``cr.`` functions (``dim=``, ``keepdim=``, ``view``,
``size()``, named tuples...) against torch==2.13.0 (CPU) in float64: values and the
gradients of ``(out * w).sum()``; finite differences for the indexing functions; the
places where NumPy's and PyTorch's meanings clash, each both ways.
"""

import copy
import math
import pickle

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule as cr

torch = pytest.importorskip("torch", reason="PyTorch (torch==2.13.0) is the oracle here")


# ------------------------------------------------------------------ helpers
def distinct(rng, shape):
    """Values far enough apart that max, sort and topk have no ties, none near 0."""
    n = int(np.prod(shape))
    v = (rng.permutation(n) + 1.0) * 0.37 * rng.choice([-1.0, 1.0], n) + rng.uniform(-0.1, 0.1, n)
    return v.reshape(shape)


def as_np(v):
    if isinstance(v, torch.Tensor):
        return v.detach().numpy()
    return np.asarray(getattr(v, "data", v))


def flat(out):
    """The tensors of a result (a tensor, a tuple or named tuple of them)."""
    return list(out) if isinstance(out, tuple) else [out]


def compare(fn, arrays, seed=0, tol=1e-9, grad=True):
    """``fn(m, *tensors)`` with m = chainrule and m = torch: equal values, and equal
    gradients of ``sum(out * w)`` over the floating outputs."""
    rng = np.random.default_rng(seed)
    cs = [cr.tensor(a, requires_grad=grad and a.dtype == np.float64) for a in arrays]
    ts = [torch.tensor(a, requires_grad=grad and a.dtype == np.float64) for a in arrays]
    oc, ot = flat(fn(cr, *cs)), flat(fn(torch, *ts))
    assert len(oc) == len(ot)
    loss_c, loss_t = 0.0, 0.0
    for c, t in zip(oc, ot):
        assert isinstance(c, cr.Tensor), type(c)
        a, b = as_np(c), as_np(t)
        assert a.shape == b.shape, (a.shape, b.shape)
        if b.dtype == np.bool_ or np.issubdtype(b.dtype, np.integer):
            np.testing.assert_array_equal(a, b)
            continue
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)
        if t.requires_grad:
            # (floor, round... are constants in chainrule, zero-gradient nodes in torch)
            w = rng.normal(size=b.shape)
            loss_c = loss_c + (c * w).sum() if c.requires_grad else loss_c
            loss_t = loss_t + (t * torch.tensor(w)).sum()
    if isinstance(loss_t, torch.Tensor):
        if isinstance(loss_c, cr.Tensor):
            loss_c.backward()
        loss_t.backward()
        for c, t in zip(cs, ts):
            if t.requires_grad:
                want = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
                got = np.zeros(t.shape) if c.grad is None else c.grad.data
                np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


# ------------------------------------------- (1) every dim= method, property style
shapes = st.lists(st.integers(1, 3), min_size=0, max_size=4).map(tuple)


@st.composite
def dims_for(draw, nd, tuples=True, none=True):
    """None, an int dim or a tuple of distinct dims, negative ones included."""
    n = max(nd, 1)
    kinds = (["none"] if none else []) + ["int"] + (["tuple"] if tuples and nd else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    flip = lambda d: d - n if draw(st.booleans()) else d  # noqa: E731
    if kind == "int":
        return flip(draw(st.integers(0, n - 1)))
    chosen = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
    return tuple(flip(d) for d in chosen)


def _kw(dim, keepdim):
    return {} if dim is None else {"dim": dim, "keepdim": keepdim}


# name: (call(m_or_tensor, x, dim, keepdim, via), tuples allowed, None allowed, input)
def _reduction(name):
    def call(m, x, dim, keepdim, via):
        f = getattr(x, name) if via == "method" else lambda **k: getattr(m, name)(x, **k)
        return f(**_kw(dim, keepdim))

    return call


def _values_only(name):
    def call(m, x, dim, keepdim, via):
        f = getattr(x, name) if via == "method" else lambda *a, **k: getattr(m, name)(x, *a, **k)
        return f() if dim is None else f(dim, keepdim)  # positional, as torch code writes it

    return call


def _along(name, **extra):
    def call(m, x, dim, keepdim, via):
        f = getattr(x, name) if via == "method" else lambda **k: getattr(m, name)(x, **k)
        return f(dim=dim, **extra)

    return call


DIM_METHODS = {
    "sum": (_reduction("sum"), True, True, "float"),
    "mean": (_reduction("mean"), True, True, "float"),
    "std": (_reduction("std"), True, True, "float"),
    "var": (_reduction("var"), True, True, "float"),
    "prod": (_reduction("prod"), False, True, "float"),
    "max": (_values_only("max"), False, True, "float"),
    "min": (_values_only("min"), False, True, "float"),
    "argmax": (_reduction("argmax"), False, True, "float"),
    "argmin": (_reduction("argmin"), False, True, "float"),
    "all": (_reduction("all"), True, True, "bool"),
    "any": (_reduction("any"), True, True, "bool"),
    "softmax": (_along("softmax"), False, False, "float"),
    "log_softmax": (_along("log_softmax"), False, False, "float"),
    "cumsum": (_along("cumsum"), False, False, "float"),
    "sort": (_along("sort"), False, False, "float"),
    "sort_descending": (_along("sort", descending=True), False, False, "float"),
    "unbind": (_along("unbind"), False, False, "float"),
    "unsqueeze": (
        lambda m, x, d, k, via: x.unsqueeze(d) if via == "method" else m.unsqueeze(x, d),
        False,
        False,
        "float",
    ),  # fmt: skip
    "squeeze": (
        lambda m, x, d, k, via: (x.squeeze if via == "method" else lambda *a: m.squeeze(x, *a))(
            *([] if d is None else [d])
        ),
        True,
        True,
        "float",
    ),  # fmt: skip
}
NORM_PS = [2, 1, math.inf, -math.inf, 3, 0.5, "fro"]


@pytest.mark.parametrize("name", sorted(DIM_METHODS))
@pytest.mark.filterwarnings("ignore:.*(degrees of freedom|invalid value|divide by zero)")
@settings(max_examples=20, deadline=None)
@given(data=st.data(), shape=shapes, via=st.sampled_from(["method", "function"]))
def test_dim_methods_match_torch(name, data, shape, via):
    call, tuples, none, kind = DIM_METHODS[name]
    nd = len(shape)
    if name == "unsqueeze":
        n = nd + 1
        dim = data.draw(st.integers(-n, n - 1), label="dim")
    else:
        dim = data.draw(dims_for(nd, tuples=tuples, none=none), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    x = distinct(np.random.default_rng(seed), shape)
    if kind == "bool":
        x = x > 0
    try:
        call(torch, torch.tensor(x), dim, keepdim, via)
    except (IndexError, RuntimeError):  # e.g. unbind of a 0-d tensor: ours must refuse too
        with pytest.raises(IndexError):
            call(cr, cr.tensor(x), dim, keepdim, via)
        return
    compare(lambda m, t: call(m, t, dim, keepdim, via), [x], seed=seed)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=shapes, p=st.sampled_from(NORM_PS))
def test_norm_matches_torch(data, shape, p):
    dim = data.draw(dims_for(len(shape)), label="dim")
    # torch refuses 'fro' over more than two dims; ours takes them as one vector (p = 2)
    assume(not (p == "fro" and isinstance(dim, tuple) and len(dim) > 2))
    keepdim = data.draw(st.booleans(), label="keepdim")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    x = distinct(np.random.default_rng(seed), shape)
    via = data.draw(st.sampled_from(["method", "function"]), label="via")
    if via == "method":
        compare(lambda m, t: t.norm(p, dim, keepdim), [x], seed=seed)
    else:
        compare(lambda m, t: m.norm(t, p=p, dim=dim, keepdim=keepdim), [x], seed=seed)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), shape=shapes.filter(len))
def test_topk_matches_torch(data, shape):
    dim = data.draw(dims_for(len(shape), tuples=False, none=False), label="dim")
    k = data.draw(st.integers(0, shape[dim]), label="k")
    largest = data.draw(st.booleans(), label="largest")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    x = distinct(np.random.default_rng(seed), shape)
    compare(lambda m, t: t.topk(k, dim, largest), [x], seed=seed)
    compare(lambda m, t: m.topk(t, k, dim=dim, largest=largest), [x], seed=seed)


SHAPE_OPS = ["chunk", "split_size", "split_sections", "index_select", "gather", "scatter_add",
             "cat", "stack", "transpose", "flatten", "masked_fill"]  # fmt: skip


@pytest.mark.parametrize("op", SHAPE_OPS)
@settings(max_examples=15, deadline=None)
@given(data=st.data(), shape=shapes.filter(len), via=st.sampled_from(["method", "function"]))
def test_dim_shape_and_indexing_match_torch(op, data, shape, via):
    nd = len(shape)
    draw = data.draw
    dim = draw(st.integers(-nd - (op == "stack"), nd - 1 + (op == "stack")), label="dim")
    seed = draw(st.integers(0, 2**16), label="seed")
    rng = np.random.default_rng(seed)
    x = distinct(rng, shape)
    n = shape[dim] if op != "stack" else 0
    arrays, fn = [x], None
    meth = via == "method"
    if op == "chunk":
        k = draw(st.integers(1, 4), label="chunks")
        fn = lambda m, t: t.chunk(k, dim) if meth else m.chunk(t, k, dim)  # noqa: E731
    elif op == "split_size":
        size = draw(st.integers(1, 3), label="size")
        fn = lambda m, t: t.split(size, dim) if meth else m.split(t, size, dim=dim)  # noqa: E731
    elif op == "split_sections":
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3), label="cuts"))
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, n])]
        fn = lambda m, t: t.split(sizes, dim) if meth else m.split(t, sizes, dim)  # noqa: E731
    elif op == "index_select":
        idx = rng.integers(0, n, size=draw(st.integers(1, 4), label="len"))
        fn = lambda m, t: (  # noqa: E731
            t.index_select(dim, m.tensor(idx)) if meth else m.index_select(t, dim, m.tensor(idx))
        )
    elif op in ("gather", "scatter_add"):
        d = dim % nd
        ishape = tuple(
            draw(st.integers(1, 3 if k == d and op == "gather" else s), label=f"len{k}")
            for k, s in enumerate(shape)
        )
        idx = rng.integers(0, n, size=ishape)
        if op == "gather":
            fn = lambda m, t: (  # noqa: E731
                t.gather(dim, m.tensor(idx)) if meth else m.gather(t, dim, m.tensor(idx))
            )
        else:
            arrays.append(rng.normal(size=ishape))
            fn = lambda m, t, s: (  # noqa: E731
                t.scatter_add(dim, m.tensor(idx), s)
                if meth
                else m.scatter_add(t, dim, m.tensor(idx), s)
            )
    elif op == "cat":
        other = list(shape)
        other[dim] = draw(st.integers(1, 3), label="other")
        arrays.append(distinct(rng, tuple(other)))
        fn = lambda m, t, u: m.cat([t, u], dim) if meth else m.cat((t, u), dim=dim)  # noqa: E731
    elif op == "stack":
        arrays.append(distinct(rng, shape))
        fn = lambda m, t, u: m.stack([t, u], dim)  # noqa: E731
    elif op == "transpose":
        d1 = draw(st.integers(-nd, nd - 1), label="dim1")
        fn = lambda m, t: t.transpose(dim, d1) if meth else m.transpose(t, dim, d1)  # noqa: E731
    elif op == "flatten":
        end = draw(st.integers(dim % nd, nd - 1), label="end")
        end = end - nd if draw(st.booleans(), label="negative end") else end
        fn = lambda m, t: t.flatten(dim, end) if meth else m.flatten(t, dim, end)  # noqa: E731
    elif op == "masked_fill":
        mshape = tuple(
            s if draw(st.booleans(), label=f"keep{k}") else 1 for k, s in enumerate(shape)
        )
        mask = rng.random(mshape) > 0.5
        fn = lambda m, t: (  # noqa: E731
            t.masked_fill(m.tensor(mask), 0.25) if meth else m.masked_fill(t, m.tensor(mask), 0.25)
        )
    compare(fn, arrays, seed=seed)


@pytest.mark.parametrize("name", ["sum", "mean", "softmax", "max", "cumsum", "norm", "unsqueeze"])
def test_a_dim_out_of_range_names_the_method_and_the_shape(name):
    t = cr.tensor(np.ones((2, 3)))
    with pytest.raises(IndexError, match=rf"{name}\(\): dim 5 is out of range.*\(2, 3\)"):
        getattr(t, name)(dim=5) if name != "unsqueeze" else t.unsqueeze(5)
    with pytest.raises(IndexError, match=r"dim -3"):
        getattr(cr, name)(t, dim=-3) if name not in ("norm", "unsqueeze") else t.size(-3)


def test_duplicate_dims_are_refused():
    with pytest.raises(ValueError, match="more than once"):
        cr.tensor(np.ones((2, 3))).sum(dim=(1, -1))


# ------------------------------------------- (2) shape and indexing methods vs torch
IDX = np.array([[0, 2, 1], [1, 1, 0]])
MASK = np.array([[True, False, True], [False, False, True]])

METHODS = {
    "view": (lambda m, a: a.view(3, -1), [(2, 3)]),
    "view_tuple": (lambda m, a: a.view((6,)), [(2, 3)]),
    "view_as": (lambda m, a, b: a.view_as(b), [(2, 3), (3, 2)]),
    "reshape": (lambda m, a: a.reshape(1, 6) * a.reshape((6,)), [(2, 3)]),
    "unsqueeze": (lambda m, a: a.unsqueeze(-1), [(2, 3)]),
    "squeeze_all": (lambda m, a: a.squeeze(), [(1, 3, 1)]),
    "squeeze_long_dim": (lambda m, a: a.squeeze(1), [(2, 3)]),
    "squeeze_tuple": (lambda m, a: a.squeeze((0, 1)), [(1, 3, 1)]),
    "flatten": (lambda m, a: a.flatten(), [(2, 3, 2)]),
    "flatten_range": (lambda m, a: a.flatten(1, 2), [(2, 3, 2, 2)]),
    "flatten_0d": (lambda m, a: a.flatten(), [()]),
    "permute": (lambda m, a: a.permute(2, 0, 1), [(2, 3, 4)]),
    "permute_tuple": (lambda m, a: a.permute((1, 0, 2)), [(2, 3, 4)]),
    "t": (lambda m, a: a.t(), [(2, 3)]),
    "t_vector": (lambda m, a: a.t(), [(3,)]),
    "transpose": (lambda m, a: a.transpose(0, 2), [(2, 3, 4)]),
    "transpose_2d": (lambda m, a: a.transpose(0, 1), [(2, 3)]),
    "transpose_neg": (lambda m, a: a.transpose(-1, -3), [(2, 3, 4)]),
    "expand": (lambda m, a: a.expand(2, 3, 4), [(3, 1)]),
    "expand_keep": (lambda m, a: a.expand(-1, 4), [(3, 1)]),
    "expand_as": (lambda m, a, b: a.expand_as(b), [(1, 3), (2, 3)]),
    "repeat": (lambda m, a: a.repeat(2, 3), [(2, 3)]),
    "repeat_more_dims": (lambda m, a: a.repeat(2, 1, 2), [(3,)]),
    "contiguous": (lambda m, a: a.contiguous() * 2, [(2, 3)]),
    "chunk": (lambda m, a: a.chunk(3, 1), [(2, 5)]),
    "chunk_fewer": (lambda m, a: a.chunk(4, dim=0), [(3, 2)]),
    "split_size": (lambda m, a: a.split(2, dim=1), [(2, 5)]),
    "split_sizes": (lambda m, a: a.split([1, 3, 1], 1), [(2, 5)]),
    "unbind": (lambda m, a: a.unbind(1), [(2, 3)]),
    "masked_fill": (lambda m, a: a.masked_fill(m.tensor(MASK), -1.5), [(2, 3)]),
    "masked_fill_broadcast": (lambda m, a: a.masked_fill(m.tensor(MASK[0]), 2.0), [(2, 3)]),
    "masked_fill_tensor": (lambda m, a, v: a.masked_fill(m.tensor(MASK), v), [(2, 3), ()]),
    "gather": (lambda m, a: a.gather(1, m.tensor(IDX)), [(2, 3)]),
    "gather_dim0": (lambda m, a: a.gather(0, m.tensor(IDX[:, :2])), [(3, 3)]),
    "scatter_add": (lambda m, a, s: a.scatter_add(1, m.tensor(IDX), s), [(2, 3), (2, 3)]),
    "scatter_add_smaller_index": (
        lambda m, a, s: a.scatter_add(0, m.tensor(IDX[:, :2]), s),
        [(3, 4), (2, 2)],
    ),
    "index_select": (lambda m, a: a.index_select(1, m.tensor([2, 0, 2])), [(2, 3)]),
    "add_alpha": (lambda m, a, b: a.add(b, alpha=2.5), [(2, 3), (3,)]),
    "sub_alpha": (lambda m, a, b: a.sub(b, alpha=-0.5), [(2, 3), (2, 3)]),
    "mul_div": (lambda m, a, b: a.mul(b).div(b + 10), [(2, 3), (2, 3)]),
    "div_floor": (lambda m, a, b: a.div(b, rounding_mode="floor"), [(2, 3), (2, 3)]),
    "div_trunc": (lambda m, a, b: a.div(b, rounding_mode="trunc"), [(2, 3), (2, 3)]),
    "pow": (lambda m, a: a.abs().pow(1.5), [(2, 3)]),
    "unary": (
        lambda m, a: a.abs().sqrt() + a.exp() + a.abs().log() + a.sin() + a.cos() + a.tanh(),
        [(2, 3)],
    ),
    "activations": (lambda m, a: a.sigmoid() + a.relu(), [(2, 3)]),
    "clamp": (lambda m, a: a.clamp(-1.0, 1.0) + a.clamp(min=0.5) + a.clamp(max=0.0), [(2, 3)]),
    "clip": (lambda m, a: a.clip(-1.0, 1.0), [(2, 3)]),
    "compare": (
        lambda m, a, b: (a.eq(b), a.ne(b), a.gt(b), a.lt(b), a.ge(b), a.le(b)),
        [(2, 3), (3,)],
    ),
    "rounding": (lambda m, a: a.sign() + a.floor() + a.ceil() + a.round(), [(2, 3)]),
    "round_decimals": (lambda m, a: a.round(decimals=1), [(2, 3)]),
    "log1p_expm1_square": (lambda m, a: a.abs().log1p() + a.expm1() + a.square(), [(2, 3)]),
    "maximum_minimum": (lambda m, a, b: a.maximum(b) + a.minimum(b), [(2, 3), (2, 3)]),
    "max_other": (lambda m, a, b: a.max(b) - a.min(b), [(2, 3), (3,)]),
    "mm": (lambda m, a, b: a.mm(b), [(2, 3), (3, 4)]),
    "bmm": (lambda m, a, b: a.bmm(b), [(2, 2, 3), (2, 3, 4)]),
    "matmul": (lambda m, a, b: a.matmul(b), [(2, 2, 3), (3,)]),
    "dot": (lambda m, a, b: a.dot(b), [(3,), (3,)]),
    "mT": (lambda m, a: a.mT, [(2, 3, 4)]),
    "sort_positional": (lambda m, a: a.sort(0, True), [(3, 2)]),
    "max_named": (lambda m, a: a.max(dim=1).values + a.min(1).indices, [(2, 3)]),
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_matches_torch(name):
    fn, shape_list = METHODS[name]
    rng = np.random.default_rng(len(name))
    compare(fn, [distinct(rng, s) for s in shape_list], seed=len(name))


FUNCTIONS = {
    "cat": (lambda m, a, b: m.cat([a, b], dim=1), [(2, 3), (2, 1)]),
    "cat_neg": (lambda m, a, b: m.cat((a, b), -2), [(2, 3), (1, 3)]),
    "concat": (lambda m, a, b: m.concat([a, b]), [(2, 3), (1, 3)]),
    "stack": (lambda m, a, b: m.stack([a, b], dim=2), [(2, 3), (2, 3)]),
    "stack_neg": (lambda m, a, b: m.stack((a, b), -1), [(2, 3), (2, 3)]),
    "where": (lambda m, a, b: m.where(a > 0, a, b), [(2, 3), (3,)]),
    "where_scalars": (lambda m, a: m.where(a > 0, a, 0.0) + m.where(a < 0, 1.5, a), [(2, 3)]),
    "where_one_arg": (lambda m, a: m.where(a > 0), [(2, 3)]),
    "clamp": (lambda m, a: m.clamp(a, -1, 1) + m.clamp(a, min=0.2), [(2, 3)]),
    "mm": (lambda m, a, b: m.mm(a, b), [(2, 3), (3, 4)]),
    "bmm": (lambda m, a, b: m.bmm(a, b), [(2, 2, 3), (2, 3, 4)]),
    "einsum": (lambda m, a, b: m.einsum("ij,jk->ik", a, b), [(2, 3), (3, 4)]),
    "einsum_list": (lambda m, a, b: m.einsum("bij,bjk->bik", [a, b]), [(2, 2, 3), (2, 3, 2)]),
    "flatten": (lambda m, a: m.flatten(a) + m.flatten(a, 1).sum(), [(2, 3, 2)]),
    "unsqueeze": (lambda m, a: m.unsqueeze(a, 1), [(2, 3)]),
    "squeeze": (lambda m, a: m.squeeze(a) * m.squeeze(a, 0).sum() * m.squeeze(a, 1), [(1, 3)]),
    "permute": (lambda m, a: m.permute(a, (2, 0, 1)), [(2, 3, 4)]),
    "transpose": (lambda m, a: m.transpose(a, 0, -1), [(2, 3, 4)]),
    "chunk": (lambda m, a: m.chunk(a, 2, -1), [(2, 5)]),
    "split": (lambda m, a: m.split(a, [2, 3], dim=1), [(2, 5)]),
    "gather": (lambda m, a: m.gather(a, 1, m.tensor(IDX)), [(2, 3)]),
    "scatter_add": (lambda m, a, s: m.scatter_add(a, 0, m.tensor(IDX), s), [(3, 3), (2, 3)]),
    "masked_fill": (lambda m, a: m.masked_fill(a, m.tensor(MASK), 0.0), [(2, 3)]),
    "index_select": (lambda m, a: m.index_select(a, 0, m.tensor([1, 1, 0])), [(2, 3)]),
    "argmax": (lambda m, a: (m.argmax(a), m.argmax(a, dim=1), m.argmax(a, 0, True)), [(2, 3)]),
    "argmin": (lambda m, a: (m.argmin(a), m.argmin(a, dim=-1, keepdim=True)), [(2, 3)]),
    "cumsum": (lambda m, a: m.cumsum(a, dim=0), [(2, 3)]),
    "std_var": (lambda m, a: m.std(a, dim=1) + m.var(a, 1, keepdim=True).sum(), [(2, 3)]),
    "std_unbiased_false": (lambda m, a: m.std(a, unbiased=False), [(2, 3)]),
    "var_correction": (lambda m, a: m.var(a, dim=1, correction=0), [(2, 3)]),
    "norm": (lambda m, a: m.norm(a) + m.norm(a, dim=1).sum(), [(2, 3)]),
    "norm_nuc": (lambda m, a: m.norm(a, p="nuc"), [(3, 3)]),
    "all_any": (lambda m, a: (m.all(a > 0), m.any(a > 0, dim=1)), [(2, 3)]),
    "isclose": (lambda m, a, b: m.isclose(a, b, atol=0.5), [(2, 3), (2, 3)]),
    "dot": (lambda m, a, b: m.dot(a, b), [(3,), (3,)]),
    "outer": (lambda m, a, b: m.outer(a, b), [(3,), (2,)]),
    "tril_triu": (lambda m, a: m.tril(a) + m.triu(a, 1) * 2 + m.tril(a, -1), [(3, 4)]),
    "tril_batched": (lambda m, a: m.triu(a, -1), [(2, 3, 3)]),
    "topk": (lambda m, a: m.topk(a, 2), [(2, 4)]),
    "sort": (lambda m, a: m.sort(a, dim=0, descending=True), [(3, 2)]),
    "pow": (lambda m, a, b: m.pow(m.abs(a), b), [(2, 3), (3,)]),
    "elementwise": (
        lambda m, a: m.square(a) + m.sign(a) + m.floor(a) + m.ceil(a) + m.round(a),
        [(2, 3)],
    ),
    "is_predicates": (lambda m, a: (m.isnan(a), m.isinf(a / 0), m.isfinite(1 / a)), [(2, 3)]),
    "lerp": (lambda m, a, b: m.lerp(a, b, 0.3) + m.lerp(a, b, b), [(2, 3), (2, 3)]),
    "addmm": (lambda m, c, a, b: m.addmm(c, a, b, beta=0.5, alpha=2), [(2, 4), (2, 3), (3, 4)]),
    "sum_dim": (lambda m, a: m.sum(a, dim=0, keepdim=True), [(2, 3)]),
    "mean_dim": (lambda m, a: m.mean(a, dim=(0, 1)), [(2, 3)]),
    "prod_dim": (lambda m, a: m.prod(a, 1, True), [(2, 3)]),
    "softmax_dim": (lambda m, a: m.softmax(a, dim=0) + m.log_softmax(a, 1), [(2, 3)]),
    "max_dim": (lambda m, a: m.max(a, dim=1), [(2, 3)]),
    "min_dim": (lambda m, a: m.min(a, 0, keepdim=True), [(2, 3)]),
    "max_all": (lambda m, a: m.max(a) + m.min(a), [(2, 3)]),
    "max_pair": (lambda m, a, b: m.max(a, b), [(2, 3), (2, 3)]),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.filterwarnings("ignore:divide by zero")
def test_function_matches_torch(name):
    fn, shape_list = FUNCTIONS[name]
    rng = np.random.default_rng(len(name))
    compare(fn, [distinct(rng, s) for s in shape_list], seed=len(name))


def test_facts_and_new_tensors():
    x = np.arange(24.0).reshape(2, 3, 4).astype(np.float32)
    c, t = cr.tensor(x), torch.tensor(x)
    assert c.numel() == t.numel() == c.nelement() == 24 and c.dim() == t.dim() == 3
    assert c.element_size() == t.element_size() == 4
    assert c.is_contiguous() and c.contiguous() is c
    assert cr.numel(c) == 24 and cr.is_tensor(c) and not cr.is_tensor(x)
    assert cr.allclose(c, c + 1e-9) is True and cr.allclose(c, c + 1) is False
    for name, args in [("new_zeros", (2, 3)), ("new_ones", ((2,),)), ("new_full", ((2,), 1.5))]:
        got, want = getattr(c, name)(*args), getattr(t, name)(*args)
        assert got.dtype == np.float32 and got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.data, want.numpy())
        assert not got.requires_grad
    assert c.new_zeros(2, dtype="float64").dtype == np.float64
    assert c.new_ones(3, requires_grad=True).requires_grad
    assert c.new_tensor([1, 2]).dtype == np.float32 and c.new_tensor([1, 2]).tolist() == [1, 2]


def test_max_and_sort_return_named_tuples():
    c = cr.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    values, indices = c.max(1)
    result = cr.max(c, dim=1)
    assert type(result).__name__ == "MaxResult" and "values=" in repr(result)
    assert result.values.tolist() == values.tolist() == [5.0, 7.0]
    assert result.indices.tolist() == indices.tolist() == [1, 0]
    assert indices.dtype == np.int64 and not indices.requires_grad
    assert c.max().item() == 7.0 and c.min(dim=0).indices.tolist() == [0, 1, 0]
    s = c.sort(descending=True)
    assert s.values.tolist() == [[5.0, 2.0, 1.0], [7.0, 3.0, 0.0]] and s[1].tolist()[0] == [1, 2, 0]
    assert c.topk(1).indices.tolist() == [[1], [0]]


def test_input_errors_name_the_function():
    c = cr.tensor(np.zeros((2, 3)))
    with pytest.raises(IndexError, match=r"gather\(\): index 3 is out of bounds"):
        c.gather(1, cr.tensor([[3, 0, 0], [0, 0, 0]]))
    with pytest.raises(IndexError, match=r"index_select\(\): index -1"):
        c.index_select(0, cr.tensor([-1]))
    with pytest.raises(ValueError, match=r"split\(\): sizes \[1, 1\] add up to 2"):
        c.split([1, 1], dim=1)
    with pytest.raises(ValueError, match=r"permute\(\).*\(2, 3\)"):
        c.permute(0)
    with pytest.raises(ValueError, match=r"topk\(\): k = 4"):
        c.topk(4)
    with pytest.raises(ValueError, match=r"mm\(\): mat2 must be 2-D"):
        c.mm(cr.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match=r"repeat\(\)"):
        c.repeat(2)
    with pytest.raises(ValueError, match=r"expand\(\)"):
        c.expand(3)
    with pytest.raises(TypeError, match=r"masked_fill\(\): mask must be a bool"):
        c.masked_fill(cr.tensor([1, 0, 1]), 0.0)
    with pytest.raises(IndexError, match=r"size\(\): dim 2 .* \(2, 3\)"):
        c.size(2)


# ------------------------------------------------------------ (3) t.size
def test_size_is_an_int_and_a_call():
    c = cr.tensor(np.zeros((2, 3, 4)))
    assert c.size == 24 and isinstance(c.size, int) and c.size + 1 == 25
    assert range(c.size)[-1] == 23 and np.zeros(c.size).shape == (24,) and f"{c.size}" == "24"
    assert c.size() == (2, 3, 4) == tuple(torch.zeros(2, 3, 4).size())
    assert c.size(0) == 2 and c.size(-1) == 4 and c.size(dim=1) == 3
    assert cr.tensor(5.0).size == 1 and cr.tensor(5.0).size() == ()
    with pytest.raises(IndexError, match="0-d"):
        cr.tensor(5.0).size(0)
    for copied in (pickle.loads(pickle.dumps(c.size)), copy.deepcopy(c.size)):
        assert copied == 24 and copied() == (2, 3, 4)


# --------------------------------------------------- (4) NumPy's and PyTorch's clashes
def test_repeat_tiles_as_torch_unless_axis_is_given():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    c, t = cr.tensor(x), torch.tensor(x)
    np.testing.assert_array_equal(c.repeat(1, 2).data, t.repeat(1, 2).numpy())
    np.testing.assert_array_equal(c.repeat((2, 1)).data, np.tile(x, (2, 1)))
    np.testing.assert_array_equal(c.repeat(2, axis=0).data, x.repeat(2, axis=0))
    np.testing.assert_array_equal(c.repeat([1, 2], axis=1).data, x.repeat([1, 2], axis=1))
    np.testing.assert_array_equal(cr.numpy.repeat(c, 2).data, np.repeat(x, 2))


def test_transpose_two_dims_is_torchs_a_permutation_numpys():
    x = np.arange(24.0).reshape(2, 3, 4)
    c, t = cr.tensor(x), torch.tensor(x)
    np.testing.assert_array_equal(c.transpose(0, 2).data, t.transpose(0, 2).numpy())
    np.testing.assert_array_equal(c.transpose(2, 0, 1).data, x.transpose(2, 0, 1))
    np.testing.assert_array_equal(c.transpose((1, 0, 2)).data, x.transpose((1, 0, 2)))
    np.testing.assert_array_equal(c.transpose().data, x.transpose())
    m = np.arange(6.0).reshape(2, 3)
    # On a matrix, (0, 1) is a swap (PyTorch), not NumPy's identity permutation.
    assert cr.tensor(m).transpose(0, 1).shape == (3, 2) and m.transpose(0, 1).shape == (2, 3)
    assert cr.transpose(cr.tensor(x), (2, 0, 1)).shape == (4, 2, 3)
    assert cr.tensor(x).transpose(dim0=0, dim1=1).shape == (3, 2, 4)


def test_std_and_var_are_torchs_unless_numpys_arguments_are_given():
    x = np.arange(6.0).reshape(2, 3) ** 2
    c, t = cr.tensor(x), torch.tensor(x)
    for name in ("std", "var"):
        fc, ft, fn = getattr(c, name), getattr(t, name), getattr(x, name)
        np.testing.assert_allclose(fc().data, ft().numpy())  # unbiased
        np.testing.assert_allclose(fc(1).data, ft(1).numpy())
        np.testing.assert_allclose(fc(dim=0, keepdim=True).data, ft(dim=0, keepdim=True).numpy())
        np.testing.assert_allclose(fc(unbiased=False).data, ft(unbiased=False).numpy())
        np.testing.assert_allclose(fc(False).data, ft(False).numpy())
        np.testing.assert_allclose(fc(axis=1).data, fn(axis=1))  # ddof 0
        np.testing.assert_allclose(fc(ddof=0).data, fn())
        np.testing.assert_allclose(
            fc(axis=0, ddof=1, keepdims=True).data, fn(0, ddof=1, keepdims=True)
        )
        np.testing.assert_allclose(getattr(cr.numpy, name)(c).data, fn())  # np.std: NumPy's


def test_max_positional_dim_is_torchs_axis_keyword_numpys():
    x = np.array([[1.0, 5.0], [7.0, 0.0]])
    c = cr.tensor(x)
    assert isinstance(c.max(1), tuple) and c.max(1).values.tolist() == [5.0, 7.0]
    assert c.max(axis=1).tolist() == [5.0, 7.0] and c.max(axis=0, keepdims=True).shape == (1, 2)
    assert cr.max(c, axis=1).tolist() == [5.0, 7.0] and cr.min(c, (0, 1)).item() == 0.0
    assert c.sum(1, True).shape == (2, 1) and c.sum(1, None, None, True).shape == (2, 1)
    assert c.flatten().shape == (4,) and c.flatten("C").shape == (4,)
    with pytest.raises(ValueError):
        c.squeeze(axis=0)  # NumPy's squeeze refuses a longer axis
    assert c.squeeze(0).shape == (2, 2)  # PyTorch's leaves it


# ---------------------------------------------- (5) finite differences (float64)
def test_gradcheck_indexing_norm_and_sorting():
    rng = np.random.default_rng(5)
    x = cr.tensor(distinct(rng, (3, 4)), requires_grad=True)
    src = cr.tensor(rng.normal(size=(2, 4)), requires_grad=True)
    idx = cr.tensor(np.array([[0, 2, 2, 1], [2, 2, 0, 0]]))
    checks = [
        (lambda a: a.gather(0, idx), (x,)),
        (lambda a, s: a.scatter_add(0, idx, s), (x, src)),
        (lambda a: a.index_select(1, cr.tensor([3, 0, 3])), (x,)),
        (lambda a: a.masked_fill(a > 0, -2.0), (x,)),
        (lambda a: a.norm(), (x,)),
        (lambda a: a.norm(3, dim=1, keepdim=True), (x,)),
        (lambda a: a.norm(1, dim=(0, 1)), (x,)),
        (lambda a: a.norm(math.inf, dim=0), (x,)),
        (lambda a: a.topk(2, dim=0).values, (x,)),
        (lambda a: a.sort(dim=1, descending=True).values, (x,)),
        (lambda a: a.cumsum(dim=1), (x,)),
        (lambda a: a.cumsum(-2) * a, (x,)),
    ]
    for fn, inputs in checks:
        assert cr.gradcheck(fn, inputs)
    # src larger than index: its extra elements are not used (torch's own backward
    # refuses this case, so finite differences are the oracle for the gradient).
    big = rng.normal(size=(3, 5))
    small = np.array([[0, 2], [1, 1]])
    want = torch.tensor(x.data).scatter_add(0, torch.tensor(small), torch.tensor(big)).numpy()
    np.testing.assert_allclose(x.scatter_add(0, cr.tensor(small), big).data, want)
    assert cr.gradcheck(
        lambda a, s: a.scatter_add(0, cr.tensor(small), s),
        (x, cr.tensor(big, requires_grad=True)),
    )
    value = cr.tensor(0.5, requires_grad=True)
    assert cr.gradcheck(lambda v: x.detach().masked_fill(x.data > 0, v), (value,))
