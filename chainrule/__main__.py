"""``python -m chainrule``: the command-line interface."""

from chainrule.cli import main

raise SystemExit(main())
