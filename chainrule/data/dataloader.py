"""``DataLoader``: batches from a dataset, optionally shuffled by a seeded generator.

Its ``state_dict()`` records where an epoch stands (the generator's state when the
epoch's order was drawn, and how many batches were served), so a run stopped
mid-epoch resumes with the same order and the next batch.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule.nn import rng as _rng
from chainrule.tensor import Tensor, as_tensor


def default_collate(samples: list[Any]) -> Any:
    """Stack a list of samples into a batch, tuple by tuple and key by key, as Tensors.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> cr.data.default_collate([(np.array([1.0, 2.0]), 0), (np.array([3.0, 4.0]), 1)])
    (tensor([[1., 2.],
            [3., 4.]], dtype=float64), tensor([0, 1]))
    """
    first = samples[0]
    if isinstance(first, tuple | list):
        return type(first)(default_collate([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    return as_tensor(
        np.stack([s.data if isinstance(s, Tensor) else np.asarray(s) for s in samples])
    )


def _to_tensors(batch: Any) -> Any:
    if isinstance(batch, tuple | list):
        return type(batch)(_to_tensors(b) for b in batch)
    if isinstance(batch, np.ndarray):
        return as_tensor(batch)
    return batch


# PyTorch's worker options: they change how batches are loaded, never their values.
_WORKER_OPTIONS = {"persistent_workers", "prefetch_factor", "worker_init_fn", "timeout"}


def _accept_worker_options(num_workers: int, options: dict[str, Any]) -> None:
    unknown = set(options) - _WORKER_OPTIONS
    if unknown:
        raise TypeError(
            f"DataLoader got unexpected keyword arguments: {', '.join(sorted(unknown))}"
        )
    if num_workers:
        # Said once, not ignored silently: the batches are the same, only not parallel.
        warnings.warn(
            f"DataLoader(num_workers={num_workers}): chainrule loads batches in the main "
            "process; the batches are the same as with workers",
            stacklevel=3,
        )


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size``.

    ``shuffle`` draws a new order every epoch from ``generator`` (a NumPy Generator
    or an int seed; by default one seeded from ``cr.nn``'s default generator when the
    loader is made). ``drop_last`` drops a final incomplete batch. Batches are tuples
    of Tensors (no gradient).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> ds = cr.data.TensorDataset(np.arange(10), np.arange(10) % 2)
    >>> loader = cr.data.DataLoader(ds, batch_size=4, shuffle=True, generator=0)
    >>> [x.shape[0] for x, y in loader]
    [4, 4, 2]
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: Any = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        **worker_options: Any,
    ) -> None:
        _accept_worker_options(num_workers, worker_options)
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        if generator is None:
            seed = int(_rng.default_generator().integers(2**63))
            generator = np.random.Generator(np.random.PCG64(seed))
        self.generator = _rng.as_generator(generator)
        self._epoch_start: dict[str, Any] | None = None  # generator state when drawn
        self._served = 0
        self._resume: tuple[dict[str, Any], int] | None = None

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _fetch(self, idx: np.ndarray) -> Any:
        get_batch = (
            None if self.collate_fn is not None else getattr(self.dataset, "get_batch", None)
        )
        if get_batch is not None:
            return _to_tensors(get_batch(idx))
        samples = [self.dataset[int(i)] for i in idx]
        return (self.collate_fn or default_collate)(samples)

    def __iter__(self) -> Iterator[Any]:
        skip = 0
        if self._resume is not None:
            state, skip = self._resume
            self._resume = None
            self.generator.bit_generator.state = copy.deepcopy(state)
        start_state = copy.deepcopy(self.generator.bit_generator.state)
        n = len(self.dataset)
        order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        return self._batches(order, start_state, skip)

    def _batches(self, order: np.ndarray, start_state: dict[str, Any], skip: int) -> Iterator[Any]:
        self._epoch_start = start_state
        self._served = skip
        bs = self.batch_size
        count = len(self)
        for b in range(skip, count):
            batch = self._fetch(order[b * bs : (b + 1) * bs])
            self._served = b + 1
            yield batch
        self._epoch_start = None
        self._served = 0

    def state_dict(self) -> dict[str, Any]:
        """Where iteration stands: ``{"generator": state, "batches_served": k}``.

        Mid-epoch, the state is the generator's when the epoch's order was drawn and
        ``k`` the batches already served; between epochs, the current state and 0.
        """
        if self._epoch_start is not None and self._served < len(self):
            return {
                "generator": copy.deepcopy(self._epoch_start),
                "batches_served": self._served,
            }
        return {"generator": copy.deepcopy(self.generator.bit_generator.state), "batches_served": 0}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Make the next iteration continue where the saved one stood."""
        self._resume = (copy.deepcopy(dict(state["generator"])), int(state["batches_served"]))
