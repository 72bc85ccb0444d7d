"""``cr.vmap``: a function of one example made a function of a batch (JAX's semantics)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import tree
from chainrule.batching.batched import BatchedTensor, batched, pop_level, push_level
from chainrule.ops import shape as _sh
from chainrule.tensor import Tensor, _wrap, active_tracer, apply

Axes = Any  # an int, None, or a pytree of them matching the arguments (a prefix)


def vmap(
    fn: Callable[..., Any],
    in_axes: Axes = 0,
    out_axes: Axes = 0,
    axis_size: int | None = None,
) -> Callable[..., Any]:
    """``fn``, written for one example, applied to a batch without a Python loop.

    ``in_axes`` says, per positional argument, which axis holds the batch: an int
    (negative counts from the end), ``None`` (not batched: every example sees the
    same value), or a pytree matching the argument (a dict of axes for a dict of
    arrays); one int or None applies to every argument. Keyword arguments are
    batched along axis 0. ``out_axes`` says the same for the results (where the
    batch axis goes; ``None`` for a result that does not depend on the batch).
    ``axis_size`` gives the batch size when no argument is batched.

    It composes with the other transforms in any order: per-example gradients are
    ``cr.vmap(cr.grad(loss), in_axes=(None, 0, 0))(params, xs, ys)``.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> cr.vmap(lambda a, b: a @ b, in_axes=(0, None))(np.ones((4, 3)), np.ones(3))
    array([3., 3., 3., 3.])
    """
    if not callable(fn):
        raise TypeError(f"vmap: fn must be callable, got {type(fn).__name__}")
    _check_axes_spec(in_axes, "in_axes")
    _check_axes_spec(out_axes, "out_axes")

    def vmapped(*args: Any, **kwargs: Any) -> Any:
        from chainrule import func

        specs = _per_argument(in_axes, args)
        flat_args = []
        for i, (arg, spec) in enumerate(zip(args, specs)):
            leaves, treedef = tree.flatten(arg)
            flat_args.append((leaves, treedef, _spread(spec, arg, f"argument {i}", "in_axes")))
        kw_leaves, kw_def = tree.flatten(kwargs)
        size = _batch_size(flat_args, kw_leaves, axis_size)
        tracer = active_tracer()
        # Under cr.jit every input is a traced Tensor; the tracer knows which stand
        # for NumPy arrays (their results are converted as they would be without jit).
        arrays = tracer.array_inputs if tracer is not None else {}
        everything = [x for leaves, _, _ in flat_args for x in leaves] + kw_leaves
        any_tensor = any(isinstance(x, Tensor) and id(x) not in arrays for x in everything)
        depth = getattr(func._state, "depth", 0)
        level = push_level(size)
        try:
            call_args = []
            for leaves, treedef, axes in flat_args:
                wrapped = [_enter(x, a, level) for x, a in zip(leaves, axes)]
                call_args.append(tree.unflatten(treedef, wrapped))
            call_kwargs = tree.unflatten(kw_def, [_enter(x, 0, level) for x in kw_leaves])
            func._state.depth = depth + 1
            try:
                result = fn(*call_args, **call_kwargs)
            finally:
                func._state.depth = depth
            out_leaves, out_def = tree.flatten(result)
            axes = _spread(out_axes, result, "the output", "out_axes")
            outs = [_leave(o, a, level, size, k) for k, (o, a) in enumerate(zip(out_leaves, axes))]
        finally:
            pop_level()
        if not any_tensor and depth == 0:
            outs = [_as_numpy(o, tracer) for o in outs]
        return tree.unflatten(out_def, outs)

    vmapped.__name__ = f"vmap({getattr(fn, '__name__', 'fn')})"
    vmapped.__doc__ = getattr(fn, "__doc__", None)
    return vmapped


def _as_numpy(o: Any, tracer: Any) -> Any:
    """A result for NumPy inputs: an array (traced: a note for jit to convert it)."""
    if not isinstance(o, Tensor):
        return o
    if tracer is not None:
        tracer.array_results[id(o)] = False
        return o
    d = o.data
    return d if d.flags.writeable else d.copy()  # not a read-only broadcast view


# -------------------------------------------------------------------- in_axes
def _check_axes_spec(spec: Axes, name: str) -> None:
    for leaf in tree.leaves(spec):
        if isinstance(leaf, bool) or not isinstance(leaf, int | np.integer):
            raise TypeError(
                f"vmap: {name} must hold ints or None (or lists, tuples, dicts of them), "
                f"got {leaf!r}"
            )


def _per_argument(in_axes: Axes, args: tuple) -> list:
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)  # JAX takes a list too
    if isinstance(in_axes, tuple):
        if len(in_axes) != len(args):
            raise ValueError(
                f"vmap: in_axes has {len(in_axes)} entries but the function was called with "
                f"{len(args)} positional arguments; give one axis (or None) per argument"
            )
        return list(in_axes)
    if isinstance(in_axes, dict):
        raise TypeError("vmap: in_axes is per positional argument: a tuple, not a dict")
    return [in_axes] * len(args)


def _spread(spec: Axes, obj: Any, where: str, name: str) -> list:
    """One axis per leaf of ``obj``: ``spec`` is an axis or a pytree prefix of ``obj``."""
    if spec is None or isinstance(spec, int | np.integer):
        return [spec] * len(tree.leaves(obj))
    if isinstance(spec, dict) and isinstance(obj, dict):
        if set(spec) != set(obj):
            raise ValueError(
                f"vmap: {name} for {where} has keys {sorted(map(str, spec))} but the value "
                f"has keys {sorted(map(str, obj))}"
            )
        out: list = []
        for k in obj:
            out += _spread(spec[k], obj[k], f"{where}[{k!r}]", name)
        return out
    if isinstance(spec, list | tuple) and isinstance(obj, list | tuple) and len(spec) == len(obj):
        out = []
        for k, (s, o) in enumerate(zip(spec, obj)):
            out += _spread(s, o, f"{where}[{k}]", name)
        return out
    raise ValueError(
        f"vmap: {name} for {where} is {spec!r}, which does not match its structure "
        f"({tree.structure(obj)}); give an int, None, or a container of the same shape"
    )


def _batch_size(flat_args: list, kw_leaves: list, axis_size: int | None) -> int:
    found: tuple[str, int, int] | None = None
    items = [
        (f"argument {i}" + ("" if td.kind == "leaf" else f" (leaf {k})"), x, a)
        for i, (leaves, td, axes) in enumerate(flat_args)
        for k, (x, a) in enumerate(zip(leaves, axes))
    ] + [(f"keyword argument leaf {k}", x, 0) for k, x in enumerate(kw_leaves)]
    for where, x, axis in items:
        if axis is None:
            continue
        shape = _shape(x)
        if not -len(shape) <= axis < len(shape):
            raise ValueError(
                f"vmap: in_axes={axis} is out of range for {where}, which has shape {shape} "
                f"({len(shape)} axes)"
            )
        n = shape[axis]
        if found is None:
            found = (where, axis, n)
        elif n != found[2]:
            raise ValueError(
                f"vmap: mismatched batch sizes: {found[0]} has size {found[2]} along axis "
                f"{found[1]} but {where} has size {n} along axis {axis}"
            )
    if found is None:
        if axis_size is None:
            raise ValueError("vmap: no argument is batched (every in_axes is None); give axis_size")
        return int(axis_size)
    if axis_size is not None and int(axis_size) != found[2]:
        raise ValueError(f"vmap: axis_size={axis_size} but {found[0]} has batch size {found[2]}")
    return found[2]


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if isinstance(x, Tensor | np.ndarray) else np.shape(x)


def _enter(x: Any, axis: int | None, level: int) -> Any:
    """A leaf as the function sees it: batched along ``axis``, or as it is."""
    if axis is None:
        return x
    t = x if isinstance(x, Tensor) else _wrap(np.asarray(x), None)
    axis = int(axis) % t.ndim
    if axis:
        order = (axis, *(i for i in range(t.ndim) if i != axis))
        t = apply(_sh.transpose, (t,), {"axes": order})
    return batched(t, level)


# ------------------------------------------------------------------- out_axes
def _leave(o: Any, axis: int | None, level: int, size: int, k: int) -> Any:
    """A result leaf with its batch axis placed at ``axis`` (None: not batched)."""
    mine = isinstance(o, BatchedTensor) and o.level == level
    if axis is None:
        if mine:
            raise ValueError(
                f"vmap: out_axes is None for output leaf {k}, but it differs across the "
                "batch; give it an axis"
            )
        return o
    if mine:
        value = o.value
    else:
        t = o if isinstance(o, Tensor) else _wrap(np.asarray(o), None)
        value = apply(_sh.broadcast_to, (t,), {"shape": (size, *t.shape)})
    ndim = value.ndim
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"vmap: out_axes={axis} is out of range for output leaf {k}, which has "
            f"{ndim} axes with the batch"
        )
    axis = int(axis) % ndim
    if axis:
        order = (*range(1, axis + 1), 0, *range(axis + 1, ndim))
        value = apply(_sh.transpose, (value,), {"axes": order})
    return value
