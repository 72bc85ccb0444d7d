"""The names ``chainrule.explain.core`` offered before the package was split; old imports work.

The explanation's data is :mod:`~chainrule.explain.report`, the user-facing class
:mod:`~chainrule.explain.explanation`, its building (``explain``, ``graph``)
:mod:`~chainrule.explain.build`. This module sits above them all and adds nothing;
beside its own names it keeps those it once had by importing them (``Check``,
``Vertex``, ...), for code that reached them here.

>>> from chainrule.explain.core import Explanation, explain
>>> isinstance(explain("x*x", x=3.0), Explanation)
True
"""

# ruff: noqa: F401  (every import here is a re-export)
from __future__ import annotations

from chainrule.explain import expr as E
from chainrule.explain.budget import resolve_timeout
from chainrule.explain.build import RESERVED, explain, graph
from chainrule.explain.check import Check, finite_difference_check, numeric_closed_form
from chainrule.explain.errors import ExplainError
from chainrule.explain.evaluate import evaluate, run_forward
from chainrule.explain.explanation import Explanation
from chainrule.explain.model import Step, build_steps, count_paths, paths, to_plain
from chainrule.explain.orders import MAX_ORDER, higher_order
from chainrule.explain.trace import Vertex, backpropagate, read_graph
from chainrule.tensor import Tensor, name_of, tensor
from chainrule.tensor import name as set_name

__all__ = ["MAX_ORDER", "RESERVED", "ExplainError", "Explanation", "evaluate", "explain", "graph"]
