"""cr.explain stays bounded, says clearly what it refuses, and keeps one convention:
the SymPy budget, the order cap, reserved names, constants, non-finite checks."""

import math
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule.commands.sigmoid import sigmoid_chain_report


def sigma(z):
    return 1 / (1 + math.exp(-z))


# ------------------------------------------------------------------ the SymPy budget
def test_a_symbolic_step_past_its_budget_is_skipped_and_the_rest_is_printed():
    pytest.importorskip("sympy")
    # 9^(9^(9^9)) exactly: SymPy ran over 300 s on it; 0.5 s is certain to pass
    start = time.monotonic()
    ex = cr.explain("x^x^x^x", x=9, symbolic_timeout=0.5)
    text = str(ex)
    assert time.monotonic() - start < 60  # bounded (generous: the machine may be busy)
    assert "symbolic form skipped: took longer than 0.5 s" in text
    assert "The chain rule" in text and "∂h/∂x" in text  # the numeric chain is still there
    assert "Check" in text
    assert ex.symbolic.ok is False and ex.symbolic.reason == "timeout"
    assert ex.to_dict()["symbolic"] is None


def _answer_then_hang(n):
    yield n
    time.sleep(120)


def test_a_timeout_keeps_the_last_partial_answer():
    from chainrule.explain import budget

    status, answer = budget.call_with_timeout(_answer_then_hang, 7, 0.5)
    assert (status, answer) == ("timeout", 7)


def test_the_budget_is_configurable(monkeypatch):
    from chainrule.explain import budget

    monkeypatch.delenv(budget.ENV_VAR, raising=False)
    assert budget.resolve_timeout() == budget.DEFAULT_TIMEOUT
    monkeypatch.setenv(budget.ENV_VAR, "2.5")
    assert budget.resolve_timeout() == 2.5
    assert budget.resolve_timeout(1) == 1.0  # the keyword wins
    assert budget.resolve_timeout("inf") == math.inf
    for bad in (0, -1, "soon", float("nan")):
        with pytest.raises(cr.ExplainError, match="symbolic_timeout"):
            budget.resolve_timeout(bad)
    with pytest.raises(cr.ExplainError, match="symbolic_timeout"):
        cr.explain("x", x=1.0, symbolic_timeout=0)


def test_without_a_limit_sympy_runs_in_this_process():
    pytest.importorskip("sympy")
    ex = cr.explain("1/(1+exp(-z))", z=0.5, symbolic_timeout=math.inf)
    assert ex.symbolic.ok and ex.symbolic.derivatives["z"].value == pytest.approx(0.2350037122)


def test_an_exception_without_a_message_is_still_named():
    from chainrule.explain import symbolic

    assert symbolic._describe(RecursionError()) == "RecursionError"
    assert symbolic._describe(ValueError("bad")) == "ValueError: bad"


# -------------------------------------------------------------------------- orders
def test_order_is_capped_with_one_line():
    with pytest.raises(cr.ExplainError, match="highest explained, 6"):
        cr.explain("x*x", x=1.0, order=20)
    ex = cr.explain("1/(1+exp(-z))", z=0.5, order=6)
    assert len(ex.nodes) == 468


def test_a_derivative_graph_past_the_node_limit_is_refused(monkeypatch):
    from chainrule.explain import orders

    monkeypatch.setattr(orders, "MAX_GRAPH_NODES", 30)
    # the seed's graphs have 4, 7, 17, 48 nodes at orders 1 to 4
    assert len(cr.explain("1/(1+exp(-z))", z=0.5, order=3).nodes) == 17
    with pytest.raises(cr.ExplainError, match="order-4 derivative's graph has 48 nodes"):
        cr.explain("1/(1+exp(-z))", z=0.5, order=4)


def test_a_derivative_node_shows_its_product_sign():
    text = str(cr.explain("1/(1+exp(-z))", z=0.5, order=2))
    assert "i = 1h" not in text and "i = h·h" in text
    assert "= 1·x" in str(cr.explain("x*x", x=2.0, order=2))


# ------------------------------------------------------------------ reserved names
@pytest.mark.parametrize("name", ["order", "wrt"])
def test_a_variable_named_like_a_parameter(name):
    with pytest.raises(ValueError, match=f"pass the values in a dict.*'{name}'"):
        cr.explain(f"{name}*2", **{name: 1.0})
    ex = cr.explain(f"{name}*2", {name: 1.5})
    assert ex.gradients == {name: 2.0} and ex.value == 3.0


def test_a_function_with_a_parameter_named_order():
    def f(order):
        return order * order

    with pytest.raises(ValueError, match=r"pass the values in a dict: explain\(fn, \{'order'"):
        cr.explain(f, order=3.0)
    assert cr.explain(f, {"order": 3.0}).gradients["order"] == 6.0

    def g(x, order=2):  # a parameter with a default is no clash
        return x**order

    assert cr.explain(g, x=3.0).gradients["x"] == 6.0
    with pytest.raises(cr.ExplainError, match="given twice"):
        cr.explain("x", {"x": 1.0}, x=2.0)


# ---------------------------------------------------------------------- bad values
def test_shapes_that_do_not_broadcast():
    with pytest.raises(cr.ExplainError, match=r"cannot evaluate.*\(2,\).*\(3,\)") as info:
        cr.explain("x+y", x=[1.0, 2.0], y=[1.0, 2.0, 3.0])
    assert "\n" not in str(info.value)


def test_a_value_too_large_for_float64():
    with pytest.raises(ValueError, match="too large for a float64"):
        cr.explain("x", x=10**401)


def test_a_function_that_names_its_nodes():
    def fn(x):
        y = cr.name(x * x, "y")
        return cr.sin(y)

    ex = cr.explain(fn, x=0.5)
    assert [s.name for s in ex.nodes] == ["y", "f"]
    assert ex.gradients["x"] == pytest.approx(2 * 0.5 * math.cos(0.25))
    assert ex.check.ok and ex.check.checked == 1


# ---------------------------------------------------------------------------- check
@pytest.mark.parametrize("x", [math.inf, 1e308])
def test_a_non_finite_check_is_not_comparable(x):
    ex = cr.explain("x*x", x=x)
    text = str(ex)
    assert "not comparable: non-finite" in text
    assert "DISAGREES" not in text and "0.0e+00" not in text
    assert ex.check.not_comparable == 1 and not ex.check.ok
    assert ex.to_dict()["check"]["not_comparable"] == 1


@pytest.mark.parametrize(
    "render, marked",
    [
        (str, "  ? not comparable"),
        (lambda ex: ex.to_markdown(), "**Check**: ? not comparable"),
        (lambda ex: ex.to_latex(), "% Check: ? not comparable"),
        (lambda ex: ex.to_html(), '<p class="check unknown">? not comparable'),
    ],
    ids=["text", "markdown", "latex", "html"],
)
def test_a_check_that_measured_nothing_is_marked_neither_passed_nor_failed(render, marked):
    out = render(cr.explain("x*x", x=math.inf))
    assert marked in out
    assert "✗" not in out and "✓" not in out and 'class="check bad"' not in out


def test_a_finite_difference_against_an_infinite_gradient_disagrees():
    from chainrule.explain.check import finite_difference_check

    def forward(env):
        return env["x"] * 2.0

    x = np.array(1.0)
    c = finite_difference_check(forward, {"x": x}, {"x": np.array(np.inf)})
    assert not c.ok and c.max_abs_error == math.inf and c.not_comparable == 0
    c = finite_difference_check(forward, {"x": x}, {"x": np.array(2.0)})
    assert c.ok and c.comparable


# ------------------------------------------------------------------------ constants
def test_e_and_pi_are_constants():
    ex = cr.explain("1/(1+e^-z)", z=0.5)
    assert ex.gradients["z"] == pytest.approx(sigma(0.5) * (1 - sigma(0.5)))
    assert ex.title == "1/(1 + e^-z)"
    assert "log(e)" not in str(ex)
    ex = cr.explain("pi*x^2", x=2.0)
    assert ex.gradients["x"] == pytest.approx(4 * math.pi)
    assert "π" in ex.title and r"\pi" in ex.to_latex()
    with pytest.raises(cr.ExplainError, match="'e' is the constant"):
        cr.explain("e*x", e=2.0, x=1.0)
    with pytest.raises(cr.ExplainError, match="'pi' is the constant"):
        cr.explain("x", pi=3.0, x=1.0)


# ---------------------------------------------------------------- one convention
def test_relu_at_zero_has_one_derivative_everywhere():
    pytest.importorskip("sympy")
    ex = cr.explain("relu(x)", x=0.0)
    assert ex.gradients["x"] == 0.0
    assert ex.symbolic.derivatives["x"].value == 0.0  # SymPy's Heaviside(0) would say 0.5
    ex = cr.explain("relu(x)*x", x=0.0)
    assert ex.symbolic.derivatives["x"].value == ex.gradients["x"]
    assert cr.explain("relu(x)", x=1.5).symbolic.derivatives["x"].value == 1.0


def test_max_at_a_tie_has_one_derivative_everywhere():
    pytest.importorskip("sympy")
    ex = cr.explain("max(x, y)", x=1.0, y=1.0)
    # the table's maximum splits a tie evenly, and so does Heaviside(0) = 1/2
    assert ex.gradients == {"x": 0.5, "y": 0.5}
    assert {n: d.value for n, d in ex.symbolic.derivatives.items()} == ex.gradients
    assert [loc.value for loc in ex.step("f").locals] == [0.5, 0.5]


# ------------------------------------------------------------------------- display
def test_a_constant_expression_has_no_empty_point():
    ex = cr.explain("2*3")
    assert str(ex).splitlines()[0] == "Explain 2·3"
    assert "(at )" not in ex.to_markdown()


def test_the_sigmoid_report_has_no_negative_zero():
    for z in (0.0, -0.0):
        report = sigmoid_chain_report(z)
        assert "-0.000000" not in report and "at z = -0" not in report
        assert np.isclose(float(report.split("backprop  : ")[1].split()[0]), 0.25)
