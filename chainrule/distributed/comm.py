"""Collectives on NumPy arrays and small JSON objects (no Tensors, no autograd).

The layer under :mod:`chainrule.ops.collectives` (the differentiable all-reduce)
and the rest of :mod:`chainrule.distributed`. Data moves as buffers; objects go
as JSON text, never pickle, so no rank ever unpickles what another one sent.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from chainrule.distributed import world

OPS = ("sum", "mean")


def check_op(op: str, where: str) -> None:
    if op not in OPS:
        raise ValueError(f"{where}: op must be 'sum' or 'mean', got {op!r}")


def _contiguous(x: Any) -> np.ndarray:
    return np.asarray(x, order="C")


def allreduce_array(x: Any, op: str = "sum") -> np.ndarray:
    """The element-wise sum (or mean) of ``x`` over the ranks, on every rank."""
    check_op(op, "all_reduce")
    x = _contiguous(x)
    world.init()
    c = world.comm()
    n = c.Get_size()
    if n == 1:
        return x.copy()
    out = np.empty_like(x)
    c.Allreduce(x, out, op=world.mpi().SUM)
    if op == "mean":
        out /= n
    return out


def allgather_array(x: Any) -> np.ndarray:
    """Every rank's ``x`` (same shape and dtype on all), stacked on a new first axis."""
    x = _contiguous(x)
    world.init()
    c = world.comm()
    check_same_spec(x, "all_gather")
    out = np.empty((c.Get_size(), *x.shape), x.dtype)
    c.Allgather(x, out)
    return out


def bcast_array(x: np.ndarray, root: int = 0) -> None:
    """Overwrite ``x`` (in place, contiguous) on every rank with root's."""
    world.init()
    c = world.comm()
    if c.Get_size() > 1:
        c.Bcast(x, root=root)


def bcast_json(obj: Any, root: int = 0) -> Any:
    """``obj`` from root, sent as JSON text in a byte buffer (never pickle)."""
    world.init()
    c = world.comm()
    if c.Get_size() == 1:
        return json.loads(json.dumps(obj, default=_json_default))
    if c.Get_rank() == root:
        data = np.frombuffer(json.dumps(obj, default=_json_default).encode("utf-8"), np.uint8)
        length = np.array([data.size], np.int64)
    else:
        length = np.zeros(1, np.int64)
    c.Bcast(length, root=root)
    if c.Get_rank() != root:
        data = np.empty(int(length[0]), np.uint8)
    c.Bcast(data, root=root)
    return json.loads(data.tobytes().decode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(
        f"broadcast_object sends JSON only (never pickle): a {type(value).__name__} is not "
        "JSON-able; send arrays with broadcast_parameters or all_gather"
    )


def check_same_spec(x: np.ndarray, where: str) -> None:
    """Raise on every rank when the ranks' arrays differ in shape or dtype, instead
    of letting MPI read past a buffer or mix up values."""
    mine = [list(x.shape), x.dtype.str]
    root = bcast_json(mine)
    ok = np.array([1 if root == mine else 0], np.int32)
    c = world.comm()
    every = np.empty_like(ok)
    c.Allreduce(ok, every, op=world.mpi().MIN)
    if not every[0]:
        raise ValueError(
            f"{where}: the ranks' arrays differ (rank {c.Get_rank()} has shape "
            f"{tuple(x.shape)} {x.dtype}, rank 0 has shape {tuple(root[0])} "
            f"{np.dtype(root[1])}); every rank must pass the same shape and dtype"
        )
