"""``cr.jit``: trace a function once per input signature, then run it as compiled code.

A jitted function runs the Python function once with its array inputs replaced
by traced tensors, records every primitive application (the forward pass and,
when the function differentiates, every derivative rule of the backward pass),
and turns that record into one straight-line Python function of NumPy calls
(:mod:`chainrule.jit.codegen`). Later calls with inputs of the same shapes, dtypes
and static arguments run that function: no Tensors, no graph, no engine.

Tracing records operations, not values. Reading a traced value in Python is
refused (:mod:`chainrule.jit.tracer`); the Python values the function captures
are guarded on every call; state it writes (BatchNorm's running statistics) is an
output of the compiled code, written back. A function whose operations or
constants still depend on its inputs' values through a path chainrule cannot see
(library code reading values, random numbers) would be compiled wrongly, so by
default a signature is compiled only after two calls with different input values
have traced to the same operations, constants and result structure, and an input
is traced once more the first time it changes after being the same in those
calls. A mismatch raises :class:`JitError`. See :func:`jit` for the whole model.
"""

from __future__ import annotations

import functools
import inspect
import re
import struct
import threading
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd import anomaly as _anomaly
from chainrule.autograd.grad_mode import grad_enabled
from chainrule.func import running_transforms
from chainrule.jit.codegen import compile_tape, generate
from chainrule.jit.tracer import _PACKAGE, Const, Entry, JitError, Tape, Tracer, Var
from chainrule.tensor import Tensor, _wrap, active_tracer, set_tracer

ndarray = np.ndarray

# Leaves of an argument or result structure. A Python float is keyed by its bytes:
# == would make -0.0 the signature of 0.0 (1/x: -inf, not inf) and nan no signature
# at all (nan != nan: a new trace on every call).
_ARRAY, _TENSOR, _STATIC, _FLOAT = "array", "tensor", "static", "float"
_SCALAR = "scalar"  # a result leaf returned as a NumPy scalar (see Tracer.array_results)
_pack_float = struct.Struct("<d").pack
_unpack_float = struct.Struct("<d").unpack

#: Signatures kept per jitted function (least recently used dropped first).
CACHE_SIZE = 32
#: Distinct values of one non-array argument after which jit warns (once per function)
#: that each is a trace of its own.
RETRACE_WARNING = 8

# The tracer is one process-wide hook: traces run one at a time. Re-entrant: a trace
# may call Jitted.source or a jitted function (run as Python inside the trace).
_TRACE_LOCK = threading.RLock()


# ------------------------------------------------------------------ structures
def _flatten(obj: Any, arrays: list) -> Any:
    """A hashable description of ``obj`` with array leaves listed in ``arrays``.

    Tensors, NumPy arrays and NumPy scalars are array leaves (traced); tuples,
    lists and dicts are walked; anything else is static (part of the cache key).
    Runs on every call of a jitted function: exact type tests come first, and the
    dtype object itself (not its string) goes into the key."""
    kind = type(obj)
    if kind is not ndarray and kind is not Tensor:  # exact types first: the usual case
        if kind is tuple or kind is list or isinstance(obj, tuple | list):
            return (kind, tuple([_flatten(v, arrays) for v in obj]))
        if kind is dict or isinstance(obj, dict):
            return (dict, tuple([(k, _flatten(obj[k], arrays)) for k in obj]))
        if not isinstance(obj, Tensor | ndarray | np.generic):
            try:
                hash(obj)
            except TypeError:
                raise TypeError(
                    f"jit: an argument of type {kind.__name__} is neither an array nor "
                    "hashable; jit treats non-array arguments as constants of the compiled "
                    "function and needs to compare them (pass arrays, tuples, lists or "
                    "dicts of arrays, numbers or strings)"
                ) from None
            if kind is float:
                return (_FLOAT, _pack_float(obj))
            if kind is complex:
                return (_STATIC, complex, _pack_float(obj.real) + _pack_float(obj.imag))
            return (_STATIC, kind, obj)
    arrays.append(obj)
    if isinstance(obj, Tensor):
        d = obj._data
        return (_TENSOR, d.shape, d.dtype)
    return (_ARRAY, obj.shape, obj.dtype)


def _key(args: tuple, kwargs: dict, leaves: list) -> Any:
    """The cache key of a call: its argument structure, shapes, dtypes and statics."""
    return (_flatten(args, leaves), _flatten(kwargs, leaves) if kwargs else None)


def _rebuild(spec: Any, leaves: Any) -> Any:
    """The structure described by ``spec`` with its array leaves taken from ``leaves``."""
    kind = spec[0]
    if kind is _TENSOR or kind is _ARRAY:
        return next(leaves)
    if kind is _FLOAT:
        return _unpack_float(spec[1])[0]
    if kind is _STATIC:
        if spec[1] is complex:
            return complex(*struct.unpack("<dd", spec[2]))
        return spec[2]
    if kind is dict:
        return {k: _rebuild(s, leaves) for k, s in spec[1]}
    items = [_rebuild(s, leaves) for s in spec[1]]
    if kind is list or kind is tuple:
        return items if kind is list else tuple(items)
    return kind._make(items) if hasattr(kind, "_make") else kind(items)  # a namedtuple


def _result_leaf(value: Any, kind: str) -> Any:
    if kind is _TENSOR:
        return _wrap(value, None)
    if kind is _SCALAR:
        return np.asarray(value)[()]
    return value if type(value) is ndarray else np.asarray(value)


def _same(a: Any, b: Any) -> bool:
    """Whether two constants (or parameters) of two traces are the same value."""
    if a is b:
        return True
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return _same(np.asarray(a._data), np.asarray(b._data))
    if type(a) is not type(b):
        return False
    if isinstance(a, ndarray | np.generic):
        return (
            a.shape == b.shape
            and a.dtype == b.dtype
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
            and (a.dtype.kind != "f" or bool(np.array_equal(np.signbit(a), np.signbit(b))))
        )
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, slice):
        return _same((a.start, a.stop, a.step), (b.start, b.stop, b.step))
    if isinstance(a, float):
        return _pack_float(a) == _pack_float(b) or (a != a and b != b)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an object without a usable ==
        return False


def _same_template(a: Any, b: Any) -> bool:
    if isinstance(a, Var) or isinstance(b, Var):
        return a == b
    if isinstance(a, Const) and isinstance(b, Const):
        return _same(a.value, b.value)
    if isinstance(a, tuple | list) and type(a) is type(b) and len(a) == len(b):
        return all(_same_template(x, y) for x, y in zip(a, b))
    return False


def _same_params(e1: Entry, e2: Entry) -> bool:
    """Fixed parameters equal, parameters with traced values built the same way."""
    d1, d2 = e1.dynamic or {}, e2.dynamic or {}
    if d1.keys() != d2.keys() or not all(_same_template(d1[k], d2[k]) for k in d1):
        return False
    if not d1:
        return _same(e1.params, e2.params)
    p1 = {k: v for k, v in e1.params.items() if k not in d1}
    p2 = {k: v for k, v in e2.params.items() if k not in d2}
    return _same(p1, p2)


def _difference(t1: Tape, t2: Tape) -> str | None:
    """How two tapes of one signature differ, or None if they agree."""
    if len(t1.entries) != len(t2.entries):
        return f"one trace has {len(t1.entries)} operations, the other {len(t2.entries)}"
    for k, (e1, e2) in enumerate(zip(t1.entries, t2.entries)):
        if e1.prim is not e2.prim:
            names = f"'{e1.prim.name}' in one trace and '{e2.prim.name}' in the other"
            return f"operation {k} is {names}"
        if e1.args != e2.args or e1.via_apply != e2.via_apply or e1.converted != e2.converted:
            return f"operation {k} ('{e1.prim.name}') takes different inputs"
        if not _same_params(e1, e2):
            return f"operation {k} ('{e1.prim.name}') has different parameters"
    if t1.outputs != t2.outputs:
        return "the results come from different operations"
    if [id(t) for t, _ in t1.updates] != [id(t) for t, _ in t2.updates]:
        return "the function writes different state (buffers)"
    if t1.scalar_vars != t2.scalar_vars:
        return "the values have different types"
    users: dict[int, str] = {}
    for k, e in enumerate(t1.entries):
        for a in e.args:
            if isinstance(a, Const):
                users.setdefault(a.index, f"operation {k} ('{e.prim.name}')")
    for i, (c1, c2) in enumerate(zip(t1.constants, t2.constants)):
        if not _same(c1, c2):
            return f"a constant used by {users.get(i, 'a result')} has different values"
    return None


# ------------------------------------------------------------ captured values
# Python values a function reads from its closure cells and module globals are
# constants of its trace. Each is guarded: numbers, strings and tuples of them by
# value (floats by their bytes), functions, arrays and Tensors by identity (a
# Tensor's values are read when the compiled code runs), a cr.nn.Module by its
# training flag. Other attributes of objects (a module's momentum, a submodule
# switched to eval alone) are not seen.
_BY_VALUE = (int, float, complex, bool, str, bytes, type(None), np.generic)
_MISSING = object()


def _value_key(v: Any) -> Any:
    """What a captured value is compared by (None: not guarded)."""
    kind = type(v)
    if kind is float:
        return (float, _pack_float(v))
    if kind is complex:
        return (complex, _pack_float(v.real), _pack_float(v.imag))
    if isinstance(v, np.generic):
        return (kind, v.tobytes())
    if isinstance(v, _BY_VALUE):
        return (kind, v)
    if kind is tuple:
        keys = tuple(_value_key(x) for x in v)
        return None if any(k is None for k in keys) else (tuple, keys)
    return None


def _names(code: types.CodeType) -> set[str]:
    """Global names a code object and the functions defined in it may read."""
    found = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            found |= _names(c)
    return found


def _is_module(v: Any) -> bool:
    """A cr.nn.Module (told by its mode flag and train(), without importing nn)."""
    d = getattr(v, "__dict__", None)
    return type(d) is dict and type(d.get("training")) is bool and hasattr(type(v), "train")


_CALLABLES = types.FunctionType | functools.partial | types.MethodType


def _captured(fn: Any, found: list, seen: set) -> None:
    """Append (container, name, value) for each Python value ``fn`` captures.

    ``container`` is a closure cell (``name`` None), a globals dict (``name`` the
    global's name) or a module (``name`` ``("training",)``: its mode, guarded so that
    ``model.eval()`` traces again). Functions found are walked too; chainrule's own
    (the wrapper ``cr.grad`` returns) only for the functions and modules in their
    closures: their other cells are fixed when they are made."""
    while True:
        if isinstance(fn, functools.partial):
            for a in (*fn.args, *fn.keywords.values()):
                _captured(a, found, seen)
            fn = fn.func
        elif isinstance(fn, types.MethodType):
            _captured(fn.__self__, found, seen)
            fn = fn.__func__
        elif isinstance(fn, Jitted):
            fn = fn.fn
        else:
            break
    if id(fn) in seen:
        return
    seen.add(id(fn))
    if _is_module(fn):
        found.append((fn, ("training",), fn.training))
        return
    if not isinstance(fn, types.FunctionType):
        return
    values: list[tuple[Any, Any, Any]] = []
    for cell in fn.__closure__ or ():
        try:
            values.append((cell, None, cell.cell_contents))
        except ValueError:  # an empty cell (a name assigned later)
            continue
    own = fn.__code__.co_filename.startswith(_PACKAGE)
    if not own:
        g = fn.__globals__
        values.extend((g, name, g[name]) for name in sorted(_names(fn.__code__)) if name in g)
    for container, name, v in values:
        if isinstance(v, _CALLABLES | Jitted) or _is_module(v):
            if not own:
                found.append((container, name, v))
            _captured(v, found, seen)
        elif not own and (isinstance(v, ndarray | Tensor) or _value_key(v) is not None):
            found.append((container, name, v))


def _current(container: Any, name: Any) -> Any:
    if name is None:
        try:
            return container.cell_contents
        except ValueError:
            return _MISSING
    if type(name) is str:
        return container.get(name, _MISSING)
    return getattr(container, name[0], _MISSING)


def _describe(container: Any, name: Any) -> str:
    if name is None:
        return "a variable of its closure"
    if type(name) is str:
        return f"the global {name}"
    return f"the {name[0]} flag of a {type(container).__name__}"


def _unchanged(old: Any, new: Any) -> bool:
    if old is new:
        return True
    key = _value_key(old)
    return key is not None and key == _value_key(new)


def _guard_tuple(found: list) -> tuple:
    """(container, name, value, key) per captured value, for the per-call check."""
    return tuple((c, n, v, _value_key(v)) for c, n, v in found)


# ------------------------------------------------------------------ the wrapper
class _Signature:
    """What jit knows about one input signature."""

    __slots__ = (
        "tape",
        "inputs",
        "unchecked",
        "run",
        "source",
        "out_spec",
        "out_kinds",
        "updates",
    )

    def __init__(self) -> None:
        self.tape: Tape | None = None
        self.inputs: list[np.ndarray] = []  # copies of the first traced call's inputs
        # Inputs (by position) that had the same value in every trace so far, so that
        # no trace has shown what depends on their values: a call with a new value
        # for one of them is traced and compared once more.
        self.unchecked: set[int] = set()
        self.run: Callable[..., tuple] | None = None
        self.source = ""
        self.out_spec: Any = None
        self.out_kinds: list[str] = []
        # State the compiled code writes back (the last outputs), see Tape.updates.
        self.updates: list[Any] = []


def _identifier(text: str) -> str:
    name = re.sub(r"\W", "_", text)
    return name if name and not name[0].isdigit() else f"f_{name}"


def _write_back(targets: list, values: tuple) -> None:
    for target, value in zip(targets, values):
        (target.data if isinstance(target, Tensor) else target)[...] = value


class Jitted:
    """A function compiled by :func:`jit`; call it like the original.

    Attributes:
        traces: how many times the Python function has been traced (run).

    >>> import chainrule as cr
    >>> f = cr.jit(lambda x: (x * 2).sum())
    >>> f(cr.ones(3)), f(cr.zeros(3)), f(cr.ones(3))
    (tensor(6.), tensor(0.), tensor(6.))
    >>> f.traces  # traced twice (to tell inputs from constants), then compiled
    2
    """

    def __init__(self, fn: Callable[..., Any], verify: bool) -> None:
        self.fn = fn
        self.verify = verify
        self.traces = 0
        # Insertion order is recency: a hit moves its signature to the end, the first
        # one is dropped when there are more than CACHE_SIZE.
        self._signatures: dict[Any, _Signature] = {}
        self._last: _Signature | None = None
        # The captured Python values of the traces in the cache (see _captured).
        self._guards: tuple = ()
        self._statics: dict[str, set] = {}  # non-array argument -> values seen
        self._warned = False
        self._anomaly_warned = False
        self._eager_warned = False
        self._name = getattr(fn, "__name__", "function")
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<jit {self._name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if active_tracer() is not None:
            # Inside another function's trace: run the Python function, recorded there.
            return self.fn(*args, **kwargs)
        if _anomaly._users and not self._anomaly_warned:  # one global read while off
            self._warn_anomaly()
        leaves: list[Any] = []
        key = _key(args, kwargs, leaves)
        if grad_enabled() and (_in_a_graph(leaves) or running_transforms()):
            # Compiled code computes arrays and records no graph: a gradient taken
            # through it (cr.grad(cr.jit(f)), also with respect to a tensor f
            # captures) would be silently zero. Run the function itself, recorded.
            self._warn_eager()
            return self.fn(*args, **kwargs)
        sig = self._signatures.get(key)
        if (
            sig is not None
            and sig.run is not None
            and (not sig.unchecked or not self._changed(sig, leaves))
            and (not self._guards or self._guards_hold())
        ):
            if sig is not self._last:
                self._touch(key, sig)
            outs = sig.run(*[_array(a) for a in leaves])
            if sig.updates:
                _write_back(sig.updates, outs[len(sig.out_kinds) :])
            return _rebuild(sig.out_spec, map(_result_leaf, outs, sig.out_kinds))
        with _TRACE_LOCK:  # one trace at a time; another thread may have compiled it
            if not self._guards_hold():
                self._signatures.clear()  # traced with other captured values
                self._last = None
            sig = self._signatures.get(key)
            if sig is None:
                sig = self._new_signature(key)
            elif sig.run is not None and not (sig.unchecked and self._changed(sig, leaves)):
                return self._run(sig, leaves)
            return self._trace_call(sig, args, kwargs, leaves)

    def _warn_eager(self) -> None:
        if not self._eager_warned:
            self._eager_warned = True
            warnings.warn(
                f"cr.jit function {self._name!r} was called inside a function transform "
                "(cr.grad, cr.vmap, ...) or with tensors that require grad: "
                "compiled code records no graph, so it runs uncompiled here for the "
                "gradient to flow; jit the whole gradient instead (cr.jit(cr.grad(f)))",
                RuntimeWarning,
                stacklevel=3,
            )

    def _warn_anomaly(self) -> None:
        if _anomaly.is_anomaly_enabled():
            self._anomaly_warned = True
            warnings.warn(
                f"anomaly detection does not apply to compiled code: cr.jit function "
                f"{self._name!r} runs unchecked (call its .fn to run it eagerly, checked)",
                RuntimeWarning,
                stacklevel=3,
            )

    @staticmethod
    def _run(sig: _Signature, leaves: list) -> Any:
        """The compiled call (written out again in __call__, which saves a call)."""
        outs = sig.run(*[_array(a) for a in leaves])
        if sig.updates:
            _write_back(sig.updates, outs[len(sig.out_kinds) :])
        return _rebuild(sig.out_spec, map(_result_leaf, outs, sig.out_kinds))

    def _guards_hold(self) -> bool:
        """Whether the captured values are those the cached traces saw."""
        for container, name, value, key in self._guards:
            now = _current(container, name)
            if now is not value and (key is None or _value_key(now) != key):
                return False
        return True

    def _touch(self, key: Any, sig: _Signature) -> None:
        self._signatures.pop(key, None)
        self._signatures[key] = sig
        self._last = sig

    def _new_signature(self, key: Any) -> _Signature:
        sig = self._signatures[key] = self._last = _Signature()
        while len(self._signatures) > CACHE_SIZE:
            del self._signatures[next(iter(self._signatures))]
        if not self._warned:
            self._count_statics(key)
        return sig

    def _count_statics(self, key: Any) -> None:
        """Warn (once) when one non-array argument keeps taking new values."""
        args, kwargs = key
        named: list[tuple[Any, Any]] = list(enumerate(args[1]))
        if kwargs is not None:
            named += [(repr(k), spec) for k, spec in kwargs[1]]
        for name, spec in named:
            if spec[0] is _ARRAY or spec[0] is _TENSOR:
                continue
            if type(name) is int:
                name = self._parameter(name)
            seen = self._statics.setdefault(name, set())
            seen.add(spec)
            if len(seen) >= RETRACE_WARNING:
                self._warned = True
                self._statics.clear()
                warnings.warn(
                    f"jit({self._name}): argument {name} has taken {RETRACE_WARNING} "
                    "different values, and jit traces the function again for each (a "
                    "Python number or other non-array argument is a constant of the "
                    "compiled code; at most "
                    f"{CACHE_SIZE} signatures are kept). Pass a value that changes on "
                    "every call (a learning rate) as an array, e.g. np.float32(lr), so "
                    "that it is an input of the compiled code",
                    RuntimeWarning,
                    stacklevel=4,
                )
                return

    def _parameter(self, i: int) -> str:
        try:
            params = list(inspect.signature(self.fn).parameters.values())
        except (TypeError, ValueError):
            params = []
        if i < len(params) and params[i].kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            return repr(params[i].name)
        return f"{i} (counting from 0)"

    def _trace_call(self, sig: _Signature, args: tuple, kwargs: dict, leaves: list) -> Any:
        before: list = []
        _captured(self.fn, before, set())
        # Captured arrays as they were: an in-place write into one would happen at the
        # trace only (state the compiled code writes back, see Tape.updates, aside).
        arrays = [
            (c, n, v, np.array(v._data if isinstance(v, Tensor) else v))
            for c, n, v in before
            if isinstance(v, ndarray | Tensor)
        ]
        tape, out_spec, out_kinds, out_values = self._trace(args, kwargs, leaves)
        written = {id(target) for target, _ in tape.updates}
        for container, name, v, old in arrays:
            now = np.asarray(v._data if isinstance(v, Tensor) else v)
            if id(v) not in written and not _same(old, now):
                raise JitError(
                    f"jit({self._name}): the function writes into {_describe(container, name)}"
                    " in place, a side effect that compiled code does not repeat; return "
                    "the new value instead"
                )
        after: list = []
        _captured(self.fn, after, set())
        seen = {(id(c), n): v for c, n, v in before}
        for container, name, new in after:
            old = seen.get((id(container), name), new)
            if not _unchanged(old, new):
                raise JitError(
                    f"jit({self._name}): the function changes {_describe(container, name)} "
                    f"(from {old!r:.40} to {new!r:.40}), which it also reads: a side effect "
                    "that compiled code does not repeat; return the new value instead"
                )
        self._guards = _guard_tuple(after)
        if self.verify and sig.tape is not None and sig.out_spec != out_spec:
            raise JitError(
                f"jit({self._name}): two calls traced differently: the results differ in "
                "structure or in their Python (non-array) values, which compiled code "
                "would freeze at the first call's; return arrays, or the same structure "
                "on every call"
            )
        sig.out_spec, sig.out_kinds = out_spec, out_kinds
        sig.updates = [target for target, _ in tape.updates]
        if not self.verify:
            self._compile(sig, tape)
        elif sig.tape is None:
            sig.tape = tape
            sig.inputs = [_array(a).copy() for a in leaves]
            sig.unchecked = set(range(len(leaves)))
        else:
            problem = _difference(sig.tape, tape)
            if problem is not None:
                raise JitError(
                    f"jit({self._name}): two calls traced differently: {problem}. The "
                    "function depends on its inputs' values in a way jit cannot record "
                    "(t.data, NumPy on tensor values, random numbers, Python decisions on "
                    "values); call it without jit, or pass verify=False if that is "
                    "intended and the first trace is right for every input"
                )
            sig.unchecked -= self._changed(sig, leaves)
            if sig.run is None and len(sig.unchecked) < len(leaves):
                self._compile(sig, tape)  # two traces with different inputs agree
            if not sig.unchecked:
                sig.inputs = []
        return _rebuild(out_spec, map(_result_leaf, out_values, out_kinds))

    @staticmethod
    def _changed(sig: _Signature, leaves: list) -> set[int]:
        """The unchecked inputs whose value differs from the first traced call's (a
        call with any is traced and compared; see _Signature.unchecked)."""
        return {i for i in sig.unchecked if not _same(_array(leaves[i]), sig.inputs[i])}

    def _compile(self, sig: _Signature, tape: Tape) -> None:
        sig.run, sig.source = compile_tape(tape, _identifier(self._name))
        sig.tape = tape

    def _trace(self, args: tuple, kwargs: dict, leaves: list) -> tuple:
        tracer = Tracer(f"jit({self._name})")
        traced = []
        for a in leaves:
            # A view of its own: the same array passed twice is still two inputs.
            t = _wrap(_array(a).view(), None)
            if t._data.dtype.kind == "f":
                t._requires_grad = True  # so that transforms inside record derivatives
                if not (isinstance(a, Tensor) and a.requires_grad):
                    tracer.grad_only_for_tracing.add(id(t))
            tracer.new_input(t)
            traced.append(t)
            if not isinstance(a, Tensor):
                tracer.array_inputs[id(t)] = isinstance(a, np.generic)
        call_args, call_kwargs = _rebuild(_flatten((args, kwargs), []), iter(traced))
        self.traces += 1
        previous = set_tracer(tracer)  # not None for source() called inside a trace
        try:
            result = self.fn(*call_args, **call_kwargs)
            out_leaves: list[Any] = []
            out_spec = _flatten(result, out_leaves)
            tape = tracer.tape(out_leaves)
        finally:
            set_tracer(previous)
        converted = tracer.array_results
        out_kinds = [
            _ARRAY
            if not isinstance(o, Tensor)
            else (_TENSOR if id(o) not in converted else _SCALAR if converted[id(o)] else _ARRAY)
            for o in out_leaves
        ]
        out_values = [o._data if isinstance(o, Tensor) else o for o in out_leaves]
        # Constant results are copied, as the compiled code does (see codegen).
        out_values = [
            np.array(v) if isinstance(r, Const) else v for v, r in zip(out_values, tape.outputs)
        ]
        return tape, out_spec, out_kinds, out_values

    def source(self, *args: Any, **kwargs: Any) -> str:
        """The Python source jit generates for these arguments (traced if needed):
        one line per primitive application, forward and backward."""
        leaves: list[Any] = []
        key = _key(args, kwargs, leaves)
        sig = self._signatures.get(key)
        if sig is not None and sig.run is not None and self._guards_hold():
            return sig.source
        with _TRACE_LOCK:
            tape = self._trace(args, kwargs, leaves)[0]
        return generate(tape, _identifier(self._name), buffers=True)[0]

    def ops(self, *args: Any, **kwargs: Any) -> int:
        """How many NumPy operations the compiled function runs for these arguments
        (one per line of :meth:`source` between its ``def`` and its ``return``)."""
        return len(self.source(*args, **kwargs).strip().splitlines()) - 2


def _in_a_graph(leaves: list) -> bool:
    """Whether an input is part of a graph that a gradient will be taken through
    (a tensor that requires grad, or a batched one: vmap records through it)."""
    for a in leaves:  # noqa: SIM110 - a loop costs less than any() on every call
        if isinstance(a, Tensor) and (a._requires_grad or a._batched):
            return True
    return False


def _array(a: Any) -> np.ndarray:
    """An input leaf as the array the compiled code takes (traced inputs are arrays)."""
    if isinstance(a, Tensor):
        return a.data
    return a if type(a) is ndarray else np.asarray(a)


def jit(fn: Callable[..., Any] | None = None, *, verify: bool = True) -> Any:
    """Compile ``fn`` to straight-line NumPy code, traced once per input signature.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> step = cr.jit(cr.value_and_grad(lambda x: (cr.tanh(x) ** 2).sum()))
    >>> for seed in range(3):
    ...     loss, g = step(np.random.default_rng(seed).normal(size=4))
    >>> step.traces    # the third call ran compiled code
    2

    ``fn`` takes arrays or Tensors (also inside tuples, lists and dicts; other
    arguments are constants of the compiled code, and a new value traces again)
    and returns Tensors, arrays or structures of them. It must compute only through
    chainrule operations and may use any transform inside (``cr.grad``,
    ``cr.value_and_grad``, ``cr.vjp``, ``cr.jacobian``, ``cr.hessian``). Results are
    constants: a jitted function is not differentiated again (apply the transform
    inside, ``cr.jit(cr.grad(f))``, not outside).

    ``verify`` (default True): run the Python function for the first calls of each
    signature and compile once two calls with different input values trace to the
    same operations, constants and result structure (a difference raises
    :class:`JitError`). An input whose value was the same in those calls is compared
    on later calls, and the first call with a new value for it is traced and checked
    again. ``verify=False`` compiles the first trace, as ``jax.jit`` does.
    Used as a decorator, with or without arguments.

    A compiled call gives the eager call's result, or the call raises
    :class:`JitError`. What the trace depends on is either part of the key, guarded
    on every call, or refused while tracing (the error names the line):

    - *key* (a new value traces again): the argument structure, shapes and dtypes
      of arrays, and non-array arguments by type and value; a Python float by its
      bytes, so ``-0.0`` is not ``0.0`` and ``nan`` is one signature;
    - *guarded* (checked on each call, a change traces again): the numbers,
      strings, functions, arrays and Tensors the function and the functions it
      calls read from closures and module globals, and the ``training`` flag of a
      captured ``cr.nn.Module``; a function that assigns one it reads is refused;
    - *refused*: reading a traced value (``bool(t)`` or an ``if`` on a comparison,
      ``float(t)``, ``int(t)``, ``t.item()``, ``t.tolist()``, ``t.numpy()``,
      ``np.asarray(t)``, and ``t.data`` in your code; chainrule's own code may read
      ``t.data``), ``backward()``, in-place assignment to a traced tensor,
      ``np.errstate`` set inside the function, a BatchNorm with ``momentum=None``;
    - *replayed*: a BatchNorm's running statistics in training mode are outputs
      of the compiled code, written back on every call.

    So a check that raises eagerly on some values (``if (x.data < 0).any():
    raise``) is refused, not skipped. Not seen: attributes of objects other than
    a module's mode, and values reached through them (write such choices as
    arguments); a captured NumPy array changed in place between calls, where the
    function computed on it with NumPy itself (pass such arrays as arguments). The
    cost per call is a loop over the guarded values (an identity
    test each, nothing when the function captures none).

    >>> inv = cr.jit(lambda x, s: x / s)
    >>> with np.errstate(divide="ignore"):
    ...     [inv(np.ones(1), s).tolist() for s in (0.0, -0.0, 0.0)]
    [[inf], [-inf], [inf]]

    At most ``CACHE_SIZE`` (32) signatures are kept per function, the least
    recently used dropped first; when one non-array argument has taken
    ``RETRACE_WARNING`` (8) values a ``RuntimeWarning`` names it: pass a value that
    changes on every call (a learning rate) as an array, ``np.float32(lr)``.

    Traces run one at a time (a lock), and the tracer records only its own
    thread: other threads compute eagerly, and call compiled code, meanwhile.
    """
    if fn is None:
        return lambda f: jit(f, verify=verify)
    if not callable(fn):
        raise TypeError(f"jit: expected a function, got {type(fn).__name__}")
    return Jitted(fn, verify)
