"""cr.jit: a function and its derivative as straight-line NumPy code.

Run: python examples/jit.py
"""

import time

import numpy as np

import chainrule as cr


def sigmoid(z):
    return 1 / (1 + cr.exp(-z))


def chain(z, n=100):
    for _ in range(n):
        z = sigmoid(z)
    return z


def per_call(fn, *args, repeats=5, number=50):
    """Median seconds per call of fn(*args)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn(*args)
        times.append((time.perf_counter() - start) / number)
    return sorted(times)[repeats // 2]


def main() -> None:
    # 1. The seed's sigmoid and its slope, as the code jit runs: the forward
    #    steps f = -z, g = e^f, h = 1 + g, i = 1/h, then each local derivative.
    slope = cr.jit(cr.value_and_grad(sigmoid))
    print(slope.source(np.float64(0.5)))
    value, grad = slope(np.float64(0.5))
    s = 1 / (1 + np.exp(-0.5))
    print(f"sigma(0.5) = {value.item():.10f}, sigma'(0.5) = {grad.item():.10f}")
    print(f"closed form sigma (1 - sigma) = {s * (1 - s):.10f}\n")

    # 2. Speed: 100 chained sigmoids (400 ops) forward and backward, eager vs compiled.
    eager = cr.value_and_grad(chain)
    compiled = cr.jit(eager)
    for z in (0.1, 0.2):  # two calls with different inputs: traced and verified
        compiled(np.float64(z))
    z = np.float64(0.3)
    same = np.isclose(compiled(z)[1].item(), eager(z)[1].item(), rtol=1e-12)
    t_eager, t_jit = per_call(eager, z), per_call(compiled, z)
    print(
        f"chain of 400 ops: eager {t_eager * 1e6:.0f} us, jit {t_jit * 1e6:.0f} us "
        f"({t_eager / t_jit:.0f}x faster), {compiled.ops(z)} NumPy operations; "
        f"same gradient: {same}"
    )

    # 3. A training loop: least squares by gradient descent, the step compiled.
    step = cr.jit(cr.value_and_grad(lambda w, x, y: ((x @ w - y) ** 2).mean()))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4))
    w_true = np.array([1.0, -2.0, 0.5, 3.0])
    y = x @ w_true
    w = np.zeros(4)
    for _ in range(300):
        loss, g = step(w, x, y)
        w -= 0.1 * g  # NumPy in, NumPy out
    print(
        f"least squares: loss {loss.item():.2e}, w = {np.round(w, 4)}, Python traces: {step.traces}"
    )


if __name__ == "__main__":
    main()
