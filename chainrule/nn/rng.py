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

from typing import Any

import numpy as np

from chainrule.dtypes import check_device

_DEFAULT_SEED = 0
_generator = np.random.Generator(np.random.PCG64(_DEFAULT_SEED))


class Generator(np.random.Generator):
    """PyTorch's ``torch.Generator()``: a NumPy generator with ``manual_seed``.

    Accepted wherever chainrule takes ``generator=`` (``cr.randn``, ``random_split``,
    ``DataLoader``); seeded alike, it draws other numbers than PyTorch's.

    >>> import chainrule as cr
    >>> g = cr.Generator().manual_seed(42)
    >>> g.initial_seed()
    42
    """

    def __init__(self, device: Any = "cpu") -> None:
        check_device(device)
        super().__init__(np.random.PCG64(_DEFAULT_SEED))
        self._seed = _DEFAULT_SEED

    def manual_seed(self, seed: int) -> Generator:
        """Reseed in place; returns the generator (as PyTorch's)."""
        self.bit_generator.state = np.random.PCG64(int(seed)).state
        self._seed = int(seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict[str, Any]:
        return get_rng_state(self)

    def set_state(self, state: dict[str, Any]) -> Generator:
        set_rng_state(state, self)
        return self


def default_generator() -> np.random.Generator:
    """The generator used when a function is given no ``generator=``."""
    return _generator


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator (in place) and return it.

    >>> import chainrule as cr
    >>> _ = cr.manual_seed(0)
    >>> a = cr.rand(2)
    >>> _ = cr.manual_seed(0)
    >>> bool((cr.rand(2) == a).all())  # the same numbers again
    True
    """
    _generator.bit_generator.state = np.random.PCG64(int(seed)).state
    return _generator


def get_rng_state(generator: np.random.Generator | None = None) -> dict[str, Any]:
    """A copy of the state of ``generator`` (default: the default generator)."""
    import copy  # here: most programs never save the state

    return copy.deepcopy((generator or _generator).bit_generator.state)


def set_rng_state(state: dict[str, Any], generator: np.random.Generator | None = None) -> None:
    """Restore a state from :func:`get_rng_state`."""
    import copy

    (generator or _generator).bit_generator.state = copy.deepcopy(dict(state))


def as_generator(generator: Any) -> np.random.Generator:
    """``None`` -> the default generator; an int -> a new generator with that seed."""
    if generator is None:
        return _generator
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, int | np.integer) and not isinstance(generator, bool | np.bool_):
        return np.random.Generator(np.random.PCG64(int(generator)))
    raise TypeError(  # a bool too: True in a flag's place is not a seed
        f"generator must be a numpy.random.Generator, an int seed or None, not "
        f"{type(generator).__name__}"
    )
