"""The ranks of a ``chainrule train`` run: one process alone, or N under ``mpiexec``.

``fit`` asks a team what only differs between the two: which samples this
process computes, how a loss and a gradient become the global batch's, who
prints and writes, and whether every rank agrees to stop. :class:`Solo` does
what a single process always did; :class:`MPITeam` splits each global batch.

Why the same weights as one process. Both draw the same permutation from the
same seed and cut it into the same global batches of ``--batch-size``; rank r
computes slice r of each one (``np.array_split``: the last, shorter batch is
split too). Its loss is its samples' summed cross-entropy times N / (samples in
the global batch), so the mean over ranks, which DistributedDataParallel's
all-reduce takes of the gradients, is the gradient of the global batch's mean
loss: the one-process gradient, summed in another order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.commands.train_args import UsageError


class Solo:
    """One process: every sample, every file, no communication."""

    size = 1
    rank = 0
    is_main = True

    def wrap(self, model: Any) -> Any:
        return model

    def loader(self, train_set: Any, batch_size: int, generator: Any) -> Any:
        import chainrule as cr

        return cr.data.DataLoader(train_set, batch_size=batch_size, shuffle=True,
                                  generator=generator)  # fmt: skip

    def loss(self, logits: Any, y: Any, loader: Any) -> Any:
        from chainrule.nn import functional as F

        return F.cross_entropy(logits, y)

    def agree_to_stop(self, requested: bool) -> bool:
        return requested

    def total(self, *values: float) -> tuple[float, ...]:
        return values

    def load(self, path: str) -> Any:
        import chainrule as cr

        return cr.load(path)

    def on_main(self, write: Callable[[], Any]) -> Any:
        return write()

    def evaluate(self, evaluate: Callable[[Any, Any], tuple[float, float]], model: Any,
                 test_set: Any) -> tuple[float, float]:  # fmt: skip
        return evaluate(model, test_set)


class _SliceLoader:
    """The DataLoader of the one-process run, fetching only this rank's slice of
    each batch (its state, and so its checkpoints, are the same as that run's)."""

    def __new__(cls, train_set: Any, batch_size: int, generator: Any, rank: int, size: int) -> Any:
        import chainrule as cr

        class SliceLoader(cr.data.DataLoader):
            global_count = 0

            def _fetch(self, idx: np.ndarray) -> Any:
                self.global_count = len(idx)
                return super()._fetch(np.array_split(idx, size)[rank])

        return SliceLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator)


class MPITeam:
    """N ranks under ``mpiexec``, data-parallel."""

    def __init__(self, batch_size: int, blas_threads: int | None, log: Callable[[str], None]):
        from chainrule import distributed as dist

        dist.init()
        self.dist = dist
        self.size = dist.size()
        self.rank = dist.rank()
        self.is_main = self.rank == 0
        if batch_size % self.size:
            lower = batch_size - batch_size % self.size
            raise UsageError(
                f"--batch-size {batch_size}: on {self.size} ranks the global batch must be a "
                f"multiple of {self.size} (each rank takes batch/{self.size}); try "
                f"{lower or self.size} or {lower + self.size}"
            )
        threads, why = dist.set_blas_threads(blas_threads)
        log(
            f"MPI: {self.size} ranks, {batch_size // self.size} samples each per step; "
            f"BLAS threads per rank: {threads} ({why}; change with --blas-threads N)"
        )

    def wrap(self, model: Any) -> Any:
        return self.dist.DistributedDataParallel(model)

    def loader(self, train_set: Any, batch_size: int, generator: Any) -> Any:
        return _SliceLoader(train_set, batch_size, generator, self.rank, self.size)

    def loss(self, logits: Any, y: Any, loader: Any) -> Any:
        from chainrule.nn import functional as F

        return F.cross_entropy(logits, y, reduction="sum") * (self.size / loader.global_count)

    def agree_to_stop(self, requested: bool) -> bool:
        # Ranks may see Ctrl-C at different steps: they stop at the first step any saw
        # it, together, so none waits in an all-reduce the others will never start.
        from chainrule.distributed import comm

        flag = comm.allreduce_array(np.array([1.0 if requested else 0.0]))
        return bool(flag[0] > 0)

    def total(self, *values: float) -> tuple[float, ...]:
        from chainrule.distributed import comm

        return tuple(float(v) for v in comm.allreduce_array(np.array(values, np.float64)))

    def load(self, path: str) -> Any:
        return self.dist.load(path)

    def on_main(self, write: Callable[[], Any]) -> Any:
        return self.dist.on_main(write)

    def evaluate(self, evaluate: Callable[[Any, Any], tuple[float, float]], model: Any,
                 test_set: Any) -> tuple[float, float]:  # fmt: skip
        """Each rank evaluates a contiguous share; sums over ranks give the whole set's."""
        n = len(test_set)
        share = np.array_split(np.arange(n), self.size)[self.rank]
        part = _Subset(test_set, share)
        loss, acc = evaluate(model, part) if len(part) else (0.0, 0.0)
        loss_sum, correct = self.total(loss * len(part), acc * len(part))
        return loss_sum / max(n, 1), round(correct) / max(n, 1)


class _Subset:
    def __init__(self, dataset: Any, idx: np.ndarray) -> None:
        self.dataset, self.idx = dataset, idx

    def __len__(self) -> int:
        return len(self.idx)

    def get_batch(self, idx: np.ndarray) -> Any:
        return self.dataset.get_batch(self.idx[idx])


def make_team(batch_size: int, blas_threads: int | None, log: Callable[[str], None]) -> Any:
    """:class:`MPITeam` when ``mpiexec`` started this process as one of several ranks,
    else :class:`Solo` (which never imports MPI)."""
    from chainrule.distributed.world import launched_by_mpi

    if launched_by_mpi():
        return MPITeam(batch_size, blas_threads, log)
    return Solo()
