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


# Names whose meaning the name alone does not give (a transform's result structure,
# a rule's signature, an argument order): each must keep a runnable example.
NEEDS_AN_EXAMPLE = """
grad value_and_grad vjp jvp jacobian jacfwd hessian hvp jit explain gradcheck
elementwise_grad grad_named multigrad_dict make_vjp make_jvp make_hvp checkpoint
hessian_tensor_product tensor_jacobian_product no_grad enable_grad set_grad_enabled
inference_mode primitive Primitive einsum gather scatter_add index_select masked_fill
where topk lerp addmm split chunk unbind save load manual_seed from_numpy
tree.flatten tree.unflatten tree.map tree.leaves tree.structure
extend.primitive extend.defvjp extend.defjvp extend.defvjp_argnum extend.defjvp_argnum
extend.def_linear extend.notrace_primitive autograd.grad autograd.detect_anomaly
autograd.once_differentiable autograd.Function nn.Linear nn.Conv2d nn.MaxPool2d
nn.Embedding nn.Dropout nn.ModuleList nn.ModuleDict nn.HuberLoss nn.KLDivLoss
nn.functional.cross_entropy nn.functional.nll_loss nn.functional.unfold
nn.functional.one_hot optim.SGD optim.Adam optim.Optimizer optim.LambdaLR
optim.OneCycleLR data.random_split data.default_collate vmap holomorphic_grad
nn.LSTM nn.GRU nn.RNN nn.MultiheadAttention nn.TransformerEncoderLayer nn.TransformerEncoder
""".split()  # noqa: SIM905 - one name per word reads better here


@pytest.mark.parametrize("name", NEEDS_AN_EXAMPLE)
def test_names_that_need_an_example_have_one(name):
    obj = chainrule
    for part in name.split("."):
        obj = getattr(obj, part)
    assert ">>>" in (obj.__doc__ or ""), f"chainrule.{name} has no runnable example"
