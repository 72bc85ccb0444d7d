"""``cr.backends.mps.is_available()`` and ``cr.backends.cudnn``: no accelerator here.

The common device line ``"mps" if torch.backends.mps.is_available() else "cpu"``
runs unchanged and picks the CPU.
"""

from __future__ import annotations

from types import SimpleNamespace

mps = SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
# Settings PyTorch programs assign; they change nothing on the CPU.
cudnn = SimpleNamespace(deterministic=False, benchmark=False, enabled=False)
