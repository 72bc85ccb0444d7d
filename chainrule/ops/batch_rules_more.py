"""Batching rules of the primitives that are not elementwise or shape ops: linear
algebra on stacked matrices, einsum and tensordot, the network primitives (conv's
conv2d, im2col/col2im and pooling fold the batch into N), losses, collectives.

Same contract as :mod:`chainrule.ops.batch_rules`: ``rule(prim, xs, batched, size,
params)`` returns the batch of results, batch axis first.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from chainrule.ops import activations as _act
from chainrule.ops import attention as _attn
from chainrule.ops import conv as _conv
from chainrule.ops import nn_ops as _nn
from chainrule.ops import normalization as _norm
from chainrule.ops import normalization_affine as _norm_affine
from chainrule.ops import numpy_linalg as _nla
from chainrule.ops import pool_index as _pi
from chainrule.ops import recurrent as _rec
from chainrule.ops import shape as _sh
from chainrule.ops.batch_rules import (
    BY_NAME,
    _loop,
    _matmul_rule,
    all_batched,
    axis_rule,
    elementwise_rule,
    lift,
    logical_ndim,
    materialize,
)
from chainrule.ops.linalg import matmul
from chainrule.tensor import apply


def _reshape(x: Any, shape: tuple) -> Any:
    return apply(_sh.reshape, (x,), {"shape": tuple(shape)})


# -------------------------------------------------- linear algebra, stacked
def stacked_rule(prim, xs, flags, size, params):
    """Ops on the last two axes that take stacks of matrices (``(..., M, N)``): the
    batch is one more stacking axis."""
    rank = max(logical_ndim(x, f) for x, f in zip(xs, flags))
    args = [lift(x, rank) if f else x for x, f in zip(xs, flags)]
    return apply(prim, tuple(args), params or None)


for _name in ("inv", "det", "logabsdet", "slogdet", "det_sign", "cholesky", "eigh", "svd"):
    BY_NAME[_name] = stacked_rule
for _name in ("pinv", "eig"):
    BY_NAME[_name] = stacked_rule


def _solve_rule(prim, xs, flags, size, params):
    a, b = xs
    fa, fb = flags
    na, nb = logical_ndim(a, fa), logical_ndim(b, fb)
    if nb == 1:  # NumPy solves for a vector only when b is 1-D: make it a column
        b = apply(_sh.expand_dims, (b,), {"axis": -1})
        nb = 2
    rank = max(na, nb)
    a = lift(a, rank) if fa else a
    b = lift(b, rank) if fb else b
    out = apply(prim, (a, b))
    if logical_ndim(xs[1], fb) == 1:
        out = apply(_sh.squeeze, (out,), {"axis": -1})
    return out


_nla.solve.vmap = _solve_rule


# ------------------------------------------------------- einsum, tensordot
def _explicit(subscripts: str, count: int) -> tuple[list[str], str]:
    """Input and output labels of an einsum, the output made explicit."""
    spec = subscripts.replace(" ", "")
    if "->" in spec:
        ins, out = spec.split("->")
        return ins.split(","), out
    ins = spec.split(",")
    letters = [c for c in "".join(ins) if c.isalpha()]
    once = sorted(c for c in set(letters) if letters.count(c) == 1)
    return ins, ("..." if "..." in spec else "") + "".join(once)


def _einsum_rule(prim, xs, flags, size, params):
    ins, out = _explicit(params["subscripts"], len(xs))
    used = set("".join(ins) + out)
    free = next(c for c in string.ascii_letters if c not in used)
    ins = [free + s if f else s for s, f in zip(ins, flags)]
    spec = ",".join(ins) + "->" + free + out
    return apply(prim, tuple(xs), {"subscripts": spec})


_nla.einsum.vmap = _einsum_rule


def _tensordot_rule(prim, xs, flags, size, params):
    a, b = xs
    na, nb = logical_ndim(a, flags[0]), logical_ndim(b, flags[1])
    axes = params["axes"]
    if isinstance(axes, int | np.integer):
        axes_a, axes_b = list(range(na - int(axes), na)), list(range(int(axes)))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, int | np.integer) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, int | np.integer) else list(axes_b)
    axes_a = [int(k) % max(na, 1) for k in axes_a]
    axes_b = [int(k) % max(nb, 1) for k in axes_b]
    letters = iter(string.ascii_letters)
    la = [next(letters) for _ in range(na)]
    lb = [next(letters) for _ in range(nb)]
    for i, j in zip(axes_a, axes_b):
        lb[j] = la[i]
    out = [c for k, c in enumerate(la) if k not in axes_a]
    out += [c for k, c in enumerate(lb) if k not in axes_b]
    spec = "".join(la) + "," + "".join(lb) + "->" + "".join(out)
    return _einsum_rule(_nla.einsum, xs, flags, size, {"subscripts": spec})


_nla.tensordot.vmap = _tensordot_rule


# ----------------------------------------------------- network primitives
def _fold(x: Any) -> Any:
    """``(B, N, ...)`` as ``(B * N, ...)``: the batch folded into the images' N."""
    return _reshape(x, (x.shape[0] * x.shape[1], *x.shape[2:]))


def _im2col_rule(prim, xs, flags, size, params):
    cols = apply(prim, (_fold(xs[0]),), params)
    return _reshape(cols, (size, -1, cols.shape[-1]))


def _col2im_rule(prim, xs, flags, size, params):
    cols = xs[0]
    p = dict(params)
    n, *chw = p["shape"]
    p["shape"] = (size * n, *chw)
    out = apply(prim, (_reshape(cols, (-1, cols.shape[-1])),), p)
    return _reshape(out, (size, n, *chw))


def _pool_rule(prim, xs, flags, size, params):
    parts = all_batched(xs, flags, size)
    out = apply(prim, tuple(_fold(p) for p in parts), params)
    return _reshape(out, (size, parts[0].shape[1], *out.shape[1:]))


_nn.im2col.vmap = _im2col_rule
_nn.col2im.vmap = _col2im_rule
for _prim in (_nn.max_pool2d, _nn.max_pool2d_gather, _nn.max_pool2d_scatter):
    _prim.vmap = _pool_rule
for _prim in (_pi.window_argmax, _pi.adaptive_argmax):
    _prim.vmap = _pool_rule


# Convolutions: with shared weights the batch is folded into the images' N; with
# weights per example, into the channels, one group per example (groups * size).
def _channels_folded(x: Any, flag: bool, size: int) -> Any:
    """``(B, N, C, H, W)`` as ``(N, B * C, H, W)`` (a shared x repeated first)."""
    x = x if flag else materialize(x, size)
    x = apply(_sh.transpose, (x,), {"axes": (1, 0, 2, 3, 4)})
    return _reshape(x, (x.shape[0], size * x.shape[2], *x.shape[3:]))


def _channels_unfolded(y: Any, size: int) -> Any:
    """``(N, B * C, H, W)`` back to ``(B, N, C, H, W)``."""
    y = _reshape(y, (y.shape[0], size, y.shape[1] // size, *y.shape[2:]))
    return apply(_sh.transpose, (y,), {"axes": (1, 0, 2, 3, 4)})


def _stacked(w: Any, flag: bool, size: int) -> Any:
    """Per-example weights ``(B, O, ...)`` as one stack ``(B * O, ...)``."""
    w = w if flag else materialize(w, size)
    return _reshape(w, (size * w.shape[1], *w.shape[2:]))


def _conv2d_rule(prim, xs, flags, size, params):
    x, w = xs[0], xs[1]
    b = xs[2] if len(xs) > 2 else None
    fb = len(flags) > 2 and flags[2]
    if not flags[1] and not fb:
        y = apply(prim, (_fold(x), w, b), params)
        return _reshape(y, (size, -1, *y.shape[1:]))
    p = {**params, "groups": params["groups"] * size}
    bias = None if b is None else _stacked(b, fb, size)
    y = apply(prim, (_channels_folded(x, flags[0], size), _stacked(w, flags[1], size), bias), p)
    return _channels_unfolded(y, size)


def _conv2d_input_grad_rule(prim, xs, flags, size, params):
    g, w = xs
    n, c, h, wd = params["shape"]
    if not flags[1]:
        y = apply(prim, (_fold(g), w), {**params, "shape": (size * n, c, h, wd)})
        return _reshape(y, (size, n, c, h, wd))
    p = {**params, "groups": params["groups"] * size, "shape": (n, size * c, h, wd)}
    y = apply(prim, (_channels_folded(g, flags[0], size), _stacked(w, True, size)), p)
    return _channels_unfolded(y, size)


def _conv2d_weight_grad_rule(prim, xs, flags, size, params):
    # The result is per example whichever input is batched: one group per example.
    g, x = xs
    o, *rest = params["shape"]
    p = {**params, "groups": params["groups"] * size, "shape": (size * o, *rest)}
    y = apply(prim, (_channels_folded(g, flags[0], size), _channels_folded(x, flags[1], size)), p)
    return _reshape(y, (size, o, *rest))


_conv.conv2d.vmap = _conv2d_rule
_conv.conv2d_input_grad.vmap = _conv2d_input_grad_rule
_conv.conv2d_weight_grad.vmap = _conv2d_weight_grad_rule


def _linear_rule(prim, xs, flags, size, params):
    x, w = xs[0], xs[1]
    b = xs[2] if len(xs) > 2 else None
    fb = len(flags) > 2 and flags[2]
    if not flags[1] and not fb:
        # Shared weights (the per-example-gradient case): one product for the batch.
        return apply(prim, tuple(xs), params or None)
    wt = apply(_sh.transpose, (w,), {"axes": (0, 2, 1) if flags[1] else (1, 0)})
    out = _matmul_rule(matmul, [x, wt], [flags[0], flags[1]], size, {})
    if b is None:
        return out
    from chainrule.ops.elementwise import add

    return elementwise_rule(add, [out, b], [True, fb], size, {})


_nn.linear.vmap = _linear_rule


def _softmax_ce_rule(prim, xs, flags, size, params):
    rank = max(logical_ndim(x, f) for x, f in zip(xs, flags))
    args = tuple(lift(x, rank) if f else x for x, f in zip(xs, flags))
    per_row = apply(prim, args, {"reduce": False})  # rows of all examples at once
    if not params.get("reduce", False):
        return per_row
    from chainrule.ops.reductions import sum as _sum

    return apply(_sum, (per_row,), {"axis": tuple(range(1, per_row.ndim)), "keepdims": False})


_nn.softmax_cross_entropy.vmap = _softmax_ce_rule


def _class_weights_rule(prim, xs, flags, size, params):
    if not flags[0] or flags[1]:  # per-example class weights: rare, and cheap to loop
        return _loop(prim, xs, flags, size, params)
    if not params.get("mean"):
        return apply(prim, tuple(xs), params)  # one row of weights per target
    if params.get("label_smoothing") and xs[1] is not None:
        return _loop(prim, xs, flags, size, params)
    # The mean's divisor is each example's own: the weights of its counted targets,
    # which is the sum of its rows of q without the division (label smoothing keeps a
    # row's sum at 1 when there are no class weights).
    q = apply(prim, tuple(xs), {**params, "mean": False})
    from chainrule.ops.elementwise import div
    from chainrule.ops.reductions import sum as _sum

    total = apply(_sum, (q,), {"axis": tuple(range(1, q.ndim)), "keepdims": True})
    # An example whose targets are all ignored keeps q = 0 (its loss adds the nan
    # to the value alone), as class_weights does for one example: its divisor is 1.
    # Recorded operations, not values read here, so that cr.jit replays the rule.
    from chainrule.ops.elementwise import add, equal, not_equal
    from chainrule.ops.shape import reshape

    counted = apply(not_equal, (xs[0], params["ignore_index"]))
    counted = apply(_sum, (counted,), {"axis": tuple(range(1, counted.ndim)), "keepdims": False})
    none = apply(equal, (counted, 0))
    none = apply(reshape, (none,), {"shape": (size,) + (1,) * (q.ndim - 1)})
    return apply(div, (q, apply(add, (total, none))))


_nn.class_weights.vmap = _class_weights_rule


def _nan_if_none_counted_rule(prim, xs, flags, size, params):
    if not flags[1]:  # targets shared by every example: one decision for all
        return apply(prim, tuple(xs), params or None)
    loss = xs[0] if flags[0] else materialize(xs[0], size)
    return apply(prim, (loss, xs[1]), {"batch_dims": params.get("batch_dims", 0) + 1})


_nn.nan_if_none_counted.vmap = _nan_if_none_counted_rule

BY_NAME["logsumexp_b"] = axis_rule()
# Elementwise across processes: the batch rides along.
BY_NAME["all_reduce"] = lambda prim, xs, flags, size, params: apply(prim, tuple(xs), params or None)


# ------------------------------------------------ attention and recurrent layers
_act.safe_softmax.vmap = axis_rule(none_means_all=False)


def _softmax_grad_rule(prim, xs, flags, size, params):
    # Both operands with the batch in front; a non-negative axis moves by one.
    args = tuple(x if f else materialize(x, size) for x, f in zip(xs, flags))
    axis = (params or {}).get("axis", -1)
    return apply(prim, args, {"axis": axis if axis < 0 else axis + 1})


_act.softmax_grad.vmap = _softmax_grad_rule


def _layer_normalize_rule(prim, xs, flags, size, params):
    # Negative axes (the usual: the last ones) mean the same axes of the batch.
    p = dict(params or {})
    p["axes"] = tuple(a if a < 0 else a + 1 for a in p.get("axes", (-1,)))
    return apply(prim, (xs[0],), p)


_norm.normalize.vmap = _layer_normalize_rule


def _layer_normalize_grad_rule(prim, xs, flags, size, params):
    # Row by row over the last axis: the batch is more leading rows.
    args = tuple(x if f else materialize(x, size) for x, f in zip(xs, flags))
    return apply(prim, args, params)


_norm.normalize_grad.vmap = _layer_normalize_grad_rule


def _layer_norm_affine_rule(prim, xs, flags, size, params):
    # Row by row: a batched input is more rows; a batched scale or shift (per-example
    # weights) is not, so then one call per example.
    if flags[1] or flags[2]:
        return _loop(prim, xs, flags, size, params)
    return apply(prim, tuple(xs), params or None)


_norm_affine.layer_norm_affine.vmap = _layer_norm_affine_rule


def _attention_rule(prim, xs, flags, size, params):
    # Products over the last two axes of stacks that broadcast (and a bias that
    # broadcasts against the scores): the batch is one more leading stacking axis.
    rank = max(logical_ndim(x, f) for x, f in zip(xs, flags) if x is not None)
    args = [lift(x, rank) if f else x for x, f in zip(xs, flags)]
    return apply(prim, tuple(args), params or None)


_attn.attention.vmap = _attention_rule


def _attention_qkv_rule(prim, xs, flags, size, params):
    # The batch leads the projection (..., L, 3E); a batched bias is lifted to the
    # rank of an example's scores (..., heads, L, L), and then the projection must
    # carry the batch too.
    qkv, bias = xs
    if flags[1]:
        if not flags[0]:
            qkv = materialize(qkv, size)
        bias = lift(bias, logical_ndim(qkv, True) + 1)
    return apply(prim, (qkv, bias), params or None)


_attn.attention_qkv.vmap = _attention_qkv_rule
# Their gradients sum over what broadcast (a shared key, a shared bias): one call each.
_attn.attention_grad.vmap = _loop
_attn.attention_qkv_grad.vmap = _loop
# Its gradient sums the rows into w's and b's: per example, that is one call each.
_norm_affine.layer_norm_affine_grad.vmap = _loop


def _lstm_layer_grads_rule(prim, xs, flags, size, params):
    # Each example needs its own W_hh gradient, which no folding of the batch into
    # the layer's N axis gives: one walk back per example (this operation runs only
    # in cr.jit's non-differentiated backward pass).
    return _loop(prim, xs, flags, size, params)


_rec.lstm_layer_grads.vmap = _lstm_layer_grads_rule


def _lstm_layer_rule(prim, xs, flags, size, params):
    if flags[3]:  # a recurrent weight per example: no shared GEMM to fold into
        return _loop(prim, xs, flags, size, params)
    # The examples' sequences are independent rows of one layer: fold the batch into
    # the layer's N axis, (B, L, N, 4H) -> (L, B*N, 4H), and unfold the result.
    xproj = xs[0] if flags[0] else materialize(xs[0], size)
    b, steps, n, gates = xproj.shape
    xproj = apply(_sh.transpose, (xproj,), {"axes": (1, 0, 2, 3)})
    xproj = apply(_sh.reshape, (xproj,), {"shape": (steps, b * n, gates)})

    def rows(state: Any, batched: bool) -> Any:
        state = state if batched else materialize(state, size)
        return apply(_sh.reshape, (state,), {"shape": (b * n, state.shape[-1])})

    out = apply(prim, (xproj, rows(xs[1], flags[1]), rows(xs[2], flags[2]), xs[3]))
    out = apply(_sh.reshape, (out,), {"shape": (steps, b, n, out.shape[-1])})
    return apply(_sh.transpose, (out,), {"axes": (1, 0, 2, 3)})


_rec.lstm_layer.vmap = _lstm_layer_rule

from chainrule.ops import batch_rules_scipy as _scipy_rules  # noqa: E402, F401
