"""cr.keep_freed_memory: glibc's malloc keeps freed memory for the next step (no
page faults for memory freed and asked for again); bad arguments; other C
libraries; chainrule train makes the setting."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

import chainrule as cr
from chainrule import memory

# Thirty 1 MB arrays written and freed, round after round: the pattern of a training
# step's activations. Prints the minor page faults of the last five rounds.
PATTERN = """
import resource, sys
import numpy as np
import chainrule as cr
if sys.argv[1] == "keep":
    assert cr.keep_freed_memory()
def step():
    arrays = [np.ones(1 << 18, np.float32) for _ in range(30)]
    del arrays
for _ in range(2):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)


def _faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PATTERN, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[-1])


@glibc
def test_memory_freed_and_asked_for_again_is_not_faulted_in_again():
    pages = 5 * 30 * (1 << 20) // 4096  # what five rounds write
    assert _faults("keep") < pages // 100
    # glibc's default hands these arrays back to the system and faults them in again
    # (7648 faults a round on the machine this was written on): the test can fail.
    assert _faults("default") > pages // 4


def test_bad_arguments_are_one_clear_error():
    for kwargs in ({"max_array_bytes": 0}, {"keep_bytes": -1}, {"keep_bytes": 1.5},
                   {"max_array_bytes": True}, {"max_array_bytes": 64 << 20}):  # fmt: skip
        with pytest.raises(ValueError, match="keep_freed_memory"):
            cr.keep_freed_memory(**kwargs)


def test_another_c_library_is_left_alone(monkeypatch):
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    assert memory._mallopt() is None
    assert cr.keep_freed_memory() is False


def test_chainrule_train_keeps_freed_memory(monkeypatch, tmp_path):
    from chainrule.cli import main

    calls = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda *a, **k: calls.append(1) or True)
    args = ["train", "--dataset", "digits", "--epochs", "1", "--limit-train", "64"]
    code = main([*args, "--limit-test", "32", "--no-progress", "--out", str(tmp_path / "run")])
    assert code == 0 and calls == [1]
