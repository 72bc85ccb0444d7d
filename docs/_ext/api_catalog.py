"""What the reference documents: the public modules, their names, and how they group.

Pure Python (it imports chainrule, not Sphinx), so the test suite can ask it what
the reference will hold without building the site. Everything is found by walking
the package, never listed by hand: a name added to a module's ``__all__``, or a new
public module, joins the reference at the next build.

A module is public when no part of its dotted name starts with ``_``, it is not the
command line (``chainrule.commands``), and either a public module exports it, or it
declares ``__all__`` and is more than a part its package re-exports whole (as
``chainrule.nn.layers`` is of ``chainrule.nn``), or it is one of :data:`ALWAYS_PUBLIC`.
Its public names are its ``__all__``; without one, the functions and classes it
defines and the modules below it, whose names do not start with ``_``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re
import types
from dataclasses import dataclass
from typing import Any

ROOT = "chainrule"

# Public modules that declare no __all__ and that no module exports by name.
ALWAYS_PUBLIC = ("chainrule.func",)

# Never part of the reference: the command line is documented by its --help, and the
# modules of the rule table (chainrule.ops) are read through cr.PRIMITIVES and cr.Primitive.
PRIVATE_PREFIXES = ("chainrule.commands", "chainrule.ops")

# Group titles of the defining modules, in reading order; a defining module not
# listed here gets a group of its own, titled by its name, after these.
GROUPS: dict[str, str] = {
    "chainrule.tensor": "Tensors",
    "chainrule.factories": "Creating tensors",
    "chainrule.functions": "Functions (NumPy's names)",
    "chainrule.torch_functions": "Functions (PyTorch's names)",
    "chainrule.func": "Function transforms",
    "chainrule.autograd.grad_mode": "Grad modes",
    "chainrule.autograd.engine": "Backpropagation",
    "chainrule.autograd.anomaly": "Anomaly detection",
    "chainrule.autograd.function": "Custom functions (PyTorch style)",
    "chainrule.ops.primitive": "Primitives: the rule table",
    "chainrule.gradcheck": "Checking gradients",
    "chainrule.jit.api": "Compiling with jit",
    "chainrule.jit.tracer": "Compiling with jit",
    "chainrule.explain": "Explain",
    "chainrule.explain.core": "Explain",
    "chainrule.explain.explanation": "Explain",
    "chainrule.explain.network_explanation": "Explain",
    "chainrule.explain.errors": "Explain",
    "chainrule.explain.render_dot": "Explain",
    "chainrule.explain.build": "Explain",
    "chainrule.explain.evaluate": "Explain",
    "chainrule.explain.expr": "Explain",
    "chainrule.serialization": "Saving and loading",
    "chainrule.dtypes": "Dtypes and devices",
    "chainrule.nn.rng": "Random numbers",
    "chainrule.nn.module": "Modules and parameters",
    "chainrule.nn.parameter": "Modules and parameters",
    "chainrule.nn.param_containers": "Containers",
    "chainrule.nn.layers_linear": "Linear layers",
    "chainrule.nn.layers_conv": "Convolution and pooling",
    "chainrule.nn.layers_shape": "Shape layers",
    "chainrule.nn.layers_norm": "Normalisation and dropout",
    "chainrule.nn.layers_activation": "Activations",
    "chainrule.nn.layers_loss": "Losses",
    "chainrule.nn.losses": "Losses",
    "chainrule.optim.optimizer": "Optimizers",
    "chainrule.optim.sgd": "Optimizers",
    "chainrule.optim.adam": "Optimizers",
    "chainrule.optim.rmsprop": "Optimizers",
    "chainrule.optim.adagrad": "Optimizers",
    "chainrule.optim.lr_scheduler": "Learning-rate schedules",
    "chainrule.data.dataset": "Datasets",
    "chainrule.data.datasets": "Datasets",
    "chainrule.data.dataloader": "Loading batches",
}
MODULES_GROUP = "Modules"
NUMPY_GROUP = "NumPy's own (unchanged)"
DATA_GROUP = "Constants and dtypes"


@dataclass(frozen=True)
class Entry:
    """One public name of one public module, and how the reference shows it."""

    module: str  # the public module, e.g. "chainrule.nn"
    name: str  # the name in it, e.g. "Linear"
    kind: str  # "module", "class", "function", "data", "foreign" (NumPy's own), "alias"
    group: str
    canonical: str  # where the object is documented in full (itself, unless an alias)

    @property
    def target(self) -> str:
        return f"{self.module}.{self.name}"


def _is_private(modname: str) -> bool:
    parts = modname.split(".")
    return any(p.startswith("_") for p in parts) or modname.startswith(PRIVATE_PREFIXES)


def _is_own(obj: Any) -> bool:
    """Whether chainrule defines ``obj`` (rather than NumPy or Python)."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__.split(".")[0] == ROOT
    module = getattr(obj, "__module__", None)
    return isinstance(module, str) and module.split(".")[0] == ROOT


def public_names(module: types.ModuleType) -> list[str]:
    """The public names of ``module``: its ``__all__``, or what it defines."""
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return list(declared)
    names = []
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        defined_here = getattr(obj, "__module__", None) == module.__name__ and (
            inspect.isfunction(obj) or inspect.isclass(obj)
        )
        below = isinstance(obj, types.ModuleType) and obj.__name__.startswith(module.__name__ + ".")
        if defined_here or below:
            names.append(name)
    return names


def _exported_elsewhere(module: types.ModuleType, exported: set[int]) -> bool:
    """Whether every function and class of ``module`` is exported by a reachable module.

    Such a module is a part (``chainrule.nn.layers``) or an old spelling
    (``chainrule.explain.core``) of a public one, where its names are documented.
    """
    objs = [getattr(module, n, None) for n in public_names(module)]
    code = [o for o in objs if inspect.isclass(o) or inspect.isfunction(o)]
    return bool(code) and all(id(o) in exported for o in code)


def _walk() -> list[types.ModuleType]:
    """Every importable, non-private module of the package."""
    root = importlib.import_module(ROOT)
    found = [root]
    for info in pkgutil.walk_packages(root.__path__, ROOT + ".", onerror=lambda name: None):
        if not _is_private(info.name):
            found.append(importlib.import_module(info.name))
    return found


def _reachable(start: set[str]) -> set[str]:
    """``start`` and the modules its modules export (cr.nn, cr.nn.init), to any depth."""
    found = set(start)
    queue = sorted(start)
    while queue:
        module = importlib.import_module(queue.pop())
        for name in public_names(module):
            obj = getattr(module, name, None)
            if (
                isinstance(obj, types.ModuleType)
                and _is_own(obj)
                and not _is_private(obj.__name__)
                and obj.__name__ not in found
            ):
                found.add(obj.__name__)
                queue.append(obj.__name__)
    return found


def _exports(modname: str) -> set[int]:
    """The ids of what ``modname`` exports (nothing, for the package's root's parent)."""
    if not modname:
        return set()
    module = importlib.import_module(modname)
    return {id(getattr(module, n, None)) for n in public_names(module)}


@functools.cache
def public_modules() -> list[str]:
    """The dotted names of the public modules, sorted."""
    walked = _walk()
    reachable = _reachable({ROOT, *ALWAYS_PUBLIC})
    exported = {
        id(getattr(m, n, None))
        for m in map(importlib.import_module, reachable)
        for n in public_names(m)
    }
    declared = {
        m.__name__
        for m in walked
        if hasattr(m, "__all__")
        and m.__name__ not in reachable
        and not _exported_elsewhere(m, exported | _exports(m.__name__.rpartition(".")[0]))
    }
    return sorted(_reachable(reachable | declared))


def _kind(obj: Any) -> str:
    if isinstance(obj, types.ModuleType):
        return "module"
    if not (inspect.isclass(obj) or callable(obj)):
        return "data"
    return (
        "class"
        if inspect.isclass(obj) and _is_own(obj)
        else ("function" if _is_own(obj) else "foreign")
    )


def _group(obj: Any, kind: str, modname: str) -> str:
    if kind == "module":
        return MODULES_GROUP
    if kind == "data":
        return DATA_GROUP
    if kind == "foreign":
        return NUMPY_GROUP
    defined_in = getattr(obj, "__module__", "")
    if defined_in in GROUPS:
        return GROUPS[defined_in]
    if defined_in == modname:
        return "Classes" if inspect.isclass(obj) else "Functions"
    return _title(importlib.import_module(defined_in).__doc__) or f"From ``{defined_in}``"


def _title(doc: str | None) -> str:
    """A group title from a module's docstring: its first sentence, up to any colon."""
    first = (doc or "").strip().split("\n\n")[0].replace("\n", " ")
    first = first.split(". ")[0].split(":")[0].rstrip(".").strip()
    return first if 0 < len(first) <= 80 and not first.startswith("`") else ""


@functools.cache
def entries() -> tuple[Entry, ...]:
    """Every public name of every public module, each object in full once."""
    seen: dict[int, str] = {}
    out = []
    for modname in public_modules():
        module = importlib.import_module(modname)
        for name in public_names(module):
            obj = getattr(module, name)
            kind = _kind(obj)
            target = f"{modname}.{name}"
            canonical = target
            # Functions and classes are documented in full where first found (the
            # modules sorted: cr before cr.nn); later names point there.
            if kind in ("class", "function") and id(obj) in seen:
                canonical = seen[id(obj)]
                kind = "alias"
            elif kind in ("class", "function"):
                seen[id(obj)] = target
            out.append(Entry(modname, name, kind, _group(obj, _kind(obj), modname), canonical))
    return tuple(out)


def group_order(groups: set[str]) -> list[str]:
    """Groups in reading order: the known ones as listed, others by title, then the rest."""
    known = list(dict.fromkeys(GROUPS.values()))
    last = (MODULES_GROUP, DATA_GROUP, NUMPY_GROUP)
    first = [g for g in known if g in groups]
    others = sorted(g for g in groups if g not in known and g not in last)
    return first + others + [g for g in last if g in groups]


def missing_docstrings() -> list[str]:
    """Public names of chainrule's own whose object has no docstring of its own.

    Values (tables, constants) cannot carry one: they need a description here
    (:func:`describe_data`), which dtypes, numbers and NumPy's objects have by kind.
    """
    missing = []
    for entry in entries():
        if entry.kind == "data" and not describe_data(entry.module, entry.name):
            missing.append(entry.target)
        if entry.kind not in ("module", "class", "function"):
            continue
        obj = getattr(importlib.import_module(entry.module), entry.name)
        doc = obj.__doc__ if isinstance(obj, types.ModuleType) else inspect.getdoc(obj)
        inherited = inspect.isclass(obj) and "__doc__" not in vars(obj)
        if not doc or not doc.strip() or inherited:
            missing.append(entry.target)
    return missing


# Docstrings of the public data of chainrule's own that Python cannot attach to the value.
DATA_DOCS = {
    "chainrule.PRIMITIVES": "The table of primitives: each name to its "
    ":class:`~chainrule.Primitive` (forward, VJP rule, JVP rule and formula). "
    "Every derivative chainrule knows is here.",
    "chainrule.explain.SEED_EXPRESSION": "The seed's sigmoid, ``1/(1+exp(-z))``: what "
    "``chainrule explain`` explains when given no expression.",
    "chainrule.explain.SEED_POINT": "The point of the seed's example, ``z = 0.5``.",
}


def describe_data(module: str, name: str) -> str:
    """The description of a constant, dtype, table or NumPy object (values have no docstring)."""
    import numpy as np

    obj = getattr(importlib.import_module(module), name)
    if f"{module}.{name}" in DATA_DOCS:
        return DATA_DOCS[f"{module}.{name}"]
    if isinstance(obj, np.dtype):
        return f"The NumPy dtype ``{obj}`` (``numpy.{obj.name}``)."
    if inspect.isclass(obj) and issubclass(obj, np.generic):
        return f"NumPy's scalar type ``numpy.{obj.__name__}``."
    if isinstance(obj, (bool, int, float, complex, str)) or obj is None:
        return f"The constant ``{obj!r}``."  # a number or a string says what it is
    if _is_own(obj) and type(obj).__doc__:
        return _plain(inspect.getdoc(type(obj)) or "")
    qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    origin = getattr(obj, "__module__", None)
    if qual and origin:
        return f"``{origin}.{qual}``, unchanged."
    return ""  # a plain value (a dict, a list): it needs an entry in DATA_DOCS


# ------------------------------------------------------------------ the reference text
def _first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def _entry_rst(entry: Entry) -> list[str]:
    """The reStructuredText of one entry: an autodoc directive, or a short description."""
    obj = getattr(importlib.import_module(entry.module), entry.name)
    target = entry.target
    if entry.kind == "class":
        return [f".. autoclass:: {target}", "   :members:", ""]
    if entry.kind == "function":
        return [f".. autofunction:: {target}", ""]
    directive = (
        "py:class" if inspect.isclass(obj) else "py:function" if callable(obj) else "py:data"
    )
    if entry.kind == "alias":
        what = "class" if inspect.isclass(obj) else "function"
        text = f"The same {what} as :py:obj:`{entry.canonical}`."
    elif entry.kind == "module":
        return []  # listed, with a link to its page, at the top of the group
    else:
        text = describe_data(entry.module, entry.name)
    body = [f"   {line}" if line.strip() else "" for line in text.splitlines()]
    return [f".. {directive}:: {target}", "   :no-index-entry:", "", *body, ""]


def _plain(text: str) -> str:
    """Prose for reST: outside ``literals``, a trailing ``_`` or a bar is text, not markup."""
    parts = text.split("``")
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"(\w)_\b", r"\1\\_", parts[i]).replace("|", "\\|")
    return "``".join(parts)


def _slug(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


def module_rst(modname: str) -> str:
    """The reference of one public module, grouped, as reStructuredText with sections."""
    module = importlib.import_module(modname)
    mine = [e for e in entries() if e.module == modname]
    groups = group_order({e.group for e in mine})
    labels = {g: f"{modname}--{_slug(g)}" for g in groups}
    lines = [f".. automodule:: {modname}", ""]
    parent, _, last = modname.rpartition(".")
    if parent and getattr(importlib.import_module(parent), last, module) is not module:
        # cr.explain and cr.jit are functions, documented under that name on the parent's page.
        lines = [f".. automodule:: {modname}", "   :no-index:", ""]
    if len(groups) > 1:
        links = " · ".join(f":ref:`{g.replace('``', '')} <{labels[g]}>`" for g in groups)
        lines += [f"**On this page:** {links}", ""]
    for group in groups:
        members = [e for e in mine if e.group == group]
        # A rubric with a label, not a section: several modules share group titles
        # ("Functions"), and section titles would collide across pages.
        lines += [f".. _{labels[group]}:", "", f".. rubric:: {group}", ""]
        if group == MODULES_GROUP:
            for e in members:
                sub = getattr(module, e.name)
                lines.append(f"- :doc:`{sub.__name__} <{sub.__name__}>`: {_first_line(sub)}")
            lines.append("")
            continue
        for e in members:
            lines += _entry_rst(e)
    return "\n".join(lines) + "\n"
