"""Forward mode: tangents pushed through a recorded graph by the JVP rules.

The primal computation is recorded as usual; tangents then flow in evaluation
order, inputs to outputs: each node's output tangent is the sum, over its
inputs, of the primitive's JVP rule applied to that input's tangent. No reverse
pass is involved, and one recorded graph can carry many tangents (``jacfwd``
pushes one per input element through the same graph).

As in the backward engine, rules run on raw arrays unless the result must be
differentiable again (``create_graph``); then they run on Tensors and are recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.engine import recorded_args
from chainrule.autograd.grad_mode import enable_grad
from chainrule.autograd.node import Node
from chainrule.autograd.versions import LAST_CHANGE, check_saved
from chainrule.ops.complex_parts import match_dtype
from chainrule.ops.primitive import ELEMENTWISE
from chainrule.ops.shape import batch_broadcast_to
from chainrule.tensor import Tensor


def _vertex(t: Tensor) -> Any:
    return t._node or t


class ForwardPlan:
    """The part of a graph between some inputs and outputs, in evaluation order.

    Built once; :meth:`push` then carries any number of tangents through it.
    """

    def __init__(self, outputs: Sequence[Tensor], inputs: Sequence[Tensor]) -> None:
        self.outputs = list(outputs)
        self.inputs = list(inputs)
        self.input_ids = [id(_vertex(x)) for x in inputs]
        stop = set(self.input_ids)
        # Output arrays by vertex: a node's output is its consumers' saved input. Only
        # their shapes and dtypes are read (a vmap's batched output has no array).
        self.values: dict[int, Any] = {id(_vertex(o)): o for o in outputs}
        self.order: list[Node] = []
        visited: set[int] = set()
        stack: list[tuple[Any, bool]] = [(_vertex(o), False) for o in outputs if o.requires_grad]
        while stack:
            v, expanded = stack.pop()
            if expanded:
                self.order.append(v)
                continue
            if id(v) in visited or type(v) is not Node or id(v) in stop:
                continue
            visited.add(id(v))
            if v.args is None:
                raise RuntimeError(
                    f"forward mode: the values saved by '{v.prim.name}' were released by a "
                    "backward pass; compute the function again"
                )
            if v.seq > LAST_CHANGE[0]:  # older than an in-place change: look closer
                check_saved(v, "forward mode")
            stack.append((v, True))
            for p, a in zip(v.parents, v.args):
                if p is not None:
                    self.values[id(p)] = a
                    if id(p) not in visited:
                        stack.append((p, False))

    def push(self, tangents: Sequence[Any], create_graph: bool = False) -> list[Any]:
        """Output tangents (None where an output does not depend on the inputs)."""
        if create_graph:
            with enable_grad():
                return self._push(tangents, True)
        return self._push(tangents, False)

    def _push(self, tangents: Sequence[Any], create_graph: bool) -> list[Any]:
        tans: dict[int, Any] = {}
        for k, t in zip(self.input_ids, tangents):
            if t is not None:
                tans[k] = t if k not in tans else tans[k] + t
        for v in self.order:
            total = None
            jvps = v.prim.jvps
            params = v.params
            if create_graph:
                call_args, ans = recorded_args(v)
            else:
                call_args, ans = v.args, v.ans
            for i, p in enumerate(v.parents):
                if p is None:
                    continue
                t = tans.get(id(p))
                if t is None:
                    continue
                if jvps is None:
                    raise NotImplementedError(
                        f"forward mode: primitive '{v.prim.name}' has no jvp rule; "
                        "declare one with defjvp"
                    )
                rule = jvps[i]
                c = rule(t, ans, *call_args, **params) if params else rule(t, ans, *call_args)
                if c is not None:
                    total = c if total is None else total + c
            if total is not None:
                out = self.values[id(v)]
                if total.shape != out.shape:
                    total = np.broadcast_to(total, out.shape)
                if total.dtype != out.dtype:
                    total = match_dtype(total, out.dtype)
                tans[id(v)] = total
        return [tans.get(id(_vertex(o))) if o.requires_grad else None for o in self.outputs]

    def push_batch(self, tangents: Sequence[Any], recorded: bool = False) -> list[Any]:
        """Like :meth:`push` for a stack of tangents: each is an array with a leading
        batch axis (or None), and so is each result. Plain arrays, unless ``recorded``:
        then the saved values are Tensors and every step is a recorded operation
        (``cr.jit`` traces jacfwd and hessian this way).

        Elementwise rules take the whole stack in one call (the tangent is given
        the output's rank so that it broadcasts against the saved values); linear
        ops with a batching rule apply it; other rules go tangent by tangent.
        """
        tans: dict[int, Any] = {}
        size = None
        for k, t in zip(self.input_ids, tangents):
            if t is not None:
                size = t.shape[0]
                tans[k] = t if k not in tans else tans[k] + t
        for v in self.order:
            total = None
            prim = v.prim
            if recorded:
                args, ans = recorded_args(v)
            else:
                args, ans = v.args, v.ans
            params = v.params or {}
            out_shape = self.values[id(v)].shape
            for i, p in enumerate(v.parents):
                t = None if p is None else tans.get(id(p))
                if t is None:
                    continue
                rule = prim.jvps[i]
                if prim.batch is ELEMENTWISE:
                    lead = (1,) * (len(out_shape) + 1 - t.ndim)
                    c = rule(t.reshape((size, *lead, *t.shape[1:])), ans, *args, **params)
                elif prim.batch is not None and len(args) == 1:
                    c = prim.batch(t, **params)
                else:
                    c = np.stack(
                        [
                            np.broadcast_to(rule(t[b], ans, *args, **params), out_shape)
                            for b in range(size)
                        ]
                    )
                if c is not None:
                    total = c if total is None else total + c
            if total is not None:
                if total.shape[1:] != out_shape:
                    total = batch_broadcast_to(total, out_shape)
                out_dtype = self.values[id(v)].dtype
                if total.dtype != out_dtype:
                    total = match_dtype(total, out_dtype)
                tans[id(v)] = total
        return [tans.get(id(_vertex(o))) if o.requires_grad else None for o in self.outputs]
