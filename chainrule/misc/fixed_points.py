"""``fixed_point``: iterate to a fixed point, differentiable through it.

The derivative does not unroll the iterations. At the fixed point ``x* = f(a)(x*)``
the implicit function theorem gives, for a cotangent ``g`` of ``x*``,
``g^T dx*/da = w^T df(a)(x*)/da`` where ``w = g + (df(a)(x)/dx at x*)^T w``: ``w``
is itself the fixed point of a linear map, found by the same iteration (from
zeros, with the same ``distance`` and ``tol``), as HIPS autograd does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import tree
from chainrule.autograd.function import Function
from chainrule.autograd.grad_mode import grad_enabled, no_grad
from chainrule.func import vjp
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


class _FixedPoint(Function):
    @staticmethod
    def forward(
        ctx: Any, f: Step, treedef: Any, x0: Any, distance: Callable, tol: float, *leaves: Any
    ) -> Any:
        a = tree.unflatten(treedef, [_plain(x) for x in leaves])
        x_star = np.asarray(_iterate(f(a), _plain(x0), distance, tol))
        ctx.problem = (f, treedef, distance, tol)
        ctx.save_for_backward(*leaves)
        ctx.x_star = x_star
        return Tensor(x_star)

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple:
        if grad_enabled():
            raise NotImplementedError(
                "fixed_point: its derivative is first order only (the reverse fixed "
                "point is computed on plain arrays); a second derivative through it "
                "is not supported"
            )
        f, treedef, distance, tol = ctx.problem
        a_leaves = [_plain(x) for x in ctx.saved_tensors]
        a = tree.unflatten(treedef, a_leaves)
        x_star = ctx.x_star
        _, vjp_x = vjp(f(a), x_star)
        seed = _plain(g)
        w = _iterate(lambda w: vjp_x(w)[0] + seed, np.zeros_like(x_star), distance, tol)
        _, vjp_a = vjp(lambda *ls: f(tree.unflatten(treedef, ls))(x_star), *a_leaves)
        grads = [np.asarray(ga, dtype=x.dtype) for ga, x in zip(vjp_a(w), ctx.saved_tensors)]
        return (None, None, None, None, None, *grads)


def fixed_point(f: Step, a: Any, x0: Any, distance: Callable[[Any, Any], Any], tol: float) -> Any:
    """The fixed point ``x = f(a)(x)``, iterated from ``x0`` until
    ``distance(x, previous) <= tol``; differentiable with respect to ``a`` (any
    pytree of arrays) by the implicit-function VJP (first order).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.misc.fixed_points import fixed_point
    >>> newton_sqrt = lambda a: lambda x: 0.5 * (x + a / x)
    >>> dist = lambda x, y: abs(x - y)
    >>> round(float(fixed_point(newton_sqrt, 2.0, 1.0, dist, 1e-10)), 8)
    1.41421356
    >>> round(float(cr.grad(lambda a: fixed_point(newton_sqrt, a, 1.0, dist, 1e-10))(2.0)), 8)
    0.35355339
    """
    leaves, treedef = tree.flatten(a)
    if not (grad_enabled() and any(isinstance(x, Tensor) and x.requires_grad for x in leaves)):
        with no_grad():
            return _iterate(f(a), x0, distance, tol)
    tensors = [x if isinstance(x, Tensor) else Tensor(np.asarray(x)) for x in leaves]
    return _FixedPoint.apply(f, treedef, x0, distance, tol, *tensors)
