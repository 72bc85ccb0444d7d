"""Graph nodes.

A node records one application of a primitive: which primitive, the values the
derivative rule needs, and where each input came from. It refers to its inputs
(their nodes, or the leaf tensors themselves) and never to its output tensor, so
a graph has no reference cycles and reference counting frees it the moment the
last tensor that reaches it goes away.
"""

from __future__ import annotations

from itertools import count
from typing import Any

#: Sequence numbers, counting down: a newer node has a smaller number, so a min-heap
#: of (seq, node) pops the newest first (the order the backward engine needs).
_next_seq = count(0, -1).__next__

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
        seq: the creation order (see ``_next_seq``); inputs are always older.
        gsum: scratch state of a backward pass: the gradient summed so far (None
            outside a pass).
    """

    __slots__ = (
        "prim",
        "parents",
        "args",
        "ans",
        "params",
        "extra",
        "seq",
        # Scratch state of the backward pass that is visiting the node (see engine):
        "gsum",
        "__weakref__",
    )

    # No __init__: see new_node.

    @property
    def released(self) -> bool:
        """True once a backward pass has dropped the saved values."""
        return self.args is None

    def __repr__(self) -> str:
        return f"<Node {self.prim.name}>"


_new = object.__new__


def new_node(prim: Any, parents: tuple, args: tuple, ans: Any, params: Any) -> Node:
    """A new node for one application of ``prim`` (see the attributes of Node).

    A plain function rather than ``Node.__init__``: a class call runs ``__init__``
    from C in an interpreter frame of its own, while CPython runs a call from
    Python to a Python function in the caller's frame loop, which costs less on a
    path taken once per recorded operation.
    """
    node = _new(Node)
    node.prim = prim
    node.parents = parents
    node.args = args
    node.ans = ans
    node.params = params
    node.extra = None
    node.seq = _next_seq()
    node.gsum = None
    return node
