"""Undoing broadcasting, in one place.

When an input of shape ``shape`` was broadcast to a larger result, its gradient
is the result's gradient summed over the broadcast axes. The engine applies this
to every rule's output whose shape differs from its input's, so no rule has to.
Works on NumPy arrays and on Tensors alike (it only uses ``.sum`` and ``.reshape``).
"""

from __future__ import annotations

from typing import Any


def sum_to(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``g`` over the axes that broadcasting added or stretched, to get ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"sum_to: cannot reduce shape {g.shape} to the larger shape {shape}")
    # Axis by axis, in HIPS autograd's order: the added leading axes one at a time
    # (each a sum over axis 0), then each stretched axis. One sum over all of them
    # would round differently, and a program written for autograd would drift from
    # its numbers. Neither order is the more accurate in general: staged sums of a
    # (B, T, C) gradient to (C,) add B and then T terms where one sum adds B * T in
    # sequence, while a full reduction to a scalar would be pairwise.
    for _ in range(lead):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    if g.shape != shape:
        raise ValueError(f"sum_to: shape {g.shape} does not broadcast to {shape}")
    return g
