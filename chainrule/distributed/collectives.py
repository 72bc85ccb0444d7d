"""Collectives on Tensors, modules and checkpoints: the user-facing layer over
:mod:`~chainrule.distributed.comm` (arrays) and the ``all_reduce`` primitive."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.distributed import comm, world
from chainrule.ops.collectives import all_reduce as _all_reduce_prim
from chainrule.tensor import Tensor, as_tensor


def all_reduce(tensor: Any, op: str = "sum") -> Tensor:
    """The sum (``op="sum"``) or mean (``op="mean"``) of ``tensor`` over the ranks.

    Differentiable: its gradient is the all-reduce (same op) of the gradient, so
    ``backward`` through it communicates too, and ``cr.explain`` shows it as a
    node. Every rank must call it, in the same order, with the same shape and dtype.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> cr.distributed.all_reduce(x * 2).sum().backward()   # one rank: 2 x
    >>> x.grad.tolist()
    [2.0, 2.0]
    """
    comm.check_op(op, "all_reduce")
    return _all_reduce_prim(tensor, op=op)


def all_gather(tensor: Any) -> Tensor:
    """Every rank's ``tensor`` stacked along a new first axis (rank order); no gradient."""
    data = tensor.data if isinstance(tensor, Tensor) else np.asarray(tensor)
    return as_tensor(comm.allgather_array(data))


def broadcast_object(obj: Any, root: int = 0) -> Any:
    """Root's ``obj`` on every rank. Small JSON-able objects only (dicts, lists,
    strings, numbers): sent as JSON text, never pickled, so no rank runs code that
    another sent. Arrays go with :func:`broadcast_parameters` or :func:`broadcast_state`."""
    return comm.bcast_json(obj, root)


def _tensors_of(module_or_state: Any) -> list[tuple[str, Tensor | np.ndarray]]:
    if hasattr(module_or_state, "named_parameters") and hasattr(module_or_state, "named_buffers"):
        return [*module_or_state.named_parameters(), *module_or_state.named_buffers()]
    if isinstance(module_or_state, dict):
        return sorted(
            (str(k), v) for k, v in module_or_state.items() if isinstance(v, Tensor | np.ndarray)
        )
    raise TypeError(
        "broadcast_parameters: expected a cr.nn.Module or a dict of tensors (a state_dict), "
        f"got {type(module_or_state).__name__}"
    )


def broadcast_parameters(module_or_state: Any, root: int = 0) -> None:
    """Overwrite, in place, every parameter and buffer of a module (or every tensor
    of a state dict) with root's values, in one fixed order (names sorted for a dict,
    registration order for a module). The ranks' names, shapes and dtypes are
    checked against root's first: a mismatch is an error on every rank, not a
    silent mix-up."""
    items = _tensors_of(module_or_state)
    spec = [[name, list(np.shape(_array(v))), _array(v).dtype.str] for name, v in items]
    root_spec = comm.bcast_json(spec, root)
    _agree(root_spec == spec, "broadcast_parameters", "names, shapes or dtypes", spec, root_spec)
    for _, v in items:
        data = _array(v)
        buf = np.asarray(data, order="C")
        comm.bcast_array(buf, root)
        if buf is not data:
            data[...] = buf


def _array(v: Any) -> np.ndarray:
    return v.data if isinstance(v, Tensor) else v


def _agree(ok: bool, where: str, what: str, mine: Any, roots: Any) -> None:
    """Raise on every rank if any rank is not ``ok`` (so none is left waiting)."""
    flag = np.array([1 if ok else 0], np.int32)
    every = comm.allreduce_array(flag) if world.size() > 1 else flag
    if every[0] != world.size():
        first = next(
            (f"{a} != {b}" for a, b in zip(mine, roots) if a != b),
            f"{len(mine)} against {len(roots)} entries",
        )
        raise ValueError(
            f"{where}: the ranks' {what} differ from rank 0's (rank {world.rank()}: {first})"
        )


# ------------------------------------------------------------------ nested states
def broadcast_state(state: Any, root: int = 0) -> Any:
    """Root's nested state (dicts, lists, numbers, strings, arrays, Tensors: a
    checkpoint as ``cr.load`` returns it) on every rank. The structure goes as JSON
    with the arrays replaced by their shapes and dtypes; the arrays then go as
    buffers. Other ranks may pass None."""
    arrays: list[np.ndarray] = []
    skeleton = _strip(state, arrays) if world.rank() == root else None
    skeleton = comm.bcast_json(skeleton, root)
    if world.rank() != root:
        arrays = [np.empty(shape, np.dtype(dt)) for shape, dt in _specs(skeleton)]
    for a in arrays:
        comm.bcast_array(a, root)
    return _fill(skeleton, iter(arrays))


_ARRAY, _TENSOR, _ITEMS = "__chainrule_array__", "__chainrule_tensor__", "__chainrule_items__"


def _strip(obj: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(obj, Tensor | np.ndarray):
        a = np.asarray(_array(obj), order="C")
        arrays.append(a)
        key = _TENSOR if isinstance(obj, Tensor) else _ARRAY
        return {key: [list(a.shape), a.dtype.str]}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _strip(v, arrays) for k, v in obj.items()}
        for k in obj:
            if not isinstance(k, str | int) or isinstance(k, bool):
                raise TypeError(f"broadcast_state: dict keys must be str or int, got {k!r}")
        # JSON keys are strings: a dict with int keys (an optimizer's state) goes as pairs.
        return {_ITEMS: [[k, _strip(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, list | tuple):
        return [_strip(v, arrays) for v in obj]
    return obj


def _specs(skeleton: Any) -> list[tuple[list[int], str]]:
    found: list[tuple[list[int], str]] = []
    stack = [skeleton]
    order: list[Any] = []
    # Depth-first, in the order _strip met them (dicts keep insertion order in JSON).
    while stack:
        node = stack.pop()
        order.append(node)
        if isinstance(node, dict):
            if _ARRAY in node or _TENSOR in node:
                spec = node.get(_ARRAY) or node.get(_TENSOR)
                found.append((spec[0], spec[1]))
            else:
                stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return found


def _fill(skeleton: Any, arrays: Any) -> Any:
    if isinstance(skeleton, dict):
        if _ARRAY in skeleton:
            return next(arrays)
        if _TENSOR in skeleton:
            return as_tensor(next(arrays))
        if _ITEMS in skeleton:
            return {k: _fill(v, arrays) for k, v in skeleton[_ITEMS]}
        return {k: _fill(v, arrays) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [_fill(v, arrays) for v in skeleton]
    return skeleton
