"""Values where a loss or an activation is at an edge (a kink, a saturated
probability, a batch with nothing counted), against torch==2.13.0: a PyTorch
program with its imports changed must train the same way there too."""

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

torch = pytest.importorskip("torch", reason="PyTorch (torch==2.13.0) is the oracle here")
F = cr.nn.functional
TF = torch.nn.functional


def value_and_grad(lib, fn, x, *args):
    if lib is cr:
        t = cr.tensor(x, requires_grad=True)
        out = fn(t, *args)
        out.sum().backward()
        return np.asarray(out.data), np.asarray(t.grad.data)
    t = torch.tensor(x, requires_grad=True)
    out = fn(t, *(torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args))
    out.sum().backward()
    return out.detach().numpy(), t.grad.numpy()


def same(got, want, rtol=1e-7):
    for a, b in zip(got, want):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_leaky_relu_takes_the_slope_at_zero(dtype):
    x = np.array([-2.0, -0.0, 0.0, 1e-30, 3.0], dtype=dtype)
    got = value_and_grad(cr, lambda t: F.leaky_relu(t, 0.1), x)
    same(got, value_and_grad(torch, lambda t: TF.leaky_relu(t, 0.1), x))
    assert got[1][2] == pytest.approx(0.1)
    layer = value_and_grad(cr, cr.nn.LeakyReLU(0.2), x)
    same(layer, value_and_grad(torch, torch.nn.LeakyReLU(0.2), x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_at_saturated_probabilities(dtype):
    # p exactly 0 or 1 (the clamped logs), and p within 1e-12 of them, where
    # PyTorch's gradient divides by p(1-p) floored at 1e-12.
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-15, 1 - 1e-7, 0.3, 4e-18], dtype=dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.7, 1.0], dtype=dtype)
    for reduction in ("none", "sum", "mean"):
        got = value_and_grad(cr, partial(F.binary_cross_entropy, reduction=reduction), p, y)
        want = value_and_grad(torch, partial(TF.binary_cross_entropy, reduction=reduction), p, y)
        same(got, want, rtol=1e-6 if dtype == np.float32 else 1e-12)
    assert np.isfinite(got[1]).all()


def test_binary_cross_entropy_of_a_saturated_sigmoid():
    # sigmoid(-40) is 4e-18: the exact gradient of the loss is -1, PyTorch's is
    # -4e-6 (its floor), and a port of a PyTorch program must see PyTorch's.
    x = np.array([-40.0, 40.0, -3.0, 0.5])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    got = value_and_grad(cr, lambda t, y: F.binary_cross_entropy(cr.sigmoid(t), y), x, y)
    want = value_and_grad(torch, lambda t, y: TF.binary_cross_entropy(torch.sigmoid(t), y), x, y)
    same(got, want, rtol=1e-12)


def test_binary_cross_entropy_target_gradient_and_weight():
    rng = np.random.default_rng(3)
    p, y, w = rng.uniform(0, 1, (3, 4)), rng.uniform(0, 1, (3, 4)), rng.uniform(0, 2, (4,))
    pc, yc = cr.tensor(p, requires_grad=True), cr.tensor(y, requires_grad=True)
    pt, yt = torch.tensor(p, requires_grad=True), torch.tensor(y, requires_grad=True)
    F.binary_cross_entropy(pc, yc, weight=cr.tensor(w)).backward()
    TF.binary_cross_entropy(pt, yt, weight=torch.tensor(w)).backward()
    np.testing.assert_allclose(pc.grad.data, pt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(yc.grad.data, yt.grad.numpy(), rtol=1e-12)


def test_binary_cross_entropy_rule_is_its_own_derivative_inside():
    rng = np.random.default_rng(4)
    p = cr.tensor(rng.uniform(0.05, 0.95, (5,)), requires_grad=True)
    y = cr.tensor(rng.uniform(0, 1, (5,)), requires_grad=True)
    fn = lambda a, b: F.binary_cross_entropy(a, b, reduction="sum")  # noqa: E731
    assert cr.gradcheck(fn, (p, y))
    assert cr.gradgradcheck(fn, (p, y))


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 5),
    classes=st.integers(2, 5),
    ignored=st.lists(st.booleans(), min_size=5, max_size=5),
    smoothing=st.sampled_from([0.0, 0.2]),
    weighted=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_cross_entropy_with_targets_ignored(rows, classes, ignored, smoothing, weighted, seed):
    # Every target ignored: PyTorch's mean is nan with a zero gradient, so a batch of
    # padding alone leaves the weights as they were; some ignored: the mean of the rest.
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, classes))
    target = np.where(ignored[:rows], -100, rng.integers(0, classes, rows))
    w = rng.uniform(0.5, 2, classes) if weighted else None
    kw = {"label_smoothing": smoothing}

    def ours(t, tg):
        return F.cross_entropy(t, tg, weight=None if w is None else cr.tensor(w), **kw)

    def theirs(t, tg):
        return TF.cross_entropy(t, tg, weight=None if w is None else torch.tensor(w), **kw)

    got = value_and_grad(cr, ours, x, target)
    same(got, value_and_grad(torch, theirs, x, target), rtol=1e-10)
    ll = rng.normal(size=(rows, classes))
    got = value_and_grad(cr, lambda t, tg: F.nll_loss(t, tg), ll, target)
    same(got, value_and_grad(torch, lambda t, tg: TF.nll_loss(t, tg), ll, target), rtol=1e-10)


def test_all_ignored_batches_per_example_under_vmap_and_jit():
    rng = np.random.default_rng(5)
    x = cr.tensor(rng.normal(size=(4, 3, 5)))
    targets = [
        np.array([[1, 2, 3], [-100, -100, -100], [0, -100, 1], [4, 4, 4]]),
        np.array([[-100, -100, -100], [1, -100, -100], [0, 1, 2], [4, -100, 4]]),
    ]
    jitted = cr.jit(lambda a, t: cr.vmap(F.cross_entropy)(a, t))
    per_example_grad = cr.vmap(cr.grad(F.cross_entropy))
    for target in targets:
        loop = [F.cross_entropy(x[i], cr.tensor(target[i])).item() for i in range(4)]
        np.testing.assert_allclose(cr.vmap(F.cross_entropy)(x, cr.tensor(target)).data, loop)
        np.testing.assert_allclose(jitted(x, cr.tensor(target)).data, loop)
        grads = per_example_grad(x, cr.tensor(target)).data
        for i in range(4):
            want = cr.grad(F.cross_entropy)(x[i], cr.tensor(target[i])).data
            np.testing.assert_allclose(grads[i], want)
            if (target[i] == -100).all():  # nothing counted: nan loss, zero gradient
                assert np.isnan(loop[i]) and not grads[i].any()
        assert np.isnan(loop).sum() == 1
    # one cr.jit of the unbatched loss, called with and without counted targets
    step = cr.jit(lambda a, t: F.nll_loss(a, t))
    for target in ([1, 2, 0], [-100, -100, -100], [1, 2, 0], [-100, -100, -100]):
        want = F.nll_loss(x[0], cr.tensor(target)).item()
        np.testing.assert_equal(step(x[0], cr.tensor(target)).item(), want)


LAYERS = [
    ("Linear", (3, 2)),
    ("Conv1d", (2, 3, 3)),
    ("Conv2d", (2, 3, 3)),
    ("ConvTranspose2d", (2, 3, 3)),
    ("BatchNorm1d", (3,)),
    ("BatchNorm2d", (3,)),
    ("LayerNorm", (3,)),
    ("GroupNorm", (1, 3)),
    ("Embedding", (4, 3)),
    ("RNN", (3, 4)),
    ("LSTM", (3, 4)),
    ("GRU", (3, 4)),
    ("MultiheadAttention", (4, 2)),
    ("TransformerEncoderLayer", (4, 2, 8)),
]


@pytest.mark.parametrize("name,args", LAYERS, ids=[n for n, _ in LAYERS])
def test_layers_take_the_default_dtype(name, args):
    # torch.set_default_dtype(torch.float64) makes a model float64; a port that
    # calls cr.set_default_dtype must not train a float32 model without a word.
    before_cr, before_torch = cr.get_default_dtype(), torch.get_default_dtype()
    try:
        for ours, theirs in ((cr.float64, torch.float64), (cr.float32, torch.float32)):
            cr.set_default_dtype(ours)
            torch.set_default_dtype(theirs)
            got = {k: str(v.dtype) for k, v in getattr(cr.nn, name)(*args).state_dict().items()}
            want = {
                k: str(v.dtype).replace("torch.", "")
                for k, v in getattr(torch.nn, name)(*args).state_dict().items()
            }
            assert got == want
        assert cr.nn.Parameter().dtype == np.float32
    finally:
        cr.set_default_dtype(before_cr)
        torch.set_default_dtype(before_torch)


def test_torch_func_imports_port_by_changing_the_module():
    from torch.func import jacrev as t_jacrev
    from torch.func import vmap as t_vmap

    from chainrule.func import jacrev, vmap

    x = np.random.default_rng(6).normal(size=(4, 3))
    want = t_vmap(t_jacrev(lambda v: torch.sin(v) * v.sum()))(torch.tensor(x)).numpy()
    got = vmap(jacrev(lambda v: cr.sin(v) * v.sum()))(cr.tensor(x))
    np.testing.assert_allclose(np.asarray(got.data), want, rtol=1e-12)
    assert jacrev is cr.jacrev is cr.jacobian and vmap is cr.vmap


@pytest.mark.parametrize(
    "name,args,kwargs",
    [
        ("Conv2d", (2, 3, 3), {}),
        ("Conv2d", (2, 4, 3), {"stride": 2, "padding": 1, "dilation": 2, "groups": 2}),
        ("Conv2d", (2, 3, 3), {"padding": "same", "bias": False}),
        ("Conv1d", (2, 3, 3), {"padding": "valid"}),
        ("ConvTranspose2d", (2, 4, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
        (
            "ConvTranspose2d",
            (2, 4, 3),
            {"stride": 2, "output_padding": 1, "dilation": 2, "groups": 2, "bias": False},
        ),
    ],
)
def test_convolutions_print_as_pytorch_prints_them(name, args, kwargs):
    assert repr(getattr(cr.nn, name)(*args, **kwargs)) == repr(
        getattr(torch.nn, name)(*args, **kwargs)
    )
