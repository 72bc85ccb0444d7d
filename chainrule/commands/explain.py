"""``chainrule explain``: the chain rule of an expression, node by node, in any format.

Without an expression it explains the seed's sigmoid 1/(1+exp(-z)) at z = 0.5.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path
from typing import Any, NoReturn

from chainrule._files import write_atomic
from chainrule.commands import explain_network
from chainrule.explain.budget import DEFAULT_TIMEOUT, ENV_VAR, resolve_timeout
from chainrule.explain.orders import MAX_ORDER

HELP = "the chain rule of an expression, node by node (default: the seed's sigmoid at z=0.5)"

FORMATS = ("text", "markdown", "latex", "html", "dot", "svg", "json")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "expression",
        nargs="?",
        metavar="EXPR",
        help="an expression such as 'x*x + sin(x)' (numbers, variables, the constants e and "
        "pi, + - * / ^ **, exp log sqrt abs sin cos tan tanh sigmoid relu max min sum mean); "
        "it may start with '-' ('-x^2'); default: the seed's 1/(1+exp(-z))",
    )
    # what prepare_argv turns an expression that starts with "-" into
    parser.add_argument("--expression", dest="expression_option", help=argparse.SUPPRESS)
    parser.add_argument(
        "--at",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable's value: a number, or an array as JSON (x=[1,2,3]) or "
        "comma-separated (x=1,2,3); repeat for each variable (default for the seed: z=0.5)",
    )
    parser.add_argument(
        "--format", "-f", choices=FORMATS, help="output format (default text; html with --serve)"
    )
    parser.add_argument("--out", "-o", metavar="PATH", help="write to PATH instead of stdout")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="show the interactive HTML page on 127.0.0.1 (a free port, printed); Ctrl-C stops",
    )
    parser.add_argument("--lang", choices=("en", "ko"), default="en", help="language of labels")
    parser.add_argument(
        "--order",
        type=int,
        default=1,
        help="2: explain the first derivative's own graph (forward and backward pass), "
        f"whose chain rule gives the second derivative; 3 and up go further (at most {MAX_ORDER})",
    )
    parser.add_argument("--wrt", metavar="NAME", help="input to differentiate by (order >= 2)")
    parser.add_argument(
        "--symbolic-timeout",
        metavar="SECONDS",
        help=f"time allowed to SymPy's symbolic forms (default {DEFAULT_TIMEOUT:g}, or "
        f"${ENV_VAR}; inf: no limit); past it they are skipped, the rest is printed",
    )

    explain_network.register(parser)

    def one_line(message: str) -> NoReturn:
        # argparse prints its usage over several lines; bad input gets one
        sys.stderr.write(f"chainrule explain: {message} (see chainrule explain --help)\n")
        sys.exit(2)

    parser.error = one_line  # type: ignore[method-assign]


def _is_option(word: str, parser: argparse.ArgumentParser) -> bool:
    """Whether argparse would read ``word`` as one of explain's options."""
    known = {s for a in parser._actions for s in a.option_strings}
    head = word.split("=", 1)[0]
    if head in known:
        return True
    if word.startswith("--"):  # argparse accepts a unique prefix of a long option
        return any(k.startswith(head) for k in known if k.startswith("--"))
    # a short option with its value attached: -fjson, -o/tmp/x.txt
    if word[:2] == "-f":
        return word[2:] in FORMATS
    if word[:2] == "-o":
        return any(c in word[2:] for c in "/\\.")
    return False


def prepare_argv(words: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """An expression that starts with "-" ("-x^2") is no option: pass it as
    ``--expression=...``, which argparse reads whatever follows the "="."""
    takes_value = {s for a in parser._actions if a.nargs != 0 for s in a.option_strings}
    out: list[str] = []
    expression_seen = False
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            out += words[i:]
            break
        if word in takes_value:
            out += words[i : i + 2]
            i += 2
            continue
        if word.startswith("-") and len(word) > 1 and not _is_option(word, parser):
            if not expression_seen:
                word = f"--expression={word}"
            expression_seen = True
        elif not word.startswith("-"):
            expression_seen = True
        out.append(word)
        i += 1
    return out


class _BadValue(ValueError):
    pass


def _shown(text: str) -> str:
    """A value as quoted in a message: a 401-digit number is shown by its length."""
    return repr(text) if len(text) <= 40 else f"'{text[:12]}…{text[-6:]}' ({len(text)} characters)"


def _number(text: str) -> float:
    text = text.strip()
    if "=" in text:
        raise _BadValue(
            f"not a number: {_shown(text)}; --at takes one NAME=VALUE, repeat it for each "
            "variable: --at x=1 --at y=2"
        )
    try:
        v = float(text)
    except ValueError:
        raise _BadValue(f"not a number: {_shown(text)}") from None
    if math.isinf(v) and "inf" not in text.lower():
        # float() rounds a literal past 1.8e308 to inf without a word
        raise _BadValue(f"{_shown(text)} is too large for a float64 (the largest is about 1.8e308)")
    return v


def _nested(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_nested(x) for x in obj]
    if isinstance(obj, bool) or not isinstance(obj, (int, float)):
        raise _BadValue(f"not a number: {_shown(json.dumps(obj))}")
    try:
        v = float(obj)
    except OverflowError:
        v = math.inf
    if math.isinf(v):
        raise _BadValue(
            f"{_shown(str(obj))} is too large for a float64 (the largest is about 1.8e308)"
        )
    return v


def parse_value(text: str) -> Any:
    """``0.5``, ``[1, 2, 3]`` (JSON, nested for matrices) or ``1,2,3``."""
    text = text.strip()
    if text.startswith("["):
        try:
            obj = json.loads(text)
        except ValueError:
            raise _BadValue(f"not a JSON array: {_shown(text)}") from None
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


def _output_choice(args: argparse.Namespace) -> str | None:
    """Settle ``--format`` against ``--serve``; the problem in one line, or None."""
    if args.serve:
        if args.format not in (None, "html"):
            return f"--serve shows the HTML page; --format {args.format} cannot be served"
        if args.out:
            return "--serve and --out: choose one (serve the page, or write it to a file)"
        args.format = "html"
    elif args.format is None:
        args.format = "text"
    return None


def run(args: argparse.Namespace) -> int:
    from chainrule.explain import SEED_EXPRESSION, SEED_POINT, ExplainError, explain

    problem = _output_choice(args)
    if problem is not None:
        return _fail(problem)
    if explain_network.wanted(args):
        try:
            return _emit(explain_network.run(args), args.out, args.serve)
        except (explain_network.NetworkUsageError, ExplainError) as exc:
            return _fail(str(exc))
    try:
        inputs = parse_assignments(args.at)
        timeout = resolve_timeout(args.symbolic_timeout, source="--symbolic-timeout")
    except (_BadValue, ExplainError) as exc:
        return _fail(str(exc))
    expression = args.expression
    if args.expression_option is not None:
        if expression is not None:
            return _fail(f"two expressions: {args.expression_option!r} and {expression!r}")
        expression = args.expression_option
    if expression is None:
        expression = SEED_EXPRESSION
        inputs = {**SEED_POINT, **inputs}
    try:
        # the values go in a dict, so a variable may be called order or wrt
        ex = explain(
            expression,
            inputs,
            order=args.order,
            wrt=args.wrt,
            symbolic_timeout=timeout,
        )
        ex.lang = args.lang
        text = render(ex, args.format, args.lang)
    except ExplainError as exc:
        return _fail(str(exc))
    except RecursionError:
        return _fail("expression too deeply nested")
    return _emit(text, args.out, args.serve)


def _emit(text: str, out_path: str | None, serve: bool = False) -> int:
    """``text`` to ``out_path`` (atomically: the old file or the new one), served on
    127.0.0.1 (``serve``), or to stdout."""
    if serve:
        from chainrule.commands.serve import serve as serve_page

        return serve_page(text)
    if out_path:
        try:
            write_atomic(Path(out_path), text.encode("utf-8"))
        except OSError as exc:
            # a missing folder, a read-only one, a device (write_atomic refuses those)
            return _fail(f"cannot write {out_path}: {exc.strerror or exc}")
        return 0
    out = sys.stdout
    reconfigure = getattr(out, "reconfigure", None)
    if reconfigure is not None and (out.encoding or "").lower().replace("-", "") != "utf8":
        with contextlib.suppress(ValueError, OSError):
            reconfigure(errors="replace")
    out.write(text)
    return 0
