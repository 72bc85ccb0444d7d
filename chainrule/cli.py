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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``chainrule`` and ``python -m chainrule``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, parsers = _build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = [DEFAULT_COMMAND, *argv]
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command])
    return int(module.run(args) or 0)
