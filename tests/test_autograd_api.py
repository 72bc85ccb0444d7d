"""HIPS autograd's top-level names: each against autograd itself (installed by the
test extra) and against finite differences."""

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

X = np.array([0.4, -1.1, 0.9])
V = np.array([0.5, 2.0, -1.0])


def _both(body):
    """The same function written for chainrule.numpy and for autograd.numpy."""
    return body(cnp), body(anp)


def _close(a, b, rtol=1e-12):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=1e-13)


def _fd(f, x, eps=1e-6):
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for e in range(x.size):
        d = np.zeros_like(x)
        d.flat[e] = eps
        g.flat[e] = (np.sum(f(x + d)) - np.sum(f(x - d))) / (2 * eps)
    return g


def test_elementwise_grad():
    ours, theirs = _both(lambda m: lambda x, y: m.tanh(x) * y + x**3)
    _close(cr.elementwise_grad(ours)(X, 2.0), autograd.elementwise_grad(theirs)(X, 2.0))
    _close(cr.elementwise_grad(ours, 1)(X, 2.0), autograd.elementwise_grad(theirs, 1)(X, 2.0))
    _close(cr.elementwise_grad(ours)(X, 2.0), _fd(lambda x: np.tanh(x) * 2.0 + x**3, X), 1e-6)
    g = cr.elementwise_grad(ours)(0.3, 2.0)
    assert isinstance(g, float) and g == pytest.approx(autograd.elementwise_grad(theirs)(0.3, 2.0))


def test_make_vjp_and_make_jvp():
    ours, theirs = _both(lambda m: lambda a, x: m.sin(x) * a)
    vjp_fn, ans = cr.make_vjp(ours, 1)(2.0, X)
    a_vjp, a_ans = autograd.make_vjp(theirs, 1)(2.0, X)
    _close(ans, a_ans)
    _close(vjp_fn(V), a_vjp(V))
    _close(vjp_fn(V), _fd(lambda x: np.sin(x) * 2.0 * V, X), 1e-6)
    ans, jv = cr.make_jvp(ours, 1)(2.0, X)(V)
    a_ans, a_jv = autograd.make_jvp(theirs, 1)(2.0, X)(V)
    _close(ans, a_ans)
    _close(jv, a_jv)
    # several argnums: the vjp is a tuple
    vjp_fn, _ = cr.make_vjp(ours, (0, 1))(2.0, X)
    a_vjp, _ = autograd.make_vjp(theirs, (0, 1))(2.0, X)
    for a, b in zip(vjp_fn(V), a_vjp(V)):
        _close(a, b)


def test_make_hvp_and_hessian_vector_products():
    ours, theirs = _both(lambda m: lambda x: m.sum(m.sin(x) * x**2))
    hvp_fn, g = cr.make_hvp(ours)(X)
    a_hvp, a_g = autograd.make_hvp(theirs)(X)
    _close(g, a_g)
    _close(hvp_fn(V), a_hvp(V))
    _close(hvp_fn(V), cr.hessian(ours)(X) @ V)
    for name in ("hessian_tensor_product", "hessian_vector_product"):
        _close(getattr(cr, name)(ours)(X, V), getattr(autograd, name)(theirs)(X, V))
    fd = _fd(lambda x: np.sum(_grad_np(x) * V), X)  # d <grad, v> / dx
    _close(cr.hessian_vector_product(ours)(X, V), fd, 1e-5)


def _grad_np(x):  # the gradient of sum(sin(x) x^2), by hand
    return np.cos(x) * x**2 + 2 * x * np.sin(x)


def test_tensor_jacobian_products():
    m = np.arange(6.0).reshape(2, 3) / 5
    ours, theirs = _both(lambda mod: lambda x: mod.tanh(m @ x))
    v = np.array([1.5, -0.5])
    for name in ("tensor_jacobian_product", "vector_jacobian_product"):
        _close(getattr(cr, name)(ours)(X, v), getattr(autograd, name)(theirs)(X, v))
    _close(cr.vector_jacobian_product(ours)(X, v), _fd(lambda x: np.tanh(m @ x) * v, X), 1e-6)
    # a tensor with fewer axes than the output contracts the leading ones
    ours2, theirs2 = _both(lambda mod: lambda x: mod.outer(mod.sin(x), x))
    _close(cr.tensor_jacobian_product(ours2)(X, V), autograd.tensor_jacobian_product(theirs2)(X, V))


def test_grad_named_and_multigrad_dict():
    ours, theirs = _both(lambda m: lambda x, scale, shift=0.5: m.sum(m.sin(x) * scale + shift))
    _close(cr.grad_named(ours, "scale")(X, 2.0), autograd.grad_named(theirs, "scale")(X, 2.0))
    with pytest.raises(ValueError, match="no argument 'nope'"):
        cr.grad_named(ours, "nope")
    g = cr.multigrad_dict(ours)(X, 2.0)
    assert list(g) == ["x", "scale", "shift"]  # defaults included, in order
    _close(g["x"], autograd.grad(theirs, 0)(X, 2.0, 0.5))
    _close(g["scale"], autograd.grad(theirs, 1)(X, 2.0, 0.5))
    assert g["shift"] == pytest.approx(3.0)  # d/dshift of a sum over 3 elements

    def star(a, *rest, **named):
        return a * rest[0] * named["z"] ** 2

    g = cr.multigrad_dict(star)(2.0, 3.0, z=4.0)
    assert g == {"a": 48.0, "rest": (32.0,), "named": {"z": 48.0}}


def test_checkpoint_gives_the_same_gradients_and_second_derivatives():
    def block(x, w):
        return cnp.sum(cnp.tanh(cnp.outer(x, w)) ** 2)

    saved = cr.checkpoint(block)
    w = np.array([0.3, -0.2])
    for argnum in (0, 1):
        _close(cr.grad(saved, argnum)(X, w), cr.grad(block, argnum)(X, w))
    _close(cr.hessian(saved)(X, w), cr.hessian(block)(X, w), 1e-10)
    theirs = autograd.checkpoint(lambda x, w: anp.sum(anp.tanh(anp.outer(x, w)) ** 2))
    _close(cr.grad(saved)(X, w), autograd.grad(theirs)(X, w))
    # not differentiated: the plain function's value
    assert float(saved(X, w)) == pytest.approx(float(block(X, w)))
    # Tensor.backward through the checkpointed node recomputes and reaches the input
    x = cr.tensor(X, requires_grad=True)
    out = saved(x, w)
    out.backward()
    _close(x.grad.data, cr.grad(block)(X, w))
