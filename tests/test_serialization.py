"""cr.save / cr.load: round trips (safetensors and .npz), atomic writes, and refusal of
corrupt, truncated and foreign files, including pickles, which are never executed."""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import stat
import struct
import subprocess
import sys
import warnings
import zipfile

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


# ---------------------------------------------------------------- verified loading
def sample_state():
    return {
        "model": {
            "w": cr.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) / 7),
            "b": np.arange(4, dtype=np.int64) - 2,
        },
        "half": np.array([0.5, -1.25], dtype=np.float16),
        "mask": np.array([True, False, True]),
        "scalar": np.float64(1.5),
        "step": 7,
        "name": "run-1",
        "pair": (0.9, 0.999),
        "by_int": {0: {"lr": 0.01}},
    }


def assert_same(got, want, where="top"):
    """Equal values, types, dtypes and shapes, to the bit."""
    assert type(got) is type(want), where
    if isinstance(want, cr.Tensor | np.ndarray):
        a = got.data if isinstance(got, cr.Tensor) else got
        b = want.data if isinstance(want, cr.Tensor) else want
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), where
    elif isinstance(want, dict):
        assert list(got) == list(want), where
        for k in want:
            assert_same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list | tuple):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}.{i}")
    elif isinstance(want, np.generic):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), where
    else:
        assert got == want, where


@pytest.mark.parametrize("name", FORMATS)
def test_single_bit_flips_never_load_changed_values(tmp_path, name):
    """Every flipped bit raises CheckpointError (one line) or loads exactly what was saved."""
    path = tmp_path / name
    state = sample_state()
    cr.save(state, path)
    data = path.read_bytes()
    rng = np.random.default_rng(1234)
    raised = 0
    for bit in rng.choice(len(data) * 8, size=300, replace=False):
        bad = bytearray(data)
        bad[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(bad))
        try:
            got = cr.load(path)
        except CheckpointError as exc:
            assert "\n" not in str(exc)
            raised += 1
            continue
        assert_same(got, state, f"bit {bit}")
    # the safetensors digests leave no bit unchecked; in a zip some fields (times,
    # version numbers) change nothing that is loaded
    assert raised == 300 if name.endswith(".safetensors") else raised > 200


def _relabel(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1 and len(old) == len(new)
    return data.replace(old, new)


def test_a_relabelled_dtype_is_caught_by_the_header_digest(tmp_path):
    path = tmp_path / "c.safetensors"
    cr.save({"w": np.arange(4, dtype=np.float32)}, path)
    path.write_bytes(_relabel(path.read_bytes(), b'"F32"', b'"I32"'))
    with pytest.raises(CheckpointError, match="header does not match its SHA-256"):
        cr.load(path)


def test_changed_tensor_bytes_are_caught_by_the_tensor_digest(tmp_path):
    path = tmp_path / "c.safetensors"
    cr.save({"w": np.zeros(4, dtype=np.float32)}, path)
    data = bytearray(path.read_bytes())
    data[-1] = 0x3F
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="tensor 'w' does not match its SHA-256"):
        cr.load(path)


def test_a_checkpoint_with_its_digests_removed_is_refused(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "c.safetensors"
    cr.save({"w": np.zeros(2)}, path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    meta = json.loads(raw[8 : 8 + n])["__metadata__"]
    save_file({"w": np.zeros(2)}, str(path), metadata={"chainrule": meta["chainrule"]})
    with pytest.raises(CheckpointError, match="digests are missing"):
        cr.load(path)


def test_a_file_from_another_writer_gets_the_structural_checks(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": np.arange(3, dtype=np.float32)}, str(path))
    raw = path.read_bytes()
    np.testing.assert_array_equal(cr.load(path)["w"].data, [0, 1, 2])
    path.write_bytes(_relabel(raw, b'"F32"', b'"F64"'))  # 12 bytes cannot hold 3 float64
    with pytest.raises(CheckpointError, match="needs 24"):
        cr.load(path)
    # Without digests nothing can tell F32 from I32 of the same size: the documented limit.
    path.write_bytes(_relabel(raw, b'"F32"', b'"I32"'))
    assert cr.load(path)["w"].dtype == np.int32


def safetensors_bytes(header, data: bytes = b"") -> bytes:
    text = header if isinstance(header, str) else json.dumps(header)
    return struct.pack("<Q", len(text)) + text.encode() + data


def legacy_meta(structure) -> dict:
    """The metadata of a checkpoint written before digests (format /1): loads unverified.

    ``structure`` is an object, or JSON text to put in as it is."""
    text = structure if isinstance(structure, str) else json.dumps(structure)
    return {"chainrule": '{"format": "chainrule.checkpoint/1", "structure": ' + text + "}"}


def test_a_checkpoint_written_before_digests_still_loads(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "old.safetensors"
    meta = legacy_meta({"w": {"__tensor__": "w"}, "epoch": 2})
    save_file({"w": np.ones(2, dtype=np.float32)}, str(path), metadata=meta)
    got = cr.load(path)
    assert got["epoch"] == 2 and got["w"].data.tolist() == [1.0, 1.0]


W = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(
    "header, data, message",
    [
        ({"w": {**W, "shape": [2**40, 2**40]}}, bytes(8), "needs"),
        ({"w": {**W, "shape": [-2]}}, bytes(8), "not a list of sizes"),
        ({"w": {**W, "shape": [2.0]}}, bytes(8), "not a list of sizes"),
        ({"w": {**W, "shape": [True, 2]}}, bytes(8), "not a list of sizes"),
        ({"w": {**W, "shape": [1] * 65}}, bytes(8), "not a list of sizes"),
        ({"w": {**W, "shape": "2"}}, bytes(8), "not a list of sizes"),
        ({"w": {**W, "dtype": "BF16"}}, bytes(8), "not one NumPy can hold"),
        ({"w": {**W, "dtype": ["F32"]}}, bytes(8), "not one NumPy can hold"),
        ({"w": {**W, "data_offsets": [-8, 0]}}, bytes(8), "not within"),
        ({"w": {**W, "data_offsets": [0, 8, 9]}}, bytes(8), "not within"),
        ({"w": {**W, "data_offsets": [0, 2**70]}}, bytes(8), "not within"),
        ({"w": {**W, "data_offsets": [8, 0]}}, bytes(8), "not within"),
        ({"w": W, "v": {**W, "data_offsets": [4, 12]}}, bytes(12), "overlaps"),
        ({"w": W, "v": {**W, "data_offsets": [12, 20]}}, bytes(20), "gap"),
        ({"w": W}, bytes(12), "4 bytes after the last tensor"),
        ({"w": [1, 2]}, bytes(8), "not a JSON object"),
        ([W], bytes(8), "not a JSON object"),
        ('{"w": 1, "w": 2}', b"", "appears twice"),
        ({"__metadata__": {"chainrule": {"format": 1}}}, b"", "map of strings to strings"),
        ({"__metadata__": ["x"]}, b"", "map of strings to strings"),
        ("[" * 100_000 + "]" * 100_000, b"", "nested"),
        ('{"a": ' * 300 + "1" + "}" * 300, b"", "nested more than"),
        ({"__metadata__": {"chainrule": "[" * 50_000 + "]" * 50_000}}, b"", "nested"),
        ({"__metadata__": {"chainrule": "{}"}}, b"", "not an object with a structure"),
        ({"__metadata__": {"chainrule": "[1, 2]"}}, b"", "not an object with a structure"),
        ({"__metadata__": {"chainrule.sha256": "{}"}}, b"", "digest entry is malformed"),
        ({"__metadata__": {"chainrule.sha256": "[[["}}, b"", "not valid JSON"),
    ],
)
def test_crafted_safetensors_headers_raise_one_line(tmp_path, header, data, message):
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(safetensors_bytes(header, data))
    with pytest.raises(CheckpointError, match=message) as info:
        cr.load(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "structure, message",
    [
        ({"__dict__": [1, 2]}, "not a \\[key, value\\] pair"),
        ({"__dict__": [[[1], 2]]}, "key of type list"),
        ({"__dict__": {"a": 1}}, "not a list"),
        ({"__tuple__": 5}, "not a list"),
        ({"__tensor__": 5}, "does not hold"),
        ({"__tensor__": "nope"}, "does not hold"),
        ([{"__tensor__": "w"}, {"__ndarray__": "w"}], "twice"),
        ({"__scalar__": "w"}, "scalar 'w' has shape"),
        ({"x": 1}, "never refers to"),
        ('{"x": ' + "9" * 5000 + "}", "not valid JSON"),  # past int's digit limit
        ('{"a": ' * 300 + "1" + "}" * 300, "nested more than"),
        ("[" * 100_000 + "]" * 100_000, "nested"),
    ],
)
@pytest.mark.parametrize("name", FORMATS)
def test_crafted_descriptions_raise_one_line(tmp_path, structure, message, name):
    from safetensors.numpy import save_file

    path = tmp_path / name
    arrays = {"w": np.ones(2, dtype=np.float32)}
    meta = legacy_meta(structure)
    if name.endswith(".npz"):
        np.savez(path, __chainrule__=np.frombuffer(meta["chainrule"].encode(), np.uint8), **arrays)
    else:
        save_file(arrays, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match=message) as info:
        cr.load(path)
    assert "\n" not in str(info.value)


def npy_bytes(array_or_header, payload: bytes = b"") -> bytes:
    buf = io.BytesIO()
    if isinstance(array_or_header, dict):
        np.lib.format.write_array_header_1_0(buf, array_or_header)
    else:
        np.lib.format.write_array(buf, array_or_header, allow_pickle=False)
    return buf.getvalue() + payload


def write_zip(path, members, compression=zipfile.ZIP_STORED) -> None:
    meta = legacy_meta({})["chainrule"].encode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", compression) as zf:
            zf.writestr("__chainrule__.npy", npy_bytes(np.frombuffer(meta, np.uint8)))
            for name, content in members:
                zf.writestr(name, content)


SEVEN_TIB = {"descr": "<f8", "fortran_order": False, "shape": (7 * 2**40 // 8,)}


@pytest.mark.parametrize(
    "members, message",
    [
        ([("x.npy", npy_bytes(SEVEN_TIB, bytes(64)))], "declares float64 of shape"),
        ([("x.npy", npy_bytes({**SEVEN_TIB, "shape": (9,)}, bytes(64)))], "declares"),
        ([("notes.txt", b"hello")], "not an .npy array"),
        ([("dir/", b"")], "not an .npy array"),
        ([("x.npy", npy_bytes(np.ones(2))), ("x.npy", npy_bytes(np.ones(3)))], "same name"),
        ([("x.npy", b"\x93NUMPY\x01\x00\x04\x00{{{{")], "unreadable .npy header"),
        ([("x.npy", b"\x93NUMPY\x01\x00\x10\x00" + b"(" * 16)], "unreadable .npy header"),
        ([("x.npy", b"\x93NUMPY\x03\x00\x04\x00{}  ")], "version"),
        ([("x.npy", b"not an npy at all")], "not a readable .npz"),
        ([("x.npy", npy_bytes(np.zeros(2, dtype="i4,f4")))], "not a plain number"),
        ([("x.npy", npy_bytes(np.zeros(2, dtype=np.complex64)))], "not a plain number"),
    ],
)
def test_crafted_npz_members_raise_one_line(tmp_path, members, message):
    path = tmp_path / "crafted.npz"
    write_zip(path, members)
    with pytest.raises(CheckpointError, match=message) as info:
        cr.load(path)
    assert "\n" not in str(info.value)


def test_npz_members_that_lie_about_their_size_or_method_are_refused(tmp_path):
    path = tmp_path / "c.npz"
    write_zip(path, [("x.npy", npy_bytes(np.ones(3)))], zipfile.ZIP_BZIP2)
    with pytest.raises(CheckpointError, match="compression method 12"):
        cr.load(path)
    # a deflated member claiming far more than deflate can expand to
    write_zip(path, [("x.npy", npy_bytes(np.zeros(100_000)))], zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("x.npy")
    at = raw.rindex(b"PK\x01\x02")
    assert struct.unpack("<I", raw[at + 24 : at + 28])[0] == info.file_size
    # the central directory entry of x.npy is the last one: patch its uncompressed size
    raw[at + 24 : at + 28] = struct.pack("<I", 0xFFFF_FFF0)
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="claims"):
        cr.load(path)


def test_what_is_not_a_regular_file_is_not_read(tmp_path):
    (tmp_path / "d.safetensors").mkdir()
    with pytest.raises(CheckpointError, match="not a regular file"):
        cr.load(tmp_path / "d.safetensors")
    with pytest.raises(FileNotFoundError):
        cr.load(tmp_path / "missing.safetensors")


def test_npz_keys_that_are_numpy_keywords_round_trip(tmp_path):
    state = {"file": np.ones(2), "allow_pickle": np.zeros(1), "__metadata__": 1}
    cr.save(state, tmp_path / "k.npz")
    got = cr.load(tmp_path / "k.npz")
    assert got["file"].tolist() == [1.0, 1.0] and got["allow_pickle"].tolist() == [0.0]
    cr.save({"__metadata__": np.ones(1)}, tmp_path / "k.safetensors")
    assert cr.load(tmp_path / "k.safetensors")["__metadata__"].tolist() == [1.0]


def test_big_endian_arrays_round_trip_with_digests(tmp_path):
    a = np.arange(5, dtype=">f8")
    for name in FORMATS:
        cr.save({"a": a}, tmp_path / name)
        got = cr.load(tmp_path / name)["a"]
        assert got.tolist() == a.tolist() and got.dtype.kind == "f"


def test_npz_needs_no_safetensors_and_safetensors_loads_without_it(tmp_path, monkeypatch):
    cr.save({"w": np.ones(2)}, tmp_path / "c.safetensors")
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    cr.save({"w": np.ones(2)}, tmp_path / "c.npz")
    assert cr.load(tmp_path / "c.npz")["w"].tolist() == [1.0, 1.0]
    assert cr.load(tmp_path / "c.safetensors")["w"].tolist() == [1.0, 1.0]
    with pytest.raises(ImportError, match="needs the safetensors package"):
        cr.save({"w": np.ones(2)}, tmp_path / "d.safetensors")


@pytest.mark.parametrize("name", FORMATS)
def test_save_keeps_mode_and_follows_symlinks(tmp_path, name):
    real = tmp_path / ("real-" + name)
    cr.save({"w": np.ones(2)}, real)
    os.chmod(real, 0o600)
    link = tmp_path / name
    link.symlink_to(real.name)
    cr.save({"w": np.zeros(2)}, link)
    assert link.is_symlink() and stat.S_IMODE(os.stat(real).st_mode) == 0o600
    assert cr.load(real)["w"].tolist() == [0.0, 0.0]


def test_a_save_killed_mid_write_leaves_nothing_after_the_next(tmp_path):
    path = tmp_path / "big.npz"
    cr.save({"w": np.zeros(3)}, path)
    script = (
        "import os, sys, time\n"
        "import numpy as np\n"
        "import chainrule as cr\n"
        "def stall(fd):\n"  # the temporary file is whole; the save has not renamed it yet
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
        "os.fsync = stall\n"
        f"cr.save({{'w': np.ones(2_000_000)}}, {str(path)!r})\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"writing\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    leftovers = [n for n in os.listdir(tmp_path) if n != "big.npz"]
    assert len(leftovers) == 1 and os.path.getsize(tmp_path / leftovers[0]) > 16_000_000
    assert cr.load(path)["w"].tolist() == [0.0] * 3  # the killed save changed nothing
    cr.save({"w": np.ones(3)}, path)
    assert os.listdir(tmp_path) == ["big.npz"]
