"""The names ``chainrule.explain.core`` offered before the package was split; old imports work.

The explanation's data is :mod:`~chainrule.explain.report`, the user-facing class
:mod:`~chainrule.explain.explanation`, its building (``explain``, ``graph``)
:mod:`~chainrule.explain.build`. This module sits above them all and adds nothing.

>>> from chainrule.explain.core import Explanation, explain
>>> isinstance(explain("x*x", x=3.0), Explanation)
True
"""

from __future__ import annotations

from chainrule.explain.build import RESERVED, explain, graph
from chainrule.explain.errors import ExplainError
from chainrule.explain.evaluate import evaluate
from chainrule.explain.explanation import Explanation
from chainrule.explain.orders import MAX_ORDER

__all__ = ["MAX_ORDER", "RESERVED", "ExplainError", "Explanation", "evaluate", "explain", "graph"]
