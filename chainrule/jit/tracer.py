"""Recording a function as a list of primitive applications (a tape).

While ``cr.jit`` traces a function, the Tensor module's hot path hands every
primitive application to the active :class:`Tracer` (``chainrule.tensor._tracer``):
the primitive, its inputs, its parameters and its result. The tracer gives each
result a variable number and resolves each input to a variable or a constant.

Values are identified by object identity: a result's Tensor and its data array
(or NumPy scalar) both name its variable. The engine and the transforms wrap saved
arrays in new Tensors (``recorded_args``), so the data object, not the Tensor, is
what links a backward rule's input to the forward value. The tracer keeps every
object it has named alive until the trace ends, so no identity is reused.

What the tape cannot see is a value that leaves the graph: ``bool(t)``, ``t.item()``,
``np.asarray(t)``, and ``t.data`` read by the user's code (not by chainrule's own,
which reads it for shapes and to hand arrays to NumPy forwards) are refused while
tracing (:class:`JitError`, naming the user's line). Leaks the library could still
make are caught by tracing twice and comparing (see :mod:`chainrule.jit.api`).

Only the thread that started the trace is recorded: the hook in the Tensor module
is one global, so every method the hot path calls first checks the thread, and
other threads compute eagerly while a trace is active.
"""

from __future__ import annotations

import linecache
import os
import sys
from dataclasses import dataclass, field
from threading import get_ident
from typing import Any

import numpy as np

from chainrule.ops.shape import reshape as _reshape
from chainrule.tensor import Tensor

ndarray = np.ndarray
# Frames of files under this folder are chainrule's own; the first frame outside it
# is the line a refusal names.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_line(depth: int = 1) -> str:
    """``file:line: source`` of the innermost caller outside chainrule ('' if none)."""
    frame = sys._getframe(depth)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
    if frame is None:
        return "an unknown line"
    name, line = frame.f_code.co_filename, frame.f_lineno
    text = linecache.getline(name, line, frame.f_globals).strip()
    return f"{os.path.basename(name)}:{line}: {text}" if text else f"{name}:{line}"


class JitError(RuntimeError):
    """A function cannot be compiled by ``cr.jit`` (and why)."""


@dataclass(frozen=True)
class Var:
    """A value computed inside the traced function (or one of its inputs)."""

    index: int


@dataclass(frozen=True)
class Const:
    """A value from outside the traced function (index into ``Tape.constants``; -1
    with ``value``: a fixed part of a parameter template)."""

    index: int
    value: Any = None


#: Marks a parameter (or part of one) that holds no traced value.
_STATIC = object()


@dataclass
class Entry:
    """One primitive application.

    ``via_apply``: it went through the general path, which hands the forward NumPy
    arrays (never NumPy scalars) and makes its result an array. ``converted``: the
    forward returned something else than an array (or a NumPy scalar, on the
    elementwise path) and the result was converted.
    """

    prim: Any
    args: tuple[Var | Const, ...]
    params: dict | None
    out: int
    via_apply: bool
    converted: bool
    #: Parameters holding traced values (an index array computed from an input), as
    #: templates: the value with Vars in place of traced parts (Const(-1, x): a
    #: fixed part x). None when every parameter is fixed.
    dynamic: dict | None = None


@dataclass
class Tape:
    """A traced function: inputs, entries in execution order, outputs."""

    n_inputs: int
    entries: list[Entry]
    constants: list[Any]
    #: Variables whose traced value was a NumPy scalar, not an array.
    scalar_vars: set[int]
    outputs: list[Var | Const | None]
    #: Per variable computed by an entry: its traced value's (shape, dtype) when it was
    #: a C-contiguous array owning its memory (a candidate for a reused buffer).
    fresh: dict[int, tuple] = field(default_factory=dict)
    #: Per variable: the variables its traced value may share memory with (a view).
    views: dict[int, list[int]] = field(default_factory=dict)
    #: State the function writes (a module's running statistics): (target, value).
    #: The values are the last ``len(updates)`` outputs; each call writes them back.
    updates: list[tuple[Any, Var | Const]] = field(default_factory=list)
    #: Matrix products whose traced operands were a stack of arrays (3-D or more) and
    #: one matrix, or two float32 matrices: compiled as ops.linalg.stack_matmul (one
    #: GEMM over the folded stack; the oneDNN backend's GEMM where it is selected).
    stacked: set[int] = field(default_factory=set)


class Tracer:
    """Collects the tape while a function runs (see the module doc)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.names: dict[int, int] = {}  # id(object) -> variable index
        self.keep: list[Any] = []  # every named object, alive until the trace ends
        self.entries: list[Entry] = []
        self.constants: list[Any] = []
        self.const_ids: dict[int, int] = {}
        self.scalar_vars: set[int] = set()
        self.fresh: dict[int, tuple] = {}
        self.views: dict[int, list[int]] = {}
        self.stacked: set[int] = set()
        self.n_vars = 0
        self.n_inputs = 0
        self.thread = get_ident()
        self.updates: list[tuple[Any, Tensor]] = []
        # NumPy's error state is the caller's when compiled code runs; one set inside
        # the function (np.errstate) would not be replayed.
        self.errstate = np.geterr()
        # The function transforms (chainrule.func) give NumPy results for NumPy inputs.
        # Traced, every input is a Tensor: these say which stand for NumPy arrays
        # (id -> whether a NumPy scalar), and which results the transforms would have
        # converted (id -> whether to a NumPy scalar), so jit returns the same kinds.
        self.array_inputs: dict[int, bool] = {}
        self.array_results: dict[int, bool] = {}
        # Inputs (ids) that require grad only because jit set it, so that a transform
        # inside records its backward pass; called without jit they would not, and a
        # gradient taken with respect to them alone is never differentiated again
        # (chainrule.func: _Inputs.differentiated).
        self.grad_only_for_tracing: set[int] = set()

    # ------------------------------------------------------------ naming values
    def _name(self, obj: Any, var: int) -> None:
        self.names[id(obj)] = var
        self.keep.append(obj)

    def new_input(self, t: Tensor) -> int:
        """Name an input; every input is named before the first operation."""
        var = self.n_vars
        self.n_vars += 1
        self.n_inputs += 1
        self._name(t, var)
        self._name(t._data, var)
        return var

    def var_of(self, obj: Any) -> int | None:
        """The variable ``obj`` (a Tensor or a data object) holds, if any."""
        var = self.names.get(id(obj))
        if var is None and isinstance(obj, Tensor):
            var = self.names.get(id(obj._data))
        return var

    def alias(self, old: Any, new: Any) -> None:
        """``new`` holds the same value as ``old`` (a 0-d scalar turned into an array)."""
        if self.thread != get_ident():
            return
        var = self.names.get(id(old))
        if var is not None:
            self._name(new, var)

    def copied(self, source: Any, t: Tensor) -> None:
        """``t`` was made as a copy of ``source`` (``cr.tensor(x)``, ``Tensor(x.data)``)."""
        if self.thread != get_ident():
            return
        var = self.var_of(source)
        if var is None:
            return
        raw = source._data if isinstance(source, Tensor) else source
        if np.result_type(raw) == t._data.dtype:
            self._name(t, var)  # the same value: no operation needed
            self._name(t._data, var)
        else:  # a conversion (cr.tensor(x, dtype=...)): recorded as one
            from chainrule.ops.elementwise import cast

            self.record(cast, (source,), (raw,), {"dtype": t._data.dtype}, t, True, False)

    # ------------------------------------------------------------------ refusals
    def refuse_value(self, t: Tensor, what: str) -> None:
        """Called where a tensor's value leaves the graph; an error if it is traced."""
        if self.thread == get_ident() and self.var_of(t) is not None:
            raise JitError(
                f"{self.where}: the function reads a traced tensor's value through {what} "
                f"at {user_line(2)}. jit records operations, not values, so the result "
                "would be frozen at the values of the first call; use cr.where (or "
                "chainrule.numpy) instead of Python control flow on values, or call the "
                "function without jit"
            )

    def read_data(self, t: Tensor) -> None:
        """``t.data`` was read (from the Tensor property). chainrule's own code reads it
        to hand arrays to NumPy forwards and for shapes; a read from the user's code
        is a value leaving the graph."""
        if self.thread != get_ident():
            return
        frame = sys._getframe(2)
        if frame.f_code.co_filename.startswith(_PACKAGE) or self.var_of(t) is None:
            return
        raise JitError(
            f"{self.where}: the function reads a traced tensor's values through t.data at "
            f"{user_line(2)}. jit records operations, not values, so anything computed from "
            "them (a branch, a Python number, NumPy on the array) would be frozen at the "
            "first call's values; use t.shape and t.dtype for shapes, chainrule operations "
            "(cr.where, chainrule.numpy) for values, or call the function without jit"
        )

    def write_back(self, target: Any, value: Tensor) -> None:
        """The function sets the state ``target`` (a Tensor or array that is not an
        input, such as a running mean) to ``value``, a recorded result: written now, as
        eagerly, and by the compiled code on every call."""
        data = target.data if isinstance(target, Tensor) else target
        data[...] = value._data
        if self.thread == get_ident():
            self.updates.append((target, value))

    def refuse(self, what: str) -> None:
        raise JitError(
            f"{self.where}: the function {what} (at {user_line(2)}), a side effect that a "
            "compiled function "
            "does not repeat; jit needs a function that only computes and returns its "
            "results (return gradients from cr.grad or cr.value_and_grad, and update "
            "parameters outside the jitted function)"
        )

    # ------------------------------------------------------------------ recording
    def _ref(self, a: Any, raw: Any) -> Var | Const:
        var = self.names.get(id(a))
        if var is None and raw is not a:
            var = self.names.get(id(raw))
            if var is not None:
                self._name(raw, var)  # the array apply made of a scalar-held value
        if var is not None:
            return Var(var)
        k = self.const_ids.get(id(a))
        if k is None:
            k = self.const_ids[id(a)] = len(self.constants)
            self.constants.append(a)
        return Const(k)

    def record(
        self,
        prim: Any,
        args: tuple,
        raw: tuple,
        params: dict | None,
        result: Tensor,
        via_apply: bool,
        converted: bool,
    ) -> None:
        """One primitive application (called from the hot path in chainrule.tensor)."""
        if self.thread != get_ident():
            return
        if np.geterr() != self.errstate:
            raise JitError(
                f"{self.where}: the function changes NumPy's error state (np.errstate) "
                f"around '{prim.name}' at {user_line(2)}; compiled code runs under the "
                "caller's error state and would not raise where the function does. Set "
                "np.errstate around the call of the jitted function instead"
            )
        refs = tuple(self._ref(a, r) for a, r in zip(args, raw))
        out = result._data
        if (
            prim is _reshape
            and isinstance(refs[0], Var)
            and type(raw[0]) is ndarray
            and raw[0].shape == np.shape(out)
        ):
            # A reshape to the same shape (how a transform marks the argument it
            # differentiates): the same value, so the same variable and no line.
            self._name(result, refs[0].index)
            self._name(out, refs[0].index)
            return
        dynamic = self._dynamic(prim, params) if params else None
        var = self.n_vars
        self.n_vars += 1
        self._name(result, var)
        self._name(out, var)
        if type(out) is not ndarray:
            self.scalar_vars.add(var)
        else:
            if out.base is None and out.flags.c_contiguous:
                self.fresh[var] = (out.shape, out.dtype)
            if (
                prim.ufunc is np.matmul
                and len(raw) == 2
                and type(raw[0]) is ndarray
                and type(raw[1]) is ndarray
                and raw[1].ndim == 2
                and (raw[0].ndim > 2 or (raw[0].ndim == 2 and raw[0].dtype == np.float32))
            ):
                self.stacked.add(var)
            shared = [
                ref.index
                for ref, r in zip(refs, raw)
                if isinstance(ref, Var) and type(r) is ndarray and np.may_share_memory(out, r)
            ]
            if shared:
                self.views[var] = shared
        self.entries.append(Entry(prim, refs, params, var, via_apply, converted, dynamic))

    def _template(self, prim: Any, v: Any) -> Any:
        """A parameter value with the traced values in it replaced by Vars, or
        ``_STATIC`` when it holds none (an index array computed from an input is
        the usual case of one that does)."""
        if isinstance(v, tuple | list):
            parts = [self._template(prim, x) for x in v]
            if all(p is _STATIC for p in parts):
                return _STATIC
            return type(v)(Const(-1, x) if p is _STATIC else p for p, x in zip(parts, v))
        if isinstance(v, slice):
            if any(self._template(prim, x) is not _STATIC for x in (v.start, v.stop, v.step)):
                raise JitError(
                    f"{self.where}: a slice bound of '{prim.name}' is a traced value; jit "
                    "needs the shapes of a compiled function to be fixed"
                )
            return _STATIC
        if v is not None and not isinstance(v, int | float | str | bool):
            var = self.var_of(v)
            if var is not None:
                return Var(var)
        return _STATIC

    def _dynamic(self, prim: Any, params: dict) -> dict | None:
        found = {}
        for k, v in params.items():
            t = self._template(prim, v)
            if t is not _STATIC:
                found[k] = t
        return found or None

    def tape(self, outputs: list[Any]) -> Tape:
        """The finished tape; ``outputs`` are the function's flattened results (the
        values of the state it writes are appended, see ``Tape.updates``)."""
        refs: list[Var | Const | None] = []
        for o in [*outputs, *(value for _, value in self.updates)]:
            if o is None:
                refs.append(None)
                continue
            var = self.var_of(o)
            refs.append(Var(var) if var is not None else self._ref(o, o))
        return Tape(
            self.n_inputs,
            self.entries,
            self.constants,
            self.scalar_vars,
            refs,
            self.fresh,
            self.views,
            [(target, ref) for (target, _), ref in zip(self.updates, refs[len(outputs) :])],
            self.stacked,
        )
