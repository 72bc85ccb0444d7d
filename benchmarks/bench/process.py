"""Fresh Python processes for one measurement each, and their memory figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.env import HERE, SKIP_CHAINRULE_ENV


def spawn_worker(spec: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """Run ``spec`` in a fresh Python process; returns its result, or {"skip": why}.

    Workers for a peer other than chainrule do not import chainrule.
    """
    env = dict(os.environ)
    if spec.get("peer") is not None and not spec["peer"].startswith("chainrule"):
        env[SKIP_CHAINRULE_ENV] = "1"
    cmd = [sys.executable, str(HERE / "run.py"), "--worker", json.dumps(spec)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"skip": f"worker timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"skip": f"worker failed (exit {done.returncode}): {done.stderr.strip()[-400:]}"}
    return json.loads(lines[-1])


def rss_now_mb() -> float:
    """Resident set size right now (VmRSS), in MB (10^6 bytes)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    This is VmHWM, the peak of the process's own memory map. ``ru_maxrss`` would be
    the same number in a process started from a small one, but Linux carries it
    over fork and exec: a worker spawned by this script (which has torch and JAX
    loaded, 500+ MB) would report the parent's peak. ``ru_maxrss`` is recorded as
    well (``ru_maxrss_mb``) for comparison.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return ru_maxrss_mb()


def ru_maxrss_mb() -> float:
    """getrusage(RUSAGE_SELF).ru_maxrss (KiB on Linux) in MB; see peak_rss_mb."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
