"""chainrule._files: atomic writes that keep the target's mode and owner, follow symlinks,
refuse what is not a regular file, and clean up after writers that were killed."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from chainrule._files import STALE_SECONDS, TMP_MARK, atomic_writer, write_atomic

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX modes, FIFOs and signals")


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_writes_whole_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "a.txt"
    write_atomic(target, b"one")
    write_atomic(str(target), b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_an_error_inside_the_block_leaves_the_old_file(tmp_path):
    target = tmp_path / "a.txt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(target) as f:
        f.write(b"half")
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.txt"]


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755, 0o444])
def test_keeps_the_mode_of_the_file_it_replaces(tmp_path, mode):
    target = tmp_path / "m.bin"
    target.write_bytes(b"old")
    os.chmod(target, mode)
    write_atomic(target, b"new")
    assert stat.S_IMODE(os.stat(target).st_mode) == mode
    assert target.read_bytes() == b"new"


@posix_only
def test_a_new_file_gets_the_umask_default(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "n.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "n.bin").st_mode) == 0o640


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_keeps_the_owner_of_the_file_it_replaces_when_root(tmp_path):
    target = tmp_path / "o.bin"
    target.write_bytes(b"old")
    os.chown(target, 4321, 4322)
    os.chmod(target, 0o640)
    write_atomic(target, b"new")
    st = os.stat(target)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (4321, 4322, 0o640)


@posix_only
def test_a_symlink_is_followed_and_stays_a_link(tmp_path):
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "data.bin"
    real.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(os.path.join("real", "data.bin"))  # relative, as people make them
    write_atomic(link, b"new")
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "data.bin")
    assert real.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path / "real")) == ["data.bin"]
    # a dangling link: the file it names is created, the link is kept
    dangling = tmp_path / "dangling.bin"
    dangling.symlink_to(tmp_path / "real" / "later.bin")
    write_atomic(dangling, b"made")
    assert dangling.is_symlink() and (tmp_path / "real" / "later.bin").read_bytes() == b"made"


def assert_refused(target, kind: str) -> None:
    before = sorted(os.listdir(os.path.dirname(os.path.abspath(target))))
    with pytest.raises(OSError) as info:
        write_atomic(target, b"x")
    message = info.value.strerror
    assert kind in message and "not a regular file" in message and "\n" not in str(info.value)
    assert sorted(os.listdir(os.path.dirname(os.path.abspath(target)))) == before


@posix_only
def test_a_fifo_is_refused_before_anything_is_created(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert_refused(fifo, "a FIFO")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_directory_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    assert_refused(tmp_path / "d", "a directory")
    assert (tmp_path / "d").is_dir()


@posix_only
@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
def test_a_device_is_refused_and_never_renamed_over(monkeypatch):
    # This machine runs the tests as root, where renaming over /dev/null would replace
    # the device for everyone: should the refusal ever fail, the rename fails too.
    def no_rename(*args, **kwargs):
        raise AssertionError("write_atomic tried to rename over a device")

    monkeypatch.setattr(os, "replace", no_rename)
    monkeypatch.setattr(os, "rename", no_rename)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert_refused("/dev/null", "a character device")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@posix_only
def test_a_symlink_to_a_device_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", lambda *a: pytest.fail("renamed over a device"))
    (tmp_path / "out").symlink_to("/dev/null")
    assert_refused(tmp_path / "out", "a character device")
    assert (tmp_path / "out").is_symlink()


@posix_only
def test_leftovers_of_dead_writers_are_removed(tmp_path):
    target = tmp_path / "ckpt.bin"
    pid = dead_pid()
    ours = tmp_path / f".ckpt.bin{TMP_MARK}{pid}-0a1b2c3d"
    older = tmp_path / f".ckpt.bin.{pid}.0a1b2c3d.tmp"  # the naming before this module
    other = tmp_path / f".other.bin{TMP_MARK}{pid}-0a1b2c3d"  # another target's: not ours
    for p in (ours, older, other):
        p.write_bytes(b"x" * 1000)
    write_atomic(target, b"new")
    assert sorted(os.listdir(tmp_path)) == sorted(["ckpt.bin", other.name])


@posix_only
def test_a_live_writers_file_is_kept_unless_it_stopped_long_ago(tmp_path):
    target = tmp_path / "ckpt.bin"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fresh = tmp_path / f".ckpt.bin{TMP_MARK}{live.pid}-00000001"
        stale = tmp_path / f".ckpt.bin{TMP_MARK}{live.pid}-00000002"
        fresh.write_bytes(b"being written")
        stale.write_bytes(b"abandoned")
        long_ago = time.time() - STALE_SECONDS - 60
        os.utime(stale, (long_ago, long_ago))
        write_atomic(target, b"new")
        assert sorted(os.listdir(tmp_path)) == sorted(["ckpt.bin", fresh.name])
    finally:
        live.kill()
        live.wait()


@posix_only
def test_a_write_killed_mid_way_is_cleaned_up_by_the_next(tmp_path):
    target = tmp_path / "big.bin"
    target.write_bytes(b"old")
    script = textwrap.dedent(
        f"""
        import sys, time
        from chainrule._files import atomic_writer
        with atomic_writer({str(target)!r}) as f:
            for _ in range(8):
                f.write(b"x" * (1 << 20))
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"writing\n"
        leftovers = [n for n in os.listdir(tmp_path) if n.startswith(f".big.bin{TMP_MARK}")]
        assert len(leftovers) == 1
        assert os.path.getsize(tmp_path / leftovers[0]) == 8 << 20
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert target.read_bytes() == b"old"  # the killed write changed nothing
    assert len(os.listdir(tmp_path)) == 2
    write_atomic(target, b"new")
    assert os.listdir(tmp_path) == ["big.bin"] and target.read_bytes() == b"new"


def test_concurrent_writers_to_one_path_never_lose_each_others_files(tmp_path):
    # Same pid, all alive: the leftover cleanup must not take a file another thread
    # is still writing (its rename would then fail).
    import threading

    target = tmp_path / "shared.bin"
    payloads = [bytes([i]) * 100_000 for i in range(4)]
    errors = []

    def writer(payload):
        try:
            for _ in range(20):
                write_atomic(target, payload)
        except Exception as exc:  # collected, asserted empty below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_bytes() in payloads
    assert os.listdir(tmp_path) == ["shared.bin"]
