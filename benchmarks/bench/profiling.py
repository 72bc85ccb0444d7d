"""cProfile a chainrule run and group its own time by part of the engine."""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from pathlib import Path
from typing import Any


def profile_chainrule(
    run: Callable[[], Any],
    iterations: int,
    per_call: int,
    unit: str,
    note: str,
    group_of: Callable[[str, str], str] | None = None,
) -> dict[str, Any]:
    """cProfile ``run`` and group its own time by ``group_of(filename, function)``
    (default: by part of chainrule's engine, see _profile_group)."""
    group_of = group_of or _profile_group
    run()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(iterations):
        run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    groups: dict[str, float] = {}
    top = []
    total = 0.0
    for (filename, line, func), (_cc, ncalls, tottime, _ct, _callers) in stats.stats.items():
        group = group_of(filename, func)
        groups[group] = groups.get(group, 0.0) + tottime
        total += tottime
        top.append(
            (tottime, ncalls, f"{Path(filename).parent.name}/{Path(filename).name}:{line}:{func}")
        )
    top.sort(reverse=True)
    scale = 1e6 / (iterations * per_call)
    return {
        "note": f"{note}; tottime by group, microseconds per {unit} (profiler overhead included)",
        "unit": f"us/{unit}",
        "total_us": total * scale,
        "groups_us": {
            k: round(v * scale, 3) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])
        },
        "top_functions": [
            {
                "function": where,
                "calls_per_unit": ncalls / (iterations * per_call),
                "tottime_us": round(t * scale, 3),
            }
            for t, ncalls, where in top[:15]
        ],
    }


def _profile_group(filename: str, func: str) -> str:
    """Which part of the work a profiled function belongs to (by file, then name)."""
    path = filename.replace("\\", "/")
    if "chainrule/autograd/engine" in path:
        return "backward: engine loop (_run, seeding)"
    if "chainrule/ops/" in path:
        return "backward: derivative rules (ops/*.py)"
    if "chainrule/autograd/forward" in path:
        return "forward mode: tangent pushing (autograd/forward.py)"
    if "chainrule/func.py" in path:
        return "transforms (func.py: grad, jacfwd)"
    if "chainrule/autograd/node" in path:
        return "graph: new_node (one Node per recorded op)"
    if "chainrule/tensor.py" in path:
        if func in ("_wrap", "__init__", "tensor", "as_tensor"):
            return "Tensor construction (_wrap, Tensor.__init__)"
        if func in ("backward", "item"):
            return "other chainrule (backward(), item(), ...)"
        # apply/unary/binary and the per-primitive closures (``op``) that wrap them
        return "forward: op hot path in tensor.py (includes the NumPy ufunc)"
    if "chainrule/tensor_methods" in path or "chainrule/functions" in path:
        return "forward: operator/function wrappers (__neg__, __radd__, cr.exp)"
    if "chainrule" in path:
        return "other chainrule (backward(), item(), ...)"
    if func.startswith("<built-in method __new__"):
        return "object.__new__ (Tensors and Nodes)"
    if func.startswith("<built-in method _operator."):
        return "NumPy arithmetic called through Python's operators"
    if func.startswith("<built-in method _heapq."):
        return "backward: heap push/pop (newest node first)"
    if "numpy" in func:
        return "NumPy built-ins (asarray, ones_like, ...)"
    return "other (Python built-ins, benchmark loop)"
