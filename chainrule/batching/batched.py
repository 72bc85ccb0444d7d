"""Batched tensors: what a ``cr.vmap``'d function sees in place of a batched argument.

A :class:`BatchedTensor` stands for one example of a batch. Its shape and dtype
are the example's (the *logical* value); ``value`` holds the whole batch (the
*physical* value), batch axis first. Every primitive applied to one goes through
:func:`batched_apply`, which runs the primitive's batching rule (a column of the
primitive table, :mod:`chainrule.ops.batch_rules`) on the physical values, once
for the whole batch, and wraps the result again.

Why this composes with the other transforms:

- ``grad(vmap(f))``: the physical values are ordinary Tensors, so the batching
  rules' operations are recorded in the enclosing graph like any others.
- ``vmap(grad(f))``: a batched tensor is a Tensor with its own ``_node``, so the
  graph ``grad`` records inside ``vmap`` is a graph of logical operations. Its
  backward pass runs the ordinary VJP rules on batched tensors, and each of the
  rules' operations is batched in turn: per-example gradients, without a loop.
- ``vmap(vmap(f))``: levels. A batched tensor of the inner vmap holds a physical
  value that is itself batched at the outer level; a primitive is batched over the
  innermost level among its arguments, and its rule's operations over the next.

Nothing here knows a derivative: the VJP and JVP rules are the table's.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import grad_enabled
from chainrule.autograd.node import new_node
from chainrule.tensor import Tensor, _wrap, apply, complex_refused, set_batcher

_new = object.__new__


class VmapError(ValueError):
    """A function cannot be batched as written (see the message for what and why)."""


class _Levels(threading.local):
    """Batch size of each active vmap level of this thread, outermost first (a
    level is its index)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []


_levels = _Levels()
_active = [0]  # vmap levels open in all threads: the batcher is installed while > 0
_active_lock = threading.Lock()


class BatchedTensor(Tensor):
    """One example of a batch inside ``cr.vmap``: a Tensor of the example's shape.

    ``value`` is the whole batch (a Tensor, batch axis first), ``level`` the vmap
    it belongs to. It has no array of its own: reading values (``.data``,
    ``.numpy()``, ``np.asarray``) is refused; ``bool()``/``float()`` work only when
    every example agrees.
    """

    __slots__ = ("value", "level")
    _batched = True

    # ------------------------------------------------------------- array facts
    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return self.value.shape[1:]

    @property
    def dtype(self) -> np.dtype:  # type: ignore[override]
        return self.value.dtype

    @property
    def ndim(self) -> int:  # type: ignore[override]
        return self.value.ndim - 1

    @property
    def size(self) -> int:  # type: ignore[override]
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def data(self) -> np.ndarray:  # type: ignore[override]
        raise VmapError(_VALUES)

    @data.setter
    def data(self, value: Any) -> None:
        raise VmapError("vmap: a batched tensor's values cannot be replaced through .data")

    @property
    def requires_grad(self) -> bool:  # type: ignore[override]
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if self._node is not None:
            raise RuntimeError("requires_grad can only be changed on leaf tensors")
        self._requires_grad = bool(flag)

    def numpy(self) -> np.ndarray:
        raise VmapError(_VALUES)

    def tolist(self) -> Any:
        raise VmapError(_VALUES)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        raise VmapError(_VALUES)

    def detach(self) -> Tensor:
        return _make(self.value.detach(), self.level)

    # --------------------------------------------------- values leaving the graph
    def __bool__(self) -> bool:
        return bool(self._agreed("bool(t) (an if or while on a batched value)"))

    def item(self) -> Any:
        return self._agreed("t.item()").item()

    def __float__(self) -> float:
        return float(self._agreed("float(t)"))

    def __int__(self) -> int:
        return int(self._agreed("int(t)"))

    def __index__(self) -> int:
        v = self._agreed("a batched tensor used as an index")
        if v.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors can be used as an index, not {v.dtype}")
        return int(v)

    def _agreed(self, what: str) -> np.generic:
        """The one value of a one-element example, if every example has the same."""
        if self.size != 1:
            raise ValueError(
                f"vmap: {what} needs a one-element value, but each example has shape {self.shape}"
            )
        phys = physical_array(self)
        values = phys.reshape(-1)
        first = values[0]
        if values.size > 1 and not (values == first).all():
            differ = int((values != first).sum())
            raise VmapError(
                f"vmap: {what} differs across the batch ({differ} of {values.size} examples "
                "differ from the first), so one Python branch cannot serve them all; use "
                "cr.where to choose per example, or move the branch out of the vmapped "
                "function"
            )
        return first

    # In-place changes would have to change every example's value through one
    # Python object, and other references to it see it change; refused.
    def _in_place(self, *args: Any, **kwargs: Any) -> Any:
        raise VmapError(
            "vmap: in-place changes of a batched tensor (t += x, t[i] = v) are not "
            "supported inside vmap; write t = t + x, or cr.where / scatter for t[i] = v"
        )

    __iadd__ = __isub__ = __imul__ = __itruediv__ = __ipow__ = __imatmul__ = _in_place
    __setitem__ = _in_place

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):  # type: ignore[override]
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        size = self.value.shape[0]
        return (
            f"BatchedTensor(level={self.level}, batch={size}, shape={self.shape}, "
            f"dtype={self.dtype})"
        )

    # ------------------------------------------------------------------ autograd
    def _attached(self, node: Any) -> BatchedTensor:
        """This value as the output of ``node`` (the engine's recorded rules)."""
        t = _make(self.value, self.level)
        t._node = node
        t._requires_grad = True
        return t


_VALUES = (
    "vmap: the function reads a batched tensor's values (.data, .numpy(), np.asarray or a "
    "NumPy function without a chainrule rule); inside vmap each argument stands for a "
    "whole batch, so use chainrule operations (chainrule.numpy, cr.where) instead"
)


def _make(value: Tensor, level: int) -> BatchedTensor:
    t = _new(BatchedTensor)
    t.value = value
    t.level = level
    t.grad = None
    t._node = None
    t._requires_grad = False
    t._extra = None
    return t


def batched(value: Any, level: int) -> BatchedTensor:
    """``value`` (batch axis first) as a batched tensor of ``level``."""
    if not isinstance(value, Tensor):
        value = _wrap(np.asarray(value), None)
    return _make(value, level)


def physical_array(t: Any) -> np.ndarray:
    """The NumPy array under every level of batching (batch axes first)."""
    while isinstance(t, BatchedTensor):
        t = t.value
    return t.data if isinstance(t, Tensor) else np.asarray(t)


def batch_levels(t: Any) -> int:
    """How many vmap levels ``t`` is batched at (0: not batched)."""
    n = 0
    while isinstance(t, BatchedTensor):
        n += 1
        t = t.value
    return n


def facts(x: Any, fn: Any, axis: Any = None) -> Any:
    """``fn(array, axis)`` on a value's NumPy data, for the non-differentiable facts a
    derivative rule needs (masks of zeros, signs). For a batched value, ``fn`` runs
    once on the whole batch with ``axis`` shifted past the batch axes, and its
    results (arrays of the physical shape) come back batched like ``x``."""
    k = batch_levels(x)
    if k == 0:
        return fn(x.data if isinstance(x, Tensor) else x, axis)
    shifted = None if axis is None else (axis % x.ndim) + k
    out = fn(physical_array(x), shifted)
    if isinstance(out, tuple):
        return tuple(batched_like(x, o) for o in out)
    return batched_like(x, out)


def any_true(m: Any) -> bool:
    """``m.any()`` over every example (a branch taken for the whole batch)."""
    return bool(physical_array(m).any()) if isinstance(m, BatchedTensor) else bool(m.any())


def physical_shape(t: Any) -> tuple[int, ...]:
    """The shape under every level of batching (batch axes first)."""
    while isinstance(t, BatchedTensor):
        t = t.value
    return tuple(t.shape)


def batched_like(x: BatchedTensor, array: np.ndarray) -> BatchedTensor:
    """``array`` (of ``physical_shape(x)``) batched at the same levels as ``x``: how
    random draws inside vmap give each example its own numbers."""
    levels = []
    t: Any = x
    while isinstance(t, BatchedTensor):
        levels.append(t.level)
        t = t.value
    out: Any = _wrap(array, None)
    for level in reversed(levels):
        out = _make(out, level)
    return out


def batch_sizes() -> tuple[int, ...]:
    """The batch size of each vmap level open in this thread, outermost first."""
    return tuple(_levels.sizes)


def batched_draw(t: Tensor) -> BatchedTensor:
    """``t``, drawn with the open levels' sizes leading (outermost first), batched
    at every open level: random numbers of their own for each example."""
    out: Any = t
    for level in range(len(_levels.sizes)):
        out = _make(out, level)
    return out


def is_batched(x: Any) -> bool:
    return isinstance(x, BatchedTensor)


def fresh_leaf(x: BatchedTensor) -> BatchedTensor:
    """A leaf of the same batch that gradients can be taken with respect to."""
    t = _make(x.value, x.level)
    t._requires_grad = True
    return t


# ---------------------------------------------------------------- dispatching
_warned: set[str] = set()


def batched_apply(prim: Any, args: tuple, params: dict | None) -> Any:
    """Apply ``prim`` to arguments of which some are batched (else NotImplemented)."""
    level = -1
    for a in args:
        if type(a) is BatchedTensor and a.level > level:
            level = a.level
    if level < 0 and params:
        level = _level_in_params(params)
    if level < 0:
        return NotImplemented
    sizes = _levels.sizes
    if level >= len(sizes):
        raise VmapError(
            f"vmap: a batched tensor was used after its vmap returned (in {prim.name}); "
            "return it from the vmapped function instead of keeping it"
        )
    xs = []
    flags = []
    for a in args:
        if type(a) is BatchedTensor and a.level == level:
            xs.append(a.value)
            flags.append(True)
        else:
            xs.append(a)
            flags.append(False)
    rule = batch_rule(prim)
    out = rule(prim, xs, flags, sizes[level], params or {})
    result = _make(out, level)
    kind = out.dtype.kind
    if grad_enabled() and prim.differentiable and (kind == "f" or kind == "c"):
        if kind == "c" and not prim.complex_rules:  # as in tensor.apply
            raise complex_refused(prim)
        parents = []
        tracked = False
        for a in args:
            if isinstance(a, Tensor) and a._requires_grad:
                parents.append(a._node or a)
                tracked = True
            else:
                parents.append(None)
        if tracked:
            saved = tuple(_saved(a) for a in args)
            ans = _make(out, level) if prim.saves_ans else None
            result._node = new_node(prim, tuple(parents), saved, ans, params)
            result._requires_grad = True
    return result


def _level_in_params(params: dict) -> int:
    """The level of a batched tensor inside a parameter (an index that differs per
    example, ``x[labels]``), else -1."""
    level = -1
    for v in params.values():
        for item in v if isinstance(v, tuple | list) else (v,):
            if type(item) is BatchedTensor and item.level > level:
                level = item.level
    return level


def _saved(a: Any) -> Any:
    """What a logical node keeps of an argument (as ``apply`` keeps arrays): a batched
    tensor without its node (no cycle through the graph), or the array of a Tensor."""
    if isinstance(a, BatchedTensor):
        return _make(a.value, a.level)
    if isinstance(a, Tensor):
        return a.data
    return a


def batch_rule(prim: Any) -> Any:
    """The batching rule of ``prim``: its own, one derived from its ``batch`` column,
    or the loop over the batch (with a one-time warning naming the primitive)."""
    rule = prim.vmap
    if rule is not None:
        return rule
    from chainrule.ops.batch_rules import derived_rule

    rule = derived_rule(prim)
    if rule is not None:
        return rule
    if prim.name not in _warned:
        _warned.add(prim.name)
        warnings.warn(
            f"vmap: primitive {prim.name!r} has no batching rule, so it runs once per "
            "example in a Python loop (slower, same result); give it one with "
            f"{prim.name}.vmap = rule (see chainrule.ops.batch_rules)",
            RuntimeWarning,
            stacklevel=4,
        )
    return loop_rule


def loop_rule(prim: Any, xs: list, flags: list, size: int, params: dict) -> Tensor:
    """The fallback: the primitive once per example, results stacked (batch axis first)."""
    from chainrule.functions import stack

    outs = []
    for b in range(size):
        one = [x[b] if f else x for x, f in zip(xs, flags)]
        outs.append(apply(prim, tuple(one), params or None))
    return stack(outs)


def push_level(size: int) -> int:
    """Open a vmap level of ``size`` examples in this thread; returns the level."""
    sizes = _levels.sizes
    sizes.append(size)
    with _active_lock:
        _active[0] += 1
        set_batcher(batched_apply)
    return len(sizes) - 1


def pop_level() -> None:
    _levels.sizes.pop()
    with _active_lock:
        _active[0] -= 1
        if not _active[0]:
            set_batcher(None)
