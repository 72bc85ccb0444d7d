"""The multivariate normal distribution: differentiable in ``x``, ``mean`` and ``cov``.

The gradient with respect to ``cov`` is that of the formula for a general square
matrix, 0.5 (S^-1 d d^T S^-1 - S^-1) per point (as HIPS autograd gives it): at a
symmetric ``cov`` it is symmetric, and a perturbation that keeps ``cov`` symmetric
changes the value by the inner product with it. A ``cov`` built from parameters
(``a @ a.T + ...``) gets exact gradients through it. ``allow_singular=True`` is not
differentiable (a singular covariance has no density to differentiate).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats as _st

from chainrule.scipy.stats._common import LOG_2PI, arg, binding, cnp, data, forward_attribute

_DIST = _st.multivariate_normal


def _parts(function: str, mean: Any, cov: Any, allow_singular: bool) -> tuple[Any, Any, int]:
    if allow_singular:
        raise NotImplementedError(
            f"multivariate_normal.{function}: allow_singular=True is not differentiable "
            "(a singular covariance has no density); pass allow_singular=False"
        )
    cov = arg(cov)
    mean = None if mean is None else arg(mean)
    if mean is not None and np.ndim(data(mean)) > 1:
        raise ValueError(
            f"multivariate_normal.{function}: mean must be a vector, got shape "
            f"{np.shape(data(mean))}"
        )
    cov_ndim = np.ndim(data(cov))
    if cov_ndim == 2:
        dim = np.shape(data(cov))[0]
    elif mean is not None and np.ndim(data(mean)) == 1:
        dim = np.shape(data(mean))[0]
    else:
        dim = 1
    if cov_ndim == 0:
        cov = cov * np.eye(dim)
    elif cov_ndim == 1:
        cov = cnp.diag(cov)
    elif cov_ndim > 2 or np.shape(data(cov)) != (dim, dim):
        raise ValueError(
            f"multivariate_normal.{function}: cov must be a square matrix, a "
            f"vector of variances or a number, got shape {np.shape(data(cov))}"
        )
    if mean is None:
        mean = np.zeros(dim)
    elif np.shape(data(mean)) not in ((), (dim,)):
        raise ValueError(
            f"multivariate_normal.{function}: mean has shape "
            f"{np.shape(data(mean))} but cov is {dim} x {dim}"
        )
    return mean, cov, dim


def _squeeze(out: Any) -> Any:
    """Drop length-1 axes, as SciPy does with its results."""
    return cnp.squeeze(out) if 1 in np.shape(data(out)) else out


@binding(_DIST.logpdf)
def logpdf(x: Any, mean: Any = None, cov: Any = 1, allow_singular: bool = False) -> Any:
    """-(D log 2 pi + log det cov + (x - mean)^T cov^-1 (x - mean)) / 2 per point;
    points along the last axis of ``x`` (a number or 1-D ``x`` is one coordinate per
    point when D = 1)."""
    mean, cov, dim = _parts("logpdf", mean, cov, allow_singular)
    x = arg(x)
    shape = np.shape(data(x))
    if dim == 1 and (len(shape) == 0 or shape[-1] != 1):
        x = cnp.expand_dims(x, -1)
        shape = shape + (1,)
    if shape[-1] != dim:
        raise ValueError(
            f"multivariate_normal.logpdf: x has {shape[-1]} coordinates per point "
            f"but cov is {dim} x {dim}"
        )
    points = shape[:-1]
    d = cnp.reshape(x - mean, (-1, dim))
    solved = cnp.linalg.solve(cov, cnp.transpose(d))
    maha = cnp.sum(cnp.transpose(d) * solved, axis=0)
    logdet = cnp.linalg.slogdet(cov)[1]
    out = -0.5 * (maha + logdet + dim * LOG_2PI)
    return _squeeze(cnp.reshape(out, points))


@binding(_DIST.pdf)
def pdf(x: Any, mean: Any = None, cov: Any = 1, allow_singular: bool = False) -> Any:
    """The multivariate normal density."""
    return cnp.exp(logpdf.impl(x, mean, cov, allow_singular))


@binding(_DIST.entropy)
def entropy(mean: Any = None, cov: Any = 1) -> Any:
    """(D (1 + log 2 pi) + log det cov) / 2; depends on ``cov`` only."""
    _, cov, dim = _parts("entropy", mean, cov, False)
    return 0.5 * (cnp.linalg.slogdet(cov)[1] + dim * (1.0 + LOG_2PI))


def __getattr__(name: str) -> Any:
    return forward_attribute(_DIST, __name__, name)


__all__ = ["entropy", "logpdf", "pdf"]
