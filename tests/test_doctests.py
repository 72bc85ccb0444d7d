"""Every docstring example in the package runs and prints what it shows.

The examples are found by walking the package, so a new one is tested without
being listed here; modules and names without an example are not collected.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import chainrule


def _modules() -> list:
    names = [chainrule.__name__]
    walked = pkgutil.walk_packages(chainrule.__path__, "chainrule.")
    names += [m.name for m in walked if not m.name.endswith("__main__")]  # __main__ runs the CLI
    return [importlib.import_module(n) for n in names]


def _examples() -> dict[str, doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = {}
    for module in _modules():
        for test in finder.find(module):
            if test.examples:
                found[test.name] = test
    return found


EXAMPLES = _examples()


def test_the_package_has_docstring_examples():
    assert len(EXAMPLES) >= 20


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_docstring_example(name):
    test = EXAMPLES[name]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    # A copy of the globals, so one example's names never leak into another's.
    test.globs = dict(test.globs)
    result = runner.run(test, out=lambda text: print(text, end=""))
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
