"""``chainrule.extend``: autograd's primitive API, against autograd's own numbers.

The patterns are those of autograd's examples/define_gradient.py (a user's own
``logsumexp`` with a curried VJP written with the numpy namespace); each result
is compared with HIPS autograd running the same rule, and with finite differences.
"""

from __future__ import annotations

import re
from pathlib import Path

import autograd
import autograd.extend as ag_extend
import autograd.numpy as anp
import numpy as onp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.numpy as np
from chainrule.extend import (
    def_linear,
    defjvp,
    defjvp_argnum,
    defvjp,
    defvjp_argnum,
    notrace_primitive,
    primitive,
)
from chainrule.test_util import check_grads

FEW = settings(
    max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def values(x):
    """A transform's result as an array (a Tensor today; an array once results follow
    the input's kind)."""
    return x.detach().data if isinstance(x, cr.Tensor) else onp.asarray(x)


def declare_logsumexp(prim, defvjp_, nplib):
    """The define_gradient example, written once for either library."""

    @prim
    def logsumexp(x):
        """Numerically stable log(sum(exp(x)))."""
        max_x = nplib.max(x)
        return max_x + nplib.log(nplib.sum(nplib.exp(x - max_x)))

    def logsumexp_vjp(ans, x):
        x_shape = x.shape
        return lambda g: nplib.full(x_shape, g) * nplib.exp(x - nplib.full(x_shape, ans))

    defvjp_(logsumexp, logsumexp_vjp)
    return logsumexp


logsumexp = declare_logsumexp(primitive, defvjp, np)
ag_logsumexp = declare_logsumexp(ag_extend.primitive, ag_extend.defvjp, anp)


def example(lse, nplib):
    def example_func(y):
        z = y**2
        return nplib.sum(lse(z))

    return example_func


X = onp.random.RandomState(0).randn(10)


def test_define_gradient_example_gives_autogradsnumbers():
    ours = values(cr.grad(example(logsumexp, np))(X))
    theirs = autograd.grad(example(ag_logsumexp, anp))(X)
    onp.testing.assert_allclose(ours, theirs, rtol=1e-12)
    check_grads(example(logsumexp, np), modes=["rev"])(X)


def test_second_order_records_the_rules_own_operations():
    ours = values(cr.hessian(example(logsumexp, np))(X[:5]))
    theirs = autograd.hessian(example(ag_logsumexp, anp))(X[:5])
    onp.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    gg = cr.grad(lambda y: cr.grad(example(logsumexp, np))(y)[1])(X[:5])
    onp.testing.assert_allclose(values(gg), theirs[1], rtol=1e-10, atol=1e-12)
    check_grads(example(logsumexp, np), order=2)(X[:5])


def test_a_user_primitive_may_reuse_a_builtin_name():
    assert logsumexp.__name__ == "logsumexp" and logsumexp.__doc__.startswith("Numerically")
    builtin = cr.PRIMITIVES["logsumexp"]
    assert logsumexp._cr_primitive is not builtin
    t = cr.tensor(X, requires_grad=True)
    assert cr.logsumexp(t).grad_fn.prim is builtin
    assert logsumexp(t).grad_fn.prim is logsumexp._cr_primitive
    assert logsumexp(t).item() == pytest.approx(cr.logsumexp(t).item(), rel=1e-12)


def test_on_plain_values_a_primitive_is_the_function_itself():
    out = logsumexp(X)
    assert type(out) is type(ag_logsumexp(X))
    assert out == pytest.approx(ag_logsumexp(X), rel=1e-15)


def test_two_arguments_none_rule_and_argnums():
    @primitive
    def scaled(x, y):
        return x * y**2

    # Only y's rule, given by argnums; x gets none (autograd: zeros).
    defvjp(scaled, lambda ans, x, y: lambda g: g * 2 * x * y, argnums=(1,))
    x, y = onp.array([1.5, -2.0]), onp.array([0.5, 3.0])
    gy = cr.grad(lambda a, b: np.sum(scaled(a, b)), argnums=1)(x, y)
    onp.testing.assert_allclose(values(gy), 2 * x * y)
    with pytest.raises(NotImplementedError, match="VJP of scaled with respect to argument 0"):
        cr.grad(lambda a, b: np.sum(scaled(a, b)), argnums=0)(x, y)

    defvjp(scaled, None, lambda ans, x, y: lambda g: g * 2 * x * y)
    gx = cr.grad(lambda a, b: np.sum(scaled(a, b)), argnums=0)(x, y)
    onp.testing.assert_allclose(values(gx), onp.zeros(2))


def test_non_array_arguments_and_keywords_pass_through():
    @primitive
    def power_sum(x, p, axis=None, mode="sum"):
        assert isinstance(p, int) and mode == "sum"
        return onp.sum(x**p, axis=axis)

    defvjp(
        power_sum,
        lambda ans, x, p, axis=None, mode="sum": (
            lambda g: (g if axis is None else np.expand_dims(g, axis)) * p * x ** (p - 1)
        ),
    )
    a = onp.random.RandomState(1).randn(3, 4)

    def f(x, lib, fn):
        return lib.sum(fn(x, 3, axis=1, mode="sum") ** 2)

    ag_power_sum = ag_extend.primitive(power_sum.fun)
    ag_extend.defvjp(
        ag_power_sum,
        lambda ans, x, p, axis=None, mode="sum": (
            lambda g: (g if axis is None else anp.expand_dims(g, axis)) * p * x ** (p - 1)
        ),
    )
    ours = cr.grad(lambda x: f(x, np, power_sum))(a)
    onp.testing.assert_allclose(values(ours), autograd.grad(lambda x: f(x, anp, ag_power_sum))(a))


def test_defjvp_forward_mode_against_autograd():
    @primitive
    def sinmul(x, y):
        return onp.sin(x) * y

    defjvp(
        sinmul,
        lambda g, ans, x, y: g * np.cos(x) * y,
        lambda g, ans, x, y: np.sin(x) * g,
    )
    ag_sinmul = ag_extend.primitive(sinmul.fun)
    ag_extend.defjvp(
        ag_sinmul,
        lambda g, ans, x, y: g * anp.cos(x) * y,
        lambda g, ans, x, y: anp.sin(x) * g,
    )
    x, y, u = onp.array([0.3, 1.2]), onp.array([2.0, -1.0]), onp.array([1.0, 0.5])
    _, t = cr.jvp(lambda a: sinmul(a, y), (x,), (u,))
    _, t_ag = autograd.make_jvp(lambda a: ag_sinmul(a, y))(x)(u)
    onp.testing.assert_allclose(values(t), t_ag)
    _, t = cr.jvp(lambda b: sinmul(x, b), (y,), (u,))
    onp.testing.assert_allclose(values(t), onp.sin(x) * u)
    check_grads(lambda a: sinmul(a, y), modes=["fwd"])(x)


def test_forward_mode_from_the_vjp_rule_alone():
    # No defjvp: jvp/jacfwd/hessian use the VJP rule, transposed.
    @primitive
    def cube(x):
        return x**3

    defvjp(cube, lambda ans, x: lambda g: g * 3 * x**2)
    x = onp.array([0.5, -1.5, 2.0])
    _, t = cr.jvp(cube, (x,), (onp.ones(3),))
    onp.testing.assert_allclose(values(t), 3 * x**2)
    onp.testing.assert_allclose(values(cr.jacfwd(cube)(x)), onp.diag(3 * x**2))
    onp.testing.assert_allclose(
        values(cr.hessian(lambda a: np.sum(cube(a)))(x)), onp.diag(6 * x), atol=1e-12
    )
    check_grads(lambda a: cube(a) * a, modes=["fwd", "rev"], order=2)(x)


def test_same_and_def_linear_for_linear_functions():
    @primitive
    def double_first(x, y):
        return 2 * x + y

    defjvp(double_first, "same", "same")
    x, y = onp.array([1.0, 2.0]), onp.array([3.0, -1.0])
    _, t = cr.jvp(lambda a: double_first(a, y), (x,), (onp.array([1.0, 1.0]),))
    # "same" applies the function to the tangent in the argument's place (autograd's meaning).
    onp.testing.assert_allclose(values(t), 2 * onp.ones(2) + y)

    @primitive
    def scale(x, c):
        return x * c

    def_linear(scale)
    _, t = cr.jvp(lambda a: scale(a, 3.0), (x,), (onp.array([1.0, 2.0]),))
    onp.testing.assert_allclose(values(t), [3.0, 6.0])


def test_argnum_forms_for_a_variadic_function():
    @primitive
    def weighted(*xs):
        return sum(i * x for i, x in enumerate(xs, 1))

    defvjp_argnum(weighted, lambda argnum, ans, args, kwargs: lambda g: (argnum + 1) * g)
    defjvp_argnum(weighted, lambda argnum, g, ans, args, kwargs: (argnum + 1) * g)
    a, b, c = onp.array([1.0]), onp.array([2.0]), onp.array([3.0])
    grads = cr.grad(lambda p, q, r: np.sum(weighted(p, q, r)), argnums=(0, 1, 2))(a, b, c)
    assert [values(g).item() for g in grads] == [1.0, 2.0, 3.0]
    _, t = cr.jvp(lambda p, q: weighted(p, q, c), (a, b), (onp.ones(1), onp.ones(1)))
    assert values(t).item() == 3.0


def test_notrace_primitive_runs_on_values():
    seen = []

    @notrace_primitive
    def shape_of(x):
        seen.append(type(x))
        return x.shape

    cr.grad(lambda x: np.sum(x) * shape_of(x)[0])(onp.ones(4))
    assert seen == [onp.ndarray]
    assert shape_of(onp.ones((2, 3))) == (2, 3)


def test_refusals_name_what_and_why():
    @primitive
    def total(xs):
        return sum(onp.sum(x) for x in xs)

    t = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="inside a list, tuple or dict argument"):
        total([t, t])
    assert total([t.detach(), onp.ones(2)]) == 5.0  # constants inside are fine

    @primitive
    def with_kw(x, w=None):
        return x * w

    with pytest.raises(TypeError, match="keyword argument 'w'"):
        with_kw(onp.ones(2), w=t)

    @primitive
    def pair(x):
        return x, x

    defvjp(pair, lambda ans, x: lambda g: g)
    with pytest.raises(TypeError, match="returned a tuple"):
        pair(t)

    @primitive
    def undeclared(x):
        return x * 2

    with pytest.raises(NotImplementedError, match="VJP of undeclared.*defvjp"):
        cr.grad(lambda a: np.sum(undeclared(a)))(onp.ones(2))
    with pytest.raises(TypeError, match="not a primitive"):
        defvjp(np.sum, lambda ans, x: lambda g: g)


def test_tracer_classes_are_refused_with_a_reason():
    with pytest.raises(ImportError, match="no counterpart"):
        from chainrule.extend import Box  # noqa: F401


def test_user_primitive_under_jit():
    step = cr.jit(cr.grad(example(logsumexp, np)))
    for seed in range(3):
        x = onp.random.RandomState(seed).randn(6)
        onp.testing.assert_allclose(
            values(step(x)), autograd.grad(example(ag_logsumexp, anp))(x), rtol=1e-12
        )


def test_explain_shows_the_user_primitive_by_its_name_not_the_builtin_meaning():
    @primitive
    def exp(x):  # the user's own "exp": 2x
        return 2 * x

    defvjp(exp, lambda ans, x: lambda g: 2 * g)
    ex = cr.explain(lambda z: exp(z * 3.0), z=0.5)
    text = str(ex)
    assert "exp(f)" in text and "e^" not in text
    assert ex.gradients["z"] == pytest.approx(6.0)


@FEW
@given(
    hnp.arrays(
        onp.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
        elements=st.floats(-3, 3, allow_nan=False),
    )
)
def test_property_user_rule_matches_autograd_and_differences(x):
    ours = values(cr.grad(example(logsumexp, np))(x))
    theirs = autograd.grad(example(ag_logsumexp, anp))(x)
    onp.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    t = cr.tensor(x, requires_grad=True)
    assert cr.gradcheck(lambda a: logsumexp(a * a) * 1.0, (t,))


def test_reference_page_examples_run(capsys):
    page = Path(__file__).resolve().parent.parent / "docs" / "reference" / "extend.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 3
    for i, block in enumerate(blocks):
        exec(compile(block, f"extend.md block {i}", "exec"), {})
    assert "[4., 8.]" in capsys.readouterr().out  # the builtins example: 2 * 2a


def test_a_vjp_rule_that_escapes_the_recording_gives_no_derived_jvp():
    @primitive
    def double(x):
        return 2 * x

    # Raw NumPy on g: fine for reverse mode, opaque to the derived forward mode.
    defvjp(double, lambda ans, x: lambda g: onp.array(getattr(g, "data", g)) * 2)
    assert values(cr.grad(lambda a: np.sum(double(a)))(onp.ones(2))).tolist() == [2.0, 2.0]
    with pytest.raises(NotImplementedError, match="declare one with chainrule.extend.defjvp"):
        cr.jvp(double, (onp.ones(2),), (onp.ones(2),))
