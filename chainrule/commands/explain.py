"""``chainrule explain``: the chain rule of an expression, node by node, in any format.

Without an expression it explains the seed's sigmoid 1/(1+exp(-z)) at z = 0.5.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from chainrule._files import write_atomic

HELP = "the chain rule of an expression, node by node (default: the seed's sigmoid at z=0.5)"

FORMATS = ("text", "markdown", "latex", "html", "dot", "svg", "json")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "expression",
        nargs="?",
        metavar="EXPR",
        help="an expression such as 'x*x + sin(x)' (numbers, variables, + - * / ^ **, "
        "exp log sqrt abs sin cos tan tanh sigmoid relu max min sum mean); "
        "default: the seed's 1/(1+exp(-z))",
    )
    parser.add_argument(
        "--at",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable's value: a number, or an array as JSON (x=[1,2,3]) or "
        "comma-separated (x=1,2,3); repeat for each variable (default for the seed: z=0.5)",
    )
    parser.add_argument("--format", "-f", choices=FORMATS, default="text", help="output format")
    parser.add_argument("--out", "-o", metavar="PATH", help="write to PATH instead of stdout")
    parser.add_argument("--lang", choices=("en", "ko"), default="en", help="language of labels")
    parser.add_argument(
        "--order",
        type=int,
        default=1,
        help="2: explain the first derivative's own graph (forward and backward pass), "
        "whose chain rule gives the second derivative; 3 and up go further",
    )
    parser.add_argument("--wrt", metavar="NAME", help="input to differentiate by (order >= 2)")


class _BadValue(ValueError):
    pass


def _number(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise _BadValue(f"not a number: {text.strip()!r}") from None
    return v


def _nested(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_nested(x) for x in obj]
    if isinstance(obj, bool) or not isinstance(obj, (int, float)):
        raise _BadValue(f"not a number: {json.dumps(obj)}")
    return float(obj)


def parse_value(text: str) -> Any:
    """``0.5``, ``[1, 2, 3]`` (JSON, nested for matrices) or ``1,2,3``."""
    text = text.strip()
    if text.startswith("["):
        try:
            obj = json.loads(text)
        except ValueError:
            raise _BadValue(f"not a JSON array: {text!r}") from None
        return _nested(obj)
    if "," in text:
        return [_number(t) for t in text.split(",")]
    return _number(text)


def parse_assignments(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise _BadValue(f"--at expects NAME=VALUE, got {item!r}")
        if name in out:
            raise _BadValue(f"--at gives {name!r} twice")
        out[name] = parse_value(value)
    return out


def render(ex: Any, fmt: str, lang: str) -> str:
    if fmt == "text":
        return ex.to_text(lang) + "\n"
    if fmt == "markdown":
        return ex.to_markdown(lang)
    if fmt == "latex":
        return ex.to_latex(lang)
    if fmt == "html":
        return ex.to_html(lang)
    if fmt == "dot":
        return ex.to_dot(lang)
    if fmt == "svg":
        return ex.to_svg(lang)
    return ex.to_json() + "\n"


def _fail(message: str, code: int = 2) -> int:
    sys.stderr.write(f"chainrule explain: {message}\n")
    return code


def run(args: argparse.Namespace) -> int:
    from chainrule.explain import SEED_EXPRESSION, SEED_POINT, ExplainError, explain

    try:
        inputs = parse_assignments(args.at)
    except _BadValue as exc:
        return _fail(str(exc))
    expression = args.expression
    if expression is None:
        expression = SEED_EXPRESSION
        inputs = {**SEED_POINT, **inputs}
    try:
        ex = explain(expression, order=args.order, wrt=args.wrt, **inputs)
        ex.lang = args.lang
        text = render(ex, args.format, args.lang)
    except ExplainError as exc:
        return _fail(str(exc))
    except RecursionError:
        return _fail("expression too deeply nested")
    if args.out:
        try:
            write_atomic(Path(args.out), text.encode("utf-8"))
        except OSError as exc:
            return _fail(f"cannot write {args.out}: {exc.strerror or exc}", 1)
        return 0
    out = sys.stdout
    reconfigure = getattr(out, "reconfigure", None)
    if reconfigure is not None and (out.encoding or "").lower().replace("-", "") != "utf8":
        with contextlib.suppress(ValueError, OSError):
            reconfigure(errors="replace")
    out.write(text)
    return 0
