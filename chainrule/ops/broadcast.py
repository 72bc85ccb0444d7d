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
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    if not stretched:
        # Only leading axes were added (a bias): one sum, no reshape.
        g = g.sum(axis=tuple(range(lead)))
    else:
        g = g.sum(axis=tuple(range(lead)) + stretched, keepdims=True)
        if lead:
            g = g.reshape(shape)
    if g.shape != shape:
        raise ValueError(f"sum_to: shape {g.shape} does not broadcast to {shape}")
    return g
