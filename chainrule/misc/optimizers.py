"""Gradient-descent optimizers with HIPS autograd's signatures, on pytrees.

Each takes ``grad(params, iteration)`` (the gradient, a pytree like ``params``),
the initial parameters (any pytree of arrays and numbers), an optional
``callback(params, iteration, gradient)`` called before each step, and
``num_iters``; it returns the final parameters in their pytree. The arithmetic
runs on one flat vector (:func:`chainrule.misc.flatten`), step by step as
autograd's does, so the numbers are autograd's.

>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule.misc.optimizers import adam
>>> loss = lambda p, i: (p["w"] - 3.0) ** 2
>>> adam(cr.grad(loss), {"w": 0.0}, num_iters=2000, step_size=0.1)["w"].round(4)
np.float64(3.0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.misc.flatten import flatten

__all__ = ["adam", "rmsprop", "sgd"]

Grad = Callable[[Any, int], Any]
Callback = Callable[[Any, int, Any], Any] | None


def _flat_problem(grad: Grad, x0: Any, callback: Callback) -> tuple:
    """The problem on one flat vector: its start, gradient, callback and way back."""
    x, unflatten = flatten(x0)

    def flat_grad(v: np.ndarray, i: int) -> np.ndarray:
        return np.asarray(flatten(grad(unflatten(v), i))[0])

    flat_callback = None
    if callback is not None:

        def flat_callback(v: np.ndarray, i: int, g: np.ndarray) -> None:
            callback(unflatten(v), i, unflatten(g))

    return np.asarray(x), flat_grad, flat_callback, unflatten


def sgd(
    grad: Grad,
    x0: Any,
    callback: Callback = None,
    num_iters: int = 200,
    step_size: float = 0.1,
    mass: float = 0.9,
) -> Any:
    """Stochastic gradient descent with momentum ``mass``:
    ``v = mass v - (1 - mass) g``, ``x = x + step_size v``."""
    x, flat_grad, flat_callback, unflatten = _flat_problem(grad, x0, callback)
    velocity = np.zeros(len(x))
    for i in range(num_iters):
        g = flat_grad(x, i)
        if flat_callback is not None:
            flat_callback(x, i, g)
        velocity = mass * velocity - (1.0 - mass) * g
        x = x + step_size * velocity
    return unflatten(x)


def rmsprop(
    grad: Grad,
    x0: Any,
    callback: Callback = None,
    num_iters: int = 100,
    step_size: float = 0.1,
    gamma: float = 0.9,
    eps: float = 1e-8,
) -> Any:
    """RMSProp: steps scaled by a running root mean square of the gradient
    (started at ones, as autograd's)."""
    x, flat_grad, flat_callback, unflatten = _flat_problem(grad, x0, callback)
    avg_sq_grad = np.ones(len(x))
    for i in range(num_iters):
        g = flat_grad(x, i)
        if flat_callback is not None:
            flat_callback(x, i, g)
        avg_sq_grad = avg_sq_grad * gamma + g**2 * (1 - gamma)
        x = x - step_size * g / (np.sqrt(avg_sq_grad) + eps)
    return unflatten(x)


def adam(
    grad: Grad,
    x0: Any,
    callback: Callback = None,
    num_iters: int = 100,
    step_size: float = 0.001,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> Any:
    """Adam (Kingma and Ba, arxiv 1412.6980): momentum and RMS scaling, both
    bias-corrected."""
    x, flat_grad, flat_callback, unflatten = _flat_problem(grad, x0, callback)
    m = np.zeros(len(x))
    v = np.zeros(len(x))
    for i in range(num_iters):
        g = flat_grad(x, i)
        if flat_callback is not None:
            flat_callback(x, i, g)
        m = (1 - b1) * g + b1 * m
        v = (1 - b2) * (g**2) + b2 * v
        m_hat = m / (1 - b1 ** (i + 1))
        v_hat = v / (1 - b2 ** (i + 1))
        x = x - step_size * m_hat / (np.sqrt(v_hat) + eps)
    return unflatten(x)
