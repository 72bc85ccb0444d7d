"""B7 (the ViT step) with attention composed (two batched products around a softmax,
three projections, the heads split and merged by copies) and fused (one
``attention_qkv`` node on one projection), alternating with torch eager in one
process. Prints each step's median ms and the median of its per-round ratios to
torch's::

    python benchmarks/b7_attention.py --step jit --backend onednn --rounds 15

The composed step is the same model with chainrule.ops.attention's ``takes`` and
``takes_packed`` answering no, as chainrule computed attention before the fused
node. Needs torch (the bench extra) and, for ``--backend onednn``, onednn-cpu-gomp.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.cases import seq  # noqa: E402
from bench.env import cr  # noqa: E402
from bench.timing import seconds_per_call  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", choices=("jit", "nn"), default="jit")
    parser.add_argument("--backend", choices=("numpy", "onednn"), default="onednn")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=3, help="steps per timed round")
    args = parser.parse_args()

    from chainrule.ops import attention

    takes, takes_packed = attention.takes, attention.takes_packed
    fused = [False]  # read when a step traces (cr.jit) and at every eager call
    attention.takes = lambda *a: fused[0] and takes(*a)
    attention.takes_packed = lambda *a: fused[0] and takes_packed(*a)

    state, x, labels = seq.seq_problem("B7")
    make = seq.seq_chainrule_jit if args.step == "jit" else seq.seq_chainrule_nn
    cr.set_conv_backend(args.backend)
    steps = {"torch eager": (seq.seq_torch("B7", state, x, labels), False)}
    steps["composed"] = (make("B7", state, x, labels), False)
    fused[0] = True
    steps["fused"] = (make("B7", state, x, labels), True)

    def timed(name: str) -> float:
        fn, fused[0] = steps[name]
        fn()  # warm, then timed
        return seconds_per_call(fn, args.calls) * 1e3

    times: dict[str, list[float]] = {name: [] for name in steps}
    try:
        for _ in range(args.rounds):
            for name in steps:
                times[name].append(timed(name))
    finally:
        attention.takes, attention.takes_packed = takes, takes_packed
        cr.set_conv_backend("numpy")
    torch_ms = np.array(times["torch eager"])
    print(f"B7 {args.step} step on {args.backend}, {args.rounds} rounds of {args.calls} calls")
    for name, ms in times.items():
        ms = np.array(ms)
        print(f"  {name:12s} {np.median(ms):7.2f} ms   x torch {np.median(ms / torch_ms):5.3f}")


if __name__ == "__main__":
    main()
