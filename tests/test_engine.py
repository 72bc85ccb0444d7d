"""The backward engine: accumulation, graph shapes, memory, scale."""

import gc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr


def test_gradients_accumulate_across_backward_calls():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2 + 3, 4 + 3])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3, 3])


def test_a_value_used_twice_gets_the_sum_of_both_paths():
    x = cr.tensor(0.3, requires_grad=True)
    y = x * x + cr.sin(x)  # two uses of x in x*x, one in sin
    y.backward()
    assert x.grad.item() == pytest.approx(2 * 0.3 + np.cos(0.3))


def test_diamond_graph():
    x = cr.tensor(2.0, requires_grad=True)
    a = x * 3
    b = cr.exp(a)
    c = a * b  # a feeds c directly and through b
    c.backward()
    # dc/dx = 3 * (b + a * b)
    a0 = 6.0
    assert x.grad.item() == pytest.approx(3 * (np.exp(a0) + a0 * np.exp(a0)))


def test_gradient_does_not_flow_into_constants_or_detached_values():
    x = cr.tensor(1.5, requires_grad=True)
    c = cr.tensor(4.0)
    y = x * c + x.detach() * 10
    y.backward()
    assert x.grad.item() == 4.0
    assert c.grad is None
    assert not x.detach().requires_grad


def test_leaf_and_non_leaf():
    x = cr.tensor(1.0, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.requires_grad
    assert cr.tensor(1.0).is_leaf
    assert y.grad_fn is not None and y.grad_fn.prim.name == "mul"


def test_non_leaf_grad_only_with_retain_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    z = y * y
    y.retain_grad()
    z.sum().backward()
    np.testing.assert_allclose(y.grad.data, 2 * y.data)
    assert z.grad is None


def test_hooks_see_and_can_replace_the_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.data.copy()))
    y = x * 2
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    np.testing.assert_allclose(seen[0], [20.0, 20.0])
    np.testing.assert_allclose(x.grad.data, [20.0, 20.0])
    handle.remove()
    x.grad = None
    (x * 1).sum().backward()
    assert len(seen) == 1


def test_leaf_hook_can_replace_gradient():
    x = cr.tensor(3.0, requires_grad=True)
    x.register_hook(lambda g: g * 0)
    (x * x).backward()
    assert x.grad.item() == 0.0


def test_retain_graph_allows_a_second_pass():
    x = cr.tensor(2.0, requires_grad=True)
    y = cr.exp(x)
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == pytest.approx(2 * np.exp(2.0))


def test_saved_values_are_released_after_backward():
    x = cr.tensor(np.ones(3), requires_grad=True)
    y = cr.exp(x)
    node = y.grad_fn
    y.sum().backward()
    assert node.released and node.args is None and node.ans is None


def test_explicit_upstream_gradient():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(np.array([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(x.grad.data, [2.0, 0.0, 12.0])


def test_grads_of_two_leaves_do_not_share_memory():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([1.0, 2.0], requires_grad=True)
    (x + y).sum().backward()
    x.grad.data += 1
    np.testing.assert_allclose(y.grad.data, [1.0, 1.0])


def test_grad_of_broadcast_sum_is_writeable():
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    x.sum().backward()
    x.grad.data[0, 0] = 5.0  # not a read-only broadcast view
    assert x.grad.data.sum() == 10.0


def test_autograd_grad_returns_without_accumulating():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    gx, gw = cr.autograd.grad(y, [x, w])
    np.testing.assert_allclose(gx.data, [3.0, 4.0])
    np.testing.assert_allclose(gw.data, [1.0, 2.0])
    assert x.grad is None and w.grad is None


def test_autograd_grad_unused_input():
    x = cr.tensor(1.0, requires_grad=True)
    u = cr.tensor(np.ones(2), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="not used"):
        cr.autograd.grad(y, [x, u], retain_graph=True)
    gx, gu = cr.autograd.grad(y, [x, u], allow_unused=True, retain_graph=True)
    assert gu is None
    _, gu = cr.autograd.grad(y, [x, u], materialize_grads=True)
    np.testing.assert_array_equal(gu.data, [0.0, 0.0])


def test_autograd_grad_with_respect_to_an_intermediate():
    x = cr.tensor(2.0, requires_grad=True)
    h = x * x
    y = cr.sin(h)
    (gh,) = cr.autograd.grad(y, h)
    assert gh.item() == pytest.approx(np.cos(4.0))


def test_create_graph_gives_second_derivatives():
    x = cr.tensor([0.5, -1.0], requires_grad=True)
    y = (x**3).sum()
    y.backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    np.testing.assert_allclose(g.data, 3 * x.data**2)
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.data, 6 * x.data)


def test_third_derivative_of_sigmoid():
    x = cr.tensor(0.7, dtype="float64", requires_grad=True)
    (g1,) = cr.autograd.grad(cr.sigmoid(x), x, create_graph=True)
    (g2,) = cr.autograd.grad(g1, x, create_graph=True)
    (g3,) = cr.autograd.grad(g2, x)
    s = 1 / (1 + np.exp(-0.7))
    assert g1.item() == pytest.approx(s * (1 - s), rel=1e-12)
    assert g2.item() == pytest.approx(s * (1 - s) * (1 - 2 * s), rel=1e-12)
    assert g3.item() == pytest.approx(s * (1 - s) * (1 - 6 * s + 6 * s * s), rel=1e-10)


def test_intermediates_are_freed_without_the_garbage_collector():
    gc.disable()
    try:
        x = cr.tensor(np.ones(4), requires_grad=True)
        y = cr.exp(x)
        z = cr.sin(y)
        y_ref = weakref.ref(y)
        node_ref = weakref.ref(z.grad_fn)
        del y
        assert y_ref() is None  # the graph keeps the node, not the tensor
        assert node_ref() is not None
        del z
        assert node_ref() is None  # nothing refers to the graph any more
    finally:
        gc.enable()


def test_a_whole_graph_is_freed_by_reference_counting():
    gc.disable()
    try:
        x = cr.tensor(1.0, requires_grad=True)
        out = x
        refs = []
        for _ in range(100):
            out = cr.exp(-out)
            refs.append(weakref.ref(out.grad_fn))
        out.backward()
        del out
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


def _chain(n):
    x = cr.tensor(0.5, dtype="float64", requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0000001
    return x, y


def test_a_million_op_chain_backpropagates():
    n = 1_000_000
    x, y = _chain(n)
    y.backward()
    assert x.grad.item() == pytest.approx(1.0000001**n, rel=1e-9)


@pytest.mark.parametrize(
    ("g_shape", "shape"),
    [
        ((4, 3), (3,)),  # a bias: leading axis only, one sum
        ((2, 4, 3), (3,)),
        ((2, 4, 3), (4, 3)),
        ((4, 3), (1, 3)),  # stretched axis, kept
        ((2, 4, 3), (4, 1)),  # leading and stretched
        ((4, 3), ()),
        ((4, 3), (4, 3)),
    ],
)
def test_sum_to_undoes_broadcasting(g_shape, shape):
    from chainrule.ops.broadcast import sum_to

    g = np.random.default_rng(0).normal(size=g_shape)
    got = sum_to(g, shape)
    assert got.shape == shape
    # The adjoint of broadcasting: <sum_to(g), v> == <g, broadcast(v)>.
    v = np.random.default_rng(1).normal(size=shape)
    np.testing.assert_allclose(np.sum(got * v), np.sum(g * np.broadcast_to(v, g_shape)))


def test_sum_to_refuses_shapes_that_do_not_broadcast():
    from chainrule.ops.broadcast import sum_to

    with pytest.raises(ValueError, match="larger shape"):
        sum_to(np.ones(3), (2, 3))
    with pytest.raises(ValueError, match="does not broadcast"):
        sum_to(np.ones((4, 3)), (2,))
    with pytest.raises(ValueError, match="does not broadcast"):
        sum_to(np.ones((4, 3)), (4, 2))


def test_a_node_waits_for_every_consumer_even_when_its_input_was_sent_first():
    # s's inputs q and r share the input p; r is visited first and sends p its
    # share, but q (newer than p) must run before p: ds/dx = (3 + 5) * 2.
    x = cr.tensor(1.5, dtype="float64", requires_grad=True)
    p = x * 2
    q = p * 3
    r = p * 5
    s = q + r
    s.backward()
    assert x.grad.item() == 16.0
    # The same with the older input listed second, and a longer path to it.
    y = cr.tensor(0.5, dtype="float64", requires_grad=True)
    a = y * 2
    b = cr.exp(a) * 3
    c = b + a
    (c * c).backward()
    expected = 2 * c.item() * (3 * np.exp(1.0) * 2 + 2)
    assert y.grad.item() == pytest.approx(expected, rel=1e-12)


@cr.primitive(name="test_engine_second_rule_fails")
def _second_rule_fails(x, y):
    return x + y


_second_rule_fails.defvjp(
    lambda g, ans, x, y: g,
    lambda g, ans, x, y: (_ for _ in ()).throw(ArithmeticError("second rule failed")),
)


def test_an_error_mid_backward_leaves_no_partial_sums():
    # The first input's share is sent (that input is next to visit) before the
    # second rule fails: no node keeps a partial gradient, and later passes work.
    x = cr.tensor(np.ones(3), requires_grad=True)
    a = x * 2
    b = cr.exp(x)
    c = x * 3
    out = _second_rule_fails(a, b) + c
    with pytest.raises(ArithmeticError, match="second rule failed"):
        out.sum().backward(retain_graph=True)
    assert a._node.gsum is None and b._node.gsum is None and c._node.gsum is None
    (a + b).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 + np.exp(1.0))


_DAG_OPS = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * cr.tanh(b),  # bounded: |result| <= |a|
    "sub": lambda a, b: a - b,
    "tanh": lambda a, b: cr.tanh(a),
    "sin": lambda a, b: cr.sin(a) * b,
}


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(sorted(_DAG_OPS)), st.integers(0, 10**6), st.integers(0, 10**6)),
        min_size=1,
        max_size=14,
    ),
    outputs=st.lists(st.integers(0, 10**6), min_size=1, max_size=3),
    seed=st.integers(0, 2**31 - 1),
)
def test_random_graphs_with_shared_inputs_get_every_share(steps, outputs, seed):
    # Each op reads any earlier values, so nodes have several consumers of
    # different ages (the order the engine must respect) and the loss sums
    # several of them; gradients are checked against finite differences.
    def program(x, y):
        values = [x, y]
        for name, i, j in steps:
            values.append(_DAG_OPS[name](values[i % len(values)], values[j % len(values)]))
        return sum((values[k % len(values)].sum() for k in outputs), cr.tensor(0.0))

    rng = np.random.default_rng(seed)
    values = [rng.uniform(-0.9, 0.9, 3) for _ in range(2)]
    args = [cr.tensor(v, requires_grad=True) for v in values]
    # A plain backward pass: the graph is released as it goes, so a node visited
    # before all its consumers (and so visited twice) would be an error.
    program(*args).backward()
    eps = 1e-6
    for k in range(len(values)):
        numeric = np.zeros(3)
        for i in range(3):
            shifted = [w.copy() for w in values]
            shifted[k][i] += eps
            up = program(*map(cr.tensor, shifted)).item()
            shifted[k][i] -= 2 * eps
            down = program(*map(cr.tensor, shifted)).item()
            numeric[i] = (up - down) / (2 * eps)
        grad = args[k].grad
        got = np.zeros(3) if grad is None else grad.data  # None: the loss does not use it
        np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-6)
