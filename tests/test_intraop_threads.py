"""chainrule.threads (intra-op threads): a split ufunc equals the ufunc; the setting."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import threads
from chainrule.ops import elementwise
from chainrule.ops.elementwise import outer_mul


@pytest.fixture
def always_split(monkeypatch):
    """Every result counts as large, and two threads are used: the split path runs."""
    monkeypatch.setattr(threads, "PARALLEL_MIN_BYTES", 0)
    before = cr.get_num_threads()
    cr.set_num_threads(2)
    yield
    cr.set_num_threads(before)


@given(
    rows=st.integers(1, 40),
    m=st.integers(1, 6),
    n=st.integers(1, 6),
    a_rows=st.booleans(),
    b_rows=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64, np.complex128]),
)
@settings(max_examples=40, deadline=None)
def test_split_ufunc_equals_the_ufunc_bit_for_bit(rows, m, n, a_rows, b_rows, dtype):
    rng = np.random.default_rng(rows * 31 + m * 7 + n)
    a = rng.standard_normal((rows if a_rows else 1, m, 1)).astype(dtype)
    b = rng.standard_normal((rows if b_rows else 1, 1, n)).astype(dtype)
    # (hypothesis runs the examples inside one test call, so no function fixture)
    old, threads.PARALLEL_MIN_BYTES = threads.PARALLEL_MIN_BYTES, 0
    before = cr.get_num_threads()
    cr.set_num_threads(3)
    try:
        got = threads.split_ufunc(np.multiply, a, b)
    finally:
        threads.PARALLEL_MIN_BYTES = old
        cr.set_num_threads(before)
    want = np.multiply(a, b)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)


def test_split_ufunc_broadcasts_lower_rank_operands(always_split):
    a = np.arange(24.0).reshape(6, 4, 1)
    b = np.arange(5.0)  # rank 1: every slice reads it whole
    np.testing.assert_array_equal(threads.split_ufunc(np.multiply, a, b), a * b)
    c = np.arange(4.0).reshape(4, 1)
    d = np.arange(30.0).reshape(6, 1, 5)
    np.testing.assert_array_equal(threads.split_ufunc(np.add, c, d), c + d)
    assert threads._pool is not None  # the split path ran, with a worker


def test_split_ufunc_promotes_as_the_ufunc(always_split):
    a = np.ones((8, 3, 1), np.float32)
    b = np.full((8, 1, 2), 2, np.int64)
    got = threads.split_ufunc(np.multiply, a, b)
    assert got.dtype == (a * b).dtype
    np.testing.assert_array_equal(got, a * b)


def test_one_thread_never_splits(monkeypatch):
    monkeypatch.setattr(threads, "PARALLEL_MIN_BYTES", 0)
    before = cr.get_num_threads()
    cr.set_num_threads(1)
    try:
        a = np.ones((4, 3, 1))
        np.testing.assert_array_equal(threads.split_ufunc(np.multiply, a, a), a * a)
        assert threads._pool is None  # no worker was started for it
    finally:
        cr.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_refuses_what_is_not_a_positive_int(bad):
    with pytest.raises(ValueError, match="set_num_threads: n must be a positive int"):
        cr.set_num_threads(bad)


def test_set_num_threads_round_trips():
    before = cr.get_num_threads()
    try:
        cr.set_num_threads(3)
        assert cr.get_num_threads() == 3
    finally:
        cr.set_num_threads(before)
    assert cr.get_num_threads() == before


def test_outer_mul_has_mul_s_gradients(always_split):
    rng = np.random.default_rng(0)
    a = cr.tensor(rng.standard_normal((5, 3, 1)), requires_grad=True)
    b = cr.tensor(rng.standard_normal((5, 1, 4)), requires_grad=True)
    assert cr.gradcheck(lambda x, y: outer_mul(x, y), (a, b))
    assert cr.gradgradcheck(lambda x, y: outer_mul(x, y), (a, b))


def test_per_example_outer_products_use_the_threaded_multiply(always_split):
    # The matmul rule's outer-product case: values equal a loop's, and grad of the
    # per-example gradients (through outer_mul's rules) equals the loop's as well.
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 4))
    xs = rng.standard_normal((6, 4))

    def loss(w, x):
        return (cr.tanh(x @ w.T) ** 2).sum()

    per_example = cr.vmap(cr.grad(loss), in_axes=(None, 0))
    got = per_example(w, xs)
    want = np.stack([cr.grad(loss)(w, x) for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-12)

    def total(w):
        return (per_example(w, xs) ** 2).sum()

    def total_loop(w):
        return sum((cr.grad(loss)(w, x) ** 2).sum() for x in xs)

    np.testing.assert_allclose(cr.grad(total)(w), cr.grad(total_loop)(w), rtol=1e-10)


def test_a_forked_child_starts_its_own_workers(always_split):
    import os
    import signal

    a = np.ones((4, 3, 1))
    threads.split_ufunc(np.multiply, a, a)  # the parent's pool exists
    assert threads._pool is not None
    pid = os.fork()
    if pid == 0:  # the child: the inherited pool has no threads; a new one must serve
        signal.alarm(20)  # a hang (work waiting on a dead pool) ends the child, failing
        ok = threads._pool is None and np.array_equal(threads.split_ufunc(np.multiply, a, a), a)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_outer_mul_jvp_against_finite_differences(always_split):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((5, 3, 1)), rng.standard_normal((5, 1, 4))
    ta, tb = rng.standard_normal(a.shape), rng.standard_normal(b.shape)
    _, tangent = cr.jvp(lambda x, y: outer_mul(x, y), (a, b), (ta, tb))
    eps = 1e-6
    fd = ((a + eps * ta) * (b + eps * tb) - (a - eps * ta) * (b - eps * tb)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(tangent), fd, rtol=1e-7, atol=1e-9)


@given(
    lead=st.lists(st.integers(1, 5), min_size=1, max_size=2),
    m=st.integers(0, 6),
    n=st.integers(0, 6),
    dtype=st.sampled_from([np.float32, np.float64]),
    split=st.booleans(),
    specials=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_outer_mul_of_stacked_outer_products_equals_the_multiply(
    lead, m, n, dtype, split, specials
):
    # The (..., M, 1) x (..., 1, N) case runs np.einsum, not np.multiply: the same
    # values (a zero may differ in sign only), shape, dtype and layout.
    rng = np.random.default_rng(len(lead) * 1000 + m * 10 + n)
    a = rng.standard_normal((*lead, m, 1)).astype(dtype)
    b = rng.standard_normal((*lead, 1, n)).astype(dtype)
    if specials and a.size and b.size:
        a.flat[0], b.flat[-1] = np.inf, np.nan
        a.flat[-1], b.flat[0] = 0.0, -0.0
    old, threads.PARALLEL_MIN_BYTES = threads.PARALLEL_MIN_BYTES, 0 if split else 1 << 40
    old_size, elementwise._EINSUM_MIN_SIZE = elementwise._EINSUM_MIN_SIZE, 0
    before = cr.get_num_threads()
    cr.set_num_threads(3)
    try:
        assert elementwise._is_stack_of_outer_products(a, b)  # the einsum path runs
        with np.errstate(invalid="ignore"):
            got = outer_mul.forward(a, b)
            want = np.multiply(a, b)
    finally:
        threads.PARALLEL_MIN_BYTES = old
        elementwise._EINSUM_MIN_SIZE = old_size
        cr.set_num_threads(before)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.flags.c_contiguous and got.flags.writeable
    np.testing.assert_array_equal(got, want)


def test_small_outer_products_keep_the_multiply():
    # Below the size where einsum's set-up pays for itself.
    a, b = np.ones((2, 3, 1)), np.ones((2, 1, 4))
    assert not elementwise._is_stack_of_outer_products(a, b)
    big = np.ones((8, 64, 1)), np.ones((8, 1, 64))
    assert elementwise._is_stack_of_outer_products(*big)


@pytest.mark.parametrize(
    "a_shape, b_shape, a_dtype, b_dtype",
    [
        ((4, 3, 1), (1, 1, 5), np.float64, np.float64),  # the batch broadcasts
        ((4, 3, 5), (4, 1, 5), np.float64, np.float64),  # not outer products
        ((4, 3, 1), (4, 1, 5), np.float32, np.float64),  # mixed dtypes: promoted
        ((4, 3, 1), (4, 1, 5), np.complex128, np.complex128),
        ((4, 3, 1), (4, 1, 5), np.int64, np.int64),
        ((3, 1), (1, 5), np.float32, np.float32),  # one outer product, no batch
    ],
)
def test_outer_mul_of_other_operands_is_the_multiply(
    always_split, a_shape, b_shape, a_dtype, b_dtype
):
    rng = np.random.default_rng(3)
    a = (10 * rng.standard_normal(a_shape)).astype(a_dtype)
    b = (10 * rng.standard_normal(b_shape)).astype(b_dtype)
    got = outer_mul.forward(a, b)
    assert got.dtype == (a * b).dtype
    np.testing.assert_array_equal(got, a * b)


def test_a_large_batched_mul_runs_as_outer_mul(always_split, monkeypatch):
    # x @ w.T for one example x: matmul's VJP forms the weight gradient as a product
    # of broadcast vectors (mul); batched and large, it goes to outer_mul (threads,
    # einsum), with the same values and the same derivatives.
    seen = []
    forward = outer_mul.forward
    monkeypatch.setattr(outer_mul, "forward", lambda a, b: seen.append(a.shape) or forward(a, b))
    rng = np.random.default_rng(4)
    w = rng.standard_normal((3, 4))
    xs = rng.standard_normal((6, 4))

    def loss(w, x):
        return (cr.sin(x @ w.T) ** 2).sum()

    per_example = cr.vmap(cr.grad(loss), in_axes=(None, 0))
    got = per_example(w, xs)
    assert (6, 4, 1) in seen
    want = np.stack([cr.grad(loss)(w, x) for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    wt = cr.tensor(w, requires_grad=True)
    assert cr.gradcheck(lambda w: per_example(w, xs), (wt,))
