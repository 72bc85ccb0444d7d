"""chainrule: automatic differentiation that shows the chain rule.

>>> import chainrule as cr
>>> z = cr.tensor(0.5, requires_grad=True)
>>> s = 1 / (1 + cr.exp(-z))      # the sigmoid, split into -z, e^f, 1+g, 1/h
>>> s.backward()
>>> print(f"{z.grad.item():.6f}")  # sigma(z) (1 - sigma(z))
0.235004
"""

import importlib as _importlib
import sys as _sys
import types as _types

from chainrule import (  # training: layers
    autograd,
    backends,
    cuda,
    nn,
    tree,
)
from chainrule import tensor_convert as _tensor_convert  # noqa: F401  (to(), float(), ...)
from chainrule import tensor_methods as _tensor_methods  # noqa: F401  (installs operators)
from chainrule.autograd.anomaly import AnomalyError
from chainrule.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from chainrule.autograd_api import (  # HIPS autograd's names
    checkpoint,
    elementwise_grad,
    grad_named,
    hessian_tensor_product,
    hessian_vector_product,
    holomorphic_grad,
    make_hvp,
    make_jvp,
    make_vjp,
    multigrad_dict,
    tensor_jacobian_product,
    vector_jacobian_product,
)
from chainrule.batching import BatchedTensor, VmapError, vmap
from chainrule.dtypes import BUILTIN_NAMED as _BUILTIN_NAMED  # noqa: E402
from chainrule.dtypes import (  # noqa: E402 - PyTorch's dtype names
    DeviceError,
    bool_,
    byte,
    cdouble,
    char,
    complex64,
    complex128,
    device,
    double,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
)
from chainrule.factories import (
    Size,
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    zeros,
    zeros_like,
)
from chainrule.func import grad, hessian, hvp, jacfwd, jacobian, jvp, value_and_grad, vjp
from chainrule.functions import (
    abs,
    add,
    astype,
    broadcast_to,
    clip,
    concatenate,
    cos,
    divide,
    exp,
    expand_dims,
    getitem,
    log,
    logsumexp,
    matmul,
    maximum,
    minimum,
    multiply,
    negative,
    power,
    relu,
    reshape,
    sigmoid,
    sin,
    sqrt,
    subtract,
    swapaxes,
    tanh,
)
from chainrule.gradcheck import GradcheckError, gradcheck, gradgradcheck
from chainrule.nn.rng import Generator, manual_seed
from chainrule.ops.primitive import PRIMITIVES, Primitive, UserPrimitive, primitive
from chainrule.tensor import Tensor, name, name_of, tensor
from chainrule.threads import get_num_threads, set_num_threads
from chainrule.torch_functions import (
    addmm,
    all,
    allclose,
    any,
    argmax,
    argmin,
    bmm,
    cat,
    ceil,
    chunk,
    clamp,
    concat,
    cumsum,
    dot,
    einsum,
    flatten,
    floor,
    gather,
    index_select,
    is_tensor,
    isclose,
    isfinite,
    isinf,
    isnan,
    lerp,
    log_softmax,
    masked_fill,
    max,
    mean,
    min,
    mm,
    norm,
    numel,
    outer,
    permute,
    pow,
    prod,
    round,
    scatter_add,
    sign,
    softmax,
    sort,
    split,
    square,
    squeeze,
    stack,
    std,
    sum,
    topk,
    transpose,
    tril,
    triu,
    unbind,
    unsqueeze,
    var,
    where,
)

# cr.float, cr.int, cr.bool, cr.cfloat: set last, so nothing above reads them as builtins.
globals().update(_BUILTIN_NAMED)

__version__ = "0.1.0"

# Imported on first use (PEP 562), since most programs never touch them and a
# program's run time includes the import: ``cr.data``, ``cr.explain`` and the others
# below work as attributes, in ``from chainrule import ...`` and ``import
# chainrule.optim`` as before; only ``import chainrule`` is quicker.
_LAZY_MODULES = frozenset({"data", "distributed", "optim", "utils"})
_LAZY_NAMES = {
    "CheckpointError": "chainrule.serialization",
    "load": "chainrule.serialization",
    "save": "chainrule.serialization",
    "ExplainError": "chainrule.explain",
    "Explanation": "chainrule.explain",
    "NetworkExplanation": "chainrule.explain",
    "explain": "chainrule.explain",
    "graph": "chainrule.explain",
    "JitError": "chainrule.jit",
    "jit": "chainrule.jit",
}
# Functions named as the subpackages that define them: ``cr.explain`` and ``cr.jit``
# are the functions, as when they were imported eagerly.
_SHADOWED = frozenset({"explain", "jit"})


class _Package(_types.ModuleType):
    """chainrule's module object. Importing a subpackage sets it as an attribute of
    its parent; for ``explain`` and ``jit`` that would replace the function of the
    same name (the eager import bound the function after the subpackage was set)."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _SHADOWED and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> object:
    if name in _LAZY_MODULES:
        return _importlib.import_module(f"chainrule.{name}")
    if name in _LAZY_NAMES:
        value = getattr(_importlib.import_module(_LAZY_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_MODULES | set(_LAZY_NAMES))


__all__ = [
    "abs",
    "add",
    "addmm",
    "all",
    "allclose",
    "AnomalyError",
    "any",
    "arange",
    "argmax",
    "argmin",
    "as_tensor",
    "astype",
    "autograd",
    "backends",
    "bmm",
    "bool",
    "bool_",
    "broadcast_to",
    "byte",
    "cat",
    "cdouble",
    "ceil",
    "cfloat",
    "char",
    "CheckpointError",
    "chunk",
    "clamp",
    "clip",
    "complex128",
    "complex64",
    "concat",
    "concatenate",
    "cos",
    "cuda",
    "cumsum",
    "data",
    "device",
    "DeviceError",
    "divide",
    "dot",
    "double",
    "einsum",
    "empty",
    "empty_like",
    "enable_grad",
    "exp",
    "expand_dims",
    "explain",
    "ExplainError",
    "Explanation",
    "NetworkExplanation",
    "eye",
    "flatten",
    "float",
    "float16",
    "float32",
    "float64",
    "floor",
    "from_numpy",
    "full",
    "full_like",
    "gather",
    "Generator",
    "get_default_dtype",
    "getitem",
    "grad",
    "gradcheck",
    "GradcheckError",
    "gradgradcheck",
    "graph",
    "half",
    "hessian",
    "hvp",
    "index_select",
    "inference_mode",
    "int",
    "int16",
    "int32",
    "int64",
    "int8",
    "is_grad_enabled",
    "is_tensor",
    "isclose",
    "isfinite",
    "isinf",
    "isnan",
    "jacfwd",
    "jacobian",
    "jit",
    "JitError",
    "jvp",
    "lerp",
    "linspace",
    "load",
    "log",
    "log_softmax",
    "logspace",
    "logsumexp",
    "long",
    "manual_seed",
    "masked_fill",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mm",
    "multiply",
    "name",
    "name_of",
    "negative",
    "nn",
    "no_grad",
    "norm",
    "numel",
    "ones",
    "ones_like",
    "optim",
    "outer",
    "permute",
    "pow",
    "power",
    "Primitive",
    "primitive",
    "PRIMITIVES",
    "prod",
    "rand",
    "rand_like",
    "randint",
    "randn",
    "randn_like",
    "randperm",
    "relu",
    "reshape",
    "round",
    "save",
    "scatter_add",
    "set_default_dtype",
    "set_grad_enabled",
    "short",
    "sigmoid",
    "sign",
    "sin",
    "Size",
    "softmax",
    "sort",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "subtract",
    "sum",
    "swapaxes",
    "tanh",
    "Tensor",
    "tensor",
    "topk",
    "transpose",
    "tril",
    "triu",
    "uint8",
    "unbind",
    "unsqueeze",
    "UserPrimitive",
    "utils",
    "distributed",
    "value_and_grad",
    "var",
    "vjp",
    "vmap",
    "get_num_threads",
    "set_num_threads",
    "VmapError",
    "BatchedTensor",
    "where",
    "zeros",
    "zeros_like",
    # pytrees and HIPS autograd's names (chainrule.tree, chainrule.autograd_api)
    "tree",
    "checkpoint",
    "elementwise_grad",
    "holomorphic_grad",
    "grad_named",
    "hessian_tensor_product",
    "hessian_vector_product",
    "make_hvp",
    "make_jvp",
    "make_vjp",
    "multigrad_dict",
    "tensor_jacobian_product",
    "vector_jacobian_product",
]
