"""Primitives: the one table of derivative rules.

A primitive is an operation whose derivative chainrule knows directly. Each one
is declared once, with

- ``forward``: a function of NumPy arrays (and Python numbers) returning an array;
- ``vjp``: one reverse-mode rule per positional input, ``rule(g, ans, *args,
  **params)``, returning the input's share of the gradient: the upstream
  gradient ``g`` times the local derivative d ans / d arg;
- ``jvp`` (optional): one forward-mode rule per input, ``rule(t, ans, *args,
  **params)``, returning that input's tangent ``t`` pushed through the op;
- ``formula``: the local derivative of each input, as text (for ``explain``).

Rules receive NumPy arrays in an ordinary backward pass and Tensors when the
backward pass is recorded (``create_graph=True``), so they must be written with
operations that work on both: arithmetic operators, array methods (``.sum``,
``.reshape``, ``.T``) and NumPy functions (``np.exp``, ``np.where``), which
chainrule Tensors take over through NumPy's dispatch protocols. Written that way,
every rule is itself differentiable and higher-order derivatives come for free.
The engine undoes broadcasting and restores the input's dtype after every rule.

Users declare their own primitives with the same class the built-ins use::

    import numpy as np
    import chainrule as cr

    @cr.primitive(saves_ans=True)
    def smooth_abs(x):
        return np.sqrt(x * x + 1.0)

    smooth_abs.defvjp(lambda g, ans, x: g * x / ans)

    x = cr.tensor([0.5, -1.0], requires_grad=True)
    smooth_abs(x).sum().backward()
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from chainrule.tensor import Tensor, apply

#: ``Primitive.batch`` marker: every rule is elementwise in the tangent.
ELEMENTWISE = "elementwise"

#: Every primitive by name: the built-ins and those users declare.
PRIMITIVES: dict[str, Primitive] = {}

Rule = Callable[..., Any]


class _VariadicRules:
    """Rules of a primitive with any number of inputs: ``rule(i, g, ans, *args)``."""

    __slots__ = ("rule",)

    def __init__(self, rule: Rule) -> None:
        self.rule = rule

    def __getitem__(self, i: int) -> Rule:
        return partial(self.rule, i)

    def __len__(self) -> int:  # any arity
        return 0


class Primitive:
    """An operation with a NumPy forward and derivative rules (see the module doc).

    Call it like a function: ``prim(*args, **params)`` takes Tensors, arrays or
    numbers and returns a Tensor, recording a graph node when a gradient can flow.

    >>> import chainrule as cr
    >>> exp = cr.PRIMITIVES["exp"]  # every operation is one entry of the rule table
    >>> exp(cr.tensor([0.0])), exp.formulas  # the formula explain shows for d exp(x) / dx
    (tensor([1.]), ('exp(x)',))
    """

    __slots__ = (
        "name",
        "forward",
        "vjps",
        "jvps",
        "formulas",
        "saves_ans",
        "differentiable",
        "variadic",
        "exact",
        "batch",
        "vmap",
        "ufunc",
        "complex_rules",
        "doc",
    )

    def __init__(
        self,
        name: str,
        forward: Callable[..., Any],
        vjp: Sequence[Rule | None] | Rule | None = None,
        jvp: Sequence[Rule | None] | Rule | None = None,
        *,
        formula: Sequence[str] | str | None = None,
        saves_ans: bool = False,
        differentiable: bool = True,
        variadic: bool = False,
        exact: bool = False,
        complex_rules: bool = False,
        doc: str | None = None,
    ) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("a primitive needs a non-empty name")
        if not callable(forward):
            raise TypeError(f"primitive {name!r}: forward must be callable")
        self.name = name
        self.forward = forward
        self.saves_ans = saves_ans
        self.differentiable = differentiable
        self.variadic = variadic
        # True when every rule returns exactly its input's shape and dtype, so the
        # engine can skip its check (elementwise functions of one variable).
        self.exact = exact
        # True when the rules also hold for complex inputs under HIPS autograd's
        # convention (see chainrule.ops.complex_parts): the formula of a holomorphic
        # function, unconjugated, or a rule written for complex numbers. Otherwise a
        # complex result that needs a gradient is refused (``tensor.complex_refused``).
        self.complex_rules = complex_rules
        # How a stack of tangents (a leading batch axis) goes through the JVP rules
        # in one call, for jacfwd/hessian: ELEMENTWISE (the rules broadcast), a
        # function ``batch(xb, **params)`` applying this op, linear in its one input,
        # to a batched array; or None (the tangents go through one by one).
        self.batch: Any = None
        # The batching rule cr.vmap uses, ``rule(prim, xs, batched, size, params)``,
        # returning the op's result for a batch (batch axis first); see
        # chainrule.ops.batch_rules. None: derived from ``batch``, else a loop.
        self.vmap: Any = None
        # The NumPy ufunc the forward computes when the forward only adds checks or
        # messages around it (matmul): compiled code (cr.jit) may call it with out=.
        self.ufunc: Any = forward if isinstance(forward, np.ufunc) else None
        self.vjps: Any = None
        self.jvps: Any = None
        self.formulas = (formula,) if isinstance(formula, str) else tuple(formula or ())
        self.doc = doc or getattr(forward, "__doc__", None)
        if vjp is not None:
            self._set_vjp(vjp)
        if jvp is not None:
            self._set_jvp(jvp)
        PRIMITIVES[name] = self

    def _set_vjp(self, vjp: Sequence[Rule | None] | Rule) -> None:
        self.vjps = _VariadicRules(vjp) if self.variadic else _rule_tuple(vjp, "vjp", self.name)

    def _set_jvp(self, jvp: Sequence[Rule | None] | Rule) -> None:
        self.jvps = _VariadicRules(jvp) if self.variadic else _rule_tuple(jvp, "jvp", self.name)

    def __call__(self, *args: Any, **params: Any) -> Tensor:
        return apply(self, args, params or None)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def pass_is_differentiated() -> bool:
    """Whether the backward pass being recorded may itself be differentiated
    (False inside cr.jit's trace of a first-order gradient: rules may then record
    their array form as one operation; see chainrule.autograd.engine)."""
    from chainrule.autograd.engine import pass_is_differentiated as now  # engine imports ops

    return now()


class StepCache:
    """The gradients of a fused primitive's inputs, computed once per backward step.

    The engine asks a primitive's rules for its inputs' gradients one input after
    another, with the same upstream gradient ``g`` and result ``ans``; a fused rule
    computes them all at the first call. Kept per thread, and keyed on the identity
    of both ``g`` and ``ans``: another pass through a retained graph brings another
    ``g``, so it never reads a stale gradient.
    """

    __slots__ = ("_local",)

    def __init__(self) -> None:
        self._local = threading.local()

    def once(self, g: Any, ans: Any, compute: Callable[[], Any], release: bool = False) -> Any:
        """``compute()``'s result for this step (computed at the first call).
        ``release``: the last input's call; the result is not kept after it."""
        last = getattr(self._local, "last", None)
        fresh = last is None or last[0] is not g or last[1] is not ans
        result = compute() if fresh else last[2]
        self._local.last = None if release else (g, ans, result)
        return result

    def clear(self) -> None:
        self._local.last = None


def call(prim: Primitive, *args: Any, **params: Any) -> Any:
    """Run ``prim`` inside a rule: arrays in, an array out; Tensors in, a recorded Tensor.

    For rules that need a primitive with no NumPy function of the same meaning.
    """
    for a in args:
        if isinstance(a, Tensor):
            return apply(prim, args, params or None)
    return prim.forward(*args, **params)


def linear_jvp(prim: Primitive) -> Rule:
    """Forward-mode rule of a primitive that is linear in its first input: the
    tangent goes through the same operation (reshape, transpose, getitem, ...)."""

    def rule(t: Any, ans: Any, x: Any, *rest: Any, **params: Any) -> Any:
        return call(prim, t, *rest, **params)

    return rule


def _rule_tuple(rules: Sequence[Rule | None] | Rule, kind: str, name: str) -> tuple:
    rules = (rules,) if callable(rules) else tuple(rules)
    for r in rules:
        if r is not None and not callable(r):
            raise TypeError(f"primitive {name!r}: each {kind} rule must be callable or None")
    return tuple(_no_gradient if r is None else r for r in rules)


def _no_gradient(g: Any, ans: Any, *args: Any, **params: Any) -> None:
    """Rule for an input that gets no gradient (a mask, an index)."""
    return None


# ------------------------------------------------------------ user primitives
def _to_raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _user_forward(fn: Callable[..., Any]) -> Callable[..., Any]:
    def forward(*args: Any, **params: Any) -> Any:
        return _to_raw(fn(*args, **params))

    forward.__name__ = getattr(fn, "__name__", "forward")
    forward.__doc__ = fn.__doc__
    return forward


def _user_rule(rule: Rule | None) -> Rule | None:
    """Let a user's rule return Tensors or numbers in a plain (array) backward pass."""
    if rule is None:
        return None

    def checked(g: Any, *rest: Any, **params: Any) -> Any:
        r = rule(g, *rest, **params)
        if r is None:
            return r
        if isinstance(g, Tensor):  # recorded: a Tensor, an array, or a number as an array
            return r if isinstance(r, Tensor | np.ndarray) else np.asarray(r)
        return np.asarray(_to_raw(r))

    return checked


class UserPrimitive(Primitive):
    """A primitive declared with :func:`primitive`; add rules with ``defvjp``/``defjvp``."""

    __slots__ = ()

    def defvjp(self, *rules: Rule | None) -> UserPrimitive:
        """Set the reverse-mode rules, one per positional input (None: no gradient).

        Each ``rule(g, ans, *args, **params)`` returns ``g`` times d ans / d arg.
        Returns the primitive, so it can be used as a decorator for a one-input op.
        """
        self._set_vjp(tuple(_user_rule(r) for r in rules))
        return self

    def defjvp(self, *rules: Rule | None) -> UserPrimitive:
        """Set the forward-mode rules, one per positional input (None: no tangent).

        Each ``rule(t, ans, *args, **params)`` returns the tangent ``t`` of that input
        pushed through the operation (d ans / d arg applied to ``t``).
        """
        self._set_jvp(tuple(_user_rule(r) for r in rules))
        return self

    def __call__(self, *args: Any, **params: Any) -> Tensor:
        if (
            self.vjps is None
            and self.differentiable
            and any(isinstance(a, Tensor) and a.requires_grad for a in args)
        ):
            _check_has_rule(self)
        return apply(self, args, params or None)


def _check_has_rule(prim: Primitive) -> None:
    from chainrule.autograd.grad_mode import grad_enabled

    if grad_enabled():
        raise NotImplementedError(
            f"primitive {prim.name!r} has no vjp rule yet; declare one with "
            f"{prim.name}.defvjp(rule) before differentiating through it"
        )


def keep_builtins(name: str, make: Callable[[], Primitive]) -> Any:
    """Declare a user primitive with ``make()``, leaving a built-in of the same name
    in the table: the user's function (the returned object) is the primitive, and
    its name is only what ``explain`` and error messages show (a user's own
    ``logsumexp`` neither replaces nor is refused by the built-in one)."""
    existing = PRIMITIVES.get(name)
    prim = make()
    if existing is not None and not isinstance(existing, UserPrimitive):
        PRIMITIVES[name] = existing
    return prim


def primitive(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    saves_ans: bool = False,
    formula: Sequence[str] | str | None = None,
) -> Any:
    """Declare a new primitive from a NumPy function (usable as a decorator).

    ``fn`` takes NumPy arrays (and keyword parameters) and returns an array. Add its
    derivative with ``.defvjp(rule_for_arg0, rule_for_arg1, ...)``, each
    ``rule(g, ans, *args, **params)``; optionally forward mode with ``.defjvp``.
    Set ``saves_ans=True`` when a rule uses ``ans`` (the forward output).

    >>> import chainrule as cr
    >>> @cr.primitive
    ... def cube(a):
    ...     return a ** 3
    >>> cube = cube.defvjp(lambda g, ans, a: g * 3 * a ** 2)
    >>> cr.grad(lambda t: cube(t).sum())(cr.tensor([1.0, 2.0]))
    tensor([ 3., 12.])
    """

    def declare(f: Callable[..., Any]) -> UserPrimitive:
        prim_name = name or getattr(f, "__name__", None) or "custom"
        return keep_builtins(
            prim_name,
            # The user's rules are the user's: complex inputs are theirs to handle.
            lambda: UserPrimitive(
                prim_name,
                _user_forward(f),
                formula=formula,
                saves_ans=saves_ans,
                complex_rules=True,
                doc=f.__doc__,
            ),
        )

    return declare(fn) if fn is not None else declare
