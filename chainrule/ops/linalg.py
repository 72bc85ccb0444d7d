"""Matrix multiplication, with NumPy's rules for 1-D operands and batch axes.

For C = A @ B the chain rule gives dA = G @ B^T and dB = A^T @ G on the last two
axes; a 1-D operand is a row (left) or column (right) vector whose added axis is
dropped from the result, so the rules add it back. Batch axes broadcast, and the
engine sums them back to each input's shape.
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.ops import offload
from chainrule.ops.primitive import Primitive


def _mT(x):
    """x with its last two axes swapped."""
    return x.T if x.ndim == 2 else np.swapaxes(x, -1, -2)


def stack_matmul(a, b, out=None):
    """``a @ b`` (into ``out`` when given); for a stack ``a`` (..., m, k) of arrays
    against one matrix ``b`` (k, n), as one GEMM over the leading axes folded into
    rows. NumPy's matmul runs one small GEMM per leading index there: a (128, 16, 64)
    stack times a (64, 64) matrix took 0.46 ms, folded 0.25 ms (one BLAS thread).
    With the oneDNN backend selected, float32 products go to oneDNN's GEMM
    (:func:`chainrule.conv_backend.matmul`). Anything but two such arrays goes to
    ``@`` as it is (Tensors record their own)."""
    if (
        type(a) is not np.ndarray
        or type(b) is not np.ndarray
        or a.ndim < 2
        or b.ndim != 2
        or (out is not None and not out.flags.c_contiguous)  # its reshape would be a copy
    ):
        return a @ b if out is None else np.matmul(a, b, out=out)
    if a.ndim == 2:
        if offload.onednn is not None:
            done = offload.onednn.matmul(a, b, out)
            if done is not None:
                return done
        return a @ b if out is None else np.matmul(a, b, out=out)
    rows = a.reshape(math.prod(a.shape[:-1]), a.shape[-1])  # a copy where a is not contiguous
    if out is None:
        if a.dtype != b.dtype:  # NumPy's promotion decides the result's type
            return np.matmul(rows, b).reshape(*a.shape[:-1], b.shape[-1])
        # Written through a 2-D view of an array of the result's shape, so the result
        # owns its memory as matmul's does (cr.jit reuses buffers of such results).
        out = np.empty((*a.shape[:-1], b.shape[-1]), dtype=a.dtype)
    flat = out.reshape(rows.shape[0], b.shape[-1])
    if offload.onednn is None or offload.onednn.matmul(rows, b, flat) is None:
        np.matmul(rows, b, out=flat)
    return out


def as_rows(x):
    """A stack (..., m, k) as one (rows, k) matrix (a vector as one row). The row
    count is spelled out: ``reshape(-1, 0)`` of an empty stack is ambiguous."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def _matmul_vjp_a(g, ans, a, b):
    if b.ndim == 1:
        # g has a's shape minus the contracted axis: dA = outer(g, b).
        return np.expand_dims(g, -1) * b
    if a.ndim == 1:
        # a is a row vector: dA = g @ B^T with the row axis added and removed.
        return np.squeeze(np.expand_dims(g, -2) @ _mT(b), -2)
    return stack_matmul(g, _mT(b))


def _matmul_vjp_b(g, ans, a, b):
    if a.ndim == 1:
        if b.ndim == 1:
            return g * a
        # dB = outer(a, g) for each batch entry.
        return np.expand_dims(a, -1) * np.expand_dims(g, -2)
    if b.ndim == 1:
        # b is a column vector: dB = A^T @ g with the column axis added and removed.
        return np.squeeze(_mT(a) @ np.expand_dims(g, -1), -1)
    if b.ndim == 2 and a.ndim > 2 and g.ndim == a.ndim:
        # One matrix against a stack: its gradient summed over the stack, as one GEMM
        # (not one per leading index and then a sum of them).
        return stack_matmul(as_rows(a).T, as_rows(g))
    return _mT(a) @ g


def _matmul_forward(a, b):
    try:
        return stack_matmul(a, b)
    except ValueError:
        a_shape, b_shape = np.shape(a), np.shape(b)
        if not a_shape or not b_shape:
            raise ValueError("0-d operands cannot be matrix-multiplied; use *") from None
        inner_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
        if a_shape[-1] != inner_b:
            raise ValueError(
                f"the last axis of a ({a_shape[-1]}) must equal the "
                f"{'only' if len(b_shape) == 1 else 'second-to-last'} axis of b ({inner_b})"
            ) from None
        raise ValueError("the batch axes do not broadcast") from None


matmul = Primitive(
    "matmul",
    _matmul_forward,
    vjp=(_matmul_vjp_a, _matmul_vjp_b),
    # Bilinear: each input's tangent goes through the product in its place.
    jvp=(lambda t, ans, a, b: t @ b, lambda t, ans, a, b: a @ t),
    formula=("B^T", "A^T"),
    doc="Matrix product a @ b (1-D operands are vectors; leading axes are batch axes).",
)
matmul.ufunc = np.matmul  # _matmul_forward only rewords errors

# Bilinear: its rules, unconjugated, are its transposes for complex values too.
matmul.complex_rules = True
