"""``flatten``: a pytree of arrays as one flat vector, and the way back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule.numpy as cnp
from chainrule import tree
from chainrule.tensor import Tensor

__all__ = ["flatten", "flatten_func"]


def flatten(value: Any) -> tuple[Any, Callable[[Any], Any]]:
    """``(flat_vector, unflatten)`` for a pytree of arrays and numbers, as HIPS
    autograd's: dict values are taken in sorted key order, and ``unflatten(v)``
    rebuilds the pytree (its dicts in their own key order, each float leaf in
    its own dtype) from any vector of that length.

    Differentiable: with Tensor leaves the vector is a Tensor recorded from them,
    and ``unflatten`` of a Tensor gives Tensor leaves recorded from it.

    >>> import numpy as np
    >>> from chainrule.misc import flatten
    >>> flat, unflatten = flatten({"b": np.ones(2), "a": 3.0})
    >>> flat
    array([3., 1., 1.])
    >>> unflatten(flat * 2)
    {'b': array([2., 2.]), 'a': array(6.)}
    """
    leaves, _ = tree.flatten(value, sort_keys=True)
    # The vector takes dict values in sorted key order; the dicts unflatten gives
    # back keep the value's own key order, as autograd's do (a program that prints
    # its parameters prints them in the order it wrote them). position[k] is where
    # the k-th leaf of the sorted order stands in the value's own order.
    structure = tree.structure(value)
    position, _ = tree.flatten(tree.unflatten(structure, range(len(leaves))), sort_keys=True)
    shapes = [np.shape(x.data if isinstance(x, Tensor) else x) for x in leaves]
    sizes = [int(np.prod(s)) for s in shapes]
    # Each part comes back in its leaf's float dtype, as autograd's: the vector is
    # the leaves' common type (float64 beside a Python float), and a float32
    # parameter must not turn float64 after one optimizer step. Integer leaves keep
    # the vector's dtype (casting 2.5 back to an int would truncate it).
    dtypes = [np.result_type(x.data if isinstance(x, Tensor) else x) for x in leaves]
    if any(isinstance(x, Tensor) for x in leaves):
        flat = cnp.concatenate([cnp.ravel(x) for x in leaves])
    elif leaves:
        flat = np.concatenate([np.ravel(x) for x in leaves])
    else:
        flat = np.array([])

    def unflatten(vector: Any) -> Any:
        size = vector.shape[0] if len(vector.shape) == 1 else -1
        if size != sum(sizes):
            raise ValueError(
                f"unflatten: expected a vector of {sum(sizes)} elements, got shape "
                f"{tuple(vector.shape)}"
            )
        m = cnp if isinstance(vector, Tensor) else np
        parts = []
        start = 0
        for shape, n, dtype in zip(shapes, sizes, dtypes):
            part = m.reshape(vector[start : start + n], shape)
            if (
                dtype.kind in "fc"
                and part.dtype != dtype
                and np.can_cast(part.dtype, dtype, "same_kind")
            ):
                part = part.astype(dtype)
            parts.append(part)
            start += n
        in_value_order = [None] * len(parts)
        for k, part in zip(position, parts):
            in_value_order[k] = part
        return tree.unflatten(structure, in_value_order)

    return flat, unflatten


def flatten_func(func: Callable[..., Any], example: Any) -> tuple[Callable, Callable, Any]:
    """``(flat_func, unflatten, flat_example)``: ``func`` of a pytree shaped like
    ``example`` as a function of one flat vector (extra arguments pass through)."""
    flat_example, unflatten = flatten(example)

    def flat_func(vector: Any, *args: Any) -> Any:
        return flatten(func(unflatten(vector), *args))[0]

    return flat_func, unflatten, flat_example
