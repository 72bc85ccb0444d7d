"""``chainrule.test_util``: HIPS autograd's gradient checks, on chainrule's transforms.

``check_grads(f, modes=["fwd", "rev"], order=2)(*args)`` compares the derivatives
chainrule computes for ``f`` with central finite differences along random
directions, as autograd's does:

- reverse mode: ``<u, J^T w>`` from :func:`chainrule.vjp` against ``<w, J u>`` by
  differences, for random ``u`` (input) and ``w`` (output);
- forward mode: ``J u`` from :func:`chainrule.jvp` against differences, compared
  through a random inner product;
- ``order=2`` (the default) checks the derivative functions themselves again, the
  VJP as a function of the input and the cotangent, the JVP of the input and the
  tangent: second derivatives, forward over forward and reverse over reverse.

A mismatch raises ``AssertionError`` naming the function, the check and both
numbers. ``argnum`` picks the argument checked (an int, or a tuple for several);
the others are held fixed. Arguments are arrays, numbers or pytrees of them
(:mod:`chainrule.tree`: lists, tuples, dicts; every leaf is checked) (float64 or
complex128 works best: the differences use a step of 1e-6); complex arguments are
checked along random complex directions, with autograd's convention.
``check_grads(f, x)``, autograd's older
form, checks ``f`` at ``x`` at once. :func:`chainrule.gradcheck` is the element by
element check of a Tensor function's full Jacobian.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import tree
from chainrule.func import jvp, vjp
from chainrule.tensor import Tensor

__all__ = ["check_grads", "combo_check"]

#: Finite-difference step and tolerances (autograd's): |a - b| < TOL or relative < RTOL.
EPS = 1e-6
TOL = 1e-6
RTOL = 1e-6

_MODES = ("fwd", "rev")


def _array(x: Any) -> np.ndarray:
    return x.detach().data if isinstance(x, Tensor) else np.asarray(x)


def _outputs(y: Any) -> list[np.ndarray]:
    """The leaves of an output (an array, or a pytree of them) as arrays."""
    return [_array(o) for o in tree.leaves(y)]


def _like_output(y: Any, leaves: Sequence[Any]) -> Any:
    """``leaves`` in the pytree structure of output ``y`` (a cotangent for it)."""
    return tree.unflatten(tree.flatten(y)[1], list(leaves))


def _inner(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    # Re(sum(a b)), no conjugate: the pairing under which a VJP is the transpose of
    # its JVP for complex values too (autograd's convention, chainrule.ops.complex_parts).
    return float(sum(np.real(np.sum(x * y)) for x, y in zip(a, b)))


def _close(a: float, b: float) -> bool:
    diff = abs(a - b)
    return diff < TOL or diff <= RTOL * abs(a + b)


def _name(f: Callable[..., Any]) -> str:
    return getattr(f, "__name__", type(f).__name__)


class _Checked:
    """``f`` as a function of the leaves of the checked arguments only (the others
    held fixed); ``treedefs`` give each checked argument's pytree structure (None:
    the argument is the leaf itself)."""

    def __init__(
        self,
        f: Callable[..., Any],
        args: tuple,
        argnums: tuple[int, ...],
        kwargs: dict,
        treedefs: Sequence[Any] | None = None,
    ) -> None:
        self.f, self.args, self.argnums, self.kwargs = f, list(args), argnums, kwargs
        self.treedefs = list(treedefs) if treedefs is not None else [None] * len(argnums)
        self.__name__ = _name(f)

    def __call__(self, *xs: Any) -> Any:
        args = list(self.args)
        at = 0
        for i, d in zip(self.argnums, self.treedefs):
            if d is None:
                args[i] = xs[at]
                at += 1
            else:
                args[i] = tree.unflatten(d, list(xs[at : at + d.num_leaves]))
                at += d.num_leaves
        return self.f(*args, **self.kwargs)


def _primal(x: Any, where: str) -> np.ndarray:
    arr = _array(x)
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    if arr.dtype.kind not in "fc":
        raise TypeError(f"{where}: checks floating-point inputs, got dtype {arr.dtype}")
    return arr


def _numeric_jvp(f: _Checked, xs: list[np.ndarray], us: list[np.ndarray]) -> list[np.ndarray]:
    plus = _outputs(f(*[x + u * (EPS / 2) for x, u in zip(xs, us)]))
    minus = _outputs(f(*[x - u * (EPS / 2) for x, u in zip(xs, us)]))
    return [(p - m) / EPS for p, m in zip(plus, minus)]


def _random_like(rng: np.random.Generator, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Random directions; complex ones for complex arrays (real and imaginary parts)."""
    out = []
    for a in arrays:
        if not a.size:
            out.append(a)
            continue
        d = rng.standard_normal(a.shape)
        if a.dtype.kind == "c":
            d = d + 1j * rng.standard_normal(a.shape)
        out.append(d.astype(a.dtype))
    return out


def _check_vjp(f: _Checked, xs: list[np.ndarray], rng: np.random.Generator) -> None:
    y, vjp_fn = vjp(f, *xs)
    ys = _outputs(y)
    us, ws = _random_like(rng, xs), _random_like(rng, ys)
    cotangents = [_array(c) for c in vjp_fn(_like_output(y, ws))]
    exact = _inner(us, cotangents)
    numeric = _inner(ws, _numeric_jvp(f, xs, us))
    if not _close(exact, numeric):
        raise AssertionError(
            f"derivative (VJP) check of {f.__name__} failed at {xs}:\n"
            f"analytic: {exact}\nnumeric:  {numeric}"
        )


def _check_jvp(f: _Checked, xs: list[np.ndarray], rng: np.random.Generator) -> None:
    us = _random_like(rng, xs)
    _, tangent = jvp(f, tuple(xs), tuple(us))
    exact = _outputs(tangent)
    numeric = _numeric_jvp(f, xs, us)
    ws = _random_like(rng, numeric)
    a, b = _inner(ws, exact), _inner(ws, numeric)
    if not _close(a, b):
        raise AssertionError(
            f"derivative (JVP) check of {f.__name__} failed at {xs}:\nanalytic: {a}\nnumeric:  {b}"
        )


def _flat(parts: Any) -> Any:
    """Several outputs as one vector (a derivative function's outputs, checked again)."""
    import chainrule.numpy as cnp

    return cnp.concatenate([cnp.ravel(p) for p in tree.leaves(parts)])


def _check(f: _Checked, xs: list[np.ndarray], modes: Sequence[str], order: int, rng) -> None:
    n = len(xs)
    if "fwd" in modes:
        _check_jvp(f, xs, rng)
        if order > 1:

            def jvp_f(*a: Any) -> Any:
                return _flat(jvp(f, a[:n], a[n:])[1])

            jvp_f.__name__ = f"jvp_{f.__name__}"
            both = _Checked(jvp_f, (None,) * (2 * n), tuple(range(2 * n)), {})
            _check(both, xs + _random_like(rng, xs), modes, order - 1, rng)
    if "rev" in modes:
        _check_vjp(f, xs, rng)
        if order > 1:
            y = f(*xs)
            k = len(_outputs(y))

            def vjp_f(*a: Any) -> Any:
                ct = a[n:]
                return _flat(vjp(f, *a[:n])[1](_like_output(y, ct)))

            vjp_f.__name__ = f"vjp_{f.__name__}"
            both = _Checked(vjp_f, (None,) * (n + k), tuple(range(n + k)), {})
            _check(both, xs + _random_like(rng, _outputs(y)), modes, order - 1, rng)


def check_grads(
    f: Callable[..., Any],
    argnum: int | Sequence[int] | Any = 0,
    modes: Sequence[str] | None = None,
    order: int = 2,
) -> Any:
    """Check ``f``'s derivatives against finite differences (autograd's check).

    ``check_grads(f, modes=["rev"], order=1)(x, y)`` checks ``f`` with respect to
    argument ``argnum`` (default 0; a tuple for several) at ``(x, y)`` and returns
    None, or raises ``AssertionError`` with the analytic and numeric values.
    ``check_grads(f, x)`` (an array or number where ``argnum`` goes) checks at
    ``x`` at once, as older autograd did.
    """
    if modes is None:
        modes = list(_MODES)
    bad = [m for m in modes if m not in _MODES]
    if bad:
        raise ValueError(f"check_grads: modes must be among {list(_MODES)}, got {bad}")
    if order < 1:
        raise ValueError(f"check_grads: order must be at least 1, got {order}")
    if not isinstance(argnum, int | np.integer | tuple | list):
        # check_grads(f, x): the argument itself, checked now.
        return check_grads(f, 0, modes, order)(argnum)
    nums = (int(argnum),) if isinstance(argnum, int | np.integer) else tuple(argnum)

    def checker(*args: Any, **kwargs: Any) -> None:
        for i in nums:
            if not -len(args) <= i < len(args):
                raise ValueError(f"check_grads: argnum {i} is out of range for {len(args)} args")
        picked = tuple(i % len(args) for i in nums)
        xs: list[np.ndarray] = []
        treedefs = []
        for i in picked:
            leaves, treedef = tree.flatten(args[i])
            if not leaves:
                raise ValueError(f"check_grads: argument {i} has no leaves (arrays) to check")
            xs.extend(_primal(leaf, "check_grads") for leaf in leaves)
            treedefs.append(None if treedef.kind == "leaf" else treedef)
        rng = np.random.default_rng(0)
        _check(_Checked(f, args, picked, kwargs, treedefs), xs, modes, order, rng)

    checker.__name__ = f"check_grads({_name(f)})"
    return checker


def combo_check(f: Callable[..., Any], *check_args: Any, **check_kwargs: Any) -> Any:
    """``combo_check(f, argnum, modes=..., order=...)(args_lists, **kwarg_lists)``:
    :func:`check_grads` at every combination of the listed argument values."""

    def run(*arg_options: Sequence[Any], **kwarg_options: Sequence[Any]) -> None:
        names = list(kwarg_options)
        for args in itertools.product(*arg_options):
            for values in itertools.product(*(kwarg_options[k] for k in names)):
                check_grads(f, *check_args, **check_kwargs)(*args, **dict(zip(names, values)))

    return run
