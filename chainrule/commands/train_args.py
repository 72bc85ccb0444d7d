"""The arguments of ``chainrule train``: its flags, its settings and their checks.

Everything here runs before any data is loaded, so a bad flag costs nothing and
never costs a trained epoch: every check raises :class:`UsageError`, whose
message is one line naming the flag and what it allows (the command prints it
and exits with status 2, as argparse does for its own errors).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
from collections.abc import Mapping
from typing import Any, NoReturn

import numpy as np

FORMAT = "chainrule-train/1"
CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.json"
CURVES = "curves.png"

#: Each reaches 98% on MNIST's test set with margin (README): vit's 10 epochs had
#: given 98.22% and 98.20%, then 98.01% once float32's last bits moved (the compiled
#: kernels); 12 gave 98.25% (the cosine schedule's last epochs gain most).
DEFAULT_EPOCHS = {"mlp": 6, "cnn": 3, "lstm": 6, "vit": 12}
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}
DATASETS = ("mnist", "digits")
MODELS = ("mlp", "cnn")
#: the networks only ``chainrule train`` builds (``explain --model`` takes MODELS)
SEQUENCE_MODELS = ("lstm", "vit")
TRAIN_MODELS = MODELS + SEQUENCE_MODELS
SCHEDULERS = ("cosine", "step", "none")
# NumPy's generators take seeds of 32-bit words; a negative one is an error deep in NumPy.
SEED_LIMIT = 2**32


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


class UsageError(ValueError):
    """Bad input to ``chainrule train``; the message is one line naming the flag."""


def plural(n: int, word: str) -> str:
    """``plural(1, "epoch") == "1 epoch"``, ``plural(2, "epoch") == "2 epochs"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ------------------------------------------------------------------ flags
#: the end of ``chainrule train --help``: how to run on MPI
MPI_HELP = (
    'Data-parallel on MPI (pip install "chainrule[distributed]"): mpiexec -n N chainrule '
    "train [flags]. --batch-size stays the global batch (each of the N ranks takes batch/N, "
    "so it must divide evenly) and the weights are a one-process run's up to the order of "
    "floating-point sums; only rank 0 prints and writes files. On several machines: "
    "mpiexec -f hosts -n N chainrule train ..., hosts listing one machine per line "
    "(host:ranks). Each rank uses cores/ranks BLAS threads unless --blas-threads N."
)
EPOCHS_HELP = (
    "epochs to train in all (default: mlp {mlp}, cnn {cnn}, lstm {lstm}, vit {vit}); 0 only "
    "evaluates the model (with --resume, the checkpoint's) on the test set and writes "
    "nothing. With --resume, the total counting the epochs already done: the learning-rate "
    "schedule continues as a fresh run of that many epochs would have it"
)


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = MPI_HELP
    parser.add_argument("--dataset", choices=DATASETS, help="data set (default mnist)")
    parser.add_argument("--model", choices=TRAIN_MODELS, help="network (default mlp)")
    parser.add_argument(
        "--epochs", type=int, metavar="N", help=EPOCHS_HELP.format(**DEFAULT_EPOCHS)
    )
    parser.add_argument("--batch-size", type=int, metavar="N", help="batch size (default 128)")
    parser.add_argument(
        "--lr", type=float, help="learning rate, > 0 (default: adam/adamw 1e-3, sgd 0.05)"
    )
    parser.add_argument("--optimizer", choices=list(DEFAULT_LR), help="optimizer (default adam)")
    parser.add_argument(
        "--scheduler",
        choices=SCHEDULERS,
        help="learning-rate schedule over the epochs (default cosine)",
    )
    parser.add_argument("--seed", type=int, help="random seed, 0 <= N < 2**32 (default 0)")
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="output folder (default runs/DATASET-MODEL; with --resume, the checkpoint's)",
    )
    parser.add_argument(
        "--resume",
        metavar="PATH",
        help="continue from a checkpoint (only --epochs and --out may change)",
    )
    parser.add_argument(
        "--limit-train", type=int, metavar="N", help="use the first N training images"
    )
    parser.add_argument("--limit-test", type=int, metavar="N", help="use the first N test images")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (one line per epoch)"
    )
    parser.add_argument(
        "--explain-every",
        type=int,
        metavar="N",
        help="every N epochs, write the network explanation of one fixed batch of test images "
        "into --out: explain-epoch-E.json, and explain-epoch-E.png with matplotlib",
    )

    parser.add_argument(
        "--blas-threads",
        type=int,
        metavar="N",
        help="under mpiexec: BLAS threads per rank (default: the machine's cores / its ranks)",
    )

    # argparse prints its usage (many lines) before an error; every other answer of this
    # command to bad input is one line, so its own parse errors are too. cli.py creates
    # the sub-parser, so the method is replaced on this instance.
    def one_line_error(message: str) -> NoReturn:
        parser.exit(2, f"{parser.prog}: error: {message}\n")

    parser.error = one_line_error  # type: ignore[method-assign]


_RUN_KEYS = ("dataset", "model", "batch_size", "lr", "optimizer", "scheduler", "seed",
             "limit_train", "limit_test")  # fmt: skip
CONFIG_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def config_from_args(args: argparse.Namespace, saved: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the saved run's settings, then the arguments given.

    A given value is taken as given (``--batch-size 0`` is 0, not the default):
    :func:`check_config` says what is wrong with it.
    """
    given = {k: getattr(args, k, None) for k in (*_RUN_KEYS, "epochs")}
    if saved is not None:
        missing = [k for k in CONFIG_KEYS if k not in saved]
        if missing:
            raise UsageError(f"the checkpoint's settings have no {', '.join(missing)}")
        changed = [
            f"{_flag(k)} {given[k]} (the checkpoint has {saved.get(k)})"
            for k in _RUN_KEYS
            if given[k] is not None and given[k] != saved.get(k)
        ]
        if changed:
            raise UsageError(
                "a resumed run keeps its settings; only --epochs and --out may change, but got "
                + ", ".join(changed)
            )
        values = {k: saved[k] for k in CONFIG_KEYS}
        if given["epochs"] is not None:
            values["epochs"] = given["epochs"]
        return TrainConfig(**values)
    model = given["model"] or "mlp"
    optimizer = given["optimizer"] or "adam"

    def pick(key: str, default: Any) -> Any:
        return default if given[key] is None else given[key]

    return TrainConfig(
        dataset=pick("dataset", "mnist"),
        model=model,
        epochs=pick("epochs", DEFAULT_EPOCHS.get(model, 1)),
        batch_size=pick("batch_size", 128),
        lr=pick("lr", DEFAULT_LR.get(optimizer, 1e-3)),
        optimizer=optimizer,
        scheduler=pick("scheduler", "cosine"),
        seed=pick("seed", 0),
        limit_train=given["limit_train"],
        limit_test=given["limit_test"],
    )


# ------------------------------------------------------------------ checks
def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_config(config: TrainConfig, origin: str = "") -> None:
    """Raise :class:`UsageError` for the first setting out of its range.

    ``origin`` is appended to the message (e.g. "in the checkpoint x") when the
    values did not come from the command line.
    """
    where = f" ({origin})" if origin else ""

    def bad(key: str, allowed: str) -> NoReturn:
        raise UsageError(f"{_flag(key)} {getattr(config, key)!r}{where}: {allowed}")

    for key, names in (
        ("dataset", DATASETS),
        ("model", TRAIN_MODELS),
        ("optimizer", tuple(DEFAULT_LR)),
        ("scheduler", SCHEDULERS),
    ):
        if getattr(config, key) not in names:
            bad(key, "must be one of " + ", ".join(names))
    if not _is_int(config.epochs) or config.epochs < 0:
        bad("epochs", "must be a whole number >= 1 (or 0 to evaluate only)")
    if not _is_int(config.batch_size) or config.batch_size < 1:
        bad("batch_size", "must be a whole number >= 1")
    lr = config.lr
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr) or lr <= 0:
        bad("lr", "must be a finite number > 0")
    if not _is_int(config.seed) or not 0 <= config.seed < SEED_LIMIT:
        bad("seed", "must be a whole number with 0 <= seed < 2**32")
    for key in ("limit_train", "limit_test"):
        value = getattr(config, key)
        if value is not None and (not _is_int(value) or value < 1):
            bad(key, "must be a whole number >= 1 (the first N images)")


def check_explain_every(value: int | None) -> None:
    """``--explain-every`` is a count of epochs: a whole number >= 1, or not given."""
    if value is not None and (not _is_int(value) or value < 1):
        raise UsageError(f"--explain-every {value!r}: must be a whole number >= 1 (epochs)")


def explain_name(epoch: int, suffix: str) -> str:
    """The file ``--explain-every`` writes after ``epoch``: ``explain-epoch-3.json``."""
    return f"explain-epoch-{epoch}.{suffix}"


def check_out_dir(out: str) -> None:
    """Make ``out`` and prove it writable by writing a file in it; refuse to replace
    anything in it that is not a regular file (the writes would fail after an epoch)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out}: this is a file, not a folder; give a folder")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot create this folder ({exc.strerror or exc}); "
            "give a folder that exists or can be created"
        ) from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".chainrule-write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot write into this folder ({exc.strerror or exc}); "
            "give a writable folder"
        ) from None
    for name in (CHECKPOINT, METRICS, CURVES):
        target = os.path.join(out, name)
        if os.path.lexists(target) and not os.path.isfile(target):
            raise UsageError(
                f"--out {out}: {name} there is not a regular file, and a run writes it; "
                "move it or give another folder"
            )


# ------------------------------------------------------------------ checkpoints
_ARRAY = "array"
_NUMBER = "number"


def skeleton(obj: Any) -> Any:
    """The shape of a nested state: containers kept, arrays as (shape, dtype), scalars as
    their kind. Two states with equal skeletons can be loaded into the same objects."""
    if isinstance(obj, Mapping):
        return {str(k): skeleton(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [skeleton(v) for v in obj]
    # A Tensor holds its array in .data (an ndarray's own .data is a memoryview).
    data = obj if isinstance(obj, np.ndarray) else getattr(obj, "data", None)
    if isinstance(data, np.ndarray):
        return (_ARRAY, tuple(data.shape), str(data.dtype))
    if isinstance(obj, bool | np.bool_):
        return "bool"
    if isinstance(obj, int | float | np.integer | np.floating):
        return _NUMBER
    if obj is None:
        return None
    return type(obj).__name__


def first_difference(saved: Any, expected: Any, where: str) -> str | None:
    """Where the skeleton ``saved`` first departs from ``expected``, in words; None if nowhere."""
    if isinstance(expected, dict):
        if not isinstance(saved, dict):
            return f"{where} is not a mapping"
        missing = [k for k in expected if k not in saved]
        if missing:
            return f"{where} has no {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"
        extra = [k for k in saved if k not in expected]
        if extra:
            return f"{where} has {', '.join(extra[:3])}, unknown to the run it names"
        for k in expected:
            found = first_difference(saved[k], expected[k], f"{where}[{k!r}]")
            if found:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(saved, list) or len(saved) != len(expected):
            size = len(saved) if isinstance(saved, list) else "no"
            return f"{where} has {size} entries, expected {len(expected)}"
        for i, (s, e) in enumerate(zip(saved, expected)):
            found = first_difference(s, e, f"{where}[{i}]")
            if found:
                return found
        return None
    if saved != expected:
        return f"{where} is {_describe(saved)}, expected {_describe(expected)}"
    return None


def _describe(kind: Any) -> str:
    if isinstance(kind, tuple) and kind[:1] == (_ARRAY,):
        return f"an array of shape {kind[1]} and dtype {kind[2]}"
    if kind is None:
        return "None"
    if isinstance(kind, dict | list):
        return "a container"
    return f"a {kind}"


def check_generator_state(state: Any) -> bool:
    """Whether ``state`` is a NumPy PCG64 generator state that can be restored."""
    try:
        np.random.Generator(np.random.PCG64()).bit_generator.state = dict(state)
    except (TypeError, ValueError, KeyError):
        return False
    return True


_CHECKPOINT_KEYS = ("format", "config", "model", "optimizer", "scheduler", "loader", "rng",
                    "epoch", "step_in_epoch", "global_step", "running", "history")  # fmt: skip
_RECORD_KEYS = ("epoch", "train_loss", "test_loss", "test_accuracy", "lr", "seconds",
                "cpu_seconds", "samples_per_second")  # fmt: skip


def check_checkpoint(
    state: Any, config: TrainConfig, path: str, reference: Mapping[str, Any]
) -> None:
    """Raise :class:`UsageError` unless ``state`` (``cr.load`` of ``path``) is a complete
    ``chainrule train`` checkpoint of ``config`` (``epochs`` aside): every key present,
    every array of the shape and dtype the model and optimizer it describes have.

    ``reference`` holds the states the run's own objects have (``model``,
    ``optimizer``, ``scheduler``, ``running``), for comparing shapes and dtypes.
    Checked before any data is loaded, so a bad file costs nothing and never fails
    halfway through restoring a run.
    """

    def bad(message: str) -> NoReturn:
        raise UsageError(f"--resume {path}: {message}")

    if not isinstance(state, dict) or state.get("format") != FORMAT:
        bad("a checkpoint, but not one written by chainrule train")
    missing = [k for k in _CHECKPOINT_KEYS if k not in state]
    if missing:
        bad(f"the checkpoint is incomplete: it has no {', '.join(missing)}")
    saved = state["config"]
    if not isinstance(saved, dict) or dict(saved, epochs=config.epochs) != dataclasses.asdict(
        config
    ):
        bad(f"the checkpoint was trained with {saved}, not {config}; only epochs may change")
    for part, expected in reference.items():
        found = first_difference(skeleton(state[part]), skeleton(expected), part)
        if found:
            bad(f"the checkpoint does not match the {config.model} on {config.dataset} "
                f"it describes: {found}")  # fmt: skip
    loader = state["loader"]
    if not (
        isinstance(loader, dict)
        and check_generator_state(loader.get("generator"))
        and _count(loader.get("batches_served"))
    ):
        bad("the checkpoint's loader state is not a data order and a batch count")
    if not check_generator_state(state["rng"]):
        bad("the checkpoint's rng is not a NumPy PCG64 generator state")
    for key in ("epoch", "step_in_epoch", "global_step"):
        if not _count(state[key]):
            bad(f"the checkpoint's {key} is {state[key]!r}, not a count")
    history = state["history"]
    if not isinstance(history, list) or len(history) != state["epoch"]:
        bad(f"the checkpoint's history does not list its {plural(state['epoch'], 'epoch')}")
    for i, record in enumerate(history):
        if not isinstance(record, dict):
            bad(f"the checkpoint's history[{i}] is not a record of an epoch")
        for key in _RECORD_KEYS:
            if skeleton(record.get(key)) != _NUMBER:
                bad(f"the checkpoint's history[{i}] has no number {key}")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def usage_exit(message: str) -> int:
    """Print ``message`` as the command's one-line error on stderr; the exit status 2.
    Under ``mpiexec`` only rank 0 prints it (every rank finds the same error)."""
    from chainrule.distributed.world import launcher_rank

    if launcher_rank() == 0:
        print(f"chainrule train: error: {' '.join(message.split())}", file=sys.stderr)
    return 2
