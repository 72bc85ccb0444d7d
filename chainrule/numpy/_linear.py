"""Products and matrix structure: dot, vdot, inner, outer, matmul, tensordot,
einsum, trace, diag, diagonal, triu, tril, kron.

Only ``tensordot`` and ``einsum`` are primitives of their own; the rest are
compositions of them, of ``matmul``, and of indexing and shape primitives.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.numpy._core import array_arg, binding, no_out, normalize_axis
from chainrule.ops import indexing as _ix
from chainrule.ops import numpy_linalg as _nl
from chainrule.tensor import apply


@binding(np.tensordot)
def tensordot(a: Any, b: Any, axes: Any = 2) -> Any:
    """Sum of products over the last ``axes`` axes of a and the first of b, or over
    the axis pairs ``axes = (axes_of_a, axes_of_b)``."""
    a, b = array_arg(a), array_arg(b)
    if isinstance(axes, int | np.integer):
        n = int(axes)
        ca, cb = tuple(range(a.ndim - n, a.ndim)), tuple(range(n))
    else:
        ca_, cb_ = axes
        ca_ = (ca_,) if isinstance(ca_, int | np.integer) else tuple(ca_)
        cb_ = (cb_,) if isinstance(cb_, int | np.integer) else tuple(cb_)
        if len(ca_) != len(cb_):
            raise ValueError("tensordot: axes of a and of b must be equally many")
        ca = tuple(normalize_axis(int(i), a.ndim, "tensordot") for i in ca_)
        cb = tuple(normalize_axis(int(i), b.ndim, "tensordot") for i in cb_)
    return apply(_nl.tensordot, (a, b), {"axes": (ca, cb)})


@binding(np.dot)
def dot(a: Any, b: Any, out: Any = None) -> Any:
    """NumPy's dot: products for scalars, matmul up to 2-D, else a sum over the last
    axis of a and the second-to-last of b."""
    no_out("dot", out)
    a, b = array_arg(a), array_arg(b)
    if a.ndim == 0 or b.ndim == 0:
        return F.multiply(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return F.matmul(a, b)
    cb = 0 if b.ndim == 1 else b.ndim - 2
    return apply(_nl.tensordot, (a, b), {"axes": ((a.ndim - 1,), (cb,))})


@binding(np.vdot)
def vdot(a: Any, b: Any) -> Any:
    """The dot product of the flattened arrays (real: no conjugation)."""
    a, b = array_arg(a), array_arg(b)
    return F.matmul(F.reshape(a, (-1,)), F.reshape(b, (-1,)))


@binding(np.inner)
def inner(a: Any, b: Any) -> Any:
    """Sum of products over the last axes of a and b."""
    a, b = array_arg(a), array_arg(b)
    if a.ndim == 0 or b.ndim == 0:
        return F.multiply(a, b)
    return apply(_nl.tensordot, (a, b), {"axes": ((a.ndim - 1,), (b.ndim - 1,))})


@binding(np.outer)
def outer(a: Any, b: Any, out: Any = None) -> Any:
    """outer[i, j] = a.flat[i] * b.flat[j]."""
    no_out("outer", out)
    a, b = array_arg(a), array_arg(b)
    return F.reshape(a, (-1, 1)) * F.reshape(b, (1, -1))


@binding(np.matmul)
def matmul(a: Any, b: Any, /, out: Any = None, **kwargs: Any) -> Any:
    """Matrix product with NumPy's rules (1-D vectors, broadcast batch axes)."""
    no_out("matmul", out)
    return F.matmul(array_arg(a), array_arg(b))


# -------------------------------------------------------------------- einsum
def _sublist_to_subscripts(operands: tuple) -> tuple[str, list]:
    """einsum(a, [0, 1], b, [1, 2], [0, 2]) -> ('ab,bc->ac', [a, b])."""

    def letters(sub: Any) -> str:
        return "".join("..." if s is Ellipsis else _nl.ASCII_LETTERS[int(s)] for s in sub)

    ops = list(operands[0::2])
    subs = [letters(s) for s in operands[1::2]]
    if len(operands) % 2:  # an output sublist at the end
        out = letters(operands[-1])
        ops = ops[:-1]
        return ",".join(subs) + "->" + out, ops
    return ",".join(subs), ops


def explicit_subscripts(subscripts: str, shapes: list[tuple[int, ...]]) -> str:
    """Subscripts with every ellipsis spelled out in letters and the output given."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    labels = inputs.split(",")
    if len(labels) != len(shapes):
        raise ValueError(
            f"einsum: the subscripts name {len(labels)} operands but {len(shapes)} were given"
        )
    unused = [c for c in _nl.ASCII_LETTERS if c not in subscripts]
    widths = [len(s) - 3 if "..." in s else len(s) for s in labels]
    ell_ndim = 0
    for s, w, shp in zip(labels, widths, shapes):
        if "..." in s:
            ell_ndim = max(ell_ndim, len(shp) - w)
        elif w != len(shp):
            raise ValueError(f"einsum: '{s}' names {w} axes but its operand has {len(shp)}")
    ell = "".join(unused[:ell_ndim])
    expanded = []
    for s, w, shp in zip(labels, widths, shapes):
        if "..." in s:
            k = len(shp) - w
            if k < 0:
                raise ValueError(f"einsum: '{s}' names more axes than its operand has")
            s = s.replace("...", ell[ell_ndim - k :])
        expanded.append(s)
    if arrow:
        out = output.replace("...", ell)
    else:
        counts = Counter("".join(labels).replace(".", ""))
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1))
    return ",".join(expanded) + "->" + out


@binding(np.einsum)
def einsum(*operands: Any, out: Any = None, optimize: Any = False, **kwargs: Any) -> Any:
    """Einstein summation: ``einsum('ij,jk->ik', a, b)``, with ellipses, implicit
    output, repeated labels (diagonals) and the sublist form."""
    no_out("einsum", out)
    if kwargs.get("dtype") is not None:
        raise TypeError("numpy.einsum on a Tensor: dtype= is not supported; cast the operands")
    if isinstance(operands[0], str):
        subscripts, ops = operands[0], list(operands[1:])
    else:
        subscripts, ops = _sublist_to_subscripts(operands)
    ops = [array_arg(o) for o in ops]
    spec = explicit_subscripts(subscripts, [o.shape for o in ops])
    return apply(_nl.einsum, tuple(ops), {"subscripts": spec})


# ------------------------------------------------------------------ diagonals
@binding(np.diagonal)
def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The diagonal of the ``axis1``, ``axis2`` planes, as a last axis."""
    x = array_arg(a)
    nd = x.ndim
    if nd < 2:
        raise ValueError("diagonal: the array must have at least 2 axes")
    ax1, ax2 = normalize_axis(axis1, nd, "diagonal"), normalize_axis(axis2, nd, "diagonal")
    if ax1 == ax2:
        raise ValueError("diagonal: axis1 and axis2 cannot be the same")
    perm = [i for i in range(nd) if i not in (ax1, ax2)] + [ax1, ax2]
    if perm != list(range(nd)):
        x = F.transpose(x, perm)
    n1, n2 = x.shape[-2:]
    if offset >= 0:
        length = max(0, min(n1, n2 - offset))
        rows = np.arange(length)
        cols = rows + offset
    else:
        length = max(0, min(n1 + offset, n2))
        cols = np.arange(length)
        rows = cols - offset
    return F.getitem(x, (Ellipsis, rows, cols))


@binding(np.trace)
def trace(
    a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None, out: Any = None
) -> Any:
    """Sum along a diagonal."""
    no_out("trace", out)
    x = array_arg(a)
    if dtype is not None:
        x = F.astype(x, dtype)
    return F.sum(diagonal.impl(x, offset, axis1, axis2), -1)


@binding(np.diag)
def diag(v: Any, k: int = 0) -> Any:
    """The k-th diagonal of a 2-D array, or a square matrix with a 1-D ``v`` on it."""
    x = array_arg(v)
    if x.ndim == 2:
        return diagonal.impl(x, k)
    if x.ndim != 1:
        raise ValueError("diag: input must be 1-D or 2-D")
    n = x.shape[0] + abs(k)
    i = np.arange(x.shape[0])
    index = (i, i + k) if k >= 0 else (i - k, i)
    return apply(_ix.scatter_add, (x,), {"index": index, "shape": (n, n)})


def _triangle(name: str, np_tri: Any) -> Any:
    def impl(m: Any, k: int = 0) -> Any:
        x = array_arg(m)
        n, mm = (x.shape[-1], x.shape[-1]) if x.ndim == 1 else x.shape[-2:]
        mask = np_tri(np.ones((n, mm), dtype=bool), k)
        return F.where(mask, x, 0)

    impl.__name__ = name
    impl.__doc__ = f"The {'upper' if name == 'triu' else 'lower'} triangle (from diagonal k)."
    return impl


triu = binding(np.triu, "triu")(_triangle("triu", np.triu))
tril = binding(np.tril, "tril")(_triangle("tril", np.tril))


@binding(np.kron)
def kron(a: Any, b: Any) -> Any:
    """The Kronecker product: blocks a[i, j] * b."""
    a, b = array_arg(a), array_arg(b)
    nd = max(a.ndim, b.ndim)
    if nd == 0:
        return F.multiply(a, b)
    sa = (1,) * (nd - a.ndim) + tuple(a.shape)
    sb = (1,) * (nd - b.ndim) + tuple(b.shape)
    # a's axes interleaved with b's: (a0, 1, a1, 1, ...) * (1, b0, 1, b1, ...).
    a2 = F.reshape(a, tuple(x for s in sa for x in (s, 1)))
    b2 = F.reshape(b, tuple(x for s in sb for x in (1, s)))
    return F.reshape(a2 * b2, tuple(p * q for p, q in zip(sa, sb)))
