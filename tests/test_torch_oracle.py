"""PyTorch as a numerical oracle: values and gradients of layers, losses, optimizers
and core primitives against torch==2.13.0 (CPU), in float64.

Skipped, with the reason shown, where torch is not installed (CI installs it).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _same_outputs_and_gradient(fc, ft, x):
    """Values (and returned indices) alike, then the input gradient of a random
    weighting of the first output."""
    xc, xt = pair(x)
    outs_c, outs_t = _outputs(fc(xc)), _outputs(ft(xt))
    assert len(outs_c) == len(outs_t)
    for oc, ot in zip(outs_c, outs_t):
        assert np.asarray(getattr(oc, "data", oc)).dtype.kind == (
            "f" if ot.is_floating_point() else "i"
        )
        close(oc, ot)
    gy = RNG.normal(size=tuple(outs_t[0].shape))
    outs_c[0].backward(gy)
    outs_t[0].backward(torch.tensor(gy))
    close(xc.grad, xt.grad)


@settings(max_examples=120, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(["max", "max indices", "avg"]),
    dims=st.sampled_from([1, 2]),
    ceil_mode=st.booleans(),
    ties=st.booleans(),
)
def test_pooling_ceil_mode_indices_and_1d_match_torch(data, kind, dims, ceil_mode, ties):
    # ReLU'd inputs have ties of zeros: the gradient goes to the first maximum.
    k = tuple(data.draw(st.integers(1, 3)) for _ in range(dims))
    s = tuple(data.draw(st.integers(1, 3)) for _ in range(dims))
    p = tuple(data.draw(st.integers(0, kk // 2)) for kk in k)
    size = tuple(data.draw(st.integers(kk, kk + 5)) for kk in k)
    x = RNG.normal(size=(data.draw(st.integers(1, 2)), 2, *size))
    if ties:
        x = np.maximum(x, 0)
    if data.draw(st.booleans()):
        x = x[0]  # unbatched
    name = f"{'max' if kind.startswith('max') else 'avg'}_pool{dims}d"
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil_mode)
    if kind.startswith("max"):
        kw["dilation"] = 1 if dims == 1 else (1, data.draw(st.integers(1, 2)))
        kw["return_indices"] = kind == "max indices"
    else:
        kw["count_include_pad"] = data.draw(st.booleans())
    try:
        getattr(TF, name)(torch.tensor(x), **kw)
    except RuntimeError:
        with pytest.raises(ValueError):
            getattr(F, name)(x, **kw)
        return
    _same_outputs_and_gradient(
        lambda t: getattr(F, name)(t, **kw), lambda t: getattr(TF, name)(t, **kw), x
    )


@settings(max_examples=60, deadline=None)
@given(
    dims=st.sampled_from([1, 2]),
    size=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    out=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    ties=st.booleans(),
    indices=st.booleans(),
)
def test_adaptive_max_pool_matches_torch(dims, size, out, ties, indices):
    x = RNG.normal(size=(2, 3, *size[:dims]))
    if ties:
        x = np.maximum(x, 0)
    name = f"adaptive_max_pool{dims}d"
    o = out[0] if dims == 1 else out
    _same_outputs_and_gradient(
        lambda t: getattr(F, name)(t, o, return_indices=indices),
        lambda t: getattr(TF, name)(t, o, return_indices=indices),
        x,
    )


def test_max_pool_indices_with_nan_and_all_minus_inf_windows():
    # PyTorch's kernels: the index starts at the window's first element, and a later
    # one takes it when larger or NaN; a window of -inf keeps its first element.
    x = RNG.normal(size=(1, 1, 4, 4))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = np.nan
    x[0, 0, 2:, 2:] = -np.inf
    for fc, ft in [
        (lambda t: F.max_pool2d(t, 2, return_indices=True),
         lambda t: TF.max_pool2d(t, 2, return_indices=True)),
        (lambda t: F.max_pool2d(t, 3, 2, ceil_mode=True, return_indices=True),
         lambda t: TF.max_pool2d(t, 3, 2, ceil_mode=True, return_indices=True)),
        (lambda t: F.adaptive_max_pool2d(t, 3, return_indices=True),
         lambda t: TF.adaptive_max_pool2d(t, 3, return_indices=True)),
    ]:  # fmt: skip
        for oc, ot in zip(fc(x), ft(torch.tensor(x))):
            close(oc, ot)


@pytest.mark.parametrize(
    "name, args, shape",
    [
        ("MaxPool2d", (3, 2, 1, 1, True, True), (2, 3, 7, 7)),
        ("MaxPool1d", (3, 2, 0, 2, True), (2, 3, 9)),
        ("AvgPool2d", (3, 2, 1, True, False), (2, 3, 7, 8)),
        ("AvgPool1d", (3, 2, 1, True, False), (3, 8)),
        ("AdaptiveMaxPool2d", ((2, None), True), (2, 3, 7, 8)),
        ("AdaptiveMaxPool1d", (3,), (2, 3, 8)),
    ],
)
def test_pooling_layers_match_torch(name, args, shape):
    c_layer, t_layer = getattr(cr.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(c_layer) == repr(t_layer)
    x = RNG.normal(size=shape)
    _same_outputs_and_gradient(c_layer, t_layer, x)


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


@settings(max_examples=40, deadline=None)
@given(
    conv=st.sampled_from(["Conv1d", "Conv2d"]),
    mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
    padding=st.sampled_from([0, 1, 2, "same", "valid"]),
    kernel=st.integers(1, 4),
    dilation=st.integers(1, 2),
    unbatched=st.booleans(),
)
def test_conv_padding_modes_and_same_with_even_kernels(
    conv, mode, padding, kernel, dilation, unbatched
):
    # padding_mode pads with F.pad first; "same" with an even dilated kernel puts the
    # odd zero after, as PyTorch does. Values, gradients of input and parameters.
    two_d = conv == "Conv2d"
    k = (kernel, 3) if two_d else kernel
    d = (dilation, 1) if two_d else dilation
    shape = (2, 7, 8) if two_d else (2, 9)
    x = RNG.normal(size=shape if unbatched else (2, *shape))
    args = dict(padding=padding, padding_mode=mode, dilation=d)
    _check_layer(
        getattr(cr.nn, conv)(2, 3, k, dtype=np.float64, **args),
        getattr(torch.nn, conv)(2, 3, k, **args),
        x,
    )


def test_conv_padding_arguments_refused_as_torch_refuses_them():
    for args in [dict(padding="same", stride=2), dict(padding="full"), dict(padding_mode="foo")]:
        with pytest.raises(ValueError):
            torch.nn.Conv2d(2, 3, 3, **args)
        with pytest.raises(ValueError, match="Conv2d: padding"):
            cr.nn.Conv2d(2, 3, 3, **args)
    with pytest.raises(ValueError, match="strided"):
        cr.nn.Conv1d(2, 3, 3, padding="same", stride=(2,))
    layer = cr.nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular")
    assert repr(layer) == repr(torch.nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"))


def test_functional_same_padding_with_even_kernels():
    x, w = RNG.normal(size=(1, 2, 6, 7)), RNG.normal(size=(3, 2, 2, 4))
    for dilation in [(1, 1), (2, 1), (1, 3)]:
        xc, xt = pair(x)
        wc, wt = pair(w)
        yc = F.conv2d(xc, wc, padding="same", dilation=dilation)
        yt = TF.conv2d(xt, wt, padding="same", dilation=dilation)
        close(yc, yt)
        gy = RNG.normal(size=tuple(yt.shape))
        yc.backward(gy)
        yt.backward(torch.tensor(gy))
        close(xc.grad, xt.grad)
        close(wc.grad, wt.grad)
    y = F.conv1d(cr.tensor(x[0, :, 0]), cr.tensor(w[:, :, 0]), padding="same")
    close(y, TF.conv1d(torch.tensor(x[0, :, 0]), torch.tensor(w[:, :, 0]), padding="same"))


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


INTERPOLATE_AXES = {
    "nearest": (1, 2, 3),
    "nearest-exact": (1, 2, 3),
    "area": (1, 2, 3),
    "linear": (1,),
    "bilinear": (2,),
    "bicubic": (2,),
    "trilinear": (3,),
}


@pytest.mark.parametrize("mode", list(INTERPOLATE_AXES))
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_interpolate_random(mode, data):
    dims = data.draw(st.sampled_from(INTERPOLATE_AXES[mode]))
    shape = tuple(data.draw(st.integers(1, 6)) for _ in range(dims))
    x = RNG.normal(size=(data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)), *shape))
    if data.draw(st.booleans()):
        kw = {"size": tuple(data.draw(st.integers(1, 11)) for _ in range(dims))}
    else:
        # Factors that leave a side's size as it is (1.3 on a side of 3) are drawn too:
        # PyTorch's linear modes leave such an axis alone, nearest and bicubic do not.
        factors = st.sampled_from([0.5, 0.7, 1.0, 1.1, 1.3, 1.37, 2.0, 2.05, 2.5, 3.0])
        kw = {"scale_factor": tuple(data.draw(factors) for _ in range(dims))}
        if all(math_floor(n * f) < 1 for n, f in zip(shape, kw["scale_factor"])):
            kw = {"scale_factor": (2.0,) * dims}
        if data.draw(st.booleans()):
            kw["recompute_scale_factor"] = True
    if mode not in ("nearest", "nearest-exact", "area"):
        kw["align_corners"] = data.draw(st.booleans())
    xc, xt = pair(x)
    try:
        yt = TF.interpolate(xt, mode=mode, **kw)
        refused = yt.numel() == 0  # area mode gives an empty tensor; chainrule refuses
    except (RuntimeError, ValueError):
        refused = True
    if refused:
        with pytest.raises(ValueError):
            F.interpolate(xc, mode=mode, **kw)
        return
    yc = F.interpolate(xc, mode=mode, **kw)
    close(yc, yt)
    gy = RNG.normal(size=tuple(yt.shape))
    yc.backward(gy)
    # The gradient of PyTorch's forward, a linear map of each image: its matrix read
    # off torch's forward of the basis images, transposed, times the output gradient.
    # PyTorch 2.13's own backward is not its forward's adjoint in two corners: 1-D and
    # 3-D nearest with a scale_factor that leaves a size unchanged or doubles it, and
    # bicubic with a scale_factor that leaves every size unchanged; chainrule's is.
    spatial = int(np.prod(x.shape[2:]))
    basis = torch.eye(spatial, dtype=torch.float64).reshape(spatial, 1, *x.shape[2:])
    matrix = TF.interpolate(basis, mode=mode, **kw).numpy().reshape(spatial, -1)
    adjoint = gy.reshape(*x.shape[:2], -1) @ matrix.T
    close(xc.grad, adjoint.reshape(x.shape))
    x32 = x.astype(np.float32)  # coordinates and weights in float32, as PyTorch's kernels
    y32 = F.interpolate(x32, mode=mode, **kw)
    assert y32.dtype == np.float32
    close(y32, TF.interpolate(torch.tensor(x32), mode=mode, **kw), tol=5e-6)


def test_interpolate_gradient_is_its_forwards_adjoint_where_torchs_is_not():
    # scale_factor 1.1 keeps a side of 2 at 2; PyTorch's 1-D nearest forward copies
    # input 0 to both outputs, but its backward sends each output's gradient back to
    # its own position, as if it had copied. chainrule's forward agrees with PyTorch's,
    # its gradient with that forward.
    x = np.array([[[3.0, 5.0]]])
    xc, xt = pair(x)
    yc = F.interpolate(xc, scale_factor=1.1, mode="nearest")
    yt = TF.interpolate(xt, scale_factor=1.1, mode="nearest")
    close(yc, yt)
    close(yc, [[[3.0, 3.0]]])
    yc.backward(np.array([[[1.0, 10.0]]]))
    yt.backward(torch.tensor([[[1.0, 10.0]]]))
    close(xc.grad, [[[11.0, 0.0]]])
    close(xt.grad, [[[1.0, 10.0]]])  # PyTorch 2.13's


@pytest.mark.parametrize(
    "name, args",
    [
        ("Upsample", dict(scale_factor=2)),
        ("Upsample", dict(size=(5, 3), mode="bilinear", align_corners=False)),
        ("Upsample", dict(scale_factor=(1.5, 2), mode="bicubic", align_corners=True)),
        ("UpsamplingNearest2d", dict(scale_factor=3)),
        ("UpsamplingBilinear2d", dict(size=7)),
    ],
)
def test_upsample_layers_match_torch(name, args):
    c_layer, t_layer = getattr(cr.nn, name)(**args), getattr(torch.nn, name)(**args)
    assert repr(c_layer) == repr(t_layer)
    _check_layer(c_layer, t_layer, RNG.normal(size=(2, 3, 4, 5)))


def test_interpolate_unsupported_modes_are_refused_by_name():
    x = cr.zeros((1, 1, 4, 4))
    with pytest.raises(NotImplementedError, match="'lanczos'"):
        F.interpolate(x, size=3, mode="lanczos")
    with pytest.raises(NotImplementedError, match="antialias"):
        F.interpolate(x, size=3, mode="bilinear", antialias=True)
    with pytest.raises(ValueError, match="bicubic expects a 4-D"):
        F.interpolate(cr.zeros((1, 1, 4)), size=3, mode="bicubic")
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(x, size=3, mode="area", align_corners=False)
    for size in (3.5, (3, 2.5), True):  # int() would cut 3.5 to 3 without a word
        with pytest.raises(ValueError, match="size must be an int or 2 ints"):
            F.interpolate(x, size=size)


@settings(max_examples=30, deadline=None)
@given(length=st.integers(1, 9), out=st.integers(1, 9), unbatched=st.booleans())
def test_adaptive_avg_pool1d_matches_torch(length, out, unbatched):
    shape = (3, length) if unbatched else (2, 3, length)
    _check_layer(
        cr.nn.AdaptiveAvgPool1d(out), torch.nn.AdaptiveAvgPool1d(out), RNG.normal(size=shape)
    )


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


# =====================================================================================
# Recurrent and attention layers (issue 19): RNN, LSTM, GRU, MultiheadAttention,
# scaled_dot_product_attention, TransformerEncoder(Layer). Values, gradients of the
# inputs and of every parameter, state dicts, masks at their edges; random shapes.
# =====================================================================================


def _from_torch(cm, tm):
    """Make chainrule module ``cm`` float64 and load ``tm``'s weights into it."""
    tm.double()
    assert list(cm.state_dict()) == list(tm.state_dict())
    for (kc, vc), (_kt, vt) in zip(cm.state_dict().items(), tm.state_dict().items()):
        assert tuple(vc.shape) == tuple(vt.shape), (kc, vc.shape, vt.shape)
    as64(cm)
    cm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    return cm


def _outputs(result):
    """A layer's outputs as a flat list (tuples of tuples, None dropped)."""
    if isinstance(result, tuple | list):
        return [o for r in result for o in _outputs(r)]
    return [] if result is None else [result]


def _same_everything(cm, tm, c_inputs, t_inputs, call_c, call_t, tol=1e-9):
    """Outputs, then the gradients of a random weighting of them with respect to the
    inputs and every parameter, agree (NaNs where PyTorch has NaNs)."""
    outs_c, outs_t = _outputs(call_c(*c_inputs)), _outputs(call_t(*t_inputs))
    assert len(outs_c) == len(outs_t)
    for oc, ot in zip(outs_c, outs_t):
        close(oc, ot, tol)
    weights = [RNG.normal(size=tuple(o.shape)) for o in outs_t]
    total_c = sum((o * w).sum() for o, w in zip(outs_c, weights))
    total_t = sum((o * torch.tensor(w)).sum() for o, w in zip(outs_t, weights))
    total_c.backward()
    total_t.backward()
    for xc, xt in zip(c_inputs, t_inputs):
        if isinstance(xt, torch.Tensor) and xt.requires_grad:
            close(xc.grad, xt.grad, tol)
    grads_t = dict(tm.named_parameters())
    for name, p in cm.named_parameters():
        gt = grads_t[name].grad
        if gt is None:
            assert p.grad is None or not np.any(p.grad.data), name
        else:
            close(p.grad, gt, tol)


RECURRENT = {
    "RNN": (cr.nn.RNN, torch.nn.RNN, {}),
    "RNN relu": (cr.nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "LSTM": (cr.nn.LSTM, torch.nn.LSTM, {}),
    "GRU": (cr.nn.GRU, torch.nn.GRU, {}),
}


@pytest.mark.parametrize("kind", list(RECURRENT))
@settings(max_examples=12, deadline=None)
@given(
    steps=st.integers(1, 4),
    batch=st.integers(1, 3),
    features=st.integers(1, 4),
    hidden=st.integers(1, 4),
    layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    bias=st.booleans(),
    initial_state=st.booleans(),
    unbatched=st.booleans(),
)
def test_recurrent_layers_match_torch(
    kind, steps, batch, features, hidden, layers, bidirectional, batch_first, bias,
    initial_state, unbatched,
):  # fmt: skip
    c_cls, t_cls, extra = RECURRENT[kind]
    kw = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    tm = t_cls(features, hidden, **kw, **extra)
    cm = _from_torch(c_cls(features, hidden, **kw, **extra), tm)
    shape = (batch, steps, features) if batch_first else (steps, batch, features)
    if unbatched:
        shape = (steps, features)
    xc, xt = pair(RNG.normal(size=shape))
    c_in, t_in = [xc], [xt]
    if initial_state:
        state_shape = (layers * (2 if bidirectional else 1),) + (() if unbatched else (batch,))
        states = [
            RNG.normal(size=state_shape + (hidden,)) for _ in range(2 if kind == "LSTM" else 1)
        ]
        pairs = [pair(s) for s in states]
        c_in.append(tuple(p[0] for p in pairs) if kind == "LSTM" else pairs[0][0])
        t_in.append(tuple(p[1] for p in pairs) if kind == "LSTM" else pairs[0][1])
    _same_everything(cm, tm, c_in, t_in, cm, tm)
    if initial_state:
        for sc, st_ in zip(_outputs(c_in[1]), _outputs(t_in[1])):
            close(sc.grad, st_.grad)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_state_dict_init_and_round_trip(kind):
    c_cls, t_cls, _ = RECURRENT[kind]
    cr.nn.manual_seed(0)
    cm = c_cls(3, 5, num_layers=2, bidirectional=True)
    tm = t_cls(3, 5, num_layers=2, bidirectional=True)
    assert list(cm.state_dict()) == list(tm.state_dict())
    assert "weight_hh_l1_reverse" in cm.state_dict()
    bound = 1 / np.sqrt(5)
    for name, p in cm.named_parameters():
        assert p.dtype == np.float32 and np.abs(p.data).max() <= bound, name
    pooled = np.concatenate([p.data.ravel() for p in cm.parameters()])
    assert pooled.min() < -0.9 * bound and pooled.max() > 0.9 * bound  # the whole range
    # chainrule's weights into PyTorch and back: the same network, the same outputs
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in cm.state_dict().items()})
    x = RNG.normal(size=(4, 2, 3)).astype(np.float32)
    close(_outputs(cm(cr.tensor(x)))[0], _outputs(tm(torch.tensor(x)))[0], 1e-5)
    back = c_cls(3, 5, num_layers=2, bidirectional=True)
    back.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    for (k, a), b in zip(back.state_dict().items(), cm.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


def test_dropout_acts_between_layers_only():
    # p = 1 zeroes everything between the layers: deterministic, so PyTorch agrees.
    tm = torch.nn.LSTM(3, 4, num_layers=2, dropout=1.0)
    cm = _from_torch(cr.nn.LSTM(3, 4, num_layers=2, dropout=1.0), tm)
    x = RNG.normal(size=(5, 2, 3))
    _same_everything(cm, tm, [pair(x)[0]], [pair(x)[1]], cm, tm)
    cm.eval()
    tm.eval()
    close(cm(cr.tensor(x))[0], tm(torch.tensor(x))[0])
    with pytest.warns(UserWarning, match="num_layers=1"):
        cr.nn.GRU(3, 4, dropout=0.5)


def test_recurrent_layers_refuse_bad_input():
    lstm = cr.nn.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"input_size=3\): the input's last axis is 5"):
        lstm(np.zeros((2, 1, 5)))
    with pytest.raises(ValueError, match=r"expected h0 of shape \(1, 2, 4\)"):
        lstm(np.zeros((3, 2, 3)), (np.zeros((1, 3, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(TypeError, match="pair"):
        lstm(np.zeros((3, 2, 3)), np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="no time steps"):
        lstm(np.zeros((0, 2, 3)))
    with pytest.raises(ValueError, match="smaller than hidden_size"):
        cr.nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="only supported for LSTM"):
        cr.nn.RNNBase("GRU", 3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"expected h0 of shape \(1, 2, 2\) .* proj_size"):
        cr.nn.LSTM(3, 4, proj_size=2)(np.zeros((3, 2, 3)), (np.zeros((1, 2, 4)),) * 2)
    with pytest.raises(ValueError, match="nonlinearity"):
        cr.nn.RNN(3, 4, nonlinearity="sigmoid")


# ------------------------------------------------------------------ attention
def _mask(kind, shape, full_row):
    """A random mask: bool (True = may attend, SDPA's sense) or float; with
    ``full_row``, one query row masked throughout."""
    allowed = RNG.random(shape) > 0.4
    if full_row:
        allowed[..., 0, :] = False
    if kind == "bool":
        return allowed
    return np.where(allowed, RNG.normal(size=shape), -np.inf)


@settings(max_examples=25, deadline=None)
@given(
    lead=st.sampled_from([(), (2,), (2, 3)]),
    rows=st.integers(1, 4),
    cols=st.integers(1, 4),
    e=st.integers(1, 4),
    ev=st.integers(1, 3),
    mask=st.sampled_from([None, "bool", "float", "causal"]),
    full_row=st.booleans(),
    scale=st.sampled_from([None, 0.3]),
)
def test_scaled_dot_product_attention_matches_torch(lead, rows, cols, e, ev, mask, full_row, scale):
    q, k, v = (RNG.normal(size=lead + s) for s in ((rows, e), (cols, e), (cols, ev)))
    kw: dict = {"scale": scale}
    if mask == "causal":
        kw_c = kw_t = dict(kw, is_causal=True)
    elif mask is not None:
        m = _mask(mask, (rows, cols), full_row)
        kw_c, kw_t = dict(kw, attn_mask=m), dict(kw, attn_mask=torch.tensor(m))
    else:
        kw_c = kw_t = kw
    _same_attention((q, k, v), kw_c, kw_t)


def _same_attention(qkv, kw_c, kw_t):
    """scaled_dot_product_attention's values and the gradients of q, k and v alike."""
    cs, ts = zip(*(pair(a) for a in qkv))
    yc = F.scaled_dot_product_attention(*cs, **kw_c)
    yt = TF.scaled_dot_product_attention(*ts, **kw_t)
    close(yc, yt)
    g = RNG.normal(size=tuple(yt.shape))
    yc.backward(g)
    yt.backward(torch.tensor(g))
    for a, b in zip(cs, ts):
        close(a.grad, b.grad)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.sampled_from([(), (2,)]),
    kv_heads=st.integers(1, 3),
    group=st.integers(1, 3),
    value_heads_shared=st.booleans(),
    rows=st.integers(1, 3),
    cols=st.integers(1, 3),
    causal=st.booleans(),
)
def test_sdpa_grouped_query_attention_matches_torch(
    batch, kv_heads, group, value_heads_shared, rows, cols, causal
):
    heads = kv_heads * group
    v_heads = kv_heads if value_heads_shared else heads
    q = RNG.normal(size=batch + (heads, rows, 3))
    k = RNG.normal(size=batch + (kv_heads, cols, 3))
    v = RNG.normal(size=batch + (v_heads, cols, 2))
    kw = dict(is_causal=causal, enable_gqa=True)
    _same_attention((q, k, v), kw, kw)
    if kv_heads > 1:
        with pytest.raises(ValueError, match="multiple of the key's"):
            F.scaled_dot_product_attention(q[..., :1, :, :], k, v, enable_gqa=True)


def test_sdpa_fully_masked_rows_are_zero_and_dropout_one_drops_all():
    q = RNG.normal(size=(2, 3, 4))
    m = np.ones((3, 3), dtype=bool)
    m[1] = False
    out = F.scaled_dot_product_attention(q, q, q, attn_mask=m)
    close(out, TF.scaled_dot_product_attention(*(torch.tensor(q),) * 3, attn_mask=torch.tensor(m)))
    np.testing.assert_array_equal(out.data[:, 1], 0.0)
    dropped = F.scaled_dot_product_attention(q, q, q, dropout_p=1.0)
    np.testing.assert_array_equal(dropped.data, 0.0)
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=m, is_causal=True)
    with pytest.raises(ValueError, match="must share E"):
        F.scaled_dot_product_attention(q, q[..., :2], q)


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 3),
    rows=st.integers(1, 4),
    cols=st.integers(1, 4),
    heads=st.sampled_from([1, 2]),
    head_dim=st.integers(1, 3),
    batch_first=st.booleans(),
    self_attention=st.booleans(),
    padding=st.sampled_from([None, "bool", "float"]),
    attn=st.sampled_from([None, "bool", "float", "bool per head"]),
    full_row=st.booleans(),
    need_weights=st.booleans(),
    average=st.booleans(),
    bias=st.booleans(),
    kv_dims=st.sampled_from([None, (2, 3), (5, 1)]),
    add_bias_kv=st.booleans(),
    add_zero_attn=st.booleans(),
)
def test_multihead_attention_matches_torch(
    batch, rows, cols, heads, head_dim, batch_first, self_attention, padding, attn, full_row,
    need_weights, average, bias, kv_dims, add_bias_kv, add_zero_attn,
):  # fmt: skip
    e = heads * head_dim
    kdim, vdim = kv_dims or (e, e)
    kw = dict(
        batch_first=batch_first, bias=bias, kdim=kdim, vdim=vdim,
        add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn,
    )  # fmt: skip
    tm = torch.nn.MultiheadAttention(e, heads, **kw)
    cm = _from_torch(cr.nn.MultiheadAttention(e, heads, **kw), tm)
    if self_attention and kv_dims is None:
        cols = rows
    else:
        self_attention = False

    def seq(length, width=e):
        return RNG.normal(size=(batch, length, width) if batch_first else (length, batch, width))

    q = seq(rows)
    kv = (q, q) if self_attention else (seq(cols, kdim), seq(cols, vdim))
    qc, qt = pair(q)
    if self_attention:
        c_in, t_in = [qc, qc, qc], [qt, qt, qt]
    else:
        (kc, kt), (vc, vt) = pair(kv[0]), pair(kv[1])
        c_in, t_in = [qc, kc, vc], [qt, kt, vt]
    kw_c: dict = {"need_weights": need_weights, "average_attn_weights": average}
    kw_t = dict(kw_c)
    if padding is not None:
        keep = RNG.random((batch, cols)) > 0.3
        if full_row:
            keep[0] = False  # every key of one sequence padded: its rows are fully masked
        m = ~keep if padding == "bool" else np.where(keep, 0.0, -np.inf)
        kw_c["key_padding_mask"], kw_t["key_padding_mask"] = m, torch.tensor(m)
    if attn is not None:
        shape = (batch * heads, rows, cols) if attn == "bool per head" else (rows, cols)
        allowed = _mask("bool", shape, full_row and padding is None)
        m = ~allowed if attn != "float" else np.where(allowed, RNG.normal(size=shape), -np.inf)
        kw_c["attn_mask"], kw_t["attn_mask"] = m, torch.tensor(m)
    _same_everything(cm, tm, c_in, t_in, lambda *a: cm(*a, **kw_c), lambda *a: tm(*a, **kw_t))


def test_multihead_attention_unbatched_and_refusals():
    tm = torch.nn.MultiheadAttention(4, 2)
    cm = _from_torch(cr.nn.MultiheadAttention(4, 2), tm)
    x = RNG.normal(size=(3, 4))
    (xc, xt) = pair(x)
    _same_everything(cm, tm, [xc], [xt], lambda a: cm(a, a, a), lambda a: tm(a, a, a))
    assert list(cm.state_dict()) == [
        "in_proj_weight",
        "in_proj_bias",
        "out_proj.weight",
        "out_proj.bias",
    ]
    with pytest.raises(ValueError, match="multiple of num_heads"):
        cr.nn.MultiheadAttention(5, 2)
    separate = cr.nn.MultiheadAttention(4, 2, kdim=3, vdim=5, add_bias_kv=True)
    assert list(separate.state_dict()) == list(
        torch.nn.MultiheadAttention(4, 2, kdim=3, vdim=5, add_bias_kv=True).state_dict()
    )
    with pytest.raises(ValueError, match="kdim=3"):
        separate(x, x, x)
    with pytest.raises(ValueError, match="needs attn_mask"):
        cm(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="key_padding_mask must be shaped"):
        cm(
            RNG.normal(size=(3, 2, 4)),
            *(RNG.normal(size=(3, 2, 4)),) * 2,
            key_padding_mask=np.zeros((3, 3), bool),
        )


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_encoder_matches_torch(norm_first, activation, batch_first):
    kw = dict(dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    tl = torch.nn.TransformerEncoderLayer(8, 2, 16, **kw)
    te = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False)
    ce = cr.nn.TransformerEncoder(
        cr.nn.TransformerEncoderLayer(8, 2, 16, **kw), 2, norm=cr.nn.LayerNorm(8)
    )
    ce = _from_torch(ce, te)
    assert "layers.1.self_attn.in_proj_weight" in ce.state_dict()
    batch, length = 3, 5
    x = RNG.normal(size=(batch, length, 8) if batch_first else (length, batch, 8))
    padding = RNG.random((batch, length)) > 0.7
    padding[:, 0] = False
    causal = np.triu(np.ones((length, length), dtype=bool), 1)
    xc, xt = pair(x)
    _same_everything(
        ce,
        te,
        [xc],
        [xt],
        lambda a: ce(a, mask=causal, src_key_padding_mask=padding),
        lambda a: te(a, mask=torch.tensor(causal), src_key_padding_mask=torch.tensor(padding)),
    )


def test_transformer_layers_are_independent_copies():
    layer = cr.nn.TransformerEncoderLayer(4, 2, 8)
    enc = cr.nn.TransformerEncoder(layer, 2)
    w0, w1 = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    np.testing.assert_array_equal(w0.data, w1.data)
    assert w0 is not w1 and not np.shares_memory(w0.data, w1.data)
    assert len(list(enc.parameters())) == 2 * len(list(layer.parameters()))


def _decoder_masks(kind, rows, cols, batch, torch_side):
    """(tgt_mask, tgt_is_causal, memory_key_padding_mask) for a drawn kind."""
    wrap = torch.tensor if torch_side else cr.tensor
    tgt_mask, causal, padding = None, False, None
    if kind in ("causal", "both"):
        tgt_mask = wrap(np.triu(np.full((rows, rows), -np.inf), 1))
        causal = True
    if kind in ("padding", "both"):
        keep = np.ones((batch, cols), bool)
        keep[0, cols // 2 :] = False  # the first sequence's memory half padded
        keep[:, 0] = True
        padding = wrap(~keep)
    return tgt_mask, causal, padding


@settings(max_examples=20, deadline=None)
@given(
    norm_first=st.booleans(),
    activation=st.sampled_from(["relu", "gelu"]),
    batch_first=st.booleans(),
    bias=st.booleans(),
    layers=st.integers(1, 2),
    rows=st.integers(1, 4),
    cols=st.integers(1, 4),
    masks=st.sampled_from([None, "causal", "padding", "both"]),
)
def test_transformer_decoder_and_transformer_match_torch(
    norm_first, activation, batch_first, bias, layers, rows, cols, masks
):
    kw = dict(dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    kw["bias"] = bias
    batch, e = 2, 8

    def seq(length):
        return RNG.normal(size=(batch, length, e) if batch_first else (length, batch, e))

    tgt, mem = seq(rows), seq(cols)
    td = torch.nn.TransformerDecoder(
        torch.nn.TransformerDecoderLayer(e, 2, 16, **kw), layers, norm=torch.nn.LayerNorm(e)
    )
    cd = _from_torch(
        cr.nn.TransformerDecoder(
            cr.nn.TransformerDecoderLayer(e, 2, 16, **kw), layers, norm=cr.nn.LayerNorm(e)
        ),
        td,
    )

    def call(m, torch_side):
        tgt_mask, causal, padding = _decoder_masks(masks, rows, cols, batch, torch_side)
        return lambda t, s: m(
            t, s, tgt_mask=tgt_mask, tgt_is_causal=causal, memory_key_padding_mask=padding
        )

    (tc, tt), (mc, mt) = pair(tgt), pair(mem)
    _same_everything(cd, td, [tc, mc], [tt, mt], call(cd, False), call(td, True))

    tm = torch.nn.Transformer(e, 2, layers, layers, 16, **kw)
    cm = _from_torch(cr.nn.Transformer(e, 2, layers, layers, 16, **kw), tm)
    (sc, st_), (tc, tt) = pair(seq(cols)), pair(tgt)
    _same_everything(cm, tm, [sc, tc], [st_, tt], call(cm, False), call(tm, True))


def test_transformer_init_masks_and_refusals():
    cr.nn.manual_seed(0)
    model = cr.nn.Transformer(16, 2, 1, 2, 32)
    assert list(model.state_dict()) == list(torch.nn.Transformer(16, 2, 1, 2, 32).state_dict())
    w = model.decoder.layers[1].linear1.weight.numpy()  # Glorot-uniform, as PyTorch's
    bound = np.sqrt(6 / (16 + 32))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert not np.any(model.encoder.layers[0].linear1.bias.numpy() == 0)  # a 1-D one: kept
    mask = cr.nn.Transformer.generate_square_subsequent_mask(4)
    close(mask, torch.nn.Transformer.generate_square_subsequent_mask(4).double())
    assert mask.dtype == np.float32
    with pytest.raises(ValueError, match="batch sizes"):
        model(cr.zeros((3, 2, 16)), cr.zeros((3, 4, 16)))
    with pytest.raises(ValueError, match="d_model=16"):
        model(cr.zeros((3, 2, 16)), cr.zeros((3, 2, 8)))


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 3, 4), (2, 3, 4, 5)])
def test_softmax_without_dim_takes_torchs_implicit_axis_and_warns(name, shape):
    # PyTorch's deprecated default: axis 0 for 1-D and 3-D inputs, axis 1 otherwise;
    # the last axis instead would silently give other numbers on 3-D and 4-D inputs.
    x = RNG.normal(size=shape)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        mine = getattr(F, name)(x)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        theirs = getattr(TF, name)(torch.tensor(x))
    close(mine, theirs)
    layer = {"softmax": "Softmax", "log_softmax": "LogSoftmax", "softmin": "Softmin"}[name]
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        close(getattr(cr.nn, layer)()(x), theirs)


LEGACY = [
    ("cross_entropy", lambda r: (r.normal(size=(4, 3)), r.integers(0, 3, 4)), True),
    ("nll_loss", lambda r: (r.normal(size=(4, 3)), r.integers(0, 3, 4)), True),
    ("binary_cross_entropy", lambda r: (r.uniform(0.1, 0.9, 5), r.uniform(0, 1, 5)), True),
    ("binary_cross_entropy_with_logits", lambda r: (r.normal(size=5), r.uniform(0, 1, 5)), True),
    ("mse_loss", lambda r: (r.normal(size=5), r.normal(size=5)), False),
    ("l1_loss", lambda r: (r.normal(size=5), r.normal(size=5)), False),
    ("smooth_l1_loss", lambda r: (r.normal(size=5), r.normal(size=5)), False),
    ("kl_div", lambda r: (r.normal(size=5), r.uniform(0, 1, 5)), False),
]


@pytest.mark.parametrize("name, make, has_weight", LEGACY)
@pytest.mark.parametrize("size_average, reduce", [(False, None), (None, False), (True, True)])
def test_losses_take_torchs_legacy_arguments_in_torchs_positions(
    name, make, has_weight, size_average, reduce
):
    # An old call passing size_average by position must mean what it means in PyTorch
    # (cross_entropy's third and fourth are weight and size_average, not ignore_index).
    x, y = make(np.random.default_rng(7))
    lead = (None,) if has_weight else ()  # weight comes before size_average there
    args = (*lead, size_average)
    yt_ = torch.tensor(y)
    with pytest.warns(UserWarning, match="size_average and reduce"):
        theirs = getattr(TF, name)(torch.tensor(x), yt_, *args, reduce=reduce)
    with pytest.warns(UserWarning, match="size_average and reduce"):
        mine = getattr(F, name)(x, y, *args, reduce=reduce)
    close(mine, theirs)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_elementwise_loss_weights_as_torch_2_13(name, reduction):
    x, y, w = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4)), RNG.uniform(0, 2, (3, 4))
    xc, xt = pair(x)
    mine = getattr(F, name)(xc, y, reduction=reduction, weight=w)
    theirs = getattr(TF, name)(xt, torch.tensor(y), reduction=reduction, weight=torch.tensor(w))
    close(mine, theirs)
    g = RNG.normal(size=tuple(theirs.shape))
    mine.backward(g)
    theirs.backward(torch.tensor(g))
    close(xc.grad, xt.grad)
    with pytest.raises(ValueError, match="same size"):
        getattr(F, name)(x, y, weight=w[0])


@pytest.mark.parametrize(
    "name, args, shape",
    [
        ("BatchNorm1d", (3,), (4, 3)),
        ("BatchNorm2d", (3,), (4, 3, 2, 2)),
        ("GroupNorm", (2, 4), (3, 4, 5)),
        ("LayerNorm", (5,), (3, 4, 5)),
    ],
)
@pytest.mark.parametrize("bias", [True, False])
def test_norm_layers_with_and_without_bias_match_torch(name, args, shape, bias):
    # PyTorch 2.13's bias=False: a learnt scale, no shift; its printed form says so
    tm = getattr(torch.nn, name)(*args, bias=bias)
    cm = getattr(cr.nn, name)(*args, bias=bias)
    assert repr(cm) == repr(tm)
    with torch.no_grad():
        for p in tm.parameters():
            p.uniform_(0.5, 1.5)
    cm = _from_torch(cm, tm)
    xc, xt = pair(RNG.normal(size=shape))
    _same_everything(cm, tm, [xc], [xt], cm, tm)


@settings(max_examples=20, deadline=None)
@given(
    layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    bias=st.booleans(),
    initial_state=st.booleans(),
    hidden=st.integers(2, 5),
    data=st.data(),
)
def test_lstm_with_projections_matches_torch(
    layers, bidirectional, batch_first, bias, initial_state, hidden, data
):
    # proj_size: h_t = W_hr (o_t tanh(c_t)) has P < H numbers; it is the output and
    # what W_hh (4H, P) multiplies; c keeps H; weight_hr_l{k} after the biases
    proj = data.draw(st.integers(1, hidden - 1))
    kw = dict(
        num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias,
        proj_size=proj,
    )  # fmt: skip
    tm = torch.nn.LSTM(3, hidden, **kw)
    cm = _from_torch(cr.nn.LSTM(3, hidden, **kw), tm)
    assert repr(cm) == repr(tm)
    xc, xt = pair(RNG.normal(size=(2, 4, 3) if batch_first else (4, 2, 3)))
    c_in, t_in = [xc], [xt]
    if initial_state:
        lead = (layers * (2 if bidirectional else 1), 2)
        (hc, ht), (cc, ct) = (
            pair(RNG.normal(size=(*lead, proj))),
            pair(RNG.normal(size=(*lead, hidden))),
        )
        c_in.append((hc, cc))
        t_in.append((ht, ct))
    _same_everything(cm, tm, c_in, t_in, cm, tm)
