"""Data-parallel throughput of cr.distributed, and a model of scaling past one machine.

    python benchmarks/distributed.py            # runs 1 rank, then mpiexec -n 2, prints tables
    python benchmarks/distributed.py --worker   # one run (under mpiexec -n N); JSON on rank 0

Measured (each rank 1 BLAS thread, float32, SGD lr 0.01):
- the MLP step (784-512-256-10, ReLU, mean cross-entropy) at global batch 128 and
  1024: 1 rank (the bare model) against 2 ranks (DistributedDataParallel, each rank
  batch/2): samples per second and scaling efficiency;
- the gradient all-reduce of DistributedDataParallel alone (copy into buckets,
  Iallreduce, wait, divide) against a bare mpi4py Allreduce of the same bytes;
- overlap: the step's time with DDP against the same ranks computing their half
  batch without communicating; the difference is the communication not hidden
  behind backward.
Then the paper model (see ``model_table``), calibrated with these figures.
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


def worker(repeats: int, min_time: float) -> dict:
    import chainrule as cr
    from chainrule import distributed as dist
    from chainrule.distributed.ddp import _Pass
    from chainrule.nn import functional as F

    dist.init()
    dist.set_blas_threads(1)
    comm = dist.world.comm()
    n, r = dist.size(), dist.rank()
    MPI = dist.world.mpi()
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
                step = _synced(stepper(ddp, model, x, y), comm)
                t = _median_time(
                    step, repeats, min_time, f"DDP step, batch {batch}, bucket {mb} MB", comm
                )
                row[f"ddp_bucket_{mb}_s"] = t
        step_s = row.get("ddp_bucket_25_s", row["compute_only_s"])
        row["step_s"] = step_s
        row["samples_per_s"] = batch / step_s
        out["mlp"][str(batch)] = row

    # the reduction alone: DDP's path against a bare Allreduce of the same bytes
    model = mlp()
    ddp = cr.distributed.DistributedDataParallel(model)
    grads = [rng.normal(size=p.shape).astype(np.float32) for p in ddp._params]
    nbytes = sum(g.nbytes for g in grads)

    def ddp_reduce():
        run = _Pass(ddp)
        object.__setattr__(ddp, "_pass", run)
        for i, g in enumerate(grads):
            run.ready(i, g)
        run.finalize()
        for i in range(len(grads)):
            run.averaged(i)
        object.__setattr__(ddp, "_pass", None)

    send = np.concatenate([g.ravel() for g in grads])
    recv = np.empty_like(send)
    out["bytes"] = int(nbytes)
    out["ddp_allreduce_s"] = _median_time(
        _synced(ddp_reduce, comm), repeats, min_time, "reduce", comm
    )
    out["bare_allreduce_s"] = _median_time(
        _synced(lambda: comm.Allreduce(send, recv, op=MPI.SUM), comm), repeats, min_time, comm=comm
    )
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


# ------------------------------------------------------------------ the paper model
def model_table(c_mlp: float, c_cnn: float, p_mlp: int, p_cnn: int) -> list[str]:
    """Step time on N ranks, global batch B (strong scaling) or B per rank (weak):

        T(N) = c * b + max(0, A(N) - h * c * b)
        A(N) = 2 (N-1)/N * bytes / bandwidth + 2 (N-1) * latency     (ring all-reduce)

    c: compute seconds per sample on one core (measured), b: samples per rank,
    h: the part of the step (backward, about 2/3) that buckets can hide the
    all-reduce behind (overlap; 0 without it). Efficiency = T(1) * b1/b / T(N)
    relative to perfect scaling. Latency: 20 us per message at 10 Gbit/s (TCP),
    5 us at 100 Gbit/s (RDMA).
    """
    lines = []
    nets = {"10 Gbit/s": (10e9 / 8, 20e-6), "100 Gbit/s": (100e9 / 8, 5e-6)}
    for name, c, params in (("MLP", c_mlp, p_mlp), ("CNN", c_cnn, p_cnn)):
        nbytes = params * 4
        for scaling, per_rank in (("global batch 1024", None), ("128 per rank", 128)):
            for net, (bw, lat) in nets.items():
                cells = []
                for n in (8, 64, 512):
                    b = per_rank if per_rank else 1024 / n
                    a = 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * lat
                    compute = c * b
                    no_overlap = compute / (compute + a)
                    overlap = compute / (compute + max(0.0, a - (2 / 3) * compute))
                    cells.append(f"{100 * no_overlap:.0f}% / {100 * overlap:.0f}%")
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
    args = parser.parse_args()
    if args.worker:
        result = worker(args.repeats, args.min_time)
        if result:
            print("RESULT " + json.dumps(result), flush=True)
        return
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
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
        f"({ddp_ms / bare_ms:.2f}x); barrier alone {two['barrier_s'] * 1e6:.0f} us",
    ]
    for b in ("128", "1024"):
        row = two["mlp"][b]
        for mb in (25, 0.5):
            exposed = row[f"ddp_bucket_{mb}_s"] - row["compute_only_s"]
            hidden = 1 - max(exposed, 0.0) / two["ddp_allreduce_s"]
            lines.append(
                f"overlap, batch {b}, bucket {mb} MB: step {row[f'ddp_bucket_{mb}_s'] * 1e3:.2f} ms"
                f" against {row['compute_only_s'] * 1e3:.2f} ms without communication: "
                f"{exposed * 1e3:.2f} ms exposed, {100 * hidden:.0f}% of the all-reduce hidden"
            )
    c_mlp = one["mlp"]["1024"]["step_s"] / 1024
    c_cnn = one["cnn"]["step_s_32"] / 32
    lines += [
        "",
        f"paper model, calibrated: MLP {c_mlp * 1e6:.1f} us/sample, CNN "
        f"{c_cnn * 1e6:.1f} us/sample on one core; efficiency without / with overlap:",
        "",
        "| network | batch | link | 8 ranks | 64 ranks | 512 ranks |",
        "|---|---|---|---|---|---|",
    ]
    lines += model_table(c_mlp, c_cnn, one["params_mlp"], one["cnn"]["params"])
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
