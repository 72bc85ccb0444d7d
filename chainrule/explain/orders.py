"""Higher orders: a function replaced by its derivative, the backward pass recorded.

``explain(..., order=k)`` explains the (k-1)-th derivative's own graph; its chain
rule gives the k-th derivative. Each order about triples the graph, so both the
order and the size of each derivative's graph are capped here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import enable_grad
from chainrule.explain.errors import ExplainError
from chainrule.explain.evaluate import run_forward
from chainrule.tensor import Tensor, tensor

#: the highest ``order`` explained. Each order about triples the graph (the seed's
#: sigmoid: 4, 7, 17, 48, 147, 468 nodes for orders 1 to 6; order 8 had 7,120 and
#: took 6.5 s when order 6 had 658, order 9 18 s); past 6 the table is too long to read.
MAX_ORDER = 6
#: the most nodes a derivative's graph may have: its forward pass runs once per
#: finite-difference entry, so this bounds the numeric work too
MAX_GRAPH_NODES = 5000


def higher_order(
    forward: Callable[[dict[str, Any]], Any],
    title: str,
    arrays: dict[str, np.ndarray],
    order: int,
    wrt: str | None,
    from_text: bool = False,
) -> tuple[Callable[[dict[str, Any]], Any], str]:
    """``forward`` replaced by its derivative ``order - 1`` times, each recorded."""
    if wrt is None:
        if len(arrays) != 1:
            raise ExplainError(
                f"order={order} with several inputs: say which one to differentiate by, "
                f"e.g. wrt={next(iter(arrays), 'x')!r}"
            )
        wrt = next(iter(arrays))
    if wrt not in arrays:
        raise ExplainError(f"wrt={wrt!r} is not one of the inputs ({', '.join(arrays)})")
    for k in range(1, order):
        forward = _derivative(forward, wrt)
        title = f"d/d{wrt} {title}" if k == 1 else f"d/d{wrt} ({title})"
        _check_size(forward, arrays, k + 1, from_text)
    return forward, title


def _check_size(
    forward: Callable[[dict[str, Any]], Any], arrays: dict[str, Any], order: int, from_text: bool
) -> None:
    """Refuse a derivative whose graph is past MAX_GRAPH_NODES before building the next."""
    from chainrule.explain.trace import topological

    leaves = {n: tensor(a, requires_grad=True) for n, a in arrays.items()}
    out = run_forward(forward, leaves, from_text)
    node = getattr(out, "_node", None)
    # the recorded operations, as explain counts its nodes (leaves apart)
    size = 0 if node is None else sum(not isinstance(o, Tensor) for o in topological(node))
    if size > MAX_GRAPH_NODES:
        raise ExplainError(
            f"the order-{order} derivative's graph has {size} nodes, more than "
            f"{MAX_GRAPH_NODES}: ask for a lower order"
        )


def _derivative(
    forward: Callable[[dict[str, Any]], Any], wrt: str
) -> Callable[[dict[str, Any]], Any]:
    """The derivative of sum(forward) by ``wrt``, with its backward pass recorded."""
    from chainrule.autograd import engine

    def first(env: dict[str, Any]) -> Any:
        with enable_grad():
            leaves = {
                n: v
                if isinstance(v, Tensor) and v.requires_grad
                else tensor(np.asarray(getattr(v, "data", v), dtype=float), requires_grad=True)
                for n, v in env.items()
            }
            out = forward(leaves)
            if not isinstance(out, Tensor) or not out.requires_grad:
                return tensor(np.zeros_like(leaves[wrt].data))
            (g,) = engine.grad(
                out,
                [leaves[wrt]],
                grad_outputs=np.ones_like(out.data),
                create_graph=True,
                materialize_grads=True,
            )
        return g

    return first
