"""What anomaly detection costs when on: B1's chain (500 sigmoids, 2,000 ops, forward
and backward) timed with the mode off and on, medians of ``timeit`` repeats.

    python benchmarks/anomaly_cost.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import timeit

import chainrule as cr


def chain(z: cr.Tensor) -> cr.Tensor:
    for _ in range(500):
        z = 1 / (1 + cr.exp(-z))
    return z


def step() -> None:
    z = cr.tensor(0.5, dtype="float64", requires_grad=True)
    chain(z).backward()


def median_ms(repeats: int) -> float:
    return 1e3 * statistics.median(timeit.repeat(step, number=1, repeat=repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    repeats = parser.parse_args().repeats
    step()  # warm up
    # Alternate off and on, so that a change in the machine's load hits both.
    off, on = [], []
    for _ in range(3):
        off.append(median_ms(repeats))
        with cr.autograd.detect_anomaly():
            on.append(median_ms(repeats))
    off_ms, on_ms = min(off), min(on)
    print(f"B1 chain of 2,000 ops, forward + backward: off {off_ms:.2f} ms, on {on_ms:.2f} ms")
    extra_us = 1e3 * (on_ms - off_ms) / 2000
    print(f"  on / off: {on_ms / off_ms:.1f}x; per op on: {extra_us:.1f} us more")


if __name__ == "__main__":
    main()
