"""The primitive behind ``chainrule.scipy.stats.multivariate_normal.logpdf``.

``mvn_logpdf(x, mean, cov)``: the log density of points ``x`` (..., D) under
N(mean, cov), one value per point (shape ``x.shape[:-1]``). The forward is SciPy's
own ``multivariate_normal.logpdf`` (an eigendecomposition of ``cov``), as HIPS
autograd's is: a composite of ``solve`` and ``slogdet`` rounds differently, and a
program written for autograd (its mixture models, fitted by optimisers that
amplify the last bits) would print other numbers.

A covariance is symmetric; SciPy reads one triangle of what it is given. Here the
density is that of the symmetric part (cov + cov^T) / 2, the same bits for a
symmetric cov, so that the value and the gradient agree for any matrix a
program builds (a perturbation of one off-diagonal element moves both halves).

The rules, with C = (cov + cov^T) / 2, d = x - mean, S = C^-1 d (per point) and
J = C^-1:

- in x: -g S; in mean: g S, summed over the points;
- in cov: g (S S^T - J) / 2, summed over the points (Giles, "An extended
  collection of matrix derivative results", 2008): symmetric, so it is also the
  gradient through the symmetric part; HIPS autograd gives the same formula.

They are written with NumPy functions that chainrule's tensors answer, so that a
gradient of the gradient (the Hessian-vector products of Newton-CG) is recorded.
"""

from __future__ import annotations

import numpy as np
import scipy.stats as _st

from chainrule.ops.errors import InputError
from chainrule.ops.primitive import Primitive

_MVN = _st.multivariate_normal


def _symmetric(cov):
    return (cov + np.swapaxes(cov, -1, -2)) * 0.5  # exactly cov when cov is symmetric


class ComplexDensityError(InputError, TypeError):
    """A complex argument: SciPy would drop its imaginary part without a word."""


def _forward(x, mean, cov):
    if any(np.iscomplexobj(a) for a in (x, mean, cov)):
        raise ComplexDensityError(
            "multivariate_normal.logpdf: complex arguments have no normal density here "
            "(SciPy would drop their imaginary parts); pass real x, mean and cov"
        )
    # SciPy squeezes length-1 axes away (the primitive keeps one value per point),
    # and computes in float64 (float32 arguments get a float32 result back).
    out = np.reshape(_MVN.logpdf(x, mean, _symmetric(cov)), np.shape(x)[:-1])
    return out.astype(np.result_type(x, mean, cov, np.float32), copy=False)


def _solved(x, mean, cov):
    """S = cov^-1 (x - mean) for every point, shaped like x."""
    d = x - mean
    rows = np.reshape(d, (-1, np.shape(d)[-1]))
    return np.reshape(np.linalg.solve(_symmetric(cov), rows.T).T, np.shape(d))


def _per_point(g, values, trailing):
    # One g per point, broadcast over each point's trailing axes.
    return np.reshape(g, np.shape(g) + (1,) * trailing) * values


def _over_points(values, trailing):
    """Summed over the point axes, as the shared mean and cov take it."""
    while np.ndim(values) > trailing:
        values = np.sum(values, axis=0)
    return values


def _cov_part(x, mean, cov):
    """(S S^T - J) / 2 for every point: (..., D, D)."""
    j = np.linalg.inv(_symmetric(cov))
    s = np.matmul(j, np.expand_dims(x - mean, -1))
    return 0.5 * (np.matmul(s, np.swapaxes(s, -1, -2)) - j)


def _vjp_x(g, ans, x, mean, cov):
    return -_per_point(g, _solved(x, mean, cov), 1)


def _vjp_mean(g, ans, x, mean, cov):
    return _over_points(_per_point(g, _solved(x, mean, cov), 1), 1)


def _vjp_cov(g, ans, x, mean, cov):
    return _over_points(_per_point(g, _cov_part(x, mean, cov), 2), 2)


def _jvp_x(t, ans, x, mean, cov):
    return -np.sum(_solved(x, mean, cov) * t, axis=-1)


def _jvp_mean(t, ans, x, mean, cov):
    return np.sum(_solved(x, mean, cov) * t, axis=-1)


def _jvp_cov(t, ans, x, mean, cov):
    return np.sum(_cov_part(x, mean, cov) * t, axis=(-2, -1))


mvn_logpdf = Primitive(
    "mvn_logpdf",
    _forward,
    vjp=(_vjp_x, _vjp_mean, _vjp_cov),
    jvp=(_jvp_x, _jvp_mean, _jvp_cov),
    formula=("-cov^-1 (x-mean)", "cov^-1 (x-mean)", "(S S^T - cov^-1)/2"),
    doc="log N(x; mean, cov) per point of x (..., D), by SciPy's logpdf.",
)
