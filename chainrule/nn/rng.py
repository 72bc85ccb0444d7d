"""The default random generator of ``nn`` and ``data``: initialisation, dropout, shuffling.

One NumPy ``Generator``, seeded with 0 at import (as PyTorch's default generator has
a fixed seed, a script that never seeds is still reproducible). ``manual_seed``
reseeds it in place, so references to it stay valid; ``get_rng_state`` and
``set_rng_state`` save and restore it (checkpoints do, for exact resumption).

>>> import chainrule as cr
>>> g = cr.nn.manual_seed(7)
>>> a = g.random()
>>> state = cr.nn.get_rng_state()
>>> b = g.random()
>>> cr.nn.set_rng_state(state)
>>> g.random() == b
True
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

_DEFAULT_SEED = 0
_generator = np.random.Generator(np.random.PCG64(_DEFAULT_SEED))


def default_generator() -> np.random.Generator:
    """The generator used when a function is given no ``generator=``."""
    return _generator


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator (in place) and return it."""
    _generator.bit_generator.state = np.random.PCG64(int(seed)).state
    return _generator


def get_rng_state(generator: np.random.Generator | None = None) -> dict[str, Any]:
    """A copy of the state of ``generator`` (default: the default generator)."""
    return copy.deepcopy((generator or _generator).bit_generator.state)


def set_rng_state(state: dict[str, Any], generator: np.random.Generator | None = None) -> None:
    """Restore a state from :func:`get_rng_state`."""
    (generator or _generator).bit_generator.state = copy.deepcopy(dict(state))


def as_generator(generator: Any) -> np.random.Generator:
    """``None`` -> the default generator; an int -> a new generator with that seed."""
    if generator is None:
        return _generator
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, int | np.integer):
        return np.random.Generator(np.random.PCG64(int(generator)))
    raise TypeError(
        f"generator must be a numpy.random.Generator, an int seed or None, not "
        f"{type(generator).__name__}"
    )
