"""chainrule: automatic differentiation that shows the chain rule.

>>> import chainrule as cr
>>> z = cr.tensor(0.5, requires_grad=True)
>>> s = 1 / (1 + cr.exp(-z))      # the sigmoid, split into -z, e^f, 1+g, 1/h
>>> s.backward()
>>> round(z.grad.item(), 6)        # sigma(z) (1 - sigma(z))
0.235004
"""

from chainrule import autograd, data, nn, optim  # training: layers, optimizers, data
from chainrule import tensor_methods as _tensor_methods  # noqa: F401  (installs operators)
from chainrule.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from chainrule.explain import ExplainError, Explanation, explain, graph
from chainrule.func import grad, hessian, hvp, jacfwd, jacobian, jvp, value_and_grad, vjp
from chainrule.functions import (
    abs,
    add,
    arange,
    astype,
    broadcast_to,
    clip,
    concatenate,
    cos,
    divide,
    exp,
    expand_dims,
    full,
    getitem,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    ones,
    ones_like,
    power,
    prod,
    relu,
    reshape,
    sigmoid,
    sin,
    softmax,
    sqrt,
    squeeze,
    stack,
    subtract,
    sum,
    swapaxes,
    tanh,
    transpose,
    where,
    zeros,
    zeros_like,
)
from chainrule.gradcheck import GradcheckError, gradcheck, gradgradcheck
from chainrule.jit import JitError, jit
from chainrule.nn.rng import manual_seed
from chainrule.ops.primitive import PRIMITIVES, Primitive, UserPrimitive, primitive
from chainrule.serialization import CheckpointError, load, save
from chainrule.tensor import Tensor, name, name_of, tensor

float16, float32, float64 = "float16", "float32", "float64"
int32, int64, bool_ = "int32", "int64", "bool"

__version__ = "0.1.0"

__all__ = [
    "abs",
    "add",
    "arange",
    "astype",
    "autograd",
    "broadcast_to",
    "CheckpointError",
    "clip",
    "concatenate",
    "cos",
    "data",
    "divide",
    "enable_grad",
    "exp",
    "expand_dims",
    "explain",
    "ExplainError",
    "Explanation",
    "full",
    "getitem",
    "grad",
    "gradcheck",
    "GradcheckError",
    "gradgradcheck",
    "graph",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "jacfwd",
    "jit",
    "JitError",
    "jacobian",
    "jvp",
    "load",
    "log",
    "log_softmax",
    "logsumexp",
    "manual_seed",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "multiply",
    "name",
    "name_of",
    "negative",
    "nn",
    "no_grad",
    "ones",
    "ones_like",
    "optim",
    "power",
    "Primitive",
    "primitive",
    "PRIMITIVES",
    "prod",
    "relu",
    "reshape",
    "save",
    "set_grad_enabled",
    "sigmoid",
    "sin",
    "softmax",
    "sqrt",
    "squeeze",
    "stack",
    "subtract",
    "sum",
    "swapaxes",
    "tanh",
    "Tensor",
    "tensor",
    "transpose",
    "UserPrimitive",
    "value_and_grad",
    "vjp",
    "where",
    "zeros",
    "zeros_like",
]
