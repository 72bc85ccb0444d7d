"""chainrule.buffer_pool: memory of dead large results reused, never while readable."""

import gc
import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule import buffer_pool, threads

SHAPE = (8, 16, 32)  # 16 kB of float32: pooled once MIN_BYTES is lowered below it
NBYTES = 8 * 16 * 32 * 4


@pytest.fixture(autouse=True)
def small_pool(monkeypatch):
    """Pool arrays from 1 kB, starting empty, and leave it empty."""
    monkeypatch.setattr(buffer_pool, "MIN_BYTES", 1024)
    buffer_pool.clear()
    yield
    gc.collect()
    buffer_pool.clear()


def test_memory_is_reused_once_the_array_is_gone():
    a = buffer_pool.empty(SHAPE, np.float32)
    assert a.shape == SHAPE and a.dtype == np.float32
    assert a.flags.c_contiguous and a.flags.writeable
    address = a.ctypes.data
    assert buffer_pool.idle_bytes() == 0
    del a
    assert buffer_pool.idle_bytes() == NBYTES
    b = buffer_pool.empty(SHAPE, np.float32)
    assert b.ctypes.data == address
    assert buffer_pool.idle_bytes() == 0
    # Another shape of the same size takes the same buffer.
    del b
    c = buffer_pool.empty((NBYTES // 8,), np.float64)
    assert c.ctypes.data == address


@pytest.mark.parametrize(
    "keep",
    [
        lambda a: a[1:],
        lambda a: a.reshape(-1)[5:9],
        lambda a: a.T,
        lambda a: a.view(np.int32),
        lambda a: np.frombuffer(a, np.uint8),
        memoryview,
        lambda a: [a],
    ],
    ids=["slice", "reshape", "transpose", "view", "frombuffer", "memoryview", "list"],
)
def test_memory_that_can_still_be_read_is_not_reused(keep):
    a = buffer_pool.empty(SHAPE, np.float32)
    a[...] = 7.0
    alive = keep(a)
    del a
    gc.collect()
    assert buffer_pool.idle_bytes() == 0
    b = buffer_pool.empty(SHAPE, np.float32)
    b[...] = -1.0
    kept = np.asarray(alive[0] if isinstance(alive, list) else alive)
    assert not np.shares_memory(b, kept)
    assert (kept.view(np.float32) == 7.0).all() if kept.dtype == np.uint8 else True
    del alive, kept
    gc.collect()
    assert buffer_pool.idle_bytes() == NBYTES


def test_small_and_object_arrays_are_not_pooled():
    small = buffer_pool.empty((4,), np.float64)
    assert small.base is None
    objects = buffer_pool.empty(SHAPE, object)
    assert objects.base is None and objects.dtype == object


def test_idle_memory_is_capped_and_cleared(monkeypatch):
    monkeypatch.setattr(buffer_pool, "MAX_IDLE_BYTES", NBYTES)
    a = buffer_pool.empty(SHAPE, np.float32)
    b = buffer_pool.empty(SHAPE, np.float32)
    del a, b
    assert buffer_pool.idle_bytes() == NBYTES  # the second is freed, not kept
    buffer_pool.clear()
    assert buffer_pool.idle_bytes() == 0
    monkeypatch.setattr(buffer_pool, "MAX_IDLE_BYTES", 0)  # the pool off
    c = buffer_pool.empty(SHAPE, np.float32)
    del c
    assert buffer_pool.idle_bytes() == 0


def test_threads_never_get_memory_in_use():
    errors = []

    def work(k):
        for i in range(200):
            a = buffer_pool.empty(SHAPE, np.float32)
            a[...] = k
            b = buffer_pool.empty(SHAPE, np.float32)
            b[...] = -k
            if not ((a == k).all() and (b == -k).all()) or np.shares_memory(a, b):
                errors.append((k, i))
            del a, b

    workers = [threading.Thread(target=work, args=(k + 1,)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors


def _pooled(a: np.ndarray) -> bool:
    while isinstance(a, np.ndarray):
        a = a.base
    return isinstance(a, buffer_pool._Lease)


def test_per_example_gradients_kept_are_not_overwritten(monkeypatch):
    # The pool as vmap(grad) uses it (through outer_mul and split_rows): a result
    # still held keeps its numbers through later calls; a dropped one is reused.
    monkeypatch.setattr(threads, "PARALLEL_MIN_BYTES", 0)
    before = cr.get_num_threads()
    cr.set_num_threads(2)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((24, 40))

    def loss(w, x):
        return (cr.tanh(x @ w.T) ** 2).sum()

    per_example = cr.vmap(cr.grad(loss), in_axes=(None, 0))
    try:
        xs = [rng.standard_normal((16, 40)) for _ in range(3)]
        first = per_example(w, xs[0])
        assert _pooled(first)  # (x @ w.T's gradient is a transposed view of it)
        want_first = first.copy()
        second = per_example(w, xs[1])
        assert not np.shares_memory(first, second)
        address = second.ctypes.data
        del second
        third = per_example(w, xs[2])
        assert third.ctypes.data == address  # the dropped result's memory
        np.testing.assert_array_equal(first, want_first)
        loop = np.stack([cr.grad(loss)(w, x) for x in xs[2]])
        np.testing.assert_allclose(third, loop, rtol=1e-10, atol=1e-12)
    finally:
        cr.set_num_threads(before)


def test_a_pooled_result_is_changed_in_place_like_an_owning_one(monkeypatch):
    # A recorded in-place change is refused on a view of another tensor's memory; a
    # pooled result is not a view (its base is the pool's lease), so it is allowed,
    # as for the array a multiply would have made. A view of it is still refused.
    monkeypatch.setattr(threads, "PARALLEL_MIN_BYTES", 0)
    before = cr.get_num_threads()
    cr.set_num_threads(2)
    try:
        rng = np.random.default_rng(5)
        w = cr.tensor(rng.standard_normal((24, 40)), requires_grad=True)
        xs = rng.standard_normal((16, 40))

        def loss(w, x):
            return (cr.tanh(cr.nn.functional.linear(x, w)) ** 2).sum()

        g = cr.vmap(cr.grad(loss), in_axes=(None, 0))(w, xs)
        assert buffer_pool.owns(g.data) and g.requires_grad
        want = g.data + 1.0
        g.add_(1.0)
        np.testing.assert_array_equal(g.data, want)
        with pytest.raises(RuntimeError, match="shares its memory with another"):
            g[1:].add_(1.0)
    finally:
        cr.set_num_threads(before)
