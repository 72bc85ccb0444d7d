"""cr.save / cr.load: round trips (safetensors and .npz), atomic writes, and refusal of
corrupt, truncated and foreign files, including pickles, which are never executed."""

from __future__ import annotations

import os
import pickle
import struct

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.serialization import CheckpointError

pytest.importorskip("safetensors")

FORMATS = ["ckpt.safetensors", "ckpt.npz"]


def model_and_optimizer():
    nn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    x = np.random.default_rng(0).normal(size=(4, 1, 4, 4)).astype(np.float32)
    cr.nn.functional.cross_entropy(model(x), np.array([0, 1, 2, 0])).backward()
    opt.step()
    return model, opt


@pytest.mark.parametrize("name", FORMATS)
def test_module_and_optimizer_state_round_trip(tmp_path, name):
    model, opt = model_and_optimizer()
    path = tmp_path / name
    cr.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)
    state = cr.load(path)
    assert state["epoch"] == 3
    for key, value in model.state_dict().items():
        got = state["model"][key]
        assert isinstance(got, cr.Tensor) and got.dtype == value.dtype
        np.testing.assert_array_equal(got.data, value.data)
    fresh, _ = model_and_optimizer()
    for p in fresh.parameters():
        p.data[...] = 0
    fresh.load_state_dict(state["model"])
    for a, b in zip(fresh.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    sd = opt.state_dict()
    assert state["optimizer"]["param_groups"] == sd["param_groups"]
    np.testing.assert_array_equal(
        state["optimizer"]["state"][0]["exp_avg"], sd["state"][0]["exp_avg"]
    )
    assert state["optimizer"]["state"][0]["step"] == 1


@pytest.mark.parametrize("name", FORMATS)
def test_nested_values_keep_their_types(tmp_path, name):
    obj = {
        "t": cr.tensor([[1.0, 2.0]], dtype="float32"),
        "a": np.arange(6, dtype=np.int16).reshape(2, 3),
        "b": np.array([True, False]),
        "u8": np.arange(3, dtype=np.uint8),
        "scalar": np.float32(2.5),
        "zero_d": np.array(7.0),
        "nums": [1, 2.5, None, True, "text", float("inf")],
        "pair": (0.9, 0.999),
        "by_int": {0: {"step": 5}, 3: "x"},
        "__odd": 1,
        "big": 2**100,  # a random generator's state holds 128-bit integers
    }
    cr.save(obj, tmp_path / name)
    got = cr.load(tmp_path / name)
    assert isinstance(got["t"], cr.Tensor) and got["t"].dtype == np.float32
    assert type(got["a"]) is np.ndarray and got["a"].dtype == np.int16 and got["a"].shape == (2, 3)
    assert got["b"].tolist() == [True, False] and got["u8"].dtype == np.uint8
    assert got["scalar"] == np.float32(2.5) and isinstance(got["scalar"], np.float32)
    assert got["zero_d"].shape == () and got["zero_d"] == 7.0
    assert got["nums"] == [1, 2.5, None, True, "text", float("inf")]
    assert got["pair"] == (0.9, 0.999) and got["by_int"] == {0: {"step": 5}, 3: "x"}
    assert got["__odd"] == 1 and got["big"] == 2**100
    got["a"][0, 0] = 9  # loaded arrays are writable


def test_non_contiguous_arrays_are_saved_correctly(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    cr.save({"t": a.T, "s": a[:, ::2], "tt": cr.tensor(a).T}, tmp_path / "nc.safetensors")
    got = cr.load(tmp_path / "nc.safetensors")
    np.testing.assert_array_equal(got["t"], a.T)
    np.testing.assert_array_equal(got["s"], a[:, ::2])
    np.testing.assert_array_equal(got["tt"].data, a.T)


def test_plain_state_dict_is_readable_by_safetensors_by_name(tmp_path):
    from safetensors.numpy import load_file, save_file

    model, _ = model_and_optimizer()
    cr.save(model.state_dict(), tmp_path / "m.safetensors")
    arrays = load_file(str(tmp_path / "m.safetensors"))
    assert set(arrays) == set(model.state_dict())
    # and a file written by another safetensors writer loads as a dict of Tensors
    save_file({"w": np.ones((2, 2), dtype=np.float32)}, str(tmp_path / "other.safetensors"))
    other = cr.load(tmp_path / "other.safetensors")
    assert list(other) == ["w"] and isinstance(other["w"], cr.Tensor)


def test_unsupported_values_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store a set"):
        cr.save({"s": {1, 2}}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="dtype object"):
        cr.save({"o": np.array([object()])}, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    cr.save({"v": np.ones(3)}, path)
    # a failure while writing leaves the old file whole and no temporary file behind
    real_fsync = os.fsync

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        cr.save({"v": np.zeros(3)}, path)
    monkeypatch.setattr(os, "fsync", real_fsync)
    np.testing.assert_array_equal(cr.load(path)["v"], np.ones(3))
    assert os.listdir(tmp_path) == ["c.safetensors"]
    cr.save({"v": np.zeros(3)}, path)
    np.testing.assert_array_equal(cr.load(path)["v"], np.zeros(3))
    assert os.listdir(tmp_path) == ["c.safetensors"]


@pytest.mark.parametrize("name", FORMATS)
def test_truncated_files_raise_checkpoint_error(tmp_path, name):
    path = tmp_path / name
    cr.save({"w": np.arange(1000, dtype=np.float64)}, path)
    data = path.read_bytes()
    for cut in (0, 5, 8, 40, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError):
            cr.load(path)


def test_corrupt_and_foreign_files_raise_checkpoint_error(tmp_path):
    path = tmp_path / "c.safetensors"
    cr.save({"w": np.arange(10, dtype=np.float32)}, path)
    data = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    bad = bytearray(data)
    bad[8:12] = b"\xff\xfe{["  # the JSON header is garbage
    path.write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match="not a safetensors checkpoint"):
        cr.load(path)
    bad = bytearray(data)
    bad[:8] = struct.pack("<Q", n + 1000)  # header length past the end
    path.write_bytes(bytes(bad))
    with pytest.raises(CheckpointError):
        cr.load(path)
    for foreign in (b"hello, world\n" * 10, b"", b"PK\x03\x04 not really a zip"):
        path.write_bytes(foreign)
        with pytest.raises(CheckpointError):
            cr.load(path)


class _Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("name", ["evil.safetensors", "evil.npz", "evil.pt"])
def test_a_pickle_is_refused_without_being_executed(tmp_path, name):
    marker = str(tmp_path / "pwned")
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"model": _Payload(marker)}))
    with pytest.raises(CheckpointError):
        cr.load(path)
    assert not os.path.exists(marker)


def test_an_npz_holding_pickled_objects_is_refused_without_being_executed(tmp_path):
    marker = str(tmp_path / "pwned")
    path = tmp_path / "evil.npz"
    np.savez(
        path,
        __chainrule__=np.frombuffer(b"{}", dtype=np.uint8),
        x=np.array([_Payload(marker)], dtype=object),
    )
    with pytest.raises(CheckpointError, match="pickled objects are never loaded"):
        cr.load(path)
    assert not os.path.exists(marker)
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    with pytest.raises(CheckpointError, match="not a chainrule checkpoint"):
        cr.load(tmp_path / "plain.npz")
