"""cr.autograd.Function: PyTorch's custom functions, on chainrule's nodes and engine."""

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import Function, FunctionCtx
from chainrule.jit.tracer import JitError


def _legendre_class(base):
    """The PyTorch tutorial's function, declared on ``base`` (chainrule's or torch's)."""

    class LegendrePolynomial3(base):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input**3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input**2 - 1)

    return LegendrePolynomial3


LegendrePolynomial3 = _legendre_class(Function)


class Exp(Function):
    @staticmethod
    def forward(ctx, i):
        result = i.exp()
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, grad_output):
        (result,) = ctx.saved_tensors
        return grad_output * result


class ScaledPair(Function):
    """Two outputs, a non-tensor argument kept on ctx."""

    @staticmethod
    def forward(ctx, x, y, k):
        ctx.k = k
        ctx.save_for_backward(x, y)
        return x * y * k, x + y

    @staticmethod
    def backward(ctx, g_prod, g_sum):
        x, y = ctx.saved_tensors
        return g_prod * y * ctx.k + g_sum, g_prod * x * ctx.k + g_sum, None


class Sort(Function):
    """Sorted values and the (non-differentiable) permutation."""

    @staticmethod
    def forward(ctx, x):
        idx = cr.tensor(np.argsort(x.data))
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(idx)
        return x[idx], idx

    @staticmethod
    def backward(ctx, g, g_idx):
        (idx,) = ctx.saved_tensors
        grad = np.zeros(g.shape)
        grad[idx.data] = g.data
        return cr.tensor(grad)


class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * g * x


# ------------------------------------------------------------------- basics
def test_forward_backward_and_grad():
    x = cr.tensor([0.5, 1.0, 2.0], requires_grad=True)
    y = LegendrePolynomial3.apply(x)
    assert y.grad_fn.prim.name == "LegendrePolynomial3"
    np.testing.assert_allclose(y.data, 0.5 * (5 * x.data**3 - 3 * x.data))
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 1.5 * (5 * x.data**2 - 1))
    (g,) = cr.autograd.grad(LegendrePolynomial3.apply(x).sum(), x)
    np.testing.assert_allclose(g.data, 1.5 * (5 * x.data**2 - 1))


def test_exp_saves_its_output():
    x = cr.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    (Exp.apply(x) * cr.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.exp(x.data) * [1, 2, 3])


def test_two_outputs_and_a_non_tensor_argument():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([3.0, 4.0], requires_grad=True)
    prod, total = ScaledPair.apply(x, y, 2.0)
    np.testing.assert_allclose(prod.data, [6.0, 16.0])
    np.testing.assert_allclose(total.data, [4.0, 6.0])
    (prod.sum() + 3 * total.sum()).backward()
    np.testing.assert_allclose(x.grad.data, 2 * y.data + 3)
    np.testing.assert_allclose(y.grad.data, 2 * x.data + 3)
    # One output used: the other's gradient is zeros (materialized, as in PyTorch).
    (gx,) = cr.autograd.grad(ScaledPair.apply(x, y, 2.0)[0].sum(), x)
    np.testing.assert_allclose(gx.data, 2 * y.data)


def test_needs_input_grad_kwargs_and_materialize_grads():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, a, b, scale=1.0):
            seen["needs"] = ctx.needs_input_grad
            ctx.set_materialize_grads(False)
            ctx.scale = scale
            return a * b * scale, a - b

        @staticmethod
        def backward(ctx, g1, g2):
            seen["g2"] = g2
            return g1 * ctx.scale, None

    a = cr.tensor([1.0], requires_grad=True)
    out, _ = Probe.apply(a, cr.tensor([2.0]), scale=3.0)
    assert seen["needs"] == (True, False)
    out.sum().backward()
    assert seen["g2"] is None  # not materialized: the second output got no gradient
    np.testing.assert_allclose(a.grad.data, [3.0])
    with cr.no_grad():
        out, _ = Probe.apply(a, a)
    assert seen["needs"] == (False, False) and not out.requires_grad


def test_mark_non_differentiable_sort():
    x = cr.tensor([3.0, 1.0, 2.0], requires_grad=True)
    values, idx = Sort.apply(x)
    assert values.requires_grad and not idx.requires_grad
    np.testing.assert_array_equal(idx.data, [1, 2, 0])
    (values * cr.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 1.0, 2.0])


def test_pytorch2_setup_context_form():
    class MulConstant(Function):
        @staticmethod
        def forward(tensor, constant):
            return tensor * constant

        @staticmethod
        def setup_context(ctx, inputs, output):
            _, ctx.constant = inputs

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * ctx.constant, None

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    MulConstant.apply(x, 5.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, [5.0, 5.0])


def test_ctx_is_a_function_ctx_with_free_attributes():
    kept = []

    class Keep(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.constant = 3
            kept.append(ctx)
            return x * 3

        @staticmethod
        def backward(ctx, g):
            return g * ctx.constant

    x = cr.tensor(2.0, requires_grad=True)
    Keep.apply(x).backward()
    assert isinstance(kept[0], FunctionCtx) and x.grad.item() == 3.0


# ---------------------------------------------------- the same engine as built-ins
def test_hooks_and_retain_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    out = Square.apply(x)
    out.retain_grad()
    out.register_hook(lambda g: g * 10)
    out.sum().backward()
    np.testing.assert_allclose(out.grad.data, [10.0, 10.0])
    np.testing.assert_allclose(x.grad.data, 20 * x.data)


def test_saved_tensor_changed_in_place_is_detected():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    out = Square.apply(h)
    with cr.no_grad():
        h += 1
    with pytest.raises(RuntimeError, match="modified by an in-place operation") as info:
        out.sum().backward()
    assert "'Square'" in str(info.value)


def test_output_changed_in_place_is_detected():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    out = Exp.apply(x)
    with cr.no_grad():
        out += 1
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        out.sum().backward()


def test_released_graph_is_the_engines_error():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    out = Square.apply(x).sum()
    out.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        out.backward()


def test_graph_and_explain_show_one_node_named_after_the_class():
    x = cr.tensor([0.5, 1.0], requires_grad=True)
    dot = cr.graph(LegendrePolynomial3.apply(x).sum())
    assert dot.count("LegendrePolynomial3") == 1
    text = str(cr.explain(lambda x: cr.exp(LegendrePolynomial3.apply(x)), x=0.7))
    assert "LegendrePolynomial3(x)" in text  # one node, its ctx not shown
    assert "_ctx" not in text
    assert "✓ backpropagation agrees" in text


def test_gradcheck_float64():
    x = cr.tensor(np.linspace(-1.0, 1.0, 5), requires_grad=True)
    y = cr.tensor(np.linspace(0.5, 2.0, 5), requires_grad=True)
    assert cr.gradcheck(lambda t: LegendrePolynomial3.apply(t), [x])
    assert cr.gradcheck(lambda a, b: ScaledPair.apply(a, b, 1.5)[0] * 2, [x, y])
    assert cr.gradcheck(lambda a, b: sum(o.sum() for o in ScaledPair.apply(a, b, 0.5)), [x, y])


def test_double_backward_through_a_saved_output():
    x = cr.tensor([0.3, 1.2], requires_grad=True)
    (g,) = cr.autograd.grad(Exp.apply(x).sum(), x, create_graph=True)
    (g2,) = cr.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g2.data, np.exp(x.data))


# ------------------------------------------------------------------- errors
class _OneArg(Function):
    @staticmethod
    def forward(ctx, x, k):
        return x * k

    @staticmethod
    def backward(ctx, g):
        return g, None


_WRONG_COUNT = r"_OneArg.backward returned an incorrect number of gradients \(expected 2, got 1\)"
_NOT_A_TENSOR = r"_OneArg.backward returned a gradient different than None at position 1"
_SHAPE = r"_OneArg.backward returned a gradient of shape {} for forward argument 0, which has"


@pytest.mark.parametrize(
    ("backward", "message"),
    [
        (lambda ctx, g: g, _WRONG_COUNT),
        (lambda ctx, g: (g, g), _NOT_A_TENSOR),
        (lambda ctx, g: (g.sum(), None), _SHAPE.format(r"\(\)")),
        (lambda ctx, g: (cr.ones((3, 2)), None), _SHAPE.format(r"\(3, 2\)")),
    ],
)
def test_backward_errors_name_the_function(monkeypatch, backward, message):
    monkeypatch.setattr(_OneArg, "backward", staticmethod(backward))
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=message):
        _OneArg.apply(x, 3).sum().backward()
    assert x.grad is None  # nothing half-accumulated


def test_extra_none_gradients_are_accepted(monkeypatch):
    monkeypatch.setattr(_OneArg, "backward", staticmethod(lambda ctx, g: (g * 3, None, None)))
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    _OneArg.apply(x, 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 3.0])


def test_non_static_forward_is_refused():
    class NotStatic(Function):
        def forward(ctx, x):  # missing @staticmethod
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="NotStatic.forward must be a @staticmethod"):
        NotStatic.apply(cr.tensor(1.0, requires_grad=True))
    with pytest.raises(RuntimeError, match="call NotStatic.apply"):
        NotStatic()(cr.tensor(1.0))


def test_missing_backward_is_one_clear_error():
    class NoBackward(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

    x = cr.tensor(1.0, requires_grad=True)
    with pytest.raises(NotImplementedError, match="NoBackward: backward not implemented"):
        NoBackward.apply(x).backward()


def test_save_for_backward_takes_tensors():
    class SavesNumber(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(3)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match=r"ctx.value = \.\.\."):
        SavesNumber.apply(cr.tensor(1.0, requires_grad=True))


def test_names_do_not_enter_the_primitive_table():
    class exp(Function):  # noqa: N801 - the name of a built-in, on purpose
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = cr.tensor(1.0, requires_grad=True)
    exp.apply(x).backward()
    assert x.grad.item() == 2.0
    assert cr.PRIMITIVES["exp"] is cr.exp(x).grad_fn.prim
    assert cr.PRIMITIVES["exp"] is not exp.apply(x).grad_fn.prim


# ------------------------------------------------------ forward mode and jit
def test_forward_mode_without_jvp_is_one_clear_error():
    with pytest.raises(NotImplementedError, match="Square: jvp not implemented"):
        cr.jvp(Square.apply, (cr.tensor([1.0, 2.0]),), (cr.tensor([1.0, 1.0]),))


def test_forward_mode_with_jvp():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            ctx.save_for_forward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * g * x**2

        @staticmethod
        def jvp(ctx, t):
            (x,) = ctx.saved_tensors
            return 3 * t * x**2

    x = cr.tensor([1.0, 2.0])
    value, tangent = cr.jvp(Cube.apply, (x,), (cr.tensor([1.0, 0.5]),))
    np.testing.assert_allclose(value.data, [1.0, 8.0])
    np.testing.assert_allclose(tangent.data, [3.0, 6.0])
    np.testing.assert_allclose(cr.jacfwd(Cube.apply)(x).data, np.diag([3.0, 12.0]))


def test_jit_refuses_with_one_line():
    f = cr.jit(lambda t: Square.apply(t).sum())
    with pytest.raises(JitError, match="custom Function Square .* cannot be compiled") as info:
        f(cr.tensor([1.0, 2.0]))
    assert "\n" not in str(info.value)


# ------------------------------------------------- number for number with torch
def _fit(lib, legendre, steps=300):
    """The tutorial's training loop: y = a + b * P3(c + d * x) fitted to sin."""
    dtype = lib.float64
    x = lib.tensor(np.linspace(-math.pi, math.pi, 2000), dtype=dtype)
    y = lib.sin(x)
    a = lib.tensor(0.0, dtype=dtype, requires_grad=True)
    b = lib.tensor(-1.0, dtype=dtype, requires_grad=True)
    c = lib.tensor(0.0, dtype=dtype, requires_grad=True)
    d = lib.tensor(0.3, dtype=dtype, requires_grad=True)
    learning_rate = 5e-6
    losses = []
    for _ in range(steps):
        y_pred = a + b * legendre.apply(c + d * x)
        loss = ((y_pred - y) ** 2).sum()
        losses.append(loss.item())
        loss.backward()
        with lib.no_grad():
            for p in (a, b, c, d):
                p -= learning_rate * p.grad
                p.grad = None
    return losses, [p.item() for p in (a, b, c, d)]


def test_legendre_training_loop_matches_torch():
    torch = pytest.importorskip("torch")
    ours = _fit(cr, LegendrePolynomial3)
    theirs = _fit(torch, _legendre_class(torch.autograd.Function))
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10, atol=1e-13)
    assert ours[0][-1] < ours[0][0] / 4  # it learns


def test_double_backward_matches_torch():
    torch = pytest.importorskip("torch")
    values = np.array([-0.7, 0.2, 1.3])
    results = []
    for lib, legendre in (
        (cr, LegendrePolynomial3),
        (torch, _legendre_class(torch.autograd.Function)),
    ):
        x = lib.tensor(values, requires_grad=True)
        (g,) = lib.autograd.grad(legendre.apply(x * x).sum(), x, create_graph=True)
        (g2,) = lib.autograd.grad((g * g).sum(), x)
        results.append((g.detach().numpy(), g2.detach().numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)


def test_two_outputs_match_torch():
    torch = pytest.importorskip("torch")

    def run(lib, base):
        class Pair(base):
            @staticmethod
            def forward(ctx, x, y, k):
                ctx.k = k
                ctx.save_for_backward(x, y)
                return x * y * k, x + y

            @staticmethod
            def backward(ctx, g_prod, g_sum):
                x, y = ctx.saved_tensors
                return g_prod * y * ctx.k + g_sum, g_prod * x * ctx.k + g_sum, None

        x = lib.tensor([1.0, -2.0, 0.5], dtype=lib.float64, requires_grad=True)
        y = lib.tensor([3.0, 4.0, -1.0], dtype=lib.float64, requires_grad=True)
        p, s = Pair.apply(x, y, 2.5)
        ((p * s).sum() + (s**2).sum()).backward()
        return x.grad.numpy(), y.grad.numpy()

    ours, theirs = run(cr, Function), run(torch, torch.autograd.Function)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12)


def test_once_differentiable():
    from chainrule.autograd.function import once_differentiable

    class NumpyCube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return cr.tensor(3 * g.numpy() * x.numpy() ** 2)

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    NumpyCube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 12.0])
    (g,) = cr.autograd.grad(NumpyCube.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, [3.0, 12.0])
    with pytest.raises(RuntimeError, match="differentiate twice .* @once_differentiable"):
        cr.autograd.grad(g.sum(), x)


def test_pytorch_module_paths():
    assert cr.autograd.function.FunctionCtx is FunctionCtx
    assert cr.autograd.Function is Function
    assert callable(cr.autograd.grad)
