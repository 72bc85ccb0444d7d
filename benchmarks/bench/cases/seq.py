"""B6 (LSTM step) and B7 (vision-transformer step): the networks of ``chainrule train
--model lstm`` and ``--model vit``, batch 128, float32, one SGD step (lr 0.01) per
call, in milliseconds per step.

- B6: sequential MNIST, each image read as 28 steps of 28 pixels, one LSTM of 128,
  Linear 128-10 on the last hidden state.
- B7: 7x7 patches (a 4x4 grid), width 64, a learned position, 4 pre-norm encoder
  layers of 4 heads (feed-forward 128, ReLU, no dropout), LayerNorm, mean over
  tokens, Linear 64-10.

Peers: torch eager (the baseline), chainrule through the nn API, and chainrule jit
(``cr.jit`` of the loss's ``value_and_grad`` with the parameters as arguments, SGD
in place), from the same initial weights and batch; each is checked against
torch's first two losses before it is timed. Also, per case: peak memory of each
peer in a fresh process, the GEMMs of one step replayed alone (their time and the
fraction of the machine's sgemm rate they reach), and chainrule's split of a step:
GEMM, the rest of the NumPy work (the jit step, which is only arrays, minus the
GEMMs), and graph building and Python (the nn step minus the jit step), all in CPU
time of this process, which a busy machine disturbs less than the wall clock.
"""

from __future__ import annotations

import importlib
import statistics
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
from bench.report import CaseReport, Skip, array_of, optional_import, rel_close
from bench.timing import Settings

SEQ_BATCH = 128
SEQ_LR = 0.01
SEQ_SHAPE = (1, 28, 28)
SEQ_LOSS_RTOL = 1e-4
SEQ_MEMORY_STEPS = 20
# The networks' sizes (chainrule.commands.train_models), here so that a worker that
# measures torch alone need not import chainrule; case_seq checks they agree.
LSTM_HIDDEN = 128
VIT_GRID, VIT_DIM, VIT_HEADS, VIT_LAYERS, VIT_FF = 4, 64, 4, 4, 128
TITLES = {
    "B6": "LSTM step: 28 steps of 28 pixels, LSTM 128, Linear 128-10; batch 128, float32, SGD",
    "B7": "ViT step: 7x7 patches, width 64, 4 heads, 4 pre-norm layers, ff 128; "
    "batch 128, float32, SGD",
}

# A peer is make(case, state, x, labels) -> step; step() runs one SGD step and
# returns the loss before it. ``state``: initial weights by state-dict key (None:
# the framework's own initialisation, for the memory workers).
SeqPeer = Callable[[str, Any, np.ndarray, np.ndarray], Callable[[], float]]


def seq_problem(case: str) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """chainrule's initial weights (seeded) and one fixed batch."""
    state = {k: v.numpy().copy() for k, v in _chainrule_model(case).state_dict().items()}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SEQ_BATCH, *SEQ_SHAPE)).astype(np.float32)
    return state, x, rng.integers(0, 10, SEQ_BATCH)


def _chainrule_model(case: str) -> Any:
    from chainrule.commands.train_models import build_sequence_model

    cr.nn.manual_seed(0)
    return build_sequence_model("lstm" if case == "B6" else "vit", SEQ_SHAPE, 10)


def seq_chainrule_nn(case, state, x, labels):
    """The network as `chainrule train` builds it, with optim.SGD."""
    model = _chainrule_model(case)
    if state is not None:
        model.load_state_dict({k: cr.tensor(v.copy()) for k, v in state.items()})
    optimizer = cr.optim.SGD(model.parameters(), lr=SEQ_LR)
    xt, target = cr.tensor(x), cr.tensor(labels)

    step = nn_step(model, optimizer, xt, target)

    return step


def seq_chainrule_jit(case, state, x, labels):
    """cr.jit of cr.value_and_grad of the loss, the parameters its arguments
    (swapped into the model while it traces); SGD in place on arrays."""
    model = _chainrule_model(case)
    if state is not None:
        model.load_state_dict({k: cr.tensor(v.copy()) for k, v in state.items()})
    owners = []
    for name, _ in model.named_parameters():
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
    ws = [p.data.copy() for _, p in model.named_parameters()]
    warm = [w.copy() for w in ws]
    for xb in (x, x, x[::-1].copy()):  # traced, compared, compiled (as B2 does)
        value_and_grad(warm, xb, labels)

    def step() -> float:
        value, grads = value_and_grad(ws, x, labels)
        for w, g in zip(ws, grads):
            w -= SEQ_LR * array_of(g)
        return float(array_of(value))

    return step


def _torch_model(case: str) -> Any:
    """PyTorch twin of chainrule's network: same layers, same state-dict keys."""
    torch = optional_import("torch")
    nn = importlib.import_module("torch.nn")

    class RowLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(28, LSTM_HIDDEN, batch_first=True)
            self.fc = nn.Linear(LSTM_HIDDEN, 10)

        def forward(self, x):
            n, c, h, w = x.shape
            _, (h_n, _) = self.lstm(x.permute(0, 2, 1, 3).reshape(n, h, c * w))
            return self.fc(h_n[0])

    class VisionTransformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            g, d = VIT_GRID, VIT_DIM
            self.embed = nn.Linear((28 // g) ** 2, d)
            self.position = nn.Parameter(torch.zeros(g * g, d))
            layer = nn.TransformerEncoderLayer(
                d, VIT_HEADS, VIT_FF, dropout=0.0, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, VIT_LAYERS, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
            self.head = nn.Linear(d, 10)

        def forward(self, x):
            n, c, h, w = x.shape
            p = h // VIT_GRID
            patches = x.reshape(n, c, VIT_GRID, p, VIT_GRID, p).permute(0, 2, 4, 1, 3, 5)
            tokens = self.embed(patches.reshape(n, VIT_GRID**2, c * p * p)) + self.position
            return self.head(self.norm(self.encoder(tokens)).mean(dim=1))

    return RowLSTM() if case == "B6" else VisionTransformer()


def seq_torch(case, state, x, labels):
    """The same network in torch.nn with torch.optim.SGD (eager)."""
    torch = optional_import("torch")
    model = _torch_model(case)
    if state is not None:
        model.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    optimizer = torch.optim.SGD(model.parameters(), lr=SEQ_LR)
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))
    cross_entropy = torch.nn.functional.cross_entropy

    def step() -> float:
        optimizer.zero_grad()
        loss = cross_entropy(model(xt), yt)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


SEQ_PEERS: list[tuple[str, SeqPeer]] = [
    ("torch eager", seq_torch),
    ("chainrule (nn)", seq_chainrule_nn),
    ("chainrule jit", seq_chainrule_jit),
]


def with_gemm_backend(backend: str, make: SeqPeer) -> SeqPeer:
    """The peer ``make`` with its steps' GEMMs by ``backend`` (cr.set_gemm_backend)."""

    def peer(case, state, x, labels):
        require_gemm_backend(backend)
        return gemm_backend_step(backend, make(case, state, x, labels))

    return peer


#: B6 only (B7 has no LSTM): the same steps with MKL's GEMMs (pip install mkl).
MKL_PEERS: list[tuple[str, SeqPeer]] = [
    ("chainrule mkl", with_gemm_backend("mkl", seq_chainrule_nn)),
    ("chainrule jit mkl", with_gemm_backend("mkl", seq_chainrule_jit)),
]


def with_conv_backend(backend: str, make: SeqPeer) -> SeqPeer:
    """The peer ``make`` built and run with chainrule's convolution backend set to
    ``backend`` (cr.set_conv_backend): built under it too, since nn.LSTM chooses its
    primitive (oneDNN's fused LSTM or lstm_layer) when cr.jit traces it."""

    def peer(case, state, x, labels):
        require_conv_backend(backend)
        build = conv_backend_step(backend, lambda: make(case, state, x, labels))
        return conv_backend_step(backend, build())

    return peer


#: With oneDNN selected (pip install onednn-cpu-gomp), as torch's: B6's nn.LSTM by its
#: fused LSTM; B7's float32 matrix products, layer normalisations and softmaxes by its
#: GEMM and primitives, all on one OpenMP pool.
ONEDNN_PEERS: list[tuple[str, SeqPeer]] = [
    ("chainrule onednn", with_conv_backend("onednn", seq_chainrule_nn)),
    ("chainrule jit onednn", with_conv_backend("onednn", seq_chainrule_jit)),
]


def seq_peers(case: str) -> list[tuple[str, SeqPeer]]:
    return SEQ_PEERS + MKL_PEERS + ONEDNN_PEERS if case == "B6" else SEQ_PEERS + ONEDNN_PEERS


# ------------------------------------------------------------------ GEMMs of a step
def gemm_shapes(case: str) -> list[tuple[int, int, int]]:
    """(m, k, n) of every GEMM one training step makes (forward and backward)."""
    n, steps, width = SEQ_BATCH, 28, 28
    shapes: list[tuple[int, int, int]] = []

    def linear(rows: int, fin: int, fout: int, input_grad: bool = True) -> None:
        shapes.extend([(rows, fin, fout), (fout, rows, fin)])
        if input_grad:  # not for the first layer: the images need no gradient
            shapes.append((rows, fout, fin))

    if case == "B6" and _compiled_lstm():
        # lstm_fused's compiled loop (chainrule.ops.recurrent_fused_loop): per step
        # [W_hh | W_ih | b] times [h; x_t; 1], and W_hh^T times the gates' gradient;
        # then the three weights' gradients, and x's, one GEMM each over all steps.
        h, k = LSTM_HIDDEN, LSTM_HIDDEN + width + 1
        shapes.extend([(4 * h, k, n)] * steps)
        shapes.extend([(h, 4 * h, n)] * steps)
        shapes.extend([(4 * h, steps * n, k), (steps * n, 4 * h, width)])
        linear(n, h, 10)
        return shapes
    if case == "B6":
        # Without the kernels nn.LSTM works feature-major (chainrule.ops.recurrent):
        # per step, (4H, N) gate inputs; the bias rides as one more column of W_ih.
        h = LSTM_HIDDEN
        shapes.extend([(4 * h, width + 1, n)] * steps)  # input projection, per step
        shapes.extend([(4 * h, n, width + 1)] * steps)  # [W_ih | b]'s gradient
        shapes.extend([(4 * h, h, n)] * steps)  # forward recurrence
        shapes.extend([(h, 4 * h, n)] * steps)  # backward recurrence
        shapes.extend([(4 * h, n, h)] * steps)  # W_hh's gradient, a step at a time
        linear(n, h, 10)
        return shapes
    t = VIT_GRID**2
    linear(n * t, (28 // VIT_GRID) ** 2, VIT_DIM, input_grad=False)
    for _ in range(VIT_LAYERS):
        linear(n * t, VIT_DIM, 3 * VIT_DIM)
        linear(n * t, VIT_DIM, VIT_DIM)
        linear(n * t, VIT_DIM, VIT_FF)
        linear(n * t, VIT_FF, VIT_DIM)
        hd = VIT_DIM // VIT_HEADS
        # batched over n * heads: scores, weights @ v, and two backward GEMMs each
        shapes.extend([(t, hd, t), (t, t, hd)] * 3 * n * VIT_HEADS)
    linear(n, VIT_DIM, 10)
    return shapes


def _compiled_lstm() -> bool:
    """Whether chainrule's float32 nn.LSTM runs on lstm_fused's compiled loop here."""
    from chainrule.ops import recurrent_fused_loop

    return recurrent_fused_loop.serves(np.dtype(np.float32))


def gemm_cpu_seconds(shapes: list[tuple[int, int, int]], rounds: int) -> float:
    """Median CPU time of the GEMMs alone; the attention-sized ones run batched, as
    the step makes them."""
    small: dict[tuple[int, int, int], int] = {}
    ops = []
    rng = np.random.default_rng(0)
    for s in shapes:
        if max(s) <= 32:
            small[s] = small.get(s, 0) + 1
        else:
            m, k, n = s
            ops.append((rng.random((m, k), np.float32), rng.random((k, n), np.float32)))
    stack = SEQ_BATCH * VIT_HEADS
    for (m, k, n), count in small.items():
        for _ in range(count // stack or 1):
            ops.append(
                (rng.random((stack, m, k), np.float32), rng.random((stack, k, n), np.float32))
            )
    return _cpu_median(lambda: [a @ b for a, b in ops], rounds)


def _cpu_median(fn: Callable[[], Any], rounds: int) -> float:
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def sgemm_cpu_rate(rounds: int) -> float:
    """float32 GFLOP/s of a 1024x1024 GEMM in CPU time (one thread busy per core)."""
    a = np.random.default_rng(0).random((1024, 1024), np.float32)
    return 2 * 1024**3 / _cpu_median(lambda: a @ a, rounds) / 1e9


# ------------------------------------------------------------------ checks, memory
def seq_check(make: SeqPeer, case: str, problem, reference: list[float]) -> str | None:
    """None if the peer's first two losses match torch's, else why not."""
    if not reference:
        return None
    step = make(case, *problem)
    for which, want in zip(("first", "second"), reference):
        got = step()
        if not rel_close(got, want, SEQ_LOSS_RTOL):
            return f"{which} loss {got!r}, torch {want!r}"
    return None


def seq_memory_worker(case: str, peer: str, steps: int) -> dict[str, Any]:
    """Peak RSS (VmHWM) over ``steps`` steps in this fresh process, and before them
    (after one step: the framework, the network and its first step)."""
    from bench.process import peak_rss_mb

    make = dict(seq_peers(case))[peer]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SEQ_BATCH, *SEQ_SHAPE)).astype(np.float32)
    try:
        step = make(case, None, x, rng.integers(0, 10, SEQ_BATCH))
    except Skip as exc:
        return {"skip": str(exc)}
    step()
    base = peak_rss_mb()
    for _ in range(steps):
        step()
    return {"baseline_peak_mb": base, "peak_mb": peak_rss_mb()}


# ------------------------------------------------------------------ the cases
def _cpu_step_ms(step: Callable[[], Any], rounds: int) -> float:
    return _cpu_median(step, rounds) * 1e3


def case_seq(case: str, settings: Settings) -> CaseReport:
    from chainrule.commands import train_models as tm

    ours = (LSTM_HIDDEN, VIT_GRID, VIT_DIM, VIT_HEADS, VIT_LAYERS, VIT_FF)
    theirs = (tm.LSTM_HIDDEN, tm.VIT_GRID, tm.VIT_DIM, tm.VIT_HEADS, tm.VIT_LAYERS, tm.VIT_FF)
    if ours != theirs:
        raise RuntimeError(f"{case}: the benchmark's network sizes {ours} are not train's {theirs}")
    report = CaseReport(
        case=case,
        title=TITLES[case],
        unit="ms/step",
        baselines=["torch eager"],
        columns=["peak MB"],
    )
    problem = seq_problem(case)
    try:
        tstep = seq_torch(case, *problem)
        reference = [tstep(), tstep()]
    except Skip:
        reference = []
        report.notes.append("torch is not installed: the chainrule peers ran unchecked")
    steps = {}
    for name, make in seq_peers(case):
        try:
            why = seq_check(make, case, problem, reference)
            if why:
                report.wrong(name, why)
                continue
            steps[name] = make(case, *problem)
        except Skip as exc:
            report.skip(name, str(exc))
            continue
        report.queue(name, steps[name], 1e3)
    report.time_queued(settings)
    memory_steps = 4 if settings.quick else SEQ_MEMORY_STEPS
    for row in report.rows:
        if row.status == "ok":
            out = spawn_worker(
                {"kind": "seq-memory", "case": case, "peer": row.peer, "steps": memory_steps}
            )
            if "peak_mb" in out:
                row.extra["peak MB"] = out["peak_mb"]
    rounds = 3 if settings.quick else settings.repeats
    _split(report, case, steps, rounds)
    report.notes.append(
        f"peak MB is VmHWM after {memory_steps} steps in a fresh process per peer; "
        "checks['split_cpu_ms'] is chainrule's step in CPU time: GEMM (replayed alone), "
        "the rest of the NumPy work (the jit step minus the GEMMs) and graph building "
        "and Python (the nn step minus the jit step)."
    )
    return report.finish()


def _split(report: CaseReport, case: str, steps: dict, rounds: int) -> None:
    """CPU-time split of chainrule's step and the fraction of sgemm peak reached."""
    shapes = gemm_shapes(case)
    gflop = sum(2 * m * k * n for m, k, n in shapes) / 1e9
    gemm_ms = gemm_cpu_seconds(shapes, rounds) * 1e3
    peak = sgemm_cpu_rate(rounds)
    cpu = {name: _cpu_step_ms(step, rounds) for name, step in steps.items()}
    report.checks["cpu_ms_per_step"] = cpu
    report.checks["gemm_gflop_per_step"] = gflop
    report.checks["sgemm_1024_cpu_gflops"] = peak
    fraction = {"the step's GEMMs alone": gflop / (gemm_ms / 1e3) / peak}
    for name, ms in cpu.items():
        fraction[f"whole {name} step"] = gflop / (ms / 1e3) / peak
    report.checks["fraction_of_sgemm_peak"] = fraction
    if "chainrule (nn)" in cpu and "chainrule jit" in cpu:
        report.checks["split_cpu_ms"] = {
            "gemm": gemm_ms,
            "other numpy (elementwise, copies)": cpu["chainrule jit"] - gemm_ms,
            "graph and python overhead": cpu["chainrule (nn)"] - cpu["chainrule jit"],
        }


def case_b6(settings: Settings) -> CaseReport:
    return case_seq("B6", settings)


def case_b7(settings: Settings) -> CaseReport:
    return case_seq("B7", settings)
