"""``import chainrule`` leaves data, optim, distributed, utils and serialization for
first use; every public name still works as before."""

import subprocess
import sys

LAZY = ("chainrule.data", "chainrule.optim", "chainrule.distributed", "chainrule.serialization")


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
