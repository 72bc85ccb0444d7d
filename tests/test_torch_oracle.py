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


# =============================================================================
# Issue 19, convolution family: Conv1d, ConvTranspose2d, GroupNorm,
# AdaptiveAvgPool2d (any output size), F.interpolate, F.pad
# (values, gradients of inputs and parameters, state-dict round trip, random shapes)
# =============================================================================
def _check_layer(cr_layer, torch_layer, x, tol=1e-9, **call):
    """Same weights (torch's state dict loaded into chainrule), same forward and
    backward; then chainrule's state dict loaded back into torch, strictly."""
    torch_layer = torch_layer.double()
    state = {k: v.detach().numpy().copy() for k, v in torch_layer.state_dict().items()}
    assert sorted(cr_layer.state_dict()) == sorted(state)
    cr_layer.load_state_dict(state)
    xc, xt = pair(x)
    yc, yt = cr_layer(xc, **call), torch_layer(xt, **call)
    close(yc, yt, tol)
    gy = RNG.normal(size=tuple(yt.shape))
    yc.backward(gy)
    yt.backward(torch.tensor(gy))
    close(xc.grad, xt.grad, tol)
    torch_params = dict(torch_layer.named_parameters())
    for name, p in cr_layer.named_parameters():
        close(p.grad, torch_params[name].grad, tol)
    torch_layer.load_state_dict(
        {k: torch.tensor(np.array(v.data)) for k, v in cr_layer.state_dict().items()}
    )


@pytest.mark.parametrize("seed", range(8))
def test_conv1d_layer_random(seed):
    rng = np.random.default_rng(100 + seed)
    groups = int(rng.choice([1, 2]))
    cin, cout = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    k, s, d = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
    p = int(rng.integers(0, 3))
    length = d * (k - 1) + 1 + int(rng.integers(0, 6))
    bias = bool(rng.integers(0, 2))
    args = dict(stride=s, padding=p, dilation=d, groups=groups, bias=bias)
    x = rng.normal(size=(int(rng.integers(1, 4)), cin, length))
    _check_layer(
        cr.nn.Conv1d(cin, cout, k, dtype=np.float64, **args),
        torch.nn.Conv1d(cin, cout, k, **args),
        x,
    )


def test_conv1d_same_padding_and_unbatched_input():
    x = RNG.normal(size=(3, 11))
    _check_layer(
        cr.nn.Conv1d(3, 2, 5, padding="same", dtype=np.float64),
        torch.nn.Conv1d(3, 2, 5, padding="same"),
        x,
    )


@pytest.mark.parametrize("seed", range(10))
def test_conv_transpose2d_layer_random(seed):
    rng = np.random.default_rng(200 + seed)
    groups = int(rng.choice([1, 2]))
    cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    k = tuple(int(v) for v in rng.integers(1, 4, 2))
    s = tuple(int(v) for v in rng.integers(1, 4, 2))
    d = tuple(int(v) for v in rng.integers(1, 3, 2))
    p = tuple(int(rng.integers(0, 1 + d[i] * (k[i] - 1) // 2 + 1)) for i in range(2))
    op = tuple(int(rng.integers(0, max(s[i], d[i]))) for i in range(2))
    bias = bool(rng.integers(0, 2))
    args = dict(stride=s, padding=p, output_padding=op, groups=groups, bias=bias, dilation=d)
    x = rng.normal(size=(int(rng.integers(1, 3)), cin, *(int(v) for v in rng.integers(2, 6, 2))))
    torch_layer = torch.nn.ConvTranspose2d(cin, cout, k, **args)
    expected = torch_layer.double()(torch.tensor(x))  # an output torch accepts
    assert min(expected.shape[2:]) > 0
    _check_layer(cr.nn.ConvTranspose2d(cin, cout, k, dtype=np.float64, **args), torch_layer, x)


def test_conv_transpose2d_output_size_and_unbatched_input():
    x = RNG.normal(size=(1, 4, 5, 5))
    for size in [(9, 9), (10, 10), (9, 10)]:
        _check_layer(
            cr.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, dtype=np.float64),
            torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1),
            x,
            output_size=size,
        )
    _check_layer(
        cr.nn.ConvTranspose2d(4, 3, 2, stride=2, dtype=np.float64),
        torch.nn.ConvTranspose2d(4, 3, 2, stride=2),
        x[0],
    )
    with pytest.raises(ValueError, match="output_size"):
        cr.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1)(cr.zeros((1, 4, 5, 5)), (11, 11))


@pytest.mark.parametrize("seed", range(8))
def test_group_norm_layer_random(seed):
    rng = np.random.default_rng(300 + seed)
    groups = int(rng.integers(1, 4))
    channels = groups * int(rng.integers(1, 4))
    spatial = tuple(int(v) for v in rng.integers(1, 5, int(rng.integers(0, 3))))
    affine = bool(rng.integers(0, 2))
    x = rng.normal(loc=2.0, size=(int(rng.integers(1, 4)), channels, *spatial))
    if x[0].size // channels * (channels // groups) == 1:
        x = np.concatenate([x, x + 1], axis=-1) if spatial else x
    torch_layer = torch.nn.GroupNorm(groups, channels, affine=affine)
    if affine:  # weights away from 1 and 0, so that their gradients matter
        with torch.no_grad():
            torch_layer.weight.normal_()
            torch_layer.bias.normal_()
    cr_layer = cr.nn.GroupNorm(groups, channels, affine=affine, dtype=np.float64)
    _check_layer(cr_layer, torch_layer, x, tol=1e-8)


@pytest.mark.parametrize("seed", range(8))
def test_adaptive_avg_pool2d_any_output_size(seed):
    rng = np.random.default_rng(400 + seed)
    h, w = (int(v) for v in rng.integers(1, 9, 2))
    size = (int(rng.integers(1, h + 3)), None if seed % 3 == 0 else int(rng.integers(1, w + 3)))
    x = rng.normal(size=(int(rng.integers(1, 3)), int(rng.integers(1, 4)), h, w))
    _check_layer(cr.nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), x)


@pytest.mark.parametrize("seed", range(12))
def test_interpolate_random(seed):
    rng = np.random.default_rng(500 + seed)
    mode = ["nearest", "bilinear", "linear"][seed % 3]
    dims = 1 if mode == "linear" else int(rng.integers(1, 3)) if mode == "nearest" else 2
    shape = tuple(int(v) for v in rng.integers(1, 7, dims))
    x = rng.normal(size=(int(rng.integers(1, 3)), int(rng.integers(1, 3)), *shape))
    if rng.integers(0, 2):
        kw = {"size": tuple(int(v) for v in rng.integers(1, 12, dims))}
    else:
        kw = {"scale_factor": tuple(float(v) for v in np.round(rng.uniform(0.4, 3.1, dims), 2))}
        if all(math_floor(n * f) < 1 for n, f in zip(shape, kw["scale_factor"])):
            kw = {"scale_factor": (2.0,) * dims}
        if rng.integers(0, 2):
            kw["recompute_scale_factor"] = True
    if mode != "nearest":
        kw["align_corners"] = bool(rng.integers(0, 2))
    xc, xt = pair(x)
    try:
        yt = TF.interpolate(xt, mode=mode, **kw)
    except (RuntimeError, ValueError):
        with pytest.raises(ValueError):
            F.interpolate(xc, mode=mode, **kw)
        return
    yc = F.interpolate(xc, mode=mode, **kw)
    close(yc, yt)
    gy = RNG.normal(size=tuple(yt.shape))
    yc.backward(gy)
    yt.backward(torch.tensor(gy))
    close(xc.grad, xt.grad)


def math_floor(v):
    return int(np.floor(v))


def test_interpolate_float32_matches_torch_coordinates():
    # PyTorch computes the source coordinates in the input's precision (float32 here)
    x = RNG.normal(size=(2, 3, 7, 5)).astype(np.float32)
    for kw in [
        dict(mode="nearest", size=(11, 3)),
        dict(mode="nearest", scale_factor=1.37),
        dict(mode="bilinear", size=(13, 4), align_corners=False),
        dict(mode="bilinear", scale_factor=2.3, align_corners=True),
    ]:
        close(F.interpolate(x, **kw), TF.interpolate(torch.tensor(x), **kw), tol=1e-6)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_modes_random(mode):
    rng = np.random.default_rng(600 + len(mode))
    compared = 0
    for _ in range(80):
        k = int(rng.integers(1, 4))
        ndim = k + int(rng.integers(1, 3)) if mode != "constant" else int(rng.integers(k, 5))
        x = rng.normal(size=tuple(int(v) for v in rng.integers(1, 6, ndim)))
        pads = tuple(int(v) for v in rng.integers(-2, 4, 2 * k))
        xc, xt = pair(x)
        try:
            yt = TF.pad(xt, pads, mode=mode, value=0.5 if mode == "constant" else None)
        except (RuntimeError, ValueError, NotImplementedError):
            continue  # where PyTorch refuses, chainrule's own checks are tested below
        try:
            yc = F.pad(xc, pads, mode=mode, value=0.5 if mode == "constant" else None)
        except ValueError as exc:
            # chainrule refuses a circular pad wider than what cropping left
            assert mode == "circular" and "more than once" in str(exc)
            continue
        close(yc, yt)
        if yt.numel():
            gy = rng.normal(size=tuple(yt.shape))
            yc.backward(gy)
            yt.backward(torch.tensor(gy))
            close(xc.grad, xt.grad)
        compared += 1
    assert compared >= 10


def test_pad_refusals_are_clear():
    with pytest.raises(ValueError, match="reflect padding .* smaller than"):
        F.pad(np.zeros((1, 2, 3)), (3, 0), mode="reflect")
    with pytest.raises(NotImplementedError, match="pads 1, 2 or 3 trailing"):
        F.pad(np.zeros((1, 2, 3, 4)), (1, 1), mode="replicate")
    with pytest.raises(ValueError, match="cropping"):
        F.pad(np.zeros((2, 3)), (-2, -2))
    with pytest.raises(ValueError, match="takes no value"):
        F.pad(np.zeros((1, 2, 3)), (1, 1), mode="reflect", value=1.0)
