"""``DistributedDataParallel``: one model, N ranks, gradients averaged in buckets.

How a gradient is known to be final. In the forward pass every parameter enters
the graph through ``grad_sync`` (a primitive: the identity, whose rule hands the
gradient to the reducer and passes it on unchanged). The backward engine visits a
node only after every consumer of its output has sent its share, so when
``grad_sync``'s rule runs, that parameter's gradient for this pass is complete:
it is copied into its bucket, and a bucket whose parameters are all in starts its
non-blocking all-reduce at once, while backward goes on through the layers below.
Buckets start in their fixed order only (bucket k after buckets 0..k-1), because
MPI matches collectives by the order they are issued: a rank that finished its
buckets in another order would otherwise reduce one bucket with another's bytes.

How backward waits. The engine settles leaves (the parameters) when the pass is
over, calling their hooks: the first hook fills the slots of parameters that got
no gradient with zeros and starts every bucket not yet started (in order), so all
ranks reduce the same buckets; each hook then waits for its bucket and returns
the averaged gradient, which the engine stores in ``.grad``. So when
``loss.backward()`` returns, every ``.grad`` holds the mean over the ranks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import is_grad_enabled
from chainrule.distributed import world
from chainrule.distributed.collectives import broadcast_parameters
from chainrule.nn.module import Module
from chainrule.ops.primitive import Primitive
from chainrule.tensor import Tensor, _wrap


def _sync_forward(p: Any, reducer: Any = None, index: int = 0) -> Any:
    return p


def _sync_vjp(g: Any, ans: Any, p: Any, reducer: Any = None, index: int = 0) -> Any:
    reducer.ready(index, g.data if isinstance(g, Tensor) else g)
    return g


grad_sync = Primitive(
    "grad_sync",
    _sync_forward,
    vjp=_sync_vjp,
    jvp=lambda t, ans, p, reducer=None, index=0: t,
    formula="1 (and the gradient is handed to DistributedDataParallel's bucket)",
    doc="Identity; its gradient, complete when the rule runs, starts the bucket's all-reduce.",
)


class _Bucket:
    __slots__ = ("dtype", "members", "offsets", "send", "recv", "gathered", "request", "done")

    def __init__(self, dtype: np.dtype, members: list[int], sizes: list[int], ranks: int,
                 deterministic: bool) -> None:  # fmt: skip
        self.dtype = dtype
        self.members = members
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        total = self.offsets[-1]
        self.send = np.zeros(total, dtype)
        self.recv = np.zeros(total, dtype)
        self.gathered = np.zeros((ranks, total), dtype) if deterministic and ranks > 1 else None
        self.request: Any = None
        self.done = False


class _Pass:
    """The reduction of one forward/backward pass."""

    def __init__(self, ddp: DistributedDataParallel) -> None:
        self.ddp = ddp
        self.is_ready = [False] * len(ddp._params)
        self.pending = [len(b.members) for b in ddp._buckets]
        self.launched = 0
        self.finalized = False
        self.settled = 0

    # ---------------------------------------------------------------- during backward
    def ready(self, i: int, g: np.ndarray) -> None:
        ddp = self.ddp
        if ddp._pass is not self and self.settled:
            raise RuntimeError(
                "DistributedDataParallel: this forward pass's gradients were already reduced "
                "(a second backward through the same graph?); run forward again"
            )
        if ddp._pass is not self:
            raise RuntimeError(
                "DistributedDataParallel: backward through the graph of an older forward "
                "pass; call backward once after each forward"
            )
        if self.is_ready[i]:
            raise RuntimeError(
                f"DistributedDataParallel: the gradient of {ddp._names[i]} arrived twice in "
                "one pass (a second backward through the same graph?); run forward again"
            )
        self.is_ready[i] = True
        b, slot = ddp._where[i]
        bucket = ddp._buckets[b]
        lo, hi = bucket.offsets[slot], bucket.offsets[slot + 1]
        bucket.send[lo:hi] = np.ravel(g)
        self.pending[b] -= 1
        self._launch_ready()
        self._progress()

    def _launch_ready(self) -> None:
        buckets = self.ddp._buckets
        while self.launched < len(buckets) and self.pending[self.launched] == 0:
            self._launch(buckets[self.launched])
            self.launched += 1

    def _launch(self, bucket: _Bucket) -> None:
        ddp = self.ddp
        bucket.done = False
        if ddp._size == 1:
            bucket.recv[...] = bucket.send
            bucket.request = None
        elif bucket.gathered is not None:
            bucket.request = ddp._comm.Iallgather(bucket.send, bucket.gathered)
        else:
            bucket.request = ddp._comm.Iallreduce(bucket.send, bucket.recv, op=ddp._sum)

    def _progress(self) -> None:
        # MPICH advances non-blocking collectives inside MPI calls: testing the
        # started ones lets them move on while backward computes the next layers.
        for bucket in self.ddp._buckets[: self.launched]:
            if bucket.request is not None and not bucket.done:
                bucket.request.Test()

    # ---------------------------------------------------------------- when leaves settle
    def finalize(self) -> None:
        if self.finalized:
            return
        self.finalized = True
        ddp = self.ddp
        unused = [i for i, ok in enumerate(self.is_ready) if not ok]
        for i in unused:  # zeros, so that every rank reduces the same buckets
            b, slot = ddp._where[i]
            bucket = ddp._buckets[b]
            bucket.send[bucket.offsets[slot] : bucket.offsets[slot + 1]] = 0
            self.pending[b] -= 1
        self._launch_ready()
        for i in unused:  # no hook of theirs will run: store their averages here
            p = ddp._params[i]
            avg = self.averaged(i).copy()
            p.grad = _wrap(avg, None) if p.grad is None else _wrap(p.grad.data + avg, None)

    def averaged(self, i: int) -> np.ndarray:
        ddp = self.ddp
        b, slot = ddp._where[i]
        bucket = ddp._buckets[b]
        if not bucket.done:
            if bucket.request is not None:
                bucket.request.Wait()
                if bucket.gathered is not None:
                    # Summed here in rank order: the same bits on every rank and in
                    # every run, whatever algorithm MPI picks for a reduction.
                    np.copyto(bucket.recv, bucket.gathered[0])
                    for r in range(1, ddp._size):
                        bucket.recv += bucket.gathered[r]
            if ddp._size > 1:
                bucket.recv /= ddp._size
            bucket.done = True
        p = ddp._params[i]
        return bucket.recv[bucket.offsets[slot] : bucket.offsets[slot + 1]].reshape(p.shape)


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
    rank contributes zeros. ``deterministic=True`` gathers each bucket and sums it
    in rank order, so results are bit-identical from run to run and on every rank
    (it moves N times the bytes of an all-reduce).

    Every rank must call forward and then backward once per step (a skipped
    backward on one rank leaves the others waiting). The module must read its
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
        object.__setattr__(self, "_comm", world.comm())
        object.__setattr__(self, "_sum", MPI.SUM)
        object.__setattr__(self, "_size", world.size())
        self.module = module
        self.bucket_mb = bucket_mb
        self.deterministic = deterministic
        broadcast_parameters(module)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        named.reverse()
        object.__setattr__(self, "_names", [n for n, _ in named])
        object.__setattr__(self, "_params", [p for _, p in named])
        object.__setattr__(self, "_pass", None)
        self._make_buckets(int(bucket_mb * 2**20))
        # Where each parameter is read in forward: (owner module, attribute name).
        index = {id(p): i for i, p in enumerate(self._params)}
        owners = [
            (mod, attr, index[id(p)])
            for mod in module.modules()
            for attr, p in mod._parameters.items()
            if p is not None and id(p) in index
        ]
        object.__setattr__(self, "_owners", owners)
        for i, p in enumerate(self._params):
            p.register_hook(self._settle_hook(i))

    def _make_buckets(self, limit: int) -> None:
        buckets: list[_Bucket] = []
        where: list[tuple[int, int]] = []
        members: list[int] = []
        sizes: list[int] = []
        nbytes = 0
        dtype = None

        def close() -> None:
            if members:
                buckets.append(_Bucket(dtype, list(members), list(sizes), self._size,
                                       self.deterministic))  # fmt: skip

        for i, p in enumerate(self._params):
            d = p.data.dtype
            if members and (d != dtype or nbytes + p.data.nbytes > limit):
                close()
                members, sizes, nbytes = [], [], 0
            dtype = d
            where.append((len(buckets), len(members)))
            members.append(i)
            sizes.append(p.data.size)
            nbytes += p.data.nbytes
        close()
        object.__setattr__(self, "_buckets", buckets)
        object.__setattr__(self, "_where", where)

    @property
    def bucket_sizes(self) -> list[int]:
        """Bytes in each bucket, in the order they are reduced."""
        return [b.send.nbytes for b in self._buckets]

    def _settle_hook(self, i: int) -> Any:
        def settle(grad: Tensor) -> Any:
            run = self._pass
            if run is None:
                return None  # a backward through the module used directly: local gradient
            if not run.is_ready[i]:
                raise RuntimeError(
                    f"DistributedDataParallel: {self._names[i]} got a gradient without going "
                    "through the wrapper's forward (read from _parameters, or the module "
                    "called directly while a wrapped pass waits for its backward)"
                )
            run.finalize()
            averaged = run.averaged(i)
            run.settled += 1
            if run.settled == sum(run.is_ready):
                object.__setattr__(self, "_pass", None)
            return averaged

        return settle

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not is_grad_enabled():
            return self.module(*args, **kwargs)
        run = _Pass(self)
        object.__setattr__(self, "_pass", run)
        proxies = [grad_sync(p, reducer=run, index=i) for i, p in enumerate(self._params)]
        originals = []
        try:
            for mod, attr, i in self._owners:
                originals.append((mod, attr, mod.__dict__[attr]))
                object.__setattr__(mod, attr, proxies[i])
            return self.module(*args, **kwargs)
        finally:
            for mod, attr, p in originals:
                object.__setattr__(mod, attr, p)
