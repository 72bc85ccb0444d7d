"""Indexing: ``x[index]`` and its adjoint, scattering a gradient back into place.

The two are each other's transposes, so each one's rule is the other: the
gradient of ``getitem`` is a ``scatter_add`` of ``g`` into zeros, and the gradient
of ``scatter_add`` is ``g[index]``. With integer-array indices an element may be
picked more than once; ``np.add.at`` then adds, rather than overwrites, its shares.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops.primitive import Primitive, call, linear_jvp

_BASIC = (int, np.integer, slice, type(None), type(Ellipsis))


def _is_basic(index) -> bool:
    """True for ints, slices, None and ``...`` only: no element is picked twice."""
    if isinstance(index, tuple):
        return all(isinstance(i, _BASIC) and not isinstance(i, bool) for i in index)
    return isinstance(index, _BASIC) and not isinstance(index, bool)


def _getitem_forward(x, index):
    return x[index]


def _scatter_add_forward(g, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


getitem = Primitive(
    "getitem",
    _getitem_forward,
    vjp=lambda g, ans, x, index: call(scatter_add, g, index=index, shape=x.shape),
    formula="1[selected]",
    doc="x[index]: basic slicing and integer or boolean array indexing.",
)

scatter_add = Primitive(
    "scatter_add",
    _scatter_add_forward,
    vjp=lambda g, ans, v, index, shape: g[index],
    formula="1",
    doc="zeros(shape) with ``v`` added at ``index`` (repeated indices add up).",
)

# Both are linear in the array they index: a tangent goes through the same op.
getitem._set_jvp(linear_jvp(getitem))
scatter_add._set_jvp(linear_jvp(scatter_add))


def _batched_index(index):
    return (slice(None), *(index if isinstance(index, tuple) else (index,)))


def _batch_scatter_add(gb, index, shape):
    # Through call(): a recorded node when gb is a Tensor (a traced forward pass).
    return call(scatter_add, gb, index=_batched_index(index), shape=(gb.shape[0], *shape))


# Batching (jacfwd): both are linear; a leading full slice leaves the batch axis alone.
getitem.batch = lambda xb, index: xb[_batched_index(index)]
scatter_add.batch = _batch_scatter_add

# Linear maps that only move values: complex values move the same way.
getitem.complex_rules = True
scatter_add.complex_rules = True
