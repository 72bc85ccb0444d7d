"""What ``chainrule train`` shows and writes besides its checkpoint: the progress
bar, the body of ``metrics.json`` and the ``curves.png`` plot."""

from __future__ import annotations

import dataclasses
import io
import math
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.commands.train_args import TrainConfig


class Progress:
    """A rich progress bar per epoch with the running loss, on a terminal only.

    Off a terminal rich draws a bar once, when it stops, so a log of the run would
    show every epoch line first and the bars after; and with stdout alone
    redirected, rich would pull the epoch lines onto the terminal, out of the log.
    """

    def __init__(self, enabled: bool, log: Callable[[str], None]) -> None:
        self.log = log
        self._progress = None
        self._task = None
        if enabled and sys.stdout.isatty() and sys.stderr.isatty():
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


# ------------------------------------------------------------------ outputs
def metrics_body(config: TrainConfig, history: list[dict], interrupted: bool) -> dict[str, Any]:
    return {
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


def plot_curves(path: str, history: list[dict], title: str) -> None:
    """Loss (train and test) and test accuracy by epoch, as a PNG (matplotlib, Agg).

    The accuracy axis stays within 0..100%: the margins matplotlib adds around the
    points would otherwise show a scale past 100% near the top.
    """
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
    low, high = ax2.get_ylim()
    ax2.set_ylim(max(low, 0.0), min(high, 100.0))
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        if epochs:
            ax.set_xticks(epochs)
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_atomic(path, buf.getvalue())
