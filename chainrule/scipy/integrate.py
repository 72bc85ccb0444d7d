"""``chainrule.scipy.integrate``: ``odeint`` differentiable by the adjoint method.

``odeint(func, y0, t, args=(), **options)`` is SciPy's ``odeint``; when ``y0``,
``t`` or an entry of ``args`` is a Tensor, the result is a Tensor whose gradient
reaches all three (as HIPS autograd's: the initial state, the times and the
function's extra arguments, which may be pytrees: lists, tuples and dicts of
arrays, as a network's parameters are). ``func(y, t, *args)`` is written with
``chainrule.numpy``; it is called with arrays while SciPy integrates and with
Tensors when the adjoint needs its vector-Jacobian products. Extra arguments that
are not floating point (ints, flags, objects) are passed through as constants.
Reverse mode only, first order (see :mod:`chainrule.ops.scipy_integrate`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.integrate as _si

from chainrule import functions as F
from chainrule import tree
from chainrule.numpy._core import arg, data, has_tensor
from chainrule.numpy._misc import shape_of
from chainrule.ops import scipy_integrate as _ops
from chainrule.tensor import Tensor, apply


def _is_variable(a: Any) -> bool:
    if isinstance(a, Tensor):
        return a.dtype.kind == "f"
    if isinstance(a, float | np.floating):
        return True
    if isinstance(a, np.ndarray | list | tuple):
        try:
            return np.asarray(data(a)).dtype.kind == "f"
        except (ValueError, TypeError):
            return False
    return False


def odeint(
    func: Callable[..., Any],
    y0: Any,
    t: Any,
    args: Sequence[Any] = (),
    **options: Any,
) -> Any:
    """Integrate dy/dt = func(y, t, *args) from y0, returning y at each time in ``t``
    (a T x D array, or Tensor when any input is one)."""
    if not isinstance(args, tuple):
        args = (args,)
    if not has_tensor((y0, t, *args)):
        return _si.odeint(func, y0, t, args=args, **options)
    if options.get("full_output"):
        raise NotImplementedError("odeint on Tensors: full_output=True is not supported")
    y0_ = (
        F.reshape(F.astype(arg(y0), np.float64), (-1,))
        if isinstance(y0, Tensor)
        else (np.asarray(data(y0), dtype=np.float64).reshape(-1))
    )
    t_ = arg(t)
    t_ = F.astype(t_, np.float64) if isinstance(t_, Tensor) else np.asarray(t_, dtype=np.float64)
    if len(shape_of(t_)) != 1:
        raise ValueError(f"odeint: t must be a 1-D array of times, got shape {shape_of(t_)}")
    parts = [y0_, t_]
    leaf_layout = []
    leaves, treedef = tree.flatten(args)
    for a in leaves:
        if _is_variable(a):
            a = arg(a)
            shape = shape_of(a)
            leaf_layout.append((_ops.VARIABLE, shape))
            a = F.astype(a, np.float64) if isinstance(a, Tensor) else np.asarray(a, np.float64)
            parts.append(F.reshape(a, (-1,)) if isinstance(a, Tensor) else a.reshape(-1))
        else:
            leaf_layout.append(("constant", a))
    sizes = (int(np.prod(shape_of(y0_))), int(np.prod(shape_of(t_))))
    layout = (sizes, (treedef, tuple(leaf_layout)))
    z = F.concatenate([p if isinstance(p, Tensor) else np.asarray(p) for p in parts])
    params = {"func": func, "layout": layout, "options": tuple(sorted(options.items()))}
    return apply(_ops.odeint, (z,), params)


__all__ = ["odeint"]
