"""Custom functions with a hand-written backward: PyTorch's ``torch.autograd.Function``.

A subclass declares ``@staticmethod forward(ctx, *args)`` and ``@staticmethod
backward(ctx, *grad_outputs)``; ``Fn.apply(*args)`` runs it. (The PyTorch 2 form,
``forward(*args)`` without ctx plus ``setup_context(ctx, inputs, output)``, works too.)

There is no second derivative mechanism here. Each subclass gets one
:class:`~chainrule.ops.primitive.Primitive`, named after the class, and each call
records one ordinary :class:`~chainrule.autograd.node.Node` of it, whose VJP rule
calls the user's ``backward``. So the engine, ``cr.autograd.grad``, hooks,
``retain_grad``, version counters and ``explain`` treat it as they treat ``exp``.
What the node needs from this particular call (the ctx) travels in the node's
parameters, the place where per-call state of every primitive lives.

Two details follow from the engine's shape:

- The engine calls one rule per input, while ``backward`` returns every input's
  gradient at once: the first rule of a visit runs ``backward`` and the others
  read its result (keyed by the gradient object, which is the same for all rules
  of one visit).
- A node has one output. A function with several differentiable outputs records
  its node over their concatenation (flattened), and each output is a small
  ``output`` node that selects its part (a view, so an in-place change to an
  output still reaches the node's version check).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import enable_grad, grad_enabled, no_grad
from chainrule.autograd.node import new_node
from chainrule.ops.indexing import scatter_add
from chainrule.ops.primitive import PRIMITIVES, Primitive, _VariadicRules, call, linear_jvp
from chainrule.tensor import Tensor, _wrap, active_tracer, apply

__all__ = ["Function", "FunctionCtx", "once_differentiable"]


# ------------------------------------------------------------------ the ctx object
class FunctionCtx:
    """The ``ctx`` of one call: what ``forward`` leaves for ``backward``.

    Arbitrary attributes may be set on it (``ctx.constant = 3``), as in PyTorch.

    >>> import chainrule as cr
    >>> class Scale(cr.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x, factor):
    ...         ctx.factor = factor  # any attribute, for backward
    ...         return x * factor
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         return g * ctx.factor, None  # no gradient for the number
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> Scale.apply(x, 3.0).sum().backward()
    >>> x.grad
    tensor([3., 3.])
    """

    def __init__(self) -> None:
        self.needs_input_grad: tuple[bool, ...] = ()
        self._cr_to_save: tuple = ()
        self._cr_saved: tuple | None = None  # (kind, value) per saved tensor, once recorded
        self._cr_forward_saved: tuple = ()
        self._cr_non_diff: set[int] = set()
        self._cr_materialize = True
        self._cr_reached: set[int] = set()  # outputs whose gradient arrived in this pass
        self._cr_unpacked: tuple | None = None  # saved_tensors while backward runs
        self._cr_cache: tuple | None = None  # (gradient, gradients returned) of a visit
        self._cr_meta: Any = None  # what the rules need to know about the call

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors (inputs, outputs or others; or None) for ``backward``."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    "save_for_backward() takes Tensors or None; keep other values as "
                    f"attributes of ctx (ctx.value = ...), not a {type(t).__name__}"
                )
        self._cr_to_save = tensors

    def save_for_forward(self, *tensors: Any) -> None:
        """Keep tensors for ``jvp`` (forward mode)."""
        self._cr_forward_saved = tuple(
            None if t is None else t.detach() if t._batched else _plain(t) for t in tensors
        )

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to ``save_for_backward``, in order."""
        if self._cr_unpacked is not None:
            return self._cr_unpacked
        if self._cr_saved is None:
            return self._cr_to_save
        return self._cr_forward_saved

    def mark_non_differentiable(self, *outputs: Any) -> None:
        """These outputs get no gradient (indices, masks); ``backward`` still receives
        one entry for each (zeros)."""
        self._cr_non_diff.update(id(t) for t in outputs)

    def set_materialize_grads(self, value: bool) -> None:
        """False: ``backward`` receives None, not zeros, for outputs without a gradient."""
        self._cr_materialize = bool(value)

    def mark_dirty(self, *tensors: Any) -> None:
        """Accepted for PyTorch programs; chainrule's version counters already record
        in-place changes made through chainrule."""

    def __repr__(self) -> str:
        return "ctx"


def _plain(t: Tensor) -> Tensor:
    return _wrap(t.data, None)


class _Meta:
    """Facts about one call that the rules need (no tensors: no reference cycles)."""

    __slots__ = (
        "cls",
        "n_args",
        "args_kind",
        "out_kinds",
        "diff",
        "spans",
        "packed_dtype",
        "last_input",
    )

    def __init__(self, cls, n_args, args_kind, out_kinds, diff, spans, packed_dtype) -> None:
        self.cls = cls
        self.n_args = n_args
        # Per positional argument: (shape, dtype) of a Tensor argument, else None.
        self.args_kind = args_kind
        # Per output: (shape, dtype) of a Tensor output, else None.
        self.out_kinds = out_kinds
        self.diff = diff  # indices of the outputs the node stands for
        self.spans = spans  # per differentiable output: (start, stop) in the packed array
        self.packed_dtype = packed_dtype
        self.last_input = -1  # the last input a gradient flows to (its rule runs last)


# ------------------------------------------------------------ the output selector
def _select_forward(packed, n, _start, _stop, _shape, _dtype, _ctx=None):
    part = packed[_start:_stop].reshape(_shape)
    return part if part.dtype == _dtype else part.astype(_dtype)


def _select_vjp(g, ans, packed, n, _start, _stop, _shape, _dtype, _ctx=None):
    if _ctx is not None:  # the output got a gradient (for set_materialize_grads(False))
        _ctx._cr_reached.add(n)
    return call(scatter_add, g.reshape(-1), index=slice(_start, _stop), shape=packed.shape)


#: Output ``n`` of a Function with several differentiable outputs (see the module doc).
_output = Primitive(
    "function_output",
    _select_forward,
    vjp=_select_vjp,
    formula="1[selected]",
    doc="Output n of a custom Function with several outputs.",
)
_output._set_jvp(linear_jvp(_output))


def _select_batch_rule(prim, xs, flags, size, params):
    """cr.vmap: the same part of every example's packed row, ``(B, total)``."""
    from chainrule.ops.elementwise import cast
    from chainrule.ops.indexing import getitem
    from chainrule.ops.shape import reshape

    part = apply(
        getitem, (xs[0],), {"index": (slice(None), slice(params["_start"], params["_stop"]))}
    )
    part = apply(reshape, (part,), {"shape": (size, *params["_shape"])})
    if part.dtype != params["_dtype"]:
        part = apply(cast, (part,), {"dtype": params["_dtype"]})
    return part


_output.vmap = _select_batch_rule


# ---------------------------------------------------------------- the primitive
def _primitive_of(cls: type) -> Primitive:
    prim = cls.__dict__.get("_cr_primitive")
    if prim is None:
        # Named after the class (what explain shows), but kept out of the table of
        # names: two Functions may share a name, and neither may replace a built-in.
        previous = PRIMITIVES.get(cls.__name__)
        prim = Primitive(cls.__name__, _never_called, doc=cls.__doc__)
        if previous is None:
            del PRIMITIVES[cls.__name__]
        else:
            PRIMITIVES[cls.__name__] = previous
        prim.variadic = True
        prim.vjps = _VariadicRules(_vjp_rule)
        prim.jvps = _VariadicRules(_jvp_rule)
        cls._cr_primitive = prim
    return prim


def _never_called(*args: Any, **params: Any) -> Any:
    raise RuntimeError("a custom Function runs through Function.apply, not its primitive")


def _vjp_rule(i: int, g: Any, ans: Any, *args: Any, _ctx: FunctionCtx) -> Any:
    cache = _ctx._cr_cache
    if cache is None or cache[0] is not g:
        cache = _ctx._cr_cache = (g, _run_backward(_ctx, g, ans))
    grads = cache[1]
    if i == _ctx._cr_meta.last_input:  # the visit's last rule: drop the cache
        _ctx._cr_cache = None
    return grads[i]


def _run_backward(ctx: FunctionCtx, g: Any, ans: Any) -> list:
    meta = ctx._cr_meta
    cls = meta.cls
    record = isinstance(g, Tensor)  # create_graph: the backward is recorded
    grad_outputs = _split(meta, g, ctx._cr_materialize, ctx._cr_reached, record)
    ctx._cr_reached = set()
    backward = _user_backward(cls)
    ctx._cr_unpacked = _unpack_saved(ctx, ans, record)
    try:
        with enable_grad() if record else no_grad():
            result = backward(ctx, *grad_outputs)
    finally:
        ctx._cr_unpacked = None
    return _check_grads(meta, result, record)


def _split(meta: _Meta, g: Any, materialize: bool, reached: set, record: bool) -> list:
    """The gradient of each output, out of the node's (packed) gradient."""
    grads: list[Any] = []
    many = len(meta.diff) > 1
    for k, kind in enumerate(meta.out_kinds):
        if k in meta.diff and (materialize or not many or k in reached):
            if many:
                start, stop = meta.spans[meta.diff.index(k)]
                shape, dtype = kind
                part = g[start:stop].reshape(shape)
                gk = part if part.dtype == dtype else part.astype(dtype)
            else:
                gk = g
            grads.append(gk if record else _wrap(np.asarray(gk), None))
        elif kind is not None and materialize:
            grads.append(_wrap(np.zeros(kind[0], dtype=kind[1]), None))
        else:
            grads.append(None)
    return grads


def _unpack_saved(ctx: FunctionCtx, ans: Any, record: bool) -> tuple:
    """The saved tensors; a saved output is rebuilt from the node's saved output, so
    that under create_graph it is attached to the node (as PyTorch's is)."""
    meta = ctx._cr_meta
    out = []
    for kind, value in ctx._cr_saved or ():
        if kind != "out":
            out.append(value)
            continue
        packed = ans if record else _wrap(np.asarray(ans), None)
        if len(meta.diff) == 1:
            out.append(packed)
            continue
        start, stop = meta.spans[meta.diff.index(value)]
        shape, dtype = meta.out_kinds[value]
        params = {"n": value, "_start": start, "_stop": stop, "_shape": shape, "_dtype": dtype}
        if record:
            out.append(apply(_output, (packed,), params))
        else:
            out.append(_wrap(_select_forward(packed.data, **params), None))
    return tuple(out)


def _check_grads(meta: _Meta, result: Any, record: bool) -> list:
    name = meta.cls.__name__
    grads = list(result) if isinstance(result, tuple | list) else [result]
    n = meta.n_args
    if len(grads) > n and all(r is None for r in grads[n:]):
        grads = grads[:n]  # extra Nones are allowed, as in PyTorch
    if len(grads) != n:
        raise RuntimeError(
            f"{name}.backward returned an incorrect number of gradients (expected {n}, got "
            f"{len(grads)}): one per argument of forward (after ctx), None for those that "
            "need none"
        )
    checked: list[Any] = []
    for j, (gj, kind) in enumerate(zip(grads, meta.args_kind)):
        if gj is None:
            checked.append(None)
            continue
        if kind is None:
            raise RuntimeError(
                f"{name}.backward returned a gradient different than None at position {j} "
                f"(forward argument {j}), but that argument was not a Tensor; return None "
                "for it"
            )
        shape, dtype = kind
        if isinstance(gj, Tensor):
            value = gj if record else gj.data
        else:
            value = np.asarray(gj)
            if record:
                value = _wrap(value, None)
        if tuple(value.shape) != shape:
            raise RuntimeError(
                f"{name}.backward returned a gradient of shape {tuple(value.shape)} for "
                f"forward argument {j}, which has shape {shape}; a gradient must have "
                "exactly its input's shape (sum over broadcast axes in backward)"
            )
        checked.append(value)
    return checked


def _jvp_rule(i: int, t: Any, ans: Any, *args: Any, _ctx: FunctionCtx) -> Any:
    meta = _ctx._cr_meta
    cls = meta.cls
    jvp = _overridden(cls, "jvp")
    if jvp is None:
        raise NotImplementedError(
            f"{cls.__name__}: jvp not implemented; forward mode (cr.jvp, cr.jacfwd) needs "
            "@staticmethod jvp(ctx, *tangents) on the Function, returning the outputs' "
            "tangents"
        )
    record = isinstance(t, Tensor)
    # Forward mode pushes one input's tangent at a time; the others are zero, and the
    # engine adds the results up (a JVP is linear in the tangents).
    tangents = []
    for j, kind in enumerate(meta.args_kind):
        if j == i:
            tangents.append(t if record else _wrap(np.asarray(t), None))
        elif kind is not None:
            tangents.append(_wrap(np.zeros(kind[0], dtype=kind[1]), None))
        else:
            tangents.append(None)
    _ctx._cr_unpacked = _ctx._cr_forward_saved or _unpack_saved(_ctx, ans, record)
    try:
        with enable_grad() if record else no_grad():
            result = jvp(_ctx, *tangents)
    finally:
        _ctx._cr_unpacked = None
    result = list(result) if isinstance(result, tuple | list) else [result]
    parts = []
    for k in meta.diff:
        tk = result[k] if k < len(result) else None
        shape, dtype = meta.out_kinds[k]
        if tk is None:
            tk = np.zeros(shape, dtype=dtype)
        if not record:
            tk = np.asarray(tk.data if isinstance(tk, Tensor) else tk)
        if tuple(tk.shape) != shape:
            raise RuntimeError(
                f"{cls.__name__}.jvp returned a tangent of shape {tuple(tk.shape)} for output "
                f"{k}, which has shape {shape}"
            )
        parts.append(tk)
    if len(parts) == 1:
        return parts[0]
    return _concat([p.reshape(-1) for p in parts], meta.packed_dtype)


def _concat(parts: list, dtype: Any) -> Any:
    if any(isinstance(p, Tensor) for p in parts):
        from chainrule.ops.shape import concatenate

        return concatenate(*[p.astype(dtype) for p in parts], axis=0)
    return np.concatenate(parts).astype(dtype, copy=False)


# --------------------------------------------------------------- class checks
def _overridden(cls: type, name: str) -> Callable[..., Any] | None:
    """``cls.name`` if a subclass defines it, else None."""
    for klass in cls.__mro__:
        if klass is Function:
            return None
        if name in klass.__dict__:
            return getattr(cls, name)
    return None


def _check_static(cls: type, name: str) -> None:
    for klass in cls.__mro__:
        if klass is Function:
            return
        if name in klass.__dict__:
            if not isinstance(klass.__dict__[name], staticmethod):
                raise TypeError(
                    f"{cls.__name__}.{name} must be a @staticmethod, as in "
                    f"torch.autograd.Function: {name}(ctx, ...) receives ctx, not self"
                )
            return


def _user_backward(cls: type) -> Callable[..., Any]:
    backward = _overridden(cls, "backward") or _overridden(cls, "vjp")
    if backward is None:
        raise NotImplementedError(
            f"{cls.__name__}: backward not implemented; define @staticmethod "
            "backward(ctx, *grad_outputs) to differentiate through it"
        )
    return backward


def _jit_refusal(cls: type, tracer: Any) -> Exception:
    from chainrule.jit.tracer import JitError, user_line

    return JitError(
        f"{tracer.where}: the custom Function {cls.__name__} (at {user_line(3)}) cannot be "
        "compiled: its backward is Python code that jit does not trace. Call it outside "
        "cr.jit, or declare it with cr.primitive and defvjp, which jit compiles"
    )


# ----------------------------------------------------------------- the class
class Function:
    """Base class of custom differentiable functions (PyTorch's ``autograd.Function``).

    >>> import chainrule as cr
    >>> class Cube(cr.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return g * 3 * x ** 2
    >>> x = cr.tensor(2.0, requires_grad=True)
    >>> Cube.apply(x).backward()
    >>> x.grad.item()
    12.0
    """

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        """The computation, on Tensors; nothing in it is recorded."""
        raise NotImplementedError("a custom Function must define @staticmethod forward")

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
        """PyTorch 2 form: fill ctx after ``forward(*args)`` (which then takes no ctx)."""
        raise NotImplementedError

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"call {type(self).__name__}.apply(...), not an instance: custom Functions have "
            "static forward and backward methods (legacy instance functions are not supported)"
        )

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` and record one node whose backward is ``backward``."""
        tracer = active_tracer()
        if tracer is not None:
            raise _jit_refusal(cls, tracer)
        if _overridden(cls, "forward") is None:
            raise NotImplementedError(f"{cls.__name__} must define @staticmethod forward")
        for name in ("forward", "backward", "vjp", "setup_context", "jvp"):
            _check_static(cls, name)
        track = grad_enabled()
        parents = tuple(
            (a._node or a) if track and isinstance(a, Tensor) and a._requires_grad else None
            for a in args
        )
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(p is not None for p in parents)
        level = _vmap_level(args)
        with no_grad():
            if level >= 0 and _vmap_staticmethod(cls, level, args, kwargs, ctx) is not None:
                output = ctx._cr_vmap_output
                del ctx._cr_vmap_output
            elif _overridden(cls, "setup_context") is not None:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        many = isinstance(output, tuple)
        outs = output if many else (output,)
        result = _connect(cls, ctx, args, parents, outs)
        return tuple(result) if many else result[0]


def _vmap_level(args: tuple) -> int:
    """The innermost cr.vmap level among the arguments (-1: none is batched)."""
    if not any(isinstance(a, Tensor) and a._batched for a in args):
        return -1
    from chainrule.batching.custom import innermost_level

    return innermost_level(args)


def _vmap_staticmethod(cls: type, level: int, args: tuple, kwargs: dict, ctx: Any) -> Any:
    """Inside cr.vmap: torch.func's rules (chainrule.batching.custom). With a vmap
    staticmethod, run it (and setup_context) and leave the output on ctx; with
    generate_vmap_rule, None: forward runs on the batched tensors as they are."""
    from chainrule.batching.custom import check_vmap_support, run_vmap_staticmethod

    has_setup = _overridden(cls, "setup_context") is not None
    has_vmap = _overridden(cls, "vmap") is not None
    check_vmap_support(cls, has_vmap, has_setup)
    if not has_vmap:
        return None
    _check_static(cls, "vmap")
    output = run_vmap_staticmethod(cls, level, args, kwargs)
    cls.setup_context(ctx, args, output)
    ctx._cr_vmap_output = output
    return output


def _detached(t: Tensor) -> Tensor:
    """``t`` without its node (a batched tensor stays batched)."""
    return t.detach() if t._batched else _plain(t)


def _connect(cls: type, ctx: FunctionCtx, args: tuple, parents: tuple, outs: tuple) -> list:
    """Record the node of one call (if a gradient can flow) and return the outputs."""
    diff = [
        k
        for k, o in enumerate(outs)
        if isinstance(o, Tensor) and o.dtype.kind == "f" and id(o) not in ctx._cr_non_diff
    ]
    result = [_detached(o) if isinstance(o, Tensor) and o._requires_grad else o for o in outs]
    if not diff or not any(p is not None for p in parents):
        return result
    # Saved tensors: an input is kept as it is (it holds its own node); an output is
    # rebuilt at backward from the node's output, never kept (node -> output -> node
    # would be a reference cycle).
    saved = []
    saves_out = False
    for t in ctx._cr_to_save:
        k = next((k for k in diff if outs[k] is t), None)
        if t is None or k is None or any(t is a for a in args):
            saved.append(("value", t))
        else:
            saved.append(("out", k))
            saves_out = True
    ctx._cr_saved = tuple(saved)
    ctx._cr_to_save = ()
    kinds = [(o.shape, o.dtype) if isinstance(o, Tensor) else None for o in outs]
    spans = []
    batched_out = any(outs[k]._batched for k in diff)
    if len(diff) == 1:
        out = outs[diff[0]] if batched_out else outs[diff[0]].data
    else:
        start = 0
        for k in diff:
            spans.append((start, start + outs[k].size))
            start += outs[k].size
        if batched_out:  # inside cr.vmap: the same concatenation, batched
            from chainrule.ops.shape import concatenate

            out = concatenate(*[outs[k].reshape(-1) for k in diff], axis=0)
        else:
            out = np.concatenate([outs[k].data.reshape(-1) for k in diff])
    meta = _Meta(
        cls,
        len(args),
        tuple((a.shape, a.dtype) if isinstance(a, Tensor) else None for a in args),
        tuple(kinds),
        tuple(diff),
        tuple(spans),
        out.dtype,
    )
    meta.last_input = max(i for i, p in enumerate(parents) if p is not None)
    ctx._cr_meta = meta
    raw = tuple(_raw(a) for a in args)
    node = new_node(_primitive_of(cls), parents, raw, out if saves_out else None, {"_ctx": ctx})
    out_tensor = out._attached(node) if batched_out else _wrap(out, node)
    if len(diff) == 1:
        result[diff[0]] = out_tensor
        return result
    for k, (start, stop) in zip(diff, spans):
        shape, dtype = kinds[k]
        params = {
            "n": k,
            "_start": start,
            "_stop": stop,
            "_shape": shape,
            "_dtype": dtype,
            "_ctx": ctx,
        }
        result[k] = apply(_output, (out_tensor,), params)
    return result


def _raw(a: Any) -> Any:
    """What the node keeps of an argument: the array (a batched tensor: itself, detached)."""
    if isinstance(a, Tensor):
        return a.detach() if a._batched else a.data
    return a


def _twice_error(i: int, g: Any, ans: Any, *args: Any) -> Any:
    raise RuntimeError(
        "trying to differentiate twice a Function whose backward is marked "
        "@once_differentiable; write that backward with tensor operations instead"
    )


#: Stands between a @once_differentiable backward's results and the tensors they were
#: computed from, so that differentiating them again fails instead of giving zeros.
_once = Primitive("once_differentiable", lambda r, *inputs: r, doc="A gradient to use once.")
_once.variadic = True
_once.vjps = _VariadicRules(_twice_error)
_once.jvps = _VariadicRules(_twice_error)  # forward mode through it is a second derivative too


def _once_batch_rule(prim, xs, flags, size, params):
    """cr.vmap: the guard on the batch (its value is the first argument's)."""
    from chainrule.ops.batch_rules import materialize

    r = xs[0] if flags[0] else materialize(xs[0], size)
    return apply(prim, (r, *xs[1:]))


_once.vmap = _once_batch_rule


def once_differentiable(backward: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a backward written with NumPy or other non-differentiable code: it runs
    without recording, and a second differentiation through it is an error.

    >>> import chainrule as cr
    >>> class Cube(cr.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     @cr.autograd.once_differentiable
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return g * 3 * x ** 2
    >>> x = cr.tensor([2.0], requires_grad=True)
    >>> Cube.apply(x).sum().backward()
    >>> x.grad
    tensor([12.])
    """

    def wrapper(ctx: Any, *grad_outputs: Any) -> Any:
        with no_grad():
            result = backward(ctx, *grad_outputs)
        if not grad_enabled():  # a plain backward pass: nothing will go through it again
            return result
        sources = [
            t
            for t in (*ctx.saved_tensors, *grad_outputs)
            if isinstance(t, Tensor) and t.requires_grad
        ]
        if not sources:
            return result
        many = isinstance(result, tuple | list)
        guarded = [
            apply(_once, (r, *sources)) if isinstance(r, Tensor) else r
            for r in (result if many else (result,))
        ]
        return tuple(guarded) if many else guarded[0]

    wrapper.__name__ = getattr(backward, "__name__", "backward")
    wrapper.__doc__ = backward.__doc__
    return wrapper
