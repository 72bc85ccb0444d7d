"""``import chainrule`` leaves data, optim, distributed, utils, serialization, explain,
jit, nn's layers, batching (vmap), gradcheck, the GEMM backend and HIPS autograd's names
for first use,
and ``import chainrule.numpy`` its linalg, fft and random; every public name still
works as before."""

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
    "chainrule.batching",
    "chainrule.ops.batch_rules",
    "chainrule.gradcheck",
    "chainrule.autograd_api",
    "chainrule.gemm_backend",
)
#: What a HIPS autograd program's imports (``chainrule.numpy``, ``chainrule.misc``)
#: leave for first use, NumPy's own submodules and the standard library's included.
LAZY_FOR_NUMPY = (
    *LAZY,
    "chainrule.numpy.linalg",
    "chainrule.numpy.fft",
    "chainrule.numpy.random",
    "chainrule.ops.fft",
    "chainrule.ops.numpy_eig",
    "numpy.fft",
    "string",
    "copy",
    "concurrent.futures",  # chainrule.threads starts its workers on first use
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


def test_import_chainrule_numpy_and_misc_do_not_import_the_lazy_parts():
    code = (
        "import sys, chainrule.numpy, chainrule.misc.fixed_points\n"
        f"print([m for m in {LAZY_FOR_NUMPY!r} if m in sys.modules])"
    )
    assert _run(code) == "[]"


def test_numpy_submodules_load_on_first_use_and_keep_their_names():
    code = (
        "import sys, numpy\n"
        "import chainrule as cr, chainrule.numpy as np\n"
        "assert 'chainrule.numpy.linalg' not in sys.modules\n"
        "assert np.linalg.__name__ == 'chainrule.numpy.linalg'\n"
        "assert np.fft.__name__ == 'chainrule.numpy.fft' and callable(np.random.randn)\n"
        "assert {'fft', 'linalg', 'random'} <= set(np.__all__) & set(dir(np))\n"
        "from chainrule.numpy.linalg import det\n"
        "assert det is np.linalg.det\n"
        "ns = {}\n"
        "exec('from chainrule.numpy import *', ns)\n"
        "assert ns['linalg'] is np.linalg and ns['fft'] is np.fft\n"
        "print(cr.grad(lambda a: np.linalg.det(a))(numpy.eye(2)).tolist())\n"
    )
    assert _run(code) == "[[1.0, 0.0], [0.0, 1.0]]"


def test_numpys_own_functions_on_a_tensor_load_the_rules_they_need():
    # numpy.linalg.norm(t) and numpy.fft.fft(t) reach chainrule's implementations
    # although nothing imported chainrule.numpy.linalg or .fft before the call.
    code = (
        "import sys, numpy\n"
        "import chainrule as cr\n"
        "t = cr.tensor([3.0, 4.0], dtype=cr.float64, requires_grad=True)\n"
        "n = numpy.linalg.norm(t)\n"
        "n.backward()\n"
        "f = numpy.fft.fft(cr.tensor([1.0, 0.0]))\n"
        "print(float(n), t.grad.tolist(), f.data.real.tolist(), 'numpy.fft' in sys.modules)\n"
        "try:\n"
        "    numpy.linalg.cond(t)\n"
        "except TypeError as e:\n"
        "    print(str(e).split(' has ')[0])\n"
    )
    assert _run(code).splitlines() == [
        "5.0 [0.6, 0.8] [1.0, 1.0] True",
        "numpy.linalg.cond",
    ]


def test_vmap_gradcheck_and_autograds_names_work_before_and_after_their_modules():
    code = (
        "import numpy\n"
        "import chainrule as cr\n"
        "import chainrule.gradcheck\n"
        "from chainrule import vmap, elementwise_grad, GradcheckError\n"
        "assert callable(cr.gradcheck) and cr.gradcheck is chainrule.gradcheck\n"
        "assert cr.vmap is vmap and cr.batching.vmap is vmap\n"
        "assert issubclass(GradcheckError, Exception)\n"
        "assert {'vmap', 'BatchedTensor', 'gradcheck', 'make_vjp', 'batching'} <= set(dir(cr))\n"
        "x = numpy.array([1.0, -2.0])\n"
        "rows = numpy.array([[3.0, 1.0], [0.5, 2.0]])\n"
        "print(cr.vmap(lambda v: cr.sort(v * v)[0])(rows).tolist())\n"
        "print(elementwise_grad(lambda v: v ** 3)(x).tolist())\n"
        "print(cr.gradcheck(lambda v: (v ** 2).sum(), (cr.tensor(x, requires_grad=True),)))\n"
    )
    assert _run(code).splitlines() == ["[[1.0, 9.0], [0.25, 4.0]]", "[3.0, 12.0]", "True"]


def test_everything_imports_and_differentiates_under_python_OO():
    # python -OO strips docstrings; code that builds a docstring from another one
    # must not fail on None (torch_functions' softmax did).
    program = (
        "import chainrule as cr, chainrule.numpy as np, chainrule.nn as nn, chainrule.optim, "
        "chainrule.scipy.special, chainrule.scipy.stats, chainrule.misc, chainrule.extend, "
        "chainrule.explain, chainrule.jit, chainrule.data, chainrule.numpy.linalg, "
        "chainrule.numpy.fft, chainrule.numpy.random, chainrule.test_util, chainrule.builtins\n"
        "print(cr.grad(lambda x: np.sum(np.tanh(x)))(np.ones(2)))\n"
        "print(nn.Linear(2, 3)(cr.ones(1, 2)).shape)"
    )
    out = subprocess.run([sys.executable, "-OO", "-c", program], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "(1, 3)" in out.stdout
