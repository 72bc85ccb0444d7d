"""``DistributedDataParallel``: one model, N ranks, gradients averaged in buckets.

How a gradient is known to be final. In the forward pass every parameter enters
the graph through ``grad_sync`` (a primitive: the identity, whose rule hands the
gradient to the reducer, :mod:`.reducer`). The backward engine visits a node only
after every consumer of its output has sent its share, so when ``grad_sync``'s
rule runs, that parameter's gradient for this pass is complete: it is written
into its bucket, and a bucket whose parameters are all in starts its
non-blocking all-reduce at once, while backward goes on through the layers below.
Buckets start in their fixed order only (bucket k after buckets 0..k-1), because
MPI matches collectives by the order they are issued. The rule gives the
parameter itself no gradient: ``.grad`` is the parameter's slot in the bucket,
so the engine has nothing to store and nothing is copied out.

When a pass of backward ends. The engine calls the wrapper after every backward
that stores ``.grad`` (``call_after_backward``), whether or not it reached a
parameter. While a forward pass waits for its backward, the ranks then tell each
other (a one-number all-reduce on a communicator of the wrapper's own) whether
any of them reached it: if one did, every rank fills the slots of parameters that
got no gradient on it with zeros, starts every bucket not yet started (in order,
so all ranks reduce the same buckets), waits, and ``backward()`` returns with the
means in ``.grad``; a rank whose loss did not depend on the parameters takes part
with zeros instead of leaving the others waiting. If none did (the backward of
another model, as in a GAN), the pass keeps waiting for its own backward.

Why each layer's ``grad_sync`` nodes are renumbered when it runs. They are all
made before the module runs (so that every way of reading a parameter finds its
proxy), and the engine visits the newest node first: left as made, they would
all come after the whole backward, and no bucket could start early. So each
owner module's nodes get fresh sequence numbers when it is called, only while
nothing has used them yet (a node must stay older than all its consumers).
"""

from __future__ import annotations

import sys
import weakref
from typing import Any

import numpy as np

from chainrule.autograd.engine import (
    _call_hooks,
    call_after_backward,
    cancel_after_backward,
    pass_stores_grad,
)
from chainrule.autograd.grad_mode import is_grad_enabled
from chainrule.autograd.node import _next_seq
from chainrule.distributed import world
from chainrule.distributed.collectives import broadcast_parameters
from chainrule.distributed.reducer import Pass, Reducer
from chainrule.nn.module import Module
from chainrule.ops.primitive import Primitive
from chainrule.tensor import Tensor


def _sync_forward(p: Any, reducer: Any = None, index: int = 0) -> Any:
    return p


def _sync_vjp(g: Any, ans: Any, p: Any, reducer: Any = None, index: int = 0) -> Any:
    if pass_stores_grad():
        reducer.gradient(index, g)
        return None  # stored in .grad already (the bucket's slot): nothing for the engine
    return g  # cr.autograd.grad and the transforms: this rank's own gradient, returned


grad_sync = Primitive(
    "grad_sync",
    _sync_forward,
    vjp=_sync_vjp,
    jvp=lambda t, ans, p, reducer=None, index=0: t,
    formula="1 (and the gradient is handed to DistributedDataParallel's bucket)",
    doc="Identity; its gradient, complete when the rule runs, starts the bucket's all-reduce.",
)
# cr.vmap: the identity on the batch (the batched node's rule hands the gradient on).
grad_sync.vmap = lambda prim, xs, flags, size, params: xs[0]


class _Forward:
    """What the ``grad_sync`` nodes of one forward pass point to: that pass's
    reduction, and the checks that its backward comes once and in time."""

    __slots__ = ("ddp", "run", "__weakref__")

    def __init__(self, ddp: DistributedDataParallel, run: Pass) -> None:
        self.ddp = ddp
        self.run = run

    def gradient(self, i: int, g: Any) -> None:
        ddp = self.ddp
        if self.run.finished:
            raise RuntimeError(
                "DistributedDataParallel: this forward pass's gradients were already reduced "
                "(a second backward through the same graph?); run forward again"
            )
        if ddp._forward is not self:
            raise RuntimeError(
                "DistributedDataParallel: backward through the graph of an older forward "
                "pass; call backward once after each forward"
            )
        g = g.data if isinstance(g, Tensor) else g
        p = ddp._params[i]
        hooks = p._extra.get("hooks") if p._extra is not None else None
        if hooks and len(hooks) > 1:  # the user's hooks see this rank's gradient first
            g = _call_hooks([h for h in hooks if h is not ddp._direct[i]], g, False)
        self.run.ready(i, g)


class DistributedDataParallel(Module):
    """Data-parallel training of ``module``: every rank runs it on its share of the
    batch, and ``backward`` leaves in every parameter's ``.grad`` the mean of the
    ranks' gradients, so every rank's optimizer takes the same step.

    At construction, rank 0's parameters and buffers are broadcast to all ranks.
    The parameters, in one fixed order (the reverse of ``module.parameters()``,
    about the order backward reaches them), are packed into buckets of at most
    ``bucket_mb`` megabytes (one dtype each); a bucket's all-reduce starts as soon
    as its gradients are complete, overlapping the rest of backward, and is
    waited for before ``backward`` returns. A parameter that gets no gradient on a
    rank contributes zeros, and so does a rank whose loss does not depend on the
    parameters at all. ``deterministic=True`` gathers each bucket and sums it in
    rank order, so results are bit-identical from run to run and on every rank
    (it moves N times the bytes of an all-reduce).

    ``.grad`` of each parameter is a view of its bucket, overwritten by the next
    reduced backward (copy it to keep it). Gradients accumulate over backwards
    without ``zero_grad`` as without the wrapper; a ``.grad`` set to None or
    replaced is taken as it is and made a view again at the next backward. Hooks
    on a parameter see this rank's gradient, before the reduction. Only
    ``backward()`` reduces: ``cr.autograd.grad`` through the wrapper returns this
    rank's own gradients.

    Every rank must call forward and then backward once per step (a rank that
    skips backward leaves the others waiting), and, while a wrapped forward waits
    for its backward, every rank runs the same ``backward()`` calls: the ranks
    ask each other at the end of each (so a backward of rank 0's alone, of a
    metric say, belongs after the step's backward). The module must read its
    parameters as attributes in ``forward`` (``self.weight``), as every chainrule
    layer does: the wrapper swaps them for the duration of the forward pass.

    >>> import chainrule as cr
    >>> model = cr.distributed.DistributedDataParallel(cr.nn.Linear(3, 2))
    >>> model(cr.ones(4, 3)).sum().backward()   # one rank: the gradient itself
    >>> model.module.weight.grad.shape
    (2, 3)
    """

    def __init__(self, module: Module, bucket_mb: float = 25, deterministic: bool = False) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(
                f"DistributedDataParallel wraps a cr.nn.Module, got {type(module).__name__}"
            )
        if not bucket_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_mb must be > 0, got {bucket_mb}")
        world.init()
        MPI = world.mpi()
        self.module = module
        self.bucket_mb = bucket_mb
        self.deterministic = deterministic
        broadcast_parameters(module)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        named.reverse()
        params = [p for _, p in named]
        # Communicators of its own: the buckets' reductions can then never be matched
        # with another collective (another wrapper's, the user's), and the end-of-pass
        # question is never matched with a bucket.
        several = world.size() > 1
        buckets = world.comm().Dup() if several else None
        object.__setattr__(self, "_ask", world.comm().Dup() if several else None)
        object.__setattr__(self, "_max", MPI.MAX)
        reducer = Reducer(params, [n for n, _ in named], int(bucket_mb * 2**20), buckets,
                          MPI.SUM, MPI.IN_PLACE, deterministic)  # fmt: skip
        object.__setattr__(self, "_reducer", reducer)
        object.__setattr__(self, "_params", params)
        object.__setattr__(self, "_forward", None)
        # Where each parameter is read in forward: (owner module, attribute name, index).
        index = {id(p): i for i, p in enumerate(params)}
        owners: dict[int, tuple[Module, list[tuple[str, int]]]] = {}
        for mod in module.modules():
            for attr, p in mod._parameters.items():
                if p is not None and id(p) in index:
                    owners.setdefault(id(mod), (mod, []))[1].append((attr, index[id(p)]))
        object.__setattr__(self, "_owners", list(owners.values()))
        object.__setattr__(self, "_direct", [self._direct_hook(i) for i in range(len(params))])
        for p, hook in zip(params, self._direct):
            p.register_hook(hook)
        me = weakref.ref(self)

        def after_backward() -> None:
            ddp = me()
            if ddp is None:
                cancel_after_backward(after_backward)
            else:
                ddp._after_backward()

        object.__setattr__(self, "_after", after_backward)

    @property
    def bucket_sizes(self) -> list[int]:
        """Bytes in each bucket, in the order they are reduced."""
        return [b.flat.nbytes for b in self._reducer.buckets]

    def _direct_hook(self, i: int) -> Any:
        def direct(grad: Tensor) -> Any:
            # Reached only by a gradient that bypassed grad_sync: the parameter used
            # without the wrapper's forward.
            if self._forward is None or not pass_stores_grad():
                return None  # the bare module, or cr.autograd.grad: a local gradient
            name = self._reducer.names[i]
            raise RuntimeError(
                f"DistributedDataParallel: {name} got a gradient without going through the "
                "wrapper's forward (used outside forward, e.g. a penalty on the module's "
                "parameters, read from _parameters, or the module called directly while a "
                "wrapped pass waits for its backward); compute it inside forward so that it "
                "is averaged over the ranks"
            )

        return direct

    def _check_buckets(self) -> None:
        # The slots were cut for the parameters as they were when wrapped: a parameter
        # cast to another dtype since then would have its gradients rounded to the old.
        reducer = self._reducer
        for i, (p, view) in enumerate(zip(self._params, reducer.views)):
            if p.data.dtype != view.dtype or p.data.shape != view.shape:
                raise RuntimeError(
                    f"DistributedDataParallel: {reducer.names[i]} is now {p.data.dtype} "
                    f"{p.data.shape}, but was {view.dtype} {view.shape} when wrapped; wrap "
                    "the module after changing its parameters (e.g. after .double())"
                )

    def _after_backward(self) -> None:
        """After every backward that stores .grad: finish this forward's reduction if
        its backward reached any rank (see the module docstring)."""
        fwd = self._forward
        if fwd is None:
            cancel_after_backward(self._after)
            return
        run = fwd.run
        if self._ask is not None:
            flag = np.array([1 if run.reached else 0], np.int32)
            self._ask.Allreduce(self._reducer.in_place, flag, op=self._max)
            reached = bool(flag[0])
        else:
            reached = run.reached
        if not reached:
            return  # not this forward's backward, on any rank: keep waiting for it
        object.__setattr__(self, "_forward", None)
        cancel_after_backward(self._after)
        run.finish()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not is_grad_enabled():
            return self.module(*args, **kwargs)
        self._check_buckets()
        fwd = _Forward(self, Pass(self._reducer))
        object.__setattr__(self, "_forward", fwd)
        call_after_backward(self._after)
        proxies = [grad_sync(p, reducer=fwd, index=i) for i, p in enumerate(self._params)]
        swapped = []
        try:
            for mod, attrs in self._owners:
                d = mod.__dict__
                swapped.append((mod, [(attr, d[attr]) for attr, _ in attrs], d.get("forward")))
                for attr, i in attrs:
                    d[attr] = proxies[i]
                d["forward"] = _renumbering(mod, [proxies[i]._node for _, i in attrs])
            return self.module(*args, **kwargs)
        finally:
            for mod, originals, own_forward in swapped:
                d = mod.__dict__
                for attr, p in originals:
                    d[attr] = p
                if own_forward is None:
                    d.pop("forward", None)
                else:
                    d["forward"] = own_forward


# Reference counts are exact only with the GIL (a free-threaded build defers some):
# without it the nodes keep their numbers, which is correct, with less overlap.
_EXACT_REFCOUNTS = getattr(sys, "_is_gil_enabled", lambda: True)()


def _refs(nodes: list, k: int) -> int:
    return sys.getrefcount(nodes[k])


def _renumbering(mod: Module, nodes: list) -> Any:
    """``mod.forward`` for one pass: first gives ``mod``'s unused ``grad_sync`` nodes
    fresh sequence numbers (see the module docstring), then runs the real one.

    Unused: no node refers to it (a consumer holds its inputs' nodes), so its
    reference count is still what it was before the module ran."""
    d = mod.__dict__
    real = d["forward"] if "forward" in d else type(mod).forward.__get__(mod)
    unused = [_refs(nodes, k) for k in range(len(nodes))]

    def forward(*args: Any, **kwargs: Any) -> Any:
        for k in range(len(nodes)):
            if nodes[k] is not None:
                if _EXACT_REFCOUNTS and _refs(nodes, k) == unused[k]:
                    nodes[k].seq = _next_seq()
                nodes[k] = None  # once per pass: a later call's use finds it older
        return real(*args, **kwargs)

    return forward
