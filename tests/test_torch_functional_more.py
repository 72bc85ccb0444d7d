"""More of torch.nn.functional and its layers, against PyTorch 2.13: values and
gradients in float64 (tolerance 1e-9), the kinks where PyTorch picks a side, second
derivatives, float32 preservation, errors, and the layers' printed forms and state dicts."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RTOL, ATOL = 1e-9, 1e-12


def _close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


def _grad_or_zero(t, shape):
    g = t.grad
    if g is None:
        return np.zeros(shape)
    return g.data if isinstance(g, cr.Tensor) else g.detach().numpy()


def _compare(fn_cr, fn_torch, arrays, seed=0, differentiable=None, grad_rtol=RTOL):
    """fn(*arrays) in chainrule and torch: the values, and the gradients of a random
    weighting of the output with respect to each differentiable array."""
    differentiable = range(len(arrays)) if differentiable is None else differentiable
    xs = [cr.tensor(a, requires_grad=i in differentiable) for i, a in enumerate(arrays)]
    ts = [torch.tensor(a, requires_grad=i in differentiable) for i, a in enumerate(arrays)]
    out, out_t = fn_cr(*xs), fn_torch(*ts)
    _close(out.data, out_t.detach().numpy())
    assert out.shape == tuple(out_t.shape)
    w = np.random.default_rng(seed).normal(size=out.shape)
    (out * cr.tensor(w)).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()
    for i in differentiable:
        got = _grad_or_zero(xs[i], arrays[i].shape)
        want = _grad_or_zero(ts[i], arrays[i].shape)
        assert np.isfinite(got).all() == np.isfinite(want).all()
        _close(got, want, rtol=grad_rtol)
    return out


# ------------------------------------------------------------------ activations
ACTIVATIONS = [
    ("hardswish", {}),
    ("hardsigmoid", {}),
    ("selu", {}),
    ("celu", {}),
    ("celu", {"alpha": 2.0}),
    ("softsign", {}),
    ("tanhshrink", {}),
    ("softshrink", {}),
    ("softshrink", {"lambd": 1.5}),
    ("hardshrink", {}),
    ("hardshrink", {"lambd": 1.5}),
    ("threshold", {"threshold": 0.5, "value": -2.0}),
    ("threshold", {"threshold": -1.0, "value": 7.0}),
    ("softplus", {}),
    ("softplus", {"beta": 2.0, "threshold": 3.0}),
    ("softplus", {"beta": 0.5, "threshold": 10.0}),
]
# Every kink of the activations above (+-3, +-0.5, +-1.5, 0, the thresholds 0.5 and
# -1, softplus's switch at beta x = threshold: 20, 1.5, 20), and far out.
KINKS = np.array(
    [-800.0, -20.0, -3.0, -2.7, -1.5, -1.0, -0.5, 0.0, 0.3, 0.5, 1.0, 1.5, 3.0, 20.0, 800.0]
)


# PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32 (0.16666667163...)
# even in float64; chainrule's slope is 1/6 exactly (what finite differences see).
GRAD_RTOL = {"hardsigmoid": 1e-7}


def _activation(name, kwargs):
    return (lambda x: getattr(F, name)(x, **kwargs)), (lambda t: getattr(TF, name)(t, **kwargs))


@pytest.mark.parametrize(("name", "kwargs"), ACTIVATIONS)
def test_activation_matches_pytorch_at_its_kinks(name, kwargs):
    fn, fn_t = _activation(name, kwargs)
    _compare(fn, fn_t, [KINKS], grad_rtol=GRAD_RTOL.get(name, RTOL))


def test_kink_gradients_are_pytorchs_named_values():
    def grads(fn, values):
        x = cr.tensor(values, requires_grad=True)
        fn(x).sum().backward()
        return x.grad.data.tolist()

    assert grads(F.hardswish, [-3.0, 3.0, 0.0]) == [0.0, 1.0, 0.5]
    assert grads(F.hardsigmoid, [-3.0, 3.0]) == [0.0, 0.0]
    assert grads(F.hardshrink, [-0.5, 0.5, 0.6]) == [0.0, 0.0, 1.0]
    assert grads(F.softshrink, [-0.5, 0.5, -0.6]) == [0.0, 0.0, 1.0]
    assert grads(lambda x: F.threshold(x, 1.0, 5.0), [1.0, 1.5]) == [0.0, 1.0]
    assert grads(lambda x: F.prelu(x, cr.tensor([0.25])), [0.0]) == [0.25]
    assert grads(F.selu, [0.0]) == pytest.approx([1.0507009873554805 * 1.6732632423543772])
    assert grads(lambda x: F.celu(x, 2.0), [0.0]) == [1.0]


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(ACTIVATIONS),
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
        elements=st.floats(-6, 6),
    ),
)
def test_activation_matches_pytorch_over_random_shapes(case, values):
    fn, fn_t = _activation(*case)
    _compare(fn, fn_t, [values], grad_rtol=GRAD_RTOL.get(case[0], RTOL))


@pytest.mark.parametrize(("name", "kwargs"), ACTIVATIONS)
def test_activation_keeps_float32(name, kwargs):
    values = np.linspace(-5, 5, 13).astype(np.float32)
    fn, fn_t = _activation(name, kwargs)
    x = cr.tensor(values, requires_grad=True)
    out = fn(x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32
    _close(out.data, fn_t(torch.tensor(values)).numpy(), rtol=1e-6, atol=1e-6)


# Points away from every kink, where second derivatives exist.
SMOOTH = np.array([-4.2, -2.1, -0.7, 0.4, 1.3, 2.6, 4.4])


@pytest.mark.parametrize(("name", "kwargs"), ACTIVATIONS)
def test_activation_second_derivatives(name, kwargs):
    fn, fn_t = _activation(name, kwargs)
    x = cr.tensor(SMOOTH, requires_grad=True)
    assert cr.gradgradcheck(fn, (x,))
    # and they are PyTorch's (its double backward)
    (g,) = cr.autograd.grad(fn(x).sum(), [x], create_graph=True)
    gg = None  # piecewise linear: the gradient is a constant
    if g.requires_grad:
        (gg,) = cr.autograd.grad((g * cr.tensor(SMOOTH)).sum(), [x], allow_unused=True)
    if name == "hardsigmoid":  # torch has no double backward for it; ours is 0
        assert gg is None or not np.any(gg.data)
        return
    t = torch.tensor(SMOOTH, requires_grad=True)
    (gt,) = torch.autograd.grad(fn_t(t).sum(), [t], create_graph=True)
    if gt.requires_grad:
        (ggt,) = torch.autograd.grad((gt * torch.tensor(SMOOTH)).sum(), [t], allow_unused=True)
    else:
        ggt = None
    want = np.zeros_like(SMOOTH) if ggt is None else ggt.numpy()
    _close(np.zeros_like(SMOOTH) if gg is None else gg.data, want)


def test_softplus_default_switches_to_x_above_20():
    x = cr.tensor([19.0, 21.0, 800.0], requires_grad=True)
    out = F.softplus(x)
    assert out.data[1] == 21.0 and out.data[2] == 800.0
    out.sum().backward()
    assert x.grad.data[1:].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("shape", [(6,), (2, 4), (3, 4, 2)])
@pytest.mark.parametrize("dim", [0, -1, 1])
def test_glu_matches_pytorch(shape, dim):
    if dim >= len(shape) or shape[dim] % 2:
        return
    values = np.random.default_rng(2).normal(size=shape)
    _compare(lambda x: F.glu(x, dim), lambda t: TF.glu(t, dim), [values])
    x = cr.tensor(values, requires_grad=True)
    assert cr.gradgradcheck(lambda v: F.glu(v, dim), (x,))


@pytest.mark.parametrize(
    ("shape", "slopes"), [((5,), 1), ((2, 3), 3), ((2, 3, 4), 3), ((2, 3, 2, 2), 1), ((4, 2), 1)]
)
def test_prelu_matches_pytorch(shape, slopes):
    rng = np.random.default_rng(3)
    values = rng.normal(size=shape)
    values.flat[0] = 0.0  # the kink
    weight = rng.uniform(0.1, 0.5, size=slopes)
    _compare(F.prelu, TF.prelu, [values, weight])
    x = cr.tensor(values * 0 + rng.uniform(0.2, 1.0, size=shape) * np.sign(values + 0.01))
    x.requires_grad = True
    w = cr.tensor(weight, requires_grad=True)
    assert cr.gradgradcheck(F.prelu, (x, w))


@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "softmin"])
def test_softmax_dtype_casts_the_input_first(fn):
    values = np.random.default_rng(4).normal(size=(3, 5)).astype(np.float32)
    x = cr.tensor(values, requires_grad=True)
    out = getattr(F, fn)(x, dim=1, dtype=cr.float64)
    assert out.dtype == np.float64
    expected = getattr(TF, fn)(torch.tensor(values), dim=1, dtype=torch.float64)
    _close(out.data, expected.numpy())
    out.sum().backward()
    assert x.grad.dtype == np.float32


# ------------------------------------------------------------------ norms, distances
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_normalize_matches_pytorch_with_zero_and_tiny_rows(p, dim):
    values = np.random.default_rng(5).normal(size=(4, 3))
    values[1] = 0.0  # a zero row: a finite gradient, as torch's
    values[:, 2] *= 1e-14  # a column below eps
    _compare(lambda x: F.normalize(x, p, dim), lambda t: TF.normalize(t, p, dim), [values])


@pytest.mark.parametrize("eps", [1e-8, 0.5])
def test_cosine_similarity_matches_pytorch_with_zero_tiny_and_broadcast(eps):
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    a[1] = 0.0
    a[2] *= 1e-10
    b[3] *= 1e-9
    for dim in (0, 1, -1):
        _compare(
            lambda x, y, d=dim: F.cosine_similarity(x, y, d, eps),
            lambda x, y, d=dim: TF.cosine_similarity(x, y, d, eps),
            [a, b],
        )
    c = rng.normal(size=(1, 5))  # broadcast against (4, 5)
    _compare(
        lambda x, y: F.cosine_similarity(x, y, 1, eps),
        lambda x, y: TF.cosine_similarity(x, y, 1, eps),
        [a, c],
    )


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("eps", [1e-6, 0.0])
def test_pairwise_distance_matches_pytorch(p, keepdim, eps):
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    b[1] = a[1]  # a zero difference: with eps=0 its gradient must not be NaN
    _compare(
        lambda x, y: F.pairwise_distance(x, y, p, eps, keepdim),
        lambda x, y: TF.pairwise_distance(x, y, p, eps, keepdim),
        [a, b],
    )
    _compare(  # 1-d inputs, and a broadcast row
        lambda x, y: F.pairwise_distance(x, y, p, eps, keepdim),
        lambda x, y: TF.pairwise_distance(x, y, p, eps, keepdim),
        [a[0], b],
    )


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.sampled_from([1.0, 2.0, 3.0]), st.data())
def test_distances_match_pytorch_over_random_shapes(rows, width, p, data):
    # Zero, or well away from underflow (where a norm of 1e-188 squares to 0 and torch's
    # gradient turns NaN) and from the rounding of 1/|x| - x^2/|x|^3 for tiny |x|.
    elems = st.one_of(st.just(0.0), st.floats(1e-2, 3), st.floats(-3, -1e-2))
    a = data.draw(hnp.arrays(np.float64, (rows, width), elements=elems))
    b = data.draw(hnp.arrays(np.float64, (rows, width), elements=elems))
    _compare(lambda x: F.normalize(x, p), lambda t: TF.normalize(t, p), [a])
    _compare(F.cosine_similarity, TF.cosine_similarity, [a, b])
    _compare(
        lambda x, y: F.pairwise_distance(x, y, p),
        lambda x, y: TF.pairwise_distance(x, y, p),
        [a, b],
    )


def test_distances_second_derivatives():
    rng = np.random.default_rng(8)
    a = cr.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    b = cr.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    assert cr.gradgradcheck(lambda x: F.normalize(x, 2.0, 1), (a,))
    assert cr.gradgradcheck(lambda x: F.normalize(x, 3.0, 0), (a,))
    assert cr.gradgradcheck(F.cosine_similarity, (a, b))
    assert cr.gradgradcheck(F.pairwise_distance, (a, b))


def test_distances_keep_float32():
    a = cr.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    b = cr.tensor(np.full((2, 3), 2.0, np.float32), requires_grad=True)
    for out in (F.normalize(a), F.cosine_similarity(a, b), F.pairwise_distance(a, b)):
        assert out.dtype == np.float32


# ------------------------------------------------------------------ fold, pixel shuffle
FOLD_CASES = [
    # (channels, output_size, kernel, dilation, padding, stride)
    (2, (4, 5), 2, 1, 0, 1),
    (1, (5, 5), 3, 1, 1, 2),
    (3, (6, 4), (2, 3), (2, 1), (1, 0), (1, 1)),
    (2, (7, 6), (3, 2), 1, (1, 1), (2, 2)),
]


def _blocks(size, k, d, p, s):
    def one(n, k, d, p, s):
        return (n + 2 * p - d * (k - 1) - 1) // s + 1

    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    (h, w), (kh, kw), (dh, dw), (ph, pw), (sh, sw) = (pair(v) for v in (size, k, d, p, s))
    return one(h, kh, dh, ph, sh) * one(w, kw, dw, pw, sw), kh * kw


@pytest.mark.parametrize("case", FOLD_CASES)
@pytest.mark.parametrize("batched", [True, False])
def test_fold_and_unfold_match_pytorch(case, batched):
    c, size, k, d, p, s = case
    blocks, kk = _blocks(size, k, d, p, s)
    rng = np.random.default_rng(9)
    cols = rng.normal(size=(2, c * kk, blocks) if batched else (c * kk, blocks))
    _compare(lambda x: F.fold(x, size, k, d, p, s), lambda t: TF.fold(t, size, k, d, p, s), [cols])
    image = rng.normal(size=(2, c, *size) if batched else (c, *size))
    _compare(lambda x: F.unfold(x, k, d, p, s), lambda t: TF.unfold(t, k, d, p, s), [image])
    # layers: the same numbers
    _close(
        nn.Fold(size, k, d, p, s)(cr.tensor(cols)).data,
        TF.fold(torch.tensor(cols), size, k, d, p, s),
    )
    _close(nn.Unfold(k, d, p, s)(cr.tensor(image)).data, TF.unfold(torch.tensor(image), k, d, p, s))


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 2),
    st.integers(0, 1),
    st.integers(1, 2),
    st.integers(3, 6),
    st.integers(3, 6),
)
def test_fold_is_the_adjoint_of_unfold(c, k, d, p, s, h, w):
    if d * (k - 1) + 1 > h + 2 * p or d * (k - 1) + 1 > w + 2 * p:
        return  # no block fits
    rng = np.random.default_rng(c * 100 + k * 10 + h)
    x = rng.normal(size=(1, c, h, w))
    cols = F.unfold(x, k, d, p, s)
    y = rng.normal(size=cols.shape)
    left = float((cols.data * y).sum())
    right = float((x * F.fold(y, (h, w), k, d, p, s).data).sum())
    assert left == pytest.approx(right, rel=1e-12, abs=1e-12)
    _compare(lambda v: F.fold(v, (h, w), k, d, p, s), lambda t: TF.fold(t, (h, w), k, d, p, s), [y])


def test_fold_second_derivative_and_float32():
    cols = cr.tensor(np.random.default_rng(10).normal(size=(1, 4, 4)), requires_grad=True)
    assert cr.gradgradcheck(lambda v: F.fold(v * v, (3, 3), 2), (cols,))
    assert F.fold(np.ones((1, 4, 4), np.float32), (3, 3), 2).dtype == np.float32


@pytest.mark.parametrize("shape", [(8, 2, 3), (1, 8, 2, 3), (2, 3, 18, 2, 2)])
@pytest.mark.parametrize("r", [1, 2, 3])
def test_pixel_shuffle_matches_pytorch(shape, r):
    if shape[-3] % (r * r):
        return
    values = np.random.default_rng(11).normal(size=shape)
    out = _compare(lambda x: F.pixel_shuffle(x, r), lambda t: TF.pixel_shuffle(t, r), [values])
    back = F.pixel_unshuffle(out, r)
    _close(back.data, values)
    _compare(
        lambda x: F.pixel_unshuffle(x, r),
        lambda t: TF.pixel_unshuffle(t, r),
        [out.data.copy()],
    )
    _close(nn.PixelShuffle(r)(cr.tensor(values)).data, out.data)


# ------------------------------------------------------------------ instance norm, LRN
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 4), (1, 2, 3, 2, 2)])
@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm_matches_pytorch(shape, affine):
    rng = np.random.default_rng(12)
    values = rng.normal(size=shape) * 3 + 1
    c = shape[1]
    if affine:
        args = [values, rng.normal(size=c), rng.normal(size=c)]
        _compare(
            lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
            lambda x, w, b: TF.instance_norm(x, weight=w, bias=b),
            args,
        )
    else:
        _compare(F.instance_norm, TF.instance_norm, [values])
    x = cr.tensor(values, requires_grad=True)
    assert cr.gradgradcheck(lambda v: F.instance_norm(v, eps=1e-3), (x,))


def test_instance_norm_running_statistics_match_pytorch():
    rng = np.random.default_rng(13)
    values = rng.normal(size=(3, 2, 5)) * 2 + 0.5
    rm, rv = np.array([0.1, -0.2]), np.array([1.5, 0.7])
    rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)
    out = F.instance_norm(cr.tensor(values), rm, rv, momentum=0.3)
    out_t = TF.instance_norm(torch.tensor(values), rm_t, rv_t, momentum=0.3)
    _close(out.data, out_t.numpy())
    _close(rm, rm_t.numpy())
    _close(rv, rv_t.numpy())
    # evaluation with the running statistics
    _compare(
        lambda x: F.instance_norm(x, rm, rv, use_input_stats=False),
        lambda t: TF.instance_norm(t, rm_t, rv_t, use_input_stats=False),
        [values],
    )


@pytest.mark.parametrize("cls", ["InstanceNorm1d", "InstanceNorm2d"])
@pytest.mark.parametrize("options", [{}, {"affine": True}, {"track_running_stats": True}])
def test_instance_norm_layers_match_pytorch(cls, options):
    shape = (2, 3, 4) if cls == "InstanceNorm1d" else (2, 3, 3, 4)
    values = np.random.default_rng(14).normal(size=shape)
    layer = getattr(nn, cls)(3, dtype=cr.float64, **options)
    layer_t = getattr(torch.nn, cls)(3, dtype=torch.float64, **options)
    assert repr(layer) == repr(layer_t)
    assert list(layer.state_dict()) == list(layer_t.state_dict())
    for training in (True, False):
        layer.train(training)
        layer_t.train(training)
        _close(layer(cr.tensor(values)).data, layer_t(torch.tensor(values)).detach().numpy())
        unbatched = values[0]
        _close(
            layer(cr.tensor(unbatched)).data,
            layer_t(torch.tensor(unbatched)).detach().numpy(),
        )
    for key, value in layer_t.state_dict().items():
        _close(np.asarray(layer.state_dict()[key].data), value.numpy())


@pytest.mark.parametrize("shape", [(2, 5, 4), (2, 6, 3, 3), (1, 4, 2, 2, 2)])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_local_response_norm_matches_pytorch(shape, size):
    values = np.random.default_rng(15).normal(size=shape)
    args = (size, 0.3, 0.6, 1.5)
    _compare(
        lambda x: F.local_response_norm(x, *args),
        lambda t: TF.local_response_norm(t, *args),
        [values],
    )
    _close(
        nn.LocalResponseNorm(*args)(cr.tensor(values)).data,
        TF.local_response_norm(torch.tensor(values), *args),
    )


def test_local_response_norm_second_derivative():
    x = cr.tensor(np.random.default_rng(16).normal(size=(1, 4, 3)), requires_grad=True)
    assert cr.gradgradcheck(lambda v: F.local_response_norm(v, 3, 0.5, 0.75, 1.0), (x,))


# ------------------------------------------------------------------ losses
REDUCTIONS = ["mean", "sum", "none"]


def _signs(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_ranking_loss_matches_pytorch(reduction):
    rng = np.random.default_rng(17)
    a, b, y = rng.normal(size=6), rng.normal(size=6), _signs(rng, 6)
    b[0], y[0] = a[0] + 0.2, 1.0  # at the hinge: -(a - b) + 0.2 = 0... with margin 0.2 below
    b[1], y[1] = a[1], 1.0
    for margin in (0.0, 0.2):
        _compare(
            lambda x1, x2, m=margin: F.margin_ranking_loss(
                x1, x2, cr.tensor(y), m, reduction=reduction
            ),
            lambda x1, x2, m=margin: TF.margin_ranking_loss(
                x1, x2, torch.tensor(y), m, reduction=reduction
            ),
            [a, b],
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hinge_and_soft_margin_losses_match_pytorch(reduction):
    rng = np.random.default_rng(18)
    x = rng.normal(size=(3, 4))
    x[0, 0] = 1.0  # the hinge of margin 1
    y = _signs(rng, (3, 4))
    y[0, 0] = -1.0
    for margin in (1.0, 0.5):
        _compare(
            lambda v, m=margin: F.hinge_embedding_loss(v, y, m, reduction=reduction),
            lambda v, m=margin: TF.hinge_embedding_loss(v, torch.tensor(y), m, reduction=reduction),
            [x],
        )
    _compare(
        lambda v: F.soft_margin_loss(v, y, reduction=reduction),
        lambda v: TF.soft_margin_loss(v, torch.tensor(y), reduction=reduction),
        [x],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_soft_margin_loss_matches_pytorch(reduction, weighted):
    rng = np.random.default_rng(19)
    x, y = rng.normal(size=(4, 5)) * 3, (rng.random((4, 5)) < 0.5).astype(float)
    w = rng.uniform(0.5, 2, size=5) if weighted else None
    _compare(
        lambda v: F.multilabel_soft_margin_loss(v, y, w, reduction=reduction),
        lambda v: TF.multilabel_soft_margin_loss(
            v, torch.tensor(y), None if w is None else torch.tensor(w), reduction=reduction
        ),
        [x],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4, 3), (3,)])
def test_cosine_embedding_loss_matches_pytorch(reduction, shape):
    rng = np.random.default_rng(20)
    a, b = rng.normal(size=shape), rng.normal(size=shape)
    y = _signs(rng, shape[:-1])
    if len(shape) == 2:
        a[0] = 0.0  # a zero vector: no NaN
        b[1], y[1] = np.array([-a[1, 1], a[1, 0], 0.0]), -1.0  # cos = 0 = margin: the hinge
    for margin in (0.0, 0.3):
        _compare(
            lambda x1, x2, m=margin: F.cosine_embedding_loss(x1, x2, y, m, reduction=reduction),
            lambda x1, x2, m=margin: TF.cosine_embedding_loss(
                x1, x2, torch.tensor(y), m, reduction=reduction
            ),
            [a, b],
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_triplet_margin_loss_matches_pytorch(reduction, swap, p):
    rng = np.random.default_rng(21)
    a, pos, neg = (rng.normal(size=(5, 3)) for _ in range(3))
    _compare(
        lambda x, y, z: F.triplet_margin_loss(x, y, z, 0.7, p, 1e-6, swap, reduction=reduction),
        lambda x, y, z: TF.triplet_margin_loss(x, y, z, 0.7, p, 1e-6, swap, reduction=reduction),
        [a, pos, neg],
    )


def test_triplet_margin_loss_at_its_hinge():
    a, pos, neg = np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), np.array([[2.0, 0.0]])
    _compare(
        lambda x, y, z: F.triplet_margin_loss(x, y, z, eps=0.0),
        lambda x, y, z: TF.triplet_margin_loss(x, y, z, eps=0.0),
        [a, pos, neg],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_loss_matches_pytorch(reduction, log_input, full):
    rng = np.random.default_rng(22)
    x = rng.normal(size=(3, 4)) if log_input else rng.uniform(0.1, 3, size=(3, 4))
    y = rng.integers(0, 5, size=(3, 4)).astype(float)
    y[0, :3] = [0.0, 1.0, 2.0]  # the Stirling term's edge
    _compare(
        lambda v: F.poisson_nll_loss(v, y, log_input, full, reduction=reduction),
        lambda v: TF.poisson_nll_loss(v, torch.tensor(y), log_input, full, reduction=reduction),
        [x],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("var_shape", [(3, 4), (3,), (3, 1), (1, 4)])
def test_gaussian_nll_loss_matches_pytorch(reduction, full, var_shape):
    rng = np.random.default_rng(23)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    var = rng.uniform(0.2, 2, size=var_shape)
    var.flat[0] = 1e-9  # below eps: raised in value, the gradient as torch's
    _compare(
        lambda v, t, s: F.gaussian_nll_loss(v, t, s, full, reduction=reduction),
        lambda v, t, s: TF.gaussian_nll_loss(v, t, s, full, reduction=reduction),
        [x, y, var],
    )


def test_gaussian_nll_loss_with_a_float_variance():
    x, y = np.linspace(-1, 1, 6), np.zeros(6)
    _compare(
        lambda v: F.gaussian_nll_loss(v, y, 0.5),
        lambda v: TF.gaussian_nll_loss(v, torch.tensor(y), 0.5),
        [x],
    )


def test_legacy_size_average_and_reduce_override_reduction():
    rng = np.random.default_rng(24)
    x, y = rng.normal(size=5), _signs(rng, 5)
    for size_average, reduce in [(False, None), (None, False), (True, True), (False, True)]:
        got = F.soft_margin_loss(x, y, size_average, reduce)
        want = TF.soft_margin_loss(torch.tensor(x), torch.tensor(y), size_average, reduce)
        _close(got.data, want.numpy())
        layer = nn.SoftMarginLoss(size_average, reduce)
        _close(layer(x, y).data, want.numpy())


def test_loss_second_derivatives():
    rng = np.random.default_rng(25)
    a = cr.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    b = cr.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    y = _signs(rng, 3)
    labels = (rng.random((3, 4)) < 0.5).astype(float)
    assert cr.gradgradcheck(
        lambda v: F.soft_margin_loss(v, _signs(np.random.default_rng(0), (3, 4))), (a,)
    )
    assert cr.gradgradcheck(lambda v: F.multilabel_soft_margin_loss(v, labels), (a,))
    assert cr.gradgradcheck(lambda u, v: F.cosine_embedding_loss(u, v, y, 0.1), (a, b))
    assert cr.gradgradcheck(lambda v: F.poisson_nll_loss(v, labels), (a,))
    var = cr.tensor(rng.uniform(0.5, 2, size=(3, 4)), requires_grad=True)
    assert cr.gradgradcheck(lambda v, s: F.gaussian_nll_loss(v, b.detach(), s), (a, var))
    assert cr.gradgradcheck(lambda u, v: F.triplet_margin_loss(u, v, b.detach() * 2), (a, b))


@pytest.mark.parametrize(
    ("cls", "args", "inputs"),
    [
        ("MarginRankingLoss", (0.3,), 3),
        ("CosineEmbeddingLoss", (0.2,), 3),
        ("HingeEmbeddingLoss", (0.8,), 2),
        ("SoftMarginLoss", (), 2),
        ("MultiLabelSoftMarginLoss", (), 2),
        ("TripletMarginLoss", (0.5, 1.0, 1e-6, True), 3),
        ("PoissonNLLLoss", (False, True), 2),
    ],
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_layers_match_pytorch(cls, args, inputs, reduction):
    rng = np.random.default_rng(26)
    shape = (4, 3)
    if cls in ("MarginRankingLoss", "HingeEmbeddingLoss", "SoftMarginLoss"):
        arrays = [rng.normal(size=shape) for _ in range(inputs - 1)] + [_signs(rng, shape)]
    elif cls == "CosineEmbeddingLoss":
        arrays = [rng.normal(size=shape), rng.normal(size=shape), _signs(rng, (4,))]
    elif cls == "MultiLabelSoftMarginLoss":
        arrays = [rng.normal(size=shape), (rng.random(shape) < 0.5).astype(float)]
    elif cls == "PoissonNLLLoss":
        arrays = [rng.uniform(0.5, 2, size=shape), rng.integers(0, 4, size=shape).astype(float)]
    else:
        arrays = [rng.normal(size=shape) for _ in range(inputs)]
    layer = getattr(nn, cls)(*args, reduction=reduction)
    layer_t = getattr(torch.nn, cls)(*args, reduction=reduction)
    assert repr(layer) == repr(layer_t)
    _close(
        layer(*(cr.tensor(a) for a in arrays)).data,
        layer_t(*(torch.tensor(a) for a in arrays)).numpy(),
    )


def test_gaussian_nll_loss_layer_matches_pytorch():
    rng = np.random.default_rng(27)
    x, y, var = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.uniform(0.5, 1, size=(3,))
    layer, layer_t = (
        nn.GaussianNLLLoss(full=True, eps=1e-3),
        torch.nn.GaussianNLLLoss(full=True, eps=1e-3),
    )
    assert repr(layer) == repr(layer_t)
    _close(layer(x, y, var).data, layer_t(*map(torch.tensor, (x, y, var))).numpy())


# ------------------------------------------------------------------ embedding
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_embedding_max_norm_renormalises_rows_in_place_as_pytorch(norm_type):
    rng = np.random.default_rng(28)
    weight = rng.normal(size=(6, 3)) * 2
    weight[4] *= 0.01  # a row already within max_norm
    idx = np.array([[0, 2, 2], [4, 5, 0]])
    w = cr.tensor(weight.copy(), requires_grad=True)
    w_t = torch.tensor(weight.copy(), requires_grad=True)
    out = F.embedding(cr.tensor(idx), w, max_norm=1.5, norm_type=norm_type)
    out_t = TF.embedding(torch.tensor(idx), w_t, max_norm=1.5, norm_type=norm_type)
    _close(out.data, out_t.detach().numpy())
    _close(w.data, w_t.detach().numpy())  # the weight itself, changed in place
    assert (w.data[[1, 3]] == weight[[1, 3]]).all()  # rows not looked up stay
    g = rng.normal(size=out.shape)
    (out * cr.tensor(g)).sum().backward()
    (out_t * torch.tensor(g)).sum().backward()
    _close(w.grad.data, w_t.grad.numpy())


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_scale_grad_by_freq_matches_pytorch(padding_idx):
    rng = np.random.default_rng(29)
    weight = rng.normal(size=(5, 4))
    idx = np.array([[1, 1, 2, 3], [1, 2, 0, -1]])
    w = cr.tensor(weight, requires_grad=True)
    w_t = torch.tensor(weight, requires_grad=True)
    out = F.embedding(cr.tensor(idx), w, padding_idx, scale_grad_by_freq=True)
    out_t = TF.embedding(torch.tensor(idx % 5), w_t, padding_idx, scale_grad_by_freq=True)
    assert (out.data == out_t.detach().numpy()).all()  # the value untouched, to the bit
    g = rng.normal(size=out.shape)
    (out * cr.tensor(g)).sum().backward()
    (out_t * torch.tensor(g)).sum().backward()
    _close(w.grad.data, w_t.grad.numpy())


def test_embedding_refuses_sparse_and_renorm_bumps_the_version():
    with pytest.raises(NotImplementedError, match="sparse=True is not supported"):
        F.embedding(cr.tensor([0]), cr.ones(2, 2), sparse=True)
    with pytest.raises(NotImplementedError, match="sparse=True is not supported"):
        nn.Embedding(3, 2, sparse=True)
    w = cr.tensor([[3.0, 4.0], [0.1, 0.1]])
    before = w._version
    F.embedding(cr.tensor([0]), w, max_norm=1.0)
    assert w._version > before


def test_embedding_layer_matches_pytorch():
    weight = np.random.default_rng(30).normal(size=(5, 3)) * 2
    layer = nn.Embedding.from_pretrained(cr.tensor(weight), freeze=False, max_norm=1.0)
    layer_t = torch.nn.Embedding.from_pretrained(torch.tensor(weight), freeze=False, max_norm=1.0)
    assert repr(layer) == repr(layer_t)
    idx = np.array([0, 3, 3])
    _close(layer(cr.tensor(idx)).data, layer_t(torch.tensor(idx)).detach().numpy())
    _close(layer.weight.data, layer_t.weight.detach().numpy())
    frozen = nn.Embedding.from_pretrained(cr.tensor(weight))
    assert not frozen.weight.requires_grad
    for kwargs in ({}, {"padding_idx": 1, "norm_type": 1.0, "scale_grad_by_freq": True}):
        assert repr(nn.Embedding(5, 3, **kwargs)) == repr(torch.nn.Embedding(5, 3, **kwargs))


# ------------------------------------------------------------------ layers
LAYERS = [
    ("Hardswish", ()),
    ("Hardsigmoid", ()),
    ("SELU", ()),
    ("SELU", (True,)),
    ("CELU", (2.0,)),
    ("GLU", (1,)),
    ("Softsign", ()),
    ("Tanhshrink", ()),
    ("Softshrink", (0.3,)),
    ("Hardshrink", (0.7,)),
    ("Threshold", (0.1, 20.0)),
    ("Softplus", (2.0, 3.0)),
    ("PReLU", (4, 0.1)),
]


@pytest.mark.parametrize(("cls", "args"), LAYERS)
def test_activation_layers_match_pytorch(cls, args):
    values = (np.random.default_rng(31).normal(size=(2, 4, 3)) * 3).astype(np.float32)
    layer, layer_t = getattr(nn, cls)(*args), getattr(torch.nn, cls)(*args)
    assert repr(layer) == repr(layer_t)
    assert list(layer.state_dict()) == list(layer_t.state_dict())
    _close(layer(cr.tensor(values)).data, layer_t(torch.tensor(values)).detach().numpy(), rtol=1e-6)


def test_prelu_layer_weight_is_learnt_like_pytorchs():
    values = np.random.default_rng(32).normal(size=(2, 3, 4))
    layer = nn.PReLU(3, dtype=cr.float64)
    layer_t = torch.nn.PReLU(3, dtype=torch.float64)
    layer(cr.tensor(values)).sum().backward()
    layer_t(torch.tensor(values)).sum().backward()
    _close(layer.weight.grad.data, layer_t.weight.grad.numpy())
    layer.load_state_dict({"weight": np.array([0.5, 0.1, 0.2])})
    assert layer.weight.data.tolist() == [0.5, 0.1, 0.2]


def test_other_layers_print_as_pytorch():
    pairs = [
        (nn.CosineSimilarity(0, 1e-3), torch.nn.CosineSimilarity(0, 1e-3)),
        (nn.PairwiseDistance(1.0, 0.0, True), torch.nn.PairwiseDistance(1.0, 0.0, True)),
        (nn.PixelShuffle(2), torch.nn.PixelShuffle(2)),
        (nn.PixelUnshuffle(3), torch.nn.PixelUnshuffle(3)),
        (nn.Fold((4, 5), 2, padding=1), torch.nn.Fold((4, 5), 2, padding=1)),
        (nn.Unfold((2, 3), stride=2), torch.nn.Unfold((2, 3), stride=2)),
        (nn.LocalResponseNorm(3, k=2.0), torch.nn.LocalResponseNorm(3, k=2.0)),
        (
            nn.InstanceNorm2d(4, affine=True, bias=False),
            torch.nn.InstanceNorm2d(4, affine=True, bias=False),
        ),
        (nn.InstanceNorm3d(4, momentum=None), torch.nn.InstanceNorm3d(4, momentum=None)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
    a, b = np.ones((2, 3)), np.arange(6.0).reshape(2, 3)
    _close(
        nn.CosineSimilarity(0)(a, b).data,
        torch.nn.CosineSimilarity(0)(torch.tensor(a), torch.tensor(b)),
    )
    _close(
        nn.PairwiseDistance(1.0)(a, b).data,
        torch.nn.PairwiseDistance(1.0)(torch.tensor(a), torch.tensor(b)),
    )


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: F.glu(cr.ones(3)), ValueError, "halving dimension must be even"),
        (lambda: F.glu(cr.tensor(1.0)), ValueError, "0-d"),
        (lambda: F.prelu(cr.ones(2, 3), cr.ones(2)), ValueError, "3 channels"),
        (lambda: F.celu(cr.ones(2), 0.0), ValueError, "alpha must not be 0"),
        (lambda: F.softshrink(cr.ones(2), -1.0), ValueError, "lambd must be at least 0"),
        (lambda: F.fold(cr.ones(1, 4, 3), (3, 3), 2), ValueError, "blocks"),
        (lambda: F.fold(cr.ones(1, 5, 4), (3, 3), 2), ValueError, "divisible"),
        (lambda: F.pixel_shuffle(cr.ones(1, 3, 2, 2), 2), ValueError, "divisible"),
        (lambda: F.pixel_unshuffle(cr.ones(1, 1, 3, 2), 2), ValueError, "divisible"),
        (lambda: F.pixel_shuffle(cr.ones(4, 2), 2), ValueError, "at least 3"),
        (lambda: F.instance_norm(cr.ones(2, 3, 1)), ValueError, "more than 1 spatial"),
        (lambda: F.instance_norm(cr.ones(2, 3)), ValueError, "spatial"),
        (lambda: F.instance_norm(cr.ones(2, 3, 4), use_input_stats=False), ValueError, "running"),
        (lambda: F.instance_norm(cr.ones(2, 3, 4), weight=cr.ones(2)), ValueError, "3 channels"),
        (lambda: F.local_response_norm(cr.ones(2, 3), 2), ValueError, "3 or more"),
        (
            lambda: F.gaussian_nll_loss(cr.ones(2, 3), cr.ones(2, 3), -cr.ones(2, 3)),
            ValueError,
            "negative",
        ),
        (
            lambda: F.gaussian_nll_loss(cr.ones(2, 3), cr.ones(2, 3), cr.ones(3, 3)),
            ValueError,
            "does not fit",
        ),
        (
            lambda: F.triplet_margin_loss(cr.ones(2, 3), cr.ones(2, 3), cr.ones(2, 3), 0.0),
            ValueError,
            "margin",
        ),
        (lambda: nn.TripletMarginLoss(margin=-1.0), ValueError, "margin"),
        (
            lambda: F.soft_margin_loss(cr.ones(2), cr.ones(2), reduction="avg"),
            ValueError,
            "reduction",
        ),
        (lambda: F.soft_margin_loss(cr.ones(2), cr.ones(3)), ValueError, "shape"),
        (
            lambda: F.margin_ranking_loss(cr.ones(2), cr.ones(2), cr.ones(1, 2)),
            ValueError,
            "dimensions",
        ),
        (
            lambda: F.cosine_embedding_loss(cr.ones(2, 3), cr.ones(2, 3), cr.ones(3)),
            ValueError,
            "target",
        ),
        (lambda: F.normalize(cr.tensor([1, 2])), TypeError, "floating"),
        (lambda: F.cosine_similarity(cr.ones(2, 3), cr.ones(4, 3)), ValueError, "broadcast"),
        (lambda: nn.InstanceNorm1d(3, affine=True)(cr.ones(2, 4, 5)), ValueError, "4 channels"),
        (lambda: F.embedding(cr.tensor([0.5]), cr.ones(2, 2)), TypeError, "integers"),
    ],
)
def test_bad_input_is_refused_in_one_clear_line(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------ transforms, dtypes
@pytest.mark.parametrize(("name", "kwargs"), ACTIVATIONS)
def test_activation_under_vmap_and_jvp(name, kwargs):
    fn, _ = _activation(name, kwargs)
    values = np.linspace(-4.3, 4.1, 12).reshape(3, 4)
    _close(cr.vmap(fn)(cr.tensor(values)).data, fn(values).data)
    _, tangent = cr.jvp(fn, (values,), (np.ones_like(values),))
    x = cr.tensor(values, requires_grad=True)
    fn(x).sum().backward()  # elementwise: the JVP of ones is the gradient
    _close(tangent, x.grad.data)


def test_forward_mode_of_the_compositions_is_the_jacobians():
    rng = np.random.default_rng(33)
    x, v = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    for fn in (
        lambda a: F.normalize(a),
        lambda a: F.cosine_similarity(a, np.ones((2, 4))),
        lambda a: F.fold(a.reshape(1, 4, 2), (2, 3), 2),
        lambda a: F.instance_norm(a.reshape(1, 2, 4)),
        lambda a: F.gaussian_nll_loss(a, np.zeros((2, 4)), np.full((2, 4), 0.5)),
    ):
        _, tangent = cr.jvp(fn, (x,), (v,))
        jac = np.asarray(cr.jacobian(fn)(x).data).reshape(np.size(tangent), -1)
        _close(np.ravel(tangent), jac @ v.ravel())


LOSSES = [
    ("margin_ranking_loss", 3, {"margin": 0.2}),
    ("hinge_embedding_loss", 2, {"margin": 0.5}),
    ("soft_margin_loss", 2, {}),
    ("multilabel_soft_margin_loss", 2, {}),
    ("poisson_nll_loss", 2, {"log_input": True, "full": True}),
    ("gaussian_nll_loss", 3, {}),
    ("triplet_margin_loss", 3, {"swap": True}),
    ("cosine_embedding_loss", 3, {"margin": 0.1}),
]


def _loss_arrays(name, shape, rng):
    x = rng.normal(size=shape)
    if name in ("margin_ranking_loss",):
        return [x, rng.normal(size=shape), _signs(rng, shape)], (0, 1)
    if name in ("hinge_embedding_loss", "soft_margin_loss"):
        return [x, _signs(rng, shape)], (0,)
    if name == "multilabel_soft_margin_loss":
        return [x, (rng.random(shape) < 0.5).astype(float)], (0,)
    if name == "poisson_nll_loss":
        return [x, rng.integers(0, 4, size=shape).astype(float)], (0,)
    if name == "gaussian_nll_loss":
        return [x, rng.normal(size=shape), rng.uniform(0.1, 2, size=shape)], (0, 1, 2)
    if name == "cosine_embedding_loss":
        return [x, rng.normal(size=shape), _signs(rng, shape[:-1])], (0, 1)
    return [x, rng.normal(size=shape), rng.normal(size=shape)], (0, 1, 2)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(LOSSES),
    st.sampled_from(REDUCTIONS),
    st.integers(1, 4),
    st.integers(1, 5),
    st.integers(0, 2**16),
)
def test_losses_match_pytorch_over_random_shapes(case, reduction, rows, width, seed):
    name, _, kwargs = case
    arrays, grads = _loss_arrays(name, (rows, width), np.random.default_rng(seed))
    _compare(
        lambda *a: getattr(F, name)(*a, **kwargs, reduction=reduction),
        lambda *a: getattr(TF, name)(*a, **kwargs, reduction=reduction),
        arrays,
        differentiable=grads,
    )


@pytest.mark.parametrize(("name", "count", "kwargs"), LOSSES)
def test_losses_keep_float32(name, count, kwargs):
    arrays, _ = _loss_arrays(name, (3, 4), np.random.default_rng(34))
    out = getattr(F, name)(*(cr.tensor(a.astype(np.float32)) for a in arrays), **kwargs)
    assert out.dtype == np.float32


def test_rearrangements_and_norms_keep_float32():
    x = cr.tensor(np.random.default_rng(35).normal(size=(2, 4, 4, 4)).astype(np.float32))
    assert F.pixel_shuffle(x, 2).dtype == np.float32
    assert F.pixel_unshuffle(x, 2).dtype == np.float32
    assert F.instance_norm(x).dtype == np.float32
    assert F.local_response_norm(x, 3).dtype == np.float32
    assert F.unfold(x, 2).dtype == np.float32
    assert F.prelu(x, np.float32(0.2) * cr.ones(4, dtype=cr.float32)).dtype == np.float32


def test_in_place_updates_are_refused_under_jit():
    weight = cr.tensor(np.full((3, 2), 2.0))
    with pytest.raises(Exception, match="max_norm"):
        cr.jit(lambda w: F.embedding(np.array([0, 1]), w, max_norm=1.0))(weight)
    rm, rv = np.zeros(2), np.ones(2)
    with pytest.raises(Exception, match="running statistics under cr.jit"):
        cr.jit(lambda x: F.instance_norm(x, rm, rv))(cr.ones(1, 2, 3))
    assert (rm == 0).all() and (rv == 1).all()


def test_embedding_max_norm_in_float32_matches_pytorch():
    weight = (np.random.default_rng(36).normal(size=(4, 3)) * 3).astype(np.float32)
    w, w_t = cr.tensor(weight.copy()), torch.tensor(weight.copy())
    out = F.embedding(cr.tensor([0, 1, 3]), w, max_norm=0.7)
    out_t = TF.embedding(torch.tensor([0, 1, 3]), w_t, max_norm=0.7)
    assert out.dtype == np.float32
    _close(w.data, w_t.numpy(), rtol=1e-6)
    _close(out.data, out_t.numpy(), rtol=1e-6)
