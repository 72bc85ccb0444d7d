"""A tape as a straight-line Python function of NumPy calls.

Each needed entry of the tape becomes one line: ``v7 = v3 * v5`` for the
arithmetic operators (the operator itself, as the eager hot path calls it), or
``v7 = f7(v3, axis=...)`` with the primitive's NumPy forward (parameters bound
once with ``functools.partial``). Entries whose results no output needs are left
out. The source is compiled once and registered with ``linecache``, so a traceback
from a compiled function shows its lines.
"""

from __future__ import annotations

import linecache
import math
import threading
import weakref
from functools import partial
from itertools import count
from typing import Any

import numpy as np

from chainrule.jit.tracer import Const, Tape, Var
from chainrule.ops.linalg import stack_matmul
from chainrule.tensor import Tensor

# The forwards the eager elementwise path runs as Python operators, as source.
_OPERATOR_SOURCE = {
    np.add: "{} + {}",
    np.subtract: "{} - {}",
    np.multiply: "{} * {}",
    np.true_divide: "{} / {}",
    np.power: "{} ** {}",
    np.matmul: "{} @ {}",
    np.negative: "-{}",
}
# Forwards that, given arrays, compute what these expressions do (matmul's forward
# only rewords NumPy's errors, which a traced shape cannot raise): a method call or
# an operator skips a function call's overhead, about half a microsecond a line.
_ARRAY_SOURCE = {
    np.matmul: "{} @ {}",
    np.transpose: "{}.T",
}
_serial = count(1)


def needed_entries(tape: Tape) -> list[int]:
    """Indices of the entries some output depends on, in execution order."""
    live = {r.index for r in tape.outputs if isinstance(r, Var)}
    keep = []
    for k in range(len(tape.entries) - 1, -1, -1):
        e = tape.entries[k]
        if e.out in live:
            keep.append(k)
            live.update(a.index for a in e.args if isinstance(a, Var))
            # and what its parameters hold: an index computed from an input (argsort,
            # a pooling window's argmax) is read through getitem's index
            for t in (e.dynamic or {}).values():
                live.update(_template_vars(t))
    keep.reverse()
    return keep


def _literal(c: Any) -> str | None:
    """Source for a Python number constant, or None when it needs a name."""
    if type(c) is int or (type(c) is float and math.isfinite(c)):
        text = repr(c)
        return f"({text})" if text.startswith("-") else text
    return None


def _template_source(
    t: Any, prefix: str, parts: Any, env: dict, tape: Tape, same: dict[int, int]
) -> str:
    """Source rebuilding a parameter that holds traced values (see ``Entry.dynamic``)."""
    if isinstance(t, Var):
        i = same.get(t.index, t.index)
        return f"_asarray(v{i})" if i in tape.scalar_vars else f"v{i}"
    if isinstance(t, Const):
        name = f"{prefix}{next(parts)}"
        env[name] = t.value
        return name
    items = ", ".join(_template_source(x, prefix, parts, env, tape, same) for x in t)
    if isinstance(t, list):
        return f"[{items}]"
    return f"({items},)" if len(t) == 1 else f"({items})"


class _Unhashable(Exception):
    pass


def _freeze(v: Any) -> Any:
    """A hashable stand-in for a parameter value (types kept apart: 1, 1.0, True)."""
    if isinstance(v, tuple | list):
        return (type(v), tuple(_freeze(x) for x in v))
    if isinstance(v, slice):
        return (slice, _freeze(v.start), _freeze(v.stop), _freeze(v.step))
    if isinstance(v, dict):
        return (dict, tuple((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, np.ndarray):
        raise _Unhashable
    try:
        hash(v)
    except TypeError:
        raise _Unhashable from None
    return (type(v), v)


def _entry_key(e: Any, args: tuple) -> Any:
    """What makes two entries compute the same value (None: do not merge)."""
    if e.dynamic:
        return None
    try:
        params = _freeze(e.params) if e.params else None
    except _Unhashable:
        return None
    return (e.prim, args, params, e.via_apply, e.converted)


def _merge_repeats(tape: Tape) -> tuple[list[tuple[int, tuple]], dict[int, int]]:
    """The needed entries with their inputs, minus those repeating an earlier one.

    Every primitive is a pure function, so an entry applying the same primitive to
    the same values as an earlier one (a rule recomputing what the forward pass had)
    is left out and its result named by the earlier variable (``same``)."""
    same: dict[int, int] = {}
    seen: dict[Any, int] = {}
    kept = []
    for k in needed_entries(tape):
        e = tape.entries[k]
        refs = tuple(Var(same.get(a.index, a.index)) if isinstance(a, Var) else a for a in e.args)
        key = _entry_key(e, refs)
        if key is not None:
            earlier = seen.get(key)
            if earlier is not None:
                same[e.out] = earlier
                continue
            seen[key] = e.out
        kept.append((k, refs))
    return kept, same


def _has_dtype(tape: Tape, v: int, dtype: np.dtype) -> bool:
    """Whether the tape knows variable ``v``'s dtype and it is ``dtype``. (Explicitly:
    NumPy reads ``dtype == None`` as ``dtype == float64``.)"""
    meta = tape.fresh.get(v)
    return meta is not None and meta[1] == dtype


def _fold_mask_casts(tape: Tape, kept: list, same: dict[int, int]) -> list:
    """``kept`` without the casts of a bool mask to floats that one product alone reads
    (a ReLU's gradient, ``g * (x > 0)``): the product multiplies by the bool array
    itself, which NumPy converts entry by entry inside its loop. The same numbers (0
    and 1 are exact in every float dtype), one pass and one float array less.

    Only where the tape knows every dtype involved: the mask bool, the other factor
    and the product of the cast's dtype, so that dropping the cast changes no type."""
    readers: dict[int, list[int]] = {}
    for pos, (_, refs) in enumerate(kept):
        for a in refs:
            if isinstance(a, Var):
                readers.setdefault(a.index, []).append(pos)
    pinned = {r.index for r in tape.outputs if isinstance(r, Var)}
    for k, _ in kept:
        for t in (tape.entries[k].dynamic or {}).values():
            pinned.update(same.get(v, v) for v in _template_vars(t))
    for v, bases in tape.views.items():
        pinned.add(v)
        pinned.update(bases)
    dropped: set[int] = set()
    kept = list(kept)
    for pos, (k, refs) in enumerate(kept):
        e = tape.entries[k]
        if e.prim.name != "cast" or len(refs) != 1 or not isinstance(refs[0], Var):
            continue
        mask, meta = refs[0].index, tape.fresh.get(e.out)
        uses = readers.get(e.out, [])
        if (
            meta is None
            or meta[1].kind not in "fc"
            or e.out in pinned
            or mask in pinned
            or len(uses) != 1
            or not _has_dtype(tape, mask, np.dtype(bool))
        ):
            continue
        at = uses[0]
        m, m_refs = tape.entries[kept[at][0]], kept[at][1]
        if m.prim.ufunc is not np.multiply or m.params or m.dynamic or len(m_refs) != 2:
            continue
        other = m_refs[1] if m_refs[0] == Var(e.out) else m_refs[0]
        if (
            not isinstance(other, Var)
            or other == Var(e.out)
            or not _has_dtype(tape, other.index, meta[1])
            or not _has_dtype(tape, m.out, meta[1])
        ):
            continue
        kept[at] = (kept[at][0], tuple(Var(mask) if r == Var(e.out) else r for r in m_refs))
        dropped.add(pos)
    return [entry for pos, entry in enumerate(kept) if pos not in dropped]


def _escaping(tape: Tape, same: dict[int, int]) -> set[int]:
    """Variables whose memory the caller gets: the results, and what they are views of."""
    stack = [same.get(r.index, r.index) for r in tape.outputs if isinstance(r, Var)]
    found: set[int] = set()
    while stack:
        v = stack.pop()
        if v not in found:
            found.add(v)
            stack.extend(same.get(w, w) for w in tape.views.get(v, ()))
    return found


#: Arrays at least this large get a buffer of their own in the compiled function.
BUFFER_MIN_BYTES = 16 * 1024


def _ufunc_result(e: Any, n_args: int, escaping: set[int], elementwise: bool, tape: Tape) -> Any:
    """(shape, dtype) of the entry's result when its ufunc may be told where to
    write it (``out=``): a plain ufunc call whose traced result was a fresh
    C-contiguous array the caller never gets. Else None."""
    f = e.prim.ufunc
    if f is None or f.nout != 1 or f.nin != n_args:
        return None
    if elementwise and f.signature is not None:  # matmul: out must not overlap inputs
        return None
    if e.params or e.dynamic or e.converted or e.out in escaping:
        return None
    return tape.fresh.get(e.out)


def _buffer_for(e: Any, args: list, tape: Tape, escaping: set[int]) -> tuple | None:
    """(shape, dtype) of a buffer the entry's ufunc can write into, or None.

    A large intermediate array written with ``out=`` into memory the compiled
    function keeps between calls costs no allocation, and no page faults when
    the allocator would have returned its memory to the system after each call."""
    meta = _ufunc_result(e, len(args), escaping, False, tape)
    if meta is None:
        return None
    shape, dtype = meta
    if int(np.prod(shape)) * dtype.itemsize < BUFFER_MIN_BYTES:
        return None
    return meta


def _template_vars(t: Any) -> list[int]:
    if isinstance(t, Var):
        return [t.index]
    if isinstance(t, tuple | list):
        return [v for x in t for v in _template_vars(x)]
    return []


def _last_uses(tape: Tape, kept: list, same: dict[int, int], escaping: set[int]) -> dict:
    """Per variable, the position in ``kept`` of the last entry that reads it or a
    view of it (infinity for what the caller gets)."""
    last: dict[int, float] = {}
    for pos, (k, refs) in enumerate(kept):
        e = tape.entries[k]
        used = [a.index for a in refs if isinstance(a, Var)]
        for t in (e.dynamic or {}).values():
            used.extend(same.get(v, v) for v in _template_vars(t))
        for v in used:
            last[v] = pos
    for v in escaping:
        last[v] = math.inf
    for pos in range(len(kept) - 1, -1, -1):  # a view keeps what it views alive
        o = tape.entries[kept[pos][0]].out
        for b in tape.views.get(o, ()):
            b = same.get(b, b)
            last[b] = max(last.get(b, -1), last.get(o, -1))
    return last


def _in_place_target(e: Any, refs: tuple, pos: int, tape: Tape, last: dict, escaping: set) -> Any:
    """A variable the entry may overwrite with its result, or None.

    An elementwise ufunc whose input is an array computed in this function, of the
    result's shape and dtype and read by nothing later (nor through a view), writes
    into that array, as code written by hand does with ``*=``: one array less to
    allocate and to keep in cache."""
    meta = _ufunc_result(e, len(refs), escaping, True, tape)
    if meta is None:
        return None
    for a in refs:
        if (
            isinstance(a, Var)
            and a.index >= tape.n_inputs
            and tape.fresh.get(a.index) == meta
            and last.get(a.index) == pos
            and a.index not in escaping
        ):
            return a.index
    return None


def generate(tape: Tape, name: str, buffers: bool = False) -> tuple[str, dict[str, Any]]:
    """Source of ``def <name>(v0, v1, ...)`` returning the outputs, and its globals.

    With ``buffers``, large intermediates are written into arrays allocated once
    (see :func:`_buffer_for`); such a function must not run twice at once."""
    env: dict[str, Any] = {"_asarray": np.asarray, "_copy": np.array}
    used_consts: set[int] = set()

    def const(ref: Const, array: bool) -> str:
        c = tape.constants[ref.index]
        if isinstance(c, Tensor):
            used_consts.add(ref.index)
            # Read at call time: a captured tensor updated in place (a parameter after
            # an optimizer step) is seen as it is now. apply hands forwards arrays.
            return f"c{ref.index}.data" if array else f"c{ref.index}._data"
        text = _literal(c)
        if text is not None:
            return text
        used_consts.add(ref.index)
        return f"c{ref.index}"

    def operand(ref: Var | Const, array: bool) -> str:
        if isinstance(ref, Const):
            return const(ref, array)
        if array and ref.index in tape.scalar_vars:
            return f"_asarray(v{ref.index})"
        return f"v{ref.index}"

    kept, same = _merge_repeats(tape)
    kept = _fold_mask_casts(tape, kept, same)
    escaping = _escaping(tape, same)
    last = _last_uses(tape, kept, same, escaping)
    params = ", ".join(f"v{i}" for i in range(tape.n_inputs))
    lines = [f"def {name}({params}):"]
    for pos, (k, refs) in enumerate(kept):
        e = tape.entries[k]
        args = [operand(a, e.via_apply) for a in refs]
        target = _in_place_target(e, refs, pos, tape, last, escaping)
        buffer = _buffer_for(e, args, tape, escaping) if buffers and target is None else None
        template = None
        if not e.via_apply and not e.params:
            template = _OPERATOR_SOURCE.get(e.prim.forward)
        # Parameters left at their default (transpose's axes=None) change nothing.
        if (
            template is None
            and not e.dynamic
            and all(isinstance(a, Var) for a in refs)
            and all(v is None for v in (e.params or {}).values())
        ):
            template = _ARRAY_SOURCE.get(e.prim.ufunc or e.prim.forward)
        if e.out in tape.stacked and not e.params and len(args) == 2:
            # A stack times one matrix: one GEMM over the folded stack, as eagerly.
            env["_stack_matmul"] = stack_matmul
            if buffer is not None:
                env[f"b{e.out}"] = np.empty(*buffer)
                args.append(f"b{e.out}")
            expr = f"_stack_matmul({', '.join(args)})"
        elif target is not None:
            env[f"u{k}"] = e.prim.ufunc
            expr = f"u{k}({', '.join(args)}, out=v{target})"
        elif buffer is not None:
            env[f"u{k}"] = e.prim.ufunc
            env[f"b{e.out}"] = np.empty(*buffer)
            expr = f"u{k}({', '.join(args)}, out=b{e.out})"
        elif template is not None and template.count("{}") == len(args):
            expr = template.format(*args)
        else:
            fn = f"f{k}"
            forward = e.prim.forward
            fixed = e.params
            if e.dynamic:
                fixed = {n: v for n, v in e.params.items() if n not in e.dynamic}
                parts = count()
                for n, t in e.dynamic.items():
                    source = _template_source(t, f"k{k}_", parts, env, tape, same)
                    args.append(f"{n}={source}")
            env[fn] = partial(forward, **fixed) if fixed else forward
            expr = f"{fn}({', '.join(args)})"
        if e.converted:
            expr = f"_asarray({expr})"
        lines.append(f"    v{e.out} = {expr}  # {e.prim.name}")
    # A result that is a constant (zeros for an input the output does not depend on)
    # is copied on every call, so that a caller updating it in place changes nothing
    # the next call returns.
    outs = [
        "None"
        if r is None
        else (
            f"v{same.get(r.index, r.index)}" if isinstance(r, Var) else f"_copy({const(r, False)})"
        )
        for r in tape.outputs
    ]
    lines.append(f"    return ({', '.join(outs)}{',' if len(outs) == 1 else ''})")
    for i in used_consts:
        env[f"c{i}"] = tape.constants[i]
    return "\n".join(lines) + "\n", env


def _compile_source(source: str, env: dict[str, Any], name: str) -> Any:
    filename = f"<chainrule.jit {name} #{next(_serial)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), env)  # noqa: S102 - our own generated code
    fn = env[name]
    # The source is kept for tracebacks while the function lives, and no longer: a
    # function traced for ever new signatures would otherwise grow linecache forever.
    weakref.finalize(fn, linecache.cache.pop, filename, None)
    return fn


def compile_tape(tape: Tape, name: str = "compiled") -> tuple[Any, str]:
    """The tape as a Python function, and its source (the buffered variant's, if any).

    When some intermediates get buffers, the function runs the buffered variant
    unless another call (another thread) is inside it; that call runs a variant
    that allocates as usual, so concurrent calls never share a buffer."""
    source, env = generate(tape, name, buffers=True)
    buffered = _compile_source(source, env, name)
    if not any(k.startswith("b") for k in env):
        return buffered, source
    plain = _compile_source(*generate(tape, name), name)
    busy = threading.Lock()

    def run(*args: Any) -> tuple:
        if busy.acquire(blocking=False):
            try:
                return buffered(*args)
            finally:
                busy.release()
        return plain(*args)

    return run, source
