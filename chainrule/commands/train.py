"""``chainrule train``: train an MLP, a CNN, an LSTM or a vision transformer on MNIST or the
8x8 digits (the last two are built in :mod:`.train_models`).

Every gradient comes from backpropagation through the chain rule, node by node.
Writes into ``--out``: ``checkpoint.safetensors`` (after every epoch, and on
Ctrl-C), ``metrics.json`` (per-epoch losses, accuracy, time, samples per second)
and ``curves.png`` (loss and accuracy by epoch), each atomically (a reader sees
the old file or the new one). Every flag, the output folder and a resumed
checkpoint are checked before any data is loaded (:mod:`.train_args`).

A run stopped by Ctrl-C (or by a crash after an epoch) continues with
``--resume OUT/checkpoint.safetensors`` and ends with the same weights as a run
that was never stopped: the checkpoint holds the model, the optimizer and the
scheduler, the random generators' states, and where the epoch stood (its data
order and the batches already done).

``--resume`` with a larger ``--epochs`` trains on: the learning-rate schedule
is recomputed for the new total, so the remaining epochs get the rates a fresh
run of that many epochs would give them (the epochs already done keep the ones
they had, so the weights differ from a fresh run's). ``--epochs 0`` evaluates
the model (a resumed checkpoint's, or a fresh one) and writes nothing, so a
previous run's files are never replaced.

The functions here (``build_model``, ``fit``, ``evaluate_run``) are the library
side; ``run`` only turns arguments into a :class:`TrainConfig`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import memory
from chainrule.commands.train_args import (
    CHECKPOINT,
    CURVES,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    FORMAT,
    METRICS,
    TrainConfig,
    UsageError,
    check_checkpoint,
    check_config,
    check_explain_every,
    check_out_dir,
    config_from_args,
    explain_name,
    plural,
    register,
    usage_exit,
)
from chainrule.commands.train_report import Progress, metrics_body, plot_curves
from chainrule.commands.train_team import make_team

__all__ = [
    "DEFAULT_EPOCHS",
    "DEFAULT_LR",
    "HELP",
    "TrainConfig",
    "TrainingInterrupted",
    "UsageError",
    "build_model",
    "build_optimizer",
    "build_scheduler",
    "config_from_args",
    "evaluate",
    "evaluate_run",
    "fit",
    "write_explanation",
    "plot_curves",
    "register",
    "run",
]

HELP = (
    "train an MLP, CNN, LSTM or ViT on MNIST (or the 8x8 digits); writes a checkpoint, "
    "metrics and curves"
)

_DATASET_NAMES = {"mnist": "MNIST", "digits": "the 8x8 digits"}
# Known without loading the data, so a checkpoint can be checked against its model first.
IMAGE_SHAPES = {"mnist": (1, 28, 28), "digits": (1, 8, 8)}


class TrainingInterrupted(Exception):
    """Raised by :func:`fit` after it saved a checkpoint on Ctrl-C."""

    def __init__(self, checkpoint: str) -> None:
        super().__init__(f"interrupted; checkpoint saved to {checkpoint}")
        self.checkpoint = checkpoint


# ------------------------------------------------------------------ pieces
def _dataset_class(name: str) -> Any:
    import chainrule as cr

    if name == "mnist":
        return cr.data.MNIST
    if name == "digits":
        return cr.data.Digits
    raise ValueError(f"unknown dataset {name!r} (mnist or digits)")


def load_datasets(config: TrainConfig) -> tuple[Any, Any]:
    kind = _dataset_class(config.dataset)
    return kind(train=True, limit=config.limit_train), kind(train=False, limit=config.limit_test)


#: the hidden activations a built-in network may use (``chainrule train`` uses relu)
ACTIVATIONS = ("relu", "sigmoid", "tanh", "gelu")
#: hidden layers of the MLP ``chainrule train`` trains
DEFAULT_DEPTH = 2


def _activation(name: str) -> Any:
    from chainrule import nn

    kinds = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU}
    if name not in kinds:
        raise ValueError(f"unknown activation {name!r} ({', '.join(ACTIVATIONS)})")
    return kinds[name]()


def build_model(
    kind: str,
    image_shape: tuple[int, int, int],
    classes: int = 10,
    depth: int = DEFAULT_DEPTH,
    activation: str = "relu",
    init: str = "default",
) -> Any:
    """The two networks of ``chainrule train``.

    - ``mlp``: Flatten, Linear(C*H*W, 512), ReLU, Linear(512, 256), ReLU, Linear(256, classes)
    - ``cnn``: two blocks of Conv2d(3x3, padding 1), ReLU, MaxPool2d(2) with 16 and 32
      channels, then Flatten, Linear(32*H/4*W/4, 128), ReLU, Linear(128, classes)

    ``depth`` (MLP only) is the number of hidden layers: 512 wide, then 256 wide, so
    the default 2 is train's network; ``activation`` replaces every ReLU. ``init``
    is how the weights start: ``default`` (PyTorch's, each layer's own), ``he``
    (Kaiming normal, for ReLU) or ``xavier`` (Glorot uniform, for Sigmoid and Tanh);
    the last two zero the biases.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r} ({', '.join(INITS)})")
    model = _build(kind, image_shape, classes, depth, activation)
    if init != "default":
        _initialise(model, init)
    return model


#: how build_model may start the weights (see there)
INITS = ("default", "he", "xavier")


def _initialise(model: Any, init: str) -> None:
    from chainrule import nn

    with _no_grad():
        for layer in model.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                if init == "he":
                    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                else:
                    nn.init.xavier_uniform_(layer.weight)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)


def _no_grad() -> Any:
    import chainrule as cr

    return cr.no_grad()


def _build(
    kind: str, image_shape: tuple[int, int, int], classes: int, depth: int, activation: str
) -> Any:
    from chainrule import nn

    c, h, w = image_shape
    if kind == "mlp":
        if depth < 1:
            raise ValueError(f"depth {depth}: an MLP has at least one hidden layer")
        widths = [c * h * w, 512] + [256] * (depth - 1)
        layers: list[Any] = [nn.Flatten()]
        for n_in, n_out in zip(widths, widths[1:]):
            layers += [nn.Linear(n_in, n_out), _activation(activation)]
        return nn.Sequential(*layers, nn.Linear(widths[-1], classes))
    if depth != DEFAULT_DEPTH:
        raise ValueError(f"depth {depth}: only the mlp's depth can change")
    if kind in ("lstm", "vit"):
        from chainrule.commands.train_models import build_sequence_model

        if activation != "relu":
            raise ValueError(f"activation {activation!r}: the {kind} keeps its own")
        return build_sequence_model(kind, image_shape, classes)
    if kind == "cnn":
        return nn.Sequential(
            nn.Conv2d(c, 16, 3, padding=1),
            _activation(activation),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            _activation(activation),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * (h // 4) * (w // 4), 128),
            _activation(activation),
            nn.Linear(128, classes),
        )
    raise ValueError(f"unknown model {kind!r} (mlp, cnn, lstm or vit)")


def build_optimizer(name: str, params: Any, lr: float) -> Any:
    from chainrule import optim

    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=True)
    if name == "adam":
        return optim.Adam(params, lr=lr)
    if name == "adamw":
        return optim.AdamW(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r} (sgd, adam or adamw)")


def build_scheduler(name: str, optimizer: Any, epochs: int) -> Any:
    from chainrule import optim

    if name == "none":
        return None
    if name == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    if name == "step":
        return optim.StepLR(optimizer, step_size=max(epochs // 3, 1), gamma=0.1)
    raise ValueError(f"unknown scheduler {name!r} (none, cosine or step)")


def evaluate(model: Any, dataset: Any, batch_size: int = 1000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``dataset`` (eval mode, no graph)."""
    import chainrule as cr
    from chainrule.nn import functional as F

    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    n = len(dataset)
    try:
        with cr.no_grad():
            for start in range(0, n, batch_size):
                x, y = dataset.get_batch(np.arange(start, min(start + batch_size, n)))
                logits = model(cr.tensor(x))
                total_loss += F.cross_entropy(logits, y, reduction="sum").item()
                correct += int((logits.data.argmax(axis=1) == y).sum())
    finally:
        model.train(was_training)
    return total_loss / max(n, 1), correct / max(n, 1)


# ------------------------------------------------------------------ Ctrl-C
class _StopOnSigint:
    """First Ctrl-C: ask the loop to stop after the current step; second: stop now."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopOnSigint:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# ------------------------------------------------------------------ checkpoints
def _reference_state(config: TrainConfig) -> dict[str, Any]:
    """The model, optimizer and scheduler states a checkpoint of ``config`` must hold,
    from a model of that config after one step on a blank image (the step gives the
    optimizer its per-parameter state). The global generator is left as it was."""
    import chainrule as cr
    from chainrule.nn import functional as F

    shape = IMAGE_SHAPES[config.dataset]
    rng = cr.nn.get_rng_state()
    try:
        model = build_model(config.model, shape)
        optimizer = build_optimizer(config.optimizer, model.parameters(), config.lr)
        scheduler = build_scheduler(config.scheduler, optimizer, max(config.epochs, 1))
        loss = F.cross_entropy(
            model(cr.tensor(np.zeros((1, *shape), np.float32))), np.zeros(1, np.int64)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    finally:
        cr.nn.set_rng_state(rng)
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "running": {"loss_sum": 0.0, "count": 0, "seconds": 0.0, "cpu_seconds": 0.0},
    }


# ------------------------------------------------------------------ the loop
def fit(
    config: TrainConfig,
    out_dir: str,
    resume: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_step: Callable[[int], None] | None = None,
    explain_every: int | None = None,
    team: Any = None,
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train as ``config`` says, writing checkpoint, metrics and curves into ``out_dir``.

    ``resume`` is a checkpoint to continue from (its config must match ``config``
    except for ``epochs``, the total to reach; the learning-rate schedule is that
    of a fresh run of ``config.epochs``). ``progress`` draws a bar per epoch when
    stdout and stderr are terminals. ``on_step(global_step)`` is called after every
    step. ``explain_every=N`` writes the network explanation of the first test
    images after every N-th epoch (:func:`write_explanation`). Returns the metrics
    (nothing is written when the checkpoint has already reached ``config.epochs``);
    raises :class:`TrainingInterrupted` after Ctrl-C (the checkpoint is saved first)
    and :class:`UsageError` for a bad config or checkpoint, before loading any data.

    ``state`` is the checkpoint already read from ``resume`` (not read again).

    ``team`` is who computes (:mod:`.train_team`): by default one process, or, when
    ``mpiexec`` started this one as one of N ranks, the N ranks data-parallel (rank
    0 alone logs and writes; the weights are the one-process run's up to the order
    of floating-point sums).
    """
    import chainrule as cr

    check_config(config)
    check_explain_every(explain_every)
    if config.epochs < 1:
        raise UsageError("--epochs 0: fit trains at least one epoch (evaluate_run evaluates)")
    if team is None:
        team = make_team(config.batch_size, None, log)
    if not team.is_main:
        log, progress = _silent, False
    if state is None and resume:
        state = team.load(resume)  # under mpiexec: rank 0 reads, the others receive
    if state is not None:
        check_checkpoint(state, config, str(resume), _reference_state(config))
    if team.is_main:
        os.makedirs(out_dir, exist_ok=True)
    ckpt_path = os.path.join(out_dir, CHECKPOINT)

    cr.nn.manual_seed(config.seed)
    train_set, test_set = load_datasets(config)
    if train_set.image_shape != IMAGE_SHAPES[config.dataset]:
        # Checkpoints were checked against IMAGE_SHAPES before the data was loaded.
        raise RuntimeError(
            f"fit: {config.dataset} images are {train_set.image_shape}, not "
            f"{IMAGE_SHAPES[config.dataset]} as IMAGE_SHAPES says"
        )
    model = build_model(config.model, train_set.image_shape, train_set.classes)
    optimizer = build_optimizer(config.optimizer, model.parameters(), config.lr)
    scheduler = build_scheduler(config.scheduler, optimizer, config.epochs)
    loader = team.loader(train_set, config.batch_size, np.random.default_rng([config.seed, 1]))
    net = team.wrap(model)

    epoch, done_in_epoch, global_step = 0, 0, 0
    running = {"loss_sum": 0.0, "count": 0, "seconds": 0.0, "cpu_seconds": 0.0}
    history: list[dict] = []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        loader.load_state_dict(state["loader"])
        cr.nn.set_rng_state(state["rng"])
        epoch, done_in_epoch = int(state["epoch"]), int(state["step_in_epoch"])
        global_step = int(state["global_step"])
        running = dict(state["running"])
        history = list(state["history"])
        if scheduler is not None:
            saved = state.get("scheduler") or {}
            if all(saved.get(k) == getattr(scheduler, k, None) for k in ("T_max", "step_size")):
                # The same schedule: restored as saved, so that the rates go on exactly
                # as in a run never stopped (stepping recursively, as PyTorch's do).
                scheduler.load_state_dict(saved)
            else:
                # More epochs than the checkpoint's run: recomputed from the closed form
                # so that the run continues as a fresh run of the new total would, and
                # never at the finished run's last rate (0 for cosine).
                scheduler.step(epoch)
        log(f"resumed from {resume}: epoch {epoch + 1}, step {done_in_epoch} of {len(loader)}")

    def checkpoint() -> None:
        team.on_main(lambda: _save_checkpoint())

    def _save_checkpoint() -> None:
        cr.save(
            {
                "format": FORMAT,
                "config": dataclasses.asdict(config),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "loader": loader.state_dict(),
                "rng": cr.nn.get_rng_state(),
                "epoch": epoch,
                "step_in_epoch": done_in_epoch,
                "global_step": global_step,
                "running": running,
                "history": history,
            },
            ckpt_path,
        )

    def outputs(interrupted: bool) -> dict[str, Any]:
        metrics = metrics_body(config, history, interrupted)
        team.on_main(lambda: _write_outputs(metrics))
        return metrics

    def _write_outputs(metrics: dict[str, Any]) -> None:
        from chainrule._files import write_atomic

        body = json.dumps(metrics, indent=2) + "\n"
        write_atomic(os.path.join(out_dir, METRICS), body.encode("utf-8"))
        if history:
            try:
                plot_curves(
                    os.path.join(out_dir, CURVES),
                    history,
                    f"{config.model.upper()} on {_DATASET_NAMES[config.dataset]}",
                )
            except ImportError:
                log("matplotlib is not installed: no curves.png (pip install 'chainrule[train]')")

    # A checkpoint that has reached config.epochs leaves nothing to train: its files stay.
    metrics = metrics_body(config, history, interrupted=False)
    bar = Progress(progress, log)
    n_batches = len(loader)
    model.train()
    try:
        with _StopOnSigint() as stop:
            while epoch < config.epochs:
                t_wall, t_cpu = time.perf_counter(), time.process_time()
                bar.start_epoch(f"{epoch + 1}/{config.epochs}", n_batches, done_in_epoch)
                batches = iter(loader) if done_in_epoch < n_batches else iter(())
                for x, y in batches:
                    loss = team.loss(net(x), y, loader)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    value = loss.item()
                    running["loss_sum"] += value
                    running["count"] += 1
                    done_in_epoch += 1
                    global_step += 1
                    bar.advance(running["loss_sum"] / running["count"])
                    if on_step is not None:
                        on_step(global_step)
                    if team.agree_to_stop(stop.requested):
                        stop.requested = True
                        break
                if team.size > 1:
                    # Each rank's loss is N times its share of the global batch's mean:
                    # the mean over ranks is the global batches' (a resumed run's partial
                    # sum is the same on every rank, so it comes through unchanged).
                    running["loss_sum"] = team.total(running["loss_sum"])[0] / team.size
                running["seconds"] += time.perf_counter() - t_wall
                running["cpu_seconds"] += time.process_time() - t_cpu
                if stop.requested and done_in_epoch < n_batches:
                    checkpoint()
                    outputs(interrupted=True)
                    raise TrainingInterrupted(ckpt_path)

                test_loss, test_acc = team.evaluate(evaluate, model, test_set)
                samples = min(n_batches * config.batch_size, len(train_set))
                record = {
                    "epoch": epoch + 1,
                    "train_loss": running["loss_sum"] / max(running["count"], 1),
                    "test_loss": test_loss,
                    "test_accuracy": test_acc,
                    "lr": optimizer.param_groups[0]["lr"],
                    "seconds": running["seconds"],
                    "cpu_seconds": running["cpu_seconds"],
                    "samples_per_second": samples / max(running["seconds"], 1e-9),
                }
                history.append(record)
                log(
                    f"epoch {epoch + 1}/{config.epochs}  train loss {record['train_loss']:.4f}  "
                    f"test loss {test_loss:.4f}  test accuracy {100 * test_acc:.2f}%  "
                    f"{record['seconds']:.1f} s ({record['samples_per_second']:.0f} samples/s)"
                )
                if scheduler is not None:
                    scheduler.step()
                epoch += 1
                done_in_epoch = 0
                running = {"loss_sum": 0.0, "count": 0, "seconds": 0.0, "cpu_seconds": 0.0}
                checkpoint()
                stopping = stop.requested and epoch < config.epochs
                metrics = outputs(interrupted=stopping)
                if explain_every and epoch % explain_every == 0 and team.is_main:
                    write_explanation(model, test_set, out_dir, epoch, log)
                if stopping:
                    raise TrainingInterrupted(ckpt_path)
    finally:
        bar.close()
    return metrics


def write_explanation(
    model: Any, test_set: Any, out_dir: str, epoch: int, log: Callable[[str], None] = print
) -> list[str]:
    """The network explanation of ``model`` on the first test images (the same batch at
    every epoch, so files compare), as ``explain-epoch-E.json`` and, when matplotlib is
    installed, ``.png`` in ``out_dir``; returns the paths written. ``cr.explain``
    leaves the model, its ``.grad`` and the random generator as they were, so a run
    that explains trains to the same weights as one that does not."""
    from chainrule._files import write_atomic
    from chainrule.commands.explain_network import explain_batch

    ex = explain_batch(model, test_set)
    path = os.path.join(out_dir, explain_name(epoch, "json"))
    write_atomic(path, (ex.to_json() + "\n").encode("utf-8"))
    written = [path]
    try:
        written.append(ex.plot(os.path.join(out_dir, explain_name(epoch, "png"))))
    except ImportError:
        log(f"matplotlib is not installed: no {explain_name(epoch, 'png')}")
    return written


def evaluate_run(
    config: TrainConfig, resume: str | None = None, state: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Test loss and accuracy of ``config``'s model, freshly initialised or (``resume``)
    a checkpoint's, without training and without writing anything. ``state`` is the
    checkpoint already read from ``resume`` (under ``mpiexec``: read by rank 0 and
    broadcast), so that it is not read again.

    Returns ``{"test_loss", "test_accuracy", "images", "epochs_trained"}``.
    """
    import chainrule as cr

    check_config(config)
    if state is None and resume:
        state = cr.load(resume)
    if state is not None:
        check_checkpoint(state, config, str(resume), _reference_state(config))
    cr.nn.manual_seed(config.seed)
    test_set = _dataset_class(config.dataset)(train=False, limit=config.limit_test)
    model = build_model(config.model, test_set.image_shape, test_set.classes)
    if state is not None:
        model.load_state_dict(state["model"])
    loss, accuracy = evaluate(model, test_set)
    return {
        "test_loss": loss,
        "test_accuracy": accuracy,
        "images": len(test_set),
        "epochs_trained": 0 if state is None else int(state["epoch"]),
    }


def _load_checkpoint(path: str) -> Any:
    """``cr.load``; under ``mpiexec``, read by rank 0 and broadcast (on several
    machines only rank 0 may see the file)."""
    import chainrule as cr
    from chainrule.distributed.world import launched_by_mpi

    return cr.distributed.load(path) if launched_by_mpi() else cr.load(path)


def _silent(line: str) -> None:
    """The log of a rank other than the main one: only rank 0 prints."""


# ------------------------------------------------------------------ CLI
def _settle(args: argparse.Namespace) -> tuple[TrainConfig, Any]:
    """The run's config and the checkpoint it resumes (or None), all checked."""
    import chainrule as cr

    check_explain_every(args.explain_every)
    if args.epochs is not None and args.epochs < 0:
        raise UsageError(f"--epochs {args.epochs}: must be >= 1 (or 0 to evaluate only)")
    if not args.resume:
        config = config_from_args(args)
        check_config(config)
        return config, None
    path = args.resume
    try:
        state = _load_checkpoint(path)
    except (OSError, cr.serialization.CheckpointError) as exc:
        raise UsageError(f"--resume {path}: cannot resume: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UsageError(f"--resume {path}: a checkpoint, but not one written by chainrule train")
    if not isinstance(state.get("config"), dict):
        raise UsageError(f"--resume {path}: the checkpoint is incomplete: it has no config")
    try:
        config = config_from_args(args, state["config"])
    except UsageError as exc:
        raise UsageError(f"--resume {path}: {exc}") from None
    check_config(config, origin=f"in the checkpoint {path}")
    check_checkpoint(state, config, path, _reference_state(config))
    done = state["epoch"]
    if 0 < config.epochs < done:
        raise UsageError(
            f"--epochs {config.epochs}: the checkpoint {path} has trained "
            f"{plural(done, 'epoch')} already; give more to train on, or 0 to evaluate it"
        )
    return config, state


def run(args: argparse.Namespace) -> int:
    """``chainrule train``: check every argument, then train (or, with ``--epochs 0``,
    evaluate). Bad input is one line on stderr and exit status 2, before any data loads."""

    def log(line: str) -> None:
        # Flushed line by line: a redirected log then keeps the order of events.
        print(line, flush=True)

    from chainrule.distributed.world import launcher_rank

    if launcher_rank() != 0:  # under mpiexec, rank 0 alone prints
        log = _silent  # noqa: F811
    try:
        config, state = _settle(args)
        if args.out:
            # Checked even when nothing will be written (--epochs 0, a finished run): a
            # flag the user gave is never ignored silently. A default --out is only
            # created when a run writes into it.
            check_out_dir(args.out)
        if config.epochs == 0:
            result = evaluate_run(config, args.resume, state)
            which = (
                f"the checkpoint's model after {plural(result['epochs_trained'], 'epoch')}"
                if state is not None
                else f"an untrained {config.model} (seed {config.seed})"
            )
            log(
                f"evaluated {which} on {plural(result['images'], 'test image')} of "
                f"{config.dataset}: test loss {result['test_loss']:.4f}  test accuracy "
                f"{100 * result['test_accuracy']:.2f}% (--epochs 0: nothing written)"
            )
            return 0
        if state is not None and state["epoch"] >= config.epochs:
            final = state["history"][-1] if state["history"] else None
            accuracy = f" (test accuracy {100 * final['test_accuracy']:.2f}%)" if final else ""
            log(
                f"nothing to train: {args.resume} has finished its "
                f"{plural(config.epochs, 'epoch')}{accuracy}; give --epochs more than "
                f"{config.epochs} to train on, or --epochs 0 to evaluate it"
            )
            return 0
        out = args.out or (
            os.path.dirname(os.path.abspath(args.resume))
            if args.resume
            else os.path.join("runs", f"{config.dataset}-{config.model}")
        )
        if not args.out:
            check_out_dir(out)
    except UsageError as exc:
        return usage_exit(str(exc))
    except (ImportError, OSError) as exc:
        return usage_exit(f"{exc}")
    try:
        team = make_team(config.batch_size, getattr(args, "blas_threads", None), log)
    except UsageError as exc:
        return usage_exit(str(exc))
    except (ImportError, ValueError) as exc:
        return usage_exit(f"{exc}")
    # This process trains from now on: freed activations stay with malloc for the next
    # step instead of being faulted in again (chainrule.memory).
    memory.keep_freed_memory()
    log(
        f"training {config.model} on {config.dataset}: {plural(config.epochs, 'epoch')}, batch "
        f"{config.batch_size}, {config.optimizer} lr {config.lr:g} ({config.scheduler}), "
        f"seed {config.seed} -> {out}"
    )
    try:
        metrics = fit(
            config,
            out,
            resume=args.resume,
            progress=not args.no_progress,
            log=log,
            explain_every=args.explain_every,
            team=team,
            state=state,
        )
    except TrainingInterrupted as exc:
        log("\ninterrupted: checkpoint saved; continue with")
        log(f"  chainrule train --resume {exc.checkpoint}")
        return 130
    except UsageError as exc:
        return usage_exit(str(exc))
    except (ImportError, OSError) as exc:
        # A write that failed mid-run (disk full, folder removed): what was saved
        # before it stays; say so in one line rather than a traceback.
        return usage_exit(f"{exc}")
    final = metrics.get("final")
    if final:
        log(
            f"done: test accuracy {100 * final['test_accuracy']:.2f}% after "
            f"{plural(final['epoch'], 'epoch')}, {metrics['total_seconds']:.1f} s of training; "
            f"wrote {out}/{CHECKPOINT}, {METRICS}, {CURVES}"
        )
    return 0
