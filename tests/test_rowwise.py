"""The fast reductions along a short last axis agree with NumPy's, and the
functions built on them keep their gradients."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.ops.rowwise import MIN_ROWS, SHORT_AXIS, max_along, sum_along


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape", [(MIN_ROWS, 10), (1024, 3), (4, 40, 7), (200, SHORT_AXIS), (200, SHORT_AXIS + 1)]
)
@pytest.mark.parametrize("keepdims", [False, True])
def test_same_as_numpy(dtype, shape, keepdims):
    x = np.random.default_rng(0).normal(size=shape).astype(dtype)
    for axis in (-1, len(shape) - 1):
        np.testing.assert_array_equal(
            max_along(x, axis, keepdims), np.max(x, axis=axis, keepdims=keepdims)
        )
        got, want = sum_along(x, axis, keepdims), np.sum(x, axis=axis, keepdims=keepdims)
        assert got.shape == want.shape and got.dtype == want.dtype
        _close_sums(got, want, x, axis, keepdims)


def _close_sums(got, want, x, axis, keepdims=False):
    # Another order of additions: the two agree to a few roundings of the sum of |x|.
    scale = np.sum(np.abs(x), axis=axis, keepdims=keepdims)
    eps = np.finfo(x.dtype).eps
    assert np.all(np.abs(got - want) <= 4 * x.shape[-1] * eps * scale)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf - inf, in both
def test_special_values_and_layouts():
    x = np.random.default_rng(1).normal(size=(100, 10))
    x[3, 4] = np.nan
    x[5] = -np.inf
    x[6, 0] = np.inf
    x[7, :2] = [np.inf, -np.inf]
    for a in (x, x[:, ::-1], np.asfortranarray(x)):
        np.testing.assert_array_equal(max_along(a, -1), np.max(a, axis=-1))
        got, want = sum_along(a, -1), np.sum(a, axis=-1)
        special = ~np.isfinite(want)
        np.testing.assert_array_equal(got[special], want[special])  # nan, inf, -inf alike
        _close_sums(got[~special], want[~special], a[~special], -1)
    ints = np.arange(1000).reshape(100, 10)
    assert sum_along(ints, -1).dtype == ints.sum(axis=-1).dtype
    np.testing.assert_array_equal(sum_along(ints, -1), ints.sum(axis=-1))
    # other axes and tuples go to NumPy unchanged
    np.testing.assert_array_equal(sum_along(x, 0), np.sum(x, axis=0))
    np.testing.assert_array_equal(max_along(x, (0, 1)), np.max(x, axis=(0, 1)))


def test_softmax_family_on_many_rows_gradcheck():
    rng = np.random.default_rng(2)
    x = cr.tensor(rng.normal(size=(MIN_ROWS + 6, 5)), requires_grad=True)
    y = rng.integers(0, 5, MIN_ROWS + 6)
    w = cr.tensor(rng.normal(size=(MIN_ROWS + 6, 5)))
    assert cr.gradcheck(lambda t: (cr.softmax(t, axis=-1) * w).sum(), (x,))
    assert cr.gradcheck(lambda t: (cr.log_softmax(t, axis=1) * w).sum(), (x,))
    assert cr.gradcheck(lambda t: (cr.logsumexp(t, axis=-1) * w[:, 0]).sum(), (x,))
    assert cr.gradcheck(lambda t: F.cross_entropy(t, y), (x,))
    assert cr.gradgradcheck(lambda t: F.cross_entropy(t, y, reduction="sum"), (x,))
    p = cr.softmax(x, axis=-1).data
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-14)
