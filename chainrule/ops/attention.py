"""Scaled dot-product attention as one primitive: ``softmax(s q kᵀ + bias) v`` over
the last two axes, with ``q`` (..., L, E), ``k`` (..., S, E), ``v`` (..., S, Ev) and
an additive ``bias`` broadcast to the scores (..., L, S), or None.

Composed (a scaling, two batched products, the softmax), attention is six nodes
forward and as many backward, and each head split or merge around it is a copy:
a layer's heads are views of its projections, (N, L, heads, E) seen as (N, heads,
L, E), and a product or a transpose hands back C-ordered arrays, so the merge of
the heads' outputs and the three gradients on their way back into the projections
each copied an activation (one eighth of a B7 step's element-wise work). Fused,
the result and the gradients of q, k and v are written in their inputs' memory
layouts (BLAS writes through the strides), so those reshapes stay views.

With ``p = softmax(s)`` and ``dp = g vᵀ`` the rules are the composition's:

    d/dv: pᵀ g
    d/ds: p (dp - sum(dp p))                 (the softmax's rule, along the keys)
    d/dq: scale ds k,   d/dk: scale dsᵀ q,   d/dbias: ds

The backward pass computes the four at once and hands each input its own, from the
weights ``p`` that the forward saved. As ``layer_norm_affine``: a recorded pass that
something differentiates composes them from differentiable operations; one that
nothing differentiates (``cr.jit``'s trace of a gradient) records
``attention_grad`` operations.

``safe``: a query row masked from every key (a row of -inf) gets 0s and a zero
gradient (``safe_softmax``, PyTorch's ``scaled_dot_product_attention``), not NaNs.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops import activations as _act
from chainrule.ops import saved
from chainrule.ops.errors import refuse_differentiation
from chainrule.ops.primitive import Primitive, StepCache, call, pass_is_differentiated

#: Per forward result and inputs (chainrule.ops.saved): its attention weights, which
#: the gradient reads.
_saved: dict[int, np.ndarray] = {}
#: The gradients of a backward step, computed at its first call.
_step = StepCache()


def takes(q, k, v, bias) -> bool:
    """True when attention may use this primitive: q, k and v of one real floating
    dtype, each with (length, features) axes, and a bias of that dtype or none (the
    composition's type promotion then has nothing to do)."""
    dtype = q.dtype
    return (
        dtype.kind == "f"
        and k.dtype == dtype
        and v.dtype == dtype
        and min(q.ndim, k.ndim, v.ndim) >= 2
        and (bias is None or bias.dtype == dtype)
    )


def _empty_like_layout(shape: tuple, like: np.ndarray, dtype) -> np.ndarray:
    """An empty array of ``shape`` laid out in memory as ``like`` is (its axes in the
    same order of strides) when ``like`` has that shape and its last axis is the
    innermost: BLAS then writes a product into it through its strides, and the
    transposes and reshapes that undo ``like``'s own view stay views. C order
    otherwise."""
    nd = len(shape)
    if like.shape != shape or nd < 2 or like.strides[-1] != like.itemsize:
        return np.empty(shape, dtype)
    order = sorted(range(nd - 1), key=lambda i: -like.strides[i]) + [nd - 1]
    if order == list(range(nd)):
        return np.empty(shape, dtype)
    buf = np.empty([shape[i] for i in order], dtype)
    return buf.transpose(np.argsort(order))


def _matmul_into(a: np.ndarray, b: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``a @ b`` written into an array laid out as ``like`` (see above)."""
    shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
    out = _empty_like_layout(shape, like, np.result_type(a, b))
    return np.matmul(a, b, out=out)


def _weights(q, k, bias, scale, safe):
    """softmax(scale q kᵀ + bias) along the keys, on arrays."""
    s = np.matmul(q, np.swapaxes(k, -1, -2))
    s *= scale
    if bias is not None:
        if np.broadcast_shapes(s.shape, np.shape(bias)) == s.shape:
            s += bias
        else:  # the bias has more leading axes than the products: a new array
            s = s + bias
    return (_act._safe_softmax_forward if safe else _act._softmax_forward)(s)


def _grads_into(g, p, q, k, v, scale, dq, dk, dv):
    """The gradients of q, k and v written into ``dq``, ``dk``, ``dv`` (None: a new
    array laid out as its input); returns them and the scores' gradient ds."""
    vt, pt = np.swapaxes(v, -1, -2), np.swapaxes(p, -1, -2)
    dv = _matmul_into(pt, g, v) if dv is None else np.matmul(pt, g, out=dv)
    ds = _act._softmax_rule_arrays(np.matmul(g, vt), p)
    dst = np.swapaxes(ds, -1, -2)
    dq = _matmul_into(ds, k, q) if dq is None else np.matmul(ds, k, out=dq)
    dq *= scale
    dk = _matmul_into(dst, q, k) if dk is None else np.matmul(dst, q, out=dk)
    dk *= scale
    return dq, dk, dv, ds


def _forward(q, k, v, bias=None, scale=1.0, safe=True):
    p = _weights(q, k, bias, scale, safe)
    out = _matmul_into(p, v, q)
    saved.keep(_saved, out, (q, k, bias, scale, safe), p)
    return out


def _saved_weights(ans, inputs, q, k, bias, scale, safe):
    """The weights the forward of ``ans`` kept, if it had these ``inputs``; else
    computed anew (a rule called on its own, or for other inputs)."""
    p = saved.kept(_saved, ans, inputs)
    if p is None:
        p = _weights(q, k, bias, scale, safe)
    return p


def _grads_arrays(g, ans, q, k, v, bias, scale, safe, which=0):
    """(dq, dk, dv, dbias) on arrays, computed once per backward step; let go after
    the last input's (v's, or the bias's when there is one)."""

    def compute():
        p = _saved_weights(ans, (q, k, bias, scale, safe), q, k, bias, scale, safe)
        return _grads_into(g, p, q, k, v, scale, None, None, None)

    return _step.once(g, ans, compute, release=which == (2 if bias is None else 3))


def _composed_weights(q, k, bias, scale, safe):
    s = (q @ k.swapaxes(-1, -2)) * scale
    if bias is not None:
        s = s + bias
    return call(_act.safe_softmax if safe else _act.softmax, s, axis=-1)


def _composed_vjp(which, g, q, k, v, bias, scale, safe):
    """The gradient of input ``which`` (q, k, v, bias) from recorded operations."""
    p = _composed_weights(q, k, bias, scale, safe)
    if which == 2:
        return p.swapaxes(-1, -2) @ g
    dp = g @ v.swapaxes(-1, -2)
    ds = _act.softmax_jacobian_times(dp, p)
    if which == 3:
        return ds
    if which == 0:
        return (ds @ k) * scale
    return (ds.swapaxes(-1, -2) @ q) * scale


def _composed_jvp(which, t, q, k, v, bias, scale, safe):
    """The result's tangent from input ``which``'s tangent ``t``."""
    p = _composed_weights(q, k, bias, scale, safe)
    if which == 2:
        return p @ t
    if which == 0:
        ds = (t @ k.swapaxes(-1, -2)) * scale
    elif which == 1:
        ds = (q @ t.swapaxes(-1, -2)) * scale
    else:
        ds = t
    dp = _act.softmax_jacobian_times(ds, p)
    return dp @ v


def _vjp(which: int):
    def rule(g, ans, q, k, v, bias=None, scale=1.0, safe=True):
        args = (g, ans, q, k, v) + (() if bias is None else (bias,))
        if all(type(a) is np.ndarray for a in args):
            return _grads_arrays(g, ans, q, k, v, bias, scale, safe, which)[which]
        if not pass_is_differentiated():
            return call(attention_grad, g, ans, q, k, v, bias, scale=scale, safe=safe, which=which)
        # Something differentiates this pass: the composition's rules, recorded.
        return _composed_vjp(which, g, q, k, v, bias, scale, safe)

    return rule


def _jvp(which: int):
    def rule(t, ans, q, k, v, bias=None, scale=1.0, safe=True):
        return _composed_jvp(which, t, q, k, v, bias, scale, safe)

    return rule


attention = Primitive(
    "attention",
    _forward,
    vjp=tuple(_vjp(i) for i in range(4)),
    jvp=tuple(_jvp(i) for i in range(4)),
    # softmax'(S): the softmax's Jacobian, row by row (its formula: P*(1[i=j]-P_j)).
    formula=(
        "scale*softmax'(S)*K, S=scale*Q*K^T+bias",
        "scale*softmax'(S)^T*Q",
        "softmax(S)^T",
        "softmax'(S)",
    ),
    saves_ans=True,
    doc="softmax(scale q kᵀ + bias) v over the last two axes (bias: additive, or None; "
    "safe: a fully masked row gives 0s): scaled dot-product attention in one node.",
)

_not_differentiated = refuse_differentiation("attention_grad", "attention")

attention_grad = Primitive(
    "attention_grad",
    lambda g, ans, q, k, v, bias=None, scale=1.0, safe=True, which=0: _grads_arrays(
        g, ans, q, k, v, bias, scale, safe, which
    )[which],
    vjp=(_not_differentiated,) * 6,
    jvp=(_not_differentiated,) * 6,  # refused in both modes, never silently zero
    formula=("not differentiated",) * 6,
    doc="attention's gradient in its input ``which`` (0: q, 1: k, 2: v, 3: bias) on "
    "arrays, as one operation for a backward pass that nothing differentiates.",
)


# --------------------------------------------- self-attention from one projection
def split_heads(x, heads: int):
    """(..., L, heads * D) seen as (..., heads, L, D): a view where the last axis is
    contiguous (arrays and Tensors alike)."""
    *lead, length, width = x.shape
    return x.reshape(*lead, length, heads, width // heads).swapaxes(-3, -2)


def merge_heads(x):
    """(..., heads, L, D) as (..., L, heads * D)."""
    x = x.swapaxes(-3, -2)
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


def _parts(qkv, heads: int) -> list:
    """q, k and v, each (..., heads, L, D), as views of the projection (..., L, 3E)."""
    e = qkv.shape[-1] // 3
    return [split_heads(qkv[..., i * e : (i + 1) * e], heads) for i in range(3)]


def takes_packed(shape: tuple, dtype, bias, heads: int) -> bool:
    """True when ``attention_qkv`` may take a projection of this shape (..., L, 3E)
    and dtype, and this bias: real floats, E a multiple of ``heads``, a bias of the
    projection's dtype that broadcasts to the scores (..., heads, L, L) without
    adding axes, or none."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f" or len(shape) < 2 or heads < 1 or shape[-1] % (3 * heads):
        return False
    if bias is None:
        return True
    scores = (*shape[:-2], heads, shape[-2], shape[-2])
    try:
        fits = np.broadcast_shapes(scores, tuple(bias.shape)) == scores
    except ValueError:
        return False
    return fits and bias.dtype == dtype


def _packed_forward(qkv, bias=None, heads=1, scale=1.0, safe=True):
    q, k, v = _parts(qkv, heads)
    p = _weights(q, k, bias, scale, safe)
    out = np.empty((*qkv.shape[:-1], qkv.shape[-1] // 3), qkv.dtype)
    np.matmul(p, v, out=split_heads(out, heads))  # the heads merged as they are written
    saved.keep(_saved, out, (qkv, bias, heads, scale, safe), p)
    return out


def _packed_grads_arrays(g, ans, qkv, bias, heads, scale, safe, which=0):
    """(dqkv, dbias) on arrays: the three gradients written into one (..., L, 3E);
    once per backward step, let go after the last input's."""

    def compute():
        q, k, v = _parts(qkv, heads)
        p = _saved_weights(ans, (qkv, bias, heads, scale, safe), q, k, bias, scale, safe)
        dqkv = np.empty(qkv.shape, qkv.dtype)
        dq, dk, dv = _parts(dqkv, heads)
        ds = _grads_into(split_heads(g, heads), p, q, k, v, scale, dq, dk, dv)[3]
        return dqkv, ds

    return _step.once(g, ans, compute, release=which == (0 if bias is None else 1))


def _packed_vjp(which: int):
    def rule(g, ans, qkv, bias=None, heads=1, scale=1.0, safe=True):
        args = (g, ans, qkv) + (() if bias is None else (bias,))
        if all(type(a) is np.ndarray for a in args):
            return _packed_grads_arrays(g, ans, qkv, bias, heads, scale, safe, which)[which]
        if not pass_is_differentiated():
            return call(
                attention_qkv_grad, g, ans, qkv, bias,
                heads=heads, scale=scale, safe=safe, which=which,
            )  # fmt: skip
        q, k, v = _parts(qkv, heads)
        gh = split_heads(g, heads)
        if which == 1:
            return _composed_vjp(3, gh, q, k, v, bias, scale, safe)
        grads = [merge_heads(_composed_vjp(i, gh, q, k, v, bias, scale, safe)) for i in range(3)]
        return np.concatenate(grads, axis=-1)

    return rule


def _packed_jvp(which: int):
    def rule(t, ans, qkv, bias=None, heads=1, scale=1.0, safe=True):
        q, k, v = _parts(qkv, heads)
        if which == 1:
            return merge_heads(_composed_jvp(3, t, q, k, v, bias, scale, safe))
        parts = _parts(t, heads)
        out = sum(_composed_jvp(i, parts[i], q, k, v, bias, scale, safe) for i in range(3))
        return merge_heads(out)

    return rule


attention_qkv = Primitive(
    "attention_qkv",
    _packed_forward,
    vjp=tuple(_packed_vjp(i) for i in range(2)),
    jvp=tuple(_packed_jvp(i) for i in range(2)),
    formula=(
        "[scale*softmax'(S)*K | scale*softmax'(S)^T*Q | softmax(S)^T] per head, S=scale*Q*K^T+bias",
        "softmax'(S)",
    ),
    saves_ans=True,
    doc="Self-attention from one projection: qkv (..., L, 3E) cut into q, k and v and "
    "each into ``heads``; attention's result with the heads merged, (..., L, E).",
)

_packed_not_differentiated = refuse_differentiation("attention_qkv_grad", "attention_qkv")

attention_qkv_grad = Primitive(
    "attention_qkv_grad",
    lambda g, ans, qkv, bias=None, heads=1, scale=1.0, safe=True, which=0: _packed_grads_arrays(
        g, ans, qkv, bias, heads, scale, safe, which
    )[which],
    vjp=(_packed_not_differentiated,) * 4,
    jvp=(_packed_not_differentiated,) * 4,
    formula=("not differentiated",) * 4,
    doc="attention_qkv's gradient in its input ``which`` (0: qkv, 1: bias) on arrays, "
    "as one operation for a backward pass that nothing differentiates.",
)
