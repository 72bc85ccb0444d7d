"""Benchmarks of chainrule's core engine against peer libraries.

Usage (from the repository root)::

    bash benchmarks/setup.sh                      # once: benchmarks/.venv with the peers
    benchmarks/.venv/bin/python benchmarks/run.py  # full run, writes benchmarks/results.json
    benchmarks/.venv/bin/python benchmarks/run.py --quick         # smoke run (seconds)
    benchmarks/.venv/bin/python benchmarks/run.py --cases B1 --repeats 15

The harness and the cases live in the ``bench`` package next to this file
(``bench/cli.py`` has the options, ``bench/cases/`` one module per case).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts this folder on sys.path already; run any other way
# (runpy, an import from a test), the package next to this file must still be found.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.cli import main  # noqa: E402 (needs the path above)

if __name__ == "__main__":
    sys.exit(main())
