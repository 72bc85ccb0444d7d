"""Evaluating a parsed expression with the engine: variables become Tensors (to record
the graph) or arrays (to only compute); parts without variables are folded to floats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import functions as F
from chainrule.autograd.grad_mode import enable_grad
from chainrule.explain import expr as E
from chainrule.explain.errors import ExplainError
from chainrule.tensor import Tensor

# ------------------------------------------------------------- the expression language
#: The language's functions of one argument, on constants.
_NUM_UNARY = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0),
    "sum": np.sum,
    "mean": np.mean,
}


def _numeric(fn: str, args: list[Any]) -> Any:
    """A function of the language on constants (floats), never raising on overflow."""
    a = [np.float64(x) if np.ndim(x) == 0 else np.asarray(x, dtype=float) for x in args]
    if fn in ("max", "min"):
        if len(a) == 2:
            return (np.maximum if fn == "max" else np.minimum)(a[0], a[1])
        return np.max(a[0]) if fn == "max" else np.min(a[0])
    unary = _NUM_UNARY.get(fn)
    if unary is None:
        raise ExplainError(f"unknown function {fn!r}")  # the parser lets none through
    return unary(a[0])


def _traced(fn: str, args: list[Any]) -> Tensor:
    x = args[0]
    if fn == "tan":
        # tan is not a primitive: the quotient of two, each with its own rule
        return F.sin(x) / F.cos(x)
    if fn in ("max", "min") and len(args) == 2:
        return (F.maximum if fn == "max" else F.minimum)(args[0], args[1])
    return getattr(F, fn)(x)


_BIN = {"+": F.add, "-": F.subtract, "*": F.multiply, "/": F.divide, "^": F.power}
_NUM_BIN = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power}


def evaluate(e: E.Expr, env: dict[str, Any]) -> Any:
    """Compute ``e`` with chainrule; subexpressions without variables are folded to floats.

    Values in ``env`` are Tensors (to record a graph) or arrays (to only compute).
    Numbers are float64, so ``9^9^9^9`` overflows to inf instead of growing an integer.
    """
    with np.errstate(all="ignore"):
        return _eval(e, env)


def _is_const(v: Any) -> bool:
    return not isinstance(v, Tensor)


def _const(v: Any) -> Any:
    v = np.asarray(v, dtype=float)
    return float(v) if v.ndim == 0 else v


def _eval(e: E.Expr, env: dict[str, Any]) -> Any:
    if isinstance(e, E.Num):
        return e.value
    if isinstance(e, E.Var):
        if e.name in E.CONSTANTS:
            return E.CONSTANTS[e.name]
        if e.name not in env:
            raise ExplainError(f"no value for {e.name!r}; pass {e.name}=... (CLI: --at)")
        return env[e.name]
    if isinstance(e, E.Neg):
        a = _eval(e.arg, env)
        return _const(np.negative(a)) if _is_const(a) else F.negative(a)
    if isinstance(e, E.Bin):
        a, b = _eval(e.left, env), _eval(e.right, env)
        if _is_const(a) and _is_const(b):
            return _const(_NUM_BIN[e.op](np.asarray(a, float), np.asarray(b, float)))
        return _BIN[e.op](a, b)
    if isinstance(e, E.Call):
        args = [_eval(a, env) for a in e.args]
        if all(_is_const(a) for a in args):
            return _const(_numeric(e.fn, args))
        if e.fn == "mean":
            return F.mean(args[0])
        return _traced(e.fn, args)
    raise ExplainError(f"cannot evaluate {e!r}")


def run_forward(
    forward: Callable[[dict[str, Any]], Any], env: dict[str, Any], from_text: bool
) -> Any:
    """The recorded forward pass. An expression's failure (shapes that do not
    broadcast) is a fault of the input, so it becomes one line; a Python
    function's is a fault in its code, whose traceback the caller needs."""
    with enable_grad(), np.errstate(all="ignore"):
        if not from_text:
            return forward(env)
        try:
            return forward(env)
        except ExplainError:
            raise
        except (ValueError, TypeError, ArithmeticError, IndexError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExplainError(f"cannot evaluate the expression: {first}") from None
