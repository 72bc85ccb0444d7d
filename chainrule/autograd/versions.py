"""Version counters: catch values changed in place after a node saved them.

A node saves the raw arrays its derivative rule needs. If one of them is then
changed in place (``t += 1``, ``t[i] = v``, ``t.add_(...)``, an optimizer's step)
before the backward pass reads it, the rule would compute with the new values
and give a wrong gradient without any error. PyTorch counts versions per tensor
and checks them at backward; so does chainrule, with one difference in where the
cost falls.

The count is kept per NumPy buffer, not per tensor, so every tensor sharing the
buffer (``t.detach()``, a view from basic indexing) shares it, as PyTorch's views
share theirs. The record is a table filled only by in-place operations, keyed by
the array's id, holding the array weakly (an entry dies with its array), the
sequence number of the last change and the number of changes. Sequence numbers
come from the same counter as the nodes' (:mod:`chainrule.autograd.node`), so "a
node saved this array before it changed" is one comparison of two integers. A
node records nothing extra: the hot path of an operation is unchanged, and the
backward engine compares each node's number with that of the latest in-place
change (:data:`LAST_CHANGE`), looking further only at nodes older than it.

Writes into ``.data`` (the raw array) go around the count, as in PyTorch.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from chainrule.autograd.node import Node, _next_seq

ndarray = np.ndarray

#: id(array) -> [weak reference to the array, seq of its last change, number of changes].
#: Only in-place operations add entries; the backward engine reads it.
MODIFIED: dict[int, list] = {}

#: ``LAST_CHANGE[0]``: the sequence number of the latest in-place change (1, above every
#: node's, before any). A node newer than it cannot have seen a change since it saved
#: its values, so the engine checks only nodes with a larger number: in a training
#: loop (step, forward, backward) that is none, at the cost of one comparison a node.
LAST_CHANGE: list[int] = [1]


def _forget(key: int, ref: weakref.ref) -> None:
    entry = MODIFIED.get(key)
    if entry is not None and entry[0] is ref:
        del MODIFIED[key]


def _mark(array: ndarray, seq: int) -> None:
    key = id(array)
    entry = MODIFIED.get(key)
    if entry is not None and entry[0]() is array:
        entry[1] = seq
        entry[2] += 1
        return
    ref = weakref.ref(array, lambda r, key=key: _forget(key, r))
    MODIFIED[key] = [ref, seq, 1]


def bump(array: Any) -> None:
    """Record that ``array`` (and the array whose memory it views) is about to change
    in place. Call it before every in-place write that goes through chainrule."""
    if type(array) is not ndarray:
        return
    seq = _next_seq()
    LAST_CHANGE[0] = seq
    _mark(array, seq)
    base = array.base
    if type(base) is ndarray:
        _mark(base, seq)


def version(array: Any) -> int:
    """How many in-place changes chainrule has made to ``array``'s buffer."""
    if type(array) is not ndarray:
        return 0
    entry = MODIFIED.get(id(array))
    if entry is not None and entry[0]() is array:
        return entry[2]
    return 0


def _changed_after(a: Any, seq: int) -> list | None:
    """The entry of ``a`` (or of the array it views) if it changed after ``seq``."""
    if type(a) is not ndarray:
        return None
    for arr in (a, a.base):
        if type(arr) is ndarray:
            entry = MODIFIED.get(id(arr))
            # Sequence numbers count down: a change after the node has a smaller one.
            if entry is not None and entry[1] < seq and entry[0]() is arr:
                return entry
    return None


def check_saved(node: Node, where: str = "backward") -> None:
    """Raise if a value ``node`` saved for its rule was changed in place since."""
    seq = node.seq
    for i, a in enumerate(node.args):
        entry = _changed_after(a, seq)
        if entry is not None:
            raise _modified_error(node, f"input {i}", a, node.parents[i], entry, where)
    if node.ans is not None:
        entry = _changed_after(node.ans, seq)
        if entry is not None:
            raise _modified_error(node, "the output", node.ans, None, entry, where)


def _modified_error(
    node: Node, which: str, a: ndarray, parent: Any, entry: list, where: str
) -> RuntimeError:
    label = None
    if parent is not None:
        extra = parent.extra if type(parent) is Node else getattr(parent, "_extra", None)
        label = None if extra is None else extra.get("name")
    what = f"'{label}', " if label else ""
    changes = "change" if entry[2] == 1 else "changes"
    return RuntimeError(
        f"{where}: {which} of '{node.prim.name}' ({what}a {a.dtype} tensor of shape "
        f"{a.shape}) was modified by an in-place operation after it was saved for "
        f"'{node.prim.name}' (now at version {entry[2]}: {entry[2]} in-place {changes}); "
        "its gradient would be wrong. Change a copy instead (t = t + x, or t.copy()), or "
        "make the change after the gradient is computed"
    )
