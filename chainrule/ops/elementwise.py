"""Elementwise primitives: arithmetic and the usual functions of one variable.

Each rule returns the upstream gradient ``g`` times the local derivative, shaped
like the broadcast result; the engine sums it back to the input's shape.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops.complex_parts import abs_jvp, abs_vjp, match_dtype
from chainrule.ops.primitive import ELEMENTWISE, Primitive
from chainrule.tensor import Tensor, active_tracer
from chainrule.threads import split_rows, split_ufunc

# ------------------------------------------------------------------ arithmetic
add = Primitive(
    "add",
    np.add,
    vjp=(lambda g, ans, x, y: g, lambda g, ans, x, y: g),
    jvp=(lambda t, ans, x, y: t, lambda t, ans, x, y: t),
    formula=("1", "1"),
    doc="x + y, with broadcasting.",
)

sub = Primitive(
    "sub",
    np.subtract,
    vjp=(lambda g, ans, x, y: g, lambda g, ans, x, y: -g),
    jvp=(lambda t, ans, x, y: t, lambda t, ans, x, y: -t),
    formula=("1", "-1"),
    doc="x - y, with broadcasting.",
)

_MUL_VJP = (lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
_MUL_JVP = (lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t)
mul = Primitive(
    "mul",
    np.multiply,
    vjp=_MUL_VJP,
    jvp=_MUL_JVP,
    formula=("y", "x"),
    doc="x * y, with broadcasting.",
)


def _outer_mul_forward(x, y):
    if _is_stack_of_outer_products(x, y):
        # x (..., M, 1) times y (..., 1, N): np.einsum's sum-of-products loop writes
        # these about twice as fast as np.multiply's broadcast loop (measured on the
        # (128, 512, 784) per-example weight gradients, the result in cache: 28 ms
        # against 62 ms), and the values are the same products: a sum over the one
        # k, as the batched matmul this stands for gives (a zero product is +0).
        def write(lo, hi, out):
            np.einsum("...ik,...kj->...ij", x[lo:hi], y[lo:hi], out=out)

        shape = (*x.shape[:-1], y.shape[-1])
        return split_rows(shape, x.dtype, write)
    return split_ufunc(np.multiply, x, y)


#: Below this many elements np.einsum's set-up (parsing its subscripts, ~5 us) costs
#: more than its faster loop saves.
_EINSUM_MIN_SIZE = 1 << 14


def _is_stack_of_outer_products(x, y) -> bool:
    return (
        type(x) is np.ndarray
        and type(y) is np.ndarray
        and x.ndim == y.ndim >= 3
        and x.shape[-1] == 1
        and y.shape[-2] == 1
        and x.shape[:-2] == y.shape[:-2]
        and x.dtype == y.dtype
        and x.dtype.char in "fd"  # float32, float64: measured; others keep the multiply
        and x.size * y.shape[-1] >= _EINSUM_MIN_SIZE
    )


# mul, computed by several threads when its result is large: cr.vmap's outer products
# of a batch (the per-example weight gradients g x^T, (B, M, 1) * (B, 1, N)) write
# hundreds of MB with one multiply each, at the speed of memory, not arithmetic. A
# primitive of its own so that mul, on every hot path, stays a bare ufunc call.
outer_mul = Primitive(
    "outer_mul",
    _outer_mul_forward,
    vjp=_MUL_VJP,
    jvp=_MUL_JVP,
    formula=("y", "x"),
    doc="x * y, with broadcasting, split over the leading axis among threads when large "
    "(cr.vmap's batched outer products; see chainrule.threads).",
)


def _all_normal(a) -> bool:
    """Whether every element of a raw array (or NumPy scalar) is a finite, normal
    float: neither 0, nor subnormal, nor inf or nan."""
    if a.size == 0:
        return True
    size = np.abs(a)
    info = np.finfo(size.dtype)
    return bool(size.min() >= info.tiny and size.max() <= info.max)  # nan fails both


def _divisor_rule(g, ans, x, y):
    # d(x/y)/dy = -x/y^2. Computed as -(g x) / y^2, HIPS autograd's order, so that a
    # program written for autograd gets its numbers bit for bit; but g x and y^2
    # leave the float range long before the result does (y^2 underflows to 0 below
    # |y| ~ 1e-19 in float32, overflows above 1.8e19), so where either is not a
    # normal float, the element takes -(g ans) / y instead, which has no such squares.
    if not (_is_raw(g) and _is_raw(y)):
        # A recorded pass (higher order, cr.explain's derivative graphs, cr.jit).
        num = g * x
        den = y * y
        quotient = -num / den
        if _readable(num, den) and _all_normal(num.data) and _all_normal(den.data):
            return quotient  # -x/y^2 as four operations: the graph a learner expects
        # Under cr.jit (whose trace must hold for other values) or cr.vmap, the same
        # choice per element, in operations on Tensors.
        return _divisor_rule_masked(g, ans, y, num, den, quotient)
    with np.errstate(all="ignore"):  # out-of-range squares are handled just below
        num = g * x
        den = y * y
        quotient = -num / den
    if _all_normal(den) and _all_normal(num):
        return quotient  # the common case: no element needs the other formula
    return _divisor_rule_masked(g, ans, y, num, den, quotient)


def _is_raw(a) -> bool:
    return isinstance(a, (np.ndarray, np.generic))


def _readable(*tensors) -> bool:
    """Whether a recorded pass may choose by these Tensors' values: not while cr.jit
    traces (the choice would be frozen into the trace) nor for cr.vmap's batches."""
    return active_tracer() is None and all(type(t) is Tensor for t in tensors)


def _divisor_rule_masked(g, ans, y, num, den, quotient):
    # Elementwise choice, written in operations that also act on Tensors, so that a
    # recorded pass (higher order, cr.jit) makes the same choice per element.
    dtype = quotient.dtype
    info = np.finfo(dtype)
    num_size = np.abs(num)
    den_size = np.abs(den)
    # A subnormal g x costs digits only where y^2 < 1 would magnify its rounding
    # into a normal result; otherwise the quotient is as small as g x, or smaller.
    # (np.logical_and/or, not & and |: those are bitwise ops, with no rule for Tensors)
    in_range = np.logical_and(den_size >= info.tiny, den_size <= info.max)
    in_range = np.logical_and(in_range, num_size <= info.max)
    exact_enough = np.logical_or(num_size >= info.tiny, num_size == 0)
    usable = np.logical_and(in_range, np.logical_or(exact_enough, den_size >= 1))
    return np.where(usable, quotient, -(g * ans) / y)


div = Primitive(
    "div",
    np.true_divide,
    vjp=(lambda g, ans, x, y: g / y, _divisor_rule),
    jvp=(lambda t, ans, x, y: t / y, _divisor_rule),
    formula=("1/y", "-x/y^2"),
    saves_ans=True,
    doc="x / y (true division), with broadcasting.",
)

neg = Primitive(
    "neg",
    np.negative,
    vjp=lambda g, ans, x: -g,
    jvp=lambda t, ans, x: -t,
    formula="-1",
    exact=True,
    doc="-x.",
)


def _pow_base_vjp(g, ans, x, y):
    # d(x^y)/dx = y x^(y-1). A constant zero exponent has zero derivative even at
    # x = 0, where y x^(y-1) would be 0 * inf.
    if type(y) is int or type(y) is float:
        if y == 0:
            return g * 0
        if y == 2:
            return g * (x * 2)
        # (g y) x^(y-1), in HIPS autograd's order: as accurate as g (y x^(y-1)), and
        # a program written for autograd gets its numbers bit for bit.
        return g * y * x ** (y - 1)
    # At x = y = 0, y x^(y-1) is 0 * inf; the base 1 gives 0 there and leaves
    # the dependence on y intact (its derivative in y must not be cut off).
    base = np.where((x == 0) & (y == 0), 1, x)
    return g * (y * base ** (y - 1))


def _pow_exponent_vjp(g, ans, x, y):
    # d(x^y)/dy = x^y log x; at x = 0 the product ans * log x is 0 * -inf, whose
    # limit (for y > 0) is 0, so log is taken of 1 there.
    return g * (ans * np.log(np.where(x == 0, 1, x)))


pow = Primitive(  # noqa: A001 - the operator's name
    "pow",
    np.power,
    # Both rules are "upstream times local derivative", elementwise, so the same
    # functions serve forward mode (t in place of g).
    vjp=(_pow_base_vjp, _pow_exponent_vjp),
    jvp=(_pow_base_vjp, _pow_exponent_vjp),
    formula=("y*x^(y-1)", "x^y*log(x)"),
    saves_ans=True,
    doc="x ** y, with broadcasting; differentiable in both x and y.",
)


# ------------------------------------------------------------ functions of one variable
# The derivative is diagonal, so the forward-mode rule is the reverse-mode rule
# with the tangent t in place of the upstream gradient g.
def _diagonal(name, forward, rule, formula, doc, saves_ans=False):
    return Primitive(
        name,
        forward,
        vjp=rule,
        jvp=rule,
        formula=formula,
        saves_ans=saves_ans,
        exact=True,
        doc=doc,
    )


def divide_safely(g, d):
    """g / d, except 0 where g and d are both 0. A zero gradient reaching a point of
    infinite slope (sqrt or log at 0, in the branch np.where did not pick) then stays
    zero instead of becoming 0/0 = NaN; a non-zero one still gives inf."""
    return g / np.where((d == 0) & (g == 0), 1, d)


exp = _diagonal("exp", np.exp, lambda g, ans, x: g * ans, "exp(x)", "e^x.", saves_ans=True)
log = _diagonal("log", np.log, lambda g, ans, x: divide_safely(g, x), "1/x", "Natural logarithm.")
sqrt = _diagonal(
    "sqrt",
    np.sqrt,
    lambda g, ans, x: divide_safely(g, ans * 2),
    "1/(2*sqrt(x))",
    "Square root (its derivative is inf at 0; a zero gradient there stays 0).",
    True,
)
abs = Primitive(  # noqa: A001 - NumPy's name
    "abs",
    np.absolute,
    vjp=abs_vjp,
    jvp=abs_jvp,
    formula="sign(x)",
    exact=True,  # the VJP has x's shape and dtype, complex x included
    doc="|x| (the modulus of a complex x); its derivative at 0 is taken as 0.",
)
sin = _diagonal("sin", np.sin, lambda g, ans, x: g * np.cos(x), "cos(x)", "Sine.")
cos = _diagonal("cos", np.cos, lambda g, ans, x: -(g * np.sin(x)), "-sin(x)", "Cosine.")


# The derivative computed as 1/cosh(x)^2, not 1 - tanh(x)^2 (the same function, and
# the formula shown to learners): once |x| > ~19 in float64, tanh(x) rounds to +-1
# and 1 - tanh^2 to 0, while sech^2 keeps its full relative accuracy (sech^2(20) =
# 1.7e-17) until cosh overflows, where 0 is the right limit. It is also HIPS
# autograd's formula, so programs written for it get its numbers bit for bit.
def _tanh_rule(g, ans, x):
    c = np.cosh(x)
    if type(c) is np.ndarray:  # a raw array: square it in place, one temporary fewer
        np.multiply(c, c, out=c)
        return g / c
    return g / c**2  # a Tensor (a recorded pass) or a NumPy scalar


tanh = _diagonal(
    "tanh",
    np.tanh,
    _tanh_rule,
    "1-tanh(x)^2",
    "Hyperbolic tangent.",
)


def symmetric_rules(share):
    """The rules of a two-input elementwise op whose inputs play symmetric parts:
    ``share(g, ans, mine, other)`` is one input's part of ``g``. Being elementwise,
    the same pair serves reverse mode (``g``) and forward mode (a tangent ``t``)."""
    return (
        lambda g, ans, x, y: share(g, ans, x, y),
        lambda g, ans, x, y: share(g, ans, y, x),
    )


def _max_share(g, ans, mine, other):
    # Where the two tie, each gets half the gradient (as PyTorch does).
    return np.where(mine > other, g, np.where(mine == other, g * 0.5, 0))


def _min_share(g, ans, mine, other):
    return _max_share(g, ans, other, mine)


_MAXIMUM_RULES = symmetric_rules(_max_share)
_MINIMUM_RULES = symmetric_rules(_min_share)


maximum = Primitive(
    "maximum",
    np.maximum,
    vjp=_MAXIMUM_RULES,
    jvp=_MAXIMUM_RULES,
    formula=("[x>y] + ½[x=y]", "[y>x] + ½[x=y]"),
    doc="Elementwise larger of x and y; at ties the gradient is split evenly.",
)
minimum = Primitive(
    "minimum",
    np.minimum,
    vjp=_MINIMUM_RULES,
    jvp=_MINIMUM_RULES,
    formula=("[x<y] + ½[x=y]", "[y<x] + ½[x=y]"),
    doc="Elementwise smaller of x and y; at ties the gradient is split evenly.",
)

where = Primitive(
    "where",
    np.where,
    vjp=(
        None,
        lambda g, ans, c, x, y: np.where(c, g, 0),
        lambda g, ans, c, x, y: np.where(c, 0, g),
    ),
    jvp=(
        None,
        lambda t, ans, c, x, y: np.where(c, t, 0),
        lambda t, ans, c, x, y: np.where(c, 0, t),
    ),
    formula=("0", "[cond]", "[not cond]"),
    doc="x where cond is true, else y (cond gets no gradient).",
)

clip = Primitive(
    "clip",
    np.clip,
    vjp=(
        # Unclipped entries (bounds included, as PyTorch's clamp) pass the gradient.
        lambda g, ans, x, lo, hi: np.where(ans == x, g, 0),
        lambda g, ans, x, lo, hi: np.where(x < lo, g, 0),
        lambda g, ans, x, lo, hi: np.where(x > hi, g, 0),
    ),
    jvp=(
        lambda t, ans, x, lo, hi: np.where(ans == x, t, 0),
        lambda t, ans, x, lo, hi: np.where(x < lo, t, 0),
        lambda t, ans, x, lo, hi: np.where(x > hi, t, 0),
    ),
    formula=("[lo<=x<=hi]", "[x<lo]", "[x>hi]"),
    saves_ans=True,
    doc="x limited to [lo, hi] (either bound may be None).",
)


def _strictly_inside(g, ans, lo, hi):
    # np.logical_and, not &: it also acts on Tensors (a recorded pass).
    inside = None
    if lo is not None:
        inside = ans != lo
    if hi is not None:
        inside = ans != hi if inside is None else np.logical_and(inside, ans != hi)
    return np.where(inside, g, 0)


# NumPy's clip as HIPS autograd differentiates it: an entry at a bound is taken as
# clipped (its gradient in x is 0; the bound gets it), where PyTorch's clamp (the
# primitive above) passes it through. chainrule.numpy.clip is this one, so that a
# program written for autograd, which may clip a value onto a bound and take the
# next gradient there (a projected gradient step), gets autograd's numbers.
clip_strict = Primitive(
    "clip_strict",
    np.clip,
    vjp=(
        lambda g, ans, x, lo, hi: _strictly_inside(g, ans, lo, hi),
        lambda g, ans, x, lo, hi: np.where(x <= lo, g, 0),
        lambda g, ans, x, lo, hi: np.where(x >= hi, g, 0),
    ),
    jvp=(
        lambda t, ans, x, lo, hi: _strictly_inside(t, ans, lo, hi),
        lambda t, ans, x, lo, hi: np.where(x <= lo, t, 0),
        lambda t, ans, x, lo, hi: np.where(x >= hi, t, 0),
    ),
    formula=("[lo<x<hi]", "[x<=lo]", "[x>=hi]"),
    saves_ans=True,
    doc="x limited to [lo, hi], with HIPS autograd's derivative: 0 in x at a bound.",
)

copy = Primitive(
    "copy",
    np.copy,
    vjp=lambda g, ans, x: g,
    jvp=lambda t, ans, x: t,
    formula="1",
    doc="x in memory of its own (PyTorch's clone): changing one never changes the other.",
)


def _cast_forward(x, dtype):
    return x.astype(dtype, copy=False)


cast = Primitive(
    "cast",
    _cast_forward,
    vjp=lambda g, ans, x, dtype: match_dtype(g, x.dtype),
    jvp=lambda t, ans, x, dtype: match_dtype(t, np.dtype(dtype)),
    formula="1",
    doc="x converted to another dtype (a gradient flows only between float dtypes).",
)

# ------------------------------------------------- comparisons (no derivative)
equal = Primitive("equal", np.equal, differentiable=False, doc="x == y, elementwise.")
not_equal = Primitive("not_equal", np.not_equal, differentiable=False, doc="x != y.")
less = Primitive("less", np.less, differentiable=False, doc="x < y, elementwise.")
less_equal = Primitive("less_equal", np.less_equal, differentiable=False, doc="x <= y.")
greater = Primitive("greater", np.greater, differentiable=False, doc="x > y, elementwise.")
greater_equal = Primitive("greater_equal", np.greater_equal, differentiable=False, doc="x >= y.")
sign = Primitive("sign", np.sign, differentiable=False, doc="-1, 0 or 1 by the sign of x.")
logical_and = Primitive("logical_and", np.logical_and, differentiable=False, doc="x and y.")
logical_or = Primitive("logical_or", np.logical_or, differentiable=False, doc="x or y.")
logical_not = Primitive("logical_not", np.logical_not, differentiable=False, doc="not x.")
isfinite = Primitive("isfinite", np.isfinite, differentiable=False, doc="True where finite.")
isnan = Primitive("isnan", np.isnan, differentiable=False, doc="True where NaN.")

# Forward mode over a stack of tangents at once (jacfwd, hessian): these rules are
# elementwise in the tangent, so a batch of tangents broadcasts through them.
for _prim in (add, sub, mul, outer_mul, div, neg, pow, exp, log, sqrt, abs, sin, cos, tanh):
    _prim.batch = ELEMENTWISE
for _prim in (maximum, minimum, where, clip, clip_strict, cast):
    _prim.batch = ELEMENTWISE

# Their rules hold for complex inputs as well (see chainrule.ops.complex_parts):
# holomorphic formulas, selections (where, maximum: NumPy orders complex numbers
# lexicographically) and abs's rule written for both.
for _prim in (add, sub, mul, outer_mul, div, neg, pow, exp, log, sqrt, abs, sin, cos, tanh):
    _prim.complex_rules = True
for _prim in (maximum, minimum, where, copy, cast):
    _prim.complex_rules = True
