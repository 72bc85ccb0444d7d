"""``numpy.linalg.eig``, real or complex: one primitive.

With A = U diag(w) U^-1 and each eigenvector (column of U) of unit length, as NumPy
returns them, a change dA gives, with P = U^-1 dA U and F_ij = 1 / (w_j - w_i)
off the diagonal (0 on it, and where eigenvalues coincide, as for ``eigh``):

    dw = diag(P)
    dU = U (F o P) - U diag(Re(diag(U^H U (F o P))))    (the second term keeps |u_i| = 1)

and the reverse rule is its transpose under HIPS autograd's pairing Re(sum(g t))
(see :mod:`chainrule.ops.complex_parts`), with G_w, G_U the gradients of w and U:

    G_A = U^-T (diag(G_w) + F o (U^T G_U) - F o (U^T conj(U) diag(Re(diag(U^T G_U))))) U^T,

autograd's formula. For real U the conjugates and real parts drop out. A complex
eigenvector is unique only up to a phase (NumPy fixes it by making its largest
entry real), and these rules do not follow that choice: functions of the
eigenvectors that do not depend on their phases (|u_ij|, u u^H, ...) get exact
derivatives, as in autograd; functions of the eigenvalues always do. A real matrix
with complex eigenvalues gives complex results and a real gradient.

The output packs the eigenvalues and eigenvectors as ``eigh``'s does: row i is
[w_i, u_i].
"""

from __future__ import annotations

import numpy as np

from chainrule.ops.complex_parts import conj, real
from chainrule.ops.numpy_linalg import _eye, _gap_inverse, _mT, solve
from chainrule.ops.primitive import Primitive, call


def _eig_forward(a):
    w, v = np.linalg.eig(a)
    return np.concatenate([np.expand_dims(w, -1), _mT(v)], axis=-1)


def unpack_eig(p):
    """(eigenvalues, eigenvectors as columns) from the packed output of ``eig``."""
    return p[..., 0], _mT(p[..., 1:])


def _diagonal_of(x):
    return (x * _eye(x.shape[-1], x)).sum(axis=-1)


def _conj(x):
    return call(conj, x) if x.dtype.kind == "c" else x


def _real(x):
    return call(real, x) if x.dtype.kind == "c" else x


def _eig_vjp(g, ans, a):
    w, u = unpack_eig(ans)
    gw, gu = unpack_eig(g)
    eye = _eye(w.shape[-1], w)
    f = _gap_inverse(w)
    ut = _mT(u)
    utgu = ut @ gu
    norm_term = (ut @ _conj(u)) @ (_real(utgu * eye) * eye)
    inner = np.expand_dims(gw, -1) * eye + f * utgu - f * norm_term
    return call(solve, ut, inner @ ut)


def _eig_jvp(t, ans, a):
    w, u = unpack_eig(ans)
    p = call(solve, u, t @ u)
    um = u @ (_gap_inverse(w) * p)
    du = um - u * np.expand_dims(_real(_diagonal_of(_mT(_conj(u)) @ um)), -2)
    return np.concatenate([np.expand_dims(_diagonal_of(p), -1), _mT(du)], axis=-1)


eig = Primitive(
    "eig",
    _eig_forward,
    vjp=_eig_vjp,
    jvp=_eig_jvp,
    formula="U^-T (diag(Gw) + F o (U^T GU) - F o (U^T U diag(U^T GU))) U^T",
    saves_ans=True,
    complex_rules=True,
    doc="Eigenvalues and unit eigenvectors of a square matrix, packed: row i = [w_i, u_i].",
)
