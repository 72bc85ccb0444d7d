"""Custom autograd.Functions and DDP's grad_sync inside cr.vmap (torch.func's rules:
generate_vmap_rule or a vmap staticmethod): values, vmap(grad) and vmap(jvp) equal
loops over the examples; what is missing says so."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr

rng = np.random.default_rng(0)
XS = rng.standard_normal((4, 3))
YS = rng.standard_normal((4, 3))


class Cube(cr.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x**2

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * 3 * x**2


class SinCos(cr.autograd.Function):
    """Two differentiable outputs (the function_output selector), setup_context form."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, y):
        return cr.sin(x) * y, cr.cos(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, ga, gb):
        x, y = ctx.saved_tensors
        return ga * cr.cos(x) * y - gb * cr.sin(x), ga * cr.sin(x)


def _values(v):
    return v.numpy() if isinstance(v, cr.Tensor) else np.asarray(v)


class NumpyMul(cr.autograd.Function):
    """NumPy inside: vmap cannot see into it, so it says how to batch it."""

    @staticmethod
    def forward(x, y):
        return cr.tensor(_values(x) * _values(y))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return NumpyMul.apply(g, y), NumpyMul.apply(g, x)

    @staticmethod
    def vmap(info, in_dims, x, y):
        assert info.batch_size == 4
        # The batch is axis 0 of a batched argument; a shared one broadcasts as it is.
        x = x if in_dims[0] is not None else x[None]
        y = y if in_dims[1] is not None else y[None]
        return NumpyMul.apply(x, y), 0


def _loop(fn, *arrays):
    return np.stack([np.asarray(fn(*(a[b] for a in arrays))) for b in range(len(arrays[0]))])


def test_generate_vmap_rule_values_gradients_and_jvps():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        np.testing.assert_allclose(cr.vmap(Cube.apply)(XS), XS**3)
        per_example = cr.vmap(cr.grad(lambda x: cr.sum(cr.sin(Cube.apply(x)))))(XS)
        np.testing.assert_allclose(
            per_example, _loop(cr.grad(lambda x: cr.sum(cr.sin(Cube.apply(x)))), XS)
        )
        tangents = rng.standard_normal(XS.shape)
        got = cr.vmap(lambda x, t: cr.jvp(Cube.apply, (x,), (t,))[1])(XS, tangents)
        np.testing.assert_allclose(got, 3 * XS**2 * tangents)


def test_several_outputs_select_their_part_of_the_batch():
    def f(x, y):
        a, b = SinCos.apply(x, y)
        return cr.sum(a * b + b)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = cr.vmap(lambda x, y: SinCos.apply(x, y)[1])(XS, YS)
        np.testing.assert_allclose(got, np.cos(XS))
        grads = cr.vmap(cr.grad(f, (0, 1)))(XS, YS)
    for b in range(4):
        one = cr.grad(f, (0, 1))(XS[b], YS[b])
        np.testing.assert_allclose(grads[0][b], one[0], rtol=1e-12)
        np.testing.assert_allclose(grads[1][b], one[1], rtol=1e-12)


@pytest.mark.parametrize("axes", [(0, 0), (0, None), (None, 0)])
def test_a_vmap_staticmethod_batches_numpy_code(axes):
    xs = cr.tensor(XS if axes[0] is not None else XS[0])
    ys = cr.tensor(YS if axes[1] is not None else YS[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = cr.vmap(NumpyMul.apply, in_axes=axes)(xs, ys)
        np.testing.assert_allclose(got.numpy(), np.broadcast_to((xs * ys).numpy(), (4, 3)))

        def loss(x, y):
            return cr.sum(cr.tanh(NumpyMul.apply(x, y)))

        grads = cr.vmap(cr.grad(loss, (0, 1)), in_axes=axes)(xs, ys)
    for b in range(4):
        one = cr.grad(loss, (0, 1))(
            XS[b] if axes[0] is not None else xs, YS[b] if axes[1] is not None else ys
        )
        np.testing.assert_allclose(grads[0][b], one[0], rtol=1e-12)
        np.testing.assert_allclose(grads[1][b], one[1], rtol=1e-12)


def test_once_differentiable_backward_inside_vmap():
    class Square(cr.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @cr.autograd.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * g * x

    def f(x):
        return cr.sum(Square.apply(x))

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        np.testing.assert_allclose(cr.vmap(cr.grad(f))(XS), 2 * XS)
    with pytest.raises(RuntimeError, match="differentiate twice a Function"):
        cr.vmap(cr.grad(lambda x: cr.sum(cr.grad(f)(x))))(XS)


def test_a_function_that_does_not_say_how_to_batch_is_refused():
    class Plain(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    with pytest.raises(RuntimeError, match="Plain: to use this Function inside cr.vmap"):
        cr.vmap(Plain.apply)(XS)

    class Both(NumpyMul):
        generate_vmap_rule = True

    with pytest.raises(RuntimeError, match="Both: generate_vmap_rule=True and a vmap"):
        cr.vmap(Both.apply)(XS, YS)

    class CtxForm(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

        @staticmethod
        def vmap(info, in_dims, x):
            return CtxForm.apply(x), 0

    with pytest.raises(RuntimeError, match="CtxForm: a vmap staticmethod needs the setup_context"):
        cr.vmap(CtxForm.apply)(XS)


def test_grad_sync_is_the_identity_on_a_batch():
    from chainrule.distributed.ddp import grad_sync

    def f(p):
        return cr.sum(cr.sin(grad_sync(p, reducer=None, index=0)))

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        np.testing.assert_allclose(cr.vmap(lambda p: grad_sync(p, reducer=None, index=0))(XS), XS)
        np.testing.assert_allclose(cr.vmap(cr.grad(f))(XS), np.cos(XS))


def test_checkpoint_inside_vmap_gives_the_loop_s_gradients():
    f = cr.checkpoint(lambda x, y: cr.sin(x) * y)

    def loss(x, y):
        return cr.sum(f(x, y) ** 2)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = cr.vmap(cr.grad(loss, (0, 1)))(XS, YS)
    for b in range(4):
        one = cr.grad(loss, (0, 1))(XS[b], YS[b])
        np.testing.assert_allclose(got[0][b], one[0], rtol=1e-12)
        np.testing.assert_allclose(got[1][b], one[1], rtol=1e-12)
