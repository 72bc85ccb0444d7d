"""HIPS autograd's top-level names, on chainrule's transforms (:mod:`chainrule.func`).

Same signatures and return conventions as ``autograd``: ``argnum`` picks the
argument (an int, or a tuple for several), and the curried ``make_*`` forms
return what autograd's do (``make_vjp(f)(x)`` is ``(vjp_fn, f(x))``,
``make_jvp(f)(x)(v)`` is ``(f(x), J v)``). Results are of the input's kind, as
for every transform: NumPy arrays in, NumPy arrays out.

``holomorphic_grad`` follows autograd's complex convention (docs/reference/complex.md).
Left out: the internals (``Box``, ``VSpace``, ``trace``).

>>> import numpy as np
>>> import chainrule as cr
>>> cr.elementwise_grad(lambda x: x ** 3)(np.array([1.0, 2.0]))
array([ 3., 12.])
"""

from __future__ import annotations

import inspect
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import chainrule.numpy as cnp
from chainrule import tree
from chainrule.autograd.function import Function
from chainrule.autograd.grad_mode import enable_grad, grad_enabled
from chainrule.func import grad, jacobian, jvp, vjp
from chainrule.tensor import Tensor

__all__ = [
    "checkpoint",
    "elementwise_grad",
    "grad_named",
    "hessian_tensor_product",
    "hessian_vector_product",
    "holomorphic_grad",
    "make_hvp",
    "make_jvp",
    "make_vjp",
    "multigrad_dict",
    "tensor_jacobian_product",
    "vector_jacobian_product",
]

ArgNum = int | Sequence[int]


def _with(args: tuple, argnum: ArgNum, x: Any) -> list:
    """``args`` with the argument(s) at ``argnum`` replaced by ``x``."""
    out = list(args)
    if isinstance(argnum, int):
        out[argnum] = x
    else:
        for i, v in zip(argnum, x):
            out[i] = v
    return out


def _picked(args: tuple, argnum: ArgNum) -> Any:
    if isinstance(argnum, int):
        return args[argnum]
    return tuple(args[i] for i in argnum)


def _unary(fun: Callable[..., Any], args: tuple, kwargs: dict, argnum: ArgNum) -> Callable:
    """``fun`` as a function of the argument(s) at ``argnum`` alone."""
    return lambda x: fun(*_with(args, argnum, x), **kwargs)


def _check_argnum(argnum: Any, where: str) -> None:
    if not isinstance(argnum, int | tuple | list):
        raise TypeError(f"{where}: argnum must be an int or a tuple of ints, got {argnum!r}")


def make_vjp(fun: Callable[..., Any], argnum: ArgNum = 0) -> Callable[..., Any]:
    """``make_vjp(fun, argnum)(*args)`` is ``(vjp_fn, fun(*args))``; ``vjp_fn(g)`` is
    ``g^T J`` in the structure of the argument(s) at ``argnum``.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> vjp_fn, ans = cr.make_vjp(lambda x: x ** 2)(np.array([1.0, 2.0]))
    >>> ans, vjp_fn(np.ones(2))
    (array([1., 4.]), array([2., 4.]))
    """
    _check_argnum(argnum, "make_vjp")

    def make(*args: Any, **kwargs: Any) -> tuple[Callable[[Any], Any], Any]:
        ans, vjp_fn = vjp(_unary(fun, args, kwargs, argnum), _picked(args, argnum))
        return (lambda g: vjp_fn(g)[0]), ans

    return make


def make_jvp(fun: Callable[..., Any], argnum: ArgNum = 0) -> Callable[..., Any]:
    """``make_jvp(fun, argnum)(*args)(v)`` is ``(fun(*args), J v)``, by forward mode.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> cr.make_jvp(lambda x: x ** 2)(np.array([1.0, 2.0]))(np.array([1.0, 0.0]))
    (array([1., 4.]), array([2., 0.]))
    """
    _check_argnum(argnum, "make_jvp")

    def make(*args: Any, **kwargs: Any) -> Callable[[Any], tuple[Any, Any]]:
        unary = _unary(fun, args, kwargs, argnum)
        x = _picked(args, argnum)
        return lambda v: jvp(unary, (x,), (v,))

    return make


def elementwise_grad(fun: Callable[..., Any], argnum: ArgNum = 0) -> Callable[..., Any]:
    """The sum of each column of the Jacobian (one reverse pass with a cotangent of
    ones): the derivative of each element when ``fun`` acts elementwise.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> import chainrule.numpy as cnp
    >>> cr.elementwise_grad(cnp.tanh)(np.array([0.0, 1.0]))  # 1 - tanh(x)**2, per element
    array([1.        , 0.41997434])
    """
    _check_argnum(argnum, "elementwise_grad")

    def elementwise_grad_f(*args: Any, **kwargs: Any) -> Any:
        ans, vjp_fn = vjp(_unary(fun, args, kwargs, argnum), _picked(args, argnum))
        return vjp_fn(tree.map(_ones_like, ans))[0]

    return elementwise_grad_f


def holomorphic_grad(fun: Callable[..., Any], argnum: ArgNum = 0) -> Callable[..., Any]:
    """The complex derivative ``f'(z)`` of a holomorphic, scalar-valued ``fun``: the
    gradient of ``real(fun)``, which under autograd's
    convention is ``f'(z)`` by the Cauchy-Riemann equations. A real input gives a
    warning, as in autograd (the derivative along the real axis only).

    >>> import chainrule as cr, chainrule.numpy as np
    >>> complex(cr.holomorphic_grad(lambda z: z ** 3)(1.0 + 1.0j))
    6j
    """
    _check_argnum(argnum, "holomorphic_grad")
    real_grad = grad(lambda *args, **kwargs: cnp.real(fun(*args, **kwargs)), argnum)

    def holomorphic_grad_f(*args: Any, **kwargs: Any) -> Any:
        for leaf in tree.leaves(_picked(args, argnum)):
            if np.asarray(leaf.data if isinstance(leaf, Tensor) else leaf).dtype.kind != "c":
                warnings.warn("Input to holomorphic_grad is not complex", stacklevel=2)
                break
        return real_grad(*args, **kwargs)

    holomorphic_grad_f.__name__ = f"holomorphic_grad({getattr(fun, '__name__', 'f')})"
    return holomorphic_grad_f


def _ones_like(a: Any) -> Any:
    return np.ones(np.shape(a.data if isinstance(a, Tensor) else a))


def grad_named(fun: Callable[..., Any], argname: str) -> Callable[..., Any]:
    """The gradient of ``fun`` with respect to its parameter named ``argname``
    (passed positionally; not ``*args`` or ``**kwargs``).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> def loss(w, b):
    ...     return (w ** 2).sum() * b
    >>> cr.grad_named(loss, "b")(np.ones(2), 3.0)
    np.float64(2.0)
    """
    names = [
        p.name
        for p in inspect.signature(fun).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if argname not in names:
        raise ValueError(f"grad_named: {getattr(fun, '__name__', fun)} has no argument {argname!r}")
    return grad(fun, names.index(argname))


def multigrad_dict(fun: Callable[..., Any]) -> Callable[..., OrderedDict]:
    """Gradients with respect to every argument at once, as an ``OrderedDict`` from
    parameter name to gradient (defaults included; ``*args`` gives a tuple,
    ``**kwargs`` a dict).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> def loss(w, b, scale=2.0):
    ...     return scale * (w ** 2).sum() + b
    >>> cr.multigrad_dict(loss)(np.ones(2), 1.0)
    OrderedDict([('w', array([4., 4.])), ('b', np.float64(1.0)), ('scale', np.float64(2.0))])
    """
    sig = inspect.signature(fun)
    params = sig.parameters

    def gradfun(*args: Any, **kwargs: Any) -> OrderedDict:
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)

        def call(d: dict) -> Any:
            pos: list = []
            kw: dict = {}
            for name, p in params.items():
                if p.kind is p.VAR_POSITIONAL:
                    pos.extend(d[name])
                elif p.kind is p.VAR_KEYWORD:
                    kw.update(d[name])
                elif p.kind is p.KEYWORD_ONLY:
                    kw[name] = d[name]
                else:
                    pos.append(d[name])
            return fun(*pos, **kw)

        grads = grad(call)(values)
        return OrderedDict((name, grads[name]) for name in values)

    return gradfun


def make_hvp(fun: Callable[..., Any], argnum: ArgNum = 0) -> Callable[..., Any]:
    """``make_hvp(fun, argnum)(*args)`` is ``(hvp_fn, gradient)``: ``hvp_fn(v)`` is the
    Hessian-vector product at ``args``, the forward pass done once for many ``v``.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> hvp_fn, gradient = cr.make_hvp(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))
    >>> gradient, hvp_fn(np.array([1.0, 0.0]))
    (array([ 3., 12.]), array([6., 0.]))
    """
    return make_vjp(grad(fun, argnum), argnum)


def _contract(a: Any, b: Any, axes: int) -> Any:
    """``tensordot(a, b, axes)`` on Tensors or arrays (chainrule.numpy's, recorded)."""
    return cnp.tensordot(a, b, axes)


def hessian_tensor_product(fun: Callable[..., Any], argnum: int = 0) -> Callable[..., Any]:
    """A function of ``(*args, tensor)``: the Hessian of ``fun`` (at ``args``, with
    respect to ``argnum``) contracted with ``tensor`` over all of its axes.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> hvp = cr.hessian_tensor_product(lambda x: (x ** 3).sum())
    >>> hvp(np.array([1.0, 2.0]), np.array([1.0, 1.0]))  # diag(6x) @ v
    array([ 6., 12.])
    """
    fun_grad = grad(fun, argnum)

    def tensor_dot_grad(*args: Any, **kwargs: Any) -> Any:
        *args, tensor = args
        return _contract(fun_grad(*args, **kwargs), tensor, np.ndim(tensor))

    return grad(tensor_dot_grad, argnum)


hessian_vector_product = hessian_tensor_product


def tensor_jacobian_product(fun: Callable[..., Any], argnum: int = 0) -> Callable[..., Any]:
    """A function of ``(*args, tensor)``: the Jacobian of ``fun`` left-multiplied by
    ``tensor`` (contracted over all of ``tensor``'s axes).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> vjp = cr.tensor_jacobian_product(lambda x: x ** 2)
    >>> vjp(np.array([1.0, 2.0]), np.array([1.0, 1.0]))  # v @ diag(2x)
    array([2., 4.])
    """

    def tensor_dot_fun(*args: Any, **kwargs: Any) -> Any:
        *args, tensor = args
        return _contract(tensor, fun(*args, **kwargs), np.ndim(tensor))

    return jacobian(tensor_dot_fun, argnum)


vector_jacobian_product = tensor_jacobian_product


# ---------------------------------------------------------------- checkpoint
class _Checkpoint(Function):
    """One call of a checkpointed function: the forward pass keeps nothing but its
    inputs; the backward pass runs the function again, recorded, and differentiates."""

    # Both passes are chainrule operations, so inside cr.vmap they run on the batch.
    generate_vmap_rule = True

    @staticmethod
    def forward(ctx: Any, fun: Callable, treedef: tree.TreeDef, kwargs: dict, *leaves: Any) -> Any:
        ctx.fun, ctx.treedef, ctx.kwargs = fun, treedef, kwargs
        ctx.save_for_backward(*leaves)
        args = tree.unflatten(treedef, leaves)
        out = fun(*args, **kwargs)
        if not isinstance(out, Tensor):
            raise TypeError(
                f"checkpoint: {getattr(fun, '__name__', 'the function')} must return one "
                f"array, got {type(out).__name__}"
            )
        return out

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple:
        leaves = ctx.saved_tensors
        if not grad_enabled():  # first order: recompute on fresh leaves, unrecorded
            leaves = [x.detach() if isinstance(x, Tensor) else x for x in leaves]
        with enable_grad():
            _, vjp_fn = vjp(
                lambda *ls: ctx.fun(*tree.unflatten(ctx.treedef, ls), **ctx.kwargs), *leaves
            )
            return (None, None, None, *vjp_fn(g))


def checkpoint(fun: Callable[..., Any]) -> Callable[..., Any]:
    """``fun`` whose intermediate values are not kept for the backward pass but
    computed again there: less memory for one more forward pass (arxiv 1604.06174).
    ``fun`` returns one array; its arguments may be pytrees of arrays.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> import chainrule.numpy as cnp
    >>> f = cr.checkpoint(lambda x: cnp.sin(x) ** 2)  # sin(x) is computed again in backward
    >>> cr.grad(lambda x: f(x).sum())(np.array([0.5]))  # 2 sin(x) cos(x) = sin(2x)
    array([0.84147098])
    """

    def checkpointed(*args: Any, **kwargs: Any) -> Any:
        leaves, treedef = tree.flatten(list(args))
        if not any(isinstance(x, Tensor) and x.requires_grad for x in leaves):
            return fun(*args, **kwargs)
        leaves = [x if isinstance(x, Tensor) else Tensor(np.asarray(x)) for x in leaves]
        return _Checkpoint.apply(fun, treedef, kwargs, *leaves)

    checkpointed.__name__ = f"checkpoint({getattr(fun, '__name__', 'f')})"
    return checkpointed
