"""Each convolution and max-pool computation of the B5 CNN step, alone, on both
convolution backends (chainrule's NumPy code and oneDNN), float32, default threads.

    python benchmarks/conv_backend_parts.py [--repeats 30]

Prints the median milliseconds of each computation per backend, and the load
average. The oneDNN rows need ``pip install onednn-cpu-gomp``. Informative only:
nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

import chainrule as cr
from chainrule.ops import conv, nn_ops

CONVS = [((128, 1, 28, 28), 16, "conv 1"), ((128, 16, 14, 14), 32, "conv 2")]
POOLS = [(128, 16, 28, 28), (128, 32, 14, 14)]
GEOMETRY = {"stride": (1, 1), "padding": (1, 1), "dilation": (1, 1), "groups": 1}
POOL = {"kernel_size": (2, 2), "stride": (2, 2), "padding": (0, 0), "dilation": (1, 1)}


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def parts(rng: np.random.Generator) -> list[tuple[str, Callable[[], object]]]:
    out = []
    for shape, channels, name in CONVS:
        x = rng.standard_normal(shape).astype(np.float32)
        w = rng.standard_normal((channels, shape[1], 3, 3)).astype(np.float32)
        b = rng.standard_normal(channels).astype(np.float32)
        g = rng.standard_normal((shape[0], channels, *shape[2:])).astype(np.float32)
        out += [
            (f"{name} forward", lambda x=x, w=w, b=b: conv._conv2d_forward(x, w, b, **GEOMETRY)),
            (
                f"{name} input gradient",
                lambda g=g, w=w, s=shape: conv._input_grad_forward(g, w, shape=s, **GEOMETRY),
            ),
            (
                f"{name} weight gradient",
                lambda g=g, x=x, s=w.shape: conv._weight_grad_forward(g, x, shape=s, **GEOMETRY),
            ),
        ]
    for shape in POOLS:
        x = np.maximum(rng.standard_normal(shape).astype(np.float32), 0)  # after a ReLU
        g = rng.standard_normal((*shape[:2], shape[2] // 2, shape[3] // 2)).astype(np.float32)

        def pool(x=x, g=g):
            m = nn_ops._max_pool_forward(x, **POOL)
            return nn_ops._max_pool_scatter_forward(g, x, m, **POOL)

        out.append((f"max pool {shape}: forward and gradient", pool))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    backends = ["numpy"]
    try:
        cr.set_conv_backend("onednn")
        backends.append("onednn")
    except ImportError as exc:
        print(f"oneDNN rows left out: {exc}")
    cr.set_conv_backend("numpy")
    print(f"load average at start {os.getloadavg()}")
    rows = parts(np.random.default_rng(0))
    table = {name: {} for name, _ in rows}
    for backend in backends:
        cr.set_conv_backend(backend)
        for name, fn in rows:
            table[name][backend] = median_ms(fn, args.repeats)
    cr.set_conv_backend("numpy")
    print(f"{'computation':45s} " + " ".join(f"{b:>9s}" for b in backends) + "  (median ms)")
    for name, by in table.items():
        print(f"{name:45s} " + " ".join(f"{by[b]:9.2f}" for b in backends))
    print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
