"""The gamma distribution (shape ``a``): ``logpdf``/``pdf`` differentiable in ``x``,
``a``, ``loc`` and ``scale``; ``cdf`` in ``x``, ``loc`` and ``scale`` (its derivative
in ``a`` has no closed form: asking for it raises)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats as _st

from chainrule.scipy import special as _special
from chainrule.scipy.stats._common import arg, binding, cnp, forward_attribute, standardize


def log_density(z: Any, a: Any, scale: Any) -> Any:
    """log of the gamma(a) density at the standard variable z, divided by ``scale``.

    -inf below 0; at z = 0 the density's limit (inf for a < 1, 1/scale for a = 1,
    0 for a > 1), as SciPy gives it."""
    inside = z > 0
    zs = cnp.where(inside, z, 1.0)
    log_scale = cnp.log(arg(scale))
    value = (a - 1) * cnp.log(zs) - zs - _special.gammaln.impl(a) - log_scale
    at_zero = cnp.where(a < 1, np.inf, cnp.where(a == 1, -log_scale, -np.inf))
    return cnp.where(inside, value, cnp.where(z == 0, at_zero, -np.inf))


@binding(_st.gamma.logpdf)
def logpdf(x: Any, a: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """(a-1) log z - z - log Gamma(a) - log(scale), z = (x - loc)/scale > 0."""
    return log_density(standardize(x, loc, scale), arg(a), scale)


@binding(_st.gamma.pdf)
def pdf(x: Any, a: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """The gamma density."""
    return cnp.exp(logpdf.impl(x, a, loc, scale))


@binding(_st.gamma.cdf)
def cdf(x: Any, a: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """P(a, z), the regularized lower incomplete gamma function (no derivative in ``a``)."""
    z = standardize(x, loc, scale)
    return _special.gammainc.impl(arg(a), cnp.where(z > 0, z, 0.0))


def __getattr__(name: str) -> Any:
    return forward_attribute(_st.gamma, __name__, name)


__all__ = ["cdf", "logpdf", "pdf"]
