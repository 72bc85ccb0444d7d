"""Devices: chainrule computes with NumPy on the CPU, so "cpu" is the one device.

PyTorch programs name a device all the same (``model.to("cpu")``,
``model.to(torch.device("cpu"))``, ``map_location="cpu"``); those calls are accepted
and do nothing. Any other device is refused with one clear message, instead of
being ignored: a program that asked for a GPU would otherwise run on the CPU
without knowing it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Device types PyTorch knows, so that ``to("mps")`` is read as a device, not a dtype name.
_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "ipu", "hpu", "mtia", "vulkan")


# One error type for every device refusal (tensors, modules, checkpoints).
from chainrule.dtypes import DeviceError  # noqa: E402
from chainrule.dtypes import as_dtype as _as_dtype  # noqa: E402


def device_name(device: Any) -> str | None:
    """The device's text ("cpu", "cuda:0") if ``device`` names one, else None."""
    if isinstance(device, str):
        kind = device.split(":", 1)[0].strip().lower()
        return device if kind in _DEVICE_TYPES else None
    kind = getattr(device, "type", None)  # cr.device, torch.device
    if isinstance(kind, str):
        index = getattr(device, "index", None)
        return kind if index is None else f"{kind}:{index}"
    if isinstance(device, np.dtype | type):
        return None
    return device_name(str(device))  # an object known only by its text


def check_cpu(device: Any, what: str) -> None:
    """Return if ``device`` is None or the CPU; raise :class:`DeviceError` otherwise."""
    if device is None:
        return
    name = device_name(device)
    if name is None:
        name = str(device)
    if name.split(":", 1)[0].strip().lower() == "cpu" or str(device) == "cpu":
        return
    raise DeviceError(
        f"{what}: chainrule runs on the CPU only, so device {name!r} is not available "
        "(use 'cpu', or leave the device out)"
    )


def as_dtype(value: Any) -> np.dtype | None:
    """``value`` as a NumPy dtype (also ``torch.float32``-like objects), or None."""
    try:
        return _as_dtype(value if isinstance(value, (str, np.dtype, type)) else str(value))
    except TypeError:
        return None
