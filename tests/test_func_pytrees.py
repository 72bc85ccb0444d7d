"""Pytrees through every transform, and results of the input's kind.

Gradients of functions of nested lists / tuples / dicts / named tuples of arrays
and numbers are checked against central finite differences and against HIPS
autograd (the test extra installs it), over random structures and shapes."""

from collections import namedtuple

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as cnp

Pair = namedtuple("Pair", "w b")


# ------------------------------------------------------------ random pytrees
def _arrays(draw_shape):
    return st.builds(
        lambda shape, seed: np.random.default_rng(seed).uniform(-1.5, 1.5, size=shape),
        draw_shape,
        st.integers(0, 2**16),
    )


_leaves = st.one_of(
    _arrays(st.sampled_from([(), (1,), (3,), (2, 3)])),
    st.floats(-1.5, 1.5).map(float),
)
# autograd differentiates lists, tuples and dicts (not named tuples): those here.
_trees = st.recursive(
    _leaves,
    lambda c: st.one_of(
        st.lists(c, min_size=1, max_size=3),
        st.lists(c, min_size=1, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from("abcd"), c, min_size=1, max_size=3),
    ),
    max_leaves=6,
)


def _objective(m, spec):
    """A scalar function of a pytree shaped like ``spec``, written for the NumPy-like
    module ``m``; it indexes by ``spec`` so that autograd's boxed containers work."""

    def total(p, s, k):
        if isinstance(s, dict):
            return sum(total(p[key], s[key], k * 3 + i) for i, key in enumerate(s))
        if isinstance(s, list | tuple):
            return sum(total(p[i], s[i], k * 5 + i) for i in range(len(s)))
        return m.sum(m.sin(p) * (1.0 + 0.1 * (k % 7)))

    def f(p):
        s = total(p, spec, 1)
        return s + 0.1 * s**2

    return f


def _fd_grad(f, tree, eps=1e-6):
    """Central differences with respect to every leaf element, in ``tree``'s structure."""
    leaves, treedef = cr.tree.flatten(tree)
    grads = []
    for i, leaf in enumerate(leaves):
        arr = np.array(leaf, dtype=np.float64)
        g = np.zeros_like(arr)
        for e in range(arr.size):
            for sign in (1, -1):
                moved = arr.copy()
                moved.flat[e] += sign * eps
                shifted = list(leaves)
                shifted[i] = moved if isinstance(leaf, np.ndarray) else float(moved)
                g.flat[e] += sign * float(f(cr.tree.unflatten(treedef, shifted))) / (2 * eps)
        grads.append(g)
    return grads


def _leaves_close(got, want, **tol):
    got_leaves, got_def = cr.tree.flatten(got)
    want_leaves, want_def = cr.tree.flatten(want)
    assert got_def == want_def
    for a, b in zip(got_leaves, want_leaves):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **tol)


@settings(max_examples=40, deadline=None)
@given(_trees)
def test_grad_of_random_pytrees_matches_autograd_and_finite_differences(tree):
    g = cr.grad(_objective(cnp, tree))(tree)
    _leaves_close(g, autograd.grad(_objective(anp, tree))(tree), rtol=1e-12, atol=1e-12)
    fd = _fd_grad(_objective(np, tree), tree)
    for a, b in zip(cr.tree.leaves(g), fd):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # each gradient leaf is of its input leaf's kind: arrays for arrays, floats for floats
    for x, gx in zip(cr.tree.leaves(tree), cr.tree.leaves(g)):
        if isinstance(x, np.ndarray):
            assert type(gx) is np.ndarray and gx.shape == x.shape
        else:
            assert isinstance(gx, float) and type(gx) is np.float64


@settings(max_examples=15, deadline=None)
@given(_trees, st.integers(0, 2**16))
def test_vjp_jvp_hvp_of_random_pytrees_agree(tree, seed):
    f = _objective(cnp, tree)
    rng = np.random.default_rng(seed)
    u = cr.tree.map(lambda x: rng.standard_normal(np.shape(x)), tree)
    value, g = cr.value_and_grad(f)(tree)
    assert value == pytest.approx(float(_objective(np, tree)(tree)), rel=1e-12)
    out, vjp_fn = cr.vjp(f, tree)
    (g2,) = vjp_fn(1.0)
    _leaves_close(g2, g, rtol=1e-12, atol=1e-14)
    # forward mode: J u = <g, u>
    _, ju = cr.jvp(f, (tree,), (u,))
    dot = sum(np.sum(np.asarray(a) * b) for a, b in zip(cr.tree.leaves(g), cr.tree.leaves(u)))
    assert float(ju) == pytest.approx(dot, rel=1e-10, abs=1e-12)
    # second order: H u by forward over reverse against autograd's reverse over reverse
    hu = cr.hvp(f, (tree,), (u,))
    ag_hu = autograd.grad(lambda p: _inner(autograd.grad(_objective(anp, tree))(p), u, tree, anp))(
        tree
    )
    _leaves_close(hu, ag_hu, rtol=1e-9, atol=1e-11)


def _inner(a, b, spec, m):
    """<a, b> for pytrees shaped like spec (indexing by spec, autograd-safe)."""
    if isinstance(spec, dict):
        return sum(_inner(a[k], b[k], spec[k], m) for k in spec)
    if isinstance(spec, list | tuple):
        return sum(_inner(a[i], b[i], spec[i], m) for i in range(len(spec)))
    return m.sum(a * b)


def test_the_issues_example_and_namedtuples():
    w1, w2 = np.array([[0.5, -1.0], [2.0, 0.3]]), np.array([1.5, -0.5])
    x = np.array([0.2, 0.7])

    def loss(params):
        a, b = params
        return cnp.sum(cnp.tanh(x @ a) * b)

    g = cr.grad(loss)([w1, w2])
    assert type(g) is list and len(g) == 2
    ag = autograd.grad(lambda p: anp.sum(anp.tanh(x @ p[0]) * p[1]))([w1, w2])
    _leaves_close(g, ag, rtol=1e-12)
    gp = cr.grad(lambda p: cnp.sum(cnp.tanh(x @ p.w) * p.b))(Pair(w1, w2))
    assert type(gp) is Pair
    _leaves_close(tuple(gp), tuple(ag), rtol=1e-12)
    # autograd style: update NumPy weights in place with the gradient
    weights = w1.copy()
    weights -= cr.grad(lambda w: loss([w, w2]))(weights) * 0.01
    np.testing.assert_allclose(weights, w1 - 0.01 * ag[0])


def test_none_and_empty_containers_are_nodes_without_leaves():
    g = cr.grad(lambda p: p["x"] ** 2)({"x": 3.0, "unused": None, "empty": []})
    assert g == {"x": 6.0, "unused": None, "empty": []}


def test_jacobians_and_hessians_of_pytrees():
    params = {"w": np.array([0.3, -0.8, 1.1]), "s": 0.7}

    def f(p):  # output: a tuple of an array and a dict holding a scalar
        return (cnp.sin(p["w"]) * p["s"], {"n": cnp.sum(p["w"] ** 2) * p["s"] ** 3})

    for jac in (cr.jacobian(f), cr.jacfwd(f)):
        j = jac(params)
        assert type(j) is tuple and set(j[1]) == {"n"}
        np.testing.assert_allclose(j[0]["w"], np.diag(np.cos(params["w"]) * 0.7), rtol=1e-12)
        np.testing.assert_allclose(j[0]["s"], np.sin(params["w"]), rtol=1e-12)
        np.testing.assert_allclose(j[1]["n"]["w"], 2 * params["w"] * 0.7**3, rtol=1e-12)
        assert j[1]["n"]["s"].shape == () and type(j[1]["n"]["s"]) is np.ndarray
        assert float(j[1]["n"]["s"]) == pytest.approx(np.sum(params["w"] ** 2) * 3 * 0.49)

    def scalar(p):
        return cnp.sum(cnp.sin(p["w"]) * p["s"] ** 2)

    h = cr.hessian(scalar)(params)
    w, s = params["w"], params["s"]
    np.testing.assert_allclose(h["w"]["w"], np.diag(-np.sin(w) * s**2), rtol=1e-12)
    np.testing.assert_allclose(h["w"]["s"], 2 * s * np.cos(w), rtol=1e-12)
    np.testing.assert_allclose(h["s"]["w"], 2 * s * np.cos(w), rtol=1e-12)
    assert float(h["s"]["s"]) == pytest.approx(2 * np.sum(np.sin(w)))
    # against finite differences of the gradient
    fd = _fd_grad(lambda p: cr.grad(scalar)(p)["s"], params)
    np.testing.assert_allclose(h["s"]["w"], fd[0], rtol=1e-6)


def test_jit_takes_and_returns_pytrees_of_the_eager_kind():
    def loss(p, x):
        return cnp.sum(cnp.tanh(x @ p.w + p.b[0]) ** 2) + p.b[1]

    step = cr.jit(cr.value_and_grad(loss))
    rng = np.random.default_rng(0)
    for k in range(4):
        # np.float64, not float: jit keys on Python numbers (a trace per value)
        p = Pair(rng.normal(size=(3, 2)), (rng.normal(size=2), np.float64(k)))
        x = rng.normal(size=(4, 3))
        got, want = step(p, x), cr.value_and_grad(loss)(p, x)
        assert type(got[0]) is type(want[0]) is np.float64
        assert type(got[1]) is Pair and type(got[1].b[1]) is np.float64
        _leaves_close(got, want, rtol=1e-12)
    assert step.traces == 2


# ------------------------------------------------------------ results' kinds
@pytest.mark.parametrize(
    ("x", "kind"),
    [
        (1.5, np.float64),  # a Python float: a NumPy scalar (a float), as autograd
        (np.float64(1.5), np.float64),
        (np.float32(1.5), np.float32),
        (np.array(1.5), np.ndarray),  # a 0-d array stays an array
        (np.array([1.5, 0.5]), np.ndarray),
        (cr.tensor([1.5, 0.5]), cr.Tensor),
        (cr.tensor(1.5), cr.Tensor),
    ],
)
def test_gradient_is_of_the_inputs_kind(x, kind):
    g = cr.grad(lambda t: cnp.sum(cnp.sin(t)))(x)
    assert type(g) is kind
    assert g.dtype == (x.dtype if hasattr(x, "dtype") else np.float64)
    np.testing.assert_allclose(np.asarray(g.data if isinstance(g, cr.Tensor) else g), np.cos(x))
    ag = autograd.grad(lambda t: anp.sum(anp.sin(t)))(
        np.asarray(x.data if kind is cr.Tensor else x)
    )
    np.testing.assert_allclose(np.asarray(g.data if isinstance(g, cr.Tensor) else g), ag)


def test_every_transform_returns_numpy_for_numpy_and_tensors_for_tensors():
    def f(x):
        return cnp.sin(x) * x

    def s(x):
        return cnp.sum(f(x))

    x = np.array([0.3, 1.2])
    calls = {
        "grad": lambda x: cr.grad(s)(x),
        "value_and_grad": lambda x: cr.value_and_grad(s)(x),
        "vjp": lambda x: (cr.vjp(f, x)[0], cr.vjp(f, x)[1](np.ones(2))),
        "jvp": lambda x: cr.jvp(f, (x,), (np.ones(2),)),
        "jacobian": lambda x: cr.jacobian(f)(x),
        "jacfwd": lambda x: cr.jacfwd(f)(x),
        "hessian": lambda x: cr.hessian(s)(x),
        "hvp": lambda x: cr.hvp(s, (x,), (np.ones(2),)),
        "elementwise_grad": lambda x: cr.elementwise_grad(f)(x),
        "make_vjp": lambda x: (cr.make_vjp(f)(x)[1], cr.make_vjp(f)(x)[0](np.ones(2))),
        "make_jvp": lambda x: cr.make_jvp(f)(x)(np.ones(2)),
    }
    for name, call in calls.items():
        as_numpy = cr.tree.leaves(call(x))
        as_tensors = cr.tree.leaves(call(cr.tensor(x)))
        assert all(isinstance(v, np.ndarray | np.float64) for v in as_numpy), name
        assert all(isinstance(v, cr.Tensor) for v in as_tensors), name
        for a, b in zip(as_numpy, as_tensors):
            np.testing.assert_allclose(a, b.data, rtol=1e-14, err_msg=name)


def test_only_the_outermost_transform_converts():
    # inner results stay recorded, also for values the inner call closes over
    assert cr.grad(lambda y: cr.grad(lambda x: x * y)(2.0))(3.0) == 1.0
    assert cr.grad(lambda y: cr.grad(lambda x: x**2 * y**2)(2.0))(3.0) == pytest.approx(24.0)
    d3 = cr.grad(cr.grad(cr.grad(cnp.sin)))(0.5)
    assert type(d3) is np.float64 and d3 == pytest.approx(-np.cos(0.5))
    x = cr.tensor(0.5, requires_grad=True)
    g = cr.grad(lambda t: t**3)(x)  # a Tensor that requires grad: stays recorded
    assert isinstance(g, cr.Tensor) and g.requires_grad


def test_argnum_is_an_alias_of_argnums():
    def f(a, b):
        return a * b**2

    assert cr.grad(f, argnum=1)(2.0, 3.0) == 12.0
    assert cr.value_and_grad(f, argnum=(0, 1))(2.0, 3.0)[1] == (9.0, 12.0)
    np.testing.assert_allclose(cr.jacobian(f, argnum=1)(2.0, np.ones(2)), np.diag([4.0, 4.0]))
    assert cr.grad(f, 1)(2.0, 3.0) == autograd.grad(lambda a, b: a * b**2, 1)(2.0, 3.0)
    with pytest.raises(TypeError, match="argnums or its alias argnum, not both"):
        cr.grad(f, argnums=0, argnum=1)


def test_bad_inputs_fail_with_one_clear_line():
    with pytest.raises(TypeError, match="integers and booleans have no derivative"):
        cr.grad(lambda p: p[0] * 2.0)([3, 4])
    with pytest.raises(TypeError, match="must return a scalar, got a list"):
        cr.grad(lambda p: [p, p])(1.0)
    with pytest.raises(ValueError, match="cotangent"):
        cr.vjp(lambda p: (p, p), 1.0)[1]([1.0])
    with pytest.raises(ValueError, match="tangent"):
        cr.jvp(lambda p: p[0], ([1.0, 2.0],), ([1.0],))


def test_the_reference_pages_python_blocks_run():
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parent.parent / "docs" / "reference" / "transforms-pytrees.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 4
    for block in blocks:
        exec(compile(block, str(page), "exec"), {})
