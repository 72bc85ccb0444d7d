"""``inplace=True`` on activations and dropouts, the in-place spellings ``F.relu_`` and
kin, and ``Tensor.clamp_min_`` / ``clamp_max_``: the input itself is changed and
returned, as in PyTorch (torch==2.13.0 is the oracle, in float64), gradients stay
right, and what chainrule cannot record is refused in one line.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.jit import JitError
from chainrule.nn.rng import get_rng_state, set_rng_state

torch = pytest.importorskip("torch", reason="PyTorch (torch==2.13.0) is the oracle here")
F = cr.nn.functional
TF = torch.nn.functional
RNG = np.random.default_rng(7)

# name, extra positional arguments (before ``inplace``), the relative tolerance against
# torch: its hardsigmoid and celu backward kernels use float32 constants (1/6, 1/alpha)
# even in float64, so they differ from the exact derivative near 1e-8.
ACTIVATIONS = [
    ("relu", (), 1e-12),
    ("leaky_relu", (0.2,), 1e-12),
    ("elu", (0.7,), 1e-12),
    ("celu", (0.8,), 1e-7),
    ("selu", (), 1e-12),
    ("silu", (), 1e-12),
    ("mish", (), 1e-12),
    ("hardtanh", (-0.5, 0.8), 1e-12),
    ("relu6", (), 1e-12),
    ("hardswish", (), 1e-12),
    ("hardsigmoid", (), 1e-7),
    ("threshold", (0.1, -2.0), 1e-12),
]
SPELLINGS = [
    ("relu_", ()),
    ("leaky_relu_", (0.2,)),
    ("elu_", (0.7,)),
    ("celu_", (0.8,)),
    ("selu_", ()),
    ("hardtanh_", (-0.5, 0.8)),
    ("threshold_", (0.1, -2.0)),
]


@pytest.fixture(autouse=True)
def _keep_the_random_stream():
    """The tests here seed chainrule's default generator; later tests' draws must not
    depend on that."""
    state = get_rng_state()
    yield
    set_rng_state(state)


def close(a, b, rtol=1e-12):
    a = np.asarray(getattr(a, "data", a))
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


def _linear_pair(shape=(3, 5)):
    """x and w as chainrule and torch leaves (float64): h = x @ w is not a leaf."""
    xv, wv = RNG.standard_normal(shape) * 3, RNG.standard_normal((shape[-1], shape[-1]))
    return (
        cr.tensor(xv, requires_grad=True),
        cr.tensor(wv, requires_grad=True),
        torch.tensor(xv, requires_grad=True),
        torch.tensor(wv, requires_grad=True),
    )


# ------------------------------------------------------------- against torch
@pytest.mark.parametrize("name, args, rtol", ACTIVATIONS)
def test_inplace_flag_changes_the_input_as_torch(name, args, rtol):
    x, w, tx, tw = _linear_pair()
    h, th = x @ w, tx @ tw
    y = getattr(F, name)(h, *args, inplace=True)
    ty = getattr(TF, name)(th, *args, inplace=True)
    assert y is h and ty is th
    assert h._version == th._version == 1
    # h is now the activation's result: h * 2 + y * y uses it twice, as in PyTorch.
    (h * 2 + y * y).sum().backward()
    (th * 2 + ty * ty).sum().backward()
    close(h, th, rtol)
    close(x.grad, tx.grad, rtol)
    close(w.grad, tw.grad, rtol)


@pytest.mark.parametrize("name, args", SPELLINGS)
def test_inplace_spellings_as_torch(name, args):
    x, w, tx, tw = _linear_pair()
    h, th = x @ w, tx @ tw
    assert getattr(F, name)(h, *args) is h
    getattr(TF, name)(th, *args)
    assert h._version == th._version == 1
    (h * h).sum().backward()
    (th * th).sum().backward()
    close(h, th, 1e-7)
    close(x.grad, tx.grad, 1e-7)
    close(w.grad, tw.grad, 1e-7)


def test_inplace_lands_where_torch_puts_it_positionally():
    for call, tcall in (
        (lambda t: F.relu(t, True), lambda t: TF.relu(t, True)),
        (lambda t: F.leaky_relu(t, 0.3, True), lambda t: TF.leaky_relu(t, 0.3, True)),
        (lambda t: F.elu(t, 0.5, True), lambda t: TF.elu(t, 0.5, True)),
        (lambda t: F.hardtanh(t, -0.2, 0.2, True), lambda t: TF.hardtanh(t, -0.2, 0.2, True)),
        (lambda t: F.threshold(t, 0.0, 5.0, True), lambda t: TF.threshold(t, 0.0, 5.0, True)),
        (lambda t: F.dropout(t, 1.0, True, True), lambda t: TF.dropout(t, 1.0, True, True)),
    ):
        values = RNG.standard_normal(6)
        h, th = cr.tensor(values), torch.tensor(values)
        assert call(h) is h and tcall(th) is th
        close(h, th)
        assert h._version == th._version == 1


LAYERS = [
    ("ReLU", ()),
    ("LeakyReLU", (0.2,)),
    ("ELU", (0.7,)),
    ("CELU", (0.8,)),
    ("SELU", ()),
    ("SiLU", ()),
    ("Mish", ()),
    ("Hardtanh", (-0.5, 0.8)),
    ("ReLU6", ()),
    ("Hardswish", ()),
    ("Hardsigmoid", ()),
    ("Threshold", (0.1, -2.0)),
]


@pytest.mark.parametrize("name, args", LAYERS)
def test_layer_built_inplace_changes_its_input_as_torch(name, args):
    layer = getattr(cr.nn, name)(*args, inplace=True)
    tlayer = getattr(torch.nn, name)(*args, inplace=True)
    assert repr(layer) == repr(tlayer)
    assert repr(getattr(cr.nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))
    x, w, tx, tw = _linear_pair()
    h, th = x @ w, tx @ tw
    assert layer(h) is h and tlayer(th) is th
    assert h._version == th._version
    (h * h).sum().backward()
    (th * th).sum().backward()
    close(h, th, 1e-7)
    close(x.grad, tx.grad, 1e-7)
    close(w.grad, tw.grad, 1e-7)


def test_layer_without_inplace_leaves_its_input_alone():
    x, w, _, _ = _linear_pair()
    h = x @ w
    before = h.data.copy()
    y = cr.nn.ReLU()(h)
    assert y is not h and h._version == 0
    np.testing.assert_array_equal(h.data, before)


# ------------------------------------------------------------------ training
def _copy_weights(cm, tm):
    tm.double()
    cm.double()
    cm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})


def _train_both(cm, tm, x, target, steps=3):
    opt = cr.optim.SGD(cm.parameters(), lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        topt.zero_grad()
        loss = F.cross_entropy(cm(cr.tensor(x)), target)
        tloss = TF.cross_entropy(tm(torch.tensor(x)), torch.tensor(target))
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        losses.append((loss.item(), tloss.item()))
    for (kc, vc), (kt, vt) in zip(cm.state_dict().items(), tm.state_dict().items()):
        assert kc == kt
        close(vc, vt, 1e-9)
    return losses


def _stack(nn, inplace):
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=inplace),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(inplace=inplace),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 8),
        nn.ReLU(inplace=inplace),
        nn.Dropout(0.0, inplace=inplace),
        nn.Linear(8, 3),
    )


def test_sequential_with_inplace_relu_trains_as_torch():
    torch.manual_seed(0)
    tm = _stack(torch.nn, True)
    cm = _stack(cr.nn, True)
    _copy_weights(cm, tm)
    x = RNG.standard_normal((5, 2, 4, 4))
    target = np.array([0, 1, 2, 1, 0])
    for loss, tloss in _train_both(cm, tm, x, target):
        np.testing.assert_allclose(loss, tloss, rtol=1e-10)


class _Block:
    """ResNet's basic block, written once for both libraries: ``out += identity``
    then an in-place ReLU."""

    @staticmethod
    def make(nn, functional):
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 3, 3, padding=1, bias=False)
                self.bn1 = nn.BatchNorm2d(3)
                self.relu = nn.ReLU(inplace=True)
                self.conv2 = nn.Conv2d(3, 3, 3, padding=1, bias=False)
                self.bn2 = nn.BatchNorm2d(3)
                self.head = nn.Linear(3 * 16, 2)

            def forward(self, x):
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                out += x
                out = self.relu(out)
                return functional.leaky_relu_(self.head(out.reshape(out.shape[0], -1)), 0.1)

        return Block()


def test_resnet_block_with_inplace_add_and_relu_trains_as_torch():
    torch.manual_seed(1)
    tm = _Block.make(torch.nn, TF)
    cm = _Block.make(cr.nn, F)
    _copy_weights(cm, tm)
    x = RNG.standard_normal((4, 3, 4, 4))
    target = np.array([0, 1, 1, 0])
    for loss, tloss in _train_both(cm, tm, x, target):
        np.testing.assert_allclose(loss, tloss, rtol=1e-10)


# ---------------------------------------------------------------- dropouts
DROPOUTS = [
    ("dropout", (3, 4), "Dropout"),
    ("dropout1d", (2, 3, 4), "Dropout1d"),
    ("dropout2d", (2, 3, 2, 2), "Dropout2d"),
    ("dropout3d", (2, 3, 1, 2, 2), "Dropout3d"),
]


@pytest.mark.parametrize("name, shape, layer", DROPOUTS)
def test_dropout_outside_training_or_p0_returns_the_input_unchanged(name, shape, layer):
    values = RNG.standard_normal(shape)
    for p, training in ((0.5, False), (0.0, True), (1.0, False)):
        h, th = cr.tensor(values * 1), torch.tensor(values * 1)
        assert getattr(F, name)(h, p, training, True) is h
        assert getattr(TF, name)(th, p, training, True) is th
        assert h._version == th._version == 0
        np.testing.assert_array_equal(h.data, values)
    drop = getattr(cr.nn, layer)(0.5, inplace=True).eval()
    h = cr.tensor(values * 1)
    assert drop(h) is h and h._version == 0


@pytest.mark.parametrize("name, shape, layer", DROPOUTS)
def test_dropout_p1_zeroes_the_input_in_place_as_torch(name, shape, layer):
    values = RNG.standard_normal(shape)
    x, tx = cr.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    h, th = x * 3, tx * 3
    assert getattr(F, name)(h, 1.0, True, True) is h
    assert getattr(TF, name)(th, 1.0, True, True) is th
    assert h._version == th._version == 1
    (h + 1).sum().backward()
    (th + 1).sum().backward()
    close(h, th)
    close(x.grad, tx.grad)


@pytest.mark.parametrize("name, shape, layer", DROPOUTS)
def test_dropout_in_training_writes_the_same_draw_as_out_of_place(name, shape, layer):
    values = RNG.standard_normal(shape)
    keyword = {"generator": cr.Generator().manual_seed(3)} if name == "dropout" else {}
    if name != "dropout":
        cr.manual_seed(3)
    x = cr.tensor(values, requires_grad=True)
    want = getattr(F, name)(x * 1, 0.4, True, False, **keyword)
    want.sum().backward()
    want_grad = x.grad.data.copy()
    x.grad = None
    keyword = {"generator": cr.Generator().manual_seed(3)} if name == "dropout" else {}
    if name != "dropout":
        cr.manual_seed(3)
    h = x * 1
    assert getattr(F, name)(h, 0.4, True, True, **keyword) is h
    th = torch.tensor(values, requires_grad=True) * 1
    assert getattr(TF, name)(th, 0.4, True, True) is th
    assert h._version == th._version == 1
    h.sum().backward()
    np.testing.assert_array_equal(h.data, want.data)
    np.testing.assert_array_equal(x.grad.data, want_grad)
    kept = h.data != 0
    np.testing.assert_allclose(h.data[kept], values[kept] / 0.6, rtol=1e-12)


def test_dropout_layers_in_training_change_their_input():
    for name, shape, layer in DROPOUTS:
        values = RNG.uniform(1.0, 2.0, shape)  # no element is 0 before
        h = cr.tensor(values)
        assert getattr(cr.nn, layer)(0.5, inplace=True)(h) is h
        assert h._version == 1
        kept = h.data != 0
        np.testing.assert_allclose(h.data[kept], values[kept] * 2, rtol=1e-12)
        with pytest.raises(ValueError, match="between 0 and 1"):
            getattr(F, name)(h, 1.5, False, True)


# ------------------------------------------------------------------ refusals
def test_leaf_that_requires_grad_is_refused_in_one_line():
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        F.elu(x, inplace=True)
    assert "leaf tensor that requires grad" in one_line(info)
    assert "inplace=False" in str(info.value)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        TF.elu(torch.tensor([1.0, -2.0], requires_grad=True), inplace=True)
    with pytest.raises(RuntimeError, match="leaf tensor"):
        cr.nn.ReLU(inplace=True)(x)
    with pytest.raises(RuntimeError, match="leaf tensor"):
        F.relu_(x)
    np.testing.assert_array_equal(x.data, [1.0, -2.0])
    assert x._version == 0


def test_view_of_a_tensor_that_requires_grad_is_refused_in_one_line():
    x = cr.tensor(RNG.standard_normal((2, 3)), requires_grad=True)
    h = x * 2
    before = h.data.copy()
    for view in (h[0], h.reshape(3, 2), h.T):
        with pytest.raises(RuntimeError) as info:
            F.relu(view, inplace=True)
        assert "shares its memory with another" in one_line(info)
    np.testing.assert_array_equal(h.data, before)


def test_non_tensor_input_is_a_type_error():
    for call in (
        lambda a: F.relu(a, inplace=True),
        lambda a: F.selu_(a),
        lambda a: F.dropout(a, 0.5, False, True),
        lambda a: F.dropout2d(a, 0.5, False, True),
        lambda a: cr.nn.ReLU(inplace=True)(a),
    ):
        array = np.array([[[1.0, -1.0]]])
        with pytest.raises(TypeError) as info:
            call(array)
        assert "needs a chainrule Tensor" in one_line(info)
        np.testing.assert_array_equal(array, [[[1.0, -1.0]]])


def test_jit_refuses_inplace_in_one_line_naming_the_way_out():
    def f(x):
        return F.relu(x * 2, inplace=True).sum()

    with pytest.raises(JitError) as info:
        cr.jit(f)(np.ones(3))
    message = one_line(info)
    assert "relu(inplace=True)" in message and "inplace=False" in message

    with pytest.raises(JitError, match=r"elu_\(\); call F\.elu"):
        cr.jit(lambda x: F.elu_(x * 2).sum())(np.ones(3))
    layer = cr.nn.Dropout(0.5, inplace=True)
    with pytest.raises(JitError, match="dropout"):
        cr.jit(lambda x: layer(x * 2).sum())(np.ones(3))
    # The messages of the older in-place methods are unchanged.
    with pytest.raises(JitError, match=r"exp_\(\); write t = t \+ x instead"):
        cr.jit(lambda x: (x * 2).exp_().sum())(np.ones(3))


def test_jit_of_the_out_of_place_spelling_still_traces():
    f = cr.jit(lambda x: F.relu(x * 2, inplace=False).sum())
    assert f(np.array([1.0, -1.0])).item() == 2.0
    assert f(np.array([3.0, -1.0])).item() == 6.0


def test_vmap_refuses_inplace_in_one_line():
    with pytest.raises(NotImplementedError) as info:
        cr.vmap(lambda t: F.silu(t * 1, inplace=True))(np.ones((2, 3)))
    assert "inside cr.vmap" in one_line(info)


# ---------------------------------------------------------- not recording
def test_under_no_grad_the_array_changes_and_aliases_see_it():
    x = cr.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    alias = x.detach()
    with cr.no_grad():
        assert F.relu(x, inplace=True) is x  # a leaf may change under no_grad
    np.testing.assert_array_equal(alias.data, [0.0, 0.5, 2.0])
    assert x._version == alias._version == 1
    assert x.requires_grad and x.grad_fn is None

    h = cr.tensor([-1.0, 0.5, 7.0], dtype=cr.float32)  # nothing requires grad
    alias = h.detach()
    for call in (lambda t: F.elu(t, inplace=True), lambda t: F.relu6(t, inplace=True)):
        call(h)
    assert h.dtype == cr.float32 and h.grad_fn is None and h._version == 2
    np.testing.assert_array_equal(alias.data, [0.0, 0.5, 6.0])  # elu(-1) < 0, then relu6


def test_inplace_on_a_no_grad_input_inside_a_recorded_program():
    # The data fed to the first layer does not require grad: it is changed in place,
    # as torch changes it, and the gradient of the parameters is unaffected.
    values = RNG.standard_normal((4, 3))
    x, tx = cr.tensor(values), torch.tensor(values)
    lin = cr.nn.Linear(3, 2).double()
    tlin = torch.nn.Linear(3, 2).double()
    lin.load_state_dict({k: v.numpy() for k, v in tlin.state_dict().items()})
    lin(cr.nn.ReLU(inplace=True)(x)).sum().backward()
    tlin(torch.nn.ReLU(inplace=True)(tx)).sum().backward()
    close(x, tx)
    close(lin.weight.grad, tlin.weight.grad)


# -------------------------------------------------------- saved values (loud)
def test_changing_an_output_saved_for_backward_raises_at_backward():
    # exp saves its output in both libraries: both raise.
    x = cr.tensor(RNG.standard_normal(4), requires_grad=True)
    e = cr.exp(x)
    F.relu(e, inplace=True)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        e.sum().backward()
    tx = torch.tensor(x.data, requires_grad=True)
    te = tx.exp()
    TF.relu(te, inplace=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        te.sum().backward()


def test_max_pool_output_changed_in_place_is_loud_or_right():
    # chainrule's NumPy max_pool2d saves its output to find the maxima again, where
    # PyTorch saves the indices: so chainrule raises here (loud, never a wrong
    # gradient) where PyTorch computes the gradient (documented in
    # docs/reference/inplace-activations.md). A pooling backend that keeps the
    # indices instead may compute it: then it must be PyTorch's gradient.
    values = RNG.standard_normal((1, 2, 4, 4))
    x = cr.tensor(values, requires_grad=True)
    pooled = F.max_pool2d(x * 1, 2)
    saves_its_output = pooled._node.ans is not None  # NumPy's pooling does
    cr.nn.ReLU(inplace=True)(pooled)
    tx = torch.tensor(values, requires_grad=True)
    tpooled = TF.max_pool2d(tx * 1, 2)
    torch.nn.ReLU(inplace=True)(tpooled)
    (tpooled * tpooled).sum().backward()
    try:
        (pooled * pooled).sum().backward()
    except RuntimeError as err:
        assert saves_its_output
        assert "output of 'max_pool2d'" in str(err) and "modified by an in-place" in str(err)
        assert "\n" not in str(err)
    else:
        assert not saves_its_output
        close(x.grad, tx.grad)
    # The same program with the ReLU before the pooling (VGG's order) runs in both.
    x.grad = None
    h = x * 1
    (F.max_pool2d(cr.nn.ReLU(inplace=True)(h), 2) ** 2).sum().backward()
    tx.grad = None
    th = tx * 1
    (TF.max_pool2d(torch.nn.ReLU(inplace=True)(th), 2) ** 2).sum().backward()
    close(x.grad, tx.grad)


# ------------------------------------------------------ finite differences
@pytest.mark.parametrize("name, args, rtol", ACTIVATIONS)
def test_inplace_gradients_against_finite_differences(name, args, rtol):
    fn = getattr(F, name)
    x = cr.tensor(RNG.standard_normal((2, 3)) * 2.5 + 0.05, requires_grad=True)
    w = cr.tensor(RNG.standard_normal((3, 3)), requires_grad=True)

    def program(x, w):
        h = x @ w
        y = fn(h, *args, inplace=True)
        return (h * 2 + y * y).sum()

    assert cr.gradcheck(program, (x, w))


# --------------------------------------------------------------- properties
UNARY = [(name, args) for name, args, _ in ACTIVATIONS]


@settings(max_examples=40, deadline=None)
@given(
    case=st.sampled_from(UNARY),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_inplace_matches_out_of_place_values_and_gradients(case, shape, dtype, seed):
    name, args = case
    fn = getattr(F, name)
    rng = np.random.default_rng(seed)
    xv = (rng.standard_normal(shape) * 4).astype(dtype)
    wv = rng.standard_normal(shape).astype(dtype)
    results = []
    for inplace in (False, True):
        w = cr.tensor(wv, requires_grad=True)
        h = cr.tensor(xv) * w
        y = fn(h, *args, inplace=inplace)
        assert (y is h) == inplace
        assert h._version == int(inplace)
        (y * y).sum().backward()
        assert y.dtype == dtype
        results.append((y.data.copy(), w.grad.data.copy()))
    (y0, g0), (y1, g1) = results
    np.testing.assert_array_equal(y1, y0)
    np.testing.assert_array_equal(g1, g0)


@settings(max_examples=25, deadline=None)
@given(
    case=st.sampled_from(UNARY),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
    seed=st.integers(0, 2**16),
)
def test_inplace_under_no_grad_matches_out_of_place(case, shape, seed):
    name, args = case
    fn = getattr(F, name)
    xv = np.random.default_rng(seed).standard_normal(shape) * 4
    with cr.no_grad():
        want = fn(cr.tensor(xv), *args).data
        h = cr.tensor(xv)
        alias = h.detach()
        assert fn(h, *args, inplace=True) is h
    np.testing.assert_array_equal(alias.data, want)
    assert h._version == 1


# ----------------------------------------------------------- Tensor methods
TENSOR_METHODS = [
    ("relu_", ()),
    ("sigmoid_", ()),
    ("tanh_", ()),
    ("exp_", ()),
    ("log_", ()),
    ("sqrt_", ()),
    ("abs_", ()),
    ("clamp_", (-0.3, 0.4)),
    ("clamp_min_", (0.1,)),
    ("clamp_max_", (0.2,)),
    ("clip_", (-0.3, 0.4)),
]


@pytest.mark.parametrize("name, args", TENSOR_METHODS)
def test_tensor_inplace_methods_as_torch(name, args):
    values = RNG.uniform(-1, 1, (3, 4))
    x, tx = cr.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    positive = name in ("log_", "sqrt_")
    h = (x * x + 0.5) if positive else x * 2
    th = (tx * tx + 0.5) if positive else tx * 2
    assert getattr(h, name)(*args) is h
    getattr(th, name)(*args)
    assert h._version == th._version == 1
    (h * h).sum().backward()
    (th * th).sum().backward()
    close(h, th)
    close(x.grad, tx.grad)


def test_masked_fill_inplace_as_torch():
    values = RNG.standard_normal((3, 4))
    mask = values > 0.3
    x, tx = cr.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    h, th = x * 2, tx * 2
    assert h.masked_fill_(mask, -1.5) is h
    th.masked_fill_(torch.tensor(mask), -1.5)
    assert h._version == th._version == 1
    (h * h).sum().backward()
    (th * th).sum().backward()
    close(h, th)
    close(x.grad, tx.grad)


def test_clamp_without_a_bound_is_refused():
    t = cr.tensor([1.0, -2.0])
    for call in (lambda: t.clamp_(), lambda: t.clamp_min_(None), lambda: t.clamp_max_(None)):
        with pytest.raises(ValueError, match="give a bound") as info:
            call()
        one_line(info)
    assert t._version == 0


# ------------------------------------------------------------------ explain
def _explained_net(inplace):
    cr.manual_seed(0)
    return cr.nn.Sequential(
        cr.nn.Conv2d(1, 2, 3),
        cr.nn.ReLU(inplace=inplace),
        cr.nn.Flatten(),
        cr.nn.Linear(8, 3),
        cr.nn.ELU(inplace=inplace),
        cr.nn.Dropout(0.3, inplace=inplace),
    ).double()


def test_explain_gives_each_inplace_layer_its_own_numbers():
    x = np.random.default_rng(0).normal(size=(2, 1, 4, 4))
    reports = []
    for inplace in (False, True):
        cr.manual_seed(5)
        ex = cr.explain(_explained_net(inplace), x, target=[0, 1])
        reports.append((ex.to_dict(), [ex.layer(n).to_text() for n in ("1", "4")]))
    assert reports[0] == reports[1]
    conv, relu = reports[1][0]["layers"][:2]
    assert conv["stats"]["mean"] != relu["stats"]["mean"]  # the conv's output, not relu's


def test_explain_refuses_a_layer_that_changes_its_input_in_place_without_the_flag():
    class Sneaky(cr.nn.Module):
        def forward(self, x):
            return x.relu_()

    model = cr.nn.Sequential(cr.nn.Linear(3, 3), Sneaky()).double()
    with pytest.raises(cr.ExplainError, match="changed its input in place") as info:
        cr.explain(model, np.ones((2, 3)))
    one_line(info)


# ---------------------------------------------------------------- signatures
def test_every_inplace_flag_sits_where_torch_puts_it():
    import inspect

    checked = 0
    for name in dir(TF):
        try:
            torch_params = list(inspect.signature(getattr(TF, name)).parameters)
        except (TypeError, ValueError):
            continue
        if "inplace" not in torch_params or name.startswith("_"):
            continue
        ours = list(inspect.signature(getattr(F, name)).parameters)
        # chainrule may add keywords after PyTorch's (dropout's generator)
        assert ours[: len(torch_params)] == torch_params, name
        checked += 1
    assert checked == 19  # with rrelu and the alpha dropouts (nn-breadth-more.md)
    for name in dir(torch.nn):
        layer = getattr(torch.nn, name)
        if not isinstance(layer, type) or not hasattr(cr.nn, name):
            continue
        torch_params = list(inspect.signature(layer.__init__).parameters)
        if "inplace" in torch_params:
            ours = list(inspect.signature(getattr(cr.nn, name).__init__).parameters)
            at = torch_params.index("inplace")
            assert ours[: at + 1] == torch_params[: at + 1], name


def test_a_view_of_a_temporary_nothing_else_holds_changes_in_place():
    """Linear on a float32 stack with float64 weights returns its GEMM's 2-D result
    reshaped: a view, but of an array nothing else holds, so inplace=True goes ahead
    (as in PyTorch). On one dtype the result is fresh, and goes ahead too."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    w, b = rng.normal(size=(4, 3)), rng.normal(size=4)
    for dtype, viewed in ((np.float32, True), (np.float64, False)):
        x = rng.normal(size=(2, 5, 3)).astype(dtype)
        xa = cr.tensor(x, requires_grad=True)
        h = F.linear(xa, cr.tensor(w), cr.tensor(b))
        assert (h.data.base is not None) is viewed
        y = F.relu(h, inplace=True)
        assert y is h
        (y * y).sum().backward()
        xt = torch.tensor(x.astype(np.float64), requires_grad=True)
        ht = torch.nn.functional.linear(xt, torch.tensor(w), torch.tensor(b))
        yt = torch.nn.functional.relu(ht, inplace=True)
        (yt * yt).sum().backward()
        np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(xa.grad.data, xt.grad.numpy(), rtol=1e-6)
