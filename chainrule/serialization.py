"""Checkpoints without pickle: ``cr.save(obj, path)`` and ``cr.load(path)``.

``obj`` is a state dict, or any nesting of dicts, lists and tuples whose leaves
are Tensors, NumPy arrays, numbers, strings, booleans or None (a model's and an
optimizer's state dicts, an epoch count, a random generator's state...).

The file is safetensors (https://github.com/huggingface/safetensors): an 8-byte
header length, a JSON header, then the raw array bytes. Arrays are stored as its
tensors, under their dotted path (``"model.0.weight"``), so other safetensors
readers see them by name; the structure around them is JSON in the header's
metadata. A path ending in ``.npz`` gives a NumPy ``.npz`` file instead (needs
no extra package, to write or to read). Either way:

- nothing is ever unpickled: ``load`` reads JSON and raw arrays only, and refuses
  anything else with :class:`CheckpointError`;
- what is loaded is verified. A safetensors checkpoint carries, in its metadata
  (``"chainrule.sha256"``, a string as the format requires), the SHA-256 of each
  tensor's bytes and of its header (every tensor's name, dtype, shape and digest,
  and the other metadata), so a flipped bit anywhere, a dtype relabelled from F32
  to I32 included, raises :class:`CheckpointError`. In a ``.npz`` every member is
  checked against the zip format's own CRC-32 (which catches every single-bit
  error). A safetensors file from another writer has no digests: it gets the
  structural checks only (well-formed header, known dtypes, sizes that match the
  shapes, offsets in range, contiguous and not overlapping);
- every malformed file raises :class:`CheckpointError` with one line saying what
  is wrong, before anything is allocated from sizes the file declares;
- writes are atomic (:func:`chainrule._files.atomic_writer`): a temporary file in
  the same folder, fsynced, then renamed over the target, whose mode is kept.

>>> import os, tempfile
>>> import numpy as np
>>> import chainrule as cr
>>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
>>> cr.save({"w": cr.tensor([1.0, 2.0]), "step": 3, "betas": (0.9, 0.999)}, path)
>>> state = cr.load(path)
>>> state["w"], state["step"], state["betas"]
(tensor([1., 2.]), 3, (0.9, 0.999))
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np

from chainrule._files import atomic_writer, write_atomic
from chainrule.tensor import Tensor, as_tensor

# /2 files carry digests and must have them; /1 files (written before digests) load
# with the structural checks only.
FORMAT = "chainrule.checkpoint/2"
_FORMATS = (FORMAT, "chainrule.checkpoint/1")
_META_KEY = "chainrule"
_SUM_KEY = "chainrule.sha256"
_NPZ_META = "__chainrule__"
_RESERVED = (_NPZ_META, "__metadata__")
_MAX_HEADER = 100 * 1024 * 1024  # what the safetensors library itself accepts
# JSON levels of the structure; a tuple costs two, a dict with non-string keys three.
# Far above any state dict, far below the interpreter's recursion limit.
_MAX_DEPTH = 200
# deflate cannot expand more than 1032:1; a member claiming more lies about its size
_MAX_DEFLATE_RATIO = 1032

# safetensors' dtype names for the dtypes NumPy holds; the format is little-endian.
_DTYPES = {
    "BOOL": np.dtype("bool"),
    "U8": np.dtype("uint8"),
    "I8": np.dtype("int8"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
}
_DTYPE_NAMES = {dtype: name for name, dtype in _DTYPES.items()}


class CheckpointError(ValueError):
    """A file that is not a readable chainrule checkpoint (corrupt, truncated, foreign)."""


def _error(path: str, message: str) -> CheckpointError:
    # One line, always: callers print it after "cannot resume:" and exit.
    return CheckpointError(f"{path}: {message}".replace("\n", " "))


def _short(name: Any) -> str:
    text = repr(name)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- encoding
class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _name(self, path: str) -> str:
        name = path or "tensor"
        k = 1
        while name in self.arrays or name in _RESERVED:
            k += 1
            name = f"{path or 'tensor'}#{k}"
        return name

    def _store(self, kind: str, array: np.ndarray, path: str) -> dict[str, str]:
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"cr.save: the array at {path or 'the top level'!r} has dtype {array.dtype}; "
                "checkpoints hold boolean, integer and floating-point arrays only"
            )
        name = self._name(path)
        little = array.dtype.newbyteorder("<")
        if array.dtype != little:  # the digest is of the bytes as stored: little-endian
            array = array.astype(little)
        # safetensors 0.8 writes wrong bytes for non-contiguous arrays: copy first
        # (with copy(order="C"): np.ascontiguousarray would turn a 0-d array into 1-d).
        self.arrays[name] = array if array.flags.c_contiguous else array.copy(order="C")
        return {kind: name}

    def encode(self, obj: Any, path: str) -> Any:
        if isinstance(obj, Tensor):
            return self._store("__tensor__", obj.data, path)
        if isinstance(obj, np.ndarray):
            return self._store("__ndarray__", obj, path)
        if isinstance(obj, np.generic):
            return self._store("__scalar__", np.asarray(obj), path)
        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        join = (lambda k: f"{path}.{k}") if path else str
        if isinstance(obj, Mapping):
            if all(isinstance(k, str) and not k.startswith("__") for k in obj):
                return {k: self.encode(v, join(k)) for k, v in obj.items()}
            items = []
            for k, v in obj.items():
                if not isinstance(k, str | int | float | bool) and k is not None:
                    raise TypeError(
                        "cr.save: dict keys must be str, int, float, bool or None, not "
                        + type(k).__name__
                    )
                items.append([k, self.encode(v, join(k))])
            return {"__dict__": items}
        if isinstance(obj, list):
            return [self.encode(v, join(i)) for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, join(i)) for i, v in enumerate(obj)]}
        raise TypeError(
            f"cr.save: cannot store a {type(obj).__name__} (at {path or 'the top level'!r}); "
            "checkpoints hold Tensors, arrays, numbers, strings, None, and dicts, lists and "
            "tuples of them (no pickling)"
        )


def _depth(obj: Any) -> int:
    """How many JSON containers deep ``obj`` is; a loop, so any depth is safe to measure."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


class _Decoder:
    """Rebuilds the saved object; every array referenced exactly once, every marker well-formed."""

    def __init__(self, arrays: Mapping[str, np.ndarray], path: str) -> None:
        self.arrays, self.path, self.used = arrays, path, set()

    def bad(self, message: str) -> CheckpointError:
        return _error(self.path, f"the checkpoint's description is malformed: {message}")

    def array(self, key: str, value: Any) -> Any:
        if not isinstance(value, str) or value not in self.arrays:
            raise self.bad(f"it refers to an array {_short(value)} the file does not hold")
        if value in self.used:
            raise self.bad(f"it refers to the array {_short(value)} twice")
        self.used.add(value)
        array = self.arrays[value]
        if key == "__scalar__":
            if array.ndim:
                raise self.bad(f"the scalar {_short(value)} has shape {array.shape}")
            return array[()]
        return as_tensor(array) if key == "__tensor__" else array

    def decode(self, obj: Any) -> Any:
        if isinstance(obj, list):
            return [self.decode(v) for v in obj]
        if not isinstance(obj, dict):
            return obj
        if len(obj) == 1:
            # The encoder writes any dict whose keys start with "__" in the "__dict__"
            # form, so a one-key dict with a marker is always a marker.
            ((key, value),) = obj.items()
            if key in ("__tensor__", "__ndarray__", "__scalar__"):
                return self.array(key, value)
            if key == "__tuple__":
                if not isinstance(value, list):
                    raise self.bad("a __tuple__ that is not a list")
                return tuple(self.decode(v) for v in value)
            if key == "__dict__":
                if not isinstance(value, list):
                    raise self.bad("a __dict__ that is not a list")
                out = {}
                for item in value:
                    if not (isinstance(item, list) and len(item) == 2):
                        raise self.bad("a __dict__ item that is not a [key, value] pair")
                    k = item[0]
                    if k is not None and not isinstance(k, str | int | float):
                        raise self.bad(f"a __dict__ key of type {type(k).__name__}")
                    out[k] = self.decode(item[1])
                return out
        return {k: self.decode(v) for k, v in obj.items()}

    def __call__(self, structure: Any) -> Any:
        result = self.decode(structure)
        unused = set(self.arrays) - self.used
        if unused:
            raise self.bad(f"the file holds arrays it never refers to ({_short(min(unused))})")
        return result


# ---------------------------------------------------------------- digests
def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(array.reshape(-1).view(np.uint8)).hexdigest()


def _header_digest(
    tensors: Mapping[str, tuple[str, list[int], str]], metadata: Mapping[str, str]
) -> str:
    """SHA-256 of what the header says, in a canonical form the writer can compute before
    the safetensors library lays out the file: every tensor's dtype, shape and data
    digest, and every metadata entry but the digests' own. Offsets are left out on
    purpose (the library chooses them); a wrong offset reads other bytes, which the data
    digests catch, or breaks contiguity, which the structural checks catch."""
    doc = {
        "metadata": {k: v for k, v in metadata.items() if k != _SUM_KEY},
        "tensors": {name: [d, list(s), h] for name, (d, s, h) in tensors.items()},
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


# ---------------------------------------------------------------- writing
def _safetensors_numpy() -> Any:
    try:
        import safetensors.numpy as stn
    except ImportError:
        raise ImportError(
            "cr.save of .safetensors files needs the safetensors package: "
            "pip install 'chainrule[train]' (or pip install safetensors); a path ending in "
            ".npz needs nothing extra"
        ) from None
    return stn


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` (a state dict, or nested dicts/lists of arrays and numbers) to ``path``.

    safetensors by default, with the SHA-256 of every tensor and of the header in its
    metadata; NumPy ``.npz`` when ``path`` ends in ``.npz``. Atomic; the target's mode
    is kept, a symlink is followed, a target that is not a regular file is refused
    (:class:`OSError`).

    >>> import os, tempfile
    >>> import chainrule as cr
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> cr.save(cr.nn.Linear(2, 1).state_dict(), path)
    >>> sorted(cr.load(path))
    ['bias', 'weight']
    """
    path = os.fspath(path)
    encoder = _Encoder()
    try:
        structure = encoder.encode(obj, "")
    except RecursionError:
        raise TypeError("cr.save: the object is nested too deeply to store") from None
    if _depth(structure) > _MAX_DEPTH:
        # load refuses deeper descriptions (a crafted file could exhaust the stack),
        # so never write one it would refuse.
        raise TypeError(f"cr.save: the object is nested more than {_MAX_DEPTH} levels deep")
    meta = json.dumps({"format": FORMAT, "structure": structure})
    if path.endswith(".npz"):
        arrays = dict(encoder.arrays)
        arrays[_NPZ_META] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
        # zipfile and write_array directly, as np.savez does, but streamed into the
        # temporary file (no second copy in memory), and without np.savez's keyword
        # arguments, which a tensor named "file" would collide with.
        with atomic_writer(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            for name, array in arrays.items():
                with zf.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
        return
    stn = _safetensors_numpy()
    metadata = {_META_KEY: meta}
    tensors = {
        name: (_DTYPE_NAMES[a.dtype], list(a.shape), _sha256(a))
        for name, a in encoder.arrays.items()
    }
    metadata[_SUM_KEY] = json.dumps(
        {
            "header": _header_digest(tensors, metadata),
            "tensors": {name: t[2] for name, t in tensors.items()},
        }
    )
    try:
        data = stn.save(encoder.arrays, metadata=metadata)
    except Exception as exc:  # the Rust side raises its own error types
        raise TypeError(f"cr.save: safetensors could not store the arrays: {exc}") from None
    write_atomic(path, data)


# ---------------------------------------------------------------- reading
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads would keep the last of two equal keys: a tensor silently dropped
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {_short(key)} appears twice")
        out[key] = value
    return out


def _parse_json(raw: bytes | str, path: str, what: str, prefix: str = "") -> Any:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise _error(path, f"{prefix}the {what} is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise _error(path, f"{prefix}the {what} is not valid JSON ({exc})") from None
    if _depth(value) > _MAX_DEPTH:
        raise _error(path, f"the {what} is nested more than {_MAX_DEPTH} levels deep")
    return value


def _parse_meta(text: str, path: str) -> tuple[str, Any]:
    meta = _parse_json(text, path, "checkpoint's description")
    if not isinstance(meta, dict) or "structure" not in meta:
        raise _error(path, "the checkpoint's description is not an object with a structure")
    if meta.get("format") not in _FORMATS:
        raise _error(path, f"unknown checkpoint format {_short(meta.get('format'))}")
    return meta["format"], meta["structure"]


def _tensor_table(header: dict[str, Any], nbytes: int, path: str) -> dict[str, tuple]:
    """Check every tensor entry against the data's ``nbytes``; name -> (dtype, shape, start)."""
    table = {}
    for name, info in header.items():
        where = f"tensor {_short(name)}"
        if not isinstance(info, dict):
            raise _error(path, f"{where}: its header entry is not a JSON object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            raise _error(path, f"{where}: dtype {_short(dtype)} is not one NumPy can hold")
        if not (
            isinstance(shape, list)
            and len(shape) <= 64  # NumPy's own limit on dimensions
            and all(type(d) is int and d >= 0 for d in shape)
        ):
            raise _error(path, f"{where}: shape {_short(shape)} is not a list of sizes")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= nbytes
        ):
            raise _error(
                path,
                f"{where}: data_offsets {_short(offsets)} are not within the {nbytes} "
                "bytes of data",
            )
        need = math.prod(shape) * _DTYPES[dtype].itemsize
        if offsets[1] - offsets[0] != need:
            raise _error(
                path,
                f"{where}: holds {offsets[1] - offsets[0]} bytes, but {dtype} of shape "
                f"{shape} needs {need}",
            )
        table[name] = (_DTYPES[dtype], tuple(shape), offsets[0], offsets[1])
    end = 0
    for name, (_, _, begin, stop) in sorted(table.items(), key=lambda kv: kv[1][2:]):
        if begin != end:
            gap = "overlaps the one before it" if begin < end else "leaves a gap before it"
            raise _error(path, f"tensor {_short(name)}: its data {gap}")
        end = stop
    if end != nbytes:
        raise _error(path, f"{nbytes - end} bytes after the last tensor belong to none")
    return table


def _verify_digests(
    table: Mapping[str, tuple], meta: Mapping[str, str], data: bytearray, path: str
) -> None:
    sums = _parse_json(meta[_SUM_KEY], path, "digest entry")
    tensor_sums = sums.get("tensors") if isinstance(sums, dict) else None
    if not (
        isinstance(tensor_sums, dict)
        and isinstance(sums.get("header"), str)
        and all(isinstance(v, str) for v in tensor_sums.values())
    ):
        raise _error(path, "the digest entry is malformed")
    if set(tensor_sums) != set(table):
        raise _error(path, "the digest entry does not list the tensors the header does")
    described = {
        name: (_DTYPE_NAMES[dtype], list(shape), tensor_sums[name])
        for name, (dtype, shape, _, _) in table.items()
    }
    if _header_digest(described, meta) != sums["header"]:
        raise _error(path, "corrupt: the header does not match its SHA-256 digest")
    view = memoryview(data)
    for name, (_, _, begin, end) in table.items():
        if hashlib.sha256(view[begin:end]).hexdigest() != tensor_sums[name]:
            raise _error(path, f"corrupt: tensor {_short(name)} does not match its SHA-256")


def _load_safetensors(f: BinaryIO, size: int, path: str) -> Any:
    # Every size the file declares is compared with the file's real size before
    # anything is allocated from it.
    if size < 8:
        raise _error(path, f"too short to be a checkpoint ({size} bytes)")
    (n,) = struct.unpack("<Q", f.read(8))
    if n < 2 or n > _MAX_HEADER or 8 + n > size:
        raise _error(
            path,
            f"not a safetensors checkpoint, or a truncated one (header length {n}, "
            f"file length {size})",
        )
    header = _parse_json(f.read(n), path, "header", "not a safetensors checkpoint: ")
    if not isinstance(header, dict):
        raise _error(path, "not a safetensors checkpoint (the header is not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    if not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise _error(path, "the header's __metadata__ is not a map of strings to strings")
    data = bytearray(size - 8 - n)  # writable, so the arrays viewing it are too
    if f.readinto(data) != len(data):
        raise _error(path, "the file changed size while being read")
    table = _tensor_table(header, len(data), path)
    if _SUM_KEY in meta:
        _verify_digests(table, meta, data, path)
    structure = None
    if _META_KEY in meta:
        fmt, structure = _parse_meta(meta[_META_KEY], path)
        if fmt == FORMAT and _SUM_KEY not in meta:
            raise _error(path, "corrupt: the checkpoint's SHA-256 digests are missing")
    arrays = {
        name: np.frombuffer(data, dtype, math.prod(shape), begin).reshape(shape)
        if begin < end
        else np.zeros(shape, dtype)
        for name, (dtype, shape, begin, end) in table.items()
    }
    if _META_KEY not in meta:
        # A plain safetensors file (from another library): its arrays by name.
        return {k: as_tensor(a) for k, a in arrays.items()}
    return _Decoder(arrays, path)(structure)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, size: int, path: str) -> np.ndarray:
    where = f"member {_short(info.filename)}"
    if not info.filename.endswith(".npy"):
        raise _error(path, f"{where} is not an .npy array")
    if info.flag_bits & 0x1:
        raise _error(path, f"{where} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _error(path, f"{where} uses compression method {info.compress_type}")
    ratio = 1 if info.compress_type == zipfile.ZIP_STORED else _MAX_DEFLATE_RATIO
    if info.compress_size > size or info.file_size > ratio * info.compress_size + 1024:
        raise _error(
            path,
            f"{where} claims {info.file_size} bytes from {info.compress_size} stored in "
            f"a file of {size}",
        )
    with zf.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in ((1, 0), (2, 0)):
            raise _error(path, f"{where} is .npy version {version}, not 1.0 or 2.0")
        read = np.lib.format.read_array_header_1_0
        if version == (2, 0):
            read = np.lib.format.read_array_header_2_0
        try:
            shape, fortran, dtype = read(member)
        except (SyntaxError, tokenize.TokenError, RecursionError) as exc:
            # NumPy parses the header with tokenize and ast, whose errors are not ValueErrors
            raise _error(path, f"{where} has an unreadable .npy header ({exc})") from None
        if dtype.hasobject:
            raise _error(path, f"{where} holds Python objects; pickled objects are never loaded")
        if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
            raise _error(path, f"{where} has dtype {dtype}, not a plain number or boolean")
        nbytes = math.prod(shape) * dtype.itemsize
        if member.tell() + nbytes != info.file_size:
            raise _error(
                path,
                f"{where} declares {dtype} of shape {shape} ({nbytes} bytes), but holds "
                f"{info.file_size - member.tell()}",
            )
        buf = bytearray(nbytes)
        if member.readinto(buf) != nbytes or member.read(1):
            # the last read also makes zipfile compare the member's CRC-32
            raise _error(path, f"{where} does not hold the {nbytes} bytes it declares")
    array = np.frombuffer(buf, dtype) if nbytes else np.zeros(0, dtype)
    return array.reshape(shape, order="F" if fortran else "C")


def _load_npz(f: BinaryIO, size: int, path: str) -> Any:
    # np.load would allocate what a member's header declares before reading it (7 TiB
    # for a crafted header) and hand back raw bytes for a member that is not .npy; so
    # the members are read here, each checked before its array is allocated.
    try:
        with zipfile.ZipFile(f) as zf:
            infos = zf.infolist()
            names = [info.filename for info in infos]
            if len(set(names)) != len(names):
                raise _error(path, "the zip holds two members of the same name")
            if _NPZ_META + ".npy" not in names:
                raise _error(
                    path, f"a zip/npz file, but not a chainrule checkpoint (no {_NPZ_META} entry)"
                )
            arrays = {info.filename[:-4]: _read_member(zf, info, size, path) for info in infos}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as exc:
        raise _error(
            path, f"not a readable .npz checkpoint ({type(exc).__name__}: {exc})"
        ) from None
    except (NotImplementedError, RuntimeError) as exc:  # zipfile: unsupported features
        raise _error(path, f"an .npz checkpoint this reader cannot read ({exc})") from None
    meta = arrays.pop(_NPZ_META)
    if meta.dtype != np.uint8 or meta.ndim != 1:
        raise _error(path, f"the {_NPZ_META} entry is not a byte string")
    try:
        text = meta.tobytes().decode("utf-8")
    except UnicodeDecodeError:
        raise _error(path, "the checkpoint's description is not UTF-8") from None
    _, structure = _parse_meta(text, path)
    return _Decoder(arrays, path)(structure)


def load(
    path: str | os.PathLike, map_location: Any = None, weights_only: bool | None = None
) -> Any:
    """Read what :func:`save` wrote. Arrays saved from Tensors come back as Tensors.

    ``map_location`` and ``weights_only`` are accepted for PyTorch's programs: the only
    location is the CPU (``"cpu"``, a device whose type is ``"cpu"``, a dict mapping to
    it, or a function, which is not called; another device raises
    ``cr.nn.DeviceError``), and nothing is ever unpickled, so every load is "weights only".

    Verifies what it reads: the SHA-256 digests of a safetensors checkpoint, the CRC-32
    of each ``.npz`` member, and for any file the header's structure (dtypes, shapes,
    offsets, sizes). A plain safetensors file written by another library has no digests;
    it gets the structural checks and loads as a dict of Tensors. Raises
    :class:`CheckpointError` (one line) for a corrupt, truncated or foreign file, and
    :class:`OSError` when the file cannot be opened; never unpickles anything.

    >>> import os, tempfile
    >>> import chainrule as cr
    >>> model = cr.nn.Linear(2, 1)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> cr.save(model.state_dict(), path)
    >>> model.load_state_dict(cr.load(path))
    IncompatibleKeys(missing_keys=[], unexpected_keys=[])
    """
    _check_location(map_location)
    del weights_only  # always true in effect: only JSON and raw arrays are read
    path = os.fspath(path)
    if not stat.S_ISREG(os.stat(path).st_mode):  # /dev/zero would be read forever
        raise _error(path, "not a regular file")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        magic = f.read(4)
        f.seek(0)
        if magic == b"PK\x03\x04" or (path.endswith(".npz") and size >= 4):
            return _load_npz(f, size, path)
        return _load_safetensors(f, size, path)


def _check_location(map_location: Any) -> None:
    from chainrule.dtypes import check_device, device_name

    if map_location is None:
        return
    if isinstance(map_location, Mapping):  # {"cuda:0": "cpu"}: where each location goes
        for target in map_location.values():
            check_device(target, "cr.load(map_location=...)")
    elif device_name(map_location) is not None or not callable(map_location):
        check_device(map_location, "cr.load(map_location=...)")
    # else a function mapping PyTorch storages: there are none to map
