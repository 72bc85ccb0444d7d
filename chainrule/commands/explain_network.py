"""``chainrule explain --model mlp|cnn``: one batch through a built-in network, explained.

The networks and data sets are ``chainrule train``'s (a ``--checkpoint`` it wrote
gives the weights); the explanation is ``cr.explain(model, x, target=y)`` on the
first examples of the test split, so the output depends on the flags and the
seed alone. Every flag and the checkpoint are checked before any data loads.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

#: examples in the explained batch: enough for stable norms, quick on a CPU
BATCH = 64
#: a deeper MLP says nothing new and takes long to build
MAX_DEPTH = 100
FORMATS = ("text", "markdown", "latex", "html", "dot", "svg", "json")
_NETWORK_FLAGS = ("depth", "activation", "dataset", "checkpoint", "seed", "init")


class NetworkUsageError(ValueError):
    """Bad input to ``chainrule explain --model``; the message is one line."""


def register(parser: argparse.ArgumentParser) -> None:
    from chainrule.commands.train import ACTIVATIONS, DEFAULT_DEPTH, INITS
    from chainrule.commands.train_args import DATASETS, MODELS

    parser.add_argument(
        "--model",
        choices=MODELS,
        help="explain one batch of test images through chainrule train's network instead "
        "of an expression: its layers are the nodes (every --format)",
    )
    parser.add_argument(
        "--depth",
        type=int,
        metavar="N",
        help=f"hidden layers of the mlp, 1 to {MAX_DEPTH} (default {DEFAULT_DEPTH}, as train)",
    )
    parser.add_argument(
        "--activation", choices=ACTIVATIONS, help="hidden activation of the network (default relu)"
    )
    parser.add_argument("--dataset", choices=DATASETS, help="data set (default mnist, as train)")
    parser.add_argument(
        "--checkpoint", metavar="PATH", help="the weights of a run of chainrule train"
    )
    parser.add_argument(
        "--seed", type=int, metavar="N", help="seed of the untrained network's weights (default 0)"
    )
    parser.add_argument(
        "--init",
        choices=INITS,
        help="how the untrained weights start: default (PyTorch's), he (for ReLU) or "
        "xavier (for Sigmoid and Tanh)",
    )


def wanted(args: argparse.Namespace) -> bool:
    """Whether the command line asks for a network (any of its flags given)."""
    return args.model is not None or any(getattr(args, k) is not None for k in _NETWORK_FLAGS)


def _check_flags(args: argparse.Namespace) -> None:
    """Refuse what does not fit a network, before anything is loaded."""
    from chainrule.commands.train_args import SEED_LIMIT

    def bad(message: str) -> None:
        raise NetworkUsageError(message)

    if args.model is None and args.checkpoint is None:
        given = next(k for k in _NETWORK_FLAGS if getattr(args, k) is not None)
        bad(f"--{given} is for a network: give --model mlp or --model cnn (or --checkpoint)")
    for flag, value in (
        ("EXPR", args.expression or args.expression_option),
        ("--at", args.at),
        ("--wrt", args.wrt),
        ("--symbolic-timeout", args.symbolic_timeout),
    ):
        if value:
            bad(f"{flag} is for an expression; --model explains a network")
    if args.order != 1:
        bad(f"--order {args.order} is for an expression; --model explains a network")
    if args.lang != "en":
        bad(f"--lang {args.lang}: the network explanation is in English only")
    if args.format not in FORMATS:
        bad(
            f"--format {args.format}: the network explanation has no {args.format} format; "
            f"use {', '.join(FORMATS[:-1])} or {FORMATS[-1]}"
        )
    if args.depth is not None and not 1 <= args.depth <= MAX_DEPTH:
        bad(f"--depth {args.depth}: must be a whole number from 1 to {MAX_DEPTH} (hidden layers)")
    if args.depth is not None and args.model == "cnn":
        bad(f"--depth {args.depth}: only the mlp's depth can change, not the cnn's")
    if args.seed is not None and args.checkpoint is not None:
        bad(f"--seed {args.seed} seeds an untrained network; --checkpoint gives the weights")
    if args.init is not None and args.checkpoint is not None:
        bad(f"--init {args.init} starts an untrained network; --checkpoint gives the weights")
    if args.seed is not None and not 0 <= args.seed < SEED_LIMIT:
        bad(f"--seed {args.seed}: must be a whole number with 0 <= seed < 2**32")


def _settings(args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    """Model, depth, activation and dataset from the flags and the checkpoint (or None);
    a flag that contradicts the checkpoint is refused rather than overriding it."""
    import chainrule as cr
    from chainrule.commands.train import ACTIVATIONS, DEFAULT_DEPTH
    from chainrule.commands.train_args import DATASETS, FORMAT, MODELS

    given = {
        "model": args.model,
        "depth": args.depth,
        "activation": args.activation,
        "dataset": args.dataset,
    }
    defaults = {"model": "mlp", "depth": DEFAULT_DEPTH, "activation": "relu", "dataset": "mnist"}
    if args.checkpoint is None:
        return {k: defaults[k] if v is None else v for k, v in given.items()}, None
    path = args.checkpoint
    try:
        state = cr.load(path)
    except (OSError, cr.serialization.CheckpointError) as exc:
        raise NetworkUsageError(f"--checkpoint {path}: cannot read it: {exc}") from None
    saved = state.get("config") if isinstance(state, dict) else None
    if not isinstance(saved, dict) or state.get("format") != FORMAT or "model" not in state:
        raise NetworkUsageError(f"--checkpoint {path}: not a checkpoint written by chainrule train")
    # train's checkpoints hold no depth or activation: they are its defaults
    held = {k: saved.get(k, defaults[k]) for k in given}
    allowed = {"model": MODELS, "dataset": DATASETS, "activation": ACTIVATIONS}
    odd = [k for k, names in allowed.items() if held[k] not in names]
    depth = held["depth"]
    if odd or isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        key = odd[0] if odd else "depth"
        raise NetworkUsageError(
            f"--checkpoint {path}: its settings name no network this command builds "
            f"({key} {held[key]!r})"
        )
    what = f"{held['model']} trained on {held['dataset']}, {held['activation']}"
    if held["model"] == "mlp":
        what += f", {held['depth']} hidden layers"
    for key, value in given.items():
        if value is not None and value != held[key]:
            raise NetworkUsageError(
                f"--{key} {value}: the checkpoint {path} holds the {what}; "
                f"leave --{key} out or give {held[key]}"
            )
    return held, state


def _load_weights(model: Any, state: Any, path: str) -> None:
    from chainrule.commands.train_args import first_difference, skeleton

    found = first_difference(skeleton(state["model"]), skeleton(model.state_dict()), "model")
    if found:
        raise NetworkUsageError(f"--checkpoint {path}: its weights do not fit the network: {found}")
    model.load_state_dict(state["model"])


def explain_batch(model: Any, dataset: Any, size: int = BATCH) -> Any:
    """``cr.explain`` of ``model`` on the first ``size`` examples of ``dataset``, with
    their labels as the target (so the loss is cross-entropy, as in training)."""
    import chainrule as cr

    x, y = dataset.get_batch(np.arange(min(size, len(dataset))))
    return cr.explain(model, x, target=y)


def render(ex: Any, fmt: str) -> str:
    if fmt == "text":
        return ex.to_text().rstrip("\n") + "\n"
    if fmt == "markdown":
        return ex.to_markdown()
    if fmt == "latex":
        return ex.to_latex()
    if fmt == "dot":
        return ex.to_dot()
    if fmt == "svg":
        return ex.to_svg()
    if fmt == "html":
        return ex.to_html()
    return ex.to_json() + "\n"


def run(args: argparse.Namespace) -> str:
    """The explanation ``args`` ask for, in their format; raises
    :class:`NetworkUsageError` (one line) for bad input or data that cannot load."""
    import chainrule as cr
    from chainrule.commands.train import IMAGE_SHAPES, _dataset_class, build_model

    _check_flags(args)
    settings, state = _settings(args)
    cr.nn.manual_seed(0 if args.seed is None else args.seed)
    model = build_model(
        settings["model"],
        IMAGE_SHAPES[settings["dataset"]],
        depth=settings["depth"],
        activation=settings["activation"],
        init=args.init or "default",
    )
    if state is not None:
        _load_weights(model, state, args.checkpoint)
    model.eval()
    try:
        test_set = _dataset_class(settings["dataset"])(train=False, limit=BATCH)
    except (ImportError, OSError) as exc:
        # scikit-learn missing, MNIST not downloadable: said in one line
        raise NetworkUsageError(f"--dataset {settings['dataset']}: {exc}") from None
    return render(explain_batch(model, test_set), args.format)
