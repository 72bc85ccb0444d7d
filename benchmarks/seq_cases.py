"""B6 (LSTM training step) and B7 (vision-transformer training step): chainrule
against PyTorch eager, the networks of ``chainrule train --model lstm`` and
``--model vit`` at batch 128, float32, SGD.

Standalone::

    python benchmarks/seq_cases.py [--cases B6 B7] [--rounds 15] [--threads N]

Both frameworks start from the same weights and take the same batch. The steps
run pair by pair (chainrule's, then PyTorch's, alternating which goes first) so
that a busy machine slows both alike; the report gives each one's median, the
ratio of medians and the median of the per-pair ratios. Also, per case:

- the losses of the first step agree (a check that the two compute the same);
- peak memory: how far the resident set grows, at its peak, from before the
  network is built through four steps (sampled by a thread), each framework in
  a fresh process (tracemalloc cannot see PyTorch's allocator);
- chainrule's time split: the same step compiled by ``cr.jit`` (straight-line
  NumPy: what the arrays cost), and within it the GEMMs, replayed alone with the
  step's shapes; eager minus compiled is graph building and Python overhead.
  Where cr.jit cannot compile the step, the line says why.
- the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

BATCH = 128
LR = 0.01
SHAPE = (1, 28, 28)


# ------------------------------------------------------------------ the networks
def chainrule_model(case: str) -> Any:
    import chainrule as cr
    from chainrule.commands.train_models import build_sequence_model

    cr.nn.manual_seed(0)
    return build_sequence_model("lstm" if case == "B6" else "vit", SHAPE, 10)


def torch_model(case: str) -> Any:
    """PyTorch twin of chainrule's network: same layers, same state-dict keys."""
    import torch
    from torch import nn

    from chainrule.commands import train_models as tm

    class RowLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(28, tm.LSTM_HIDDEN, batch_first=True)
            self.fc = nn.Linear(tm.LSTM_HIDDEN, 10)

        def forward(self, x):
            n, c, h, w = x.shape
            _, (h_n, _) = self.lstm(x.permute(0, 2, 1, 3).reshape(n, h, c * w))
            return self.fc(h_n[0])

    class VisionTransformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            g, d = tm.VIT_GRID, tm.VIT_DIM
            self.embed = nn.Linear((28 // g) ** 2, d)
            self.position = nn.Parameter(torch.zeros(g * g, d))
            layer = nn.TransformerEncoderLayer(
                d, tm.VIT_HEADS, tm.VIT_FF, dropout=0.0, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, tm.VIT_LAYERS, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
            self.head = nn.Linear(d, 10)

        def forward(self, x):
            n, c, h, w = x.shape
            g = tm.VIT_GRID
            p = h // g
            patches = x.reshape(n, c, g, p, g, p).permute(0, 2, 4, 1, 3, 5)
            tokens = self.embed(patches.reshape(n, g * g, c * p * p)) + self.position
            return self.head(self.norm(self.encoder(tokens)).mean(dim=1))

    return RowLSTM() if case == "B6" else VisionTransformer()


def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(BATCH, *SHAPE)).astype(np.float32), rng.integers(0, 10, BATCH)


# ------------------------------------------------------------------ the steps
def chainrule_step(case: str) -> tuple[Callable[[], float], Any]:
    import chainrule as cr

    model = chainrule_model(case)
    opt = cr.optim.SGD(model.parameters(), lr=LR)
    x, y = batch()
    xt = cr.tensor(x)

    def step() -> float:
        opt.zero_grad()
        loss = cr.nn.functional.cross_entropy(model(xt), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step, model


def torch_step(case: str, state: dict[str, np.ndarray]) -> Callable[[], float]:
    import torch

    model = torch_model(case)
    model.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = batch()
    xt, yt = torch.tensor(x), torch.tensor(y)

    def step() -> float:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def chainrule_jit_step(case: str, model: Any) -> Callable[[], float]:
    """The step's loss and gradients compiled by cr.jit: the parameters are the
    function's arguments (swapped into the model while it traces)."""
    import chainrule as cr

    named = list(model.named_parameters())
    owners = []
    for name, _ in named:
        *path, leaf = name.split(".")
        mod = model
        for part in path:
            mod = getattr(mod, part)
        owners.append((mod, leaf))

    def loss(params, xb, yb):
        saved = [getattr(m, leaf) for m, leaf in owners]
        try:
            for (m, leaf), p in zip(owners, params):
                object.__setattr__(m, leaf, p)
            return cr.nn.functional.cross_entropy(model(xb), yb)
        finally:
            for (m, leaf), p in zip(owners, saved):
                object.__setattr__(m, leaf, p)

    value_and_grad = cr.jit(cr.value_and_grad(loss))
    weights = [p.data.copy() for _, p in named]
    x, y = batch()
    for xb in (x, x, x[::-1].copy()):  # trace, verify, compile (as B2 does)
        value_and_grad(weights, xb, y)

    def step() -> float:
        value, grads = value_and_grad(weights, x, y)
        for w, g in zip(weights, grads):
            w -= LR * (g if isinstance(g, np.ndarray) else g.data)
        return value.item()

    return step


# ------------------------------------------------------------------ GEMM replay
def gemm_shapes(case: str) -> list[tuple[int, int, int]]:
    """(m, k, n) of every GEMM one training step makes (forward and backward)."""
    from chainrule.commands import train_models as tm

    n, steps, width = BATCH, 28, 28
    shapes: list[tuple[int, int, int]] = []

    def linear(rows: int, fin: int, fout: int, input_grad: bool = True) -> None:
        shapes.extend([(rows, fin, fout), (fout, rows, fin)])
        if input_grad:  # not for the first layer: the images need no gradient
            shapes.append((rows, fout, fin))

    if case == "B6":
        h = tm.LSTM_HIDDEN
        linear(n * steps, width, 4 * h, input_grad=False)  # input projection, all steps
        shapes.extend([(n, h, 4 * h)] * steps)  # forward recurrence
        shapes.extend([(n, 4 * h, h)] * steps)  # backward recurrence
        shapes.append((4 * h, n * steps, h))  # W_hh's gradient
        linear(n, h, 10)
        return shapes
    g, d, heads, ff = tm.VIT_GRID, tm.VIT_DIM, tm.VIT_HEADS, tm.VIT_FF
    t = g * g
    linear(n * t, (28 // g) ** 2, d, input_grad=False)
    for _ in range(tm.VIT_LAYERS):
        linear(n * t, d, 3 * d)
        linear(n * t, d, d)
        linear(n * t, d, ff)
        linear(n * t, ff, d)
        hd = d // heads
        # batched over n * heads: scores, weights @ v, and two backward GEMMs each
        shapes.extend([(t, hd, t), (t, t, hd)] * 3 * n * heads)
    linear(n, d, 10)
    return shapes


def gemm_seconds(shapes: list[tuple[int, int, int]], rounds: int = 5) -> float:
    """Median time of the GEMMs alone; batched small ones run as one batched call."""
    small: dict[tuple[int, int, int], int] = {}
    big = []
    for s in shapes:
        if max(s) <= 32:  # attention-sized: batched, as the step makes them
            small[s] = small.get(s, 0) + 1
        else:
            big.append(s)
    rng = np.random.default_rng(0)
    ops = []
    for m, k, n in big:
        ops.append(
            (rng.normal(size=(m, k)).astype(np.float32), rng.normal(size=(k, n)).astype(np.float32))
        )
    for (m, k, n), count in small.items():
        per = count // (BATCH * 4) or 1
        for _ in range(per):
            ops.append(
                (
                    rng.normal(size=(BATCH * 4, m, k)).astype(np.float32),
                    rng.normal(size=(BATCH * 4, k, n)).astype(np.float32),
                )
            )
    times = []
    for _ in range(rounds):
        t0 = time.process_time()
        for a, b in ops:
            a @ b
        times.append(time.process_time() - t0)
    return statistics.median(times)


def peak_gflops(n: int = 1024, rounds: int = 5) -> float:
    """The machine's float32 GEMM rate on a large square product (CPU time)."""
    a = np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)
    times = []
    for _ in range(rounds):
        t0 = time.process_time()
        a @ a
        times.append(time.process_time() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def gemm_gflop(shapes: list[tuple[int, int, int]]) -> float:
    return sum(2 * m * k * n for m, k, n in shapes) / 1e9


# ------------------------------------------------------------------ B6's arrays alone
def lstm_numpy_seconds(rounds: int = 7) -> float:
    """CPU time of B6's array work without a graph: the LSTM layer's forward and
    backward functions called directly, plus the input projection and the
    classifier with their gradients (what cr.jit would leave, had it kept the
    layer's saved-activation backward; it does not, see BENCHMARKS.md)."""
    from chainrule.commands import train_models as tm
    from chainrule.ops import recurrent

    rng = np.random.default_rng(0)
    steps, n, h = 28, BATCH, tm.LSTM_HIDDEN
    x = rng.normal(size=(steps * n, 28)).astype(np.float32)
    w_ih = rng.normal(size=(4 * h, 28)).astype(np.float32) * 0.1
    w_hh = rng.normal(size=(4 * h, h)).astype(np.float32) * 0.1
    w_fc = rng.normal(size=(10, h)).astype(np.float32) * 0.1
    zeros = np.zeros((n, h), dtype=np.float32)
    times = []
    for _ in range(rounds):
        t0 = time.process_time()
        xproj = (x @ w_ih.T).reshape(steps, n, 4 * h)
        ys = recurrent._lstm_forward(xproj, zeros, zeros, w_hh)
        logits = ys[-1, :, :h] @ w_fc.T
        g_last = (logits - logits.max(axis=1, keepdims=True)) @ w_fc  # stand-in softmax grad
        gy = np.zeros_like(ys)
        gy[-1, :, :h] = g_last
        da, _, _, _ = recurrent._walk_back_arrays(gy, w_hh, *recurrent._saved[id(ys)])
        da.reshape(-1, 4 * h).T @ x  # W_ih's gradient
        times.append(time.process_time() - t0)
    return statistics.median(times)


# ------------------------------------------------------------------ memory
def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def step_memory(case: str, framework: str) -> float:
    """MiB the resident set grows by, at its peak, from before the network is
    built through four training steps (sampled every 0.2 ms by a thread): weights,
    gradients, the graph's saved values, temporaries, and whatever the framework's
    allocator keeps. Run in a fresh process."""
    import threading

    state = None
    if framework == "torch":
        import torch  # noqa: F401  (imported before the baseline, as chainrule is)

        state = {k: v.numpy() for k, v in chainrule_model(case).state_dict().items()}
    sys.setswitchinterval(1e-4)
    base = _rss_bytes()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(2e-4)

    sampler = threading.Thread(target=sample)
    sampler.start()
    step = chainrule_step(case)[0] if state is None else torch_step(case, state)
    for _ in range(4):
        step()
    done.set()
    sampler.join()
    return (max(peak[0], _rss_bytes()) - base) / 2**20


def peak_step_memory(case: str, framework: str, threads: int) -> float:
    code = (
        "import sys; sys.path.insert(0, 'benchmarks'); import seq_cases as s;"
        f"s.set_threads({threads}, {framework == 'torch'});"
        f"print(s.step_memory('{case}', '{framework}'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=_ROOT
    )
    return float(out.stdout.strip().splitlines()[-1])


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def set_threads(n: int, torch_too: bool = True) -> None:
    import threadpoolctl

    threadpoolctl.threadpool_limits(n)
    if torch_too:
        import torch

        torch.set_num_threads(n)


# ------------------------------------------------------------------ the run
def paired(a: Callable[[], Any], b: Callable[[], Any], rounds: int) -> dict[str, list]:
    """Wall and CPU times of ``a`` and ``b``, one pair per round, alternating which
    runs first. CPU time (the process's) is what a busy machine disturbs least: it
    leaves out the time other processes held the cores."""
    times: dict[str, list] = {"a": [], "b": [], "a_cpu": [], "b_cpu": []}
    for r in range(rounds):
        order = (("a", a), ("b", b)) if r % 2 == 0 else (("b", b), ("a", a))
        for key, fn in order:
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
            times[key + "_cpu"].append(time.process_time() - c0)
    return times


def _summary(times: dict[str, list], name: str) -> dict[str, float]:
    med = statistics.median
    return {
        f"{name}_ms": med(times["a"]) * 1e3,
        "torch_ms": med(times["b"]) * 1e3,
        f"{name}_ratio": med(times["a"]) / med(times["b"]),
        f"{name}_pair_ratio": med(x / y for x, y in zip(times["a"], times["b"])),
        f"{name}_cpu_ms": med(times["a_cpu"]) * 1e3,
        "torch_cpu_ms": med(times["b_cpu"]) * 1e3,
        f"{name}_cpu_ratio": med(times["a_cpu"]) / med(times["b_cpu"]),
    }


def run_case(case: str, rounds: int, threads: int) -> dict[str, Any]:
    step, model = chainrule_step(case)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    tstep = torch_step(case, state)
    loss_cr, loss_torch = step(), tstep()
    result: dict[str, Any] = {"first losses": [loss_cr, loss_torch]}
    for _ in range(2):  # warm both up
        step(), tstep()
    result.update(_summary(paired(step, tstep, rounds), "chainrule"))
    try:
        jstep = chainrule_jit_step(case, chainrule_model(case))
        jit = _summary(paired(jstep, tstep, rounds), "jit")
        result.update({k: v for k, v in jit.items() if k.startswith("jit")})
    except Exception as exc:  # reported, not hidden: the jit row says why
        result["jit"] = f"not compiled: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    shapes = gemm_shapes(case)
    result["gemm_ms"] = gemm_seconds(shapes) * 1e3
    peak = peak_gflops()
    flops = gemm_gflop(shapes)
    result["gemm_gflop_per_step"] = flops
    result["peak_gflops"] = peak
    result["fraction_of_peak"] = {
        "step's GEMMs alone": flops / (result["gemm_ms"] / 1e3) / peak,
        "whole chainrule step": flops / (result["chainrule_cpu_ms"] / 1e3) / peak,
        "whole torch step": flops / (result["torch_cpu_ms"] / 1e3) / peak,
    }
    if case == "B6":  # cr.jit recomputes this layer's backward: replay its arrays instead
        result["numpy_work_cpu_ms"] = lstm_numpy_seconds() * 1e3
        result["split_cpu_ms"] = {
            "gemm": result["gemm_ms"],
            "other numpy (elementwise, copies)": result["numpy_work_cpu_ms"] - result["gemm_ms"],
            "graph and python overhead": result["chainrule_cpu_ms"] - result["numpy_work_cpu_ms"],
        }
    elif "jit_cpu_ms" in result:
        result["split_cpu_ms"] = {
            "gemm": result["gemm_ms"],
            "other numpy (elementwise, copies)": result["jit_cpu_ms"] - result["gemm_ms"],
            "graph and python overhead": result["chainrule_cpu_ms"] - result["jit_cpu_ms"],
        }
    result["peak_memory_mib"] = {
        fw: peak_step_memory(case, fw, threads) for fw in ("chainrule", "torch")
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["B6", "B7"], choices=["B6", "B7"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    report: dict[str, Any] = {"load_before": os.getloadavg(), "threads": args.threads}
    for case in args.cases:
        report[case] = run_case(case, args.rounds, args.threads)
        print(case, json.dumps(report[case], indent=1), flush=True)
    report["load_after"] = os.getloadavg()
    print("load average before", report["load_before"], "after", report["load_after"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
