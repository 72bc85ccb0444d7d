"""Ceil-mode, indexed, adaptive and 1-D pooling (chainrule.nn.functional_pool) under
chainrule's transforms: derivatives against finite differences, cr.jit on new
inputs, cr.vmap against a loop. PyTorch's numbers are checked in test_torch_oracle."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

F = cr.nn.functional

POOLS = {
    "max ceil": lambda x: F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True),
    "max indices": lambda x: F.max_pool2d(x, 2, 1, dilation=2, return_indices=True)[0],
    "adaptive max": lambda x: F.adaptive_max_pool2d(x, (2, 3)),
    "avg ceil": lambda x: F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=False),
    "max 1d": lambda x: F.max_pool1d(x.reshape(x.shape[0], -1, x.shape[-1]), 3, 2, ceil_mode=True),
    "avg 1d": lambda x: F.avg_pool1d(x.reshape(x.shape[0], -1, x.shape[-1]), 2, ceil_mode=True),
}


@pytest.mark.parametrize("name", list(POOLS))
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), h=st.integers(4, 7), w=st.integers(4, 7))
def test_pooling_derivatives_against_finite_differences(name, seed, h, w):
    x = cr.tensor(np.random.default_rng(seed).normal(size=(2, 2, h, w)), requires_grad=True)
    fn = POOLS[name]
    assert cr.gradcheck(fn, (x,))
    assert cr.gradgradcheck(lambda a: fn(a) ** 2, (x,))


@pytest.mark.parametrize("name", list(POOLS))
def test_jit_recomputes_each_windows_maximum_for_new_inputs(name):
    # The maxima's positions depend on the values: the index is a recorded primitive,
    # so the compiled function finds them again for every input (and its gradient).
    fn = POOLS[name]
    jitted = cr.jit(lambda x: fn(x).sum() * 1.0)
    jitted_grad = cr.jit(cr.grad(lambda x: (fn(x) ** 2).sum()))
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.normal(size=(2, 3, 6, 7))
        np.testing.assert_allclose(float(jitted(x)), float(fn(x).sum()), rtol=1e-12)
        expected = cr.grad(lambda a: (fn(a) ** 2).sum())(x)
        np.testing.assert_allclose(np.asarray(jitted_grad(x)), np.asarray(expected), rtol=1e-12)


def test_jit_and_vmap_return_the_indices_of_each_input():
    rng = np.random.default_rng(4)
    xs = rng.normal(size=(3, 2, 3, 7, 6))
    pool = cr.jit(lambda x: F.max_pool2d(x, 3, 2, ceil_mode=True, return_indices=True))
    for x in xs:
        values, index = pool(x)
        want_values, want_index = F.max_pool2d(x, 3, 2, ceil_mode=True, return_indices=True)
        np.testing.assert_array_equal(np.asarray(index), np.asarray(want_index))
        np.testing.assert_array_equal(np.asarray(values), np.asarray(want_values))
    values, index = cr.vmap(lambda x: F.adaptive_max_pool2d(x, 3, return_indices=True))(xs)
    for k, x in enumerate(xs):
        want_values, want_index = F.adaptive_max_pool2d(x, 3, return_indices=True)
        np.testing.assert_array_equal(np.asarray(index)[k], np.asarray(want_index))
        np.testing.assert_array_equal(np.asarray(values)[k], np.asarray(want_values))


def test_indices_are_int64_without_gradient_and_values_keep_float32():
    x = cr.tensor(np.random.default_rng(5).normal(size=(1, 2, 5, 5)).astype(np.float32))
    x.requires_grad = True
    values, index = F.max_pool2d(x, 2, ceil_mode=True, return_indices=True)
    assert values.dtype == np.float32 and values.requires_grad
    assert index.dtype == np.int64 and not index.requires_grad


def test_bad_pooling_arguments_are_refused_in_one_line():
    x = cr.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(x, 2, padding=2, ceil_mode=True)
    with pytest.raises(ValueError, match="too small"):
        F.max_pool2d(cr.zeros((1, 1, 2, 2)), 3, return_indices=True)
    assert F.max_pool2d(cr.zeros((1, 1, 2, 2)), 4, ceil_mode=True).shape == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="must be positive"):
        F.adaptive_max_pool2d(x, 0)
    with pytest.raises(ValueError, match=r"\(N, C, L\)"):
        F.max_pool1d(x, 2)
