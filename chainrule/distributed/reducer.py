"""The buckets of :class:`~chainrule.distributed.DistributedDataParallel` and the
reduction of one forward/backward pass.

Where the bytes go. Each bucket is one flat array, and every parameter's
``.grad`` is a Tensor over its slice of it. A gradient handed over during
backward is written straight into that slice, already multiplied by 1/N; the
bucket is then all-reduced in place (a sum of the ranks' N-ths is their mean).
So one pass over the gradient's bytes happens outside MPI, the write itself:
nothing is copied out afterwards, and there is no separate division.

Accumulation, as without the wrapper: when ``.grad`` already holds a gradient
(no ``zero_grad`` between two backwards), the slot holds (old + new) / N, whose
sum over the ranks is old + the mean of new when old is the same on every rank
(as it is after a reduced backward), and the mean of the olds otherwise (a local
gradient accumulated without the wrapper is averaged at the next reduction, as
in PyTorch). A ``.grad`` the user replaced is copied in first; one set to None
starts from zero. After the pass every parameter's ``.grad`` is its slice again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.tensor import Tensor, _wrap


class Bucket:
    """One flat buffer holding the gradients of some parameters (one dtype)."""

    __slots__ = ("members", "flat", "gathered", "request")

    def __init__(self, members: list[int], params: list[Tensor], ranks: int,
                 deterministic: bool) -> None:  # fmt: skip
        self.members = members
        total = sum(params[i].data.size for i in members)
        self.flat = np.zeros(total, params[members[0]].data.dtype)
        # deterministic: every rank's bucket, summed here in rank order
        self.gathered = (
            np.empty((ranks, total), self.flat.dtype) if deterministic and ranks > 1 else None
        )
        self.request: Any = None


class Reducer:
    """The buckets of one wrapped module, the ``.grad`` views into them, and how a
    bucket is reduced (in place on ``comm``, a communicator of its own)."""

    def __init__(self, params: list[Tensor], names: list[str], limit: int, comm: Any,
                 sum_op: Any, in_place: Any, deterministic: bool) -> None:  # fmt: skip
        self.params = params
        self.names = names
        self.comm = comm
        self.size = 1 if comm is None else comm.Get_size()
        self.scale = 1.0 / self.size
        self.sum_op = sum_op
        self.in_place = in_place
        self.buckets: list[Bucket] = []
        self.bucket_of: list[int] = []
        members: list[int] = []
        nbytes = 0
        for i, p in enumerate(params):
            if members and (p.data.dtype != params[members[0]].data.dtype
                            or nbytes + p.data.nbytes > limit):  # fmt: skip
                self.buckets.append(Bucket(members, params, self.size, deterministic))
                members, nbytes = [], 0
            self.bucket_of.append(len(self.buckets))
            members.append(i)
            nbytes += p.data.nbytes
        if members:
            self.buckets.append(Bucket(members, params, self.size, deterministic))
        self.views: list[np.ndarray] = []
        for bucket in self.buckets:
            lo = 0
            for i in bucket.members:
                p = params[i]
                self.views.append(bucket.flat[lo : lo + p.data.size].reshape(p.data.shape))
                lo += p.data.size
        self.grads = [_wrap(v, None) for v in self.views]

    # ---------------------------------------------------------------- one slot
    def _own_grad(self, i: int) -> int:
        """Make slot ``i`` hold the parameter's current ``.grad`` (a replaced one is
        copied in); 0: there is none, 1: there is one."""
        p = self.params[i]
        grad = p.grad
        view = self.views[i]
        if grad is None:
            return 0
        if grad is self.grads[i] and grad._data is view:
            return 1
        if not isinstance(grad, Tensor) or grad.data.shape != view.shape:
            what = type(grad).__name__ if not isinstance(grad, Tensor) else grad.data.shape
            raise RuntimeError(
                f"DistributedDataParallel: {self.names[i]}.grad was set to {what}, but the "
                f"parameter has shape {view.shape}; set it to a Tensor of that shape or None"
            )
        np.copyto(view, grad.data, casting="same_kind")
        if grad is self.grads[i]:  # its array was replaced: wrap the slot anew
            self.grads[i] = _wrap(view, None)
        return 1

    def write(self, i: int, g: Any) -> None:
        """The parameter's gradient of this pass into its slot, times 1/N."""
        view = self.views[i]
        if not self._own_grad(i):
            if self.size == 1:
                np.copyto(view, g, casting="same_kind")
            else:
                np.multiply(g, self.scale, out=view, casting="same_kind")
            return
        np.add(view, g, out=view, casting="same_kind")
        if self.size > 1:
            view *= self.scale

    def write_none(self, i: int) -> None:
        """No gradient this pass: the slot holds the old ``.grad`` / N, or zeros."""
        view = self.views[i]
        if not self._own_grad(i):
            view[...] = 0
        elif self.size > 1:
            view *= self.scale

    # ---------------------------------------------------------------- one bucket
    def launch(self, b: int) -> None:
        bucket = self.buckets[b]
        if self.size == 1:
            return
        if bucket.gathered is not None:
            bucket.request = self.comm.Iallgather(bucket.flat, bucket.gathered)
        else:
            bucket.request = self.comm.Iallreduce(self.in_place, bucket.flat, op=self.sum_op)

    def progress(self, launched: int) -> None:
        # MPICH advances non-blocking collectives inside MPI calls: one test of a
        # started reduction lets all of them move on while backward computes.
        for bucket in self.buckets[:launched]:
            request = bucket.request
            if request is not None:
                if not request.Test():
                    return
                bucket.request = None  # complete; finish() sums a gathered one

    def wait(self, b: int) -> None:
        bucket = self.buckets[b]
        if bucket.request is not None:
            bucket.request.Wait()
            bucket.request = None
        if bucket.gathered is not None:
            # Summed in rank order: the same bits on every rank and in every run,
            # whatever algorithm MPI picks for a reduction.
            np.copyto(bucket.flat, bucket.gathered[0])
            for r in range(1, self.size):
                bucket.flat += bucket.gathered[r]

    def attach(self) -> None:
        """Every parameter's ``.grad`` is its slot again."""
        for p, grad in zip(self.params, self.grads):
            p.grad = grad


class Pass:
    """The reduction of one forward pass's gradients, begun by its backward."""

    __slots__ = ("reducer", "ready_flags", "pending", "launched", "reached", "finished")

    def __init__(self, reducer: Reducer) -> None:
        self.reducer = reducer
        self.ready_flags = [False] * len(reducer.params)
        self.pending = [len(b.members) for b in reducer.buckets]
        self.launched = 0
        self.reached = False  # some gradient of this pass arrived on this rank
        self.finished = False

    def ready(self, i: int, g: Any) -> None:
        """Parameter ``i``'s gradient is complete: into its bucket; start every bucket
        now full, in order (MPI matches collectives by the order they start)."""
        if self.ready_flags[i]:
            raise RuntimeError(
                f"DistributedDataParallel: the gradient of {self.reducer.names[i]} arrived "
                "twice in one pass (a second backward through the same graph?); run "
                "forward again"
            )
        self.ready_flags[i] = True
        self.reached = True
        reducer = self.reducer
        reducer.write(i, g)
        b = reducer.bucket_of[i]
        self.pending[b] -= 1
        if self.pending[b] == 0:
            self._launch_full()
        reducer.progress(self.launched)

    def _launch_full(self) -> None:
        pending = self.pending
        while self.launched < len(pending) and pending[self.launched] == 0:
            self.reducer.launch(self.launched)
            self.launched += 1

    def finish(self) -> None:
        """Zeros for the parameters that got no gradient (every rank reduces every
        bucket), start the rest, wait for all, and attach the averages as ``.grad``."""
        self.finished = True
        reducer = self.reducer
        for i, ok in enumerate(self.ready_flags):
            if not ok:
                reducer.write_none(i)
                self.pending[reducer.bucket_of[i]] -= 1
        self._launch_full()
        for b in range(len(reducer.buckets)):
            reducer.wait(b)
        reducer.attach()
