"""Datasets: indexable collections of samples.

A dataset may also define ``get_batch(indices)``, returning a whole batch at
once (arrays indexed by an index array): ``DataLoader`` then makes a batch with a
few NumPy calls instead of one Python call per sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.nn.rng import as_generator
from chainrule.tensor import Tensor


class Dataset:
    """Base class: define ``__getitem__(i)`` (one sample) and ``__len__``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")


def _array(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class TensorDataset(Dataset):
    """Samples are the i-th rows of equally long arrays: ``(x[i], y[i])``.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> ds = cr.data.TensorDataset(np.arange(6).reshape(3, 2), np.array([0, 1, 0]))
    >>> len(ds), ds[1]
    (3, (array([2, 3]), np.int64(1)))
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(_array(a) for a in arrays)
        n = len(self.arrays[0])
        for a in self.arrays:
            if a.ndim == 0 or len(a) != n:
                raise ValueError(
                    "TensorDataset: all arrays need the same length along axis 0, got shapes "
                    + ", ".join(str(x.shape) for x in self.arrays)
                )

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(a[indices] for a in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    >>> import chainrule as cr
    >>> ds = cr.data.TensorDataset(cr.arange(10.0), cr.arange(10))
    >>> part = cr.data.Subset(ds, [0, 2, 4])
    >>> len(part), part[1]  # part[1] is ds[2]
    (3, (np.float32(2.0), np.int64(2)))
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return len(self.indices)

    def __getattr__(self, name: str) -> Any:
        if name == "get_batch" and hasattr(self.__dict__.get("dataset"), "get_batch"):
            return lambda idx: self.dataset.get_batch(self.indices[idx])
        raise AttributeError(name)


def random_split(
    dataset: Dataset, lengths: Sequence[int | float], generator: Any = None
) -> list[Subset]:
    """Split into non-overlapping random subsets of the given lengths (or fractions).

    >>> import chainrule as cr
    >>> ds = cr.data.TensorDataset(cr.arange(10.0))
    >>> train, val = cr.data.random_split(ds, [0.8, 0.2], generator=cr.Generator().manual_seed(0))
    >>> len(train), len(val)
    (8, 2)
    """
    n = len(dataset)
    if all(isinstance(x, float) for x in lengths) and abs(sum(lengths) - 1) < 1e-9:
        sizes = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
    else:
        sizes = [int(x) for x in lengths]
    if sum(sizes) != n:
        raise ValueError(f"random_split: the lengths sum to {sum(sizes)}, the dataset has {n}")
    order = as_generator(generator).permutation(n)
    out, start = [], 0
    for size in sizes:
        out.append(Subset(dataset, order[start : start + size]))
        start += size
    return out
