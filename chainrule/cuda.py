"""``cr.cuda``: chainrule runs on the CPU, so there is no CUDA device.

It exists so the usual device line runs unchanged and picks the CPU:
``device = cr.device("cuda" if cr.cuda.is_available() else "cpu")``.
"""

from __future__ import annotations

from typing import Any


def is_available() -> bool:
    """False: chainrule computes with NumPy on the CPU."""
    return False


def device_count() -> int:
    """0: there are no CUDA devices to chainrule."""
    return 0


def manual_seed(seed: int) -> None:
    """Accepted and ignored: there is no CUDA generator (``cr.manual_seed`` seeds
    chainrule's one generator)."""


def manual_seed_all(seed: int) -> None:
    """Accepted and ignored, as :func:`manual_seed`."""


def synchronize(device: Any = None) -> None:
    """Nothing to wait for: every chainrule operation has finished when it returns."""
