"""The backward engine: the chain rule applied node by node, in reverse.

Every node carries a sequence number from a global counter, and a node is
always created after its inputs, so visiting nodes newest first is a valid order
for the chain rule: by the time a node is visited, every consumer of its output
has already sent its share of the gradient. The pass keeps a heap of the nodes
that have received a gradient and, for each one popped, runs its primitive's VJP
rules (upstream gradient times local derivative) and adds each result into the
gradient of the corresponding input. The loop is iterative, so graph depth is
unlimited, and each node and edge costs a constant number of steps plus, where
the graph branches, a heap operation (logarithmic in the heap's width, not in the
graph's size; a chain never touches the heap).

Complex values: the rules follow HIPS autograd's convention (see
:mod:`chainrule.ops.complex_parts`), which the functional transforms return. The
PyTorch-facing entry points (``Tensor.backward``, ``cr.autograd.grad``) give
PyTorch's instead, the conjugate: this module applies it at their edges only,
conjugating a complex seed on the way in and a complex gradient on the way out
(``.grad``, a hook's argument and its result), so the rules never see it.

Rules run on raw NumPy arrays unless ``create_graph`` is set; then they run on
Tensors (the saved values are rewrapped with their original nodes) so that the
backward pass is itself recorded and can be differentiated again.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from heapq import heappop, heappush
from math import prod
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import enable_grad
from chainrule.autograd.node import Node
from chainrule.autograd.versions import LAST_CHANGE, check_saved
from chainrule.ops.broadcast import sum_to
from chainrule.ops.complex_parts import conj, match_dtype
from chainrule.ops.primitive import call
from chainrule.tensor import Tensor, _wrap, active_tracer, attach

ndarray = np.ndarray
_asarray = np.asarray


def seed_gradient(out: Tensor, grad: Any, create_graph: bool, where: str) -> Any:
    """The gradient that starts a backward pass from ``out``, checked and converted."""
    if grad is None:
        if out.dtype.kind == "c":
            raise RuntimeError(
                f"{where}: a gradient can be implied only for a real output, as in PyTorch; "
                "this one is complex: pass grad= (d loss / d output), or differentiate a "
                "real function of it (its abs, real part, ...)"
            )
        if prod(out.shape) != 1:  # not out.size: PyTorch's Size object, slower
            raise RuntimeError(
                f"{where}: a gradient can be implied only for a one-element output, but this "
                f"output has shape {out.shape}; pass grad= with that shape (the "
                "gradient of the final loss with respect to this tensor)"
            )
        seed = np.ones(out.shape, dtype=out.dtype)
    else:
        if isinstance(grad, Tensor):
            if create_graph:
                if grad.shape != out.shape:
                    raise _grad_shape_error(where, grad.shape, out.shape)
                return grad if grad.dtype == out.dtype else grad.astype(out.dtype)
            grad = grad.data
        seed = _asarray(grad, dtype=out.dtype)
        if seed.shape != out.shape:
            raise _grad_shape_error(where, seed.shape, out.shape)
    return _wrap(seed, None) if create_graph else seed


def _grad_shape_error(where: str, got: tuple, want: tuple) -> RuntimeError:
    return RuntimeError(
        f"{where}: grad has shape {got} but the output has shape {want}; they must match"
    )


def _released_error(node: Node) -> RuntimeError:
    return RuntimeError(
        f"backward: the values saved by '{node.prim.name}' were already released by an "
        "earlier backward pass; pass retain_graph=True to the first backward() to go "
        "through the same graph twice"
    )


# [True] while a PyTorch-facing pass runs: complex gradients that users see are
# conjugated (see the module doc). Passes are serialised by _BACKWARD_LOCK; a nested
# pass (a hook that differentiates) sets and restores it around itself.
_TORCH_CONVENTION = [False]


def torch_side(g: Any) -> Any:
    """A complex gradient in the other convention (PyTorch's <-> autograd's): its
    conjugate. Real gradients are the same in both."""
    return call(conj, g) if g.dtype.kind == "c" else g


def _call_hooks(hooks: list, g: Any, create_graph: bool) -> Any:
    if _TORCH_CONVENTION[0] and g.dtype.kind == "c":
        return torch_side(_call_hooks_as_given(hooks, torch_side(g), create_graph))
    return _call_hooks_as_given(hooks, g, create_graph)


def _call_hooks_as_given(hooks: list, g: Any, create_graph: bool) -> Any:
    for hook in list(hooks):
        t = g if create_graph else _wrap(_asarray(g), None)
        result = hook(t)
        if result is not None:
            if not isinstance(result, Tensor):
                result = _wrap(_asarray(result), None)
            g = result if create_graph else result.data
    return g


def _as_grad_tensor(g: Any, create_graph: bool, fresh: set) -> Tensor:
    """A Tensor to store as ``.grad``: never a read-only view or an array shared with
    another ``.grad`` (rules such as add's pass one array to both inputs)."""
    if create_graph:
        return g
    g = _asarray(g)
    if g.base is not None or not g.flags.writeable or id(g) in fresh:
        g = g.copy()
    fresh.add(id(g))
    return _wrap(g, None)


def _accumulate_into(t: Tensor, g: Any, create_graph: bool, fresh: set) -> None:
    if _TORCH_CONVENTION[0] and g.dtype.kind == "c":
        g = torch_side(g)
    if t.grad is None:
        t.grad = _as_grad_tensor(g, create_graph, fresh)
    elif create_graph:
        t.grad = t.grad + g
    else:
        t.grad = _wrap(t.grad.data + g, None)


def run_backward(
    roots: Sequence[Tensor],
    seeds: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] | None = None,
    torch_convention: bool = True,
    differentiated: bool = True,
) -> list[Any] | None:
    """Propagate ``seeds`` (d loss / d root) from ``roots`` through the graph.

    Without ``inputs``, gradients are accumulated into leaves' ``.grad`` (and into
    non-leaf tensors that called ``retain_grad``). With ``inputs``, nothing is
    accumulated; the gradient reaching each input is returned (None where none does).
    ``torch_convention``: complex seeds and gradients are PyTorch's (the conjugates
    of autograd's, which the rules compute); it changes nothing for real values.
    ``differentiated=False`` with ``create_graph``: the pass is recorded only to be
    traced (cr.jit), and its caller guarantees that nothing differentiates what it
    records; rules may then record a faster, non-differentiable form
    (:func:`pass_is_differentiated`).
    """
    if inputs is None:
        tracer = active_tracer()
        if tracer is not None:
            tracer.refuse("calls backward(), which stores gradients in .grad")
    # One pass at a time: passes share leaves (their .grad) and may share nodes (whose
    # gsum is a pass's scratch state), so two at once could lose updates. Re-entrant,
    # for a hook or a rule that itself differentiates. Inside, NumPy's warnings for
    # 1/0 and the like are silenced: the rule was not written by the user, and the
    # inf or nan it gives is the value (as in PyTorch).
    # Under a cr.jit trace the error state is left alone: compiled code runs under its
    # caller's, and the tracer refuses a change it could not replay.
    with _BACKWARD_LOCK, _quiet_numpy() if active_tracer() is None else _LEAVE_ALONE:
        previous = _TORCH_CONVENTION[0]
        _TORCH_CONVENTION[0] = torch_convention
        _STORING.append(inputs is None)
        _DIFFERENTIATED.append(differentiated)
        try:
            if torch_convention:
                for s in seeds:
                    if s.dtype.kind == "c":
                        seeds = [torch_side(s) for s in seeds]
                        break
            if create_graph:
                with enable_grad():
                    result = _run(roots, seeds, retain_graph, True, inputs)
            else:
                result = _run(roots, seeds, retain_graph, False, inputs)
        finally:
            _DIFFERENTIATED.pop()
            _STORING.pop()
            _TORCH_CONVENTION[0] = previous
        if inputs is None and not _STORING and _AFTER_STORING_PASS:
            _call_after_pass()
        return result


_BACKWARD_LOCK = threading.RLock()
_LEAVE_ALONE = contextlib.nullcontext()
# Per running pass, innermost last (a hook or rule may differentiate inside a pass):
# whether it stores gradients in .grad (backward()) or returns them (grad()).
_STORING: list[bool] = []
_AFTER_STORING_PASS: list[Callable[[], None]] = []
# Per running pass, innermost last: whether what it records may be differentiated.
_DIFFERENTIATED: list[bool] = []


def pass_is_differentiated() -> bool:
    """Inside a recorded backward pass (``create_graph``): False when the pass is
    recorded only for cr.jit to trace and nothing will differentiate it, so that a
    rule may record its result as one non-differentiable operation (an LSTM's walk
    back through time) instead of differentiable formulas. True otherwise."""
    return _DIFFERENTIATED[-1] if _DIFFERENTIATED else True


def pass_stores_grad() -> bool | None:
    """Inside a backward pass: True when it stores gradients in ``.grad``
    (``Tensor.backward``), False when it returns them (``cr.autograd.grad``,
    ``cr.grad``); None outside any pass. For rules that act only on the former
    (DistributedDataParallel hands ``.grad``'s gradients to the all-reduce)."""
    return _STORING[-1] if _STORING else None


def call_after_backward(callback: Callable[[], None]) -> None:
    """Call ``callback()`` at the end of every backward pass that stores gradients
    in ``.grad`` (the outermost one, after every leaf has its gradient), until
    :func:`cancel_after_backward`. What no hook can do: a hook runs only when its
    tensor gets a gradient, and this runs also when none of them did (how
    DistributedDataParallel learns that a rank's backward is over). Registering a
    callback twice calls it once."""
    if callback not in _AFTER_STORING_PASS:
        _AFTER_STORING_PASS.append(callback)


def cancel_after_backward(callback: Callable[[], None]) -> None:
    """Stop calling ``callback`` (registered by :func:`call_after_backward`)."""
    if callback in _AFTER_STORING_PASS:
        _AFTER_STORING_PASS.remove(callback)


def _call_after_pass() -> None:
    # Every callback runs even when one raises: each may be what other MPI ranks wait for.
    error = None
    for callback in list(_AFTER_STORING_PASS):
        try:
            callback()
        except BaseException as exc:
            error = error or exc
    if error is not None:
        raise error


def _quiet_numpy() -> np.errstate:
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")


def _run(roots, seeds, retain_graph, create_graph, inputs):
    # Vertices are Nodes, or leaf Tensors (which have no node). A node's gradient is
    # summed on the node itself (``gsum``) and the node is queued, keyed by its
    # sequence number, when the first share arrives. Every node is newer than its
    # inputs, so popping the newest first visits all of a node's consumers before
    # the node: no pass to count consumers is needed. Leaves collect their
    # gradients in a dict and are settled once every node is done.
    heap: list[tuple[int, Node]] = []
    leaf_grads: dict[int, list] = {}  # id(leaf) -> [leaf, gradient so far]
    wanted = None if inputs is None else {id(t._node or t) for t in inputs}
    captured: dict[int, Any] = {}
    # Arrays a .grad must not share: the seeds (possibly the caller's) and, as the
    # pass goes on, the arrays already stored in some .grad.
    fresh: set[int] = {id(s) for s in seeds}
    try:
        for t, seed in zip(roots, seeds):
            _send(t._node or t, seed, heap, leaf_grads)
        _propagate(heap, leaf_grads, retain_graph, create_graph, wanted, captured, fresh)
    finally:
        # After an error (in a rule or a hook), leave no partial sums behind.
        for _, v in heap:
            v.gsum = None

    for k, (leaf, g) in leaf_grads.items():
        extra = leaf._extra
        if extra is not None and "hooks" in extra:
            g = _call_hooks(extra["hooks"], g, create_graph)
        if wanted is None:
            _accumulate_into(leaf, g, create_graph, fresh)
        elif k in wanted:
            captured[k] = g
    if inputs is None:
        return None
    found = [captured.get(id(t._node or t)) for t in inputs]
    if _TORCH_CONVENTION[0]:
        found = [None if g is None else torch_side(g) for g in found]
    return found


def _send(p: Any, g: Any, heap: list, leaf_grads: dict) -> None:
    """Add ``g`` to the gradient of vertex ``p`` (a node or a leaf)."""
    if type(p) is Node:
        acc = p.gsum
        if acc is None:
            p.gsum = g
            heappush(heap, (p.seq, p))
        else:
            p.gsum = acc + g
    else:
        entry = leaf_grads.get(id(p))
        if entry is None:
            leaf_grads[id(p)] = [p, g]
        else:
            entry[1] = entry[1] + g


def _propagate(heap, leaf_grads, retain_graph, create_graph, wanted, captured, fresh):
    """Loop over the nodes, newest first: the chain rule applied to each.

    The next node is kept out of the heap when it is known to be the newest one
    waiting (``nxt``): in a chain, the usual case, each node's one input is visited
    right after it and the heap is never touched."""
    pop = heappop
    push = heappush
    last_change = LAST_CHANGE  # [seq of the latest in-place change] (see versions)
    nxt = None
    v = pop(heap)[1] if heap else None
    try:
        while v is not None:
            g = v.gsum
            v.gsum = None
            if v.extra is not None:
                g = _node_extras(v, g, create_graph, wanted, fresh)
            if wanted is not None and id(v) in wanted:
                captured[id(v)] = g
            args = v.args
            if args is None:
                raise _released_error(v)
            if v.seq > last_change[0]:  # older than an in-place change: look closer
                check_saved(v)
            prim = v.prim
            params = v.params
            if create_graph:
                call_args, ans = recorded_args(v)
            else:
                call_args = args
                ans = v.ans
            exact = prim.exact
            arity = len(args)
            for p, rule, a in zip(v.parents, prim.vjps, args):
                if p is None:
                    continue
                # Positional calls for the usual arities: CPython runs those in this
                # frame loop, while a call with *args takes the slower general route.
                if params:
                    gi = rule(g, ans, *call_args, **params)
                elif arity == 1:
                    gi = rule(g, ans, call_args[0])
                elif arity == 2:
                    gi = rule(g, ans, call_args[0], call_args[1])
                else:
                    gi = rule(g, ans, *call_args)
                if gi is None:
                    continue
                # Two NumPy scalars of one type agree in shape (none) and dtype already
                # (two batched tensors of vmap, saved as themselves, need not).
                if not exact and (
                    type(a) is ndarray or type(gi) is not type(a) or isinstance(a, Tensor)
                ):
                    if gi.shape != a.shape:
                        gi = sum_to(gi, a.shape)
                    if gi.dtype is not a.dtype and gi.dtype != a.dtype:
                        gi = match_dtype(gi, a.dtype)
                # _send(p, gi, ...), written out: this loop is the hot path.
                if type(p) is Node:
                    acc = p.gsum
                    if acc is not None:
                        p.gsum = acc + gi
                        continue
                    p.gsum = gi
                    if nxt is None:
                        nxt = p
                    elif p.seq < nxt.seq:  # p is newer: it goes first
                        push(heap, (nxt.seq, nxt))
                        nxt = p
                    else:
                        push(heap, (p.seq, p))
                else:
                    entry = leaf_grads.get(id(p))
                    if entry is None:
                        leaf_grads[id(p)] = [p, gi]
                    else:
                        entry[1] = entry[1] + gi
            if not retain_graph:
                v.args = None
                v.ans = None
            # The newest waiting node: nxt, unless the heap holds a newer one.
            if nxt is not None:
                if heap and heap[0][0] < nxt.seq:
                    push(heap, (nxt.seq, nxt))
                    v = pop(heap)[1]
                else:
                    v = nxt
                nxt = None
            else:
                v = pop(heap)[1] if heap else None
    except BaseException:
        if nxt is not None:  # the heap's nodes are cleared by the caller
            nxt.gsum = None
        raise


def recorded_args(v: Node) -> tuple[tuple, Any]:
    """A node's saved inputs and output as Tensors attached to the graph, so that a
    rule run on them is recorded (inputs keep their nodes; the output gets ``v``)."""
    tracer = active_tracer()

    def recorded(a: Any, p: Any) -> Any:
        if p is not None:
            return attach(a, p) if type(p) is Node else p
        # An input without a gradient (class weights, a mask) computed from a traced
        # function's inputs: a Tensor, so that the rule's work on it is recorded too
        # instead of frozen as a constant.
        if tracer is None or isinstance(a, Tensor):  # a batched value is saved as itself
            return a
        return _wrap(a, None) if tracer.var_of(a) is not None else a

    call_args = tuple(map(recorded, v.args, v.parents))
    ans = v.ans
    return call_args, (None if ans is None else attach(ans, v))


def _node_extras(v: Node, g: Any, create_graph: bool, wanted, fresh) -> Any:
    """Hooks and retain_grad of non-leaf tensors."""
    extra = v.extra
    hooks = extra.get("hooks")
    if hooks:
        g = _call_hooks(hooks, g, create_graph)
    if wanted is None:
        for ref in extra.get("retain", ()):
            t = ref()
            if t is not None:
                _accumulate_into(t, g, create_graph, fresh)
    return g


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned, not accumulated.

    PyTorch's ``torch.autograd.grad``: ``grad_outputs`` are d loss / d output (may be
    omitted for one-element outputs). An input the outputs do not depend on is an
    error unless ``allow_unused`` (gives None) or ``materialize_grads`` (gives zeros).
    Complex gradients are PyTorch's (the conjugate of the transforms' autograd
    convention; see the module doc).

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> (g,) = cr.autograd.grad((x ** 3).sum(), x, create_graph=True)
    >>> g  # 3x**2, itself recorded
    tensor([ 3., 12.], grad_fn=<mul>)
    >>> cr.autograd.grad(g.sum(), x)  # the second derivative 6x
    (tensor([ 6., 12.]),)
    """
    return gradients(
        outputs,
        inputs,
        grad_outputs,
        retain_graph,
        create_graph,
        allow_unused,
        materialize_grads,
        torch_convention=True,
    )


def gradients(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
    materialize_grads: bool = False,
    *,
    torch_convention: bool = False,
    differentiated: bool = True,
) -> tuple[Tensor | None, ...]:
    """:func:`grad` with complex values in HIPS autograd's convention (unless
    ``torch_convention``): what the function transforms and ``chainrule.extend`` use.
    ``differentiated``: see :func:`run_backward`."""
    outs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    ins = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor | np.ndarray):
        gos = (grad_outputs,) * len(outs) if grad_outputs is None else (grad_outputs,)
    else:
        gos = tuple(grad_outputs)
    if len(gos) != len(outs):
        raise ValueError(f"grad(): {len(outs)} outputs but {len(gos)} grad_outputs")
    for t in ins:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("grad(): every input must be a Tensor that requires grad")
    roots, seeds = [], []
    for o, go in zip(outs, gos):
        if not o.requires_grad:
            raise RuntimeError(
                "grad(): an output does not require grad, so it does not depend on the inputs"
            )
        roots.append(o)
        seeds.append(seed_gradient(o, go, create_graph, "grad()"))
    if retain_graph is None:
        retain_graph = create_graph
    found = run_backward(
        roots, seeds, retain_graph, create_graph, ins, torch_convention, differentiated
    )
    result = []
    for t, g in zip(ins, found):
        if g is None:
            if materialize_grads:
                result.append(_wrap(np.zeros_like(t.data), None))
                continue
            if not allow_unused:
                raise RuntimeError(
                    "grad(): one of the inputs was not used to compute the outputs; pass "
                    "allow_unused=True to get None for it, or materialize_grads=True for zeros"
                )
            result.append(None)
        elif isinstance(g, Tensor):
            result.append(g)
        else:
            result.append(_wrap(_asarray(g), None))
    return tuple(result)
