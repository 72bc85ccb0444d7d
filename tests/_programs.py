"""Run a program's source as ``__main__`` and compare the ``results`` dicts of two runs:
shared by the tests that run PyTorch programs and HIPS autograd programs on chainrule."""

import contextlib
import io
import math
import sys
from pathlib import Path


def run_program(source: str, name: str, folder: Path, forget: tuple[str, ...] = ()) -> dict:
    """Execute ``source`` as the script ``folder/name.py`` (its prints swallowed) and
    return its module-level ``results``; ``forget``: helper modules imported from
    ``folder`` that must load afresh on the next run."""
    namespace = {"__name__": "__main__", "__file__": str(folder / f"{name}.py")}
    sys.path.insert(0, str(folder))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, f"{name}.py", "exec"), namespace)
    finally:
        sys.path.remove(str(folder))
        for module in forget:
            sys.modules.pop(module, None)
    return namespace["results"]


def assert_close(mine, theirs, where="results", rtol=1e-5, atol=1e-8, peer="the peer"):
    """Nested dicts, lists and floats equal to ``rtol``/``atol``; anything else exactly."""
    if isinstance(theirs, dict):
        assert sorted(mine) == sorted(theirs), where
        for key in theirs:
            assert_close(mine[key], theirs[key], f"{where}[{key!r}]", rtol, atol, peer)
    elif isinstance(theirs, list | tuple):
        assert len(mine) == len(theirs), f"{where}: {len(mine)} values, {peer} {len(theirs)}"
        for i, (a, b) in enumerate(zip(mine, theirs)):
            assert_close(a, b, f"{where}[{i}]", rtol, atol, peer)
    elif isinstance(theirs, float):
        assert isinstance(mine, float), f"{where}: {mine!r} is not a float"
        assert math.isclose(mine, theirs, rel_tol=rtol, abs_tol=atol), (
            f"{where}: chainrule {mine!r}, {peer} {theirs!r}"
        )
    else:
        assert mine == theirs, f"{where}: chainrule {mine!r}, {peer} {theirs!r}"
