"""Function transforms, with JAX's names and semantics.

``grad``, ``value_and_grad``, ``vjp`` and ``jacobian`` run reverse mode (the
backward engine); ``jvp``, ``jacfwd`` run forward mode (tangents pushed by the
JVP rules); ``hessian`` is forward over reverse and ``hvp`` is ``jvp`` of ``grad``.
They compose to any depth: ``cr.grad(cr.grad(cr.grad(f)))``.

Arguments and results may be pytrees (:mod:`chainrule.tree`): nested lists,
tuples, named tuples and dicts of Tensors, NumPy arrays and numbers; gradients
come back in the structure of their argument. Differentiated leaves must be
floating point, real or complex (complex gradients follow HIPS autograd's
convention: docs/reference/complex.md).

Results are of the input's kind: when no differentiated leaf is a Tensor (NumPy
arrays and Python numbers, as HIPS autograd is called), results are NumPy arrays,
a gradient of a number or NumPy scalar being a NumPy scalar (``np.float64`` is a
``float``); when one is a Tensor, results are Tensors. Inside another transform
(grad of grad, a transform under ``cr.jit``) results stay Tensors recorded in the
enclosing graph, so only the outermost call converts.

When an input already requires grad, or the call is nested in another
transform, the transform records its own derivative computation so the result
stays differentiable; otherwise it computes on plain arrays, which is faster.

>>> import chainrule as cr
>>> d3 = cr.grad(cr.grad(cr.grad(cr.sin)))
>>> float(d3(0.0))
-1.0
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from math import prod
from typing import Any

import numpy as np

from chainrule import tree
from chainrule.autograd.engine import gradients as _autograd_grad
from chainrule.autograd.forward import ForwardPlan
from chainrule.autograd.grad_mode import enable_grad, grad_enabled
from chainrule.autograd.rebinding import (
    check_results,
    close_call,
    open_call,
    rebinds,
    reset_rebinds,
    set_rebinds,
)
from chainrule.functions import stack
from chainrule.ops.shape import reshape as _reshape
from chainrule.tensor import Tensor, _wrap, active_tracer, apply, check_differentiable_dtype

ArgNums = int | Sequence[int]

# How many transforms are running their function on this thread: a transform
# called inside another one keeps its results as recorded Tensors.
_state = threading.local()


def running_transforms() -> int:
    """How many transforms are running their function on this thread (0: none)."""
    return getattr(_state, "depth", 0)


def outside_transforms(f: Callable[..., Any], *args: Any) -> Any:
    """``f(*args)`` as if no transform were running: transforms called inside take
    NumPy in, give NumPy out and record nothing for the running one. For a rule
    that computes on plain values and whose own derivative is given separately
    (``chainrule.misc.fixed_points``): recording its inner passes would be work
    nothing reads."""
    depth = getattr(_state, "depth", 0)
    _state.depth = 0
    try:
        return f(*args)
    finally:
        _state.depth = depth


# ------------------------------------------------------------------- helpers
def _argnums(argnums: ArgNums, nargs: int, where: str) -> tuple[tuple[int, ...], bool]:
    single = isinstance(argnums, int | np.integer)
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    if not nums:
        raise ValueError(f"{where}: argnums is empty")
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{where}: argnums {a} is out of range for {nargs} positional args")
    nums = tuple(a % nargs for a in nums)
    if len(set(nums)) != len(nums):
        # Each position becomes one leaf to differentiate; a second would replace the
        # first, whose gradient would come back as zeros.
        raise ValueError(f"{where}: argnums {tuple(argnums)} names an argument twice")
    return nums, single


def _pick_argnums(argnums: ArgNums | None, argnum: ArgNums | None, where: str) -> ArgNums:
    """``argnum`` (HIPS autograd's spelling) is an alias of ``argnums``."""
    if argnum is None:
        return 0 if argnums is None else argnums
    if argnums is not None:
        raise TypeError(f"{where}: give argnums or its alias argnum, not both")
    return argnum


def _leaf(x: Any, where: str) -> tuple[Tensor, bool]:
    """A tensor to differentiate with respect to, and whether it was already
    part of a graph (then the enclosing graph stays connected through it)."""
    if isinstance(x, Tensor):
        if x.requires_grad and grad_enabled():
            # A new node standing for x (a reshape to its own shape: a view, no copy).
            # The derivative is taken with respect to this argument only: values the
            # function closes over that depend on x are constants here, as in JAX,
            # torch.func and HIPS autograd. Differentiating with respect to x itself
            # would also follow those paths (a wrong number for grad of a function
            # that calls grad on a closure, with no error).
            return apply(_reshape, (x,), {"shape": x.shape}), True
        if x._batched:  # inside cr.vmap: a leaf of the same batch
            from chainrule.batching.batched import fresh_leaf  # loaded by cr.vmap

            return fresh_leaf(x), False
        data = x.data
    else:
        data = np.asarray(x)
    check_differentiable_dtype(data.dtype, f"input to {where}")
    return Tensor(data, requires_grad=True), False


class _Inputs:
    """The differentiated arguments of one call: their leaves as Tensors, where
    each argument's leaves start, and what kind of results the call gives."""

    __slots__ = (
        "call_args",
        "xs",
        "scalar",
        "defs",
        "record",
        "numpy",
        "rebinds",
        "depth",
        "tracer",
        "differentiated",
    )

    def __init__(self, args: Sequence[Any], nums: tuple[int, ...], where: str) -> None:
        self.call_args = list(args)
        self.xs: list[Tensor] = []
        self.scalar: list[bool] = []  # per leaf: a number or NumPy scalar (not an array)
        self.defs: list[tree.TreeDef] = []
        self.depth = getattr(_state, "depth", 0)
        # Under cr.jit every input is a traced Tensor; the tracer says which stand
        # for NumPy arrays, and hears which results would have been converted.
        self.tracer = active_tracer()
        arrays = self.tracer.array_inputs if self.tracer is not None else None
        attached = False
        # Attached by the caller's own graph: jit marks its traced inputs as requiring
        # grad so that the backward pass records (see Tracer.grad_only_for_tracing);
        # those alone do not make the gradients something anyone can differentiate.
        by_caller = False
        synthetic = self.tracer.grad_only_for_tracing if self.tracer is not None else ()
        any_tensor = False
        for a in nums:
            flat, treedef = tree.flatten(args[a])
            leaves = []
            for leaf in flat:
                x, was_attached = _leaf(leaf, where)
                attached = attached or was_attached
                by_caller = by_caller or (was_attached and id(leaf) not in synthetic)
                if isinstance(leaf, Tensor):
                    stands_for = arrays.get(id(leaf)) if arrays is not None else None
                    any_tensor = any_tensor or stands_for is None
                    self.scalar.append(bool(stands_for))
                else:
                    self.scalar.append(not isinstance(leaf, np.ndarray))
                leaves.append(x)
            self.xs.extend(leaves)
            self.defs.append(treedef)
            single_leaf = treedef.kind == "leaf"
            self.call_args[a] = leaves[0] if single_leaf else tree.unflatten(treedef, leaves)
        self.numpy = not any_tensor and self.depth == 0
        self.record = attached or self.depth > 0
        # Whether the gradients may be differentiated (what ``record`` would be without
        # jit): when not, a recorded backward pass is recorded only to be traced.
        self.differentiated = by_caller or self.depth > 0
        # Called as HIPS autograd is (NumPy in), ``t -= x`` means autograd's rebinding
        # (chainrule.autograd.rebinding); a nested transform keeps the outer one's meaning.
        self.rebinds = self.numpy or (self.depth > 0 and rebinds())

    def convert(self, t: Tensor, scalar: bool) -> Any:
        """A result as NumPy: an array, or a NumPy scalar (traced: a note for jit)."""
        if self.tracer is not None:
            self.tracer.array_results[id(t)] = scalar
            return t
        arr = t.data
        return arr[()] if scalar else arr

    def value(self, out: Tensor) -> Any:
        """A function output as the transform returns it."""
        if self.numpy:
            return self.convert(out, out.ndim == 0)
        return out if self.record else out.detach()

    def plain(self, t: Tensor) -> Any:
        """A Jacobian block or a tangent as the transform returns it (0-d stays an array)."""
        return self.convert(t, False) if self.numpy else t

    def aux(self, aux: Any) -> Any:
        if not self.numpy:
            return aux
        flat, treedef = tree.flatten(aux)
        flat = [self.value(a) if isinstance(a, Tensor) else a for a in flat]
        return tree.unflatten(treedef, flat)

    def call(self, f: Callable[..., Any], kwargs: dict) -> Any:
        _state.depth = self.depth + 1
        token = set_rebinds(self.rebinds)
        record = open_call() if self.rebinds else None
        try:
            with enable_grad():
                result = f(*self.call_args, **kwargs)
            if record is not None:
                check_results(tree.leaves(result))
            return result
        finally:
            if record is not None:
                close_call(record)
            reset_rebinds(token)
            _state.depth = self.depth

    def grads(self, flat: Sequence[Any], single: bool) -> Any:
        """Per-leaf gradients (None: zero) regrouped into the arguments' structures."""
        out = [_tensor(g, x) for g, x in zip(flat, self.xs)]
        if self.numpy:
            # A number's or NumPy scalar's gradient is a NumPy scalar, as in HIPS autograd.
            out = [self.convert(g, scalar) for g, scalar in zip(out, self.scalar)]
        return self.regroup(out, single)

    def regroup(self, flat: list, single: bool) -> Any:
        trees = []
        start = 0
        for d in self.defs:
            trees.append(tree.unflatten(d, flat[start : start + d.num_leaves]))
            start += d.num_leaves
        return trees[0] if single else tuple(trees)


def _outputs(result: Any, where: str) -> tuple[list[Tensor], tree.TreeDef]:
    """The function's output leaves as Tensors, and the output's structure."""
    outs, treedef = tree.flatten(result)
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            if isinstance(o, np.ndarray | float | int | np.number):
                outs[i] = _wrap(np.asarray(o), None)
            else:
                raise TypeError(
                    f"{where}: the function must return Tensors, arrays or numbers "
                    f"(or lists, tuples, dicts of them), got {type(o).__name__}"
                )
    return outs, treedef


def _tensor(g: Any, like: Tensor) -> Tensor:
    if g is None:
        return _wrap(np.zeros(like.shape, dtype=like.dtype), None)
    if isinstance(g, Tensor):
        return g
    return _wrap(np.array(g, dtype=like.dtype), None)


def _cotangent(ct: Any, out: Tensor, where: str) -> Any:
    if isinstance(ct, Tensor) and (ct.requires_grad or ct._batched):
        if ct.shape != out.shape:
            raise ValueError(f"{where}: cotangent shape {ct.shape} != output shape {out.shape}")
        return ct
    arr = np.asarray(ct.data if isinstance(ct, Tensor) else ct, dtype=out.dtype)
    if arr.shape != out.shape:
        raise ValueError(f"{where}: cotangent shape {arr.shape} != output shape {out.shape}")
    return arr


# ---------------------------------------------------------------- reverse mode
def value_and_grad(
    f: Callable[..., Any],
    argnums: ArgNums | None = None,
    has_aux: bool = False,
    *,
    argnum: ArgNums | None = None,
) -> Callable[..., Any]:
    """A function returning ``(f(*args), grad of f)``; ``f`` must return a scalar.

    ``argnums`` (default 0; ``argnum`` is an alias) picks the arguments, each a
    pytree. With ``has_aux=True``, ``f`` returns ``(scalar, aux)`` and the result
    is ``((value, aux), grad)``.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> cr.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 2.0]))
    (np.float64(5.0), array([2., 4.]))
    >>> f = lambda x: ((x ** 2).sum(), x.max())
    >>> cr.value_and_grad(f, has_aux=True)(np.array([1.0, 2.0]))
    ((np.float64(5.0), np.float64(2.0)), array([2., 4.]))
    """
    argnums = _pick_argnums(argnums, argnum, "grad")

    def value_and_grad_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = _argnums(argnums, len(args), "grad")
        inputs = _Inputs(args, nums, "grad")
        result = inputs.call(f, kwargs)
        aux = None
        if has_aux:
            if not (isinstance(result, tuple | list) and len(result) == 2):
                raise TypeError("grad(has_aux=True): f must return a pair (output, aux)")
            result, aux = result
        if isinstance(result, list | tuple | dict):
            raise TypeError(
                f"grad: f must return a scalar, got a {type(result).__name__}; "
                "use cr.vjp or cr.jacobian for structured outputs"
            )
        (out,), _ = _outputs(result, "grad")
        if prod(out.shape) != 1:  # not out.size: PyTorch's Size object, slower
            raise TypeError(
                f"grad: f must return a scalar (one element), got shape {out.shape}; "
                "use cr.vjp or cr.jacobian for non-scalar outputs"
            )
        if out.dtype.kind == "c":
            raise TypeError(
                "grad: f must return a real scalar, got a complex one; differentiate a real "
                "function of it (np.real, np.abs), or use holomorphic_grad for holomorphic f"
            )
        if out.requires_grad:
            found = _autograd_grad(
                out,
                inputs.xs,
                create_graph=inputs.record,
                allow_unused=True,
                retain_graph=inputs.record,
                differentiated=inputs.differentiated,
            )
            if inputs.record and not inputs.differentiated:  # as without jit: no graph
                found = [None if g is None else g.detach() for g in found]
        else:
            found = (None,) * len(inputs.xs)
        grads = inputs.grads(found, single)
        value = inputs.value(out)
        if has_aux:
            value = (value, inputs.aux(aux))
        return value, grads

    value_and_grad_f.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    return value_and_grad_f


def grad(
    f: Callable[..., Any],
    argnums: ArgNums | None = None,
    has_aux: bool = False,
    *,
    argnum: ArgNums | None = None,
) -> Callable[..., Any]:
    """The gradient of scalar-valued ``f`` with respect to argument(s) ``argnums``
    (default 0; ``argnum`` is an alias), in the structure of the argument.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> cr.grad(lambda x: (x ** 3).sum())(cr.tensor([1.0, 2.0]))
    tensor([ 3., 12.])
    >>> cr.grad(lambda p: (p["w"] ** 2).sum() * p["b"])({"w": np.ones(2), "b": 3.0})
    {'w': array([6., 6.]), 'b': np.float64(2.0)}
    """
    vg = value_and_grad(f, argnums, has_aux, argnum=argnum)

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    grad_f.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    return grad_f


def vjp(f: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., tuple[Any, ...]]]:
    """``(f(*primals), vjp_fn)``; ``vjp_fn(cotangent)`` gives ``cotangent^T J`` per primal.

    The cotangent has the structure of ``f``'s output; the result is a tuple with
    one entry per primal, each in that primal's structure. ``vjp_fn`` may be called
    many times; it is differentiable with respect to the primals and to its cotangent.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> out, vjp_fn = cr.vjp(lambda x: x * x, np.array([1.0, 2.0, 3.0]))
    >>> out
    array([1., 4., 9.])
    >>> vjp_fn(np.ones(3))
    (array([2., 4., 6.]),)
    """
    if not primals:
        raise TypeError("vjp: give at least one primal")
    inputs = _Inputs(primals, tuple(range(len(primals))), "vjp")
    result = inputs.call(f, {})
    outs, out_def = _outputs(result, "vjp")

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        cts, ct_def = tree.flatten(cotangent)
        if len(cts) != len(outs):
            raise ValueError(
                f"vjp: the output has structure {out_def} but the cotangent {ct_def} "
                f"({len(outs)} leaves, {len(cts)} given)"
            )
        roots, seeds = [], []
        recorded = inputs.record
        for o, ct in zip(outs, cts):
            seed = _cotangent(ct, o, "vjp")
            recorded = recorded or isinstance(seed, Tensor)
            if o.requires_grad:
                roots.append(o)
                seeds.append(seed)
        if not roots:
            return inputs.grads([None] * len(inputs.xs), False)
        found = _autograd_grad(
            roots, inputs.xs, seeds, retain_graph=True, create_graph=recorded, allow_unused=True
        )
        if recorded and not inputs.record:  # a recorded cotangent: the results stay Tensors
            return inputs.regroup([_tensor(g, x) for g, x in zip(found, inputs.xs)], False)
        return inputs.grads(found, False)

    value = [inputs.value(o) for o in outs]
    return tree.unflatten(out_def, value), vjp_fn


def jacobian(
    f: Callable[..., Any],
    argnums: ArgNums | None = None,
    *,
    argnum: ArgNums | None = None,
    holomorphic: bool = False,
) -> Callable[..., Any]:
    """The Jacobian of ``f`` by reverse mode: one backward pass, vmapped over the
    output's basis (``vmap`` of a VJP, as JAX's ``jacrev``).

    Each block has shape ``output.shape + input.shape``. For structured inputs and
    outputs, the result has the output's structure, each of its leaves holding
    the input's structure of blocks (a tuple over ``argnums`` when it is a tuple).

    Complex numbers, as JAX's ``jacrev``: complex outputs need
    ``holomorphic=True`` (then the inputs are complex and each block holds
    ``f'(z)``); without it they are refused, since a row could only hold the real
    part's derivative. A real-valued function of complex inputs gives gradients in
    :func:`grad`'s convention.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> cr.jacobian(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    argnums = _pick_argnums(argnums, argnum, "jacobian")

    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = _argnums(argnums, len(args), "jacobian")
        inputs = _Inputs(args, nums, "jacobian")
        xs = inputs.xs
        outs, out_def = _outputs(inputs.call(f, kwargs), "jacobian")
        _check_complex_jacobian(outs, xs, holomorphic)
        per_output = []
        for out in outs:
            blocks = _reverse_rows(out, xs)
            if not inputs.record:  # nothing encloses it: the graph of the rows is not kept
                blocks = [b.detach() for b in blocks]
            jacs = [
                inputs.plain(block.reshape((*out.shape, *x.shape))) for block, x in zip(blocks, xs)
            ]
            per_output.append(inputs.regroup(jacs, single))
        return tree.unflatten(out_def, per_output)

    return jacobian_f


def _first(ts: list[Tensor], complex_: bool) -> int | None:
    """The index of the first tensor that is complex (``complex_``) or real, else None."""
    return next((i for i, t in enumerate(ts) if (t.dtype.kind == "c") == complex_), None)


def _check_holomorphic_inputs(xs: list[Tensor], where: str, hint: str = "") -> None:
    real_in = _first(xs, False)
    if real_in is not None:
        raise TypeError(
            f"{where}: holomorphic=True needs complex inputs, but differentiated input "
            f"{real_in} has dtype {xs[real_in].dtype}{hint}"
        )


def _check_complex_jacobian(outs: list[Tensor], xs: list[Tensor], holomorphic: bool) -> None:
    if holomorphic:
        _check_holomorphic_inputs(
            xs,
            "jacobian",
            "; for a real input and complex outputs use jacfwd (it pushes real tangents)",
        )
        real_out = _first(outs, False)
        if real_out is not None:
            raise TypeError(
                f"jacobian: holomorphic=True needs complex outputs, but output {real_out} "
                f"has dtype {outs[real_out].dtype}; a real-valued function of complex "
                "inputs is not holomorphic (leave holomorphic=False for its gradients)"
            )
        return
    complex_out = _first(outs, True)
    if complex_out is not None:
        raise TypeError(
            f"jacobian: output {complex_out} is complex ({outs[complex_out].dtype}), "
            "and reverse mode would give only its real part's derivative; pass "
            "holomorphic=True if f is holomorphic, use jacfwd for a real input, or "
            "return the real and imaginary parts separately"
        )


def _check_complex_jacfwd(xs: list[Tensor], holomorphic: bool, where: str) -> None:
    if holomorphic:
        _check_holomorphic_inputs(xs, where)
        return
    complex_in = _first(xs, True)
    if complex_in is not None:
        raise TypeError(
            f"{where}: differentiated input {complex_in} is complex "
            f"({xs[complex_in].dtype}); a column per element would hold only the "
            "derivative along its real axis; pass holomorphic=True if f is holomorphic, "
            "or use jacobian for a real-valued f (gradients in grad's convention)"
        )


def _reverse_rows(out: Tensor, xs: list[Tensor]) -> list[Tensor]:
    """Every row of d out / d xs at once: one backward pass, vmapped over the basis of
    cotangents (the rows of the identity), instead of one pass per output element.
    Blocks of shape ``(out.size, *x.shape)``."""
    from chainrule.batching.api import vmap

    if not out.requires_grad or out.size == 0:
        return [_wrap(np.zeros((out.size, *x.shape), dtype=x.dtype), None) for x in xs]
    basis = np.eye(out.size, dtype=out.dtype).reshape((out.size, *out.shape))

    def row(ct: Any) -> list[Tensor]:
        found = _autograd_grad(out, xs, ct, retain_graph=True, create_graph=True, allow_unused=True)
        return [_tensor(g, x) for g, x in zip(found, xs)]

    return vmap(row)(_wrap(basis, None))


def _assemble(parts: list[Tensor], first: tuple, second: tuple, recorded: bool) -> Tensor:
    """Rows (or columns) of a Jacobian into one tensor of shape ``first + second``."""
    if not parts:
        return _wrap(np.zeros(first + second), None)
    if recorded:
        return stack(parts).reshape(first + second)
    return _wrap(np.stack([p.data for p in parts]).reshape(first + second), None)


# ---------------------------------------------------------------- forward mode
def _tangents(tangents: Sequence[Any], inputs: _Inputs) -> tuple[list[Any], bool]:
    if len(tangents) != len(inputs.defs):
        raise ValueError(f"jvp: {len(inputs.defs)} primals but {len(tangents)} tangents")
    flat: list[Any] = []
    for i, (t, d) in enumerate(zip(tangents, inputs.defs)):
        leaves, t_def = tree.flatten(t)
        if len(leaves) != d.num_leaves:
            raise ValueError(f"jvp: primal {i} has structure {d} but its tangent {t_def}")
        flat.extend(leaves)
    out = []
    recorded = False
    for t, x in zip(flat, inputs.xs):
        if isinstance(t, Tensor) and (t.requires_grad or t._batched):
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

    Each tangent has its primal's structure; the output tangent has the output's.
    Differentiable with respect to the primals and the tangents.

    >>> import chainrule as cr
    >>> cr.jvp(lambda x: x ** 3, (cr.tensor([1.0, 2.0]),), (cr.tensor([1.0, 0.0]),))
    (tensor([1., 8.]), tensor([3., 0.]))
    """
    primals, tangents = tuple(primals), tuple(tangents)
    inputs = _Inputs(primals, tuple(range(len(primals))), "jvp")
    ts, recorded = _tangents(tangents, inputs)
    outs, out_def = _outputs(inputs.call(f, {}), "jvp")
    plan = ForwardPlan(outs, inputs.xs)
    pushed = plan.push(ts, create_graph=inputs.record or recorded)
    tangent_out = [_tensor(t, o) for t, o in zip(pushed, outs)]
    if inputs.numpy and not recorded:
        tangent_out = [inputs.value(t) for t in tangent_out]
    value = [inputs.value(o) for o in outs]
    return tree.unflatten(out_def, value), tree.unflatten(out_def, tangent_out)


def jacfwd(
    f: Callable[..., Any],
    argnums: ArgNums | None = None,
    *,
    argnum: ArgNums | None = None,
    holomorphic: bool = False,
) -> Callable[..., Any]:
    """The Jacobian of ``f`` by forward mode, one tangent per input element.

    Same shapes and structure as :func:`jacobian`. The function runs once; every
    tangent is pushed through the one recorded graph. Complex numbers, as JAX's
    ``jacfwd``: real inputs may give complex outputs; complex inputs need
    ``holomorphic=True`` (each block then holds ``f'(z)``).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> cr.jacfwd(lambda x, y: x * y, argnums=(0, 1))(np.array([1.0, 2.0]), 3.0)
    (array([[3., 0.],
           [0., 3.]]), array([1., 2.]))
    """
    argnums = _pick_argnums(argnums, argnum, "jacfwd")

    def jacfwd_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = _argnums(argnums, len(args), "jacfwd")
        inputs = _Inputs(args, nums, "jacfwd")
        xs = inputs.xs
        _check_complex_jacfwd(xs, holomorphic, "jacfwd")
        outs, out_def = _outputs(inputs.call(f, kwargs), "jacfwd")
        plan = ForwardPlan(outs, xs)
        # Under cr.jit the stacked push is traced too (recorded), as one program.
        traced = active_tracer() is not None
        per_output: list[list[Any]] = [[] for _ in outs]
        if not inputs.record or traced:
            # One push of a stack of unit tangents per input: all columns at once.
            for j, x in enumerate(xs):
                ts: list[Any] = [None] * len(xs)
                ts[j] = np.eye(x.size, dtype=x.dtype).reshape((x.size, *x.shape))
                for k, (t, o) in enumerate(zip(plan.push_batch(ts, traced), outs)):
                    if t is None:
                        t = np.zeros((x.size, *o.shape), dtype=o.dtype)
                    if isinstance(t, Tensor):
                        jac = t.reshape((*x.shape, *o.shape)).transpose(_swap(x.ndim, o.ndim))
                        per_output[k].append(inputs.plain(jac))
                        continue
                    jac = np.asarray(t).reshape((*x.shape, *o.shape))
                    # copy(), not ascontiguousarray: that one makes a 0-d block 1-d.
                    jac = jac.transpose(_swap(x.ndim, o.ndim)).copy()
                    per_output[k].append(jac if inputs.numpy else _wrap(jac, None))
        else:
            # Recorded (nested in another transform): one push vmapped over the basis of
            # tangents, every column at once, each step a recorded operation.
            from chainrule.batching.api import vmap

            for j, x in enumerate(xs):
                basis = np.eye(x.size, dtype=x.dtype).reshape((x.size, *x.shape))

                def column(t: Any, j: int = j) -> list[Tensor]:
                    ts: list[Any] = [None] * len(xs)
                    ts[j] = t
                    pushed = plan.push(ts, create_graph=True)
                    return [_tensor(c, o) for c, o in zip(pushed, outs)]

                cols = vmap(column)(_wrap(basis, None))
                for k, o in enumerate(outs):
                    jac = cols[k].reshape((*x.shape, *o.shape)).transpose(_swap(x.ndim, o.ndim))
                    per_output[k].append(jac)
        results = [inputs.regroup(p, single) for p in per_output]
        return tree.unflatten(out_def, results)

    return jacfwd_f


def _swap(in_ndim: int, out_ndim: int) -> tuple[int, ...]:
    """Axes that turn ``input.shape + output.shape`` into ``output.shape + input.shape``."""
    return tuple(range(in_ndim, in_ndim + out_ndim)) + tuple(range(in_ndim))


def hessian(
    f: Callable[..., Any],
    argnums: ArgNums | None = None,
    *,
    argnum: ArgNums | None = None,
    holomorphic: bool = False,
) -> Callable[..., Any]:
    """The Hessian of scalar ``f``: forward mode over reverse mode (``jacfwd(grad(f))``).

    Shape ``input.shape + input.shape``; for structured inputs, the input's
    structure nested in itself (as JAX). Complex inputs need ``holomorphic=True``
    (then ``f''(z)``; see :func:`jacfwd`).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> cr.hessian(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    argnums = _pick_argnums(argnums, argnum, "hessian")
    if holomorphic:  # f''(z) of a holomorphic f of complex inputs
        return jacfwd(jacobian(f, argnums, holomorphic=True), argnums, holomorphic=True)
    return jacfwd(grad(f, argnums), argnums)


def hvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
    """Hessian-vector product of scalar ``f`` at ``primals`` with ``tangents``, without
    forming the Hessian: the JVP of the gradient (forward over reverse).

    Returns the first primal's structure for one primal, a tuple for several.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> cr.hvp(lambda x: (x ** 3).sum(), (np.array([1.0, 2.0]),), (np.array([1.0, 1.0]),))
    array([ 6., 12.])
    """
    primals = tuple(primals)
    nums = 0 if len(primals) == 1 else tuple(range(len(primals)))
    return jvp(grad(f, nums), primals, tangents)[1]


# ------------------------------------------------------------ modules as functions
def functional_call(
    module: Any,
    parameter_and_buffer_dicts: dict[str, Any] | Sequence[dict[str, Any]],
    args: Any = (),
    kwargs: dict[str, Any] | None = None,
    *,
    strict: bool = False,
) -> Any:
    """Call ``module`` with its parameters and buffers replaced by the given values
    (``torch.func.functional_call``): a ``cr.nn`` module as a pure function of its
    parameters, for ``grad``, ``vmap`` and the other transforms.

    Names are ``named_parameters()``'s (``"0.weight"``). Names not given keep the
    module's own values (all must be given with ``strict=True``). ``args`` is one
    argument or a tuple of them. The module is unchanged afterwards.

    >>> import chainrule as cr
    >>> lin = cr.nn.Linear(3, 1)
    >>> params = {k: v.detach() for k, v in lin.named_parameters()}
    >>> grads = cr.grad(lambda p, x: cr.func.functional_call(lin, p, x).sum())(
    ...     params, cr.ones(3))
    >>> sorted(grads)
    ['bias', 'weight']
    """
    dicts = (
        [parameter_and_buffer_dicts]
        if isinstance(parameter_and_buffer_dicts, dict)
        else list(parameter_and_buffer_dicts)
    )
    values: dict[str, Any] = {}
    for d in dicts:
        for name, v in d.items():
            if name in values:
                raise ValueError(f"functional_call: {name!r} is given more than once")
            values[name] = v
    known = {n for n, _ in module.named_parameters()} | {n for n, _ in module.named_buffers()}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"functional_call: {type(module).__name__} has no parameter or buffer named "
            f"{unknown[0]!r} (it has: {', '.join(sorted(known))})"
        )
    if strict and known - set(values):
        raise ValueError(f"functional_call(strict=True): missing {sorted(known - set(values))}")
    saved = []
    try:
        for name, v in values.items():
            owner, attr = _owner(module, name)
            saved.append((owner, attr, owner.__dict__[attr]))
            if not isinstance(v, Tensor):
                v = _wrap(np.asarray(v), None)
            object.__setattr__(owner, attr, v)  # the attribute forward reads, not the registry
        call_args = args if isinstance(args, tuple) else (args,)
        return module(*call_args, **(kwargs or {}))
    finally:
        for owner, attr, old in reversed(saved):
            object.__setattr__(owner, attr, old)


def _owner(module: Any, name: str) -> tuple[Any, str]:
    *path, attr = name.split(".")
    for part in path:
        module = module._modules[part]
    return module, attr


# torch.func's and JAX's names, so that `from torch.func import vmap, jacrev, ...`
# ports by changing the module alone.
jacrev = jacobian


def __getattr__(name: str) -> Any:
    if name == "vmap":  # loaded on first use, as chainrule.vmap is
        from chainrule.batching import vmap

        return vmap
    raise AttributeError(f"module 'chainrule.func' has no attribute {name!r}")
