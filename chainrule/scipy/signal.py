"""``chainrule.scipy.signal``: ``convolve`` with HIPS autograd's signature.

``convolve(A, B, axes=None, dot_axes=[(), ()], mode="full")`` convolves ``A`` and
``B`` along the axis pairs ``axes = (axes_of_A, axes_of_B)`` (default: every axis
of ``A`` with the same axis of ``B``), sums over the pairs ``dot_axes`` as
``tensordot`` does, and keeps the other axes: the result's axes are A's kept axes,
then B's, then the convolved ones. Modes as SciPy's: ``full``, ``valid`` (one
operand at least as large as the other along every convolved axis) and ``same``
(the size of ``A``, centred). Differentiable in both operands, to any order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.numpy._core import array_arg, data, has_tensor
from chainrule.ops import scipy_signal as _sig
from chainrule.tensor import apply

_MODES = ("full", "valid", "same")


def _pairs(what: str, value: Any, ndims: tuple[int, int]) -> tuple[tuple[int, ...], ...]:
    if len(value) != 2:
        raise ValueError(f"convolve: {what} must be a pair (axes of A, axes of B), got {value!r}")
    out = []
    for side, axes, ndim in zip("AB", value, ndims):
        axes = tuple(int(i) for i in axes)
        for i in axes:
            if not -ndim <= i < ndim:
                raise ValueError(f"convolve: {what} names axis {i} of {side}, which has {ndim}")
        out.append(tuple(i % ndim for i in axes))
    if len(out[0]) != len(out[1]):
        raise ValueError(f"convolve: {what} pairs {len(out[0])} axes of A with {len(out[1])} of B")
    return tuple(out)


def convolve(
    A: Any,
    B: Any,
    axes: Sequence[Sequence[int]] | None = None,
    dot_axes: Sequence[Sequence[int]] = ((), ()),
    mode: str = "full",
) -> Any:
    """The convolution of ``A`` and ``B`` (see the module docstring); a NumPy array
    for NumPy inputs, a Tensor (recorded) when either is a Tensor."""
    if mode not in _MODES:
        raise ValueError(f"convolve: mode must be 'full', 'valid' or 'same', got {mode!r}")
    a, b = array_arg(A), array_arg(B)
    ndims = (a.ndim, b.ndim)
    if axes is None:
        if a.ndim != b.ndim:
            raise ValueError(
                f"convolve: A has {a.ndim} axes and B {b.ndim}; give axes= to pair them"
            )
        axes = (range(a.ndim), range(a.ndim))
    conv = _pairs("axes", axes, ndims)
    dot = _pairs("dot_axes", dot_axes, ndims)
    for side, c, d in zip("AB", conv, dot):
        if set(c) & set(d) or len(set(c)) < len(c) or len(set(d)) < len(d):
            raise ValueError(f"convolve: an axis of {side} is named twice in axes/dot_axes")
    for i, j in zip(*dot):
        if a.shape[i] != b.shape[j]:
            raise ValueError(
                f"convolve: dot axes {i} of A and {j} of B differ in length "
                f"({a.shape[i]} and {b.shape[j]})"
            )
    sizes = [(a.shape[i], b.shape[j]) for i, j in zip(*conv)]
    if any(na == 0 or nb == 0 for na, nb in sizes):
        raise ValueError("convolve: a convolved axis has length 0")
    if mode == "full":
        lo = tuple(0 for _ in sizes)
        hi = tuple(na + nb - 1 for na, nb in sizes)
    elif mode == "valid":
        if not (all(na >= nb for na, nb in sizes) or all(nb >= na for na, nb in sizes)):
            raise ValueError(
                "convolve: in 'valid' mode one array must be at least as large as the other "
                f"along every convolved axis; the lengths are {sizes}"
            )
        lo = tuple(min(na, nb) - 1 for na, nb in sizes)
        hi = tuple(max(na, nb) for na, nb in sizes)
    else:
        lo = tuple((nb - 1) // 2 for na, nb in sizes)
        hi = tuple(start + na for start, (na, nb) in zip(lo, sizes))
    params = {"conv": conv, "dot": dot, "lo": lo, "hi": hi}
    if not has_tensor((A, B)):
        return _sig.convolve.forward(np.asarray(data(a)), np.asarray(data(b)), **params)
    return apply(_sig.convolve, (a, b), params)


__all__ = ["convolve"]
