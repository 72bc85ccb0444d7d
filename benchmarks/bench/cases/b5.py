"""B5 CNN step: `chainrule train --model cnn`'s network, batch 128, float32, SGD.

Conv2d(1, 16, 3, padding 1), ReLU, MaxPool2d(2), Conv2d(16, 32, 3, padding 1), ReLU,
MaxPool2d(2), Flatten, Linear(1568, 128), ReLU, Linear(128, 10); mean cross-entropy;
one SGD step (lr 0.01) per call, in milliseconds per step. Peers: chainrule through
the nn API (as `chainrule train` runs it), chainrule jit (`cr.jit` of the functional
loss's `value_and_grad`, SGD in place) and torch eager (the baseline), all from the
same initial weights and batch. Also: peak memory of each in a fresh process, where
chainrule's step spends its time, and the fraction of the machine's GEMM rate the
step reaches.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.cases.steps import (
    conv_backend_step,
    gemm_backend_step,
    nn_step,
    require_conv_backend,
    require_gemm_backend,
)
from bench.env import cr
from bench.process import spawn_worker
from bench.profiling import profile_chainrule
from bench.report import CaseReport, Skip, array_of, optional_import, rel_close
from bench.timing import Settings

B5_BATCH = 128
B5_LR = 0.01
B5_SEED = 20240605
B5_LOSS_RTOL = 1e-4
B5_UPDATE_RTOL = 2e-3  # relative to the largest entry, on (w0 - w1) / lr in float32
B5_MEMORY_STEPS = 50
# (name, shape) of the parameters in PyTorch's order and layout (state-dict keys).
B5_PARAMS = (
    ("0.weight", (16, 1, 3, 3)),
    ("0.bias", (16,)),
    ("3.weight", (32, 16, 3, 3)),
    ("3.bias", (32,)),
    ("7.weight", (128, 1568)),
    ("7.bias", (128,)),
    ("9.weight", (10, 128)),
    ("9.bias", (10,)),
)
# Multiply-adds of one sample: each conv's forward is 28*28 (14*14) outputs of
# C_out x C_in*9; its backward is the same again for the weight gradient and, for
# the second conv only, once more for the input gradient (the first conv's input
# needs none). The linears: forward, weight gradient, and the second's input gradient.
_CONV1 = 28 * 28 * 16 * 9
_CONV2 = 14 * 14 * 32 * 16 * 9
_FC1, _FC2 = 1568 * 128, 128 * 10
B5_FLOPS_PER_SAMPLE = 2 * (2 * _CONV1 + 3 * _CONV2 + 2 * _FC1 + 3 * _FC2)


def b5_problem(batch: int = B5_BATCH) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Initial parameters (by state-dict key) and one fixed batch, float32, seeded."""
    rng = np.random.default_rng(B5_SEED)
    params = {}
    for name, shape in B5_PARAMS:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else None
        bound = 1.0 / math.sqrt(fan_in or params[name.replace("bias", "weight")][0].size)
        params[name] = rng.uniform(-bound, bound, shape).astype(np.float32)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, batch)
    return params, x, labels


# A peer is make(params, x, labels) -> (step, read); step() runs one SGD step and
# returns the loss before it; read() returns the parameters by state-dict key.
B5Peer = Callable[[dict, np.ndarray, np.ndarray], tuple[Callable[[], float], Callable[[], dict]]]


def b5_chainrule_nn(params, x, labels):
    """The network as `chainrule train --model cnn` builds it, with optim.SGD."""
    from chainrule.commands.train import build_model

    model = build_model("cnn", (1, 28, 28))
    model.load_state_dict({k: cr.tensor(v.copy()) for k, v in params.items()})
    optimizer = cr.optim.SGD(model.parameters(), lr=B5_LR)
    xt, target = cr.tensor(x), cr.tensor(labels)

    step = nn_step(model, optimizer, xt, target)

    def read() -> dict:
        return {k: v.numpy() for k, v in model.state_dict().items()}

    return step, read


def _b5_loss(w1, b1, w2, b2, w3, b3, w4, b4, xb, yb):
    F = cr.nn.functional
    h = F.max_pool2d(F.relu(F.conv2d(xb, w1, b1, padding=1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=1)), 2)
    h = F.relu(F.linear(h.reshape(h.shape[0], -1), w3, b3))
    return F.cross_entropy(F.linear(h, w4, b4), yb)


def b5_chainrule_jit(params, x, labels):
    """cr.jit of cr.value_and_grad of the functional loss; SGD in place on arrays."""
    value_and_grad = cr.jit(cr.value_and_grad(_b5_loss, argnums=tuple(range(8))))
    ws = [p.copy() for p in params.values()]
    warm = [p.copy() for p in params.values()]
    # Two steps on one batch (traced, compared, compiled), then another batch.
    for xb, yb in ((x, labels), (x, labels), (x[::-1].copy(), labels[::-1].copy())):
        _, grads = value_and_grad(*warm, xb, yb)
        for w, g in zip(warm, grads):
            w -= B5_LR * array_of(g)

    def step() -> float:
        value, grads = value_and_grad(*ws, x, labels)
        for w, g in zip(ws, grads):
            w -= B5_LR * array_of(g)
        return float(array_of(value))

    return step, lambda: dict(zip(params, ws))


def b5_torch(params, x, labels):
    """The same network in torch.nn with torch.optim.SGD (eager)."""
    torch = optional_import("torch")
    nn = importlib.import_module("torch.nn")
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(1568, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )
    model.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    optimizer = torch.optim.SGD(model.parameters(), lr=B5_LR)
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))
    cross_entropy = nn.functional.cross_entropy

    def step() -> float:
        optimizer.zero_grad()
        loss = cross_entropy(model(xt), yt)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step, lambda: {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _with_backend(require: Callable, switched: Callable, backend: str, make: B5Peer) -> B5Peer:
    """The peer ``make`` with one of chainrule's backends set to ``backend`` while its
    steps run (``require`` skips the peer where it cannot load)."""

    def peer(params, x, labels):
        require(backend)
        step, read = make(params, x, labels)
        return switched(backend, step), read

    return peer


def _with_gemm_backend(backend: str, make: B5Peer) -> B5Peer:
    """The peer with its steps' GEMMs by ``backend`` (cr.set_gemm_backend)."""
    return _with_backend(require_gemm_backend, gemm_backend_step, backend, make)


def _with_conv_backend(backend: str, make: B5Peer) -> B5Peer:
    """The peer with its convolutions and max pools by ``backend`` (cr.set_conv_backend)."""
    return _with_backend(require_conv_backend, conv_backend_step, backend, make)


B5_PEERS: list[tuple[str, B5Peer]] = [
    ("torch eager", b5_torch),
    ("chainrule (nn)", b5_chainrule_nn),
    ("chainrule jit", b5_chainrule_jit),
    # the convolutions' GEMMs by Intel MKL (pip install mkl); skipped without it
    ("chainrule mkl", _with_gemm_backend("mkl", b5_chainrule_nn)),
    ("chainrule jit mkl", _with_gemm_backend("mkl", b5_chainrule_jit)),
    # the convolutions by Intel oneDNN (pip install onednn-cpu-gomp); skipped without it
    ("chainrule onednn", _with_conv_backend("onednn", b5_chainrule_nn)),
    ("chainrule jit onednn", _with_conv_backend("onednn", b5_chainrule_jit)),
]


def b5_reference(problem) -> dict[str, Any]:
    """torch's loss before and after one step, and its update; None without torch."""
    try:
        step, read = b5_torch(*problem)
    except Skip:
        return {}
    first = step()
    after_one = {k: v.copy() for k, v in read().items()}
    return {"loss": [first, step()], "after_one": after_one}


def b5_check(make: B5Peer, problem, reference) -> str | None:
    """None if the peer's two losses and first update match torch's, else why not."""
    if not reference:
        return None
    params = problem[0]
    step, read = make(*problem)
    first = step()
    after = {k: v.copy() for k, v in read().items()}
    second = step()
    for got, want, which in zip((first, second), reference["loss"], ("first", "second")):
        if not rel_close(got, want, B5_LOSS_RTOL):
            return f"{which} loss {got!r}, torch {want!r}"
    for name, p0 in params.items():
        mine = (p0 - after[name]) / B5_LR
        theirs = (p0 - reference["after_one"][name]) / B5_LR
        scale = max(float(np.abs(theirs).max()), 1e-12)
        err = float(np.abs(mine - theirs).max()) / scale
        if err > B5_UPDATE_RTOL:
            return f"update of {name} differs from torch's by {err:.2e} of its largest entry"
    return None


def b5_memory_worker(peer: str, steps: int) -> dict[str, Any]:
    """Peak RSS (VmHWM) of ``steps`` steps in this fresh process (see case_memory)."""
    from bench.process import peak_rss_mb, rss_now_mb

    make = dict(B5_PEERS)[peer]
    try:
        step, _ = make(*b5_problem())
    except Skip as exc:
        return {"skip": str(exc)}
    step()
    base = peak_rss_mb()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return {
        "baseline_peak_mb": base,
        "peak_mb": peak_rss_mb(),
        "rss_end_mb": rss_now_mb(),
        "ms_per_step": (time.perf_counter() - t0) / steps * 1e3,
    }


def _profile_group(filename: str, func: str) -> str:
    """Which kind of work a profiled function of the B5 step is."""
    path = filename.replace("\\", "/")
    if "ops/conv" in path:
        return "convolution (window copies and GEMM)"
    if "ops/nn_ops" in path:
        if "im2col" in func or "col2im" in func or "windows" in func:
            return "im2col / col2im (copies)"
        if "pool" in func or "max" in func:
            return "max-pool and its gradient"
        if "linear" in func or "lambda" in func or "flat2" in func:
            return "GEMM (linear and its rules)"
        return "loss (softmax cross-entropy, class weights)"
    if "matmul" in func or "linalg" in path:
        return "GEMM (linear and its rules)"
    if "ops/" in path or "ufunc" in func or "method 'reduce'" in func:
        return "elementwise and reductions (ReLU, sums, SGD)"
    if "numpy" in path or "numpy" in func:
        return "NumPy helpers (pad, copies, reshapes)"
    return "Python overhead (engine, Tensors, modules, optimizer)"


def b5_profile(report: CaseReport) -> None:
    """cProfile chainrule's nn step, grouped into GEMM, im2col/col2im, elementwise
    and the Python around them (the profiler's own cost inflates the last)."""
    step, _ = b5_chainrule_nn(*b5_problem())
    report.checks["profile"] = profile_chainrule(
        step, 10, 1, "step", "cProfile, 10 chainrule (nn) B5 steps", _profile_group
    )


def _gemm_rate(settings: Settings) -> float:
    """float32 GFLOP/s of a 2048x2048 sgemm with NumPy (median of a few)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, 2048)).astype(np.float32)
    times = []
    a @ a
    for _ in range(3 if settings.quick else 7):
        t0 = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - t0)
    return 2 * 2048**3 / float(np.median(times)) / 1e9


def case_b5(settings: Settings) -> CaseReport:
    report = CaseReport(
        case="B5",
        title="CNN step: conv 16, conv 32 (3x3), max-pool, Linear 1568-128-10; "
        f"batch {B5_BATCH}, float32, SGD",
        unit="ms/step",
        baselines=["torch eager"],
        columns=["GFLOP/s", "% sgemm peak", "peak MB"],
    )
    problem = b5_problem()
    reference = b5_reference(problem)
    if not reference:
        report.notes.append("torch is not installed: the chainrule peers ran unchecked")
    for name, make in B5_PEERS:
        try:
            why = b5_check(make, problem, reference)
            if why:
                report.wrong(name, why)
                continue
            step, _ = make(*b5_problem())
        except Skip as exc:
            report.skip(name, str(exc))
            continue
        report.queue(name, step, 1e3)
    report.time_queued(settings)
    peak = _gemm_rate(settings)
    report.checks["sgemm_2048_gflops"] = peak
    flops = B5_FLOPS_PER_SAMPLE * B5_BATCH
    steps = 10 if settings.quick else B5_MEMORY_STEPS
    for row in report.rows:
        if row.median:
            rate = flops / (row.median / 1e3) / 1e9
            row.extra["GFLOP/s"] = rate
            row.extra["% sgemm peak"] = 100 * rate / peak
        if row.status == "ok":
            out = spawn_worker({"kind": "b5-memory", "peer": row.peer, "steps": steps})
            if "peak_mb" in out:
                row.extra["peak MB"] = out["peak_mb"]
    report.notes.append(
        f"{B5_FLOPS_PER_SAMPLE * 1e-6:.2f} MFLOP per sample (forward, weight gradients, "
        "input gradients but the first conv's); % sgemm peak is against NumPy's float32 "
        f"2048x2048 GEMM here ({peak:.0f} GFLOP/s); peak MB is VmHWM after {steps} steps "
        "in a fresh process per peer."
    )
    if settings.profile:
        b5_profile(report)
    return report.finish()
