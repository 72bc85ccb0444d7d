"""``cr.distributed``: data-parallel training on MPI (``mpiexec -n N python train.py``).

Needs the ``distributed`` extra (``pip install "chainrule[distributed]"``: mpi4py,
the MPICH library and threadpoolctl); importing chainrule does not import MPI,
and without ``mpiexec`` everything works as a world of one rank.

- the world: :func:`init`, :func:`rank`, :func:`size`, :func:`is_main`,
  :func:`barrier`, :func:`set_blas_threads`
- collectives: :func:`all_reduce` (differentiable: a primitive whose gradient is an
  all-reduce), :func:`all_gather`, :func:`broadcast_parameters`,
  :func:`broadcast_object` (JSON only), :func:`broadcast_state`
- training: :class:`DistributedDataParallel`, :class:`DistributedSampler`
- files: :func:`save` and :func:`on_main` (main rank only, after a barrier),
  :func:`load` (main rank reads, the others receive)

>>> import chainrule as cr
>>> cr.distributed.size(), cr.distributed.rank()   # without mpiexec
(1, 0)
"""

from chainrule.distributed.checkpoint import load, on_main, save
from chainrule.distributed.collectives import (
    all_gather,
    all_reduce,
    broadcast_object,
    broadcast_parameters,
    broadcast_state,
)
from chainrule.distributed.ddp import DistributedDataParallel
from chainrule.distributed.sampler import DistributedSampler
from chainrule.distributed.world import (
    INSTALL_HINT,
    barrier,
    init,
    is_main,
    launched_by_mpi,
    rank,
    set_blas_threads,
    size,
)

__all__ = [
    "INSTALL_HINT",
    "DistributedDataParallel",
    "DistributedSampler",
    "all_gather",
    "all_reduce",
    "barrier",
    "broadcast_object",
    "broadcast_parameters",
    "broadcast_state",
    "init",
    "is_main",
    "launched_by_mpi",
    "load",
    "on_main",
    "rank",
    "save",
    "set_blas_threads",
    "size",
]
