"""The MPI world: start-up, who am I, how many of us, and ending all ranks together.

mpi4py is imported on first use, never by ``import chainrule``: a program that
does not use :mod:`chainrule.distributed` pays nothing for it, and one without
the ``distributed`` extra gets one line saying what to install. Started without
``mpiexec``, MPI makes a world of one rank (a "singleton"), so the same program
runs on a laptop and under ``mpiexec -n N``.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

INSTALL_HINT = 'pip install "chainrule[distributed]"'

# Environment variables the MPI launchers set in every rank they start (MPICH's
# Hydra: PMI_*; Open MPI: OMPI_*; PMIx launchers such as Slurm's: PMIX_RANK).
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")
_LAUNCHER_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")

_state: dict[str, Any] = {"mpi": None, "hooked": False, "blas": None}


def mpi() -> Any:
    """The ``mpi4py.MPI`` module, imported (and MPI initialised) on first use."""
    if _state["mpi"] is None:
        try:
            from mpi4py import MPI
        except ImportError:
            raise ImportError(
                f"chainrule.distributed needs mpi4py and an MPI library: {INSTALL_HINT}"
            ) from None
        _state["mpi"] = MPI
    return _state["mpi"]


def launched_by_mpi() -> bool:
    """True when a launcher (``mpiexec``, ``srun``) started this process as one of
    several ranks; read from the environment, so it needs no MPI import."""
    for var in _LAUNCHER_SIZE_VARS:
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 1:
            return True
    return False


def launcher_rank() -> int:
    """This process's rank as the launcher's environment says (0 when there is none),
    known before MPI starts: for deciding early who prints."""
    for var in _LAUNCHER_RANK_VARS:
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 0


def comm() -> Any:
    """The communicator of every rank (``MPI.COMM_WORLD``)."""
    return mpi().COMM_WORLD


def init() -> None:
    """Start MPI (idempotent) and install the abort-on-uncaught-exception hook.

    With more than one rank, an exception that reaches the top of any rank prints
    its traceback (prefixed with the rank) and aborts every rank with status 1, so a
    failing rank never leaves the others waiting forever in a collective.
    """
    world = comm()
    if not _state["hooked"] and world.Get_size() > 1:
        previous = sys.excepthook

        def abort_all(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
            text = "".join(traceback.format_exception(kind, exc, tb))
            prefix = f"[rank {world.Get_rank()}] "
            sys.stderr.write("".join(prefix + line + "\n" for line in text.splitlines()))
            sys.stderr.flush()
            sys.stdout.flush()
            if kind is KeyboardInterrupt:
                world.Abort(130)
            world.Abort(1)
            previous(kind, exc, tb)  # reached only if Abort returns (it does not)

        sys.excepthook = abort_all
        _state["hooked"] = True


def rank() -> int:
    """This process's rank, 0 .. size()-1."""
    init()
    return comm().Get_rank()


def size() -> int:
    """How many ranks run this program (1 without ``mpiexec``)."""
    init()
    return comm().Get_size()


def is_main() -> bool:
    """True on rank 0, the one that prints and writes files."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank has reached this point."""
    init()
    comm().Barrier()


def abort(code: int = 1) -> None:
    """End every rank now with exit status ``code``."""
    comm().Abort(code)


def local_size() -> int:
    """How many ranks share this machine (its memory)."""
    init()
    MPI = mpi()
    node = comm().Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.Get_size()
    finally:
        node.Free()


def set_blas_threads(threads: int | None = None) -> tuple[int, str]:
    """Limit the BLAS threads of this rank; returns ``(threads, why)``.

    By default each of the N ranks on a machine gets cores/N threads (at least 1),
    so the ranks do not oversubscribe the cores; ``threads`` (or the environment
    variable ``CHAINRULE_BLAS_THREADS``) overrides it. Uses threadpoolctl, which
    changes the limit of the BLAS NumPy already loaded.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ImportError(
            f"chainrule.distributed sets BLAS threads with threadpoolctl: {INSTALL_HINT}"
        ) from None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    here = local_size()
    env = os.environ.get("CHAINRULE_BLAS_THREADS")
    if threads is None and env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"CHAINRULE_BLAS_THREADS={env!r}: must be a whole number >= 1")
        threads, why = int(env), "from CHAINRULE_BLAS_THREADS"
    elif threads is None:
        threads = max(1, cores // here)
        why = f"{cores} cores / {here} ranks on this machine"
    else:
        if threads < 1:
            raise ValueError(f"BLAS threads {threads}: must be >= 1")
        why = "as asked"
    # Kept referenced: threadpoolctl restores the old limit when the object is collected.
    _state["blas"] = threadpool_limits(limits=threads, user_api="blas")
    return threads, why
