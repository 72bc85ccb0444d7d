"""What a primitive's forward pass keeps for the backward pass of the same output.

A fused primitive's forward computes things its rules need again (a softmax's
weights, a layer norm's statistics, an LSTM's gates) and keeps them, keyed by the
output object, for as long as that output lives. A rule gets the output and the
inputs; what was kept serves it only when both are the forward's: the very output
and the very input arrays (other values, such as ``eps`` or ``scale``, equal).
Otherwise, say a ``*_grads`` primitive called with other inputs than its output's,
:func:`kept` returns None and the rule computes afresh, so it never answers with
another forward's pieces.

    keep(table, out, (x, eps), stats)      # in the forward
    stats = kept(table, ans, (x, eps))     # in a rule: None -> compute them anew
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np


def _token(value: Any) -> tuple[bool, Any]:
    """An input as a row holds it: arrays by a weak reference (compared by identity),
    anything else by value."""
    if isinstance(value, np.ndarray):
        return True, weakref.ref(value)
    return False, value


def _same(token: tuple[bool, Any], value: Any) -> bool:
    by_ref, held = token
    if by_ref:
        return held() is value
    if isinstance(value, np.ndarray):
        return False
    try:
        return bool(held is value or held == value)
    except (TypeError, ValueError):  # a comparison that gives no single answer
        return False


def keep(
    table: dict,
    out: Any,
    inputs: tuple,
    value: Any,
    on_free: Callable[[Any], None] | None = None,
) -> None:
    """``value`` kept in ``table`` for the backward of ``out``, computed from
    ``inputs``, until ``out`` is freed; then the row goes (ids are reused) and
    ``on_free(value)`` runs, if given."""
    key = id(out)

    def forget(ref: weakref.ref, key: int = key) -> None:
        row = table.get(key)
        if row is not None and row[0] is ref:
            del table[key]
            if on_free is not None:
                on_free(row[2])

    table[key] = (weakref.ref(out, forget), tuple(map(_token, inputs)), value)


def kept(table: dict, ans: Any, inputs: tuple) -> Any:
    """What the forward that returned ``ans`` kept in ``table``, if that forward had
    these very inputs; None otherwise."""
    row = table.get(id(ans))
    if row is None or row[0]() is not ans or len(row[1]) != len(inputs):
        return None
    return row[2] if all(map(_same, row[1], inputs)) else None
