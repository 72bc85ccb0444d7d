"""Batching rules: the ``vmap`` column of the primitive table.

A batching rule says how a primitive applies to a whole batch at once. It is
``rule(prim, xs, batched, size, params)``: ``xs`` are the primitive's positional
arguments, where ``batched[i]`` says that ``xs[i]`` holds a batch of ``size``
examples with the batch axis first (the others are shared by every example);
``params`` are the primitive's keyword parameters. It returns the batch of
results, batch axis first, computed with primitives (so it is recorded by
autograd and by ``cr.jit`` like any other computation).

Most primitives need no rule written for them: elementwise ones (NumPy ufuncs and
those marked ``ELEMENTWISE``) broadcast once the batched operands are given their
rank, and ops with an ``axis`` parameter shift it by one. The rest are declared
below and in :mod:`chainrule.ops.batch_rules_more`. A primitive with none runs once
per example (:func:`chainrule.batching.batched.loop_rule`), with a warning.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import threads as _threads
from chainrule.ops import activations as _act
from chainrule.ops import elementwise as _el
from chainrule.ops import indexing as _ix
from chainrule.ops import linalg as _la
from chainrule.ops import numpy_reductions as _nred
from chainrule.ops import reductions as _red
from chainrule.ops import shape as _sh
from chainrule.ops.primitive import ELEMENTWISE, PRIMITIVES, Primitive
from chainrule.tensor import Tensor, apply


# ------------------------------------------------------------------- helpers
def ndim(x: Any) -> int:
    return x.ndim if isinstance(x, Tensor | np.ndarray) else np.ndim(x)


def logical_ndim(x: Any, is_batched: bool) -> int:
    return ndim(x) - 1 if is_batched else ndim(x)


def lift(x: Any, rank: int) -> Any:
    """A batch ``(B, *s)`` reshaped to ``(B, 1, ..., 1, *s)`` of logical rank ``rank``,
    so that it broadcasts against unbatched operands as each example would."""
    extra = rank - (x.ndim - 1)
    if extra <= 0:
        return x
    return apply(_sh.reshape, (x,), {"shape": (x.shape[0], *(1,) * extra, *x.shape[1:])})


def materialize(x: Any, size: int) -> Any:
    """A shared operand repeated for every example: ``(size, *x.shape)``."""
    shape = (size, *np.shape(x)) if not isinstance(x, Tensor) else (size, *x.shape)
    return apply(_sh.broadcast_to, (x,), {"shape": shape})


def all_batched(xs: list, flags: list, size: int) -> list:
    return [x if f else materialize(x, size) for x, f in zip(xs, flags)]


def shift_axis(axis: Any, rank: int) -> Any:
    """An axis (or tuple) of an example of rank ``rank`` as an axis of the batch."""
    if axis is None:
        return tuple(range(1, rank + 1))
    if isinstance(axis, tuple | list):
        return tuple(int(a) % max(rank, 1) + 1 for a in axis)
    return int(axis) % max(rank, 1) + 1


def moveaxis_to_front(x: Any, axis: int) -> Any:
    if axis == 0:
        return x
    order = (axis, *(i for i in range(x.ndim) if i != axis))
    return apply(_sh.transpose, (x,), {"axes": order})


# ------------------------------------------------------------- generic rules
_PROMOTING = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"}


def elementwise_rule(prim: Primitive, xs: list, flags: list, size: int, params: dict) -> Any:
    """Broadcast: each batched operand gets the rank of the widest example first."""
    rank = max(logical_ndim(x, f) for x, f in zip(xs, flags))
    args = [lift(x, rank) if f else x for x, f in zip(xs, flags)]
    if prim.name in _PROMOTING and len(args) == 2:
        args = _match_kinds(args)
        if prim is _el.mul and _large_product(args):
            # A per-example outer product written as a product of broadcast vectors
            # (matmul's VJP for a vector operand, x @ W's weight gradient): outer_mul
            # is mul computed by threads, by np.einsum for stacked outer products.
            return apply(_el.outer_mul, tuple(args))
    return apply(prim, tuple(args), params or None)


def _large_product(args: list) -> bool:
    a, b = args
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)) or a.ndim < 3 or b.ndim < 3:
        return False
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        return False  # mul raises its own error
    itemsize = np.result_type(a.dtype, b.dtype).itemsize
    return int(np.prod(shape, dtype=np.int64)) * itemsize >= _threads.PARALLEL_MIN_BYTES


def _kind(v: Any) -> str:
    return v.dtype.kind if isinstance(v, Tensor | np.ndarray | np.generic) else ""


def _match_kinds(args: list) -> list:
    """The operators' promotion (see chainrule.tensor._match_kinds): an integer operand
    met with a floating Tensor takes the float's dtype, as outside vmap."""
    a, b = args
    ka, kb = _kind(a), _kind(b)
    if ka == "f" and kb in ("i", "u", "b") and isinstance(a, Tensor):
        b = apply(_el.cast, (b,), {"dtype": a.dtype})
    elif kb == "f" and ka in ("i", "u", "b") and isinstance(b, Tensor):
        a = apply(_el.cast, (a,), {"dtype": b.dtype})
    return [a, b]


def axis_rule(none_means_all: bool = True):
    """Ops of one batched array with an ``axis`` parameter: the axis shifts by one."""

    def rule(prim: Primitive, xs: list, flags: list, size: int, params: dict) -> Any:
        x = xs[0]
        rank = x.ndim - 1
        p = dict(params)
        axis = p.get("axis")
        if axis is None and not none_means_all:
            return _loop(prim, xs, flags, size, params)
        p["axis"] = shift_axis(axis, rank)
        if any(flags[1:]):  # another batched operand: broadcast as elementwise
            xs = [lift(v, rank) if f else v for v, f in zip(xs, flags)]
        return apply(prim, tuple(xs), p)

    return rule


def linear_batch_rule(prim: Primitive, xs: list, flags: list, size: int, params: dict) -> Any:
    """Ops with a ``batch`` function (``batch(xb, **params)``, the op on a batch)."""
    return prim.batch(xs[0], **params)


def _loop(prim, xs, flags, size, params):
    from chainrule.batching.batched import loop_rule

    return loop_rule(prim, xs, flags, size, params)


#: Rules of primitives declared in modules loaded on demand (chainrule.scipy),
#: by name: found when vmap first meets them.
BY_NAME: dict[str, Any] = {}


def derived_rule(prim: Primitive) -> Any:
    """A rule from what the table already says (elementwise), or one by name."""
    if prim.batch is ELEMENTWISE or isinstance(prim.forward, np.ufunc):
        return elementwise_rule
    rule = BY_NAME.get(prim.name)
    if rule is not None and PRIMITIVES.get(prim.name) is prim:
        return rule
    return None


# ----------------------------------------------------------------- shape ops
def _reshape_rule(prim, xs, flags, size, params):
    x = xs[0]
    return apply(prim, (x,), {"shape": (x.shape[0], *params["shape"])})


def _broadcast_rule(prim, xs, flags, size, params):
    shape = tuple(params["shape"])
    x = lift(xs[0], len(shape))
    return apply(prim, (x,), {"shape": (x.shape[0], *shape)})


def _join_rule(new_axis: bool):
    def rule(prim, xs, flags, size, params):
        parts = all_batched(xs, flags, size)
        rank = parts[0].ndim - 1 + (1 if new_axis else 0)
        return apply(prim, tuple(parts), {"axis": shift_axis(params.get("axis", 0), rank)})

    return rule


_sh.reshape.vmap = _reshape_rule
_sh.broadcast_to.vmap = _broadcast_rule
_sh.concatenate.vmap = _join_rule(False)
_sh.stack.vmap = _join_rule(True)
for _prim in (_sh.transpose, _sh.expand_dims, _sh.squeeze, _red.sum):
    _prim.vmap = linear_batch_rule


# ---------------------------------------------------------------- reductions
for _prim in (_red.prod, _red.max, _red.min, _red.logsumexp, _nred.std, _nred.vector_norm):
    _prim.vmap = axis_rule()
for _prim in (_act.softmax, _act.log_softmax, _nred.cumsum, _nred.cumprod):
    _prim.vmap = axis_rule(none_means_all=False)


# -------------------------------------------------------------------- matmul
def _matmul_rule(prim, xs, flags, size, params):
    a, b = xs
    fa, fb = flags
    na, nb = logical_ndim(a, fa), logical_ndim(b, fb)
    if fa and not fb and nb == 2:
        # Examples times one shared matrix: one matrix product over all rows.
        if na == 1:
            return apply(prim, (a, b))
        rows = apply(_sh.reshape, (a,), {"shape": (-1, a.shape[-1])})
        out = apply(prim, (rows, b))
        return apply(_sh.reshape, (out,), {"shape": (*a.shape[:-1], b.shape[-1])})
    if fb and not fa and na == 2 and nb == 1:
        return apply(prim, (b, apply(_sh.transpose, (a,), {"axes": (1, 0)})))
    # The general case: vectors made matrices, batch axes lined up, then squeezed.
    squeeze = []
    if na == 1:
        a = apply(_sh.expand_dims, (a,), {"axis": -2})
        na = 2
        squeeze.append(-2)
    if nb == 1:
        b = apply(_sh.expand_dims, (b,), {"axis": -1})
        nb = 2
        squeeze.append(-1)
    rank = max(na, nb)
    a = lift(a, rank) if fa else a
    b = lift(b, rank) if fb else b
    # An outer product (a per-example weight gradient, g^T x) as a broadcast multiply:
    # a stack of matrix products with k=1 is several times slower. It writes the
    # result once, C-contiguous, in its final layout; outer_mul splits it among
    # threads when large (memory-bound: 205 MB for one layer of an MNIST MLP).
    outer = a.shape[-1] == 1
    out = apply(_el.outer_mul if outer else prim, (a, b))
    if squeeze:
        out = apply(_sh.squeeze, (out,), {"axis": tuple(squeeze)})
    return out


_la.matmul.vmap = _matmul_rule


# ------------------------------------------------------------------ indexing
def _index_parts(index: Any) -> tuple:
    return index if isinstance(index, tuple) else (index,)


def _is_advanced(i: Any) -> bool:
    # A scalar boolean adds an axis like an array does.
    return isinstance(i, np.ndarray | list | Tensor | bool | np.bool_)


def _getitem_rule(prim, xs, flags, size, params):
    x = xs[0]
    parts = _index_parts(params["index"])
    if any(isinstance(i, Tensor) and i._batched for i in parts):
        return _batched_index_getitem(x, flags[0], parts, size)
    adv = [k for k, i in enumerate(parts) if _is_advanced(i)]
    out = apply(prim, (x,), {"index": (slice(None), *parts)})
    if adv and adv != list(range(adv[0], adv[-1] + 1)):
        # Advanced indices apart from each other: NumPy puts their axes first, ahead
        # of the batch axis; bring the batch axis back to the front.
        lead = np.broadcast_shapes(*(np.shape(parts[k]) for k in adv))
        out = moveaxis_to_front(out, len(lead))
    return out


def _batched_index_getitem(x, x_batched, parts, size):
    """``x[i]`` where the index differs per example (a label, a gathered position)."""
    index = _per_example_index(parts, size, with_batch=x_batched)
    return apply(_ix.getitem, (x,), {"index": index})


def _per_example_index(parts, size, with_batch):
    """A batched index as one NumPy index over the batch: integer indices only, each
    example's arrays broadcast together; ``with_batch``: example b reads row b."""
    from chainrule.batching.batched import physical_array

    if not all(_is_advanced(i) or isinstance(i, int | np.integer) for i in parts):
        raise NotImplementedError(
            "vmap: an index that differs per example can only hold integer arrays and "
            "integers here, not slices, None or ...; write x[i, j] with arrays"
        )
    rank = max(i.ndim if isinstance(i, Tensor) else np.ndim(i) for i in parts)
    index = []
    for i in parts:
        if isinstance(i, Tensor) and i._batched:
            if isinstance(i.value, Tensor) and i.value._batched:
                raise NotImplementedError("vmap: an index batched at two levels is not supported")
            arr = physical_array(i)
            index.append(arr.reshape((size,) + (1,) * (rank - i.ndim) + i.shape))
        else:
            index.append(np.asarray(i.data if isinstance(i, Tensor) else i))
    if with_batch:
        index.insert(0, np.arange(size).reshape((size,) + (1,) * rank))
    return tuple(index)


def _scatter_add_rule(prim, xs, flags, size, params):
    parts = _index_parts(params["index"])
    g = xs[0] if flags[0] else materialize(xs[0], size)
    shape = (size, *params["shape"])
    if any(isinstance(i, Tensor) and i._batched for i in parts):
        return apply(prim, (g,), {"index": _per_example_index(parts, size, True), "shape": shape})
    adv = [k for k, i in enumerate(parts) if _is_advanced(i)]
    if adv and adv != list(range(adv[0], adv[-1] + 1)):
        # NumPy lays the values of x[:, i, ..., j] out with the index axes first, then
        # the batch: move the batch axis of g there.
        lead = len(np.broadcast_shapes(*(np.shape(parts[k]) for k in adv)))
        order = (*range(1, lead + 1), 0, *range(lead + 1, g.ndim))
        g = apply(_sh.transpose, (g,), {"axes": order})
    return apply(prim, (g,), {"index": (slice(None), *parts), "shape": shape})


_ix.getitem.vmap = _getitem_rule
_ix.scatter_add.vmap = _scatter_add_rule


# --------------------------------------------- elementwise ops with parameters
_PARAMETERIZED_ELEMENTWISE = ("erf", "sinc", "sinc_prime", "softplus", "round", "cast", "copy")
for _name in (*_PARAMETERIZED_ELEMENTWISE, "clip", "clip_strict"):
    BY_NAME[_name] = elementwise_rule

from chainrule.ops import batch_rules_more as _more  # noqa: E402, F401
