"""Graph nodes.

A node records one application of a primitive: which primitive, the values the
derivative rule needs, and where each input came from. It refers to its inputs
(their nodes, or the leaf tensors themselves) and never to its output tensor, so
a graph has no reference cycles and reference counting frees it the moment the
last tensor that reaches it goes away.
"""

from __future__ import annotations

from typing import Any

#: Stands in for saved values once a backward pass has released them.
RELEASED: Any = None


class Node:
    """One recorded primitive application.

    Attributes:
        prim: the primitive (its rules live in the primitive table).
        parents: per positional input, the input's node, the input itself when it
            is a leaf tensor that requires grad, or None when no gradient flows there.
        args: the forward inputs as raw arrays or Python numbers (the saved values);
            set to None by a backward pass that does not retain the graph.
        ans: the forward output when the primitive's rule needs it, else None.
        params: keyword parameters of the primitive (axis, shape, ...), or None.
        extra: rarely used per-node state (hooks, retain_grad, a display name), or None.
        mark, pending, gsum: scratch state of a backward pass (which pass visited the
            node, how many consumers have yet to send their gradient, and its sum).
    """

    __slots__ = (
        "prim",
        "parents",
        "args",
        "ans",
        "params",
        "extra",
        # Scratch state of the backward pass that is visiting the node (see engine):
        "mark",
        "pending",
        "gsum",
        "__weakref__",
    )

    def __init__(self, prim: Any, parents: tuple, args: tuple, ans: Any, params: Any) -> None:
        self.prim = prim
        self.parents = parents
        self.args = args
        self.ans = ans
        self.params = params
        self.extra = None
        self.mark = None

    @property
    def released(self) -> bool:
        """True once a backward pass has dropped the saved values."""
        return self.args is None

    def __repr__(self) -> str:
        return f"<Node {self.prim.name}>"
