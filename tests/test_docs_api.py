"""The API reference covers the public API, and every public name has a docstring.

The reference is generated at build time by ``docs/_ext/api_catalog.py``; these
tests ask it for the text it generates (no Sphinx needed) and check that text
against the package, walked here on its own. They fail when a public name is
missing from the reference or has no docstring.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
import types
from pathlib import Path

import pytest

import chainrule

DOCS = Path(__file__).resolve().parent.parent / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
import api_catalog  # noqa: E402

# The modules issue 20 names; later public modules are found by the walk.
NAMED = [
    "chainrule",
    "chainrule.nn",
    "chainrule.nn.functional",
    "chainrule.optim",
    "chainrule.data",
    "chainrule.numpy",
    "chainrule.autograd",
    "chainrule.func",
    "chainrule.jit",
]
DIRECTIVE = re.compile(r"^\.\. (?:auto\w+|py:\w+):: ([\w.]+)", re.M)
DOC_LINK = re.compile(r":doc:`[^<`]*<([\w.]+)>`")


def _documented(modname: str) -> set[str]:
    """The dotted names the reference page of ``modname`` documents or links."""
    text = api_catalog.module_rst(modname)
    return set(DIRECTIVE.findall(text)) | set(DOC_LINK.findall(text))


@pytest.fixture(scope="module")
def reference() -> dict[str, set[str]]:
    return {m: _documented(m) for m in api_catalog.public_modules()}


def test_the_named_modules_have_reference_pages(reference):
    assert set(NAMED) <= set(reference)


def test_every_name_in_chainrule_all_is_in_the_reference(reference):
    missing = [n for n in chainrule.__all__ if f"chainrule.{n}" not in reference["chainrule"]]
    missing = [n for n in missing if not isinstance(getattr(chainrule, n), types.ModuleType)]
    modules = [n for n in chainrule.__all__ if isinstance(getattr(chainrule, n), types.ModuleType)]
    assert missing == []
    assert all(getattr(chainrule, n).__name__ in reference for n in modules)


def test_every_public_module_lists_all_its_names(reference):
    missing = []
    for modname in reference:
        module = importlib.import_module(modname)
        for name in api_catalog.public_names(module):
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType):
                ok = obj.__name__ in reference or not obj.__name__.startswith("chainrule")
            else:
                ok = f"{modname}.{name}" in reference[modname]
            if not ok:
                missing.append(f"{modname}.{name}")
    assert missing == []


def test_every_exported_function_and_class_is_documented_somewhere(reference):
    # Walked here independently: any module of the package with an __all__ (outside
    # the command line, the rule table's modules and private modules) exports public
    # objects; each must be documented under some public name.
    documented = set()
    for names in reference.values():
        for dotted in names:
            module, _, attr = dotted.rpartition(".")
            if module in reference:
                documented.add(id(getattr(importlib.import_module(module), attr, None)))
    missing = []
    for info in pkgutil.walk_packages(chainrule.__path__, "chainrule."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[1] in ("commands", "ops"):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            code = inspect.isfunction(obj) or inspect.isclass(obj)
            own = getattr(obj, "__module__", "").startswith("chainrule")
            if code and own and id(obj) not in documented:
                missing.append(f"{info.name}.{name}")
    assert missing == []


def test_every_public_name_has_a_docstring():
    assert api_catalog.missing_docstrings() == []


def test_names_group_as_the_user_looks_for_them():
    groups = {e.name: e.group for e in api_catalog.entries() if e.module == "chainrule"}
    assert groups["grad"] == groups["hessian"] == "Function transforms"
    assert groups["zeros"] == "Creating tensors"
    assert groups["float32"] == "Constants and dtypes"
    text = api_catalog.module_rst("chainrule.nn")
    assert text.index("rubric:: Linear layers") < text.index("rubric:: Losses")


def test_a_name_added_to_all_joins_the_reference_and_needs_a_docstring(monkeypatch):
    # What a later change does: a new function in a module's __all__. No edit of the
    # docs makes it appear; without a docstring, the coverage check names it.
    def brand_new(x):
        return x

    brand_new.__module__ = "chainrule.nn.functional"
    functional = importlib.import_module("chainrule.nn.functional")
    monkeypatch.setattr(functional, "brand_new", brand_new, raising=False)
    monkeypatch.setattr(functional, "__all__", [*functional.__all__, "brand_new"])
    api_catalog.entries.cache_clear()
    api_catalog.public_modules.cache_clear()
    try:
        assert "chainrule.nn.functional.brand_new" in _documented("chainrule.nn.functional")
        assert api_catalog.missing_docstrings() == ["chainrule.nn.functional.brand_new"]
        brand_new.__doc__ = "Return ``x``."
        assert api_catalog.missing_docstrings() == []
    finally:
        monkeypatch.undo()
        api_catalog.entries.cache_clear()
        api_catalog.public_modules.cache_clear()


def test_a_value_without_a_description_is_reported(monkeypatch):
    monkeypatch.setattr(chainrule, "SOME_TABLE", {"a": 1}, raising=False)
    monkeypatch.setattr(chainrule, "__all__", [*chainrule.__all__, "SOME_TABLE"])
    api_catalog.entries.cache_clear()
    api_catalog.public_modules.cache_clear()
    try:
        assert api_catalog.missing_docstrings() == ["chainrule.SOME_TABLE"]
    finally:
        monkeypatch.undo()
        api_catalog.entries.cache_clear()
        api_catalog.public_modules.cache_clear()


def test_a_new_public_module_gets_a_page(monkeypatch):
    fake = types.ModuleType("chainrule.brand_new_module", "A module added later.")
    fake.__all__ = ["thing"]

    def thing():
        """A documented function."""

    thing.__module__ = fake.__name__
    fake.thing = thing
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setattr(chainrule, "brand_new_module", fake, raising=False)
    monkeypatch.setattr(chainrule, "__all__", [*chainrule.__all__, "brand_new_module"])
    api_catalog.entries.cache_clear()
    api_catalog.public_modules.cache_clear()
    try:
        assert fake.__name__ in api_catalog.public_modules()
        assert "chainrule.brand_new_module.thing" in _documented(fake.__name__)
    finally:
        monkeypatch.undo()
        api_catalog.entries.cache_clear()
        api_catalog.public_modules.cache_clear()
