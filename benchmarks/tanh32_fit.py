"""Where the compiled LSTM cells' float32 tanh comes from, and what it costs.

``python benchmarks/tanh32_fit.py`` refits the rational function of
``chainrule/ops/_numba_math.py`` (``tanh(x) ~ x P(x^2) / Q(x^2)``, P of degree
5, Q of degree 4 with Q(0) = 1, on [0, 9]), prints its coefficients and largest
relative error in float64, then measures the compiled tanh as shipped: its error in
units in the last place over random and logarithmically spaced float32 values, and
its time against NumPy's float32 tanh on a (512, 128) block (one thread advised:
``OMP_NUM_THREADS=1``).

The fit is a Lawson-style iteratively reweighted least squares on the linearised
problem ``P(u) - f(u) Q(u) = 0`` (u = x^2 / 81, f = tanh(x) / x): each round
reweights the sample points by the square root of their relative error, which
drives the solution towards the least largest error.
"""

from __future__ import annotations

import timeit

import numpy as np

LIMIT = 9.0


def fit(p_degree: int = 5, q_degree: int = 4, rounds: int = 60):
    x = np.concatenate([np.linspace(1e-6, LIMIT, 40_000), np.geomspace(1e-6, 1, 4_000)])
    f = np.tanh(x) / x
    u = x * x / LIMIT**2
    weights = np.ones_like(x)
    best = None
    for _ in range(rounds):
        a = np.concatenate(
            [
                np.vander(u, p_degree + 1, increasing=True),
                -f[:, None] * np.vander(u, q_degree + 1, increasing=True)[:, 1:],
            ],
            axis=1,
        )
        sol = np.linalg.lstsq(a * weights[:, None], f * weights, rcond=None)[0]
        p, q = sol[: p_degree + 1], np.concatenate([[1.0], sol[p_degree + 1 :]])
        big_q = np.polyval(q[::-1], u)
        err = (np.polyval(p[::-1], u) / big_q - f) / f
        worst = np.abs(err).max()
        if best is None or worst < best[0]:
            best = (worst, p, q)
        weights = weights * np.sqrt(np.abs(err)) / np.abs(big_q)
        weights /= weights.max()
    worst, p, q = best
    # back from u = x^2 / 81 to s = x^2
    return worst, p / LIMIT ** (2 * np.arange(p.size)), q / LIMIT ** (2 * np.arange(q.size))


def shipped_error_and_time() -> None:
    from chainrule.ops import _numba_math as kernels

    rng = np.random.default_rng(0)
    x = np.concatenate(
        [rng.uniform(-10, 10, 20_000_000), np.geomspace(1e-30, 10, 1_000_000)]
    ).astype(np.float32)
    x = np.concatenate([x, -x[-1_000_000:]])
    got = np.empty_like(x)
    kernels.tanh_into(x, got)
    exact = np.tanh(x.astype(np.float64))
    ulps = np.abs(got - exact) / np.spacing(np.abs(exact).astype(np.float32))
    numpys = np.abs(np.tanh(x) - exact) / np.spacing(np.abs(exact).astype(np.float32))
    print(
        f"compiled tanh: at most {ulps.max():.2f} ulp (mean {ulps.mean():.2f}) over {x.size} values"
    )
    print(f"NumPy's float32 tanh: at most {numpys.max():.2f} ulp (mean {numpys.mean():.2f})")
    block = rng.standard_normal(512 * 128).astype(np.float32)  # a (512, 128) block, flat
    out = np.empty_like(block)
    kernels.tanh_into(block, out)
    for name, fn in (
        ("compiled tanh", lambda: kernels.tanh_into(block, out)),
        ("np.tanh", lambda: np.tanh(block.reshape(512, 128), out=out.reshape(512, 128))),
    ):
        best = min(timeit.repeat(fn, number=2000, repeat=5)) / 2000
        print(f"{name} on (512, 128) float32: {best * 1e6:.1f} us")


if __name__ == "__main__":
    worst, p, q = fit()
    print(f"largest relative error of the fit, in float64: {worst:.3g}")
    print("P:", ", ".join(f"{c:.8e}" for c in p))
    print("Q:", ", ".join(f"{c:.8e}" for c in q))
    shipped_error_and_time()
