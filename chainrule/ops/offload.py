"""Where the hot primitives may hand their arrays to an optional library: one
attribute they read first, ``onednn``, which is ``chainrule.conv_backend`` while its
``onednn`` backend is selected and None otherwise.

It lives down here, with nothing imported, so that the primitives of matrix
products, layer normalisation and the softmax can ask without loading
``conv_backend`` (and with it the GEMM backend and the environment variables they
read) at ``import chainrule``."""

from __future__ import annotations

import os
from typing import Any


class _FromEnvironment:
    """``CHAINRULE_CONV=onednn`` while ``conv_backend`` is not loaded yet: the first
    primitive that asks loads it, which reads the variable and selects oneDNN (and
    sets ``onednn`` to itself), or raises its one-line error, as a convolution would."""

    def __getattr__(self, name: str) -> Any:
        from chainrule import conv_backend

        return getattr(conv_backend, name)


#: chainrule.conv_backend while its "onednn" backend is selected (set there), else None.
onednn: Any = (
    _FromEnvironment() if os.environ.get("CHAINRULE_CONV", "").strip().lower() == "onednn" else None
)
