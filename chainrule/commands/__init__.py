"""Subcommands of the ``chainrule`` command, one module each.

A module here defines ``HELP`` (one line), ``register(parser)`` to add its
arguments to its own argparse sub-parser, and ``run(args) -> int``. Building the
parser imports every command module, so a module imports its optional extras
(plotting, datasets, SymPy) inside ``run``, never at its top.
"""

#: command name -> module under chainrule.commands; the first is the default.
COMMANDS = {
    "explain": "chainrule.commands.explain",
    "sigmoid": "chainrule.commands.sigmoid",
    "train": "chainrule.commands.train",
}
DEFAULT_COMMAND = "explain"
