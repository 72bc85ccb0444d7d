"""Layers whose branch depends on the input's values (leaky_relu, elu, hardtanh, the
shrinks, softplus's threshold, the robust losses, normalize's eps) build their masks
from recorded comparisons, so cr.jit computes the masks again for every input: with
the array's values the compiled function kept the first call's masks, and jit refused
every later call whose masks differed."""

import numpy as np
import pytest

import chainrule as cr

F = cr.nn.functional

VALUE_BRANCHES = {
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "elu": F.elu,
    "relu6": F.relu6,
    "hardtanh": lambda x: F.hardtanh(x, -2.0, 2.0),
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "selu": F.selu,
    "celu": lambda x: F.celu(x, 0.5),
    "softshrink": F.softshrink,
    "hardshrink": F.hardshrink,
    "threshold": lambda x: F.threshold(x, 0.5, -1.0),
    "prelu": lambda x: F.prelu(x, np.array([0.2])),
    "softplus": lambda x: F.softplus(x, beta=2.0, threshold=3.0),
    "smooth_l1_loss": lambda x: F.smooth_l1_loss(x, np.zeros(8), reduction="none"),
    "huber_loss": lambda x: F.huber_loss(x, np.zeros(8), reduction="none", delta=0.7),
    "normalize": lambda x: F.normalize(x.reshape(2, 4) * (x.reshape(2, 4) > 3)),
    "hinge_embedding_loss": lambda x: F.hinge_embedding_loss(
        x, np.sign(np.arange(8) - 3.5), reduction="none"
    ),
}


@pytest.mark.parametrize("name", list(VALUE_BRANCHES))
def test_jit_recomputes_value_dependent_masks_for_each_input(name):
    fn = VALUE_BRANCHES[name]
    values = cr.jit(lambda x: fn(x) * 1.0)
    grads = cr.jit(cr.grad(lambda x: (fn(x) ** 2).sum()))
    rng = np.random.default_rng(0)
    for _ in range(4):  # traced, verified, then compiled calls with other signs
        x = rng.normal(size=8) * 4
        np.testing.assert_allclose(np.asarray(values(x)), np.asarray(fn(x)), rtol=1e-12)
        want = cr.grad(lambda a: (fn(a) ** 2).sum())(x)
        np.testing.assert_allclose(np.asarray(grads(x)), np.asarray(want), rtol=1e-12)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, y: F.hinge_embedding_loss(x, y),
        lambda x, y: F.cosine_embedding_loss(x.reshape(2, 3), x.reshape(2, 3)[::-1] * 1.0, y[:2]),
    ],
    ids=["hinge_embedding_loss", "cosine_embedding_loss"],
)
def test_jit_recomputes_masks_of_a_target_passed_as_an_argument(fn):
    # the +-1 target is an argument of the jitted function: its masks are recorded too
    jitted = cr.jit(fn)
    rng = np.random.default_rng(1)
    for _ in range(4):
        x, y = rng.normal(size=6), np.sign(rng.normal(size=6))
        np.testing.assert_allclose(float(jitted(x, y)), float(fn(x, y)), rtol=1e-12)
