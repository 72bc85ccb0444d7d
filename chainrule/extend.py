"""``chainrule.extend``: HIPS autograd's API for declaring primitives, on chainrule's table.

Programs written for ``autograd.extend`` run with the import changed::

    import chainrule.numpy as np
    from chainrule import grad
    from chainrule.extend import primitive, defvjp

    @primitive
    def logsumexp(x):
        m = np.max(x)
        return m + np.log(np.sum(np.exp(x - m)))

    defvjp(logsumexp, lambda ans, x: lambda g: g * np.exp(x - ans))
    grad(lambda x: logsumexp(x**2))(np.array([0.5, -1.0]))

Nothing here differentiates: each function translates autograd's rule forms into
the rules of one :class:`~chainrule.ops.primitive.UserPrimitive`, an entry of the
one primitive table, so the rules run in the engine's reverse mode, forward mode
(``jvp``, ``jacfwd``, ``hessian``), ``cr.jit`` and ``explain`` like the built-ins'.

- ``primitive(f)`` returns a function that is ``f`` on plain values (arrays,
  numbers) and records one graph node on Tensors; ``f`` itself always runs on
  NumPy arrays. Arguments that are not Tensors (ints, strings, axis tuples) pass
  through as they are. The primitive is the function object: it may share its
  name with a built-in (a user's own ``logsumexp``) without replacing it.
- ``defvjp(fun, maker_0, maker_1, ..., argnums=...)``: ``maker(ans, *args,
  **kwargs)`` returns ``lambda g: ...``, the gradient for that argument; ``None``
  for an argument that gets no gradient. Rules run on arrays in a plain backward
  pass and on Tensors when the backward pass is recorded (``create_graph``, grad
  of grad), so, written with ``chainrule.numpy``, they are differentiable again.
- ``defjvp(fun, jvp_0, ...)``: ``jvp(g, ans, *args, **kwargs)`` returns the
  output's tangent for tangent ``g`` of that argument; ``"same"`` for an argument
  in which ``fun`` is linear. Without a ``defjvp``, forward mode uses the VJP
  rule: the VJP is linear in ``g``, and the JVP is the gradient of ``<vjp(g), t>``
  with respect to ``g`` (one small reverse pass per tangent).
- ``defvjp_argnum`` / ``defjvp_argnum``: one rule taking the argument's position,
  ``maker(argnum, ans, args, kwargs)`` and ``jvp(argnum, g, ans, args, kwargs)``.
- ``notrace_primitive(f)``: ``f`` runs on the values of its arguments (Tensors
  unwrapped); its result is a constant (``isinstance``, shape queries).

A gradient is never dropped without notice: an argument without a rule raises
``NotImplementedError`` when a gradient reaches it, a Tensor that requires grad
inside a list or dict argument, or as a keyword argument, is refused (chainrule
records Tensors passed positionally). Complex values follow autograd's convention
(docs/reference/complex.md): a rule receives and returns the unconjugated
cotangent, as autograd's do. autograd's tracer classes
(``Box``, ``VSpace``, ``vspace``, ``SparseObject``) have no counterpart: in
chainrule every differentiable value is a Tensor.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd.engine import gradients as _reverse_grad
from chainrule.autograd.grad_mode import enable_grad
from chainrule.numpy._core import data
from chainrule.ops import complex_parts as _complex_parts
from chainrule.ops.primitive import (
    Primitive,
    UserPrimitive,
    _to_raw,
    _user_rule,
    keep_builtins,
)
from chainrule.tensor import Tensor, _wrap

__all__ = [
    "def_linear",
    "defjvp",
    "defjvp_argnum",
    "defvjp",
    "defvjp_argnum",
    "notrace_primitive",
    "primitive",
]

Maker = Callable[..., Any]
_CONTAINERS = (list, tuple, dict)


# ------------------------------------------------------------------ the rules
class _ArgnumRules:
    """The rules of an extend primitive, indexed by input position (any arity).

    ``table`` holds one rule per position it knows; ``by_argnum`` is one rule
    taking the position first. A position with neither raises when a gradient
    reaches it (autograd's behaviour), instead of being left without one.
    """

    __slots__ = ("name", "kind", "table", "by_argnum")

    def __init__(self, name: str, kind: str, table: dict, by_argnum: Maker | None = None):
        self.name = name
        self.kind = kind
        self.table = table
        self.by_argnum = by_argnum

    def __getitem__(self, i: int) -> Callable[..., Any]:
        if self.by_argnum is not None:
            return functools.partial(self.by_argnum, i)
        if i in self.table:
            return self.table[i]
        return functools.partial(_undefined, self.name, self.kind, i)

    def __len__(self) -> int:  # any arity, as the engine's variadic rules
        return 0


def _undefined(name: str, kind: str, i: int, *args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError(
        f"{kind} of {name} with respect to argument {i} is not defined; "
        f"declare it with chainrule.extend.def{kind.lower()}"
    )


def _nothing(*args: Any, **kwargs: Any) -> None:
    """Rule of an argument declared ``None``: no gradient (no tangent) flows."""
    return None


class _DerivedJvps:
    """Forward-mode rules made from the VJP rules: J t = d/dg <J^T g, t>.

    The VJP is linear in ``g``, so the gradient of ``<vjp(g), t>`` with respect to
    ``g`` is the JVP, at any ``g`` (zero here). Used until ``defjvp`` is called.
    """

    __slots__ = ("prim",)

    def __init__(self, prim: Primitive) -> None:
        self.prim = prim

    def __getitem__(self, i: int) -> Callable[..., Any]:
        return functools.partial(_jvp_by_transposing, self.prim, i)

    def __len__(self) -> int:
        return 0


def _jvp_by_transposing(prim: Primitive, i: int, t: Any, ans: Any, *args: Any, **kw: Any) -> Any:
    recorded = isinstance(t, Tensor) or isinstance(ans, Tensor)
    with enable_grad():
        # Any g will do for a rule linear in g; ones, so that a rule whose result
        # escaped the recording (raw NumPy on g) shows as a nonzero constant.
        g = _wrap(np.ones(np.shape(_to_raw(ans)), np.result_type(_to_raw(ans))), None)
        g.requires_grad_(True)
        back = prim.vjps[i](g, ans, *args, **kw)
        if back is None:
            return None
        if not isinstance(back, Tensor) or not back.requires_grad:
            if np.any(_to_raw(back) != 0):
                raise NotImplementedError(
                    f"forward mode through {prim.name}: its VJP rule does not compute with "
                    "g through chainrule operations, so no JVP can be derived from it; "
                    "declare one with chainrule.extend.defjvp"
                )
            return None  # the rule gives 0 whatever g is: no tangent
        inner = (back * t).sum()
        if inner.dtype.kind == "c":
            # Re <vjp(g), t> = Re <g, jvp(t)>: its gradient in g is jvp(t) (autograd's
            # convention), for any real-linear rule, holomorphic or not.
            inner = _complex_parts.real(inner)
        (jt,) = _reverse_grad(
            inner, g, create_graph=recorded, allow_unused=True, materialize_grads=True
        )
    return jt if recorded else jt.data


def _curried_vjp(maker: Maker) -> Callable[..., Any]:
    """autograd's ``maker(ans, *args, **kwargs) -> (g -> gradient)`` as a table rule."""

    def rule(g: Any, ans: Any, *args: Any, **kwargs: Any) -> Any:
        return maker(ans, *args, **kwargs)(g)

    return _user_rule(rule)


def _argnum_vjp(maker: Maker) -> Callable[..., Any]:
    def rule(i: int, g: Any, ans: Any, *args: Any, **kwargs: Any) -> Any:
        return maker(i, ans, args, kwargs)(g)

    def checked(i: int, g: Any, *rest: Any, **kwargs: Any) -> Any:
        return _user_rule(functools.partial(rule, i))(g, *rest, **kwargs)

    return checked


def _argnum_jvp(maker: Maker) -> Callable[..., Any]:
    def checked(i: int, g: Any, ans: Any, *args: Any, **kwargs: Any) -> Any:
        return _user_rule(lambda t, a, *r, **k: maker(i, t, a, r, k))(g, ans, *args, **kwargs)

    return checked


def _same(fun: Callable[..., Any], i: int) -> Callable[..., Any]:
    """The JVP of an argument in which ``fun`` is linear: ``fun`` of the tangent."""

    def rule(t: Any, ans: Any, *args: Any, **kwargs: Any) -> Any:
        return fun(*args[:i], t, *args[i + 1 :], **kwargs)

    return _user_rule(rule)


# ------------------------------------------------------------- the primitives
class ExtendPrimitive(UserPrimitive):
    """The table entry behind a function made by :func:`primitive`."""

    __slots__ = ()


def _primitive_of(fun: Any, where: str) -> Primitive:
    prim = getattr(fun, "_cr_primitive", None)
    if prim is None and isinstance(fun, UserPrimitive):
        prim = fun
    if prim is None:
        name = getattr(fun, "__name__", repr(fun))
        raise TypeError(
            f"{where}: {name} is not a primitive; declare it with "
            "@chainrule.extend.primitive first (chainrule.numpy's functions have their rules)"
        )
    return prim


def _unwrap_constant(x: Any, name: str, where: str) -> Any:
    """A non-recorded argument's value, refusing a Tensor whose gradient would be lost."""
    if isinstance(x, Tensor):
        if x.requires_grad:
            raise TypeError(
                f"{name}: a Tensor that requires grad {where} is not recorded (its gradient "
                "would be lost); pass it as a positional argument of its own"
            )
        return data(x)
    if isinstance(x, _CONTAINERS) and x:
        items = x.values() if isinstance(x, dict) else x
        if any(isinstance(v, Tensor | list | tuple | dict) for v in items):
            if isinstance(x, dict):
                return {k: _unwrap_constant(v, name, where) for k, v in x.items()}
            values = [_unwrap_constant(v, name, where) for v in x]
            return type(x)(*values) if hasattr(x, "_fields") else type(x)(values)
    return x


def primitive(f_raw: Callable[..., Any]) -> Callable[..., Any]:
    """Make ``f_raw`` a primitive: chainrule records it as one operation and does
    not look inside (it may call any Python or NumPy code, in place included).

    The returned function is ``f_raw`` on plain values, and records one node on
    Tensors passed positionally. Give its derivative with :func:`defvjp` (and
    optionally :func:`defjvp`)::

        @primitive
        def cube(x):
            return x**3

        defvjp(cube, lambda ans, x: lambda g: g * 3 * x**2)

    >>> import numpy as onp
    >>> import chainrule as cr
    >>> import chainrule.numpy as np
    >>> from chainrule.extend import primitive, defvjp
    >>> @primitive
    ... def logsumexp(x):  # plain NumPy inside
    ...     m = onp.max(x)
    ...     return m + onp.log(onp.sum(onp.exp(x - m)))
    >>> defvjp(logsumexp, lambda ans, x: lambda g: g * np.exp(x - ans))
    >>> cr.grad(logsumexp)(onp.array([0.0, 0.0]))
    array([0.5, 0.5])
    """
    name = getattr(f_raw, "__name__", None) or "primitive"

    def forward(*args: Any, **kwargs: Any) -> Any:
        out = _to_raw(f_raw(*args, **kwargs))
        if isinstance(out, _CONTAINERS):
            raise TypeError(
                f"{name} returned a {type(out).__name__}: a primitive that is differentiated "
                "returns one array (return the parts stacked, or declare one primitive each)"
            )
        return out

    forward.__name__ = name
    prim = keep_builtins(
        name,
        lambda: ExtendPrimitive(
            name, forward, saves_ans=True, complex_rules=True, doc=f_raw.__doc__
        ),
    )
    # Until defvjp, a gradient reaching the primitive raises (naming it), so that a
    # primitive with only a JVP rule still runs in forward mode.
    prim.vjps = _ArgnumRules(name, "VJP", {})

    @functools.wraps(f_raw)
    def f_wrapped(*args: Any, **kwargs: Any) -> Any:
        recorded = False
        plain = []
        for a in args:
            if isinstance(a, Tensor):
                recorded = True
                plain.append(a)
            else:
                plain.append(_unwrap_constant(a, name, "inside a list, tuple or dict argument"))
        if kwargs:
            kwargs = {
                k: _unwrap_constant(v, name, f"as keyword argument {k!r}")
                for k, v in kwargs.items()
            }
        if not recorded:
            return f_raw(*plain, **kwargs)
        return prim(*plain, **kwargs)

    f_wrapped._cr_primitive = prim  # type: ignore[attr-defined]
    f_wrapped.fun = f_raw  # type: ignore[attr-defined]  # autograd's name for the raw function
    return f_wrapped


def notrace_primitive(f_raw: Callable[..., Any]) -> Callable[..., Any]:
    """``f_raw`` run on the values of its arguments (Tensors unwrapped): its result
    is a constant, never differentiated (for ``isinstance``, ``type``, shape queries).

    >>> import numpy as onp
    >>> import chainrule as cr
    >>> from chainrule.extend import notrace_primitive
    >>> @notrace_primitive
    ... def n_negative(x):  # a count: a constant of the graph
    ...     return int(onp.sum(x < 0))
    >>> cr.grad(lambda x: (x * n_negative(x)).sum())(onp.array([-1.0, 2.0]))
    array([1., 1.])
    """

    @functools.wraps(f_raw)
    def f_wrapped(*args: Any, **kwargs: Any) -> Any:
        args = tuple(data(a) if isinstance(a, Tensor) else a for a in args)
        kwargs = {k: data(v) if isinstance(v, Tensor) else v for k, v in kwargs.items()}
        return f_raw(*args, **kwargs)

    f_wrapped.fun = f_raw  # type: ignore[attr-defined]
    return f_wrapped


# ------------------------------------------------------------------ the rules
def _positions(n: int, argnums: Any, where: str) -> list[int]:
    nums = list(range(n)) if argnums is None else [int(a) for a in argnums]
    if len(nums) != n:
        raise ValueError(f"{where}: {n} rules for {len(nums)} argnums")
    return nums


def defvjp(fun: Callable[..., Any], *makers: Maker | None, argnums: Any = None) -> None:
    """Declare the reverse-mode rules of primitive ``fun``, one per argument.

    Each ``maker(ans, *args, **kwargs)`` returns a function of the output gradient
    ``g`` giving that argument's gradient; ``None`` declares no gradient.
    ``argnums`` says which arguments the makers are for (default 0, 1, ...).

    >>> import chainrule as cr
    >>> from chainrule.extend import primitive, defvjp
    >>> @primitive
    ... def mul(a, b):
    ...     return a * b
    >>> defvjp(mul, lambda ans, a, b: lambda g: g * b, lambda ans, a, b: lambda g: g * a)
    >>> cr.grad(mul, argnum=(0, 1))(2.0, 3.0)
    (np.float64(3.0), np.float64(2.0))
    """
    prim = _primitive_of(fun, "defvjp")
    table: dict[int, Any] = {}
    for i, maker in zip(_positions(len(makers), argnums, "defvjp"), makers):
        if maker is None:
            table[i] = _nothing
        elif callable(maker):
            table[i] = _curried_vjp(maker)
        else:
            raise TypeError(f"defvjp: the rule for argument {i} of {prim.name} is not callable")
    prim.vjps = _ArgnumRules(prim.name, "VJP", table)
    _derive_jvps(prim)


def defvjp_argnum(fun: Callable[..., Any], maker: Maker) -> None:
    """Declare one reverse-mode rule for every argument of primitive ``fun``:
    ``maker(argnum, ans, args, kwargs)`` returns ``lambda g: gradient``.

    >>> import chainrule as cr
    >>> from chainrule.extend import primitive, defvjp_argnum
    >>> @primitive
    ... def mul(a, b):
    ...     return a * b
    >>> defvjp_argnum(mul, lambda argnum, ans, args, kwargs: lambda g: g * args[1 - argnum])
    >>> cr.grad(mul, argnum=(0, 1))(2.0, 3.0)
    (np.float64(3.0), np.float64(2.0))
    """
    prim = _primitive_of(fun, "defvjp_argnum")
    prim.vjps = _ArgnumRules(prim.name, "VJP", {}, _argnum_vjp(maker))
    _derive_jvps(prim)


def _derive_jvps(prim: Primitive) -> None:
    if prim.jvps is None or isinstance(prim.jvps, _DerivedJvps):
        prim.jvps = _DerivedJvps(prim)


def defjvp(fun: Callable[..., Any], *rules: Maker | str | None, argnums: Any = None) -> None:
    """Declare the forward-mode rules of primitive ``fun``, one per argument.

    Each ``rule(g, ans, *args, **kwargs)`` returns the output's tangent for the
    tangent ``g`` of that argument; ``"same"`` for an argument in which ``fun`` is
    linear (the tangent goes through ``fun``); ``None`` for no tangent.

    >>> import numpy as onp
    >>> import chainrule as cr
    >>> import chainrule.numpy as np
    >>> from chainrule.extend import primitive, defjvp
    >>> @primitive
    ... def logsumexp(x):
    ...     return onp.log(onp.sum(onp.exp(x)))
    >>> defjvp(logsumexp, lambda g, ans, x: np.sum(g * np.exp(x - ans)))
    >>> cr.jvp(logsumexp, (onp.array([0.0, 0.0]),), (onp.array([1.0, 0.0]),))
    (np.float64(0.6931471805599453), np.float64(0.5))
    """
    prim = _primitive_of(fun, "defjvp")
    table: dict[int, Any] = {}
    for i, rule in zip(_positions(len(rules), argnums, "defjvp"), rules):
        if rule is None:
            table[i] = _nothing
        elif isinstance(rule, str) and rule == "same":
            table[i] = _same(fun, i)
        elif callable(rule):
            table[i] = _user_rule(rule)
        else:
            raise TypeError(f"defjvp: bad rule {rule!r} for argument {i} of {prim.name}")
    prim.jvps = _ArgnumRules(prim.name, "JVP", table)


def defjvp_argnum(fun: Callable[..., Any], rule: Maker) -> None:
    """Declare one forward-mode rule for every argument of primitive ``fun``:
    ``rule(argnum, g, ans, args, kwargs)`` returns the output's tangent.

    >>> import chainrule as cr
    >>> from chainrule.extend import primitive, defjvp_argnum
    >>> @primitive
    ... def mul(a, b):
    ...     return a * b
    >>> defjvp_argnum(mul, lambda argnum, g, ans, args, kwargs: g * args[1 - argnum])
    >>> cr.jvp(lambda a: mul(a, 3.0), (2.0,), (1.0,))
    (np.float64(6.0), np.float64(3.0))
    """
    prim = _primitive_of(fun, "defjvp_argnum")
    prim.jvps = _ArgnumRules(prim.name, "JVP", {}, _argnum_jvp(rule))


def def_linear(fun: Callable[..., Any]) -> None:
    """Declare ``fun`` linear in each argument: the tangent goes through ``fun``.

    >>> import numpy as onp
    >>> import chainrule as cr
    >>> from chainrule.extend import primitive, def_linear
    >>> @primitive
    ... def double(x):
    ...     return 2 * x
    >>> def_linear(double)  # both rules: the tangent or gradient goes through double
    >>> cr.jvp(double, (onp.array([1.0]),), (onp.array([5.0]),))
    (array([2.]), array([10.]))
    """
    prim = _primitive_of(fun, "def_linear")

    def rule(i: int, t: Any, ans: Any, *args: Any, **kwargs: Any) -> Any:
        return _same(fun, i)(t, ans, *args, **kwargs)

    prim.jvps = _ArgnumRules(prim.name, "JVP", {}, rule)


_TRACER_NAMES = frozenset(
    {"Box", "VSpace", "vspace", "SparseObject", "JVPNode", "VJPNode", "register_notrace"}
)


def __getattr__(name: str) -> Any:
    if name in _TRACER_NAMES:
        raise ImportError(
            f"chainrule.extend has no {name}: autograd's tracer classes have no counterpart "
            "in chainrule, where every differentiable value is a Tensor"
        )
    raise AttributeError(f"module 'chainrule.extend' has no attribute {name!r}")
