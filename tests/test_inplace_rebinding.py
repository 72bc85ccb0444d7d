"""Augmented assignment inside a transform called as HIPS autograd is (NumPy in):
``t -= x`` rebinds, as autograd's does; with Tensors in, PyTorch's in-place rules stay."""

import importlib

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as cnp


def _program(m):
    """HIPS fluidsim's pattern: augmented assignment on a reshaped (view) value."""

    def f(p):
        rows = p.shape[0] // 2
        v = m.reshape(p * 2.0, (2, rows))
        v -= 0.5 * m.roll(v, 1, axis=1)
        v *= m.sum(p[:rows])
        v /= 3.0
        v += p[0]
        v **= 2
        return m.sum(v)

    return f


def _differences(f, x, eps=1e-6):
    out = np.zeros_like(x)
    for i in range(x.size):
        d = np.zeros_like(x)
        d[i] = eps
        out[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return out


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_augmented_assignment_on_a_view_rebinds_under_numpy_inputs(rows, seed):
    p = np.random.default_rng(seed).normal(size=2 * rows)
    got = cr.grad(_program(cnp))(p)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, autograd.grad(_program(anp))(p), rtol=1e-12)
    np.testing.assert_allclose(got, _differences(_program(np), p), rtol=1e-5, atol=1e-6)
    # the same program on NumPy alone, no transform: NumPy's in-place meaning, same value
    assert float(cr.value_and_grad(_program(cnp))(p)[0]) == pytest.approx(_program(np)(p.copy()))


def test_rebinding_the_differentiated_argument_matches_autograd():
    def f(x):
        y = x * 1.0
        y -= 1.0
        x += 2.0  # on the argument itself (autograd's boxes rebind too)
        return cnp.sum(y * y) + cnp.sum(x)

    def f_ag(x):
        y = x * 1.0
        y -= 1.0
        x += 2.0
        return anp.sum(y * y) + anp.sum(x)

    x = np.array([0.5, -1.0, 2.0])
    kept = x.copy()
    np.testing.assert_allclose(cr.grad(f)(x), autograd.grad(f_ag)(x), rtol=1e-12)
    np.testing.assert_allclose(cr.grad(f)(x), 2 * (x - 1) + 1, rtol=1e-12)
    np.testing.assert_array_equal(x, kept)  # the caller's array is not written


# Where NumPy's in-place meaning and autograd's rebinding give different numbers
# (the old value is read again), chainrule refuses; autograd silently returns its own.
def _alias(m):
    def f(x):
        a = x * 1.0
        b = a
        a += 1.0
        return m.sum(b * b)

    return f


def _base_read(m):
    def f(x):
        a = x * 1.0
        v = a[0:2]
        v -= 1.0
        return m.sum(a * a)

    return f


def _view_read(m):
    def f(x):
        a = x * 1.0
        v = a.reshape((1, -1)) if m is np else m.reshape(a, (1, -1))
        a *= 2.0
        return m.sum(v)

    return f


def _alias_returned(m):
    def f(x):
        a = x * 1.0
        b = a
        a **= 2
        return b

    return f


def _argument_read(m):
    def f(x):
        y = x
        x -= 1.0
        return m.sum(y)

    return f


@pytest.mark.parametrize(
    "program, reader",
    [
        (_alias, "mul"),
        (_base_read, "mul"),
        (_view_read, "sum"),
        (_argument_read, "sum"),
    ],
)
def test_reading_a_rebound_value_again_is_refused(program, reader):
    x = np.array([1.0, 2.0, 3.0])
    numpy_value = program(np)(x.copy())
    autograd_value = autograd.value_and_grad(program(anp))(x)[0]
    assert numpy_value != pytest.approx(autograd_value)  # the two meanings differ here
    for transform in (cr.grad, cr.value_and_grad, cr.hessian, cr.jacfwd):
        with pytest.raises(RuntimeError, match=f"^{reader}: reads a value that `t .= x` replaced"):
            transform(program(cnp))(x)


def test_returning_a_rebound_value_is_refused():
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(
        RuntimeError, match="^the function's result: reads a value that `t \\*\\*= x`"
    ):
        cr.jacobian(_alias_returned(cnp))(x)


def test_other_memory_of_the_same_array_may_be_read():
    def f(m):
        def g(x):
            a = x * 1.0
            v = a[0:2]
            w = a[2:3]  # does not overlap v: NumPy's and autograd's meanings agree
            v -= 1.0
            return m.sum(w * w) + m.sum(v * v)

        return g

    x = np.array([1.0, 2.0, 3.0])
    value, grad = cr.value_and_grad(f(cnp))(x)
    assert value == pytest.approx(f(np)(x.copy()))
    np.testing.assert_allclose(grad, autograd.grad(f(anp))(x), rtol=1e-12)


def test_repeated_rebinding_in_a_loop_matches_autograd():
    def f(m):
        def g(x):
            p = x * 1.0
            for _ in range(20):
                p *= 0.5
                p += m.sin(x)
            return m.sum(p**2)

        return g

    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(cr.grad(f(cnp))(x), autograd.grad(f(anp))(x), rtol=1e-12)
    np.testing.assert_allclose(cr.hessian(f(cnp))(x), autograd.hessian(f(anp))(x), rtol=1e-12)


def test_the_read_guard_is_gone_once_the_transform_returns():
    tensor = importlib.import_module("chainrule.tensor")
    x = np.array([1.0, 2.0])
    with pytest.raises(RuntimeError):
        cr.grad(_alias(cnp))(x)
    assert tensor._batcher is None  # no check left on every later operation
    cr.grad(lambda x: cnp.sum(x * x))(x)  # and nothing refused afterwards


def test_nested_transforms_keep_the_numpy_meaning():
    def f(x):
        v = cnp.reshape(x, (1, -1))
        v *= x[0]
        return cnp.sum(v**2)

    x = np.array([1.5, -0.5])
    h = cr.hessian(f)(x)
    expected = autograd.hessian(lambda x: anp.sum((anp.reshape(x, (1, -1)) * x[0]) ** 2))(x)
    np.testing.assert_allclose(h, expected, rtol=1e-12)


def test_with_tensor_inputs_pytorch_rules_stay():
    x = cr.tensor(np.arange(4.0), requires_grad=True)
    with pytest.raises(RuntimeError, match="shares its memory with another"):
        cr.grad(_program(cnp))(x)
    # in place on a computed (non-view) tensor: recorded, the tensor itself changes
    y = x * 2.0
    same = y
    y -= 1.0
    assert same is y
    np.testing.assert_allclose(same.detach().numpy(), 2 * np.arange(4.0) - 1)


def test_explicit_inplace_methods_keep_pytorch_meaning_under_numpy_inputs():
    def f(p):
        v = cnp.reshape(p * 2.0, (2, 2))
        v.sub_(1.0)  # an explicit in-place call on a view: refused, never silently rebound
        return cnp.sum(v)

    with pytest.raises(RuntimeError, match="shares its memory with another"):
        cr.grad(f)(np.ones(4))


def test_values_that_record_nothing_still_change_in_place():
    def f(x):
        buf = cnp.zeros(3)  # no gradient: NumPy's in-place write, seen through views
        view = buf[:2]
        view += 1.0
        return cnp.sum(x * buf)

    np.testing.assert_allclose(cr.grad(f)(np.ones(3)), [1.0, 1.0, 0.0])


def test_a_nested_transform_sees_what_the_enclosing_call_rebound():
    def f(x):
        a = x * 1.0
        b = a
        a -= 1.0
        inner = cr.grad(lambda y: cnp.sum(b * y))  # reads b, the old a, inside
        return inner(x)[0] + cnp.sum(a)

    def g(x):
        a = x * 1.0
        a -= 1.0
        inner = cr.grad(lambda y: cnp.sum(a * y * y))
        return cnp.sum(inner(x)) + cnp.sum(a)

    x = np.array([1.0, 2.0])
    with pytest.raises(RuntimeError, match="^mul: reads a value that `t -= x` replaced"):
        cr.grad(f)(x)
    # the new value is read freely, inside and out
    expected = autograd.grad(lambda x: anp.sum(2 * (x - 1.0) * x) + anp.sum(x - 1.0))(x)
    np.testing.assert_allclose(cr.grad(g)(x), expected, rtol=1e-12)


def test_another_thread_is_not_refused_while_one_has_rebound():
    import threading

    rebound = threading.Event()
    finished = threading.Event()
    results = {}

    def f(x):
        a = x * 1.0
        a -= 1.0
        rebound.set()
        finished.wait(30)  # the other thread computes while this call is open
        return cnp.sum(a * a)

    def other():
        rebound.wait(30)
        try:
            shared = cr.tensor([1.0, 2.0], requires_grad=True)
            results["grad"] = cr.grad(lambda x: cnp.sum(x * x))(np.array([1.0, 2.0]))
            results["backward"] = (shared * shared).sum()
        finally:
            finished.set()

    worker = threading.Thread(target=other)
    worker.start()
    value = cr.grad(f)(np.array([1.0, 2.0]))
    worker.join()
    np.testing.assert_allclose(value, 2 * (np.array([1.0, 2.0]) - 1.0))
    np.testing.assert_allclose(results["grad"], [2.0, 4.0])
    assert float(results["backward"].data) == 5.0
