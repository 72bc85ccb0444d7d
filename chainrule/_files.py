"""Writing files safely: whole or not at all, and never over something that is not a file.

``write_atomic(path, data)`` (and ``atomic_writer(path)``, its streaming form) write
to a temporary file in the target's folder, flush and fsync it, give it the target's
mode and owner, and rename it over the target, so a reader sees the old file or the
new one, never half of either. What they refuse, and why:

- a target that exists and is not a regular file (a device such as ``/dev/full``, a
  FIFO, a directory): renaming over it would replace the device node or the pipe
  with a plain file, which, run as root, breaks the system for everyone else;
- nothing else is refused: a symlink is followed, so the file it points to is
  replaced and the link stays a link.

Temporary files are named ``.<name>.chainrule-tmp-<pid>-<random>`` next to the
target. A writer killed by SIGKILL cannot remove its own, so every write to a
target first removes that target's leftovers whose writer process is gone, or that
have not been written to for ``STALE_SECONDS`` (a pid can be reused). A concurrent
writer's live, growing temporary file is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from typing import BinaryIO

TMP_MARK = ".chainrule-tmp-"
# mtime, not creation time: a live writer keeps touching its file, so only one that
# stopped writing this long ago counts as dead whatever its pid says.
STALE_SECONDS = 15 * 60

_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def _target(path: str) -> tuple[str, os.stat_result | None]:
    """The file a write to ``path`` replaces (symlinks followed), and its stat if it exists.

    Raises OSError, before anything is created, when that is not a regular file."""
    real = os.path.realpath(path)
    try:
        st = os.lstat(real)
    except FileNotFoundError:
        return real, None
    if stat.S_ISLNK(st.st_mode):  # realpath stops at a loop
        raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL
        raise OSError(code, f"it is {kind}, not a regular file; refusing to replace it", path)
    return real, st


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) there sends CTRL_C_EVENT: never probe
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, someone else's
        return True
    return True


def remove_stale_temporaries(target: str) -> list[str]:
    """Remove what killed writes to ``target`` left behind; return the paths removed.

    Ours (``.<name>.chainrule-tmp-<pid>-<hex>``) and the older naming
    (``.<name>.<pid>.<hex>.tmp``) both count; a file counts as left behind when its
    writer's pid is not running, or when it was last written ``STALE_SECONDS`` ago."""
    folder, name = os.path.split(target)
    ours = re.compile(re.escape(f".{name}{TMP_MARK}") + r"(\d+)-[0-9a-f]+")
    older = re.compile(re.escape(f".{name}.") + r"(\d+)\.[0-9a-f]{8}\.tmp")
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder or "."))
    except OSError:
        return removed
    for entry in entries:
        match = ours.fullmatch(entry.name) or older.fullmatch(entry.name)
        if match is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        pid = int(match.group(1))
        stale = now - st.st_mtime > STALE_SECONDS
        if stale or (0 < pid != os.getpid() and not _pid_alive(pid)):
            with contextlib.suppress(OSError):  # another writer may have removed it first
                os.unlink(entry.path)
                removed.append(entry.path)
    return removed


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file to write; on leaving the block without error it replaces ``path``.

    The streaming form of :func:`write_atomic`, for writers that produce their
    output piece by piece (``np.savez`` into it, say) rather than as one bytes object.
    On an error inside the block the target is untouched and the temporary file removed.
    """
    path = os.fspath(path)
    target, st = _target(path)
    remove_stale_temporaries(target)
    folder, name = os.path.split(target)
    tmp = os.path.join(folder, f".{name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
    # A new file gets 0o666 less the umask, as open() would give it; an existing
    # one's mode is copied below, so start private rather than wider than it.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if st is None else 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if st is not None:
                _copy_owner_and_mode(f.fileno(), st)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    with contextlib.suppress(OSError):  # the rename survives a crash once the folder is synced
        os.fsync(dfd)
    os.close(dfd)


def _copy_owner_and_mode(fd: int, st: os.stat_result) -> None:
    if hasattr(os, "fchown") and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
        # Only root may give a file away; anyone may keep a group they belong to.
        # chown clears setuid/setgid bits, hence before chmod.
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except PermissionError:
            with contextlib.suppress(PermissionError):
                os.fchown(fd, -1, st.st_gid)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(st.st_mode))


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: the old file or the new one, never half.

    Keeps the target's mode (and owner, where permitted); follows a symlink and
    replaces the file it points to; refuses, with an :class:`OSError` before creating
    anything, a target that exists and is not a regular file (``/dev/full``, a FIFO,
    a directory). Leftovers of writes to ``path`` that were killed are removed.
    """
    with atomic_writer(path) as f:
        f.write(data)
