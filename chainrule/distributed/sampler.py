"""``DistributedSampler``: each rank's share of a data set, equal in length."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.distributed import world


class DistributedSampler:
    """The indices of ``dataset`` this rank should visit in an epoch.

    Every rank draws the same permutation (from ``seed`` and the epoch set with
    :meth:`set_epoch`) and takes every size()-th index starting at its rank. Shards
    are equal in length, so every rank runs the same number of steps (a rank with
    one step more would wait forever in its last all-reduce): without
    ``drop_last`` the order is padded by repeating its first indices, as PyTorch
    does; with it, the tail that does not divide evenly is dropped.

    >>> import chainrule as cr
    >>> s = cr.distributed.DistributedSampler(range(5), shuffle=False, num_replicas=2, rank=1)
    >>> list(s)
    [1, 3, 0]
    """

    def __init__(
        self,
        dataset: Any,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        self.dataset = dataset
        self.num_replicas = world.size() if num_replicas is None else int(num_replicas)
        self.rank = world.rank() if rank is None else int(rank)
        if self.num_replicas < 1 or not 0 <= self.rank < self.num_replicas:
            raise ValueError(
                f"DistributedSampler: rank {self.rank} of {self.num_replicas} replicas: "
                "need 0 <= rank < num_replicas"
            )
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last:
            self.num_samples = n // self.num_replicas
        else:
            self.num_samples = -(-n // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch, and so the permutation (the same on every rank)."""
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an array."""
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(n)
        else:
            order = np.arange(n)
        if self.drop_last:
            order = order[: self.total_size]
        elif self.total_size > n:
            if n == 0:
                raise ValueError("DistributedSampler: the data set is empty")
            repeats = -(-(self.total_size - n) // n)
            order = np.concatenate([order, *([order] * repeats)])[: self.total_size]
        return order[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples
