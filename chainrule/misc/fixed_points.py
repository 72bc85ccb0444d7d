"""``fixed_point``: iterate to a fixed point, differentiable through it to any order.

The derivatives do not unroll the iterations; they come from the implicit function
theorem at the fixed point ``x* = f(a)(x*)``:

- reverse: for a cotangent ``g`` of ``x*``, ``g^T dx*/da = w^T df(a)(x*)/da`` where
  ``w = g + (df(a)(x)/dx at x*)^T w``;
- forward: for a tangent ``da``, ``dx* = t`` where
  ``t = df(a)(x*)/da da + (df(a)(x)/dx at x*) t``.

``w`` and ``t`` are themselves fixed points of linear maps, found by this same
function (from zeros, with the same ``distance`` and ``tol``), as HIPS autograd does.

Higher orders. ``df(a)(x*)/da`` is a *partial* derivative: ``x*`` is held fixed.
On a recorded graph ``x*`` depends on ``a``, so differentiating ``f(a)(x*)`` with
respect to ``a`` there would give the total derivative (and run this rule again,
forever). So when a rule must itself be recorded (grad of grad, Hessians), it runs
as one node, :class:`_Lifted`, whose inputs are ``(a, x*, g)``: inside, the rule
computes on fresh copies of their values, where the partial derivative is the
derivative, and the node's own derivative is the same construction one level up.
Any order works, each one a node of the graph; the first order runs on plain arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import tree
from chainrule.autograd.function import Function
from chainrule.autograd.grad_mode import grad_enabled, no_grad
from chainrule.func import jvp, outside_transforms, vjp
from chainrule.tensor import Tensor

__all__ = ["fixed_point"]

Step = Callable[[Any], Callable[[Any], Any]]


def _iterate(step: Callable[[Any], Any], x0: Any, distance: Callable, tol: float) -> Any:
    x_prev, x = x0, step(x0)
    while distance(x, x_prev) > tol:
        x_prev, x = x, step(x)
    return x


def _plain(x: Any) -> Any:
    return x.detach().data if isinstance(x, Tensor) else x


def _refuse_batched(values: Any) -> None:
    """The rules iterate on values, which ``cr.vmap`` (and ``cr.jacobian``, a vmapped
    backward pass) does not give per batch element: say so, not a vmap error."""
    if any(isinstance(x, Tensor) and x._batched for x in values):
        raise NotImplementedError(
            "fixed_point: its derivatives cannot run under cr.vmap (cr.jacobian of a "
            "gradient vmaps the backward pass); take rows with cr.grad in a loop, or "
            "use cr.hessian / cr.jacfwd (forward mode)"
        )


# ------------------------------------------------------ a function as one node
def _pullback(h: Callable[..., tuple], n_in: int) -> Callable[..., tuple]:
    """``(*xs, *cotangents) -> cotangent^T dh/dxs``, one entry per x."""

    def pull(*args: Any) -> tuple:
        _, back = vjp(h, *args[:n_in])
        return tuple(back(tuple(args[n_in:])))

    return pull


def _pushforward(h: Callable[..., tuple], n_in: int) -> Callable[..., tuple]:
    """``(*xs, *tangents) -> dh/dxs tangents``, one entry per output of h."""

    def push(*args: Any) -> tuple:
        return tuple(jvp(h, args[:n_in], args[n_in:])[1])

    return push


class _Lifted(Function):
    """``h(*xs)`` (a tuple of arrays) as one node of the graph whose inputs are
    ``xs``: ``h`` runs on their values, so what ``h`` differentiates inside sees
    nothing of how ``xs`` were computed (see the module doc). Its VJP and JVP are
    nodes of the same kind, so it is differentiable to any order."""

    # Inside cr.vmap forward runs on the batch, where _refuse_batched says what is
    # unsupported (instead of the generic message of a Function without a vmap rule).
    generate_vmap_rule = True

    @staticmethod
    def forward(ctx: Any, h: Callable[..., tuple], *xs: Any) -> tuple:
        _refuse_batched(xs)
        ctx.h = h
        ctx.save_for_backward(*xs)
        # On plain values, as if at the top: nothing inside needs recording (the
        # node's derivative is backward/jvp below, the same construction again).
        out = outside_transforms(h, *[_plain(x) for x in xs])
        return tuple(Tensor(np.asarray(_plain(r))) for r in out)

    @staticmethod
    def backward(ctx: Any, *gs: Any) -> tuple:
        xs = ctx.saved_tensors
        pull = _pullback(ctx.h, len(xs))
        if grad_enabled():
            return (None, *_Lifted.apply(pull, *xs, *gs))
        grads = outside_transforms(pull, *[_plain(x) for x in xs], *[_plain(g) for g in gs])
        return (None, *[np.asarray(_plain(g), dtype=x.dtype) for g, x in zip(grads, xs)])

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> tuple:
        xs = ctx.saved_tensors
        push = _pushforward(ctx.h, len(xs))
        ts = tangents[1:]
        if grad_enabled():
            return _Lifted.apply(push, *xs, *ts)
        out = outside_transforms(push, *[_plain(x) for x in xs], *[_plain(t) for t in ts])
        return tuple(_plain(t) for t in out)


# ------------------------------------------------------------ the fixed point
def _reverse_step(f: Step) -> Step:
    """The map whose fixed point is the reverse rule's ``w``; parameters ``(a, x*, g)``."""

    def step(params: Any) -> Callable[[Any], Any]:
        a, x_star, seed = params
        _, vjp_x = vjp(f(a), x_star)
        return lambda w: vjp_x(w)[0] + seed

    return step


def _forward_step(f: Step) -> Step:
    """The map whose fixed point is the forward rule's ``t``; parameters ``(a, x*, u)``
    with ``u = df(a)(x*)/da da``."""

    def step(params: Any) -> Callable[[Any], Any]:
        a, x_star, u = params
        return lambda t: jvp(f(a), (x_star,), (t,))[1] + u

    return step


def _implicit_vjp(f: Step, treedef: Any, distance: Callable, tol: float) -> Callable:
    """``(*a_leaves, x*, g) -> g^T dx*/da`` per leaf of ``a``, differentiable."""

    def rule(*args: Any) -> tuple:
        *a_leaves, x_star, g = args
        zeros = np.zeros(np.shape(_plain(x_star)), dtype=np.result_type(_plain(x_star)))
        w = fixed_point(_reverse_step(f), (tree.unflatten(treedef, a_leaves), x_star, g), zeros,
                        distance, tol)  # fmt: skip
        _, vjp_a = vjp(lambda *ls: f(tree.unflatten(treedef, ls))(x_star), *a_leaves)
        return tuple(vjp_a(w))

    return rule


def _implicit_jvp(f: Step, treedef: Any, distance: Callable, tol: float) -> Callable:
    """``(*a_leaves, x*, *da_leaves) -> (dx*,)``, differentiable."""

    def rule(*args: Any) -> tuple:
        n = treedef.num_leaves
        a_leaves, x_star, das = args[:n], args[n], args[n + 1 :]
        _, u = jvp(lambda *ls: f(tree.unflatten(treedef, ls))(x_star), tuple(a_leaves), das)
        zeros = np.zeros(np.shape(_plain(x_star)), dtype=np.result_type(_plain(x_star)))
        params = (tree.unflatten(treedef, a_leaves), x_star, u)
        return (fixed_point(_forward_step(f), params, zeros, distance, tol),)

    return rule


class _FixedPoint(Function):
    generate_vmap_rule = True  # see _Lifted: forward refuses a batch with its own message

    @staticmethod
    def forward(
        ctx: Any, f: Step, treedef: Any, x0: Any, distance: Callable, tol: float, *leaves: Any
    ) -> Any:
        _refuse_batched(leaves)
        a = tree.unflatten(treedef, [_plain(x) for x in leaves])

        # The steps and the user's ``distance`` see plain arrays, as if no transform
        # were running: this node's derivative is the implicit rule, not the
        # iterations (a step built by the rules above would record every one).
        def solve() -> Any:
            step = f(a)
            return _iterate(lambda x: _plain(step(x)), _plain(x0), distance, tol)

        x_star = Tensor(np.asarray(outside_transforms(solve)))
        ctx.problem = (f, treedef, distance, tol)
        ctx.save_for_backward(*leaves, x_star)
        return x_star

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple:
        rule = _implicit_vjp(*ctx.problem)
        saved = ctx.saved_tensors
        if grad_enabled():  # create_graph: the rule is recorded, as one node
            return (None,) * 5 + tuple(_Lifted.apply(rule, *saved, g))
        grads = outside_transforms(rule, *[_plain(x) for x in saved], _plain(g))
        return (None,) * 5 + tuple(
            np.asarray(_plain(ga), dtype=x.dtype) for ga, x in zip(grads, saved)
        )

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        rule = _implicit_jvp(*ctx.problem)
        saved = ctx.saved_tensors
        if grad_enabled():
            return _Lifted.apply(rule, *saved, *tangents[5:])[0]
        (t,) = outside_transforms(
            rule, *[_plain(x) for x in saved], *[_plain(t) for t in tangents[5:]]
        )
        return _plain(t)


def fixed_point(f: Step, a: Any, x0: Any, distance: Callable[[Any, Any], Any], tol: float) -> Any:
    """The fixed point ``x = f(a)(x)``, iterated from ``x0`` until
    ``distance(x, previous) <= tol``; differentiable with respect to ``a`` (any
    pytree of arrays), in reverse and forward mode and to any order, by the
    implicit function theorem (the iterations are not unrolled).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.misc.fixed_points import fixed_point
    >>> newton_sqrt = lambda a: lambda x: 0.5 * (x + a / x)
    >>> dist = lambda x, y: abs(x - y)
    >>> sqrt = lambda a: fixed_point(newton_sqrt, a, 1.0, dist, 1e-10)
    >>> round(float(sqrt(2.0)), 8)
    1.41421356
    >>> round(float(cr.grad(sqrt)(2.0)), 8)
    0.35355339
    >>> round(float(cr.grad(cr.grad(sqrt))(2.0)), 8)
    -0.08838835
    """
    leaves, treedef = tree.flatten(a)
    if not (grad_enabled() and any(isinstance(x, Tensor) and x.requires_grad for x in leaves)):
        with no_grad():
            return _iterate(f(a), x0, distance, tol)
    tensors = [x if isinstance(x, Tensor) else Tensor(np.asarray(x)) for x in leaves]
    return _FixedPoint.apply(f, treedef, x0, distance, tol, *tensors)
