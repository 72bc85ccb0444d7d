"""Batching rules of the primitives behind ``chainrule.scipy`` (found by name, as those
modules load on demand): the same contract as :mod:`chainrule.ops.batch_rules`.

SciPy's routines take one problem at a time, so each rule says how a batch is done:

- ``solve_triangular``: one shared matrix takes the examples' right-hand sides as
  the columns of one right-hand side (one SciPy call, the same routine); a batch of
  matrices is solved as stacked general systems (``numpy.linalg.solve``, in C) of
  the triangle SciPy reads, up to ``TRIANGULAR_STACK_MAX`` rows, and one by one above
  that (where the LU's n^3 would cost more than a loop's calls);
- ``sqrtm`` and ``solve_sylvester``: their forwards take stacks (see
  :mod:`chainrule.ops.scipy_linalg`: symmetric matrices by one batched ``eigh``,
  small Sylvester equations by one batched linear solve, the rest one by one);
- ``convolve``: one batched operand adds a kept axis, both a pair of axes that
  both keep (the primitive's ``batch`` parameter): one einsum for the batch;
- ``mvn_logpdf``: a batch of points is more points (one SciPy call); a batch of
  means or covariances goes one example at a time (SciPy takes one distribution);
- ``odeint``: one integration per example, by design: SciPy's step-size control
  belongs to one problem (integrating the batch as one system would give every
  example the steps of the hardest), and ``func`` is written for one example.

The loops here are explicit and silent: results and gradients are the loop's.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops import elementwise as _el
from chainrule.ops import numpy_linalg as _nla
from chainrule.ops import shape as _sh
from chainrule.ops.batch_rules import BY_NAME, _loop, logical_ndim, moveaxis_to_front
from chainrule.ops.batch_rules_more import _solve_rule, stacked_rule
from chainrule.tensor import apply

#: Largest triangular matrices solved as a stack of general systems (see above).
TRIANGULAR_STACK_MAX = 128


def _transposed(trans) -> bool:
    return trans in (1, 2, "T", "C")


def _triangular_rule(prim, xs, flags, size, params):
    a, b = xs
    fa, fb = flags
    vector = logical_ndim(b, fb) == 1
    if not fa:
        # Shared matrix: the batch's right-hand sides side by side, (n, B * k).
        cols = apply(_sh.expand_dims, (b,), {"axis": -1}) if vector else b
        n, k = cols.shape[-2], cols.shape[-1]
        cols = apply(_sh.transpose, (cols,), {"axes": (1, 0, 2)})
        cols = apply(_sh.reshape, (cols,), {"shape": (n, size * k)})
        out = apply(prim, (a, cols), params or None)
        out = apply(_sh.reshape, (out,), {"shape": (n, size, k)})
        out = apply(_sh.transpose, (out,), {"axes": (1, 0, 2)})
        return apply(_sh.squeeze, (out,), {"axis": -1}) if vector else out
    n = a.shape[-1]
    if n > TRIANGULAR_STACK_MAX or a.dtype.kind == "c" or getattr(b, "dtype", a.dtype).kind == "c":
        return _loop(prim, xs, flags, size, params)
    # The part SciPy reads (one triangle; its diagonal taken as ones when
    # unit_diagonal), as a full matrix: the mask keeps the gradient on that part.
    lower = params.get("lower", False)
    unit = params.get("unit_diagonal", False)
    ones = np.ones((n, n), dtype=a.dtype)
    mask = np.tril(ones, -1 if unit else 0) if lower else np.triu(ones, 1 if unit else 0)
    read = apply(_el.mul, (a, mask))
    if unit:
        read = apply(_el.add, (read, np.eye(n, dtype=a.dtype)))
    if _transposed(params.get("trans", 0)):
        read = apply(_sh.transpose, (read,), {"axes": (0, 2, 1)})
    return _solve_rule(_nla.solve, [read, b], [True, fb], size, {})


def _convolve_rule(prim, xs, flags, size, params):
    fa, fb = flags
    (ca, cb), (da, db) = params["conv"], params["dot"]
    ba, bb = params.get("batch") or ((), ())
    paired = len(ba)  # axes both operands keep (vmap's, from outer levels): output first

    def shift(axes):
        return tuple(i + 1 for i in axes)

    p = dict(params)
    if fa and fb:
        # Example i of a with example i of b: a pair of axes both keep, the first.
        p["conv"], p["dot"] = (shift(ca), shift(cb)), (shift(da), shift(db))
        p["batch"] = ((0, *shift(ba)), (0, *shift(bb)))
        return apply(prim, tuple(xs), p)
    if fa:
        # The batch is one more kept axis of a, the first of them.
        p["conv"], p["dot"] = (shift(ca), cb), (shift(da), db)
        if paired:
            p["batch"] = (shift(ba), bb)
        return moveaxis_to_front(apply(prim, tuple(xs), p), paired)
    p["conv"], p["dot"] = (ca, shift(cb)), (da, shift(db))
    if paired:
        p["batch"] = (ba, shift(bb))
    kept_a = np.ndim(xs[0]) - len(ca) - len(da) - paired  # b's kept axes follow a's
    return moveaxis_to_front(apply(prim, tuple(xs), p), paired + kept_a)


def _one_by_one(prim, xs, flags, size, params):
    return _loop(prim, xs, flags, size, params)


BY_NAME["solve_triangular"] = _triangular_rule
BY_NAME["sqrtm"] = stacked_rule
BY_NAME["solve_sylvester"] = stacked_rule
BY_NAME["convolve"] = _convolve_rule
BY_NAME["odeint"] = _one_by_one


def _mvn_rule(prim, xs, flags, size, params):
    if flags[1] or flags[2]:
        return _loop(prim, xs, flags, size, params)
    return apply(prim, tuple(xs), params or None)  # x (B, ..., D): B more point axes


BY_NAME["mvn_logpdf"] = _mvn_rule
