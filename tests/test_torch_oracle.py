"""PyTorch as a numerical oracle: values and gradients of layers, losses, optimizers
and core primitives against torch==2.13.0 (CPU), in float64.

Skipped, with the reason shown, where torch is not installed (CI installs it).
"""

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch", reason="PyTorch (torch==2.13.0) is the oracle here")
F = cr.nn.functional
TF = torch.nn.functional
RNG = np.random.default_rng(0)


def close(a, b, tol=1e-9):
    a = np.asarray(getattr(a, "data", a))
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def pair(x):
    return cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def as64(module):
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
    return module


def check_unary(fc, ft, x, tol=1e-9):
    xc, xt = pair(x)
    yc, yt = fc(xc), ft(xt)
    close(yc, yt, tol)
    gy = RNG.normal(size=yt.shape)
    yc.backward(gy)
    yt.backward(torch.tensor(gy))
    close(xc.grad, xt.grad, tol)


CORE = [
    ("exp", cr.exp, torch.exp, RNG.normal(size=(3, 4))),
    ("log", cr.log, torch.log, RNG.uniform(0.5, 2, size=(5,))),
    ("sqrt", cr.sqrt, torch.sqrt, RNG.uniform(0.5, 2, size=(5,))),
    ("abs with zeros", cr.abs, torch.abs, np.array([-1.0, 0.0, 2.0])),
    ("tanh", cr.tanh, torch.tanh, RNG.normal(size=(4,))),
    ("sigmoid", cr.sigmoid, torch.sigmoid, np.array([-800.0, -1.0, 0.0, 3.0, 800.0])),
    ("relu with zeros", cr.relu, torch.relu, np.array([-1.0, 0.0, 2.0])),
    (
        "clip at bounds",
        lambda t: cr.clip(t, -1.0, 1.0),
        lambda t: torch.clamp(t, -1.0, 1.0),
        np.array([-2.0, -1.0, 0.0, 1.0, 2.0]),
    ),
    ("max with ties", lambda t: t.max(), lambda t: t.amax(), np.array([1.0, 3.0, 3.0, 2.0])),
    (
        "max axis",
        lambda t: t.max(axis=1),
        lambda t: t.amax(dim=1),
        np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]),
    ),
    (
        "prod with a zero",
        lambda t: t.prod(axis=0),
        lambda t: t.prod(dim=0),
        np.array([[1.0, 0.0, 3.0], [2.0, 5.0, 0.0], [4.0, 6.0, 7.0]]),
    ),
    (
        "logsumexp",
        lambda t: cr.logsumexp(t, axis=1),
        lambda t: torch.logsumexp(t, 1),
        np.array([[1000.0, 999.0], [-1000.0, 0.0]]),
    ),
    (
        "softmax",
        lambda t: cr.softmax(t, axis=0),
        lambda t: torch.softmax(t, 0),
        RNG.normal(size=(3, 2)) * 500,
    ),
    (
        "log_softmax",
        lambda t: cr.log_softmax(t, axis=-1),
        lambda t: torch.log_softmax(t, -1),
        RNG.normal(size=(3, 4)) * 500,
    ),
    (
        "mean keepdims",
        lambda t: t.mean(axis=(0, 2), keepdims=True),
        lambda t: t.mean(dim=(0, 2), keepdim=True),
        RNG.normal(size=(2, 3, 4)),
    ),
    ("getitem repeated", lambda t: t[[0, 0, 2]], lambda t: t[[0, 0, 2]], RNG.normal(size=(3, 2))),
    (
        "pow tensor exponent",
        lambda t: 2.0**t * t**3,
        lambda t: 2.0**t * t**3,
        np.array([0.0, 0.5, -1.5]),
    ),
]


@pytest.mark.parametrize(("name", "fc", "ft", "x"), CORE, ids=[c[0] for c in CORE])
def test_core_primitives(name, fc, ft, x):
    check_unary(fc, ft, x)


def test_binary_broadcasting_and_ties():
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b = np.array([2.0, 2.0, 2.0])
    for fc, ft in [
        (cr.maximum, torch.maximum),
        (cr.minimum, torch.minimum),
        (lambda x, y: x / y * x - y, lambda x, y: x / y * x - y),
        (lambda x, y: x @ y, lambda x, y: x @ y),
    ]:
        (ac, at), (bc, bt) = pair(a), pair(b)
        yc, yt = fc(ac, bc), ft(at, bt)
        close(yc, yt)
        gy = RNG.normal(size=yt.shape)
        yc.backward(gy)
        yt.backward(torch.tensor(gy))
        close(ac.grad, at.grad)
        close(bc.grad, bt.grad)


def test_second_derivatives():
    x = np.array([0.3, -1.2, 2.0])
    xc, xt = pair(x)
    (gc,) = cr.autograd.grad((cr.tanh(xc) * xc**2).sum(), xc, create_graph=True)
    (gt,) = torch.autograd.grad((torch.tanh(xt) * xt**2).sum(), xt, create_graph=True)
    close(gc, gt)
    close(cr.autograd.grad(gc.sum(), xc)[0], torch.autograd.grad(gt.sum(), xt)[0])
    f = lambda t: (100 * (t[1:] - t[:-1] ** 2) ** 2 + (1 - t[:-1]) ** 2).sum()  # noqa: E731
    close(cr.hessian(f)(x), torch.func.hessian(f)(torch.tensor(x)))


def test_linear():
    lin = as64(cr.nn.Linear(5, 3))
    tl = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(lin.weight.data))
        tl.bias.copy_(torch.tensor(lin.bias.data))
    xc, xt = pair(RNG.normal(size=(4, 5)))
    yc, yt = lin(xc), tl(xt)
    close(yc, yt)
    (yc**2).sum().backward()
    (yt**2).sum().backward()
    close(lin.weight.grad, tl.weight.grad)
    close(lin.bias.grad, tl.bias.grad)
    close(xc.grad, xt.grad)


@pytest.mark.parametrize(
    ("stride", "padding", "dilation"), [(1, 0, 1), (2, 1, 1), (1, 2, 2), ((2, 1), (1, 0), (1, 2))]
)
def test_conv2d(stride, padding, dilation):
    x, w, b = RNG.normal(size=(2, 3, 9, 8)), RNG.normal(size=(4, 3, 3, 2)), RNG.normal(size=4)
    (xc, xt), (wc, wt), (bc, bt) = pair(x), pair(w), pair(b)
    yc = F.conv2d(xc, wc, bc, stride=stride, padding=padding, dilation=dilation)
    yt = TF.conv2d(xt, wt, bt, stride=stride, padding=padding, dilation=dilation)
    close(yc, yt)
    gy = RNG.normal(size=yt.shape)
    yc.backward(gy)
    yt.backward(torch.tensor(gy))
    for c, t in ((xc, xt), (wc, wt), (bc, bt)):
        close(c.grad, t.grad)


@pytest.mark.parametrize(("kernel", "stride", "padding"), [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_pooling(kernel, stride, padding):
    x = RNG.normal(size=(2, 3, 8, 7))
    args = (kernel, stride, padding)
    for fc, ft in ((F.max_pool2d, TF.max_pool2d), (F.avg_pool2d, TF.avg_pool2d)):
        check_unary(lambda t, f=fc: f(t, *args), lambda t, f=ft: f(t, *args), x)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(smoothing, reduction):
    logits, y = RNG.normal(size=(6, 5)), RNG.integers(0, 5, 6)
    check_unary(
        lambda t: F.cross_entropy(t, y, label_smoothing=smoothing, reduction=reduction),
        lambda t: TF.cross_entropy(
            t, torch.tensor(y), label_smoothing=smoothing, reduction=reduction
        ),
        logits,
    )


def test_other_losses_and_gelu():
    x, t = RNG.normal(size=(6, 5)), RNG.random(size=(6, 5))
    check_unary(
        lambda a: F.binary_cross_entropy_with_logits(a, t),
        lambda a: TF.binary_cross_entropy_with_logits(a, torch.tensor(t)),
        x,
    )
    check_unary(lambda a: F.mse_loss(a, t), lambda a: TF.mse_loss(a, torch.tensor(t)), x)
    y = RNG.integers(0, 5, 6)
    check_unary(
        lambda a: F.nll_loss(cr.log_softmax(a, axis=1), y),
        lambda a: TF.nll_loss(torch.log_softmax(a, 1), torch.tensor(y)),
        x,
    )
    check_unary(F.gelu, TF.gelu, x)


def test_batchnorm_and_layernorm():
    x = RNG.normal(size=(4, 3, 5, 5))
    bn, tb = as64(cr.nn.BatchNorm2d(3)), torch.nn.BatchNorm2d(3).double()
    bn.running_mean.data = bn.running_mean.data.astype(np.float64)
    bn.running_var.data = bn.running_var.data.astype(np.float64)
    check_unary(bn, tb, x, tol=1e-8)
    close(bn.running_mean, tb.running_mean, 1e-8)
    close(bn.running_var, tb.running_var, 1e-8)
    bn.eval()
    tb.eval()
    close(bn(cr.tensor(x)), tb(torch.tensor(x)), 1e-8)
    ln, tln = as64(cr.nn.LayerNorm(5)), torch.nn.LayerNorm(5).double()
    check_unary(ln, tln, x, tol=1e-8)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}),
        ("Adam", {"lr": 0.01, "weight_decay": 0.01}),
        ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
        ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ],
)
def test_optimizers(name, kwargs):
    p0 = RNG.normal(size=5)
    pc, pt = cr.nn.Parameter(cr.tensor(p0)), torch.nn.Parameter(torch.tensor(p0))
    oc, ot = getattr(cr.optim, name)([pc], **kwargs), getattr(torch.optim, name)([pt], **kwargs)
    for _ in range(5):
        g = RNG.normal(size=5)
        pc.grad, pt.grad = cr.tensor(g), torch.tensor(g)
        oc.step()
        ot.step()
    close(pc, pt, 1e-12)
