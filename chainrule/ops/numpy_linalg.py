"""Linear-algebra primitives behind ``chainrule.numpy``: tensordot, einsum, np.linalg.

Matrices are the last two axes; leading axes are batch axes, as in NumPy.
``mT(x)`` swaps the last two axes. The rules are the standard matrix-calculus
results (Giles 2008, "An extended collection of matrix derivative results";
Murray 2016 for Cholesky; Townsend 2016 for the SVD), written with operations
that also run on Tensors, so that each is differentiable again.

Conventions that differ from a textbook:

- ``cholesky`` and ``eigh`` read one triangle of their input (the lower one, as
  NumPy's default), so the gradient is that of the function NumPy computes: it
  lives on that triangle, an off-diagonal entry carrying what a symmetric
  perturbation of both mirror entries would. For an input built symmetric
  (``a = b @ b.T``), the chain rule gives the same result as a symmetrised gradient.
- ``eigh`` and ``svd`` are one primitive each whose output packs the eigenvalues
  (singular values) and vectors into one array; the public functions slice it.
  Where two eigenvalues (singular values) coincide, the eigenvectors are not
  unique and have no derivative: the terms 1/(w_j - w_i) coupling them are then
  left out (taken as 0), so gradients stay finite, never NaN or inf. Gradients of
  functions of the eigenvalues (singular values) alone remain exact there; those
  of functions of the eigenvectors are not (even of basis-independent ones such as
  ``v @ diag(f(w)) @ v.T``, whose derivative needs the limit f'(w) that the chain
  through ``eigh`` cannot see). Singular values of 0 likewise drop their 1/s terms.
- ``det`` of a singular matrix has a well-defined gradient, the cofactor matrix,
  computed from minors there; ``inv``, ``solve`` and the gradient of ``slogdet``
  of a singular matrix raise ``numpy.linalg.LinAlgError`` with a clear message.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops.complex_parts import real_input
from chainrule.ops.primitive import Primitive, call
from chainrule.tensor import Tensor

LinAlgError = np.linalg.LinAlgError
#: string.ascii_letters, without importing string (its module costs more than this line)
ASCII_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _mT(x):
    return np.swapaxes(x, -1, -2)


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _eye(n, like):
    return np.eye(n, dtype=like.dtype)


def _matrix_scalar(v):
    """A batch of scalars with two length-1 axes added, to scale a batch of matrices."""
    return np.expand_dims(np.expand_dims(v, -1), -1)


# ----------------------------------------------------------------- tensordot
def _tensordot_forward(a, b, axes):
    return np.tensordot(a, b, axes=axes)


def _free(ndim, contracted):
    return [i for i in range(ndim) if i not in contracted]


def _inverse_perm(src):
    perm = tuple(int(i) for i in np.argsort(src))
    return None if perm == tuple(range(len(perm))) else perm


def _tensordot_vjp_a(g, ans, a, b, axes):
    ca, cb = axes
    fa, fb = _free(a.ndim, ca), _free(b.ndim, cb)
    # g has axes fa + fb; contracting its fb part with b's free axes leaves
    # fa + b's contracted axes (in b's order), which are a's ca in that order.
    r = call(tensordot, g, b, axes=(tuple(range(len(fa), len(fa) + len(fb))), tuple(fb)))
    by_b = sorted(range(len(cb)), key=lambda k: cb[k])
    perm = _inverse_perm(fa + [ca[k] for k in by_b])
    return r if perm is None else r.transpose(perm)


def _tensordot_vjp_b(g, ans, a, b, axes):
    ca, cb = axes
    fa, fb = _free(a.ndim, ca), _free(b.ndim, cb)
    r = call(tensordot, a, g, axes=(tuple(fa), tuple(range(len(fa)))))
    by_a = sorted(range(len(ca)), key=lambda k: ca[k])
    perm = _inverse_perm([cb[k] for k in by_a] + fb)
    return r if perm is None else r.transpose(perm)


tensordot = Primitive(
    "tensordot",
    _tensordot_forward,
    vjp=(_tensordot_vjp_a, _tensordot_vjp_b),
    jvp=(
        lambda t, ans, a, b, axes: call(tensordot, t, b, axes=axes),
        lambda t, ans, a, b, axes: call(tensordot, a, t, axes=axes),
    ),
    formula=("B (contracted)", "A (contracted)"),
    doc="Sum of products over the axis pairs ``axes = (axes_of_a, axes_of_b)``.",
)


# -------------------------------------------------------------------- einsum
def _einsum_forward(*operands, subscripts):
    return np.einsum(subscripts, *operands, optimize=len(operands) > 2)


def _einsum_vjp(i, g, ans, *operands, subscripts):
    # The gradient of operand i is the einsum of the upstream gradient with the
    # other operands, written to operand i's labels. A label only operand i has was
    # summed away: a vector of ones brings its axis back. A label repeated in
    # operand i (a diagonal) gets a fresh label tied to it by an identity matrix.
    inputs, output = subscripts.split("->")
    labels = inputs.split(",")
    terms = [s for j, s in enumerate(labels) if j != i] + [output]
    args = [op for j, op in enumerate(operands) if j != i] + [g]
    present = set("".join(terms))
    fresh = iter(c for c in ASCII_LETTERS if c not in subscripts)
    shape = operands[i].shape
    target = []
    seen = set()
    for pos, c in enumerate(labels[i]):
        if c in seen:
            c2 = next(fresh)
            terms.append(c + c2)
            args.append(_eye(shape[pos], g))
            target.append(c2)
            continue
        seen.add(c)
        if c not in present:
            terms.append(c)
            args.append(np.ones(shape[pos], dtype=g.dtype))
            present.add(c)
        target.append(c)
    return call(einsum, *args, subscripts=",".join(terms) + "->" + "".join(target))


def _einsum_jvp(i, t, ans, *operands, subscripts):
    args = list(operands)
    args[i] = t
    return call(einsum, *args, subscripts=subscripts)


einsum = Primitive(
    "einsum",
    _einsum_forward,
    vjp=_einsum_vjp,
    jvp=_einsum_jvp,
    formula="the other operands, contracted",
    variadic=True,
    doc="Einstein summation over explicit labels, 'ij,jk->ik' (ellipses expanded).",
)


# ------------------------------------------------------------------------ inv
def _inv_forward(a):
    try:
        return np.linalg.inv(a)
    except LinAlgError:
        raise LinAlgError(
            "the matrix is singular, so it has no inverse (numpy.linalg.pinv gives a "
            "pseudo-inverse)"
        ) from None


inv = Primitive(
    "inv",
    _inv_forward,
    vjp=lambda g, ans, a: -(_mT(ans) @ g @ _mT(ans)),
    jvp=lambda t, ans, a: -(ans @ t @ ans),
    formula="-inv(A)^T G inv(A)^T",
    saves_ans=True,
    doc="The inverse of a square matrix.",
)


def _inverse(a, what):
    """inv(a) inside a rule, failing with a message that says whose gradient needed it."""
    try:
        return np.linalg.inv(a)
    except (LinAlgError, ValueError):
        raise LinAlgError(
            f"{what}: the matrix is singular, so this gradient does not exist "
            "(it needs the inverse of the matrix)"
        ) from None


# ------------------------------------------------------------------------ det
def _cofactors(a):
    """The cofactor matrix, from the determinants of the minors: d det(a) / d a, also
    where ``a`` is singular (there det(a) inv(a)^T has no meaning)."""
    n = a.shape[-1]
    if n == 1:
        return np.ones(a.shape, dtype=a.dtype)
    rows = []
    for i in range(n):
        keep_rows = [r for r in range(n) if r != i]
        minors_i = a[..., keep_rows, :]
        row = []
        for j in range(n):
            keep_cols = [c for c in range(n) if c != j]
            minor = minors_i[..., keep_cols]
            row.append(np.linalg.det(minor) * (-1) ** (i + j))
        rows.append(np.stack(row, axis=-1))
    return np.stack(rows, axis=-2)


def _all_nonzero(x):
    """True if no element of x (of any example, inside cr.vmap) is zero."""
    from chainrule.batching.batched import physical_array

    return bool(np.all(physical_array(x) != 0))


def _det_gradient(ans, a):
    if _all_nonzero(ans):
        return _matrix_scalar(ans) * _mT(_inverse(a, "det"))
    return _cofactors(a)


det = Primitive(
    "det",
    np.linalg.det,
    vjp=lambda g, ans, a: _matrix_scalar(g) * _det_gradient(ans, a),
    jvp=lambda t, ans, a: (_det_gradient(ans, a) * t).sum(axis=(-2, -1)),
    formula="det(A) inv(A)^T",
    saves_ans=True,
    doc="The determinant; its gradient is the cofactor matrix (also at singular matrices).",
)


def _logabsdet_forward(a):
    real_input(a, "logabsdet")
    return np.linalg.slogdet(a)[1]


logabsdet = Primitive(
    "logabsdet",
    _logabsdet_forward,
    vjp=lambda g, ans, a: _matrix_scalar(g) * _mT(_inverse(a, "slogdet")),
    jvp=lambda t, ans, a: (_mT(_inverse(a, "slogdet")) * t).sum(axis=(-2, -1)),
    formula="inv(A)^T",
    doc="log |det(A)|, the second output of slogdet.",
)

det_sign = Primitive(
    "det_sign",
    lambda a: np.linalg.slogdet(a)[0],
    differentiable=False,
    doc="The sign of det(A), the first output of slogdet (piecewise constant: no "
    "derivative). A primitive so that cr.jit records it.",
)


# ---------------------------------------------------------------------- solve
def _solve_forward(a, b):
    try:
        return np.linalg.solve(a, b)
    except LinAlgError:
        raise LinAlgError(
            "the matrix a is singular, so a @ x = b has no unique solution "
            "(numpy.linalg.lstsq or pinv give a least-squares one)"
        ) from None


def _solve_vector(a, v):
    """solve(a, v) for a batch of vectors v (NumPy treats only a 1-D b as a vector)."""
    return np.squeeze(call(solve, a, np.expand_dims(v, -1)), -1)


def _solve_vjp_b(g, ans, a, b):
    if b.ndim == 1:
        return _solve_vector(_mT(a), g)
    return call(solve, _mT(a), g)


def _solve_vjp_a(g, ans, a, b):
    gb = _solve_vjp_b(g, ans, a, b)
    if b.ndim == 1:
        return -(np.expand_dims(gb, -1) * np.expand_dims(ans, -2))
    return -(gb @ _mT(ans))


def _solve_jvp_a(t, ans, a, b):
    if b.ndim == 1:
        return _solve_vector(a, -np.squeeze(t @ np.expand_dims(ans, -1), -1))
    return call(solve, a, -(t @ ans))


def _solve_jvp_b(t, ans, a, b):
    if b.ndim == 1:
        return _solve_vector(a, t)
    return call(solve, a, t)


solve = Primitive(
    "solve",
    _solve_forward,
    vjp=(_solve_vjp_a, _solve_vjp_b),
    jvp=(_solve_jvp_a, _solve_jvp_b),
    formula=("-solve(A^T, G) x^T", "solve(A^T, G)"),
    saves_ans=True,
    doc="x with a @ x = b (b a vector when 1-D, else a batch of matrices).",
)


# ---------------------------------------------------------- symmetric inputs
def _from_triangle(t, uplo):
    """The symmetric matrix a function reading one triangle of ``t`` sees."""
    if uplo == "L":
        return np.tril(t) + _mT(np.tril(t, -1))
    return np.triu(t) + _mT(np.triu(t, 1))


def _onto_triangle(m, uplo):
    """The adjoint of :func:`_from_triangle`: a gradient ``m`` for the symmetric
    matrix, moved onto the triangle that was read."""
    if uplo == "L":
        return np.tril(m) + np.tril(_mT(m), -1)
    return np.triu(m) + np.triu(_mT(m), 1)


def _gap_inverse(w):
    """F_ij = 1 / (w_j - w_i), and 0 on the diagonal and where w_i, w_j coincide
    (to a few ulps of the largest |w|): the eigenvector-derivative weights."""
    gap = np.expand_dims(w, -2) - np.expand_dims(w, -1)
    from chainrule.batching.batched import facts, physical_array

    # The scale is the largest |w| (of every example inside cr.vmap: a tolerance).
    scale = max(1.0, float(np.max(np.abs(physical_array(w)), initial=0.0)))
    tol = 8 * np.finfo(w.dtype).eps * scale
    close = facts(gap, lambda d, _: np.abs(d) <= tol)
    return np.where(close, 0, 1 / np.where(close, 1, gap))


# ------------------------------------------------------------------- cholesky
def _cholesky_forward(a):
    try:
        return np.linalg.cholesky(a)
    except LinAlgError:
        raise LinAlgError(
            "the matrix is not positive definite, so it has no Cholesky factor"
        ) from None


def _phi(x):
    """The lower triangle of x with its diagonal halved."""
    return np.tril(x) - (x * _eye(x.shape[-1], x)) * 0.5


def _cholesky_vjp(g, ans, a):
    # dL = L phi(L^-1 dA L^-T) (Murray 2016), so the gradient for the symmetric
    # matrix is L^-T phi(L^T G) L^-1, then moved onto the lower triangle.
    lower = ans
    p = _phi(_mT(lower) @ g)
    y = call(solve, _mT(lower), p)
    x = _mT(call(solve, _mT(lower), _mT(y)))
    return _onto_triangle(x, "L")


def _cholesky_jvp(t, ans, a):
    lower = ans
    z = call(solve, lower, _from_triangle(t, "L"))
    m = _mT(call(solve, lower, _mT(z)))
    return lower @ _phi(m)


cholesky = Primitive(
    "cholesky",
    _cholesky_forward,
    vjp=_cholesky_vjp,
    jvp=_cholesky_jvp,
    formula="L^-T phi(L^T G) L^-1",
    saves_ans=True,
    doc="The lower Cholesky factor L of a = L L^T (reads the lower triangle of a).",
)


# ----------------------------------------------------------------------- eigh
def _eigh_forward(a, UPLO="L"):
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    return np.concatenate([np.expand_dims(w, -1), _mT(v)], axis=-1)


def unpack_eigh(p):
    """(eigenvalues, eigenvectors as columns) from the packed output of ``eigh``."""
    return p[..., 0], _mT(p[..., 1:])


def _eigh_vjp(g, ans, a, UPLO="L"):
    w, v = unpack_eigh(ans)
    gw, gv = unpack_eigh(g)
    eye = _eye(w.shape[-1], w)
    inner = np.expand_dims(gw, -1) * eye + _gap_inverse(w) * (_mT(v) @ gv)
    return _onto_triangle(v @ inner @ _mT(v), UPLO)


def _eigh_jvp(t, ans, a, UPLO="L"):
    w, v = unpack_eigh(ans)
    k = _mT(v) @ _from_triangle(t, UPLO) @ v
    dw = (k * _eye(w.shape[-1], w)).sum(axis=-1)
    dv = v @ (_gap_inverse(w) * k)
    return np.concatenate([np.expand_dims(dw, -1), _mT(dv)], axis=-1)


eigh = Primitive(
    "eigh",
    _eigh_forward,
    vjp=_eigh_vjp,
    jvp=_eigh_jvp,
    formula="V (diag(dw) + F o (V^T dV)) V^T",
    saves_ans=True,
    doc="Eigenvalues and eigenvectors of a symmetric matrix, packed: row i = [w_i, v_i].",
)


# ------------------------------------------------------------------------ svd
def _svd_forward(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.concatenate([_mT(u), np.expand_dims(s, -1), vh], axis=-1)


def unpack_svd(p, m):
    """(U, s, Vh) from the packed output of ``svd`` of an m-row matrix."""
    return _mT(p[..., :m]), p[..., m], p[..., m + 1 :]


def _inverse_values(s):
    return np.where(s == 0, 0, 1 / np.where(s == 0, 1, s))


def _svd_vjp(g, ans, a):
    m, n = a.shape[-2:]
    u, s, vh = unpack_svd(ans, m)
    gu, gs, gvh = unpack_svd(g, m)
    k = s.shape[-1]
    f = _gap_inverse(s * s)
    utgu = _mT(u) @ gu
    vtgv = vh @ _mT(gvh)
    j = f * (utgu - _mT(utgu))
    kk = f * (vtgv - _mT(vtgv))
    inner = (
        j * np.expand_dims(s, -2) + np.expand_dims(gs, -1) * _eye(k, s) + np.expand_dims(s, -1) * kk
    )
    out = u @ inner @ vh
    s_inv = _inverse_values(s)
    if m > k:  # (I - U U^T) gU S^-1 V^T
        out = out + (gu - u @ utgu) @ (np.expand_dims(s_inv, -1) * vh)
    if n > k:  # U S^-1 gV^T (I - V V^T)
        out = out + u @ (np.expand_dims(s_inv, -1) * (gvh - _mT(vtgv) @ vh))
    return out


def _svd_jvp(t, ans, a):
    m, n = a.shape[-2:]
    u, s, vh = unpack_svd(ans, m)
    v = _mT(vh)
    k = s.shape[-1]
    f = _gap_inverse(s * s)
    dp = _mT(u) @ t @ v
    ds = (dp * _eye(k, s)).sum(axis=-1)
    row_s, col_s = np.expand_dims(s, -2), np.expand_dims(s, -1)
    du = u @ (f * (dp * row_s + col_s * _mT(dp)))
    dv = v @ (f * (col_s * dp + _mT(dp) * row_s))
    s_inv = np.expand_dims(_inverse_values(s), -2)
    if m > k:
        du = du + (t @ v - u @ dp) * s_inv
    if n > k:
        dv = dv + (_mT(t) @ u - v @ _mT(dp)) * s_inv
    return np.concatenate([_mT(du), np.expand_dims(ds, -1), _mT(dv)], axis=-1)


svd = Primitive(
    "svd",
    _svd_forward,
    vjp=_svd_vjp,
    jvp=_svd_jvp,
    formula="U (diag(ds) + ...) V^T",
    saves_ans=True,
    doc="The reduced SVD, packed: row i = [u_i, s_i, vh_i] (columns of U, rows of Vh).",
)


# ----------------------------------------------------------------------- pinv
def _pinv_forward(a, **options):
    return np.linalg.pinv(a, **options)


def _pinv_vjp(g, ans, a, **options):
    # dX = -X dA X + X X^T dA^T (I - A X) + (I - X A) dA^T X^T X at constant rank.
    x = ans
    xt = _mT(x)
    w = _mT(g) @ (x @ xt)
    z = (xt @ x) @ _mT(g)
    return -(xt @ g @ xt) + (w - a @ (x @ w)) + (z - (z @ x) @ a)


def _pinv_jvp(t, ans, a, **options):
    x = ans
    xt = _mT(x)
    q = (x @ xt) @ _mT(t)
    r = _mT(t) @ (xt @ x)
    return -(x @ t @ x) + (q - (q @ a) @ x) + (r - x @ (a @ r))


pinv = Primitive(
    "pinv",
    _pinv_forward,
    vjp=_pinv_vjp,
    jvp=_pinv_jvp,
    formula="-X^T G X^T + (I - A X) G^T X X^T + X^T X G^T (I - X A)",
    saves_ans=True,
    doc="The Moore-Penrose pseudo-inverse (derivative valid where the rank is constant).",
)

# Holomorphic in their inputs (no conjugate transposes in the rules): their rules
# hold for complex matrices unchanged. eigh, svd, cholesky, pinv, slogdet and norms
# are not holomorphic, and refuse complex inputs that need a gradient.
for _prim in (tensordot, einsum, inv, det, solve):
    _prim.complex_rules = True
