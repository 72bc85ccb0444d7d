"""cr.explain(model, ...): a network's layers as the nodes of the chain rule (issue 17)."""

import json
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

RTOL = 1e-5


def sigmoid_mlp(depth=8, width=16, classes=3, scale=1.0, seed=0):
    cr.manual_seed(seed)
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(width, classes)).double()
    for p in model.parameters():
        p.data = p.data * scale
    return model


def relu_cnn(seed=0):
    cr.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 3)
    ).double()


def to_torch(model):
    """The same network in PyTorch, with the same weights (copied through NumPy)."""
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    twins = {
        "Linear": lambda m: tnn.Linear(m.in_features, m.out_features),
        "Sigmoid": lambda m: tnn.Sigmoid(),
        "Tanh": lambda m: tnn.Tanh(),
        "ReLU": lambda m: tnn.ReLU(),
        "Conv2d": lambda m: tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size),
        "MaxPool2d": lambda m: tnn.MaxPool2d(m.kernel_size),
        "Flatten": lambda m: tnn.Flatten(),
    }
    tm = tnn.Sequential(*[twins[type(m).__name__](m) for m in model]).double()
    with torch.no_grad():
        for (name, p), (tname, tp) in zip(model.named_parameters(), tm.named_parameters()):
            assert name == tname
            tp.copy_(torch.from_numpy(np.array(p.data)))
    return tm


def torch_numbers(tm, x, target):
    """Per-layer numbers computed in PyTorch: outputs kept by forward hooks, grads by grad()."""
    torch = pytest.importorskip("torch")
    xt = torch.from_numpy(x).requires_grad_(True)
    ins, outs = [], []

    def keep(module, args, out):  # returns None: the output is left as it is
        ins.append(args[0])
        outs.append(out)

    hooks = [m.register_forward_hook(keep) for m in tm]
    try:
        y = tm(xt)
    finally:
        for h in hooks:
            h.remove()
    loss = torch.nn.functional.cross_entropy(y, torch.from_numpy(target))
    params = list(tm.parameters())
    grads = torch.autograd.grad(loss, outs + ins + params, allow_unused=True)
    n = len(outs)
    g_out, g_in, g_par = grads[:n], grads[n : 2 * n], grads[2 * n :]
    pgrad = {id(p): g for p, g in zip(params, g_par)}
    layers = []
    for i, m in enumerate(tm):
        o = outs[i].detach().numpy()
        layers.append(
            {
                "grad_output_norm": float(g_out[i].norm()),
                "grad_input_norm": float(g_in[i].norm()),
                "params": {
                    k: {"norm": float(p.detach().norm()), "grad_norm": float(pgrad[id(p)].norm())}
                    for k, p in m.named_parameters()
                },
                "dead": float(np.mean(o == 0)) if isinstance(m, torch.nn.ReLU) else None,
                "saturated": (
                    float(np.mean((o < 0.01) | (o > 0.99)))
                    if isinstance(m, torch.nn.Sigmoid)
                    else None
                ),
            }
        )
    return float(loss.detach()), layers


@pytest.mark.parametrize(
    "build, shape",
    [(lambda: sigmoid_mlp(scale=3.0), (6, 16)), (relu_cnn, (4, 1, 8, 8))],
    ids=["sigmoid-mlp", "relu-cnn"],
)
def test_layer_numbers_agree_with_pytorch(build, shape):
    model = build()
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape)
    target = rng.integers(0, 3, size=shape[0])
    loss, expected = torch_numbers(to_torch(model), x, target)
    got = cr.explain(model, x, target=target).to_dict()
    assert got["loss"] == pytest.approx(loss, rel=RTOL)
    assert len(got["layers"]) == len(expected)
    for g, e in zip(got["layers"], expected):
        assert g["grad_output_norm"] == pytest.approx(e["grad_output_norm"], rel=RTOL)
        assert g["grad_input_norm"] == pytest.approx(e["grad_input_norm"], rel=RTOL)
        assert g["gain"] == pytest.approx(e["grad_input_norm"] / e["grad_output_norm"], rel=RTOL)
        assert g["params"].keys() == e["params"].keys()
        for k, p in e["params"].items():
            assert g["params"][k]["norm"] == pytest.approx(p["norm"], rel=RTOL)
            assert g["params"][k]["grad_norm"] == pytest.approx(p["grad_norm"], rel=RTOL)
        assert g["stats"]["dead"] == e["dead"]
        assert g["stats"]["saturated"] == e["saturated"]
    if isinstance(model[1], nn.Sigmoid):
        assert any(lay["stats"]["saturated"] for lay in got["layers"])  # the case is exercised
    else:
        assert 0 < got["layers"][1]["stats"]["dead"] < 1


def test_layers_are_leaf_modules_in_call_order_with_paths():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(4, 2)
            self.body = nn.Sequential(nn.Linear(3, 4), nn.Tanh())

        def forward(self, x):
            return self.head(self.body(x))

    d = cr.explain(Net().double(), np.ones((2, 3))).to_dict()
    assert [(lay["name"], lay["type"]) for lay in d["layers"]] == [
        ("body.0", "Linear"),
        ("body.1", "Tanh"),
        ("head", "Linear"),
    ]
    assert d["layers"][1]["stats"]["saturated"] is not None
    assert d["layers"][0]["output_shape"] == [2, 4]


def test_a_deep_sigmoid_net_vanishes_and_the_diagnosis_says_why():
    ex = cr.explain(sigmoid_mlp(), np.random.default_rng(0).normal(size=(8, 16)), target=[0] * 8)
    assert ex.product[0] < 1e-3
    text = ex.diagnosis[0]
    assert "Sigmoid" in text and "1/4" in text and "8 of them" in text
    assert "layer 0" in text


def test_a_relu_net_does_not_vanish():
    cr.manual_seed(0)
    layers = []
    for _ in range(8):
        layers += [nn.Linear(16, 16), nn.ReLU()]
        nn.init.kaiming_normal_(layers[-2].weight, nonlinearity="relu")  # He: gain about 1
    model = nn.Sequential(*layers, nn.Linear(16, 3)).double()
    ex = cr.explain(model, np.random.default_rng(0).normal(size=(8, 16)), target=[1] * 8)
    assert ex.product[0] > 1e-2
    assert not any("1/4" in d for d in ex.diagnosis)


def test_dead_relus_are_diagnosed():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3)).double()
    model[0].bias.data = np.full(32, -1.0)
    ex = cr.explain(model, np.random.default_rng(0).normal(size=(16, 8)), target=[0] * 16)
    dead = ex.to_dict()["layers"][1]["stats"]["dead"]
    assert 0.8 < dead < 1
    assert any(f"{100 * dead:.0f}% of layer 1's ReLU outputs are 0" in d for d in ex.diagnosis)
    assert any("no gradient passes" in d for d in ex.diagnosis)
    model[0].bias.data = np.full(32, -10.0)  # every output dead: the chain is cut
    ex = cr.explain(model, np.random.default_rng(0).normal(size=(16, 8)), target=[0] * 16)
    assert ex.product[0] == 0.0
    assert ex.diagnosis[0].startswith("no gradient reaches layer 0: layer 1 (ReLU)")
    assert any(d.startswith("all of layer 1's ReLU outputs are 0") for d in ex.diagnosis)


def test_default_losses():
    cr.manual_seed(0)
    model = nn.Linear(3, 2).double()
    x = np.arange(6.0).reshape(2, 3)
    y = model(cr.tensor(x))
    assert cr.explain(model, x).loss == pytest.approx(float(y.sum().data))
    assert cr.explain(model, x).loss_name == "output.sum()"
    t = np.ones((2, 2))
    mse = float(nn.functional.mse_loss(y, t).data)
    assert cr.explain(model, x, target=t).loss == pytest.approx(mse)
    ce = float(nn.functional.cross_entropy(y, np.array([0, 1])).data)
    assert cr.explain(model, x, target=np.array([0, 1])).loss == pytest.approx(ce)
    l1 = cr.explain(model, x, target=t, loss=nn.functional.l1_loss)
    assert l1.loss == pytest.approx(float(nn.functional.l1_loss(y, t).data))
    # the model itself is the only leaf: its name is "" as in named_modules
    assert l1.to_dict()["layers"][0]["name"] == ""


def test_explaining_has_no_side_effects():
    cr.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2)
    )
    model.train()
    kept = np.full((8, 4), 7.0, dtype=np.float32)
    model[0].weight.grad = cr.tensor(kept.copy())
    bn = model[1]
    before = {k: np.array(v.data, copy=True) for k, v in model.state_dict().items()}
    x = cr.tensor(np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32))
    rng = cr.nn.get_rng_state()
    ex = cr.explain(model, x, target=np.array([0, 1, 0, 1, 1]))
    assert ex.layers[1].type == "BatchNorm1d"
    assert model.training and bn.training
    np.testing.assert_array_equal(model[0].weight.grad.data, kept)
    assert model[0].bias.grad is None and model[4].weight.grad is None
    assert cr.nn.get_rng_state() == rng  # Dropout's draws are given back
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.data, before[k], err_msg=k)
    assert not x.requires_grad and x.grad is None
    assert "forward" not in model[0].__dict__  # the recording wrappers are gone
    model.eval()
    cr.explain(model, x)
    assert not model.training and not bn.training


def test_to_dict_schema_and_formats(tmp_path):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Sigmoid(), nn.Linear(5, 5), nn.ReLU()).double()
    ex = cr.explain(model, np.ones((3, 4)), target=np.zeros((3, 5)))
    assert isinstance(ex, cr.NetworkExplanation)
    assert cr.explain is cr.explain  # the function explain is still the one entry point
    d = ex.to_dict()
    assert list(d) == ["model", "loss", "layers", "product", "diagnosis"]
    assert isinstance(d["model"], str) and isinstance(d["loss"], float)
    for lay in d["layers"]:
        assert list(lay) == [
            "name",
            "type",
            "output_shape",
            "grad_output_norm",
            "grad_input_norm",
            "gain",
            "params",
            "stats",
        ]
        assert isinstance(lay["name"], str) and isinstance(lay["type"], str)
        assert all(isinstance(n, int) for n in lay["output_shape"])
        assert isinstance(lay["grad_output_norm"], float)
        assert isinstance(lay["grad_input_norm"], float | None)
        assert isinstance(lay["gain"], float | None)
        for p in lay["params"].values():
            assert list(p) == ["norm", "grad_norm"]
            assert isinstance(p["norm"], float) and isinstance(p["grad_norm"], float)
        assert list(lay["stats"]) == ["mean", "std", "saturated", "dead"]
        assert isinstance(lay["stats"]["mean"], float) and isinstance(lay["stats"]["std"], float)
    assert [lay["stats"]["saturated"] is None for lay in d["layers"]] == [1, 0, 1, 1]
    assert [lay["stats"]["dead"] is None for lay in d["layers"]] == [1, 1, 1, 0]
    assert len(d["product"]) == 4 and all(isinstance(p, float) for p in d["product"])
    assert d["diagnosis"] and all(isinstance(s, str) for s in d["diagnosis"])
    assert json.loads(ex.to_json()) == d
    text, md, page = str(ex), ex.to_markdown(), ex.to_html()
    for name in ("0", "1", "2", "3"):
        assert f"\n  {name} " in text and f"| {name} |" in md
        # each layer's row links to its drill-down section further down the page
        assert f'<td class="name"><a href="#drill-{name}">{name}</a></td>' in page
        assert f'<details class="drill" id="drill-{name}">' in page
    # offline: the one script is inline, nothing is fetched
    assert page.count("<script>") == 1 and "<script src" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert page.startswith("<!DOCTYPE html>")
    fragment = ex._repr_html_()
    assert fragment.startswith("<style>") and "<script" not in fragment
    pytest.importorskip("matplotlib")
    png = tmp_path / "net.png"
    assert ex.plot(png) == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_escapes_names():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.add_module("<b>", nn.Linear(2, 2))

        def forward(self, x):
            return getattr(self, "<b>")(x)

    page = cr.explain(Odd(), np.ones((1, 2))).to_html()
    assert "<b>" not in page and "&lt;b&gt;" in page


def test_plot_without_matplotlib_names_the_extra(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    ex = cr.explain(nn.Linear(2, 2), np.ones((1, 2)))
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(cr.ExplainError, match=r"chainrule\[train\]"):
        ex.plot(tmp_path / "x.png")


def test_bad_target_shape_is_one_clear_line():
    model = sigmoid_mlp(depth=1)
    with pytest.raises(cr.ExplainError) as err:
        cr.explain(model, np.ones((4, 16)), target=np.array([0, 1]))
    msg = str(err.value)
    assert "\n" not in msg and "target" in msg and "4" in msg and "2" in msg
    with pytest.raises(cr.ExplainError) as err:
        cr.explain(model, np.ones((4, 16)), target=np.ones((4, 5)))
    assert "\n" not in str(err.value) and "loss" in str(err.value)


def test_other_errors():
    model = nn.Linear(2, 2)
    with pytest.raises(cr.ExplainError, match="input"):
        cr.explain(model)
    with pytest.raises(cr.ExplainError, match="order"):
        cr.explain(model, np.ones((1, 2)), order=2)
    with pytest.raises(cr.ExplainError, match="targt="):
        cr.explain(model, np.ones((1, 2)), targt=1)
    with pytest.raises(cr.ExplainError, match="model failed"):
        cr.explain(model, np.ones((1, 5)))
    # the function form is unchanged, and still takes at most one dict positionally
    with pytest.raises(TypeError):
        cr.explain("x*x", {"x": 1.0}, 2)
    assert cr.explain("x*x", x=3.0).gradients == {"x": 6.0}
