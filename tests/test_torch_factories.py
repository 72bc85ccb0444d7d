"""PyTorch's dtypes, default dtype, devices, factories and conversions (issue 14)."""

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _restore_default_dtype():
    yield
    cr.set_default_dtype(cr.float32)


def _same_dtype(c, t):
    return str(c.dtype) == str(t.dtype).removeprefix("torch.")


# ------------------------------------------------------------------- dtypes
def test_dtype_aliases_are_numpy_dtypes_with_pytorchs_meaning():
    pairs = {
        "float": "float32",
        "double": "float64",
        "half": "float16",
        "long": "int64",
        "int": "int32",
        "bool": "bool",
        "float16": "float16",
        "float32": "float32",
        "float64": "float64",
        "int32": "int32",
        "int64": "int64",
        "short": "int16",
        "uint8": "uint8",
    }
    for name, numpy_name in pairs.items():
        assert getattr(cr, name) == np.dtype(numpy_name)
        assert str(getattr(torch, name)) == f"torch.{numpy_name}"
    assert cr.tensor([1.0]).dtype == cr.float
    assert cr.tensor([1.0]).dtype == np.float32


def test_python_data_takes_the_default_dtype_numpy_data_keeps_its_own():
    for data in (1.5, [1.0, 2.0], [[1, 2.5]], (0.5,)):
        assert _same_dtype(cr.tensor(data), torch.tensor(data))
    for data in (3, [1, 2], True, [True, False]):
        assert _same_dtype(cr.tensor(data), torch.tensor(data))
    for array in (np.ones(3), np.ones(3, np.float32), np.arange(3), np.float64(2.0)):
        assert _same_dtype(cr.tensor(array), torch.tensor(array))
    assert cr.tensor(cr.tensor(np.ones(2))).dtype == np.float64
    assert cr.tensor([1, 2], dtype=cr.float64).dtype == np.float64


def test_set_default_dtype_changes_python_floats_and_factories():
    cr.set_default_dtype(cr.float64)
    assert cr.get_default_dtype() == np.float64
    assert cr.tensor(1.0).dtype == np.float64
    assert cr.zeros(2).dtype == np.float64
    assert cr.randn(2).dtype == np.float64
    assert cr.tensor(np.ones(1, np.float32)).dtype == np.float32
    cr.set_default_dtype("float32")
    assert cr.ones(1).dtype == np.float32
    with pytest.raises(TypeError, match="only a floating dtype"):
        cr.set_default_dtype(cr.int64)


# ---------------------------------------------------------------- factories
@pytest.mark.parametrize(
    ("call", "args", "kwargs"),
    [
        ("zeros", (2, 3), {}),
        ("zeros", ((2, 3),), {}),
        ("ones", ([4],), {}),
        ("ones", (2,), {"dtype": "float64"}),
        ("empty", (0, 2), {}),
        ("full", ((2, 2), 1.5), {}),
        ("full", ((2,), 7), {}),
        ("eye", (3,), {}),
        ("eye", (2, 4), {}),
        ("arange", (5,), {}),
        ("arange", (1, 3, 0.5), {}),
        ("arange", (0.0, 1.0), {}),
        ("linspace", (-1, 1, 7), {}),
        ("logspace", (0, 2, 3), {}),
        ("logspace", (0, 3, 4), {"base": 2.0}),
    ],
)
def test_factories_match_pytorch(call, args, kwargs):
    torch_kwargs = {k: getattr(torch, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    c = getattr(cr, call)(*args, **kwargs)
    t = getattr(torch, call)(*args, **torch_kwargs)
    assert c.shape == tuple(t.shape)
    assert _same_dtype(c, t)
    if call != "empty":
        np.testing.assert_allclose(c.data, t.numpy(), rtol=1e-6, atol=1e-7)


def test_like_factories_keep_shape_and_dtype():
    x = cr.tensor(np.arange(6.0).reshape(2, 3))
    for fn in (cr.zeros_like, cr.ones_like, cr.rand_like, cr.randn_like, cr.empty_like):
        y = fn(x)
        assert y.shape == (2, 3) and y.dtype == np.float64
    assert cr.full_like(x, 2.0).data.tolist() == [[2.0] * 3] * 2
    assert cr.zeros_like(x, dtype=cr.float32).dtype == np.float32
    assert cr.ones_like(np.zeros(2)).data.tolist() == [1.0, 1.0]


def test_factories_take_requires_grad_and_the_cpu_device():
    for make in (
        lambda **k: cr.zeros(2, **k),
        lambda **k: cr.randn(2, 2, **k),
        lambda **k: cr.linspace(0, 1, 3, **k),
        lambda **k: cr.full((2,), 1.0, **k),
        lambda **k: cr.eye(2, **k),
    ):
        t = make(requires_grad=True, device="cpu")
        assert t.requires_grad and t.is_leaf
        assert make(device=cr.device("cpu")).device == cr.device("cpu")
        with pytest.raises(cr.DeviceError, match="CPU only"):
            make(device="cuda")
    with pytest.raises(TypeError, match="floating-point"):
        cr.arange(3, requires_grad=True)


def test_random_factories_are_seeded_by_manual_seed():
    cr.manual_seed(3)
    a = (cr.rand(3), cr.randn(2, 2), cr.randint(0, 10, (5,)), cr.randperm(6))
    cr.manual_seed(3)
    b = (cr.rand(3), cr.randn(2, 2), cr.randint(0, 10, (5,)), cr.randperm(6))
    for x, y in zip(a, b):
        assert np.array_equal(x.data, y.data)
    assert a[0].dtype == np.float32 and a[2].dtype == np.int64 and a[3].dtype == np.int64
    assert a[0].data.min() >= 0 and a[0].data.max() < 1
    assert sorted(a[3].tolist()) == list(range(6))
    assert cr.randint(4, (100,)).data.max() < 4
    assert cr.randint(5, 6, size=(3,)).tolist() == [5, 5, 5]
    with pytest.raises(ValueError, match="greater than low"):
        cr.randint(3, 3, (2,))


def test_from_numpy_shares_memory_as_tensor_does_when_it_can():
    a = np.zeros(3)
    t = cr.from_numpy(a)
    a[0] = 5.0
    assert t.data[0] == 5.0
    assert cr.as_tensor(a).data is a
    assert cr.as_tensor(t) is t
    assert cr.as_tensor([1.0, 2.0]).dtype == np.float32
    assert cr.as_tensor(a, dtype=cr.float32).dtype == np.float32
    with pytest.raises(TypeError, match="numpy.ndarray"):
        cr.from_numpy([1.0])


def test_factory_argument_errors_are_one_clear_line():
    with pytest.raises(TypeError, match="sizes must be ints"):
        cr.zeros(2.5)
    with pytest.raises(ValueError, match="must not be negative"):
        cr.ones(-1)
    with pytest.raises(TypeError, match="out= is not supported"):
        cr.zeros(2, out=cr.zeros(2))
    with pytest.raises(TypeError, match="steps must be"):
        cr.linspace(0, 1, 2.5)


# ------------------------------------------------------------------ devices
def test_only_the_cpu_device_is_honoured():
    assert str(cr.device("cpu")) == "cpu" and cr.device("cpu").type == "cpu"
    assert cr.device("cpu") == "cpu" and cr.device("cpu:0") == cr.device("cpu", 0)
    assert not cr.cuda.is_available() and cr.cuda.device_count() == 0
    assert not cr.backends.mps.is_available()
    device = cr.device("cuda" if cr.cuda.is_available() else "cpu")
    x = cr.tensor([1.0], device=device)
    assert x.to(device) is x and x.cpu() is x and not x.is_cuda
    for bad in ("cuda", "cuda:1", cr.device("mps")):
        with pytest.raises(cr.DeviceError, match="CPU only"):
            x.to(bad)
        with pytest.raises(cr.DeviceError, match="CPU only"):
            cr.tensor([1.0], device=bad)
    with pytest.raises(cr.DeviceError, match="no CUDA device"):
        x.cuda()


# -------------------------------------------------------------- conversions
def test_dtype_conversions_match_pytorch_and_keep_the_gradient():
    values = [[-1.5, 0.25], [2.75, 3.0]]
    c, t = cr.tensor(values), torch.tensor(values)
    for name in ("float", "double", "half", "long", "int", "bool", "short"):
        assert _same_dtype(getattr(c, name)(), getattr(t, name)())
        np.testing.assert_array_equal(getattr(c, name)().data, getattr(t, name)().numpy())
    assert c.float() is c and c.to(cr.float32) is c and c.to("cpu") is c
    assert c.to(cr.float64).dtype == np.float64
    assert c.to("cpu", cr.float64).dtype == np.float64
    assert c.to(dtype=cr.int64).dtype == np.int64
    assert c.to(cr.tensor(np.ones(1))).dtype == np.float64
    assert c.type_as(cr.tensor([1])).dtype == np.int64
    assert c.to(cr.float32, copy=True) is not c
    # PyTorch's own dtype and device objects are read by their text, as modules read them.
    assert c.to(torch.float64).dtype == np.float64 and c.to(torch.device("cpu")) is c
    with pytest.raises(cr.DeviceError, match="CPU only"):
        c.to(torch.device("cuda"))

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x.double() * x.double()).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [2.0, 4.0]
    with pytest.raises(TypeError, match="expected a dtype, a device or a tensor"):
        x.to(3)


def test_clone_is_a_differentiable_copy():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.clone()
    assert y.data is not x.data and not np.shares_memory(y.data, x.data)
    (y * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_numpy_copy_of_a_tensor_requiring_grad_has_memory_of_its_own():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = np.copy(x)
    y[0] = 5.0  # recorded on the copy; x must not change
    assert x.tolist() == [1.0, 2.0]
    (y * y).sum().backward()
    assert x.grad.tolist() == [0.0, 4.0]


def test_format_spec_applies_to_one_element_tensors():
    loss = cr.tensor(0.123456)
    assert f"{loss:.4f}" == f"{torch.tensor(0.123456):.4f}" == "0.1235"
    assert f"{cr.tensor([2.5]):.1e}" == "2.5e+00"
    assert f"{cr.tensor(3):d}" == "3"
    assert f"{cr.tensor([1.0, 2.0])}" == str(cr.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="one-element tensors only"):
        f"{cr.tensor([1.0, 2.0]):.2f}"


# ---------------------------------------------------------- more in-place
@pytest.mark.parametrize(
    "name", ["exp_", "log_", "sqrt_", "abs_", "sin_", "cos_", "tanh_", "sigmoid_", "relu_"]
)
def test_unary_in_place_methods_match_pytorch(name):
    values = np.array([0.5, 1.5, 2.0])
    c, t = cr.tensor(values), torch.tensor(values)
    before = c._version
    assert getattr(c, name)() is c
    getattr(t, name)()
    np.testing.assert_allclose(c.data, t.numpy(), rtol=1e-12)
    assert c._version == before + 1


def test_in_place_on_a_non_leaf_is_recorded_and_differentiated():
    values = np.array([0.3, -0.7, 1.1])
    xc = cr.tensor(values, requires_grad=True)
    xt = torch.tensor(values, requires_grad=True)
    for x, lib in ((xc, cr), (xt, torch)):
        y = x * 2
        y.mul_(lib.tensor(values))
        y.masked_fill_(lib.tensor([False, True, False]), 0.5)
        y.sigmoid_()
        (y * lib.tensor(values)).sum().backward()
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), rtol=1e-12)


def test_exp_in_place_on_a_non_leaf_keeps_the_old_values_it_needs():
    x = cr.tensor([0.3, -0.7], dtype=cr.float64, requires_grad=True)
    y = x * 1
    y.exp_()
    y.add_(1)  # torch refuses this (exp_ saved the array add_ changes); chainrule copied it
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * (np.exp(x.data) + 1) * np.exp(x.data))


def test_in_place_on_a_leaf_requiring_grad_needs_no_grad():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.exp_()
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.uniform_()
    with cr.no_grad():
        w.uniform_(-0.1, 0.1)
        w.normal_(0.0, 0.02)
        w.masked_fill_(w.data > 0, 0.0)
    assert w.is_leaf and w.requires_grad and (w.data <= 0).all()


def test_uniform_and_normal_fill_from_chainrules_generator():
    cr.manual_seed(0)
    a = cr.zeros(1000).uniform_(-2, 3)
    assert a.data.min() >= -2 and a.data.max() < 3
    b = cr.zeros(4000).normal_(1.0, 0.5)
    assert abs(b.data.mean() - 1.0) < 0.05 and abs(b.data.std() - 0.5) < 0.05
    cr.manual_seed(0)
    assert np.array_equal(cr.zeros(1000).uniform_(-2, 3).data, a.data)
    with pytest.raises(TypeError, match="floating-point"):
        cr.zeros(2, dtype=cr.int64).uniform_()


def test_item_assignment_on_a_non_leaf_is_recorded_as_in_pytorch():
    values = np.arange(6.0).reshape(2, 3) / 7
    xc = cr.tensor(values, requires_grad=True)
    xt = torch.tensor(values, requires_grad=True)
    for x, lib in ((xc, cr), (xt, torch)):
        y = x * 3
        y[:, 0] = 0.0
        y[1] = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)
        (y * y).sum().backward()
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy())
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="would drop its gradient"):
        (w * 1)[0] = w[1]
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w[0] = 3.0


def test_pytorchs_spellings_of_generator_size_inference_mode_and_utils_data():
    g = cr.Generator().manual_seed(5)
    assert g.initial_seed() == 5
    first = cr.randn(3, generator=g)
    assert np.array_equal(cr.randn(3, generator=cr.Generator().manual_seed(5)).data, first.data)
    state = g.get_state()
    a = cr.rand(2, generator=g)
    g.set_state(state)
    assert np.array_equal(cr.rand(2, generator=g).data, a.data)
    with pytest.raises(cr.DeviceError):
        cr.Generator(device="cuda")

    assert cr.zeros(2, 3).shape == cr.Size([2, 3]) and cr.Size([2, 3]).numel() == 6

    x = cr.tensor([1.0], requires_grad=True)
    with cr.inference_mode():
        assert not (x * 2).requires_grad
    with cr.inference_mode(False):
        assert (x * 2).requires_grad

    @cr.inference_mode()
    def predict(v):
        return v * 2

    assert not predict(x).requires_grad and cr.is_grad_enabled()

    import chainrule.utils.data as utils_data

    assert utils_data.DataLoader is cr.data.DataLoader
    assert cr.utils.data.TensorDataset is cr.data.TensorDataset


def test_an_integer_operand_takes_the_floating_operands_dtype_as_in_pytorch():
    x = cr.linspace(-1, 1, 4)  # float32
    p = cr.tensor([1, 2, 3])
    xt, pt = torch.linspace(-1, 1, 4), torch.tensor([1, 2, 3])
    for mine, theirs in (
        (x.unsqueeze(-1).pow(p), xt.unsqueeze(-1).pow(pt)),
        (x * cr.tensor(2), xt * torch.tensor(2)),
        (p[:1] * x, pt[:1] * xt),
        (x + cr.tensor([True, False, True, True]), xt + torch.tensor([True, False, True, True])),
        (x * np.arange(4), xt * torch.arange(4)),
        (np.arange(4) - x, torch.arange(4) - xt),
    ):
        assert _same_dtype(mine, theirs)
        np.testing.assert_allclose(mine.data, theirs.numpy(), rtol=1e-6)
    w = cr.tensor([0.5, 2.0], requires_grad=True)
    (w * cr.tensor([3, 4])).sum().backward()
    assert w.grad.dtype == np.float32 and w.grad.tolist() == [3.0, 4.0]
    traced = cr.jit(lambda a, b: a * b)
    assert traced(x, cr.tensor([1, 2, 3, 4])).dtype == np.float32


def test_masked_fill_with_a_value_that_requires_grad_passes_its_gradient_on():
    for lib in (cr, torch):
        x = lib.zeros(4, dtype=lib.float64)
        v = lib.tensor(2.0, dtype=lib.float64, requires_grad=True)
        x.masked_fill_(lib.tensor([True, False, True, True]), v)
        (x * lib.tensor([1.0, 10.0, 100.0, 1000.0], dtype=lib.float64)).sum().backward()
        assert v.grad.item() == 1101.0


def test_fill_with_a_value_that_requires_grad_passes_its_gradient_on():
    for lib in (cr, torch):
        x = lib.zeros(3, dtype=lib.float64)
        v = lib.tensor(2.0, dtype=lib.float64, requires_grad=True)
        x.fill_(v)
        (x * lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)).sum().backward()
        assert v.grad.item() == 6.0 and x.tolist() == [2.0, 2.0, 2.0]
