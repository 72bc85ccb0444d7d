"""A PyTorch program on the CPU runs with its imports changed and gives PyTorch's numbers.

Each test builds the same thing in chainrule and in torch (weights copied from the
chainrule module), runs it, and compares: outputs, gradients, parameters after a few
optimizer steps, learning-rate sequences, state-dict keys, the errors for devices.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim

torch = pytest.importorskip("torch")
tnn, toptim = torch.nn, torch.optim

RTOL, ATOL = 1e-5, 1e-6


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return np.asarray(x.data if isinstance(x, cr.Tensor) else x)


def _copy_into_torch(mine, theirs):
    """Load chainrule module ``mine``'s state into torch module ``theirs`` (same keys)."""
    state = {k: torch.from_numpy(np.array(v.data)) for k, v in mine.state_dict().items()}
    theirs.load_state_dict(state)


def _close(a, b, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=atol)


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- shapes, layers
@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.Flatten(),
        lambda m: m.Flatten(0, 1),
        lambda m: m.Flatten(1, 2),
        lambda m: m.Flatten(-2, -1),
        lambda m: m.Unflatten(1, (2, 3)),
        lambda m: m.Unflatten(-1, (2, -1)),
        lambda m: m.AdaptiveAvgPool2d(1),
        lambda m: m.AdaptiveAvgPool2d((2, 3)),
        lambda m: m.AdaptiveAvgPool2d((None, 1)),
    ],
)
def test_shape_layers_match(make):
    x = _rand(2, 6, 4, 6)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yc, yt = make(nn)(xc), make(tnn)(xt)
    assert yc.shape == tuple(yt.shape)
    _close(yc, yt)
    w = _rand(*yc.shape, seed=1)
    (yc * w).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    _close(xc.grad, xt.grad)


def test_adaptive_avg_pool_uneven_sizes_use_torchs_overlapping_windows():
    # once refused; now PyTorch's windows [floor(i*4/3), ceil((i+1)*4/3)) overlap
    x = _rand(1, 2, 4, 5)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yc, yt = nn.AdaptiveAvgPool2d(3)(xc), tnn.AdaptiveAvgPool2d(3)(xt)
    _close(yc, yt)
    yc.sum().backward()
    yt.sum().backward()
    _close(xc.grad, xt.grad)


LOSSES = [
    ("MSELoss", {}),
    ("L1Loss", {}),
    ("SmoothL1Loss", {}),
    ("SmoothL1Loss", {"beta": 0.5}),
    ("SmoothL1Loss", {"beta": 0.0}),
    ("HuberLoss", {}),
    ("HuberLoss", {"delta": 0.7}),
    ("KLDivLoss", {}),
    ("KLDivLoss", {"log_target": True}),
    ("BCEWithLogitsLoss", {}),
    ("BCELoss", {}),
    ("CrossEntropyLoss", {}),
    ("CrossEntropyLoss", {"label_smoothing": 0.1}),
    ("NLLLoss", {}),
]


def _loss_inputs(name):
    x = _rand(4, 5)
    if name in ("CrossEntropyLoss", "NLLLoss"):
        if name == "NLLLoss":
            x = x - np.log(np.exp(x).sum(1, keepdims=True))
        return x, np.array([0, 4, 2, 1], dtype=np.int64)
    if name == "KLDivLoss":
        logp = x - np.log(np.exp(x).sum(1, keepdims=True))
        q = np.exp(_rand(4, 5, seed=2))
        q /= q.sum(1, keepdims=True)
        q[0, 0] = 0.0  # x log x at 0 is 0
        return logp.astype(np.float32), q.astype(np.float32)
    if name == "BCELoss":
        return 1 / (1 + np.exp(-x)), (_rand(4, 5, seed=3) > 0).astype(np.float32)
    if name == "BCEWithLogitsLoss":
        return x, (_rand(4, 5, seed=3) > 0).astype(np.float32)
    return x, _rand(4, 5, seed=3) * 1.5


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@pytest.mark.parametrize(
    "name,kwargs,reduction",
    [
        (name, kwargs, reduction)
        for name, kwargs in LOSSES
        for reduction in ("mean", "sum", "none", "batchmean")
        if reduction != "batchmean" or name == "KLDivLoss"  # batchmean is KLDivLoss's only
    ],
)
def test_losses_and_their_reductions_match(name, kwargs, reduction):
    x, target = _loss_inputs(name)
    if name == "KLDivLoss" and kwargs.get("log_target"):
        target = np.log(np.clip(target, 1e-6, None)).astype(np.float32)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lc = getattr(nn, name)(reduction=reduction, **kwargs)(xc, target)
    lt = getattr(tnn, name)(reduction=reduction, **kwargs)(xt, torch.tensor(target))
    assert lc.shape == tuple(lt.shape)
    _close(lc, lt)
    w = _rand(*lc.shape, seed=4)
    (lc * w).sum().backward()
    (lt * torch.tensor(w)).sum().backward()
    _close(xc.grad, xt.grad)


# ---------------------------------------------------------------- modules
class _Net:
    """The same architecture in either library (``lib`` is nn or torch.nn)."""

    @staticmethod
    def build(lib):
        class Net(lib.Module):
            def __init__(self):
                super().__init__()
                self.features = lib.Sequential(
                    lib.Conv2d(3, 4, 3, padding=1),
                    lib.BatchNorm2d(4),
                    lib.ReLU(),
                    lib.MaxPool2d(2),
                    lib.AdaptiveAvgPool2d(2),
                    lib.Flatten(),
                )
                self.heads = lib.ModuleDict(
                    {"a": lib.Linear(16, 6), "b": lib.Sequential(lib.Linear(16, 6), lib.Tanh())}
                )
                self.blocks = lib.ModuleList([lib.BatchNorm1d(6), lib.Linear(6, 3)])
                self.scales = lib.ParameterList(
                    [lib.Parameter(0.5 + torch_or_cr(lib).ones(3)) for _ in range(2)]
                )

            def forward(self, x):
                h = self.features(x)
                h = self.heads["a"](h) + self.heads["b"](h)
                h = self.blocks[1](self.blocks[0](h))
                return h * self.scales[0] + self.scales[1]

        return Net()


def torch_or_cr(lib):
    return torch if lib is tnn else cr


def _pair(seed=0):
    nn.manual_seed(seed)
    mine, theirs = _Net.build(nn), _Net.build(tnn)
    _copy_into_torch(mine, theirs)
    return mine, theirs


def test_state_dict_keys_names_and_traversal_match():
    mine, theirs = _pair()
    assert list(mine.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in mine.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in mine.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [type(m).__name__ for m in mine.children()] == [
        type(m).__name__ for m in theirs.children()
    ]
    assert [type(m).__name__ for m in mine.modules()] == [
        type(m).__name__ for m in theirs.modules()
    ]
    assert isinstance(mine.parameters(), types.GeneratorType)
    assert mine.state_dict()["features.1.num_batches_tracked"].dtype == np.int64


def test_forward_backward_and_buffers_match_in_train_and_eval():
    mine, theirs = _pair()
    x = _rand(5, 3, 8, 8)
    for mode in ("train", "eval"):
        getattr(mine, mode)()
        getattr(theirs, mode)()
        assert mine.training == theirs.training
        mine.zero_grad()
        theirs.zero_grad()
        yc, yt = mine(cr.tensor(x)), theirs(torch.tensor(x))
        _close(yc, yt, rtol=1e-4, atol=1e-5)
        nn.MSELoss(reduction="sum")(yc, np.ones(yc.shape, np.float32)).backward()
        tnn.MSELoss(reduction="sum")(yt, torch.ones(yt.shape)).backward()
        tp = dict(theirs.named_parameters())
        for name, p in mine.named_parameters():
            # (a bias before a BatchNorm has a gradient of 0 up to rounding: hence atol)
            _close(p.grad, tp[name].grad, rtol=1e-4, atol=1e-4)
        tb = theirs.state_dict()
        for name, b in mine.state_dict().items():
            _close(b, tb[name], rtol=1e-4, atol=1e-5)


def test_load_state_dict_strict_and_not():
    mine, theirs = _pair()
    state = {k: v for k, v in mine.state_dict().items() if not k.startswith("heads.a")}
    state["extra.weight"] = cr.zeros(2)
    tstate = {k: torch.from_numpy(np.array(v.data)) for k, v in state.items()}
    with pytest.raises(RuntimeError, match="Missing key"):
        mine.load_state_dict(state)
    with pytest.raises(RuntimeError, match="Missing key"):
        theirs.load_state_dict(tstate)
    got, expected = (
        mine.load_state_dict(state, strict=False),
        theirs.load_state_dict(tstate, strict=False),
    )
    assert got.missing_keys == expected.missing_keys
    assert got.unexpected_keys == expected.unexpected_keys


def test_module_helpers_behave_as_torch():
    mine, theirs = _pair()
    mine.requires_grad_(False)
    theirs.requires_grad_(False)
    assert [p.requires_grad for p in mine.parameters()] == [
        p.requires_grad for p in theirs.parameters()
    ]
    mine.requires_grad_()
    seen = []
    assert mine.apply(lambda m: seen.append(type(m).__name__)) is mine
    tseen = []
    theirs.apply(lambda m: tseen.append(type(m).__name__))
    assert seen == tseen
    # zero_grad: None by default (PyTorch 2), zeros with set_to_none=False
    mine(cr.tensor(_rand(2, 3, 8, 8))).sum().backward()
    mine.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.data.any() for p in mine.parameters())
    mine.zero_grad()
    assert all(p.grad is None for p in mine.parameters())


def test_parameter_constructors():
    p = nn.Parameter(cr.zeros(3))
    q = nn.Parameter(cr.zeros(3), requires_grad=False)
    tp, tq = tnn.Parameter(torch.zeros(3)), tnn.Parameter(torch.zeros(3), requires_grad=False)
    assert (p.requires_grad, q.requires_grad) == (tp.requires_grad, tq.requires_grad)
    assert p.shape == tuple(tp.shape)
    holder = nn.Module()
    holder.q = q
    assert [n for n, _ in holder.named_parameters()] == ["q"]


class _Cpu:
    """A device object as cr.device or torch.device: its ``type`` says which."""

    def __init__(self, kind):
        self.type, self.index = kind, None

    def __str__(self):
        return self.type


class _Named:
    """A device object known only by its text."""

    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


def test_to_device_and_dtype():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    for device in ("cpu", "cpu:0", _Cpu("cpu"), _Named("cpu"), torch.device("cpu")):
        assert model.to(device) is model
        assert model.to(device=device) is model
    assert model.cpu() is model
    assert model.double()[0].weight.dtype == np.float64
    assert model.half()[0].weight.dtype == np.float16
    assert model.float()[0].weight.dtype == np.float32
    assert model.to("cpu", np.float64)[0].weight.dtype == np.float64
    assert model.to(torch.float32)[0].weight.dtype == np.float32
    assert model.to(dtype=cr.float64)[1].running_mean.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64  # integers are left alone


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps", _Cpu("cuda"), torch.device("cuda", 1)])
def test_any_other_device_is_one_clear_error(device):
    model = nn.Linear(2, 2)
    with pytest.raises(nn.DeviceError, match="chainrule runs on the CPU only"):
        model.to(device)


def test_cuda_is_one_clear_error():
    with pytest.raises(nn.DeviceError, match="CPU only"):
        nn.Linear(2, 2).cuda()


# ---------------------------------------------------------------- nn.utils
@pytest.mark.parametrize("norm_type", [2, 1, 3.0, float("inf")])
def test_clip_grad_norm_matches(norm_type):
    grads = [_rand(3, 4, seed=1) * 3, _rand(5, seed=2)]
    ps = [nn.Parameter(cr.zeros(g.shape)) for g in grads]
    ts = [tnn.Parameter(torch.zeros(g.shape)) for g in grads]
    for p, t, g in zip(ps, ts, grads):
        p.grad, t.grad = cr.tensor(g.copy()), torch.tensor(g.copy())
    total = nn.utils.clip_grad_norm_(ps, 1.5, norm_type=norm_type)
    ttotal = tnn.utils.clip_grad_norm_(ts, 1.5, norm_type=norm_type)
    assert isinstance(total, cr.Tensor)
    _close(total, ttotal)
    for p, t in zip(ps, ts):
        _close(p.grad, t.grad)


def test_clip_grad_value_and_vectors_match():
    g = _rand(4, 3) * 2
    p, t = nn.Parameter(cr.zeros((4, 3))), tnn.Parameter(torch.zeros(4, 3))
    p.grad, t.grad = cr.tensor(g.copy()), torch.tensor(g.copy())
    nn.utils.clip_grad_value_([p], 0.5)
    tnn.utils.clip_grad_value_([t], 0.5)
    _close(p.grad, t.grad)
    mine, theirs = _pair()
    vec, tvec = (
        nn.utils.parameters_to_vector(mine.parameters()),
        tnn.utils.parameters_to_vector(theirs.parameters()),
    )
    _close(vec, tvec)
    new = _rand(vec.shape[0], seed=5)
    nn.utils.vector_to_parameters(cr.tensor(new), mine.parameters())
    tnn.utils.vector_to_parameters(torch.tensor(new), theirs.parameters())
    tp = dict(theirs.named_parameters())
    for name, q in mine.named_parameters():
        _close(q, tp[name])


# ---------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_save_load_round_trip_of_model_and_optimizer(tmp_path, suffix):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    mine, _ = _pair()
    opt = optim.SGD(mine.parameters(), lr=0.1, momentum=0.9)
    mine(cr.tensor(_rand(2, 3, 8, 8))).sum().backward()
    opt.step()
    path = tmp_path / ("ckpt" + suffix)
    cr.save(mine.state_dict(), path)
    fresh, _ = _pair(seed=1)
    assert fresh.load_state_dict(cr.load(path)) == ([], [])
    for (k, a), b in zip(mine.state_dict().items(), fresh.state_dict().values()):
        np.testing.assert_array_equal(_np(a), _np(b), err_msg=k)
    cr.save({"model": mine.state_dict(), "opt": opt.state_dict(), "epoch": 3}, path)
    state = cr.load(path, map_location="cpu", weights_only=True)
    assert state["epoch"] == 3
    fresh.load_state_dict(state["model"])
    opt2 = optim.SGD(fresh.parameters(), lr=0.5)
    opt2.load_state_dict(state["opt"])
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.param_groups[0]["momentum"] == 0.9
    cr.load(path, map_location=torch.device("cpu"))
    with pytest.raises(nn.DeviceError):
        cr.load(path, map_location="cuda:0")


def test_a_corrupted_checkpoint_still_raises(tmp_path):
    pytest.importorskip("safetensors")
    path = tmp_path / "c.safetensors"
    cr.save({"model": nn.Linear(3, 2).state_dict(), "epoch": 3}, path)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x10
    path.write_bytes(bytes(raw))
    with pytest.raises(cr.serialization.CheckpointError):
        cr.load(path, map_location="cpu")


# ---------------------------------------------------------------- optimizers
OPTIMIZERS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-2, "amsgrad": True, "weight_decay": 1e-2}),
    ("AdamW", {"lr": 1e-2}),
    ("AdamW", {"lr": 1e-2, "amsgrad": True, "betas": (0.8, 0.99)}),
    ("RMSprop", {"lr": 1e-2}),
    ("RMSprop", {"lr": 1e-2, "momentum": 0.9, "centered": True, "weight_decay": 1e-2}),
    ("Adagrad", {"lr": 0.1}),
    (
        "Adagrad",
        {
            "lr": 0.1,
            "lr_decay": 0.01,
            "weight_decay": 1e-2,
            "initial_accumulator_value": 0.1,
            "eps": 1e-6,
        },
    ),
]


def _mlp(lib):
    return lib.Sequential(lib.Linear(4, 8), lib.Tanh(), lib.Linear(8, 2))


def _train(mine, theirs, opt, topt, steps=5, between=None):
    for step in range(steps):
        x, y = _rand(6, 4, seed=10 + step), _rand(6, 2, seed=20 + step)
        opt.zero_grad()
        topt.zero_grad()
        nn.MSELoss()(mine(cr.tensor(x)), y).backward()
        tnn.MSELoss()(theirs(torch.tensor(x)), torch.tensor(y)).backward()
        opt.step()
        topt.step()
        if between is not None:
            between(step)
    tp = dict(theirs.named_parameters())
    for name, p in mine.named_parameters():
        _close(p, tp[name], rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_optimizers_match_after_steps(name, kwargs):
    nn.manual_seed(0)
    mine, theirs = _mlp(nn), _mlp(tnn)
    _copy_into_torch(mine, theirs)
    opt = getattr(optim, name)(mine.parameters(), **kwargs)
    topt = getattr(toptim, name)(theirs.parameters(), **kwargs)
    _train(mine, theirs, opt, topt, steps=6)
    mine_state, their_state = opt.state_dict(), topt.state_dict()
    assert list(mine_state["state"]) == list(their_state["state"])
    for i, s in mine_state["state"].items():
        assert set(s) == set(their_state["state"][i])
    for g, tg in zip(mine_state["param_groups"], their_state["param_groups"]):
        assert g["params"] == tg["params"]
        assert {k: v for k, v in g.items() if k in tg} == {
            k: (tuple(v) if isinstance(v, tuple) else v) for k, v in tg.items() if k in g
        }


def test_param_groups_per_group_options_and_lr_changes():
    nn.manual_seed(1)
    mine, theirs = _mlp(nn), _mlp(tnn)
    _copy_into_torch(mine, theirs)
    opt = optim.SGD(
        [{"params": mine[0].parameters()}, {"params": mine[2].parameters(), "lr": 1e-3}],
        lr=1e-2,
        momentum=0.9,
    )
    topt = toptim.SGD(
        [{"params": theirs[0].parameters()}, {"params": theirs[2].parameters(), "lr": 1e-3}],
        lr=1e-2,
        momentum=0.9,
    )
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]

    def change(step):
        if step == 2:
            for o in (opt, topt):
                for g in o.param_groups:
                    g["lr"] = 0.05

    _train(mine, theirs, opt, topt, steps=5, between=change)
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.05]


def test_add_param_group_and_zero_grad_default():
    a, b = nn.Parameter(cr.ones(2)), nn.Parameter(cr.ones(3))
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.01})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    ((a * a).sum() + (b * b).sum()).backward()
    opt.step()
    opt.zero_grad()  # set_to_none=True by default, as torch 2
    assert a.grad is None and b.grad is None
    ag = optim.Adagrad([a], lr=0.1, initial_accumulator_value=0.5)
    ag.add_param_group({"params": [b]})
    assert set(ag.state_dict()["state"]) == {0, 1}  # accumulators exist before any step


# ---------------------------------------------------------------- schedulers
def _opt_pair(kind="SGD", groups=1):
    def params(lib_param, make):
        return [{"params": [lib_param(make(2))], "lr": 0.1 * (i + 1)} for i in range(groups)]

    mine = getattr(optim, kind)(params(nn.Parameter, cr.ones), lr=0.1, momentum=0.9)
    theirs = getattr(toptim, kind)(params(tnn.Parameter, torch.ones), lr=0.1, momentum=0.9)
    return mine, theirs


SCHEDULERS = [
    ("StepLR", {"step_size": 7, "gamma": 0.3}),
    ("MultiStepLR", {"milestones": [3, 8, 8, 20], "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.93}),
    ("CosineAnnealingLR", {"T_max": 10}),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.01}),
    ("LambdaLR", {"lr_lambda": lambda e: 0.95**e + 0.01 * e}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.1, "end_factor": 0.8, "total_iters": 12}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 40}),
    ("OneCycleLR", {"max_lr": [0.5, 1.5], "epochs": 4, "steps_per_epoch": 10, "pct_start": 0.25}),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULERS)
def test_scheduler_lr_sequences_match_exactly(name, kwargs):
    opt, topt = _opt_pair(groups=2)
    sched = getattr(optim.lr_scheduler, name)(opt, **kwargs)
    tsched = getattr(toptim.lr_scheduler, name)(topt, **kwargs)
    steps = 39 if name == "OneCycleLR" else 35
    for _ in range(steps):
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
        assert [g["momentum"] for g in opt.param_groups] == [
            g["momentum"] for g in topt.param_groups
        ]
        opt.step()
        topt.step()
        sched.step()
        tsched.step()


def test_one_cycle_cycles_adams_beta1():
    p, q = nn.Parameter(cr.ones(2)), tnn.Parameter(torch.ones(2))
    opt, topt = optim.Adam([p], lr=0.1), toptim.Adam([q], lr=0.1)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.3, total_steps=30)
    tsched = toptim.lr_scheduler.OneCycleLR(topt, max_lr=0.3, total_steps=30)
    for _ in range(29):
        assert opt.param_groups[0]["betas"] == tuple(topt.param_groups[0]["betas"])
        assert sched.get_last_lr() == tsched.get_last_lr()
        opt.step()
        topt.step()
        sched.step()
        tsched.step()


def test_chained_schedulers_and_hand_changes_follow_torch():
    opt, topt = _opt_pair()
    a, ta = optim.lr_scheduler.StepLR(opt, 4, 0.5), toptim.lr_scheduler.StepLR(topt, 4, 0.5)
    b = optim.lr_scheduler.ExponentialLR(opt, 0.9)
    tb = toptim.lr_scheduler.ExponentialLR(topt, 0.9)
    c = optim.lr_scheduler.CosineAnnealingLR(opt, 12)
    tc = toptim.lr_scheduler.CosineAnnealingLR(topt, 12)
    for epoch in range(32):
        if epoch == 9:
            opt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = 0.05
        opt.step()
        topt.step()
        for s in (a, b, c, ta, tb, tc):
            s.step()
        assert opt.param_groups[0]["lr"] == topt.param_groups[0]["lr"]
        assert c.get_last_lr() == tc.get_last_lr()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"patience": 2, "factor": 0.5, "cooldown": 2, "min_lr": 0.004},
        {"mode": "max", "threshold_mode": "abs", "threshold": 0.05, "patience": 1},
        {"patience": 0, "factor": 0.5, "eps": 0.02, "min_lr": [0.0, 0.05]},
    ],
)
def test_reduce_lr_on_plateau_matches(kwargs):
    opt, topt = _opt_pair(groups=2)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = toptim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    metrics = np.concatenate([np.linspace(1, 0.5, 6), np.full(12, 0.5), np.linspace(0.5, 0.6, 14)])
    metrics += 0.01 * np.sin(np.arange(metrics.size))
    for m in metrics:
        opt.step()
        topt.step()
        sched.step(cr.tensor(m))
        tsched.step(torch.tensor(m))
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.best) == (
            tsched.num_bad_epochs,
            tsched.cooldown_counter,
            tsched.best,
        )


def test_step_to_an_epoch_uses_the_closed_form_as_torch():
    import warnings

    opt, topt = _opt_pair()
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, 10, eta_min=0.001)
    tsched = toptim.lr_scheduler.CosineAnnealingLR(topt, 10, eta_min=0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates step(epoch)
        for epoch in (3, 7, 4):
            opt.step()
            topt.step()
            sched.step(epoch)
            tsched.step(epoch)
            assert sched.get_last_lr() == tsched.get_last_lr()
