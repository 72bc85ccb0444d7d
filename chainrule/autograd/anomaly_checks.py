"""The checking node factory and backward loop of anomaly detection.

:mod:`chainrule.autograd.anomaly` installs these in place of the plain ones while
some thread has the mode on; in a thread where it is off they do the plain work.
The backward loop here is the engine's loop without its speed-ups (no queue
bypass, no written-out calls): a reference version that checks every gradient.
"""

from __future__ import annotations

import linecache
import math
import os
import sys
from contextvars import ContextVar
from heapq import heappop
from typing import Any

import numpy as np

from chainrule.autograd.anomaly import _ANOMALY, AnomalyError
from chainrule.autograd.engine import _node_extras, _released_error, _send, recorded_args
from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.node import Node
from chainrule.autograd.versions import LAST_CHANGE, check_saved
from chainrule.ops.broadcast import sum_to
from chainrule.ops.complex_parts import match_dtype
from chainrule.ops.primitive import ELEMENTWISE

ndarray = np.ndarray

#: True while a rule runs under create_graph: the operations it records are checked
#: by the backward check, which names the primitive whose rule it is.
_IN_RULE: ContextVar[bool] = ContextVar("chainrule_anomaly_in_rule", default=False)

#: The plain versions, saved when the checking ones are first installed.
plain_new_node: Any = None
plain_propagate: Any = None


# ------------------------------------------------------------------ forward
def new_node_checked(prim: Any, parents: tuple, args: tuple, ans: Any, params: Any) -> Node:
    """``new_node``, plus the user's source line and a check of the forward value."""
    node = plain_new_node(prim, parents, args, ans, params)
    if not _ANOMALY.get():
        return node
    caller = sys._getframe(1)
    node.extra = {"anomaly_site": _user_site(caller)}
    # Every caller holds the operation's output in a local named ``out`` (tensor.py's
    # apply, unary and binary ops, Function's _connect): read it there rather than
    # make the plain path pass it.
    out = ans if ans is not None else caller.f_locals.get("out")
    if (
        out is not None
        and not _IN_RULE.get()
        and not _finite(out)
        and all(_finite(a) for a in args if _numeric(a))
    ):
        raise AnomalyError(_forward_message(node, _raw(out)))
    return node


def _user_site(frame: Any) -> tuple[str, int] | None:
    """File and line of the first frame outside the chainrule package."""
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name != "chainrule" and not name.startswith("chainrule."):
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return None


def _raw(x: Any) -> Any:
    return getattr(x, "_data", x)  # a Tensor's array, without the tracer's checks


def _numeric(a: Any) -> bool:
    return isinstance(a, (ndarray, np.generic, float)) and np.asarray(a).dtype.kind in "fc"


def _finite(x: Any) -> bool:
    x = getattr(x, "_data", x)
    # One number (the usual case in a chain of scalar ops): math.isfinite is about ten
    # times quicker than np.isfinite(x).all().
    if type(x) is float or isinstance(x, np.floating):
        return math.isfinite(x)
    if type(x) is ndarray and x.ndim == 0 and x.dtype.kind == "f":
        return math.isfinite(x)
    return bool(np.isfinite(x).all())


# ----------------------------------------------------------------- backward
def propagate_checked(heap, leaf_grads, retain_graph, create_graph, wanted, captured, fresh):
    """The engine's loop (see ``engine._propagate``), checking each rule's result."""
    if not _ANOMALY.get():
        return plain_propagate(
            heap, leaf_grads, retain_graph, create_graph, wanted, captured, fresh
        )
    last_change = LAST_CHANGE
    while heap:
        v = heappop(heap)[1]
        g = v.gsum
        v.gsum = None
        if v.extra is not None:
            g = _node_extras(v, g, create_graph, wanted, fresh)
        if wanted is not None and id(v) in wanted:
            captured[id(v)] = g
        args = v.args
        if args is None:
            raise _released_error(v)
        if v.seq > last_change[0]:
            check_saved(v)
        prim = v.prim
        params = v.params or {}
        call_args, ans = recorded_args(v) if create_graph else (args, v.ans)
        upstream_finite = _finite(g)
        for i, (p, rule, a) in enumerate(zip(v.parents, prim.vjps, args)):
            if p is None:
                continue
            if create_graph:
                token = _IN_RULE.set(True)
                try:
                    gi = rule(g, ans, *call_args, **params)
                finally:
                    _IN_RULE.reset(token)
            else:
                gi = rule(g, ans, *call_args, **params)
            if gi is None:
                continue
            if upstream_finite and not _finite(gi):
                raise AnomalyError(_backward_message(v, i, _raw(g), _raw(gi)))
            if not prim.exact and (type(a) is ndarray or type(gi) is not type(a)):
                if gi.shape != a.shape:
                    gi = sum_to(gi, a.shape)
                if gi.dtype is not a.dtype and gi.dtype != a.dtype:
                    gi = match_dtype(gi, a.dtype)
            _send(p, gi, heap, leaf_grads)
        if not retain_graph:
            v.args = None
            v.ans = None


# ----------------------------------------------------------------- messages
def _fmt(v: Any) -> str:
    v = np.asarray(v)
    if v.dtype.kind in "fiub" and v.ndim == 0:
        return f"{float(v):g}"
    return str(v.tolist() if v.ndim else v)


def _names(n: int) -> tuple[str, ...]:
    return ("x", "y")[:n] if n <= 2 else tuple(f"x{i}" for i in range(n))


def _first_bad(a: np.ndarray) -> tuple[tuple, int]:
    """Index of the first non-finite element and how many there are."""
    bad = ~np.isfinite(a)
    return tuple(int(i) for i in np.argwhere(bad)[0]), int(bad.sum())


def _elementwise(prim: Any) -> bool:
    return prim.exact or prim.batch is ELEMENTWISE


def _at(a: Any, shape: tuple, index: tuple, broadcast: bool = True) -> Any:
    """``a``'s element that lines up with ``index`` of an array of ``shape``, or None.
    Without ``broadcast`` (an operation not known to be elementwise) only an array of
    that very shape, or one number, lines up."""
    a = np.asarray(a)
    if not broadcast and a.shape != shape and a.size != 1:
        return None
    try:
        return np.broadcast_to(a, shape)[index]
    except ValueError:  # shapes that do not line up elementwise
        return None


def _head(node: Node, what: str) -> list[str]:
    site = node.extra.get("anomaly_site") if node.extra else None
    if site is None:
        return [f"{node.prim.name}: {what}"]
    file, line = site
    lines = [f"{node.prim.name} at {os.path.basename(file)}:{line}: {what}"]
    text = linecache.getline(file, line).strip()
    if text:
        lines.append(f"    {text}")
    return lines


def _where(index: tuple, count: int, size: int) -> str:
    if size == 1:
        return ""
    return f"index {index}, the first of {count} non-finite elements of {size}"


def _inputs_at(node: Node, shape: tuple, index: tuple) -> str:
    parts = []
    broadcast = _elementwise(node.prim)
    for name, a in zip(_names(len(node.args)), node.args):
        if _numeric(a) or isinstance(a, (int, np.integer)):
            value = _at(a, shape, index, broadcast)
            if not broadcast and np.ndim(a):  # not elementwise: say which element
                name += "[" + ", ".join(map(str, index)) + "]"
            parts.append(f"{name} = {_fmt(value)}" if value is not None else f"{name} = ...")
    return ", ".join(parts)


def _forward_message(node: Node, out: np.ndarray) -> str:
    index, count = _first_bad(out)
    value = out[index]
    where = _where(index, count, out.size)
    lines = _head(node, f"the forward value is {_fmt(value)} though every input is finite")
    lines.append(
        f"  {node.prim.name}({_inputs_at(node, out.shape, index)}) = {_fmt(value)}"
        + (f" (at {where})" if where else "")
    )
    return "\n".join(lines)


def _backward_message(node: Node, i: int, g: Any, gi: Any) -> str:
    prim = node.prim
    g, gi = np.asarray(g), np.asarray(gi)
    name = _names(len(node.args))[i]
    index, count = _first_bad(gi)
    lines = _head(
        node,
        f"the gradient for its input {name} is {_fmt(gi[index])} though the upstream "
        "gradient is finite",
    )
    formulas = prim.formulas
    formula = (formulas[i] if i < len(formulas) else formulas[-1]) if formulas else None
    up = _at(g, gi.shape, index, _elementwise(prim))
    local = _local_at(node, i, g, gi, index)
    where = _where(index, count, gi.size)
    if up is None:  # not elementwise: the upstream at this index means nothing here
        rule = f"local derivative {formula}" if formula else "its vjp rule"
        at = f" at {where}" if where else ""
        lines.append(f"  {rule} gave {_fmt(gi[index])}{at}; the upstream gradient is finite")
        return "\n".join(lines)
    inputs = _inputs_at(node, gi.shape, index)
    if local is None:  # the rule's result only: no elementwise local derivative known
        known = f" (local derivative {formula})" if formula else ""
        lines.append(
            f"  the vjp rule gave {_fmt(gi[index])} at {inputs} from upstream {_fmt(up)}{known}"
        )
    else:
        deriv = f"local derivative {formula} = " if formula else "local derivative = "
        lines.append(
            f"  {deriv}{_fmt(local)} at {inputs}; upstream {_fmt(up)}; "
            f"{_fmt(up)} · {_fmt(local)} = {_fmt(gi[index])}"
        )
    if where:
        lines.append(f"  (at {where})")
    return "\n".join(lines)


def _local_at(node: Node, i: int, g: np.ndarray, gi: np.ndarray, index: tuple) -> Any:
    """The local derivative d out / d input i at ``index``, when it can be found."""
    prim = node.prim
    if _elementwise(prim):
        # Elementwise: the rule applied to ones is the local derivative itself (run
        # on the saved arrays, unrecorded, silent about its own inf and nan).
        try:
            with no_grad(), np.errstate(all="ignore"):
                rule = prim.vjps[i]
                local = rule(np.ones_like(g), node.ans, *node.args, **(node.params or {}))
            return _at(_raw(local), gi.shape, index)
        except Exception:  # noqa: BLE001 - a value for the message only
            return None
    if g.size == 1 and gi.size == 1 and g.reshape(()) != 0:
        with np.errstate(all="ignore"):  # one number: gradient = upstream · local
            return gi.reshape(()) / g.reshape(())
    return None
