"""``import chainrule`` leaves data, optim, distributed, utils, serialization, explain,
jit and nn's layers for first use; every public name still works as before."""

import subprocess
import sys

LAZY = (
    "chainrule.data",
    "chainrule.optim",
    "chainrule.distributed",
    "chainrule.serialization",
    "chainrule.explain",
    "chainrule.jit",
    "chainrule.nn.layers",
    "chainrule.nn.functional",
)


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_import_chainrule_does_not_import_the_lazy_parts():
    out = _run(f"import sys, chainrule; print([m for m in {LAZY!r} if m in sys.modules])")
    assert out == "[]"


def test_lazy_names_work_as_attributes_imports_and_star_import():
    code = (
        "import chainrule as cr\n"
        "from chainrule import optim, load, CheckpointError\n"
        "import chainrule.utils.data as d\n"
        "assert cr.optim is optim and cr.optim.Adam.__name__ == 'Adam'\n"
        "assert cr.data.DataLoader is d.DataLoader and cr.utils.data is cr.data\n"
        "assert cr.load is load and issubclass(CheckpointError, Exception)\n"
        "assert callable(cr.save) and cr.distributed.__name__ == 'chainrule.distributed'\n"
        "assert {'data', 'optim', 'save', 'distributed', 'utils'} <= set(dir(cr))\n"
        "ns = {}\n"
        "exec('from chainrule import *', ns)\n"
        "assert ns['save'] is cr.save and ns['optim'] is cr.optim\n"
        "try:\n"
        "    cr.no_such_name\n"
        "except AttributeError as e:\n"
        "    print(e)\n"
    )
    assert _run(code) == "module 'chainrule' has no attribute 'no_such_name'"


def test_explain_and_jit_stay_functions_whichever_import_comes_first():
    # Importing a subpackage sets it on its parent: cr.explain and cr.jit must stay the
    # functions, as they were when imported eagerly.
    code = (
        "import chainrule as cr\n"
        "import chainrule.explain.build, chainrule.jit.tracer\n"
        "from chainrule.explain import explain\n"
        "from chainrule.jit import jit\n"
        "assert cr.explain is explain and cr.jit is jit and callable(cr.explain)\n"
        "assert cr.graph.__module__ == 'chainrule.explain.build'\n"
        "assert issubclass(cr.JitError, Exception) and cr.ExplainError.__name__ == 'ExplainError'\n"
        "import chainrule.nn as nn\n"
        "assert nn.Linear.__name__ == 'Linear' and nn.functional.relu is cr.nn.functional.relu\n"
        "assert {'Linear', 'Module', 'functional'} <= set(dir(nn))\n"
        "print(round(cr.explain('1/(1+exp(-z))', z=0.5).to_dict()['value'], 6))\n"
    )
    assert _run(code) == "0.622459"
