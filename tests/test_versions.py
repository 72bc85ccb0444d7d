"""In-place changes and version counters: a value saved for backward and then changed
in place raises at backward, naming the op; in-place updates that are legal (under
no_grad, on tensors nothing records) change the values and keep identities."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

MODIFIED = r"modified by an in-place operation after it was saved for 'mul'"


def test_minus_equals_under_no_grad_then_backward_raises_naming_the_op():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    with cr.no_grad():
        x -= 1
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_setitem_under_no_grad_then_backward_raises():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    with cr.no_grad():
        x[0] = 100.0
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_a_constant_saved_for_backward_and_changed_raises():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([3.0, 4.0])
    y = (w * c).sum()
    c.mul_(10)
    with pytest.raises(RuntimeError, match=r"input 1 of 'mul'.*version 1"):
        y.backward()


def test_a_view_changed_in_place_counts_for_its_base():
    c = cr.tensor([3.0, 4.0, 5.0])
    w = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (w * c).sum()
    view = c[0:2]  # basic indexing: a view of c's memory
    view += 1
    assert c.data[0] == 4.0
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_a_saved_output_changed_in_place_raises():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.exp(x)
    y.add_(1)  # recorded; but exp's rule needs its output as it was
    with pytest.raises(RuntimeError, match=r"the output of 'exp'"):
        y.sum().backward()


def test_a_named_tensor_is_named_in_the_error():
    w = cr.name(cr.tensor([1.0, 2.0], requires_grad=True), "weights")
    y = (w * w).sum()
    with cr.no_grad():
        w.add_(1)
    with pytest.raises(RuntimeError, match="'weights'"):
        y.backward()


def test_optimizer_step_before_backward_raises():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    loss = (w * w).sum()  # saves w
    opt.step()  # changes w in place before loss's backward
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_data_writes_bypass_the_counter_as_documented():
    # As in PyTorch: .data is the raw array; writes through it are not seen.
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.data[0] = 5.0
    assert x._version == 0
    assert "go around chainrule's version counters" in cr.Tensor.data.__doc__


def test_version_counts_in_place_changes_and_is_shared_with_detached():
    x = cr.tensor([1.0, 2.0])
    d = x.detach()
    assert x._version == 0
    x += 1
    x.mul_(2)
    x[0] = 0.0
    assert x._version == 3 and d._version == 3
    np.testing.assert_array_equal(d.data, [0.0, 6.0])


def test_leaf_update_under_no_grad_is_legal_and_keeps_the_leaf():
    # The PyTorch idiom: p -= lr * p.grad inside no_grad updates p itself.
    a = cr.tensor([1.0, -2.0], requires_grad=True)
    ident = id(a)
    for _ in range(3):
        loss = (a * a).sum()
        loss.backward()
        with cr.no_grad():
            a -= 0.25 * a.grad
            a.grad = None
    assert id(a) == ident and a.is_leaf and a.requires_grad
    np.testing.assert_allclose(a.data, np.array([1.0, -2.0]) * 0.5**3)


def test_parameters_loop_updates_the_weights():
    # for p in model.parameters(): p -= lr * p.grad used to rebind the loop variable
    # and leave the weights unchanged.
    model = cr.nn.Linear(3, 1)
    x = cr.tensor(np.ones((4, 3), dtype=np.float32))
    before = [p.data.copy() for p in model.parameters()]
    model(x).sum().backward()
    with cr.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    for p, b in zip(model.parameters(), before):
        np.testing.assert_allclose(p.data, b - 0.1 * p.grad.data, rtol=1e-6)


def test_in_place_on_a_leaf_that_requires_grad_while_recording_is_refused():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    for change in (
        lambda: a.__isub__(1),
        lambda: a.add_(1),
        lambda: a.mul_(2),
        lambda: a.zero_(),
        lambda: a.copy_(cr.tensor([0.0, 0.0])),
        lambda: a.clamp_(0, 1),
    ):
        with pytest.raises(RuntimeError, match="changed in place while gradients are recorded"):
            change()
    np.testing.assert_array_equal(a.data, [1.0, 2.0])


def test_recorded_in_place_on_a_computed_tensor_has_the_right_gradient():
    x0 = np.array([0.3, -1.2, 2.0])
    c = np.array([1.5, 2.0, -0.5])

    def f(x):
        y = x * 2
        y += x * x  # y = 2x + x^2
        y.mul_(cr.tensor(c))  # y = c (2x + x^2)
        y.sub_(x, alpha=3)  # y = c (2x + x^2) - 3x
        y.div_(2)
        y.pow_(2)
        return y.sum()

    x = cr.tensor(x0, requires_grad=True)
    f(x).backward()
    expected = 2 * ((c * (2 * x0 + x0**2) - 3 * x0) / 2) * (c * (2 + 2 * x0) - 3) / 2
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12)
    assert cr.gradcheck(lambda t: f(t * 1), (cr.tensor(x0, requires_grad=True),))


def test_in_place_into_a_constant_from_a_tensor_that_requires_grad_records():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    acc = cr.tensor([0.0, 0.0])
    acc += w * 3
    acc += w
    assert acc.requires_grad and not acc.is_leaf
    acc.sum().backward()
    np.testing.assert_array_equal(w.grad.data, [4.0, 4.0])


def test_copy_into_a_computed_tensor_sends_the_gradient_to_the_source():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    s = cr.tensor([5.0, 7.0], requires_grad=True)
    y = x * 1
    y.copy_(s * 2)
    (y * y).sum().backward()
    np.testing.assert_array_equal(s.grad.data, [40.0, 56.0])
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])  # as PyTorch: zeros


def test_in_place_keeps_dtype_and_refuses_unsafe_casts():
    i = cr.tensor([1, 2])
    with pytest.raises(TypeError, match=r"t \+= x: .*int64"):
        i += 0.5
    f = cr.tensor(np.ones(2, dtype=np.float32))
    f += np.float64(1.0)
    assert f.dtype == np.float32
    with pytest.raises(ValueError, match="shape"):
        f += np.ones((3, 2))


def test_in_place_changes_are_refused_under_jit():
    @cr.jit
    def f(x):
        y = x * 2
        y += 1
        return y

    with pytest.raises(cr.JitError, match="in place"):
        f(np.ones(3))


def test_forward_mode_through_a_graph_with_changed_values_raises():
    from chainrule.autograd.forward import ForwardPlan

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([3.0, 4.0])
    y = x * c
    c.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        ForwardPlan([y], [x])


def test_recorded_in_place_on_a_view_is_refused():
    # Changing a slice in place would change its base's values behind its graph.
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = cr.tensor([5.0, 5.0], requires_grad=True)
    y = x * 1
    v = y[0:2]
    for change in (
        lambda: v.__iadd__(w),
        lambda: v.mul_(2),
        lambda: v.copy_(w),
        lambda: v.clamp_(0, 1),
        lambda: v.fill_(0),
    ):
        with pytest.raises(RuntimeError, match="shares its memory with another"):
            change()
    np.testing.assert_array_equal(y.data, [1.0, 2.0, 3.0])
    with cr.no_grad():
        v += 1  # not recorded: allowed, and y's graph then refuses to use stale values
    np.testing.assert_array_equal(y.data, [2.0, 3.0, 3.0])


def test_copy_into_a_tensor_holding_inf_gives_the_source_values():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    s = cr.tensor([5.0, 7.0], requires_grad=True)
    y = x + np.inf
    y.copy_(s)
    np.testing.assert_array_equal(y.data, [5.0, 7.0])
    y.sum().backward()
    np.testing.assert_array_equal(s.grad.data, [1.0, 1.0])


def test_a_tensor_changed_in_place_by_itself_has_the_right_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y *= y  # y = 9 x^2
    y += y  # y = 18 x^2
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [36.0, 72.0])
