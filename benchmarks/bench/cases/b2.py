"""B2 MLP step: 784-512-256-10, SGD, float32, per step."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.cases.steps import nn_step
from bench.env import cr
from bench.report import CaseReport, Skip, array_of, optional_import, optional_jax, rel_close
from bench.timing import Settings

B2_SIZES = (784, 512, 256, 10)
B2_LR = 0.01
B2_SEED = 20240601
B2_LOSS_RTOL = 1e-4
B2_GRAD_RTOL = 2e-3  # relative to the largest entry, on (w0 - w1) / lr in float32


def b2_problem(batch: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Initial parameters [W1, b1, W2, b2, W3, b3] and one fixed batch, float32.

    Weights and biases are uniform in +-1/sqrt(fan_in) (nn.Linear's default range),
    drawn from a seeded generator so that every peer starts from the same numbers.
    """
    rng = np.random.default_rng(B2_SEED)
    params = []
    for fan_in, fan_out in zip(B2_SIZES[:-1], B2_SIZES[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, (fan_out,)).astype(np.float32))
    x = rng.standard_normal((batch, B2_SIZES[0])).astype(np.float32)
    labels = rng.integers(0, B2_SIZES[-1], batch)
    return params, x, labels


# A peer is make(params, x, labels) -> (step, read); step() runs one SGD step and
# returns the loss before the update; read() returns the parameters as arrays.
B2Peer = Callable[[list, np.ndarray, np.ndarray], tuple[Callable[[], float], Callable[[], list]]]


def b2_numpy(params, x, labels):
    """The step written out by hand: forward, the derivative of each layer, update."""
    w1, b1, w2, b2, w3, b3 = [p.copy() for p in params]
    n = x.shape[0]
    rows = np.arange(n)
    lr = np.float32(B2_LR)

    def step() -> float:
        z1 = x @ w1 + b1
        a1 = np.maximum(z1, 0)
        z2 = a1 @ w2 + b2
        a2 = np.maximum(z2, 0)
        z3 = a2 @ w3 + b3
        m = z3.max(axis=1, keepdims=True)
        logp = z3 - (np.log(np.exp(z3 - m).sum(axis=1, keepdims=True)) + m)
        loss = -logp[rows, labels].mean()
        # d loss / d z3 = (softmax - onehot) / n
        dz3 = np.exp(logp)
        dz3[rows, labels] -= 1
        dz3 /= n
        dw3 = a2.T @ dz3
        db3 = dz3.sum(axis=0)
        dz2 = dz3 @ w3.T
        dz2 *= z2 > 0
        dw2 = a1.T @ dz2
        db2 = dz2.sum(axis=0)
        dz1 = dz2 @ w2.T
        dz1 *= z1 > 0
        dw1 = x.T @ dz1
        db1 = dz1.sum(axis=0)
        for p, d in ((w1, dw1), (b1, db1), (w2, dw2), (b2, db2), (w3, dw3), (b3, db3)):
            p -= lr * d
        return float(loss)

    return step, lambda: [w1, b1, w2, b2, w3, b3]


def _b2_chainrule_sgd(params, loss_of):
    """A chainrule B2 peer from ``loss_of(w1, b1, w2, b2, w3, b3)``: backward, then
    a plain SGD update of the weights' data without recording."""
    ps = [cr.tensor(p, requires_grad=True) for p in params]  # cr.tensor copies

    def step() -> float:
        loss = loss_of(*ps)
        loss.backward()
        with cr.no_grad():
            for p in ps:
                p.data -= B2_LR * p.grad.data
                p.grad = None
        return loss.item()

    return step, lambda: [p.data for p in ps]


def b2_chainrule(params, x, labels):
    """Tensor ops and the fused F.cross_entropy, as the torch peer is written."""
    xt = cr.tensor(x)
    target = cr.tensor(labels)
    cross_entropy = cr.nn.functional.cross_entropy

    def loss_of(w1, b1, w2, b2, w3, b3):
        h1 = cr.relu(xt @ w1 + b1)
        h2 = cr.relu(h1 @ w2 + b2)
        return cross_entropy(h2 @ w3 + b3, target)

    return _b2_chainrule_sgd(params, loss_of)


def b2_chainrule_jit(params, x, labels):
    """cr.jit of cr.value_and_grad of the chainrule row's loss (the batch is an
    argument); SGD in place on the weight arrays."""
    cross_entropy = cr.nn.functional.cross_entropy

    def loss(w1, b1, w2, b2, w3, b3, xb, yb):
        h1 = cr.relu(xb @ w1 + b1)
        h2 = cr.relu(h1 @ w2 + b2)
        return cross_entropy(h2 @ w3 + b3, yb)

    value_and_grad = cr.jit(cr.value_and_grad(loss, argnums=(0, 1, 2, 3, 4, 5)))
    ws = [p.copy() for p in params]
    # As a training loop starts: two steps on one batch (traced, compared, compiled),
    # then another batch (traced once more, as the batch was the same in the first
    # two). Then the timed steps run compiled code, with no input left to compare.
    warm = [p.copy() for p in params]
    for xb, yb in ((x, labels), (x, labels), (x[::-1].copy(), labels[::-1].copy())):
        _, grads = value_and_grad(*warm, xb, yb)
        for w, g in zip(warm, grads):
            w -= B2_LR * array_of(g)

    def step() -> float:
        value, grads = value_and_grad(*ws, x, labels)
        for w, g in zip(ws, grads):
            w -= B2_LR * array_of(g)
        return value.item()

    return step, lambda: ws


def b2_chainrule_log_softmax(params, x, labels):
    """The loss spelled out: log_softmax, integer-array indexing, mean."""
    xt = cr.tensor(x)
    rows = np.arange(x.shape[0])

    def loss_of(w1, b1, w2, b2, w3, b3):
        h1 = cr.relu(xt @ w1 + b1)
        h2 = cr.relu(h1 @ w2 + b2)
        logp = cr.log_softmax(h2 @ w3 + b3, axis=-1)
        return -logp[rows, labels].mean()

    return _b2_chainrule_sgd(params, loss_of)


def b2_chainrule_nn(params, x, labels):
    """The same step as a user of the nn API writes it: Sequential of Linear and
    ReLU, F.cross_entropy (fused softmax cross-entropy), optim.SGD."""
    nn = cr.nn
    model = nn.Sequential(
        nn.Linear(B2_SIZES[0], B2_SIZES[1]),
        nn.ReLU(),
        nn.Linear(B2_SIZES[1], B2_SIZES[2]),
        nn.ReLU(),
        nn.Linear(B2_SIZES[2], B2_SIZES[3]),
    )
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with cr.no_grad():
        for layer, w, b in zip(linears, params[0::2], params[1::2]):
            layer.weight.data = np.ascontiguousarray(w.T)  # Linear keeps (out, in)
            layer.bias.data = b.copy()
    optimizer = cr.optim.SGD(model.parameters(), lr=B2_LR)
    xt = cr.tensor(x)
    target = cr.tensor(labels)

    step = nn_step(model, optimizer, xt, target)

    def read() -> list[np.ndarray]:
        out = []
        for layer in linears:
            out += [layer.weight.data.T, layer.bias.data]
        return out

    return step, read


def b2_torch(params, x, labels):
    torch = optional_import("torch")
    functional = importlib.import_module("torch.nn.functional")
    ps = [torch.tensor(p, requires_grad=True) for p in params]  # copies
    w1, b1, w2, b2, w3, b3 = ps
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(labels.astype(np.int64))

    def step() -> float:
        h1 = torch.relu(xt @ w1 + b1)
        h2 = torch.relu(h1 @ w2 + b2)
        loss = functional.cross_entropy(h2 @ w3 + b3, yt)  # log_softmax + NLL, mean
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p -= B2_LR * p.grad
                p.grad = None
        return loss.item()

    return step, lambda: [p.detach().numpy() for p in ps]


def b2_jax(params, x, labels):
    jax = optional_jax()
    jnp = jax.numpy
    xt, yt = jnp.asarray(x), jnp.asarray(labels.astype(np.int32))

    def loss_fn(ps, x, labels):
        w1, b1, w2, b2, w3, b3 = ps
        h1 = jax.nn.relu(x @ w1 + b1)
        h2 = jax.nn.relu(h1 @ w2 + b2)
        logp = jax.nn.log_softmax(h2 @ w3 + b3, axis=-1)
        return -jnp.take_along_axis(logp, labels[:, None], axis=1).mean()

    @jax.jit
    def update(ps, x, labels):
        loss, grads = jax.value_and_grad(loss_fn)(ps, x, labels)
        return [p - np.float32(B2_LR) * g for p, g in zip(ps, grads)], loss

    state = [[jnp.asarray(p) for p in params]]

    def step() -> float:
        state[0], loss = update(state[0], xt, yt)
        return float(loss)  # waits for the result

    return step, lambda: [np.asarray(p) for p in state[0]]


def b2_mygrad(params, x, labels):
    mg = optional_import("mygrad")
    act = optional_import("mygrad.nnet.activations")
    ps = [mg.tensor(p, copy=True) for p in params]
    w1, b1, w2, b2, w3, b3 = ps
    rows = np.arange(x.shape[0])
    lr = np.float32(B2_LR)

    def step() -> float:
        h1 = act.relu(x @ w1 + b1)
        h2 = act.relu(h1 @ w2 + b2)
        logp = act.logsoftmax(h2 @ w3 + b3, axis=-1)
        loss = -logp[rows, labels].mean()
        loss.backward()
        for p in ps:
            p.data -= lr * p.grad
        return loss.item()

    return step, lambda: [p.data for p in ps]


B2_PEERS: list[tuple[str, B2Peer, str]] = [
    ("numpy (hand-written)", b2_numpy, "forward and backward derived by hand"),
    ("chainrule", b2_chainrule, "tensor ops + F.cross_entropy"),
    (
        "chainrule log_softmax",
        b2_chainrule_log_softmax,
        "loss as log_softmax, integer-array indexing, mean",
    ),
    ("chainrule nn API", b2_chainrule_nn, "nn.Sequential, F.cross_entropy, optim.SGD"),
    ("chainrule jit", b2_chainrule_jit, "cr.jit(cr.value_and_grad(loss)) + SGD in place"),
    ("torch eager", b2_torch, "tensor ops + F.cross_entropy"),
    ("jax jit", b2_jax, "jax.jit of value_and_grad + SGD update, CPU"),
    ("mygrad", b2_mygrad, "relu, logsoftmax, integer-array indexing, mean"),
]


def b2_check(make: B2Peer, problem, reference) -> str | None:
    """Two steps from the initial weights: the losses (before and after one update)
    and the update itself, (w0 - w1) / lr = the gradient, must match the reference."""
    params, x, labels = problem
    step, _ = make(params, x, labels)
    losses = (step(), step())
    for k, (got, want) in enumerate(zip(losses, reference["losses"])):
        if not rel_close(got, want, B2_LOSS_RTOL):
            return f"loss at step {k + 1}: {got!r}, expected {want!r}"
    step, read = make(params, x, labels)
    step()
    for k, (p0, p1, g_ref) in enumerate(zip(params, read(), reference["grads"])):
        g = (p0.astype(np.float64) - p1) / B2_LR
        err = np.max(np.abs(g - g_ref))
        if err > B2_GRAD_RTOL * np.max(np.abs(g_ref)):
            top = np.abs(g_ref).max()
            return f"gradient of parameter {k} differs by {err:.3g} (largest entry {top:.3g})"
    return None


def b2_reference(problem) -> dict[str, Any]:
    params, x, labels = problem
    step, read = b2_numpy(params, x, labels)
    losses = [step()]
    grads = [(p0.astype(np.float64) - p1) / B2_LR for p0, p1 in zip(params, read())]
    losses.append(step())
    return {"losses": losses, "grads": grads}


def case_b2(settings: Settings) -> CaseReport:
    report = CaseReport(
        case="B2",
        title="MLP SGD step: 784-512-256-10, ReLU, softmax cross-entropy (mean), "
        f"lr={B2_LR}, float32; forward + backward + update",
        unit="ms/step",
        baselines=["numpy (hand-written)"],
    )
    for batch in settings.batches:
        problem = b2_problem(batch)
        reference = b2_reference(problem)
        report.checks[f"batch {batch}"] = {"losses": reference["losses"]}
        for name, make, note in B2_PEERS:
            peer = f"{name} [batch {batch}]"
            try:
                problem_text = b2_check(make, problem, reference)
                params, x, labels = problem
                step, _ = make(params, x, labels)
            except Skip as exc:
                report.skip(peer, str(exc))
                continue
            if problem_text:
                report.wrong(peer, problem_text)
                continue
            report.queue(peer, step, 1e3, note)
        report.time_queued(settings)
    # Ratios compare peers at the same batch size.
    report.baselines = [f"numpy (hand-written) [batch {b}]" for b in settings.batches]
    report.finish()
    for row in report.rows:
        batch_tag = row.peer[row.peer.rfind("[") :]
        row.ratios = {k: v for k, v in row.ratios.items() if k.endswith(batch_tag)}
        row.paired = {k: v for k, v in row.paired.items() if k.endswith(batch_tag)}
    return report
