"""chainrule/explain/ imports only downward: the data, then the renderers, then the class.

Read from the source with ``ast``, every import counts: at the top, inside a
function, under ``TYPE_CHECKING``. A module added to the package must be given its
place in LAYERS, so the circle of renderers and ``Explanation`` cannot come back.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "chainrule" / "explain"

#: bottom first; a module may import only modules before it
LAYERS = [
    # parsing and tracing
    "errors",
    "i18n",
    "expr",
    "markup",
    "trace",
    "model",
    "budget",
    "evaluate",
    "check",
    "orders",
    # the explanation's data, and its symbolic part (which reads it)
    "element",  # one output entry followed back, as scalars
    "report",
    "symbolic",
    "network_report",  # a network's data: layers as the nodes
    # renderers: they read a report, nothing above it
    "render_common",
    "page_live",  # the interactive page's graph, stepper and script, from plain data
    "page_chain",  # a formula's report as that data
    "page_network",  # a network's report as that data
    "render_element",  # one output entry as text lines: read by text and Markdown
    "render_element_html",  # the element section as an HTML fragment, for the page
    "render_text",
    "render_latex",
    "render_markdown",
    "render_dot",
    "render_html",
    "render_json",
    "render_network",
    "render_plot",
    # the registry of renderers, the user-facing class, its building
    "formats",
    "explanation",
    "network_explanation",
    "network_build",
    "build",
    "core",  # the old import path, kept for callers
]


def _modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def _imports(module: str) -> set[str]:
    """The chainrule.explain modules ``module`` imports, anywhere in its source."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "chainrule.explain":  # from chainrule.explain import expr
                found.update(a.name for a in node.names)
            elif node.module.startswith("chainrule.explain."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found.update(
                a.name.split(".")[2] for a in node.names if a.name.startswith("chainrule.explain.")
            )
    return found & set(_modules())


def _defining(class_name: str) -> str:
    for module in _modules():
        tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
        if any(isinstance(n, ast.ClassDef) and n.name == class_name for n in tree.body):
            return module
    raise AssertionError(f"no module defines {class_name}")


def test_every_module_has_a_layer():
    assert sorted(LAYERS) == _modules()


@pytest.mark.parametrize("module", LAYERS)
def test_imports_point_down(module):
    below = set(LAYERS[: LAYERS.index(module)])
    assert _imports(module) <= below, f"{module} imports upward: {_imports(module) - below}"


def test_renderers_read_the_data_not_the_explanation():
    classes = {_defining("Explanation"), _defining("NetworkExplanation")}
    data = {_defining("Report"), _defining("NetworkReport")}
    assert not classes & data
    for module in _modules():
        if module.startswith("render_"):
            imported = _imports(module)
            assert not classes & imported and "formats" not in imported, module
            assert data & imported, module


def test_the_browser_driver_is_not_part_of_the_library():
    assert not (PACKAGE / "_chromium.py").exists()
    assert (PACKAGE.parent.parent / "tests" / "_chromium.py").exists()
