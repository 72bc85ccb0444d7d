"""Threads: grad mode belongs to the thread; concurrent backward passes add up exactly.

Barriers fix the interleavings that used to go wrong, so each test fails on a
process-wide grad mode or an unlocked accumulation every time, not by chance.
"""

from __future__ import annotations

import contextlib
import sys
import threading

import numpy as np
import pytest

import chainrule as cr


def _run_threads(*targets):
    errors = []

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    if errors:
        raise errors[0]


def test_no_grad_in_one_thread_leaves_recording_on_in_another():
    inside = threading.Barrier(2)
    done = threading.Barrier(2)
    result = {}

    def quiet():
        with cr.no_grad():
            inside.wait()
            done.wait()

    def recording():
        inside.wait()  # the other thread is inside its no_grad block now
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x + 3 * x).sum()
        result["requires_grad"] = y.requires_grad
        y.backward()
        result["grad"] = x.grad.data.copy()
        done.wait()

    _run_threads(quiet, recording)
    assert result["requires_grad"]
    np.testing.assert_array_equal(result["grad"], [5.0, 7.0])


def test_overlapping_no_grad_blocks_in_two_threads_restore_recording():
    # A enters, B enters, A leaves, B leaves: with one process-wide switch B's exit
    # restored "off" (what it saw on entry) and recording stayed off for good.
    a_in, b_in, a_out = threading.Barrier(2), threading.Barrier(2), threading.Barrier(2)
    seen = {}

    def a():
        with cr.no_grad():
            a_in.wait()
            b_in.wait()
        a_out.wait()

    def b():
        a_in.wait()
        with cr.no_grad():
            b_in.wait()
            a_out.wait()
            seen["b_inside"] = cr.is_grad_enabled()
        seen["b_after"] = cr.is_grad_enabled()

    _run_threads(a, b)
    assert seen == {"b_inside": False, "b_after": True}
    assert cr.is_grad_enabled()
    x = cr.tensor(2.0, requires_grad=True)
    assert (x * x).requires_grad


def test_a_new_thread_records_even_when_its_starter_is_in_no_grad():
    seen = {}

    def child():
        seen["enabled"] = cr.is_grad_enabled()

    with cr.no_grad():
        _run_threads(child)
        assert not cr.is_grad_enabled()
    assert seen["enabled"] is True


def test_set_grad_enabled_is_per_thread():
    switched, checked = threading.Barrier(2), threading.Barrier(2)
    seen = {}

    def off():
        cr.set_grad_enabled(False)
        switched.wait()
        checked.wait()
        cr.set_grad_enabled(True)

    def other():
        switched.wait()
        seen["enabled"] = cr.is_grad_enabled()
        checked.wait()

    _run_threads(off, other)
    assert seen["enabled"] is True


class _MeetingLeaf(cr.Tensor):
    """A leaf whose every ``.grad`` read waits for the other thread's: both passes then
    read the old ``.grad`` before either stores the sum (the lost update), unless passes
    are serialised; then the first wait times out, the barrier breaks and the passes
    go on one after the other.
    """

    def __init__(self, *args, barrier, **kwargs):
        self._barrier = None
        self._grad = None
        super().__init__(*args, **kwargs)
        self._barrier = barrier

    @property
    def grad(self):
        value = self._grad  # read first, then wait: the other thread reads the same
        if self._barrier is not None:
            with contextlib.suppress(threading.BrokenBarrierError):
                self._barrier.wait(timeout=1.0)
        return value

    @grad.setter
    def grad(self, value):
        self._grad = value


def test_concurrent_backward_passes_into_one_leaf_add_up_exactly():
    barrier = threading.Barrier(2)
    w = _MeetingLeaf([1.0, 2.0], requires_grad=True, barrier=barrier)
    w._grad = cr.tensor([10.0, 10.0])

    def one_pass():
        (w * 3).sum().backward()

    _run_threads(one_pass, one_pass)
    np.testing.assert_array_equal(w._grad.data, [16.0, 16.0])


@pytest.mark.parametrize("shared_graph", [False, True])
def test_many_threads_backward_into_shared_leaves(shared_graph):
    # Switching threads every microsecond makes every unguarded read-modify-write race.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        w = cr.tensor(np.ones(3), requires_grad=True)
        shared = (w * w * 0.5).sum() if shared_graph else None
        start = threading.Barrier(4)
        per_thread = 200

        def worker():
            start.wait()
            for _ in range(per_thread):
                loss = shared if shared_graph else (w * w * 0.5).sum()
                loss.backward(retain_graph=shared_graph)

        _run_threads(*[worker] * 4)
    finally:
        sys.setswitchinterval(old)
    np.testing.assert_array_equal(w.grad.data, np.full(3, 4 * per_thread))


def test_one_no_grad_object_entered_from_two_threads_restores_each_threads_mode():
    shared = cr.no_grad()
    a_in, b_in, a_out = threading.Barrier(2), threading.Barrier(2), threading.Barrier(2)
    seen = {}

    def a():
        with cr.no_grad():  # the outer block: off must come back after the shared one
            with shared:
                a_in.wait()
                b_in.wait()
            seen["a_after_shared"] = cr.is_grad_enabled()
        a_out.wait()

    def b():
        a_in.wait()
        with shared:
            b_in.wait()
            a_out.wait()
        seen["b_after_shared"] = cr.is_grad_enabled()

    _run_threads(a, b)
    assert seen == {"a_after_shared": False, "b_after_shared": True}
