"""Anomaly detection: the first inf or NaN is reported where it is born."""

import inspect
import sys
import threading
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import anomaly


def _line() -> int:
    """The caller's line number."""
    return inspect.currentframe().f_back.f_lineno


@pytest.fixture(autouse=True)
def quiet_numpy():
    # The forwards below divide by zero on purpose.
    with np.errstate(all="ignore"):
        yield


def _plain_factories_installed() -> bool:
    tensor_module = sys.modules["chainrule.tensor"]
    engine = sys.modules["chainrule.autograd.engine"]
    return (
        tensor_module.new_node.__name__ == "new_node" and engine._propagate.__name__ == "_propagate"
    )


def test_backward_sqrt_at_zero_names_line_formula_and_values():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with cr.autograd.detect_anomaly():
        y, line = cr.sqrt(x - x), _line()
        with pytest.raises(cr.AnomalyError) as info:
            y.sum().backward()
    message = str(info.value)
    assert message.startswith(f"sqrt at test_anomaly.py:{line}: the gradient for its input x")
    assert "y, line = cr.sqrt(x - x), _line()" in message  # the line's text
    assert "local derivative 1/(2*sqrt(x)) = inf at x = 0; upstream 1; 1 · inf = inf" in message
    assert "index (0,), the first of 3 non-finite elements of 3" in message
    assert len(message.splitlines()) <= 5
    assert isinstance(info.value, RuntimeError)


def test_zero_times_inf_is_reported_as_nan():
    x = cr.tensor([0.0, 4.0], requires_grad=True)
    with cr.autograd.detect_anomaly():
        y, line = x**0.5, _line()
        with pytest.raises(cr.AnomalyError) as info:
            (y * 0).sum().backward()
    message = str(info.value)
    assert message.startswith(f"pow at test_anomaly.py:{line}:")
    assert "is nan" in message
    assert "local derivative y*x^(y-1) = inf at x = 0, y = 0.5; upstream 0; 0 · inf = nan" in (
        message
    )


def test_forward_infinity_from_finite_inputs_raises():
    # log(0) = -inf is the right value, but in a computation to be differentiated it
    # is where trouble starts: a non-finite forward value from finite inputs raises.
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.autograd.detect_anomaly(), pytest.raises(cr.AnomalyError) as info:
        line = _line() + 1
        cr.log(0 * x)
    message = str(info.value)
    assert message.startswith(f"log at test_anomaly.py:{line}: the forward value is -inf")
    assert "log(x = 0) = -inf" in message


def test_division_by_zero_raises_at_forward():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.autograd.detect_anomaly(), pytest.raises(cr.AnomalyError) as info:
        line = _line() + 1
        x / 0
    assert str(info.value).startswith(f"div at test_anomaly.py:{line}: the forward value is inf")
    assert "div(x = 1, y = 0) = inf" in str(info.value)


def test_nan_from_log_of_negative_names_first_bad_element():
    x = cr.tensor([3.0, 1.0, -1.0], requires_grad=True)
    with cr.autograd.detect_anomaly(), pytest.raises(cr.AnomalyError) as info:
        line = _line() + 1
        cr.log(x - 2)
    message = str(info.value)
    assert message.startswith(f"log at test_anomaly.py:{line}: the forward value is nan")
    assert "log(x = -1) = nan (at index (1,), the first of 2 non-finite elements of 3)" in message


def test_non_finite_inputs_are_not_blamed():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.autograd.detect_anomaly():
        y = x * np.array([np.inf, 1.0])  # the inf comes from a constant: not this op's doing
        assert not np.isfinite(y.data).all()


@cr.primitive(name="test_anomaly_bad_rule")
def bad_rule(x):
    return x * 2.0


# The rule is wrong below 2: sqrt of a negative number.
bad_rule.defvjp(lambda g, ans, x: g * np.sqrt(x - 2.0))


def test_nan_born_in_a_custom_primitive_rule_names_it():
    x = cr.tensor(1.0, dtype="float64", requires_grad=True)
    with cr.autograd.detect_anomaly():
        y, line = bad_rule(x), _line()
        with pytest.raises(cr.AnomalyError) as info:
            (y * 3).backward()
    message = str(info.value)
    assert message.startswith(f"test_anomaly_bad_rule at test_anomaly.py:{line}:")
    assert "local derivative = nan at x = 1; upstream 3; 3 · nan = nan" in message


class Reciprocal(cr.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 1 / x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g / (x * x)


class BadBackward(cr.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (x - x)  # wrong: should be 2 * g


def test_autograd_function_forward_and_backward():
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with cr.autograd.detect_anomaly():
        with pytest.raises(cr.AnomalyError) as info:
            line = _line() + 1
            Reciprocal.apply(x)
        assert str(info.value).startswith(f"Reciprocal at test_anomaly.py:{line}: the forward")
        z = cr.tensor([0.0, 1.0], requires_grad=True)
        (Reciprocal.apply(z + 1) * cr.tensor([0.0, 1.0])).sum().backward()  # all finite
        np.testing.assert_allclose(z.grad.data, [0.0, -0.25])
        y, line = BadBackward.apply(z), _line()
        with pytest.raises(cr.AnomalyError) as info:
            y.sum().backward()
    message = str(info.value)
    assert message.startswith(f"BadBackward at test_anomaly.py:{line}: the gradient for its")
    assert "the vjp rule gave inf at x[0] = 0 from upstream 1" in message


def test_decorator_form_and_restored_after_exception():
    @cr.autograd.detect_anomaly()
    def step(x):
        assert cr.autograd.is_anomaly_enabled()
        cr.sqrt(x - x).sum().backward()

    with pytest.raises(cr.AnomalyError):
        step(cr.tensor([1.0], requires_grad=True))
    assert not cr.autograd.is_anomaly_enabled()
    assert _plain_factories_installed()


def test_set_detect_anomaly():
    assert not cr.autograd.is_anomaly_enabled()
    cr.autograd.set_detect_anomaly(True)
    try:
        assert cr.autograd.is_anomaly_enabled()
        with cr.autograd.set_detect_anomaly(False):
            assert not cr.autograd.is_anomaly_enabled()
        assert cr.autograd.is_anomaly_enabled()
    finally:
        cr.autograd.set_detect_anomaly(False)
    assert not cr.autograd.is_anomaly_enabled()
    assert _plain_factories_installed()


def test_off_by_default_the_nan_just_appears():
    assert not cr.autograd.is_anomaly_enabled()
    assert cr.autograd.AnomalyError is cr.AnomalyError
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    cr.sqrt(x - x).sum().backward()  # inf - inf at the leaf, as in PyTorch
    assert np.isnan(x.grad.data).all()
    assert cr.log(0 * x).data[0] == -np.inf


def test_mode_belongs_to_the_thread():
    seen = {}

    def worker():
        np.seterr(all="ignore")  # this thread's own NumPy error state
        seen["enabled"] = cr.autograd.is_anomaly_enabled()
        x = cr.tensor([1.0], requires_grad=True)
        cr.sqrt(x - x).sum().backward()  # not checked in this thread
        seen["grad"] = x.grad.data[0]
        with cr.autograd.detect_anomaly():
            try:
                cr.log(x - 1)
            except cr.AnomalyError:
                seen["raised"] = True

    with cr.autograd.detect_anomaly():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert cr.autograd.is_anomaly_enabled()  # the worker's exit left this one on
    assert seen == {"enabled": False, "grad": seen["grad"], "raised": True}
    assert np.isnan(seen["grad"])
    assert _plain_factories_installed()


def test_create_graph_and_autograd_grad():
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with cr.autograd.detect_anomaly():
        y, line = cr.sqrt(x), _line()
        with pytest.raises(cr.AnomalyError) as info:
            cr.autograd.grad(y.sum(), x, create_graph=True)
        assert str(info.value).startswith(f"sqrt at test_anomaly.py:{line}:")
        # Higher order, all finite: d2/dx2 x^3 = 6x.
        z = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
        (g,) = cr.autograd.grad((z**3).sum(), z, create_graph=True)
        (h,) = cr.autograd.grad(g.sum(), z)
    np.testing.assert_allclose(h.data, [6.0, 12.0])


def test_nodes_recorded_under_the_mode_remember_their_line():
    x = cr.tensor(2.0, requires_grad=True)
    with cr.autograd.detect_anomaly():
        y, line = cr.exp(x), _line()
    assert y._node.extra["anomaly_site"] == (__file__, line)
    z = cr.exp(x)
    assert z._node.extra is None  # off: nothing recorded


def test_jit_says_compiled_code_is_not_checked():
    f = cr.jit(lambda t: cr.sqrt(t))
    a = cr.tensor([1.0, 4.0])
    for k in range(3):
        f(a + k)
    with cr.autograd.detect_anomaly():
        with pytest.warns(RuntimeWarning, match="does not apply to compiled code"):
            f(a)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            f(a)  # once per function
    assert anomaly._users == 0
