"""cr.optim: each optimizer's steps against its update formula written out in NumPy
(float64, several steps with changing gradients), state dicts, parameter groups,
and the learning-rate schedules against their closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule import optim

STEPS = 5


def grads(seed=0, shape=(3, 2)):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for _ in range(STEPS)]


def run(opt_factory, gs, p0):
    """Apply the optimizer for len(gs) steps with the given gradients; the trajectory."""
    p = nn.Parameter(p0.copy())
    opt = opt_factory([p])
    out = []
    for g in gs:
        p.grad = cr.tensor(g)
        opt.step()
        out.append(p.data.copy())
    return out


P0 = np.random.default_rng(42).normal(size=(3, 2))


# ------------------------------------------------------------------ SGD
@pytest.mark.parametrize(
    "lr, mu, damp, wd, nesterov, maximize",
    [
        (0.1, 0.0, 0.0, 0.0, False, False),
        (0.1, 0.9, 0.0, 0.0, False, False),
        (0.05, 0.9, 0.3, 0.01, False, False),
        (0.1, 0.8, 0.0, 0.1, True, False),
        (0.1, 0.5, 0.0, 0.0, False, True),
    ],
)
def test_sgd_matches_formula(lr, mu, damp, wd, nesterov, maximize):
    gs = grads(1)
    got = run(lambda ps: optim.SGD(ps, lr=lr, momentum=mu, dampening=damp, weight_decay=wd,
                                   nesterov=nesterov, maximize=maximize), gs, P0)  # fmt: skip
    p, b = P0.copy(), None
    for t, g in enumerate(gs, start=1):
        g = -g if maximize else g
        g = g + wd * p
        if mu:
            b = g if t == 1 else mu * b + (1 - damp) * g
            g = g + mu * b if nesterov else b
        p = p - lr * g
        np.testing.assert_allclose(got[t - 1], p, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ Adam, AdamW
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.05])
@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_and_adamw_match_formula(amsgrad, wd, decoupled):
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-6
    kind = optim.AdamW if decoupled else optim.Adam
    gs = grads(2)
    got = run(
        lambda ps: kind(ps, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, amsgrad=amsgrad),
        gs,
        P0,
    )
    p = P0.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vmax = np.zeros_like(p)
    for t, g in enumerate(gs, start=1):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        if amsgrad:
            vmax = np.maximum(vmax, v)
            v_hat = vmax / (1 - b2**t)
        else:
            v_hat = v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(got[t - 1], p, rtol=1e-12, atol=1e-14)


def test_adamw_default_weight_decay():
    p = nn.Parameter(np.ones(2))
    assert optim.AdamW([p]).param_groups[0]["weight_decay"] == 0.01
    assert optim.Adam([p]).param_groups[0]["weight_decay"] == 0.0


# ------------------------------------------------------------------ RMSprop
@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("mu", [0.0, 0.7])
def test_rmsprop_matches_formula(centered, mu):
    lr, alpha, eps, wd = 0.01, 0.9, 1e-8, 0.02
    gs = grads(3)
    got = run(lambda ps: optim.RMSprop(ps, lr=lr, alpha=alpha, eps=eps, weight_decay=wd,
                                       momentum=mu, centered=centered), gs, P0)  # fmt: skip
    p = P0.copy()
    v = np.zeros_like(p)
    a = np.zeros_like(p)
    b = np.zeros_like(p)
    for t, g in enumerate(gs, start=1):
        g = g + wd * p
        v = alpha * v + (1 - alpha) * g * g
        vt = v
        if centered:
            a = alpha * a + (1 - alpha) * g
            vt = v - a * a
        if mu:
            b = mu * b + g / (np.sqrt(vt) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (np.sqrt(vt) + eps)
        np.testing.assert_allclose(got[t - 1], p, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ behaviour
def test_updates_are_in_place_and_keep_float32():
    p = nn.Parameter(np.ones(3, dtype=np.float32))
    data = p.data
    for kind in (optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop):
        opt = kind([p], lr=0.1)
        p.grad = cr.tensor(np.ones(3, dtype=np.float32))
        opt.step()
        assert p.data is data and p.data.dtype == np.float32


def test_parameters_without_grad_are_skipped_and_zero_grad():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.SGD([a, b], lr=1.0)
    a.grad = cr.tensor([1.0, 2.0])
    opt.step()
    np.testing.assert_array_equal(a.data, [0.0, -1.0])
    np.testing.assert_array_equal(b.data, [1.0, 1.0])
    opt.zero_grad()
    assert a.grad is None
    a.grad = cr.tensor([1.0, 2.0])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.data, [0, 0])


def test_param_groups_have_their_own_options():
    a, b = nn.Parameter(np.ones(1)), nn.Parameter(np.ones(1))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    a.grad = cr.tensor([1.0])
    b.grad = cr.tensor([1.0])
    opt.step()
    assert a.data[0] == pytest.approx(0.9) and b.data[0] == pytest.approx(0.5)
    assert opt.param_groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([a], lr=0.1, nesterov=True)


def test_closure_returns_the_loss():
    w = nn.Parameter(np.array([2.0]))
    opt = optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 4.0 and w.data[0] == pytest.approx(1.6)


@pytest.mark.parametrize(
    "factory",
    [
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
        lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
        lambda ps: optim.AdamW(ps, lr=0.01),
        lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    ],
)
def test_state_dict_round_trip_continues_identically(factory, tmp_path):
    gs = grads(4)
    straight = run(factory, gs, P0)
    # three steps, save (through a file), restore into a fresh optimizer, two more steps
    p = nn.Parameter(P0.copy())
    opt = factory([p])
    for g in gs[:3]:
        p.grad = cr.tensor(g)
        opt.step()
    cr.save({"opt": opt.state_dict(), "p": p.detach()}, tmp_path / "o.safetensors")
    saved = cr.load(tmp_path / "o.safetensors")
    q = nn.Parameter(saved["p"].data)
    opt2 = factory([q])
    opt2.load_state_dict(saved["opt"])
    for g in gs[3:]:
        q.grad = cr.tensor(g)
        opt2.step()
    np.testing.assert_array_equal(q.data, straight[-1])


def test_state_dict_is_a_copy_and_load_checks_sizes():
    p = nn.Parameter(np.ones(2))
    opt = optim.Adam([p], lr=0.1)
    p.grad = cr.tensor([1.0, 1.0])
    opt.step()
    sd = opt.state_dict()
    assert sd["state"][0]["step"] == 1 and sd["param_groups"][0]["params"] == [0]
    opt.step()
    assert sd["state"][0]["step"] == 1 and not np.shares_memory(
        sd["state"][0]["exp_avg"], opt.state[p]["exp_avg"]
    )
    other = optim.Adam([nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))])
    with pytest.raises(ValueError, match="parameter group 0 has 1 parameters"):
        other.load_state_dict(sd)


# ------------------------------------------------------------------ schedulers
def test_step_lr_closed_form():
    p = nn.Parameter(np.ones(1))
    opt = optim.SGD([p], lr=0.3)
    sched = optim.StepLR(opt, step_size=3, gamma=0.5)
    for epoch in range(10):
        assert opt.param_groups[0]["lr"] == pytest.approx(0.3 * 0.5 ** (epoch // 3))
        assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]
        sched.step()


def test_cosine_annealing_closed_form_and_state_dict():
    p = nn.Parameter(np.ones(1))
    opt = optim.Adam([p], lr=0.01)
    sched = optim.CosineAnnealingLR(opt, T_max=6, eta_min=0.001)
    lrs = []
    for _ in range(7):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    expected = [0.001 + (0.01 - 0.001) * (1 + math.cos(math.pi * t / 6)) / 2 for t in range(7)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert lrs[-1] == pytest.approx(0.001)
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 7
    opt2 = optim.Adam([nn.Parameter(np.ones(1))], lr=0.01)
    sched2 = optim.CosineAnnealingLR(opt2, T_max=6, eta_min=0.001)
    # Stepping is recursive from the group's rate (as PyTorch's), so a resumed run
    # restores the optimizer too.
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(state)
    sched2.step()
    sched.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])
