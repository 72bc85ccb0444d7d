"""Where the benchmarks live, and chainrule imported (or, in a worker that
measures another library, deliberately not imported)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent  # benchmarks/
REPO = HERE.parent

# A worker subprocess that measures another library's memory (or times it in
# isolation) does not import chainrule, so that chainrule's import is not counted
# in that library's figures (see spawn_worker).
SKIP_CHAINRULE_ENV = "CHAINRULE_BENCH_SKIP_IMPORT"
if os.environ.get(SKIP_CHAINRULE_ENV):
    cr: Any = None
else:
    try:
        import chainrule as cr  # noqa: F401 (re-exported to the cases)
    except ImportError:  # run from a checkout without `pip install -e .`
        sys.path.insert(0, str(REPO))
        import chainrule as cr  # noqa: F401 (a second failure is the real error: shown)
