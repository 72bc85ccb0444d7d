"""Per-example gradients of the 784-512-256-10 MLP (ReLU, cross-entropy), batch 128,
float32: chainrule's ``vmap(grad(loss))`` against a Python loop over examples in
chainrule, ``torch.func.vmap(torch.func.grad(loss))`` and ``jax.vmap(jax.grad(loss))``
(with and without ``jax.jit``), each where installed, and the same gradients written
by hand in plain NumPy (the floor for a library built on NumPy).

Standalone: ``python benchmarks/vmap_per_example.py [--rounds N] [--json PATH]``.

Each round runs every variant once, in an order rotated from round to round, so
every variant sees the same machine load; the report gives each variant's median
time and the median over rounds of the paired ratio (the variant's time in a round
divided by chainrule vmap's in the same round). The 1-minute load average is
printed with the figures: on a shared machine they move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

SIZES = (784, 512, 256, 10)
BATCH = 128


def make_data(seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Weights of an MLP of ``SIZES`` (three layers), a batch of inputs and labels."""
    rng = np.random.default_rng(seed)
    params = {}
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        params[f"w{i}"] = (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
        params[f"b{i}"] = np.zeros(n_out, dtype=np.float32)
    xs = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    ys = rng.integers(0, SIZES[-1], BATCH)
    return params, xs, ys


# ----------------------------------------------------------------- chainrule
def chainrule_variants(params, xs, ys) -> dict[str, Callable[[], object]]:
    import chainrule as cr
    import chainrule.nn.functional as F
    from chainrule import buffer_pool

    def loss(p, x, y):
        h = F.relu(F.linear(x, p["w0"], p["b0"]))
        h = F.relu(F.linear(h, p["w1"], p["b1"]))
        return F.cross_entropy(F.linear(h, p["w2"], p["b2"])[None], y[None])

    per_example = cr.vmap(cr.grad(loss), in_axes=(None, 0, 0))
    one = cr.grad(loss)

    def loop():
        grads = [one(params, xs[b], ys[b]) for b in range(BATCH)]
        return {k: np.stack([g[k] for g in grads]) for k in params}

    def one_thread():
        before = cr.get_num_threads()
        cr.set_num_threads(1)
        try:
            return per_example(params, xs, ys)
        finally:
            cr.set_num_threads(before)

    def fresh_memory():
        # As when every earlier result is still held: no dead result's memory to
        # reuse (chainrule.buffer_pool), every page comes from the kernel.
        before = buffer_pool.MIN_BYTES
        buffer_pool.MIN_BYTES = 1 << 62
        try:
            return per_example(params, xs, ys)
        finally:
            buffer_pool.MIN_BYTES = before

    return {
        "chainrule vmap(grad)": lambda: per_example(params, xs, ys),
        "chainrule vmap, fresh memory": fresh_memory,
        "chainrule vmap, 1 thread": one_thread,
        "chainrule loop of grad": loop,
    }


# --------------------------------------------------------------------- NumPy
def numpy_variants(params, xs, ys) -> dict[str, Callable[[], object]]:
    """The same per-example gradients written by hand in plain NumPy, on one thread:
    the forward pass batched (one matrix product per layer), the backward pass by
    hand, each weight gradient an outer product per example written once, in its
    final (B, out, in) layout. Nothing a library adds (graph, rules, dispatch): the
    floor for a library built on NumPy, and the best a batched computation can beat
    the loop by on this machine."""
    return {"NumPy by hand": numpy_by_hand(params, xs, ys, _outer_einsum)}


def _outer_einsum(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    # The fastest of the outer-product forms measured (np.einsum's loop writes them
    # about twice as fast as np.multiply's broadcast loop on this machine).
    return np.einsum("bi,bj->bij", g, x)


def _outer_multiply(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    return g[:, :, None] * x[:, None, :]


def numpy_by_hand(params, xs, ys, outer: Callable) -> Callable[[], dict[str, np.ndarray]]:
    w0, b0, w1, b1, w2, b2 = (params[k] for k in ("w0", "b0", "w1", "b1", "w2", "b2"))
    rows = np.arange(len(ys))

    def by_hand() -> dict[str, np.ndarray]:
        h1 = xs @ w0.T
        h1 += b0
        np.maximum(h1, 0, out=h1)
        h2 = h1 @ w1.T
        h2 += b1
        np.maximum(h2, 0, out=h2)
        z = h2 @ w2.T
        z += b2
        # d(-log softmax(z)[y])/dz = softmax(z) - onehot(y), per example
        z -= z.max(axis=1, keepdims=True)
        g3 = np.exp(z)
        g3 /= g3.sum(axis=1, keepdims=True)
        g3[rows, ys] -= 1
        g2 = g3 @ w2
        g2 *= h2 > 0
        g1 = g2 @ w1
        g1 *= h1 > 0
        return {
            "w0": outer(g1, xs),
            "b0": g1,
            "w1": outer(g2, h1),
            "b1": g2,
            "w2": outer(g3, h2),
            "b2": g3,
        }

    return by_hand


# --------------------------------------------------------------------- torch
def torch_variants(params, xs, ys) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from torch.func import grad, vmap
    except ImportError:
        return {}
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    tp = {k: torch.from_numpy(v) for k, v in params.items()}
    tx, ty = torch.from_numpy(xs), torch.from_numpy(ys)
    nnf = torch.nn.functional

    def loss(p, x, y):
        h = nnf.relu(nnf.linear(x, p["w0"], p["b0"]))
        h = nnf.relu(nnf.linear(h, p["w1"], p["b1"]))
        return nnf.cross_entropy(nnf.linear(h, p["w2"], p["b2"])[None], y[None])

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))
    return {"torch.func vmap(grad)": lambda: per_example(tp, tx, ty)}


# ----------------------------------------------------------------------- jax
def jax_variants(params, xs, ys) -> dict[str, Callable[[], object]]:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return {}
    jp = {k: jnp.asarray(v) for k, v in params.items()}
    jx, jy = jnp.asarray(xs), jnp.asarray(ys)

    def loss(p, x, y):
        h = jax.nn.relu(p["w0"] @ x + p["b0"])
        h = jax.nn.relu(p["w1"] @ h + p["b1"])
        logits = p["w2"] @ h + p["b2"]
        return -jax.nn.log_softmax(logits)[y]

    per_example = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))
    compiled = jax.jit(per_example)

    def run(fn):
        return lambda: jax.block_until_ready(fn(jp, jx, jy))

    return {"jax vmap(grad)": run(per_example), "jax jit(vmap(grad))": run(compiled)}


# ------------------------------------------------------------------- harness
def check_agreement(variants: dict, reference: str) -> None:
    """Every variant's gradients equal chainrule vmap's (float32 tolerance)."""
    ref = variants[reference]()
    for name, fn in variants.items():
        got = fn()
        for k, v in ref.items():
            other = np.asarray(got[k])
            if not np.allclose(np.asarray(v), other, rtol=1e-3, atol=1e-5):
                raise SystemExit(f"{name} disagrees with {reference} on {k}")


def measure(variants: dict, rounds: int, reference: str) -> dict:
    names = list(variants)
    times: dict[str, list[float]] = {n: [] for n in names}
    for fn in variants.values():  # warm-up (and jit compilation)
        fn()
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            start = time.perf_counter()
            variants[n]()
            times[n].append(time.perf_counter() - start)
    out = {}
    for n in names:
        ratios = [t / base for t, base in zip(times[n], times[reference])]
        out[n] = {
            "median_ms": 1e3 * statistics.median(times[n]),
            "median_ratio_to_vmap": statistics.median(ratios),
        }
    return out


def floor_variants(params, xs, ys) -> dict[str, Callable[[], object]]:
    """What bounds the 784-512-256-10 case: writing the per-example gradients (fresh
    arrays, as a result must be: the kernel zeroes each page first) on one thread and
    on the threads chainrule uses, and the loop's two parts: its per-example grad
    calls and the np.stack of their results."""
    import chainrule as cr

    shapes = [(BATCH, *v.shape) for v in params.values()]
    grads = chainrule_variants(params, xs, ys)
    one = grads["chainrule loop of grad"]
    from chainrule import buffer_pool
    from chainrule.threads import split_ufunc

    def write(threads: int):
        def run():
            before, pooled = cr.get_num_threads(), buffer_pool.MIN_BYTES
            cr.set_num_threads(threads)
            buffer_pool.MIN_BYTES = 1 << 62  # fresh memory, not a dead result's
            try:
                for s in shapes:  # a fresh array of the result's size, every element written
                    zeros = np.zeros(s[1:], np.float32)
                    split_ufunc(np.add, np.zeros((s[0],) + (1,) * (len(s) - 1), np.float32), zeros)
            finally:
                cr.set_num_threads(before)
                buffer_pool.MIN_BYTES = pooled

        return run

    import chainrule.nn.functional as F

    def loss(p, x, y):
        h = F.relu(F.linear(x, p["w0"], p["b0"]))
        h = F.relu(F.linear(h, p["w1"], p["b1"]))
        return F.cross_entropy(F.linear(h, p["w2"], p["b2"])[None], y[None])

    g = cr.grad(loss)
    per_example = [g(params, xs[b], ys[b]) for b in range(BATCH)]

    def arithmetic():
        # The loop's arithmetic alone, in NumPy: forward, softmax, backward, outer products.
        p = params
        for b in range(BATCH):
            x = xs[b]
            h1 = np.maximum(p["w0"] @ x + p["b0"], 0)
            h2 = np.maximum(p["w1"] @ h1 + p["b1"], 0)
            z = p["w2"] @ h2 + p["b2"]
            e = np.exp(z - z.max())
            g3 = e / e.sum()
            g3[ys[b]] -= 1
            g2 = (p["w2"].T @ g3) * (h2 > 0)
            g1 = (p["w1"].T @ g2) * (h1 > 0)
            np.outer(g3, h2), np.outer(g2, h1), np.outer(g1, x)

    return {
        "NumPy by hand (einsum)": numpy_by_hand(params, xs, ys, _outer_einsum),
        "NumPy by hand (multiply)": numpy_by_hand(params, xs, ys, _outer_multiply),
        "loop: NumPy arithmetic only": arithmetic,
        "write the result, 1 thread": write(1),
        f"write the result, {cr.get_num_threads()} threads": write(cr.get_num_threads()),
        "loop: the grad calls only": lambda: [g(params, xs[b], ys[b]) for b in range(BATCH)],
        "loop: np.stack only": lambda: {k: np.stack([e[k] for e in per_example]) for k in params},
        "chainrule loop of grad": one,
        "chainrule vmap, fresh memory": grads["chainrule vmap, fresh memory"],
        "chainrule vmap(grad)": grads["chainrule vmap(grad)"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--sizes",
        help="layer widths of the three-layer MLP, e.g. 64,32,16,10 (default 784,512,256,10)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="instead: time writing the result and the loop's parts (what bounds the ratio)",
    )
    args = parser.parse_args(argv)
    if args.sizes:
        global SIZES
        SIZES = tuple(int(s) for s in args.sizes.split(","))
        if len(SIZES) != 4:
            parser.error("--sizes takes four widths (input, two hidden, classes)")
    params, xs, ys = make_data()
    reference = "chainrule vmap(grad)"
    if args.floor:
        variants = floor_variants(params, xs, ys)
        by_hand = ("NumPy by hand (einsum)", "NumPy by hand (multiply)")
        check_agreement({k: variants[k] for k in (reference, *by_hand)}, reference)
    else:
        variants = chainrule_variants(params, xs, ys)
        variants.update(numpy_variants(params, xs, ys))
        variants.update(torch_variants(params, xs, ys))
        variants.update(jax_variants(params, xs, ys))
        check_agreement(variants, reference)
    load_before = os.getloadavg()[0]
    results = measure(variants, args.rounds, reference)
    load_after = os.getloadavg()[0]
    print(
        f"per-example gradients, MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32; "
        f"{args.rounds} paired rounds; load average {load_before:.2f} -> {load_after:.2f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(f"{'variant':28s} {'median ms':>10s} {'time / chainrule vmap':>22s}")
    for name, r in results.items():
        print(f"{name:28s} {r['median_ms']:10.1f} {r['median_ratio_to_vmap']:22.2f}")
    if args.json:
        record = {
            "results": results,
            "load_average": [load_before, load_after],
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "numpy": np.__version__,
        }
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
