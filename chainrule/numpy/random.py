"""``chainrule.numpy.random``: NumPy's ``numpy.random``, unchanged.

Random numbers are constants (nothing is differentiated with respect to them), so
every name is NumPy's own: ``np.random.default_rng(0).normal(size=3)`` gives the
same array as with ``import numpy as np``.
"""

from __future__ import annotations

from typing import Any

import numpy.random as _random

globals().update({name: getattr(_random, name) for name in _random.__all__})
__all__ = list(_random.__all__)


def __getattr__(name: str) -> Any:
    return getattr(_random, name)


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(globals()))
