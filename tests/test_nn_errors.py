"""Bad input to layers and losses is refused in the user's terms: the layer or loss,
the sizes it expects and got, the offending values and the allowed range; never an
internal op name (matmul, class_weights) and never a loss that broadcasts silently."""

import re

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn


def _ones(*shape):
    return cr.tensor(np.ones(shape, dtype=np.float32))


def _no_internal_names(info):
    # The primitives' names are the engine's business, not the caller's.
    assert not re.search(r"\b(matmul|class_weights|gufunc|input shapes:)", str(info.value))


# ------------------------------------------------------------------ Linear
@pytest.mark.parametrize("shape", [(4, 5), (5,), (2, 7, 5)])
def test_linear_module_names_the_layer_and_both_widths(shape):
    layer = nn.Linear(3, 2)
    expected = (
        r"^Linear\(in_features=3, out_features=2\): the input's last dimension is 5, "
        rf"but this layer expects 3 \(input shape {re.escape(str(shape))}\)$"
    )
    with pytest.raises(ValueError, match=expected) as info:
        layer(_ones(*shape))
    _no_internal_names(info)


def test_linear_function_names_the_weight_shape():
    with pytest.raises(
        ValueError,
        match=r"^linear: the input's last dimension is 5, but the weight of shape \(2, 3\) "
        r"expects 3 \(input shape \(4, 5\)\)$",
    ) as info:
        F.linear(np.ones((4, 5)), _ones(2, 3), _ones(2))
    _no_internal_names(info)


def test_linear_with_the_right_width_still_works_and_other_errors_pass_through():
    layer = nn.Linear(3, 2)
    assert layer(_ones(4, 3)).shape == (4, 2)
    # A wrong bias is not a width problem: NumPy's own complaint stays.
    with pytest.raises(ValueError, match="linear"):
        F.linear(_ones(4, 3), _ones(2, 3), _ones(5))


# ------------------------------------------------------------------ class targets
@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_out_of_range_target_names_value_classes_and_range(loss):
    name = loss.__name__
    with pytest.raises(
        IndexError,
        match=rf"^{name}: target 5 is out of range for 3 classes \(targets must be in 0\.\.2, "
        r"or ignore_index=-100\)$",
    ) as info:
        loss(cr.tensor(np.ones((2, 3))), cr.tensor([0, 5]))
    _no_internal_names(info)


def test_every_offending_target_is_named_and_ignored_ones_are_not():
    with pytest.raises(IndexError, match=r"targets -3, 7 are out of range for 3 classes") as info:
        F.cross_entropy(np.ones((4, 3)), np.array([7, -3, -100, 7]))
    assert "-100" not in str(info.value).split("(")[0]
    with pytest.raises(IndexError, match=r"or ignore_index=9\)"):
        nn.CrossEntropyLoss(ignore_index=9)(np.ones((2, 3)), np.array([3, 9]))


def test_out_of_range_target_in_nd_input_counts_classes_on_axis_1():
    with pytest.raises(IndexError, match=r"target 4 is out of range for 4 classes .*0\.\.3"):
        F.cross_entropy(np.ones((2, 4, 5)), np.full((2, 5), 4))


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_float_class_targets_say_they_must_be_integers(loss):
    with pytest.raises(
        TypeError,
        match=rf"^{loss.__name__}: the target holds float32 values, but class targets must be "
        r"integer class indices in 0\.\.2",
    ):
        loss(cr.tensor(np.ones((2, 3))), cr.tensor([0.0, 1.0]))


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_batch_size_mismatch_says_so(loss):
    with pytest.raises(
        ValueError,
        match=rf"^{loss.__name__}: the input has a batch of 2 samples but the target has 3 "
        r"\(input shape \(2, 3\), target shape \(3,\)\)$",
    ):
        loss(cr.tensor(np.ones((2, 3))), cr.tensor([0, 1, 2]))


def test_a_column_of_class_targets_is_refused_naming_the_shape_wanted():
    with pytest.raises(ValueError, match=r"one class index per sample, of shape \(2,\)"):
        F.cross_entropy(np.ones((2, 3)), np.array([[0], [1]]))


def test_jit_compiled_loss_gives_the_same_range_message():
    loss = cr.jit(lambda x, y: F.cross_entropy(x, y), verify=False)
    loss(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(IndexError, match=r"target 3 is out of range .* 0\.\.2, or ignore_index"):
        loss(np.zeros((2, 3)), np.array([0, 3]))


# ------------------------------------------------------------------ other layers
def test_conv2d_module_names_the_layer_and_channels():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(
        ValueError,
        match=r"^Conv2d\(3, 4, kernel_size=\(3, 3\), stride=\(1, 1\)\): the input has 5 channels "
        r"\(axis 1\), but this layer expects 3 \(input shape \(1, 5, 8, 8\)\)$",
    ):
        conv(_ones(1, 5, 8, 8))
    with pytest.raises(ValueError, match=r"has 5 channels \(axis 0\), but this layer expects 3"):
        conv(_ones(5, 8, 8))


def test_batchnorm_names_its_feature_count():
    with pytest.raises(
        ValueError,
        match=r"^BatchNorm1d\(3\): the input has 5 features \(channels\) on axis 1, but this "
        r"layer expects 3 \(input shape \(4, 5\)\)$",
    ):
        nn.BatchNorm1d(3)(_ones(4, 5))


def test_embedding_names_the_allowed_range():
    with pytest.raises(IndexError, match=r"index 10 is out of range .* must be in 0\.\.9"):
        nn.Embedding(10, 3)(np.array([1, 10]))


# ------------------------------------------------------------------ regression losses
@pytest.mark.parametrize("loss", [F.mse_loss, F.l1_loss, F.binary_cross_entropy])
def test_a_target_that_would_broadcast_beyond_the_input_is_refused(loss):
    # (N, 1) against (N,) would broadcast to (N, N): a silently wrong loss.
    name = loss.__name__
    with pytest.raises(
        ValueError,
        match=rf"^{name}: the target's shape \(4,\) does not match the input's shape \(4, 1\), "
        r"and they would broadcast to \(4, 4\)",
    ):
        loss(_ones(4, 1) * 0.5, np.full(4, 0.5, dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \(4, 1\) does not match .* \(4,\)"):
        loss(_ones(4) * 0.5, np.full((4, 1), 0.5, dtype=np.float32))
    with pytest.raises(ValueError, match="they do not broadcast"):
        loss(_ones(4) * 0.5, np.full(3, 0.5, dtype=np.float32))


def test_a_target_that_broadcasts_to_the_input_is_still_accepted():
    assert F.mse_loss(_ones(4, 3), np.zeros(3)).item() == 1.0
    assert F.mse_loss(_ones(4), 0.0).item() == 1.0
    assert nn.L1Loss()(_ones(4, 1), np.zeros((4, 1))).item() == 1.0
