"""B6's LSTM layer, forward and backward from arrays, on its two float32 paths: the
input projection then ``lstm_layer`` (float32 without the compiled kernels takes
this one; timed here with the kernels on, as nn.LSTM ran it before the loop
below), against ``lstm_fused``'s compiled loop (``recurrent_fused_loop``), timed
in pairs one after the other, medians.

    python benchmarks/lstm_layer_paths.py [--pairs 80]

Both paths get B6's shapes (28 steps, batch 128, 28 inputs, hidden 128, the input
a batch-first view) and a loss on the last h. The first path's backward includes
its projection's two gradient products, as nn.LSTM's graph makes them. Needs
numba. Informative only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import chainrule as cr
from chainrule.ops import compiled, recurrent, recurrent_fused, recurrent_fused_loop, saved

STEPS, BATCH, INPUTS, HIDDEN = 28, 128, 28, 128


def arrays() -> dict:
    rng = np.random.default_rng(0)
    f32 = np.float32
    w = lambda *s: (rng.normal(size=s) * 0.1).astype(f32)  # noqa: E731
    x = rng.normal(size=(BATCH, STEPS, INPUTS)).astype(f32).swapaxes(0, 1)
    zeros = np.zeros((BATCH, HIDDEN), f32)
    g = np.zeros((STEPS + 1, BATCH, HIDDEN), f32)
    g[STEPS - 1] = rng.normal(size=(BATCH, HIDDEN))
    return {"x": x, "h0": zeros, "c0": zeros, "w_ih": w(4 * HIDDEN, INPUTS),
            "w_hh": w(4 * HIDDEN, HIDDEN), "b": w(4 * HIDDEN), "g": g}  # fmt: skip


def projection_then_lstm_layer(a: dict, backward: bool) -> None:
    """nn.LSTM's graph on this path: [W_ih | b] times [x_t; 1] for all steps (one
    batched GEMM), lstm_layer, and back: lstm_layer's walk, then the projection's
    two gradient products."""
    f32 = np.float32
    seq = np.concatenate([a["x"].swapaxes(1, 2), np.ones((STEPS, 1, BATCH), f32)], axis=1)
    w1 = np.concatenate([a["w_ih"], a["b"][:, None]], axis=1)
    xproj = np.matmul(w1, seq).swapaxes(1, 2)
    out = recurrent._lstm_forward(xproj, a["h0"], a["c0"], a["w_hh"])
    if not backward:
        return
    gy = np.zeros((STEPS, BATCH, 2 * HIDDEN), f32)
    gy[..., :HIDDEN] = a["g"][:STEPS]
    kept = saved.kept(recurrent._saved, out, (xproj, a["h0"], a["c0"], a["w_hh"]))
    d_xproj = recurrent._walk_back_arrays(gy, a["w_hh"], *kept)[1][0]
    d_gates = d_xproj.swapaxes(1, 2)
    np.matmul(d_gates, seq.swapaxes(1, 2)).sum(axis=0)
    np.matmul(w1.T, d_gates)


def compiled_loop(a: dict, backward: bool) -> None:
    cells = compiled.kernels_for(np.dtype(np.float32))
    args = (a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b"])
    out, saved = recurrent_fused_loop.forward(*args, cells)
    if not backward:
        return
    sizes = recurrent_fused._sizes(STEPS, BATCH, INPUTS, HIDDEN)
    grads = recurrent_fused._unpack(np.empty(sum(sizes), np.float32), STEPS, BATCH, INPUTS, HIDDEN)
    recurrent_fused_loop.gradients(a["g"], saved, a["w_ih"], a["w_hh"], cells, grads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=80)
    args = parser.parse_args()
    if compiled.kernels_for(np.dtype(np.float32)) is None:
        raise SystemExit("lstm_layer_paths: needs numba (pip install 'chainrule[kernels]')")
    cr.keep_freed_memory()  # no page faults from either path's fresh arrays
    a = arrays()
    for backward in (False, True):
        times: dict[str, list[float]] = {"projection + lstm_layer": [], "compiled loop": []}
        fns = (projection_then_lstm_layer, compiled_loop)
        for _ in range(5):
            for fn in fns:
                fn(a, backward)
        for _ in range(args.pairs):
            for name, fn in zip(times, fns):
                start = time.perf_counter()
                fn(a, backward)
                times[name].append(time.perf_counter() - start)
        old, new = times.values()
        ratio = statistics.median(n / o for n, o in zip(new, old))
        what = "forward and backward" if backward else "forward"
        medians = ", ".join(f"{k} {statistics.median(v) * 1e3:.2f} ms" for k, v in times.items())
        print(f"{what}: {medians}; compiled loop / the other, per pair: {ratio:.3f}")


if __name__ == "__main__":
    main()
