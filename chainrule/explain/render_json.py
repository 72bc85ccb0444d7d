"""The explanation as plain data: ``to_dict`` (lists, floats, strings) and JSON.

The schema is in the module doc of :mod:`chainrule.explain`.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from chainrule.explain import expr as E
from chainrule.explain.model import to_plain
from chainrule.explain.trace import Vertex

if TYPE_CHECKING:
    from chainrule.explain.report import Report


def to_dict(ex: Report) -> dict[str, Any]:
    nodes = []
    for s in ex.nodes:
        v = s.vertex
        nodes.append(
            {
                "name": v.name,
                "op": v.op,
                "inputs": [
                    a.name if isinstance(a, Vertex) else _const_plain(a.value) for a in v.args
                ],
                "value": to_plain(v.value),
                "local": [
                    {
                        "wrt": loc.src.name,
                        "formula": E.to_text(loc.formula),
                        "value": None if loc.value is None else to_plain(loc.value),
                    }
                    for loc in s.locals
                ],
                "grad": to_plain(v.grad),
            }
        )
    sym = ex.symbolic
    return {
        "inputs": {n: to_plain(x) for n, x in ex.inputs.items()},
        "output": ex.output,
        "value": to_plain(ex.out_value),
        "gradients": {n: to_plain(g) for n, g in ex.gradient_arrays.items()},
        "nodes": nodes,
        "check": {
            "method": "central finite differences",
            "max_abs_error": ex.check.max_abs_error,
            "checked": ex.check.checked,
            "total": ex.check.total,
            "ok": ex.check.ok,
            "not_comparable": ex.check.not_comparable,
        },
        "symbolic": None if sym is None else sym.to_dict(),
        "element": _element(ex),
    }


def _element(ex: Report) -> dict[str, Any] | None:
    """The ``element=`` entry followed back, step by step (see chainrule.explain.element)."""
    if ex.element is None:
        return None
    return {
        "index": list(ex.element),
        "output": ex.output,
        "steps": [s.to_dict() for s in ex.element_steps],
    }


def to_json(ex: Report, indent: int | None = 2) -> str:
    """``to_dict`` as JSON; non-finite numbers are written as "inf", "-inf", "nan"."""
    return json.dumps(_json_safe(to_dict(ex)), indent=indent, ensure_ascii=False)


def _const_plain(value: Any) -> Any:
    if value is None:
        return None
    try:
        return to_plain(value)
    except (TypeError, ValueError):
        return str(value)


def _json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by its name (JSON has no inf or nan)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj
