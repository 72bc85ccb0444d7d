"""Checkpoints without pickle: ``cr.save(obj, path)`` and ``cr.load(path)``.

``obj`` is a state dict, or any nesting of dicts, lists and tuples whose leaves
are Tensors, NumPy arrays, numbers, strings, booleans or None (a model's and an
optimizer's state dicts, an epoch count, a random generator's state...).

The file is safetensors (https://github.com/huggingface/safetensors): an 8-byte
header length, a JSON header, then the raw array bytes. Arrays are stored as its
tensors, under their dotted path (``"model.0.weight"``), so other safetensors
readers see them by name; the structure around them is JSON in the header's
metadata. A path ending in ``.npz`` gives a NumPy ``.npz`` file instead (needs
no extra package). Either way:

- nothing is ever unpickled: ``load`` reads JSON and raw arrays only
  (``allow_pickle=False``), and refuses anything else with :class:`CheckpointError`;
- writes are atomic: a temporary file in the same folder, flushed and fsynced,
  then renamed over the target, so a crash leaves the old file or the new one.

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

import io
import json
import os
import struct
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from chainrule._files import write_atomic
from chainrule.tensor import Tensor, as_tensor

FORMAT = "chainrule.checkpoint/1"
_META_KEY = "chainrule"
_NPZ_META = "__chainrule__"
_MAX_HEADER = 100 * 1024 * 1024


class CheckpointError(ValueError):
    """A file that is not a readable chainrule checkpoint (corrupt, truncated, foreign)."""


# ---------------------------------------------------------------- encoding
class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _name(self, path: str) -> str:
        name = path or "tensor"
        k = 1
        while name in self.arrays or name == _NPZ_META:
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


def _decode(obj: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        ((key, value),) = obj.items()
        if key in ("__tensor__", "__ndarray__", "__scalar__"):
            if not isinstance(value, str) or value not in arrays:
                raise CheckpointError(
                    f"the checkpoint refers to an array {value!r} it does not hold"
                )
            array = arrays[value]
            if key == "__scalar__":
                return array[()]
            return as_tensor(array) if key == "__tensor__" else array
        if key == "__tuple__" and isinstance(value, list):
            return tuple(_decode(v, arrays) for v in value)
        if key == "__dict__" and isinstance(value, list):
            return {k: _decode(v, arrays) for k, v in value}
    return {k: _decode(v, arrays) for k, v in obj.items()}


# ---------------------------------------------------------------- writing
def _safetensors_numpy() -> Any:
    try:
        import safetensors.numpy as stn
    except ImportError:
        raise ImportError(
            "cr.save/cr.load of .safetensors files need the safetensors package: "
            "pip install 'chainrule[train]' (or pip install safetensors); a path ending in "
            ".npz needs nothing extra"
        ) from None
    return stn


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` (a state dict, or nested dicts/lists of arrays and numbers) to ``path``.

    safetensors by default; NumPy ``.npz`` when ``path`` ends in ``.npz``. Atomic.
    """
    path = os.fspath(path)
    encoder = _Encoder()
    structure = encoder.encode(obj, "")
    meta = json.dumps({"format": FORMAT, "structure": structure})
    if path.endswith(".npz"):
        buf = io.BytesIO()
        arrays = dict(encoder.arrays)
        arrays[_NPZ_META] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
        np.savez(buf, **arrays)
        data = buf.getvalue()
    else:
        stn = _safetensors_numpy()
        try:
            data = stn.save(encoder.arrays, metadata={_META_KEY: meta})
        except Exception as exc:  # the Rust side raises its own error types
            raise TypeError(f"cr.save: safetensors could not store the arrays: {exc}") from None
    write_atomic(path, data)


# ---------------------------------------------------------------- reading
def _writable(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: (a if a.flags.writeable else a.copy()) for k, a in arrays.items()}


def _parse_meta(text: Any, path: str) -> Any:
    try:
        meta = json.loads(text)
        if meta.get("format") != FORMAT:
            raise ValueError(f"unknown format {meta.get('format')!r}")
        return meta["structure"]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CheckpointError(
            f"{path}: the checkpoint's description is unreadable ({exc})"
        ) from None


def _load_npz(data: bytes, path: str) -> Any:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            if _NPZ_META not in npz.files:
                raise CheckpointError(
                    f"{path}: a zip/npz file, but not a chainrule checkpoint (no {_NPZ_META} entry)"
                )
            arrays = {k: npz[k] for k in npz.files}
    except CheckpointError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise CheckpointError(
            f"{path}: not a readable .npz checkpoint ({type(exc).__name__}: {exc}); pickled "
            "objects are never loaded"
        ) from None
    meta = arrays.pop(_NPZ_META)
    try:
        text = meta.tobytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: the checkpoint's description is not UTF-8") from None
    return _decode(_parse_meta(text, path), _writable(arrays))


def _load_safetensors(data: bytes, path: str) -> Any:
    # Check the framing ourselves first: a foreign file (a pickle, a zip, text) fails
    # here with a clear message, before any parser sees it.
    if len(data) < 8:
        raise CheckpointError(f"{path}: too short to be a checkpoint ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n < 2 or n > _MAX_HEADER or 8 + n > len(data):
        raise CheckpointError(
            f"{path}: not a safetensors checkpoint, or a truncated one (header length {n}, "
            f"file length {len(data)})"
        )
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a safetensors checkpoint ({exc})") from None
    stn = _safetensors_numpy()
    try:
        arrays = stn.load(data)
    except Exception as exc:  # safetensors' own SafetensorError and friends
        raise CheckpointError(
            f"{path}: a corrupt or truncated safetensors file ({type(exc).__name__}: {exc})"
        ) from None
    arrays = _writable(arrays)
    meta = header.get("__metadata__") or {}
    if _META_KEY not in meta:
        # A plain safetensors file (from another library): its arrays by name.
        return {k: as_tensor(a) for k, a in arrays.items()}
    return _decode(_parse_meta(meta[_META_KEY], path), arrays)


def load(path: str | os.PathLike) -> Any:
    """Read what :func:`save` wrote. Arrays saved from Tensors come back as Tensors.

    A plain safetensors file written by another library loads as a dict of Tensors.
    Raises :class:`CheckpointError` for a corrupt, truncated or foreign file; never
    unpickles anything.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"PK\x03\x04" or (path.endswith(".npz") and len(data) >= 4):
        return _load_npz(data, path)
    return _load_safetensors(data, path)
