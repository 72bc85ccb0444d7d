"""Function transforms, with JAX's names and semantics.

``grad``, ``value_and_grad``, ``vjp`` and ``jacobian`` run reverse mode (the
backward engine); ``jvp``, ``jacfwd`` run forward mode (tangents pushed by the
JVP rules); ``hessian`` is forward over reverse and ``hvp`` is ``jvp`` of ``grad``.
They compose to any depth: ``cr.grad(cr.grad(cr.grad(f)))``.

Inputs may be Tensors, NumPy arrays or Python numbers; results are Tensors.
Differentiated inputs must be floating point. When an input already requires
grad (it comes from an enclosing transform, or the caller wants to differentiate
the result again), the transform records its own derivative computation so the
result stays differentiable; otherwise it computes on plain arrays, which is faster.

>>> import chainrule as cr
>>> d3 = cr.grad(cr.grad(cr.grad(cr.sin)))
>>> round(d3(0.0).item(), 6)
-1.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.engine import grad as _autograd_grad
from chainrule.autograd.forward import ForwardPlan
from chainrule.autograd.grad_mode import enable_grad
from chainrule.functions import stack
from chainrule.tensor import Tensor, _wrap, active_tracer, check_differentiable_dtype

ArgNums = int | Sequence[int]


# ------------------------------------------------------------------- helpers
def _argnums(argnums: ArgNums, nargs: int, where: str) -> tuple[tuple[int, ...], bool]:
    single = isinstance(argnums, int | np.integer)
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    if not nums:
        raise ValueError(f"{where}: argnums is empty")
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{where}: argnums {a} is out of range for {nargs} positional args")
    return tuple(a % nargs for a in nums), single


def _leaf(x: Any, where: str) -> tuple[Tensor, bool]:
    """A tensor to differentiate with respect to, and whether it was already
    part of a graph (then it is used as is, so the enclosing graph stays connected)."""
    if isinstance(x, Tensor):
        if x.requires_grad:
            return x, True
        data = x.data
    else:
        data = np.asarray(x)
    check_differentiable_dtype(data.dtype, f"input to {where}")
    return Tensor(data, requires_grad=True), False


def _prepare(args: tuple, nums: tuple[int, ...], where: str) -> tuple[list, list[Tensor], bool]:
    call_args = list(args)
    xs = []
    outer = False
    for a in nums:
        x, attached = _leaf(args[a], where)
        call_args[a] = x
        xs.append(x)
        outer = outer or attached
    return call_args, xs, outer


def _outputs(result: Any, where: str) -> tuple[list[Tensor], bool]:
    """The function's outputs as Tensors, and whether it returned a tuple/list."""
    many = isinstance(result, tuple | list)
    outs = list(result) if many else [result]
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            if isinstance(o, np.ndarray | float | int | np.number):
                outs[i] = _wrap(np.asarray(o), None)
            else:
                raise TypeError(f"{where}: the function must return Tensors, got {type(o)}")
    return outs, many


def _tensor(g: Any, like: Tensor) -> Tensor:
    if g is None:
        return _wrap(np.zeros_like(like.data), None)
    if isinstance(g, Tensor):
        return g
    return _wrap(np.array(g, dtype=like.dtype), None)


def _result(out: Tensor, outer: bool) -> Tensor:
    return out if outer else out.detach()


def _cotangent(ct: Any, out: Tensor, where: str) -> Any:
    if isinstance(ct, Tensor) and ct.requires_grad:
        if ct.shape != out.shape:
            raise ValueError(f"{where}: cotangent shape {ct.shape} != output shape {out.shape}")
        return ct
    arr = np.asarray(ct.data if isinstance(ct, Tensor) else ct, dtype=out.dtype)
    if arr.shape != out.shape:
        raise ValueError(f"{where}: cotangent shape {arr.shape} != output shape {out.shape}")
    return arr


# ---------------------------------------------------------------- reverse mode
def value_and_grad(
    f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function returning ``(f(*args), grad of f)``; ``f`` must return a scalar.

    With ``has_aux=True``, ``f`` returns ``(scalar, aux)`` and the result is
    ``((value, aux), grad)``.
    """

    def value_and_grad_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = _argnums(argnums, len(args), "grad")
        call_args, xs, outer = _prepare(args, nums, "grad")
        with enable_grad():
            result = f(*call_args, **kwargs)
        aux = None
        if has_aux:
            if not (isinstance(result, tuple | list) and len(result) == 2):
                raise TypeError("grad(has_aux=True): f must return a pair (output, aux)")
            result, aux = result
        (out,), _ = _outputs((result,), "grad")
        if out.size != 1:
            raise TypeError(
                f"grad: f must return a scalar (one element), got shape {out.shape}; "
                "use cr.vjp or cr.jacobian for non-scalar outputs"
            )
        if out.requires_grad:
            found = _autograd_grad(
                out, xs, create_graph=outer, allow_unused=True, retain_graph=outer
            )
        else:
            found = (None,) * len(xs)
        grads = tuple(_tensor(g, x) for g, x in zip(found, xs))
        value = _result(out, outer)
        if has_aux:
            value = (value, aux)
        return value, (grads[0] if single else grads)

    value_and_grad_f.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    return value_and_grad_f


def grad(f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False) -> Callable[..., Any]:
    """The gradient of scalar-valued ``f`` with respect to argument(s) ``argnums``.

    >>> import chainrule as cr
    >>> cr.grad(lambda x: (x ** 3).sum())(cr.tensor([1.0, 2.0]))
    tensor([ 3., 12.])
    """
    vg = value_and_grad(f, argnums, has_aux)

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    grad_f.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    return grad_f


def vjp(f: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., tuple[Tensor, ...]]]:
    """``(f(*primals), vjp_fn)``; ``vjp_fn(cotangent)`` gives ``cotangent^T J`` per primal.

    ``vjp_fn`` may be called many times; it is differentiable with respect to
    the primals and to its cotangent.
    """
    if not primals:
        raise TypeError("vjp: give at least one primal")
    call_args, xs, outer = _prepare(primals, tuple(range(len(primals))), "vjp")
    with enable_grad():
        result = f(*call_args)
    outs, many = _outputs(result, "vjp")

    def vjp_fn(cotangent: Any) -> tuple[Tensor, ...]:
        cts = list(cotangent) if many else [cotangent]
        if len(cts) != len(outs):
            raise ValueError(f"vjp: {len(outs)} outputs but {len(cts)} cotangents")
        roots, seeds = [], []
        recorded = outer
        for o, ct in zip(outs, cts):
            seed = _cotangent(ct, o, "vjp")
            recorded = recorded or isinstance(seed, Tensor)
            if o.requires_grad:
                roots.append(o)
                seeds.append(seed)
        if not roots:
            return tuple(_tensor(None, x) for x in xs)
        found = _autograd_grad(
            roots, xs, seeds, retain_graph=True, create_graph=recorded, allow_unused=True
        )
        return tuple(_tensor(g, x) for g, x in zip(found, xs))

    value = [_result(o, outer) for o in outs]
    return (tuple(value) if many else value[0]), vjp_fn


def jacobian(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """The Jacobian of ``f`` by reverse mode, one backward pass per output element.

    The result has shape ``output.shape + input.shape`` (a tuple over ``argnums``
    when it is a tuple, and over outputs when ``f`` returns several).
    """

    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = _argnums(argnums, len(args), "jacobian")
        call_args, xs, outer = _prepare(args, nums, "jacobian")
        with enable_grad():
            result = f(*call_args, **kwargs)
        outs, many = _outputs(result, "jacobian")
        per_output = []
        for out in outs:
            rows: list[list[Any]] = [[] for _ in xs]
            for r in range(out.size):
                if out.requires_grad:
                    seed = np.zeros(out.size, dtype=out.dtype)
                    seed[r] = 1
                    found = _autograd_grad(
                        out,
                        xs,
                        seed.reshape(out.shape),
                        retain_graph=True,
                        create_graph=outer,
                        allow_unused=True,
                    )
                else:
                    found = (None,) * len(xs)
                for j, (g, x) in enumerate(zip(found, xs)):
                    rows[j].append(_tensor(g, x))
            jacs = tuple(_assemble(rows[j], out.shape, x.shape, outer) for j, x in enumerate(xs))
            per_output.append(jacs[0] if single else jacs)
        return tuple(per_output) if many else per_output[0]

    return jacobian_f


def _assemble(parts: list[Tensor], first: tuple, second: tuple, recorded: bool) -> Tensor:
    """Rows (or columns) of a Jacobian into one tensor of shape ``first + second``."""
    if not parts:
        return _wrap(np.zeros(first + second), None)
    if recorded:
        return stack(parts).reshape(first + second)
    return _wrap(np.stack([p.data for p in parts]).reshape(first + second), None)


# ---------------------------------------------------------------- forward mode
def _tangents(tangents: Sequence[Any], xs: list[Tensor]) -> tuple[list[Any], bool]:
    if len(tangents) != len(xs):
        raise ValueError(f"jvp: {len(xs)} primals but {len(tangents)} tangents")
    out = []
    recorded = False
    for t, x in zip(tangents, xs):
        if isinstance(t, Tensor) and t.requires_grad:
            recorded = True
            arr = t
        else:
            arr = np.asarray(t.data if isinstance(t, Tensor) else t, dtype=x.dtype)
        if arr.shape != x.shape:
            raise ValueError(f"jvp: tangent shape {arr.shape} != primal shape {x.shape}")
        out.append(arr)
    return out, recorded


def jvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """``(f(*primals), J @ tangents)`` by forward mode (the JVP rules, no reverse pass).

    Differentiable with respect to the primals and the tangents.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    call_args, xs, outer = _prepare(primals, tuple(range(len(primals))), "jvp")
    ts, recorded = _tangents(tangents, xs)
    with enable_grad():
        result = f(*call_args)
    outs, many = _outputs(result, "jvp")
    plan = ForwardPlan(outs, xs)
    pushed = plan.push(ts, create_graph=outer or recorded)
    tangent_out = [_tensor(t, o) for t, o in zip(pushed, outs)]
    value = [_result(o, outer) for o in outs]
    if many:
        return tuple(value), tuple(tangent_out)
    return value[0], tangent_out[0]


def jacfwd(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """The Jacobian of ``f`` by forward mode, one tangent per input element.

    Same shapes as :func:`jacobian`. The function runs once; every tangent is
    pushed through the one recorded graph.
    """

    def jacfwd_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = _argnums(argnums, len(args), "jacfwd")
        call_args, xs, outer = _prepare(args, nums, "jacfwd")
        with enable_grad():
            result = f(*call_args, **kwargs)
        outs, many = _outputs(result, "jacfwd")
        plan = ForwardPlan(outs, xs)
        # Under cr.jit the stacked push is traced too (recorded), as one program.
        traced = active_tracer() is not None
        if not outer or traced:
            # One push of a stack of unit tangents per input: all columns at once.
            per_output = [[] for _ in outs]
            for j, x in enumerate(xs):
                ts: list[Any] = [None] * len(xs)
                ts[j] = np.eye(x.size, dtype=x.dtype).reshape((x.size, *x.shape))
                for k, (t, o) in enumerate(zip(plan.push_batch(ts, traced), outs)):
                    if t is None:
                        t = np.zeros((x.size, *o.shape), dtype=o.dtype)
                    if isinstance(t, Tensor):
                        jac = t.reshape((*x.shape, *o.shape)).transpose(_swap(x.ndim, o.ndim))
                        per_output[k].append(jac)
                        continue
                    jac = np.asarray(t).reshape((*x.shape, *o.shape))
                    jac = jac.transpose(_swap(x.ndim, o.ndim))
                    per_output[k].append(_wrap(np.ascontiguousarray(jac), None))
            results = [p[0] if single else tuple(p) for p in per_output]
            return tuple(results) if many else results[0]
        columns: list[list[list[Tensor]]] = [[[] for _ in xs] for _ in outs]
        for j, x in enumerate(xs):
            for e in range(x.size):
                ts: list[Any] = [None] * len(xs)
                unit = np.zeros(x.size, dtype=x.dtype)
                unit[e] = 1
                ts[j] = unit.reshape(x.shape)
                for k, (t, o) in enumerate(zip(plan.push(ts, create_graph=outer), outs)):
                    columns[k][j].append(_tensor(t, o))
        per_output = []
        for k, o in enumerate(outs):
            jacs = tuple(
                _assemble(columns[k][j], x.shape, o.shape, outer).transpose(_swap(x.ndim, o.ndim))
                for j, x in enumerate(xs)
            )
            per_output.append(jacs[0] if single else jacs)
        return tuple(per_output) if many else per_output[0]

    return jacfwd_f


def _swap(in_ndim: int, out_ndim: int) -> tuple[int, ...]:
    """Axes that turn ``input.shape + output.shape`` into ``output.shape + input.shape``."""
    return tuple(range(in_ndim, in_ndim + out_ndim)) + tuple(range(in_ndim))


def hessian(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """The Hessian of scalar ``f``: forward mode over reverse mode (``jacfwd(grad(f))``).

    Shape ``input.shape + input.shape``.
    """
    return jacfwd(grad(f, argnums), argnums)


def hvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
    """Hessian-vector product of scalar ``f`` at ``primals`` with ``tangents``, without
    forming the Hessian: the JVP of the gradient (forward over reverse).

    Returns a Tensor for one primal, a tuple for several.
    """
    primals = tuple(primals)
    nums = 0 if len(primals) == 1 else tuple(range(len(primals)))
    return jvp(grad(f, nums), primals, tangents)[1]
