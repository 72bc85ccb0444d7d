"""Primitives behind ``chainrule.scipy.linalg``: solve_sylvester, sqrtm, solve_triangular.

The rules are the standard matrix-calculus results (Giles 2008), written with
these primitives, so each is differentiable again:

- X = solve_sylvester(A, B, Q) solves A X + X B = Q. Differentiating,
  A dX + dX B = dQ - dA X - X dB, so the tangent is a Sylvester solve with the same
  A, B; the adjoint of that map is the solve with A^T, B^T: Qbar = sylv(A^T, B^T, G),
  Abar = -Qbar X^T, Bbar = -X^T Qbar.
- S = sqrtm(A) satisfies S S = A, so S dS + dS S = dA: dS = sylv(S, S, dA), and the
  gradient is sylv(S^T, S^T, G).
- x = solve_triangular(A, b) solves op(A) x = b reading one triangle of A (and not
  its diagonal when ``unit_diagonal``); the gradient of A lives on what was read.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl

from chainrule.ops.primitive import Primitive, call


def _mT(x):
    return np.swapaxes(x, -1, -2)


def _real(x, what):
    if np.iscomplexobj(x):
        raise ValueError(
            f"{what}: the result is complex (the matrix has negative or complex eigenvalues); "
            "chainrule.scipy differentiates real results only"
        )
    return x


# ------------------------------------------------------------------- stacks
#: Sylvester equations with at most this many unknowns (m * n) are solved for a whole
#: stack at once, as one linear system each (below); larger ones one by one.
KRON_MAX_UNKNOWNS = 64


def _each(fn, *mats):
    """``fn`` on each matrix of stacks of matrices (leading axes broadcast), stacked:
    SciPy's routines (before 1.15) take one problem; this loop is what cr.vmap runs
    for the sizes that have no batched method here."""
    lead = np.broadcast_shapes(*(m.shape[:-2] for m in mats))
    if not lead:
        return fn(*mats)
    mats = [np.broadcast_to(m, lead + m.shape[-2:]) for m in mats]
    out = [fn(*(m[i] for m in mats)) for i in np.ndindex(*lead)]
    return np.stack(out).reshape(lead + out[0].shape)


def _kron_sylvester(a, b, q):
    """A X + X B = Q for stacks, as (A (x) I + I (x) B^T) vec(X) = vec(Q) with row-major
    vec: one batched LU solve of an (mn x mn) system per problem (exact algebra; the
    cost grows as (mn)^3, so only for small problems)."""
    m, n = q.shape[-2], q.shape[-1]
    eye_m, eye_n = np.eye(m, dtype=a.dtype), np.eye(n, dtype=b.dtype)
    k = np.einsum("...ij,kl->...ikjl", a, eye_n) + np.einsum("ij,...lk->...ikjl", eye_m, b)
    k = k.reshape(k.shape[:-4] + (m * n, m * n))
    lead = np.broadcast_shapes(k.shape[:-2], q.shape[:-2])
    k = np.broadcast_to(k, lead + k.shape[-2:])
    rhs = np.broadcast_to(q, lead + q.shape[-2:]).reshape(lead + (m * n, 1))
    return np.linalg.solve(k, rhs).reshape(lead + (m, n))


# ------------------------------------------------------------- solve_sylvester
def _sylvester_forward(a, b, q):
    if max(a.ndim, b.ndim, q.ndim) == 2:
        return _real(sl.solve_sylvester(a, b, q), "solve_sylvester")
    if q.shape[-2] * q.shape[-1] <= KRON_MAX_UNKNOWNS and not np.iscomplexobj(q):
        dtype = np.result_type(a, b, q)
        if dtype.kind == "f":
            return _kron_sylvester(a.astype(dtype), b.astype(dtype), q.astype(dtype))
    return _each(_sylvester_forward, a, b, q)


def _sylvester_adjoint(a, b, g):
    return call(solve_sylvester, _mT(a), _mT(b), g)


solve_sylvester = Primitive(
    "solve_sylvester",
    _sylvester_forward,
    vjp=(
        lambda g, ans, a, b, q: -(_sylvester_adjoint(a, b, g) @ _mT(ans)),
        lambda g, ans, a, b, q: -(_mT(ans) @ _sylvester_adjoint(a, b, g)),
        lambda g, ans, a, b, q: _sylvester_adjoint(a, b, g),
    ),
    jvp=(
        lambda t, ans, a, b, q: call(solve_sylvester, a, b, -(t @ ans)),
        lambda t, ans, a, b, q: call(solve_sylvester, a, b, -(ans @ t)),
        lambda t, ans, a, b, q: call(solve_sylvester, a, b, t),
    ),
    formula=("-sylv(A^T,B^T,G) X^T", "-X^T sylv(A^T,B^T,G)", "sylv(A^T,B^T,G)"),
    saves_ans=True,
    doc="X with A X + X B = Q.",
)


# ----------------------------------------------------------------------- sqrtm
def _sqrtm_forward(a):
    if a.ndim == 2:
        return _real(sl.sqrtm(a), "sqrtm")
    if a.dtype.kind == "f" and np.array_equal(a, _mT(a)):
        # Symmetric matrices: their Schur form is diagonal, so the principal root is
        # V sqrt(w) V^T from one batched eigh, exactly what sqrtm computes, as long as
        # no eigenvalue is negative (then the root is complex: SciPy's error, below).
        w, v = np.linalg.eigh(a)
        if (w >= 0).all():
            return (v * np.sqrt(w)[..., None, :]) @ _mT(v)
    return _each(_sqrtm_forward, a)


sqrtm = Primitive(
    "sqrtm",
    _sqrtm_forward,
    vjp=lambda g, ans, a: call(solve_sylvester, _mT(ans), _mT(ans), g),
    jvp=lambda t, ans, a: call(solve_sylvester, ans, ans, t),
    formula="sylv(S^T, S^T, G)",
    saves_ans=True,
    doc="The principal square root S of a matrix (S S = A), real results only.",
)


# ------------------------------------------------------------ solve_triangular
def _transposed(trans):
    return trans in (1, 2, "T", "C")


def _read(m, lower, unit_diagonal):
    """The part of a matrix that solve_triangular reads (the rest has no effect)."""
    part = np.tril(m) if lower else np.triu(m)
    if unit_diagonal:
        part = part - m * np.eye(m.shape[-1], dtype=m.dtype)
    return part


def _triangular_forward(a, b, trans=0, lower=False, unit_diagonal=False):
    return sl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal)


def _other(trans):
    return 0 if _transposed(trans) else 1


def _tri_vjp_b(g, ans, a, b, trans=0, lower=False, unit_diagonal=False):
    # x = op(A)^-1 b, so bbar = op(A)^-T g, a solve with the other transposition.
    return call(
        solve_triangular, a, g, trans=_other(trans), lower=lower, unit_diagonal=unit_diagonal
    )


def _outer(u, v):
    if u.ndim == 1:
        return np.expand_dims(u, -1) * np.expand_dims(v, -2)
    return u @ _mT(v)


def _tri_vjp_a(g, ans, a, b, trans=0, lower=False, unit_diagonal=False):
    bbar = _tri_vjp_b(g, ans, a, b, trans, lower, unit_diagonal)
    op_bar = -_outer(bbar, ans)  # the gradient of op(A)
    a_bar = _mT(op_bar) if _transposed(trans) else op_bar
    return _read(a_bar, lower, unit_diagonal)


def _tri_jvp_a(t, ans, a, b, trans=0, lower=False, unit_diagonal=False):
    dt = _read(t, lower, unit_diagonal)
    d_op = _mT(dt) if _transposed(trans) else dt
    rhs = -(d_op @ ans)
    return call(solve_triangular, a, rhs, trans=trans, lower=lower, unit_diagonal=unit_diagonal)


def _tri_jvp_b(t, ans, a, b, trans=0, lower=False, unit_diagonal=False):
    return call(solve_triangular, a, t, trans=trans, lower=lower, unit_diagonal=unit_diagonal)


solve_triangular = Primitive(
    "solve_triangular",
    _triangular_forward,
    vjp=(_tri_vjp_a, _tri_vjp_b),
    jvp=(_tri_jvp_a, _tri_jvp_b),
    formula=("-tri(op(A)^-T G x^T)", "op(A)^-T G"),
    saves_ans=True,
    doc="x with op(A) x = b for a triangular A (op: identity or transpose).",
)
