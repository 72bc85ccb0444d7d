"""``chainrule train``: train an MLP or a CNN on MNIST or the 8x8 digits.

Every gradient comes from backpropagation through the chain rule, node by node.
Writes into ``--out``: ``checkpoint.safetensors`` (after every epoch, and on
Ctrl-C), ``metrics.json`` (per-epoch losses, accuracy, time, samples per second)
and ``curves.png`` (loss and accuracy by epoch).

A run stopped by Ctrl-C (or by a crash after an epoch) continues with
``--resume OUT/checkpoint.safetensors`` and ends with the same weights as a run
that was never stopped: the checkpoint holds the model, the optimizer and the
scheduler, the random generators' states, and where the epoch stood (its data
order and the batches already done).

The functions here (``build_model``, ``fit``) are the library side; ``run`` only
turns arguments into a :class:`TrainConfig`.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

HELP = "train an MLP or a CNN on MNIST (or the 8x8 digits); writes a checkpoint, metrics and curves"

CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.json"
CURVES = "curves.png"
FORMAT = "chainrule-train/1"
_DATASET_NAMES = {"mnist": "MNIST", "digits": "the 8x8 digits"}

DEFAULT_EPOCHS = {"mlp": 6, "cnn": 3}
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}


@dataclasses.dataclass
class TrainConfig:
    """Everything that determines a run's result (saved in its checkpoint)."""

    dataset: str = "mnist"
    model: str = "mlp"
    epochs: int = DEFAULT_EPOCHS["mlp"]
    batch_size: int = 128
    lr: float = DEFAULT_LR["adam"]
    optimizer: str = "adam"
    scheduler: str = "cosine"
    seed: int = 0
    limit_train: int | None = None
    limit_test: int | None = None


class TrainingInterrupted(Exception):
    """Raised by :func:`fit` after it saved a checkpoint on Ctrl-C."""

    def __init__(self, checkpoint: str) -> None:
        super().__init__(f"interrupted; checkpoint saved to {checkpoint}")
        self.checkpoint = checkpoint


# ------------------------------------------------------------------ pieces
def load_datasets(config: TrainConfig) -> tuple[Any, Any]:
    import chainrule as cr

    if config.dataset == "mnist":
        kind = cr.data.MNIST
    elif config.dataset == "digits":
        kind = cr.data.Digits
    else:
        raise ValueError(f"unknown dataset {config.dataset!r} (mnist or digits)")
    return kind(train=True, limit=config.limit_train), kind(train=False, limit=config.limit_test)


def build_model(kind: str, image_shape: tuple[int, int, int], classes: int = 10) -> Any:
    """The two networks of ``chainrule train``.

    - ``mlp``: Flatten, Linear(C*H*W, 512), ReLU, Linear(512, 256), ReLU, Linear(256, classes)
    - ``cnn``: two blocks of Conv2d(3x3, padding 1), ReLU, MaxPool2d(2) with 16 and 32
      channels, then Flatten, Linear(32*H/4*W/4, 128), ReLU, Linear(128, classes)
    """
    from chainrule import nn

    c, h, w = image_shape
    if kind == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * h * w, 512),
            nn.ReLU(),
            nn.Linear(512, 256),
            nn.ReLU(),
            nn.Linear(256, classes),
        )
    if kind == "cnn":
        return nn.Sequential(
            nn.Conv2d(c, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * (h // 4) * (w // 4), 128),
            nn.ReLU(),
            nn.Linear(128, classes),
        )
    raise ValueError(f"unknown model {kind!r} (mlp or cnn)")


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


# ------------------------------------------------------------------ progress
class _Progress:
    """A rich progress bar per epoch with the running loss; plain lines without rich."""

    def __init__(self, enabled: bool, log: Callable[[str], None]) -> None:
        self.log = log
        self._progress = None
        self._task = None
        if enabled:
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )
            except ImportError:
                return
            self._progress = Progress(
                TextColumn("epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
            )

    def start_epoch(self, label: str, total: int, done: int) -> None:
        if self._progress is not None:
            if self._task is None:
                self._progress.start()
            self._task = self._progress.add_task(
                "", total=total, completed=done, epoch=label, loss=math.nan
            )

    def advance(self, loss: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, loss=loss)

    def close(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.stop()


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


# ------------------------------------------------------------------ outputs
def _write_metrics(path: str, config: TrainConfig, history: list[dict], interrupted: bool) -> None:
    from chainrule._files import write_atomic

    body = {
        "config": dataclasses.asdict(config),
        "epochs": history,
        "final": history[-1] if history else None,
        "total_seconds": sum(h["seconds"] for h in history),
        "interrupted": interrupted,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
    }
    write_atomic(path, (json.dumps(body, indent=2) + "\n").encode("utf-8"))


def plot_curves(path: str, history: list[dict], title: str) -> None:
    """Loss (train and test) and test accuracy by epoch, as a PNG (matplotlib, Agg)."""
    # The Agg canvas directly: no pyplot, no change to the process's global backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from chainrule._files import write_atomic

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax1.plot(epochs, [h["test_loss"] for h in history], "s-", label="test")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.set_title("loss")
    ax1.legend()
    ax2.plot(epochs, [100 * h["test_accuracy"] for h in history], "o-", color="tab:green")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.set_title("test accuracy")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        if epochs:
            ax.set_xticks(epochs)
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_atomic(path, buf.getvalue())


# ------------------------------------------------------------------ the loop
def fit(
    config: TrainConfig,
    out_dir: str,
    resume: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train as ``config`` says, writing checkpoint, metrics and curves into ``out_dir``.

    ``resume`` is a checkpoint to continue from (its config must match ``config``
    except for ``epochs``). ``on_step(global_step)`` is called after every step.
    Returns the metrics; raises :class:`TrainingInterrupted` after Ctrl-C (the
    checkpoint is saved first).
    """
    import chainrule as cr
    from chainrule.nn import functional as F

    os.makedirs(out_dir, exist_ok=True)
    ckpt_path = os.path.join(out_dir, CHECKPOINT)
    state = cr.load(resume) if resume else None
    if state is not None:
        saved = dict(state["config"], epochs=config.epochs)
        if saved != dataclasses.asdict(config):
            raise ValueError(
                f"fit: the checkpoint {resume} was trained with {state['config']}, not {config}; "
                "only epochs may change when resuming"
            )

    cr.nn.manual_seed(config.seed)
    train_set, test_set = load_datasets(config)
    model = build_model(config.model, train_set.image_shape, train_set.classes)
    optimizer = build_optimizer(config.optimizer, model.parameters(), config.lr)
    scheduler = build_scheduler(config.scheduler, optimizer, config.epochs)
    loader = cr.data.DataLoader(
        train_set,
        batch_size=config.batch_size,
        shuffle=True,
        generator=np.random.default_rng([config.seed, 1]),
    )

    epoch, done_in_epoch, global_step = 0, 0, 0
    running = {"loss_sum": 0.0, "count": 0, "seconds": 0.0, "cpu_seconds": 0.0}
    history: list[dict] = []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
            if config.scheduler == "cosine":
                scheduler.T_max = max(config.epochs, 1)
        loader.load_state_dict(state["loader"])
        cr.nn.set_rng_state(state["rng"])
        epoch, done_in_epoch = int(state["epoch"]), int(state["step_in_epoch"])
        global_step = int(state["global_step"])
        running = dict(state["running"])
        history = list(state["history"])
        log(f"resumed from {resume}: epoch {epoch + 1}, step {done_in_epoch} of {len(loader)}")

    def checkpoint() -> None:
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

    def outputs(interrupted: bool) -> None:
        _write_metrics(os.path.join(out_dir, METRICS), config, history, interrupted)
        if history:
            try:
                plot_curves(
                    os.path.join(out_dir, CURVES),
                    history,
                    f"{config.model.upper()} on {_DATASET_NAMES[config.dataset]}",
                )
            except ImportError:
                log("matplotlib is not installed: no curves.png (pip install 'chainrule[train]')")

    bar = _Progress(progress, log)
    n_batches = len(loader)
    model.train()
    try:
        with _StopOnSigint() as stop:
            while epoch < config.epochs:
                t_wall, t_cpu = time.perf_counter(), time.process_time()
                bar.start_epoch(f"{epoch + 1}/{config.epochs}", n_batches, done_in_epoch)
                batches = iter(loader) if done_in_epoch < n_batches else iter(())
                for x, y in batches:
                    loss = F.cross_entropy(model(x), y)
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
                    if stop.requested:
                        break
                running["seconds"] += time.perf_counter() - t_wall
                running["cpu_seconds"] += time.process_time() - t_cpu
                if stop.requested and done_in_epoch < n_batches:
                    checkpoint()
                    outputs(interrupted=True)
                    raise TrainingInterrupted(ckpt_path)

                test_loss, test_acc = evaluate(model, test_set)
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
                outputs(interrupted=stopping)
                if stopping:
                    raise TrainingInterrupted(ckpt_path)
    finally:
        bar.close()
    if not history or epoch == 0:
        outputs(interrupted=False)
    return json.loads(open(os.path.join(out_dir, METRICS), encoding="utf-8").read())


# ------------------------------------------------------------------ CLI
def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=["mnist", "digits"], help="data set (default mnist)")
    parser.add_argument("--model", choices=["mlp", "cnn"], help="network (default mlp)")
    parser.add_argument(
        "--epochs",
        type=int,
        help=f"epochs (default: mlp {DEFAULT_EPOCHS['mlp']}, cnn {DEFAULT_EPOCHS['cnn']})",
    )
    parser.add_argument("--batch-size", type=int, help="batch size (default 128)")
    parser.add_argument(
        "--lr", type=float, help="learning rate (default: adam/adamw 1e-3, sgd 0.05)"
    )
    parser.add_argument(
        "--optimizer", choices=["sgd", "adam", "adamw"], help="optimizer (default adam)"
    )
    parser.add_argument(
        "--scheduler",
        choices=["cosine", "step", "none"],
        help="learning-rate schedule over the epochs (default cosine)",
    )
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--out", help="output folder (default runs/DATASET-MODEL)")
    parser.add_argument("--resume", metavar="PATH", help="continue from a checkpoint")
    parser.add_argument(
        "--limit-train", type=int, metavar="N", help="use the first N training images"
    )
    parser.add_argument("--limit-test", type=int, metavar="N", help="use the first N test images")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (one line per epoch)"
    )


_RUN_KEYS = ("dataset", "model", "batch_size", "lr", "optimizer", "scheduler", "seed",
             "limit_train", "limit_test")  # fmt: skip


def config_from_args(args: argparse.Namespace, saved: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the saved run's settings, then the arguments given."""
    given = {k: getattr(args, k, None) for k in (*_RUN_KEYS, "epochs")}
    if saved is not None:
        changed = [
            f"--{k.replace('_', '-')} {given[k]} (the checkpoint has {saved.get(k)})"
            for k in _RUN_KEYS
            if given[k] is not None and given[k] != saved.get(k)
        ]
        if changed:
            raise ValueError(
                "a resumed run keeps its settings; only --epochs and --out may change, but got "
                + ", ".join(changed)
            )
        values = {k: saved[k] for k in (*_RUN_KEYS, "epochs") if k in saved}
        if given["epochs"] is not None:
            values["epochs"] = given["epochs"]
        return TrainConfig(**values)
    model = given["model"] or "mlp"
    optimizer = given["optimizer"] or "adam"
    return TrainConfig(
        dataset=given["dataset"] or "mnist",
        model=model,
        epochs=given["epochs"] if given["epochs"] is not None else DEFAULT_EPOCHS[model],
        batch_size=given["batch_size"] or 128,
        lr=given["lr"] if given["lr"] is not None else DEFAULT_LR[optimizer],
        optimizer=optimizer,
        scheduler=given["scheduler"] or "cosine",
        seed=given["seed"] if given["seed"] is not None else 0,
        limit_train=given["limit_train"],
        limit_test=given["limit_test"],
    )


def run(args: argparse.Namespace) -> int:
    import chainrule as cr

    saved = None
    if args.resume:
        try:
            saved = cr.load(args.resume)
        except (OSError, cr.serialization.CheckpointError) as exc:
            print(f"chainrule train: cannot resume: {exc}", file=sys.stderr)
            return 2
        if not isinstance(saved, dict) or saved.get("format") != FORMAT:
            print(
                f"chainrule train: {args.resume} is a checkpoint, but not one written by "
                "chainrule train",
                file=sys.stderr,
            )
            return 2
    try:
        config = config_from_args(args, None if saved is None else saved["config"])
    except ValueError as exc:
        print(f"chainrule train: {exc}", file=sys.stderr)
        return 2
    if config.epochs < 0 or config.batch_size < 1:
        print("chainrule train: --epochs must be >= 0 and --batch-size >= 1", file=sys.stderr)
        return 2
    out = args.out or (
        os.path.dirname(os.path.abspath(args.resume))
        if args.resume
        else os.path.join("runs", f"{config.dataset}-{config.model}")
    )
    print(
        f"training {config.model} on {config.dataset}: {config.epochs} epochs, batch "
        f"{config.batch_size}, {config.optimizer} lr {config.lr:g} ({config.scheduler}), "
        f"seed {config.seed} -> {out}"
    )
    try:
        metrics = fit(config, out, resume=args.resume, progress=not args.no_progress)
    except TrainingInterrupted as exc:
        print("\ninterrupted: checkpoint saved; continue with")
        print(f"  chainrule train --resume {exc.checkpoint}")
        return 130
    except ImportError as exc:
        print(f"chainrule train: {exc}", file=sys.stderr)
        return 2
    final = metrics.get("final")
    if final:
        print(
            f"done: test accuracy {100 * final['test_accuracy']:.2f}% after {final['epoch']} "
            f"epochs, {metrics['total_seconds']:.1f} s of training; wrote {out}/{CHECKPOINT}, "
            f"{METRICS}, {CURVES}"
        )
    return 0
