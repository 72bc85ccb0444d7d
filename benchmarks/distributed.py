"""Data-parallel throughput of cr.distributed, and a model of scaling past one machine.

    python benchmarks/distributed.py            # runs 1 rank, then mpiexec -n 2, prints tables
    python benchmarks/distributed.py --worker   # one run (under mpiexec -n N); JSON on rank 0

Measured (each rank 1 BLAS thread, float32, SGD lr 0.01):
- the MLP step (784-512-256-10, ReLU, mean cross-entropy) at global batch 128 and
  1024: 1 rank (the bare model) against 2 ranks (DistributedDataParallel, each rank
  batch/2): samples per second and scaling efficiency;
- the gradient all-reduce of DistributedDataParallel alone (write into the
  buckets, in-place Iallreduce, wait), and each of its phases, against a bare
  mpi4py Allreduce of the same bytes;
- overlap: the step's time with DDP against the same ranks computing their half
  batch without communicating; the difference is the communication not hidden
  behind backward.
Then the paper model (see ``step_s`` and ``model_table``), calibrated with these figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def _median_time(fn, repeats: int, min_time: float, what: str = "", comm=None) -> float:
    """Median over ``repeats`` of the mean time of ``fn`` over about ``min_time`` s.

    Every rank runs ``fn`` the same number of times (the largest any rank needs for
    ``min_time``): a rank that stopped one call early would leave the others
    waiting in that call's collective."""
    if what and os.environ.get("PMI_RANK", "0") == "0":
        print(f"timing {what}", file=sys.stderr, flush=True)
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    count = np.array([max(1, int(np.ceil(min_time / once)))], np.int64)
    if comm is not None:
        from mpi4py import MPI

        comm.Allreduce(MPI.IN_PLACE, count, op=MPI.MAX)
    results = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(int(count[0])):
            fn()
        results.append((time.perf_counter() - start) / int(count[0]))
    return float(np.median(results))


def _synced(fn, comm):
    def run():
        comm.Barrier()  # every rank starts the step together, as in training
        fn()

    return run


def _time_end_of_backward(ddp) -> tuple[list, list]:
    """The times backward spends at its end in DDP, measured inside each step: the
    whole (the ranks' question, which also waits for the slower rank to get
    there, then the rest) and the rest alone (the buckets not started yet, waiting
    for all): the communication backward did not hide."""
    from chainrule.distributed.reducer import Pass

    whole: list = []
    rest: list = []
    real = ddp._after_backward

    def timed() -> None:
        start = time.perf_counter()
        real()
        whole.append(time.perf_counter() - start)

    if not hasattr(Pass, "untimed_finish"):  # once per process: every Pass.finish timed
        Pass.untimed_finish = Pass.finish

        def finish(run: Pass) -> None:
            start = time.perf_counter()
            Pass.untimed_finish(run)
            times = getattr(run.reducer, "finish_times", None)
            if times is not None:
                times.append(time.perf_counter() - start)

        Pass.finish = finish
    object.__setattr__(ddp, "_after_backward", timed)
    ddp._reducer.finish_times = rest
    return whole, rest


def worker(repeats: int, min_time: float, reduction_only: bool = False) -> dict:
    import chainrule as cr
    from chainrule import distributed as dist
    from chainrule.nn import functional as F

    dist.init()
    dist.set_blas_threads(1)
    comm = dist.world.comm()
    n, r = dist.size(), dist.rank()
    out: dict = {"ranks": n, "mlp": {}}
    rng = np.random.default_rng(0)

    def mlp():
        cr.nn.manual_seed(0)
        return cr.nn.Sequential(
            cr.nn.Linear(784, 512),
            cr.nn.ReLU(),
            cr.nn.Linear(512, 256),
            cr.nn.ReLU(),
            cr.nn.Linear(256, 10),
        )

    def stepper(net, model, x, y):
        opt = cr.optim.SGD(model.parameters(), lr=0.01)

        def step():
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        return step

    if reduction_only:
        out = reduction_phases(mlp(), rng, repeats, min_time, comm)
        return out if r == 0 else {}
    for batch in (128, 1024):
        local = batch // n
        x = cr.tensor(rng.normal(size=(local, 784)).astype(np.float32))
        y = rng.integers(0, 10, local)
        row = {}
        bare = mlp()
        row["compute_only_s"] = _median_time(  # the step without communication
            _synced(stepper(bare, bare, x, y), comm), repeats, min_time, comm=comm
        )
        if n > 1:
            for mb in (25, 0.5):
                model = mlp()
                ddp = cr.distributed.DistributedDataParallel(model, bucket_mb=mb)
                whole, rest = _time_end_of_backward(ddp)
                step = _synced(stepper(ddp, model, x, y), comm)
                t = _median_time(
                    step, repeats, min_time, f"DDP step, batch {batch}, bucket {mb} MB", comm
                )
                row[f"ddp_bucket_{mb}_s"] = t
                row[f"ddp_bucket_{mb}_end_s"] = float(np.median(whole))
                row[f"ddp_bucket_{mb}_wait_s"] = float(np.median(rest))
        step_s = row.get("ddp_bucket_25_s", row["compute_only_s"])
        row["step_s"] = step_s
        row["samples_per_s"] = batch / step_s
        out["mlp"][str(batch)] = row

    # the reduction alone: DDP's path against a bare Allreduce of the same bytes
    out.update(reduction_phases(mlp(), rng, repeats, min_time, comm))
    out["barrier_s"] = _median_time(comm.Barrier, repeats, min_time, comm=comm)
    if n == 1:
        # the CNN's compute per sample at batch 32 (for the paper model)
        cr.nn.manual_seed(0)
        cnn = cr.nn.Sequential(
            cr.nn.Conv2d(1, 16, 3, padding=1),
            cr.nn.ReLU(),
            cr.nn.MaxPool2d(2),
            cr.nn.Conv2d(16, 32, 3, padding=1),
            cr.nn.ReLU(),
            cr.nn.MaxPool2d(2),
            cr.nn.Flatten(),
            cr.nn.Linear(32 * 7 * 7, 128),
            cr.nn.ReLU(),
            cr.nn.Linear(128, 10),
        )
        xc = cr.tensor(rng.normal(size=(32, 1, 28, 28)).astype(np.float32))
        yc = rng.integers(0, 10, 32)
        t = _median_time(stepper(cnn, cnn, xc, yc), max(2, repeats // 2), min_time, "CNN")
        out["cnn"] = {"step_s_32": t, "params": int(sum(p.data.size for p in cnn.parameters()))}
    out["params_mlp"] = int(sum(p.data.size for p in mlp().parameters()))
    return out if r == 0 else {}


def reduction_phases(model, rng, repeats: int, min_time: float, comm) -> dict:
    """DistributedDataParallel's gradient reduction alone, as backward drives it
    (every gradient handed over, then the end of the pass), and each phase of it
    timed on its own: writing the gradients into the buckets (times 1/N), the
    in-place Iallreduce of every bucket (start, wait), the end-of-pass question
    (a one-number Allreduce), attaching the slots as ``.grad``; against a bare
    mpi4py Allreduce of the same bytes, out of place and in place."""
    import chainrule as cr
    from chainrule.distributed.ddp import _Forward
    from chainrule.distributed.reducer import Pass

    MPI = cr.distributed.world.mpi()
    ddp = cr.distributed.DistributedDataParallel(model)
    reducer = ddp._reducer
    params = reducer.params
    grads = [rng.normal(size=p.shape).astype(np.float32) for p in params]

    def whole():
        for p in params:  # as zero_grad(): no .grad, so the slots are written afresh
            p.grad = None
        fwd = _Forward(ddp, Pass(reducer))
        object.__setattr__(ddp, "_forward", fwd)
        for i, g in enumerate(grads):
            fwd.gradient(i, g)
        ddp._after_backward()

    def write():
        for p in params:
            p.grad = None
        for i, g in enumerate(grads):
            reducer.write(i, g)

    def reduce():
        for b in range(len(reducer.buckets)):
            reducer.launch(b)
        for b in range(len(reducer.buckets)):
            reducer.wait(b)

    def ask():
        flag = np.ones(1, np.int32)
        ddp._ask.Allreduce(MPI.IN_PLACE, flag, op=MPI.MAX)

    send = np.concatenate([g.ravel() for g in grads])
    recv = np.empty_like(send)
    phases = {
        "ddp_allreduce_s": whole,
        "phase_write_s": write,
        "phase_reduce_s": reduce,
        "phase_attach_s": reducer.attach,
        "bare_allreduce_s": lambda: comm.Allreduce(send, recv, op=MPI.SUM),
        "bare_in_place_s": lambda: comm.Allreduce(MPI.IN_PLACE, recv, op=MPI.SUM),
    }
    if ddp._ask is not None:
        phases["phase_ask_s"] = ask
    out = {"bytes": int(send.nbytes)}
    for name, fn in phases.items():
        out[name] = _median_time(_synced(fn, comm), repeats, min_time, name, comm)
    return out


# ------------------------------------------------------------------ the paper model
# (parameters, multiply-adds per sample) of each layer that has parameters, input first.
MLP_LAYERS = [(784 * 512 + 512, 784 * 512), (512 * 256 + 256, 512 * 256), (256 * 10 + 10, 2560)]
CNN_LAYERS = [
    (16 * 9 + 16, 16 * 9 * 28 * 28),
    (32 * 16 * 9 + 32, 32 * 16 * 9 * 14 * 14),
    (32 * 7 * 7 * 128 + 128, 32 * 7 * 7 * 128),
    (128 * 10 + 10, 1280),
]
NETS = {"10 Gbit/s": (10e9 / 8, 20e-6), "100 Gbit/s": (100e9 / 8, 5e-6)}


def ring_allreduce_s(nbytes: float, n: int, bandwidth: float, latency: float) -> float:
    """A ring all-reduce: 2 (N-1)/N of the bytes through each link, 2 (N-1) messages."""
    return 2 * (n - 1) / n * nbytes / bandwidth + 2 * (n - 1) * latency


def step_s(compute: float, layers: list, n: int, net: str, per_layer: bool,
           write_per_byte: float) -> float:  # fmt: skip
    """One step on N ranks: forward (1/3 of ``compute``), then backward (2/3) layer
    by layer from the output, split by multiply-adds; each layer's gradient is
    written into its bucket (``write_per_byte``, measured) when it is complete.
    With a bucket per layer, each bucket's all-reduce starts when its layer is
    done and the link is free (one at a time, in order); with one bucket, it
    starts when backward ends. The step ends when both are done."""
    bandwidth, latency = NETS[net]
    macs = sum(m for _, m in layers)
    t = compute / 3
    link_free = 0.0
    for params, m in reversed(layers):
        t += 2 / 3 * compute * m / macs + write_per_byte * 4 * params
        if per_layer:
            start = max(t, link_free)
            link_free = start + ring_allreduce_s(4 * params, n, bandwidth, latency)
    if not per_layer:
        nbytes = 4 * sum(p for p, _ in layers)
        link_free = t + ring_allreduce_s(nbytes, n, bandwidth, latency)
    return max(t, link_free)


def model_table(c_mlp: float, c_cnn: float, write_per_byte: float) -> list[str]:
    """Efficiency (compute / step: 100% is perfect scaling) at 8, 64 and 512 ranks,
    strong scaling (global batch 1024: 1024/N per rank) and weak (128 per rank).
    c: compute seconds per sample on one core (measured); the all-reduce is a
    ring's, with 20 us per message at 10 Gbit/s (TCP) and 5 us at 100 Gbit/s
    (RDMA); the cells are one 25 MB bucket (the default: no overlap for these
    models) / a bucket per layer (overlap where backward has work left)."""
    lines = []
    for name, c, layers in (("MLP", c_mlp, MLP_LAYERS), ("CNN", c_cnn, CNN_LAYERS)):
        for scaling, per_rank in (("global batch 1024", None), ("128 per rank", 128)):
            for net in NETS:
                cells = []
                for n in (8, 64, 512):
                    compute = c * (per_rank or 1024 / n)
                    one, each = (
                        compute / step_s(compute, layers, n, net, per_layer, write_per_byte)
                        for per_layer in (False, True)
                    )
                    cells.append(f"{100 * one:.0f}% / {100 * each:.0f}%")
                lines.append(f"| {name} | {scaling} | {net} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument(
        "--output", default=os.path.join(os.path.dirname(__file__), "distributed-results.json")
    )
    parser.add_argument(
        "--reduction",
        action="store_true",
        help="only the gradient all-reduce and its phases (2 ranks); prints JSON, writes nothing",
    )
    args = parser.parse_args()
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if args.worker:
        result = worker(args.repeats, args.min_time, args.reduction)
        if result:
            print("RESULT " + json.dumps(result), flush=True)
        return
    if args.reduction:
        cmd = [mpiexec, "-n", "2", sys.executable, __file__, "--worker", "--reduction",
               "--repeats", str(args.repeats), "--min-time", str(args.min_time)]  # fmt: skip
        text = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
        result = json.loads(text.split("RESULT ", 1)[1])
        result["loadavg"] = os.getloadavg()
        print(json.dumps(result, indent=1))
        return
    runs = {}
    for n in (1, 2):
        cmd = [
            mpiexec,
            "-n",
            str(n),
            sys.executable,
            __file__,
            "--worker",
            "--repeats",
            str(args.repeats),
            "--min-time",
            str(args.min_time),
        ]
        print(f"running {n} rank(s)", file=sys.stderr, flush=True)
        text = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
        runs[n] = json.loads(text.split("RESULT ", 1)[1])
    load = os.getloadavg()
    one, two = runs[1], runs[2]
    lines = [
        f"load average when measured: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"on {os.cpu_count()} cores",
        "",
        "| global batch | 1 rank x 1 thread | 2 ranks x 1 thread (bucket 25 MB) | "
        "speed-up | efficiency | 2 ranks, no communication | 2 ranks, bucket 0.5 MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for b in ("128", "1024"):
        s1, s2 = one["mlp"][b]["samples_per_s"], two["mlp"][b]["samples_per_s"]
        row2 = two["mlp"][b]
        lines.append(
            f"| {b} | {s1:.0f} samples/s | {s2:.0f} samples/s | {s2 / s1:.2f}x | "
            f"{100 * s2 / s1 / 2:.0f}% | {int(b) / row2['compute_only_s']:.0f} samples/s | "
            f"{int(b) / row2['ddp_bucket_0.5_s']:.0f} samples/s |"
        )
    ddp_ms, bare_ms = two["ddp_allreduce_s"] * 1e3, two["bare_allreduce_s"] * 1e3
    lines += [
        "",
        f"gradient all-reduce ({two['bytes'] / 2**20:.2f} MB, 2 ranks): "
        f"DistributedDataParallel {ddp_ms:.2f} ms, bare mpi4py Allreduce {bare_ms:.2f} ms "
        f"({ddp_ms / bare_ms:.2f}x; in place {two['bare_in_place_s'] * 1e3:.2f} ms); "
        f"barrier alone {two['barrier_s'] * 1e6:.0f} us",
        "phases of DDP's path: write into the buckets (times 1/N) "
        f"{two['phase_write_s'] * 1e3:.3f} ms, in-place Iallreduce and wait "
        f"{two['phase_reduce_s'] * 1e3:.3f} ms, end-of-pass question "
        f"{two['phase_ask_s'] * 1e3:.3f} ms, attach .grad {two['phase_attach_s'] * 1e3:.3f} ms",
    ]
    for b in ("128", "1024"):
        row = two["mlp"][b]
        for mb in (25, 0.5):
            exposed = row[f"ddp_bucket_{mb}_s"] - row["compute_only_s"]
            end, waited = row[f"ddp_bucket_{mb}_end_s"], row[f"ddp_bucket_{mb}_wait_s"]
            # The communication backward left exposed lies between the time after the
            # ranks' question and the whole end (the question also waits for the slower
            # rank, and the reduction moves on meanwhile): bounds on the part hidden.
            reduce_s = two["phase_reduce_s"]
            least, most = (max(0.0, 1 - t / reduce_s) for t in (end, waited))
            lines.append(
                f"overlap, batch {b}, bucket {mb} MB: step {row[f'ddp_bucket_{mb}_s'] * 1e3:.2f} ms"
                f" against {row['compute_only_s'] * 1e3:.2f} ms without communication "
                f"({exposed * 1e3:.2f} ms more); at the end of backward {end * 1e3:.2f} ms, of "
                f"which {waited * 1e3:.2f} ms after the ranks' question: {100 * least:.0f}% to "
                f"{100 * most:.0f}% of the reduction hidden"
            )
    c_mlp = one["mlp"]["1024"]["step_s"] / 1024
    c_cnn = one["cnn"]["step_s_32"] / 32
    write_per_byte = two["phase_write_s"] / two["bytes"]
    lines += [
        "",
        f"paper model, calibrated: MLP {c_mlp * 1e6:.1f} us/sample, CNN "
        f"{c_cnn * 1e6:.1f} us/sample on one core, writing into the buckets "
        f"{write_per_byte * 2**20 * 1e6:.0f} us/MB; efficiency with one 25 MB bucket / "
        "a bucket per layer:",
        "",
        "| network | batch | link | 8 ranks | 64 ranks | 512 ranks |",
        "|---|---|---|---|---|---|",
    ]
    lines += model_table(c_mlp, c_cnn, write_per_byte)
    report = "\n".join(lines)
    print(report)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(
            {"runs": {str(k): v for k, v in runs.items()}, "loadavg": load, "report": report},
            f,
            indent=2,
        )


if __name__ == "__main__":
    main()
