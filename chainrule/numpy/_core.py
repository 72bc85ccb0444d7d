"""Helpers shared by the ``chainrule.numpy`` modules.

Every public function is made by :func:`binding`: called with no Tensor among its
arguments it is NumPy's own function (same values, same types, no overhead beyond
one scan of the arguments); with a Tensor anywhere, lists and tuples included, it
runs chainrule's implementation, which records the graph. The implementation is
kept as ``fn.impl``; NumPy's dispatch (``Tensor.__array_function__``) calls it
directly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.tensor import Tensor, _wrap, active_tracer

_SEQUENCES = (list, tuple)
_MAY_HOLD_TENSOR = (Tensor, list, tuple)


def has_tensor(values: Any) -> bool:
    """True if a Tensor is among ``values`` (an iterable), looking inside lists and tuples."""
    for v in values:
        if isinstance(v, Tensor):
            return True
        if isinstance(v, _SEQUENCES) and v and has_tensor(v):
            return True
    return False


def binding(np_func: Callable[..., Any], name: str | None = None) -> Callable[..., Any]:
    """Decorator: the chainrule implementation of ``np_func`` for Tensor inputs."""

    def decorate(impl: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(impl)
        def fn(*args: Any, **kwargs: Any) -> Any:
            # has_tensor(args), with its call saved for the usual arguments (arrays
            # and numbers): this wrapper is every NumPy call a program makes.
            for a in args:
                if isinstance(a, _MAY_HOLD_TENSOR):
                    if has_tensor(args):
                        return impl(*args, **kwargs)
                    break
            if kwargs:
                if has_tensor(kwargs.values()):
                    return impl(*args, **kwargs)
                return np_func(*args, **kwargs)
            return np_func(*args)

        fn.impl = impl  # type: ignore[attr-defined]
        fn.numpy = np_func  # type: ignore[attr-defined]
        if name is not None:
            fn.__name__ = fn.__qualname__ = name
        return fn

    return decorate


def nested(obj: Any) -> Any:
    """A Tensor (or array) from a Tensor, or a possibly nested list/tuple mixing
    Tensors, arrays and numbers (stacked, so the result stays differentiable)."""
    if isinstance(obj, Tensor):
        return obj
    if isinstance(obj, _SEQUENCES):
        if not has_tensor(obj):
            return np.asarray(obj)
        parts = [nested(o) for o in obj]
        return F.stack([p if isinstance(p, Tensor) else np.asarray(p) for p in parts])
    return np.asarray(obj)


def arg(x: Any) -> Any:
    """An array-like argument as a Tensor or array; Python numbers stay numbers, so
    that they are weakly typed (NEP 50: float32 * 2.0 stays float32)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, _SEQUENCES):
        return nested(x)
    if x is None or isinstance(x, int | float | bool | complex | np.ndarray | np.generic):
        return x
    return np.asarray(x)


def array_arg(x: Any) -> Any:
    """Like :func:`arg`, but numbers become 0-d arrays (for functions needing ``.shape``)."""
    x = arg(x)
    return x if isinstance(x, Tensor | np.ndarray) else np.asarray(x)


def data(x: Any) -> Any:
    """The NumPy data of ``x``, looking inside lists, tuples and dicts (no gradient).

    Reads values, so ``cr.jit`` refuses it on a traced tensor (see :func:`like_data`
    for functions that need only the shape and dtype)."""
    if isinstance(x, Tensor):
        tracer = active_tracer()
        if tracer is not None:
            tracer.refuse_value(x, "a NumPy function on the tensor's values")
        return x.data
    if isinstance(x, _SEQUENCES) and has_tensor(x):
        return type(x)(data(v) for v in x)
    if isinstance(x, dict):
        return {k: data(v) for k, v in x.items()}
    return x


def like_data(x: Any) -> Any:
    """An array with the shape and dtype of ``x`` and no values to speak of (a
    broadcast view of one element), for NumPy functions that read only those."""
    if isinstance(x, Tensor):
        return np.broadcast_to(np.empty((), x.dtype), x.shape)
    return data(x)


def constant(result: Any) -> Any:
    """NumPy results as constant Tensors (arrays and NumPy scalars; tuples and lists
    of them too); Python objects (bools, ints, tuples of ints) as they are."""
    if isinstance(result, np.ndarray):
        return _wrap(result, None)
    if isinstance(result, np.generic):
        return _wrap(np.asarray(result), None)
    if isinstance(result, tuple) and result and isinstance(result[0], np.ndarray):
        return (
            type(result)(*map(constant, result))
            if hasattr(result, "_fields")
            else tuple(map(constant, result))
        )
    if isinstance(result, list) and result and isinstance(result[0], np.ndarray):
        return [constant(r) for r in result]
    return result


def facts(x: Any, fn: Callable[[Any, Any], Any], axis: Any = None) -> Any:
    """``fn(array, axis)`` on the NumPy data of ``x``, for the non-differentiable facts
    a rule needs (an argsort); a batched value (only ``cr.vmap`` makes them, having
    loaded :mod:`chainrule.batching`) goes to batching's ``facts``."""
    if getattr(x, "_batched", False):
        from chainrule.batching.batched import facts as batched_facts

        return batched_facts(x, fn, axis)
    return fn(x.data if isinstance(x, Tensor) else x, axis)


def shape(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, Tensor | np.ndarray) else np.shape(x)


def no_out(name: str, out: Any) -> None:
    """Refuse an output buffer: a Tensor's result is a new Tensor (a graph node)."""
    if out is not None and not (isinstance(out, tuple) and all(o is None for o in out)):
        raise TypeError(
            f"numpy.{name} on a Tensor: out= is not supported (the result is a new Tensor, "
            "recorded in the graph); use the return value instead"
        )


def no_where(name: str, where: Any) -> None:
    if where is not True and where is not None:
        raise TypeError(f"numpy.{name} on a Tensor: where= is not supported; use np.where")


def normalize_axis(axis: int, ndim_: int, name: str) -> int:
    if not -ndim_ <= axis < max(ndim_, 1):
        raise np.exceptions.AxisError(
            f"{name}: axis {axis} is out of bounds for an array of dimension {ndim_}"
        )
    return axis % max(ndim_, 1)


def axis_arg(axis: Any) -> Any:
    """An int, a tuple of ints or None."""
    if axis is None or isinstance(axis, int | np.integer):
        return None if axis is None else int(axis)
    return tuple(int(a) for a in axis)
