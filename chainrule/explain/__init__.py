"""See the chain rule: every node of a computation, its local derivative and gradient.

``cr.explain(fn_or_expression, **inputs)`` runs a function (or an expression in
a small math language) at a point and returns an :class:`Explanation`: the
graph's nodes in evaluation order, each with its definition, value, local
derivative (formula and value), the upstream gradient d out / d node and the
product passed down, then the chain written out as a product of local
derivatives, and a check against central finite differences. With the
``explain`` extra (SymPy) it also gives the derivative symbolically.

Formats: ``str(ex)``, ``to_markdown()``, ``to_latex()``, ``to_html()``,
``to_dot()``, ``to_svg()``, ``to_dict()`` (and ``to_json()``).

``to_dict()`` schema::

    {"inputs": {name: value}, "output": node name, "value": v,
     "gradients": {input name: v},
     "nodes": [{"name": str, "op": str, "inputs": [names, or numbers for constants],
                "value": v, "local": [{"wrt": name, "formula": str, "value": v}],
                "grad": d output / d this node}],
     "check": {...finite differences...}, "symbolic": {...} or None,
     "element": None, or for explain(..., element=index) the entry followed back:
                {"index": [int], "output": name, "steps": [{"node", "op", "kind",
                 "index", "value", "upstream", "local": [...], "terms": [...]}]}
                (docs/reference/explain-element.md)}

Values are floats or nested lists; nodes are in evaluation order.

For a ``cr.nn.Module``, ``cr.explain(model, *inputs, target=None, loss=None)``
explains the network with its layers as the nodes: a :class:`NetworkExplanation`
(gradient norms, gains, activation statistics and a diagnosis per layer).

>>> import chainrule as cr
>>> ex = cr.explain("1/(1+exp(-z))", z=0.5)
>>> [(n["name"], n["op"]) for n in ex.to_dict()["nodes"]]
[('f', 'neg'), ('g', 'exp'), ('h', 'add'), ('i', 'div')]
"""

from chainrule.explain.build import explain, graph
from chainrule.explain.errors import ExplainError
from chainrule.explain.evaluate import evaluate
from chainrule.explain.explanation import Explanation
from chainrule.explain.expr import parse
from chainrule.explain.network_explanation import NetworkExplanation

SEED_EXPRESSION = "1/(1+exp(-z))"
SEED_POINT = {"z": 0.5}

__all__ = [
    "SEED_EXPRESSION",
    "SEED_POINT",
    "ExplainError",
    "Explanation",
    "NetworkExplanation",
    "evaluate",
    "explain",
    "graph",
    "parse",
]
