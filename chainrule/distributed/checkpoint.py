"""Rank-aware files: written by the main rank only, read by it and broadcast.

Two ranks writing one file can leave it half one and half the other; and on
several machines only the main rank may see the file at all. So the main rank
writes, after a barrier (every rank has finished the step the file records),
and reads; the others receive what it read as buffers (:func:`broadcast_state`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from chainrule.distributed import world
from chainrule.distributed.collectives import broadcast_state
from chainrule.distributed.comm import bcast_json


def on_main(write: Callable[[], Any]) -> Any:
    """Call ``write()`` on the main rank only, after every rank has come here; the
    other ranks wait until it is done (so none reads a file being written).
    Returns what ``write`` returned on the main rank, None on the others."""
    world.barrier()
    result = None
    error = None
    if world.is_main():
        try:
            result = write()
        except BaseException as exc:  # let the others go on first, then raise
            error = exc
    world.barrier()
    if error is not None:
        raise error
    return result


def save(obj: Any, path: str | os.PathLike) -> None:
    """``cr.save(obj, path)`` on the main rank only, after a barrier."""
    from chainrule.serialization import save as _save

    on_main(lambda: _save(obj, path))


def load(path: str | os.PathLike) -> Any:
    """``cr.load(path)`` on the main rank, broadcast to every rank (arrays as
    buffers, never pickle); only the main rank needs to see the file. When it
    cannot read it, every rank raises (the others an error of the same kind, with
    the main rank's message), so none waits for a broadcast that never comes."""
    from chainrule.serialization import CheckpointError
    from chainrule.serialization import load as _load

    state, failure = None, None
    if world.is_main():
        try:
            state = _load(path)
        except (OSError, CheckpointError) as exc:
            failure = [type(exc).__name__, str(exc)]
            if world.size() == 1:
                raise
    failure = bcast_json(failure)
    if failure is not None:
        kind = CheckpointError if failure[0] == "CheckpointError" else OSError
        raise kind(failure[1])
    return broadcast_state(state)
