"""The multivariate normal distribution: differentiable in ``x``, ``mean`` and ``cov``.

``logpdf`` (and ``pdf``, its exponential) is one primitive, ``mvn_logpdf``
(:mod:`chainrule.ops.scipy_stats`): SciPy's own logpdf forward, as HIPS autograd's
is, so a program written for autograd gets its numbers to the last bit. The density
is that of ``cov``'s symmetric part (SciPy reads one triangle; the same bits for a
symmetric ``cov``), and the gradient with respect to ``cov`` is
0.5 (S^-1 d d^T S^-1 - S^-1) per point, symmetric, as autograd gives it. A ``cov``
built from parameters (``a @ a.T + ...``) gets exact gradients through it.
``allow_singular=True`` is not differentiable (a singular covariance has no
density to differentiate).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats as _st

from chainrule.ops import scipy_stats as _stats
from chainrule.scipy.stats._common import LOG_2PI, arg, binding, cnp, forward_attribute
from chainrule.tensor import apply

_DIST = _st.multivariate_normal


def _parts(function: str, mean: Any, cov: Any, allow_singular: bool) -> tuple[Any, Any, int]:
    if allow_singular:
        raise NotImplementedError(
            f"multivariate_normal.{function}: allow_singular=True is not differentiable "
            "(a singular covariance has no density); pass allow_singular=False"
        )
    cov = arg(cov)
    mean = None if mean is None else arg(mean)
    if mean is not None and cnp.ndim(mean) > 1:
        raise ValueError(
            f"multivariate_normal.{function}: mean must be a vector, got shape {cnp.shape(mean)}"
        )
    cov_ndim = cnp.ndim(cov)
    if cov_ndim == 2:
        dim = cnp.shape(cov)[0]
    elif mean is not None and cnp.ndim(mean) == 1:
        dim = cnp.shape(mean)[0]
    else:
        dim = 1
    if cov_ndim == 0:
        cov = cov * np.eye(dim)
    elif cov_ndim == 1:
        cov = cnp.diag(cov)
    elif cov_ndim > 2 or cnp.shape(cov) != (dim, dim):
        raise ValueError(
            f"multivariate_normal.{function}: cov must be a square matrix, a "
            f"vector of variances or a number, got shape {cnp.shape(cov)}"
        )
    if mean is None:
        mean = np.zeros(dim)
    elif cnp.shape(mean) not in ((), (dim,)):
        raise ValueError(
            f"multivariate_normal.{function}: mean has shape "
            f"{cnp.shape(mean)} but cov is {dim} x {dim}"
        )
    return mean, cov, dim


def _squeeze(out: Any) -> Any:
    """Drop length-1 axes, as SciPy does with its results."""
    return cnp.squeeze(out) if 1 in cnp.shape(out) else out


@binding(_DIST.logpdf)
def logpdf(x: Any, mean: Any = None, cov: Any = 1, allow_singular: bool = False) -> Any:
    """-(D log 2 pi + log det cov + (x - mean)^T cov^-1 (x - mean)) / 2 per point;
    points along the last axis of ``x`` (a number or 1-D ``x`` is one coordinate per
    point when D = 1)."""
    mean, cov, dim = _parts("logpdf", mean, cov, allow_singular)
    x = arg(x)
    shape = cnp.shape(x)
    if dim == 1 and (len(shape) == 0 or shape[-1] != 1):
        x = cnp.expand_dims(x, -1)
        shape = shape + (1,)
    if shape[-1] != dim:
        raise ValueError(
            f"multivariate_normal.logpdf: x has {shape[-1]} coordinates per point "
            f"but cov is {dim} x {dim}"
        )
    if not cnp.shape(mean):
        mean = mean * np.ones(dim)  # a number: the same mean for every coordinate
    # SciPy's own logpdf, as HIPS autograd's forward is (chainrule.ops.scipy_stats).
    return _squeeze(apply(_stats.mvn_logpdf, (x, mean, cov)))


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
