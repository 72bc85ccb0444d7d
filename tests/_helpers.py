"""Helpers of the tests of fused primitives: work run from several threads at once
(a cache or a plan must be each thread's own), successive backward passes
through one retained graph (a once-per-step cache must not serve a stale
gradient), one computation on NumPy's path against oneDNN's, and a spy on the
compiled kernels."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def run_in_threads(work: Callable[[int], Any], count: int = 4) -> list[Any]:
    """``work(i)`` for i in range(count), each on its own thread, all started
    before any is joined; their results in order. An exception in a thread is
    raised here, not lost with the thread."""
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as e:  # re-raised below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def assert_successive_backward_passes_agree(fused, composed, inputs, seeds=3, tol=1e-10):
    """Backward passes through the retained graphs of ``fused`` and ``composed``
    (the same function of ``inputs``, fused and composed), each with a new upstream
    gradient: the inputs' gradients agree every time."""
    import numpy as np

    import chainrule as cr

    for seed in range(seeds):
        g = cr.tensor(np.random.default_rng(seed).normal(size=fused.shape))
        found = []
        for out in (fused, composed):
            for t in inputs:
                t.grad = None
            out.backward(g, retain_graph=True)
            found.append([t.grad.data.copy() for t in inputs])
        for a, e in zip(*found):
            np.testing.assert_allclose(a, e, rtol=tol, atol=tol)


def assert_onednn_agrees_in_float32(run, **tol):
    """``run()`` (a list of float32 arrays) on NumPy's path, then with oneDNN selected:
    the same dtype and numbers within ``tol`` (the caller restores the backend)."""
    import numpy as np

    import chainrule as cr

    cr.set_conv_backend("numpy")
    want = run()
    cr.set_conv_backend("onednn")
    got = run()
    for a, e in zip(got, want, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, e, **tol)


class KernelSpy:
    """Stands in for the compiled kernels' namespace (``compiled._kernels``): calls
    the real kernels and counts the calls of each by name in ``calls``."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, {}

    def __getattr__(self, name: str) -> Callable[..., Any]:
        fn = getattr(self.real, name)

        def counted(*args: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return fn(*args)

        return counted


def float32_normal(rng: Any, *shape: int) -> Any:
    """Standard normal numbers of ``shape`` from ``rng``, as float32."""
    return rng.normal(size=shape).astype("float32")


def values_and_grads(fn: Callable[..., Any], arrays: Any, seed_grad: Any, numba: bool) -> list:
    """``fn`` of ``arrays`` (as Tensors that require grad) with the compiled kernels
    on or off (``chainrule.ops.compiled.use_numba``): its value, then the gradient
    of ``sum(value * seed_grad)`` in each array, all as arrays."""
    import chainrule as cr
    from chainrule.ops import compiled

    compiled.use_numba(numba)
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    (y * seed_grad).sum().backward()
    return [y.data] + [t.grad.data for t in ts]


def lstm_fused_inputs(
    rng: Any, steps: int, batch: int, inputs: int, hidden: int, dtype: Any = None
) -> list:
    """The six arrays of ``lstm_fused`` (x, h0, c0, W_ih, W_hh, b), normal with
    scale 0.7, float64 unless ``dtype`` says otherwise."""
    import numpy as np

    shapes = [(steps, batch, inputs), (batch, hidden), (batch, hidden),
              (4 * hidden, inputs), (4 * hidden, hidden), (4 * hidden,)]  # fmt: skip
    return [(rng.normal(size=s) * 0.7).astype(dtype or np.float64) for s in shapes]
