"""What was measured on: machine, load, speed probe, software versions, git state."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bench.env import REPO, cr


def version_of(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    cpu: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model", "cpu MHz") and key not in cpu:
                cpu[key] = value.strip()
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_model": cpu.get("model name") or platform.processor() or platform.machine(),
        "cpu_family": cpu.get("cpu family"),
        "cpu_model_number": cpu.get("model"),
        "cpu_mhz": cpu.get("cpu MHz"),
        "logical_cores": os.cpu_count(),
        "usable_cores": affinity,
        "memory": mem,
        "platform": platform.platform(),
    }


def machine_probe() -> dict[str, float]:
    """How fast the machine is right now, on two fixed jobs (taken at the start and
    the end of a run: on a shared machine a slow spell shows up here too)."""

    def loop() -> None:
        total = 0
        for i in range(200_000):
            total += i

    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, 512)).astype(np.float32)

    def median_ms(fn: Callable[[], Any], n: int) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return round(statistics.median(times) * 1e3, 3)

    return {
        "python_loop_200k_ms": median_ms(loop, 9),
        "matmul_512_f32_ms": median_ms(lambda: a @ a, 21),
    }


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages: other work on a shared machine skews timings."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def git_info() -> dict[str, Any]:
    """Which chainrule was measured: where it was imported from and, when that is
    this checkout, the commit and whether chainrule/ had uncommitted changes."""
    package = Path(cr.__file__).resolve().parent
    info: dict[str, Any] = {"chainrule_imported_from": str(package)}
    if package != REPO / "chainrule":
        return info

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    info["commit"] = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", "chainrule")
    info["chainrule_dirty"] = None if status is None else bool(status)
    return info


def _kernels_state() -> str:
    from chainrule.ops import compiled

    return "on" if compiled.numba_in_use() else "off"


def software_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "chainrule": getattr(cr, "__version__", None),
        "numpy": np.__version__,
        "torch": version_of("torch"),
        "autograd": version_of("autograd"),
        "micrograd": version_of("micrograd"),
        "mygrad": version_of("mygrad"),
        "jax": version_of("jax"),
        "jaxlib": version_of("jaxlib"),
        "numba": version_of("numba"),
        # chainrule's compiled float32 kernels (chainrule.ops.compiled): on or off
        "compiled_kernels": _kernels_state(),
    }
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # informative only
        pass
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {k: p.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for p in threadpool_info()
        ]
    except ImportError:
        pass
    if info["torch"]:
        import torch

        info["torch_num_threads"] = torch.get_num_threads()
    env = {
        k: os.environ[k]
        for k in (
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "OPENBLAS_CORETYPE",
            "OPENBLAS_L2_SIZE",
        )
        if k in os.environ
    }
    if env:
        info["environment"] = env
    return info
