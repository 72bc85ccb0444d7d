"""The ``chainrule`` command. Thin: it parses arguments and calls the library.

Each subcommand lives in :mod:`chainrule.commands`; with no subcommand the
default one runs on its built-in defaults.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from chainrule.commands import COMMANDS, DEFAULT_COMMAND


def _build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    from chainrule import __version__

    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Automatic differentiation that shows the chain rule. "
        f"Without a command, runs '{DEFAULT_COMMAND}' on its defaults.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parsers = {}
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.register(p)
        parsers[name] = p
    return parser, parsers


def _takes_value(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions if a.nargs != 0 for s in a.option_strings}


def _route(argv: list[str], parsers: dict[str, argparse.ArgumentParser]) -> list[str]:
    """The command a user meant, first: ``chainrule "x*x" --at x=3`` and
    ``chainrule --lang ko explain`` both run explain, as bare ``chainrule`` does.

    The first word that is neither an option nor an option's value names the
    command when it is one; otherwise the default command gets the whole line
    (that word is its expression). Options are read with the default command's
    table, since only its options can come before a command word.
    """
    if not argv:
        return [DEFAULT_COMMAND]
    if argv[0] in COMMANDS or argv[0] in ("-h", "--help", "--version"):
        return argv
    takes_value = _takes_value(parsers[DEFAULT_COMMAND])
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            break
        if word in takes_value:
            i += 2
            continue
        if word.startswith("-") and len(word) > 1:
            i += 1
            continue
        if word in COMMANDS:
            return [word, *argv[:i], *argv[i + 1 :]]
        break
    return [DEFAULT_COMMAND, *argv]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``chainrule`` and ``python -m chainrule``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, parsers = _build_parser()
    argv = _route(argv, parsers)
    if argv and argv[0] in COMMANDS:
        # a command may rewrite its own words first (explain: an expression "-x^2")
        prepare = getattr(importlib.import_module(COMMANDS[argv[0]]), "prepare_argv", None)
        if prepare is not None:
            argv = [argv[0], *prepare(argv[1:], parsers[argv[0]])]
    args, extra = parser.parse_known_args(argv)
    if extra:
        # the command's own parser says it (explain's in one line), not the top one's usage
        parsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    module = importlib.import_module(COMMANDS[args.command])
    return int(module.run(args) or 0)
