"""Data: ``Dataset``, ``TensorDataset``, ``DataLoader``, and offline MNIST and Digits.

>>> import numpy as np
>>> import chainrule as cr
>>> x = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
>>> loader = cr.data.DataLoader(cr.data.TensorDataset(x, x.sum(1) > 0), batch_size=32)
>>> len(loader), next(iter(loader))[0].shape
(4, (32, 3))
"""

from chainrule.data.dataloader import DataLoader, default_collate
from chainrule.data.dataset import Dataset, Subset, TensorDataset, random_split
from chainrule.data.datasets import (
    MNIST,
    Digits,
    ImageClassification,
    MissingDependencyError,
    load_digits,
    load_mnist,
)

__all__ = [
    "MNIST",
    "DataLoader",
    "Dataset",
    "Digits",
    "ImageClassification",
    "MissingDependencyError",
    "Subset",
    "TensorDataset",
    "default_collate",
    "load_digits",
    "load_mnist",
    "random_split",
]
