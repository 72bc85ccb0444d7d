"""The primitive behind ``chainrule.scipy.integrate.odeint``, with its adjoint rule.

``odeint(func, y0, t, args)`` solves dy/dt = func(y, t, *args) and returns y at
the times ``t`` (a T x D array). Its inputs that can carry a gradient (y0, t and
the floating-point ``args``) are packed into one vector ``z``, so that the whole
adjoint is computed once per backward pass, not once per input.

The reverse-mode rule is the adjoint method (Froehlich, Loos and Hasenauer 2017,
sec. 2.4.2; as HIPS autograd computes it): from the last time backwards, the
state y, its adjoint a = dL/dy, the time adjoint and the parameter adjoint are
integrated together, a' = -a^T df/dy, with a^T df/dt and a^T df/dargs alongside,
each product a vector-Jacobian product of ``func`` taken by chainrule's engine;
at each observation time the upstream gradient of that row joins a. The gradient
of t[i] (i > 0) is g[i] . func(y_i, t_i), and t[0] gets what the time adjoint
gathered.

The rule works on arrays: a second derivative through ``odeint`` (the rule
recorded, ``create_graph=True``) and forward mode are not supported and say so.
"""

from __future__ import annotations

import numpy as np
import scipy.integrate as si

from chainrule import tree
from chainrule.autograd.engine import gradients as engine_grad
from chainrule.autograd.grad_mode import enable_grad
from chainrule.ops.primitive import Primitive
from chainrule.tensor import Tensor

VARIABLE = "variable"


def _args(p, arg_layout):
    """``args`` rebuilt from the packed parameters ``p`` (an array or a Tensor): the
    layout is the args' pytree structure and, per leaf, a variable's shape (its
    values are the next ones in ``p``) or a constant."""
    treedef, leaf_layout = arg_layout
    leaves = []
    at = 0
    for kind, value in leaf_layout:
        if kind == VARIABLE:
            size = int(np.prod(value))
            leaves.append(p[at : at + size].reshape(value))
            at += size
        else:
            leaves.append(value)
    return tree.unflatten(treedef, leaves)


def unpack(z, layout):
    """(y0, t, args) from the packed vector and the layout (sizes, shapes, constants)."""
    (d, t_size), arg_layout = layout
    return z[:d], z[d : d + t_size], _args(z[d + t_size :], arg_layout)


def _forward(z, func, layout, options):
    y0, t, args = unpack(z, layout)
    return si.odeint(func, y0, t, args=args, **dict(options))


def _dynamics_vjp(func, layout, y, tt, p, cotangent):
    """(f(y, t, args), cotangent^T df/dy, cotangent^T df/dt, cotangent^T df/dp): one
    graph of ``func`` recorded and differentiated by the engine."""
    ty = Tensor(y, requires_grad=True)
    tt_ = Tensor(np.asarray(tt, dtype=np.float64), requires_grad=True)
    tp = Tensor(p, requires_grad=True)
    with enable_grad():
        # Variables are slices of the parameter tensor, so their gradients land in tp.
        args_t = _args(tp, layout[1])
        out = func(ty, tt_, *args_t)
        if not isinstance(out, Tensor):
            out = Tensor(np.asarray(out, dtype=np.float64))
        if not out.requires_grad:
            zeros = (np.zeros_like(y), np.zeros(()), np.zeros_like(p))
            return out.data, *zeros
        grads = engine_grad([out], [ty, tt_, tp], [Tensor(cotangent)], allow_unused=True)
    parts = [
        np.zeros_like(x.data) if gr is None else np.asarray(gr.data, dtype=np.float64)
        for gr, x in zip(grads, (ty, tt_, tp))
    ]
    return (out.data, *parts)


def _odeint_vjp(g, ans, z, func, layout, options):
    if getattr(g, "_batched", False):
        return _per_example_vjp(g, ans, z, func, layout, options)
    if isinstance(g, Tensor):
        raise NotImplementedError(
            "odeint: derivatives of second order are not supported (its adjoint rule "
            "integrates with SciPy, on arrays)"
        )
    (d, t_size), _ = layout
    y0, t, args = unpack(z, layout)
    p = z[d + t_size :]
    n_p = p.size
    options = dict(options)

    def augmented(state, tt):
        y, adj = state[:d], state[d : 2 * d]
        dy, gy, gt, gp = _dynamics_vjp(func, layout, y, tt, p, -adj)
        return np.concatenate([dy, gy, np.reshape(gt, (1,)), gp])

    adj_y = np.array(g[-1], dtype=np.float64)
    adj_t0 = 0.0
    adj_p = np.zeros(n_p)
    time_grads = []
    for i in range(t_size - 1, 0, -1):
        # Moving t[i] moves the observation y(t[i]) along f.
        here = float(np.dot(np.ravel(func(ans[i], t[i], *args)), g[i]))
        time_grads.append(here)
        adj_t0 -= here
        state = np.concatenate([ans[i], adj_y, [adj_t0], adj_p])
        back = si.odeint(augmented, state, np.array([t[i], t[i - 1]]), **options)[1]
        adj_y = back[d : 2 * d] + g[i - 1]
        adj_t0 = back[2 * d]
        adj_p = back[2 * d + 1 :]
    time_grads.append(adj_t0)
    return np.concatenate([adj_y, np.array(time_grads[::-1]), adj_p]).astype(z.dtype)


def _per_example_vjp(g, ans, z, func, layout, options):
    """Inside ``cr.vmap(cr.grad(...))`` the gradient arrives batched: the adjoint is
    integrated once per example (as the forward was, see batch_rules_scipy), on
    arrays, and the results come back batched like ``g``."""
    from chainrule.batching.batched import batched_like, physical_array

    inner = g.value
    if inner._batched or inner._requires_grad:
        raise NotImplementedError(
            "odeint: inside nested vmap, or under a second derivative, its adjoint is not "
            "supported (the adjoint rule integrates with SciPy, on arrays)"
        )
    gs = physical_array(g)

    def example(x, b):
        return physical_array(x)[b] if getattr(x, "_batched", False) else np.asarray(x)

    rows = [
        _odeint_vjp(gs[b], example(ans, b), example(z, b), func, layout, options)
        for b in range(gs.shape[0])
    ]
    return batched_like(g, np.stack(rows))


def _no_forward_mode(t, ans, *args, **params):
    raise NotImplementedError(
        "odeint: forward mode (jvp) is not supported; use reverse mode (grad, vjp)"
    )


odeint = Primitive(
    "odeint",
    _forward,
    vjp=_odeint_vjp,
    jvp=_no_forward_mode,
    formula="adjoint ODE",
    saves_ans=True,
    doc="y at the times t of dy/dt = func(y, t, *args) (y0, t and args packed in one vector).",
)
