"""Student's t distribution: ``logpdf``/``pdf`` differentiable in ``x``, ``df``,
``loc`` and ``scale``; ``cdf``/``logcdf`` in ``x``, ``loc`` and ``scale`` (the CDF's
derivative in ``df`` has no closed form: asking for it raises)."""

from __future__ import annotations

import math
from typing import Any

import scipy.stats as _st

from chainrule.scipy import special as _special
from chainrule.scipy.stats._common import arg, binding, cnp, forward_attribute, standardize

LOG_PI = math.log(math.pi)


@binding(_st.t.logpdf)
def logpdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """log Gamma((df+1)/2) - log Gamma(df/2) - log(df pi)/2 - log(scale)
    - (df+1)/2 log(1 + z^2/df), z = (x - loc)/scale."""
    z = standardize(x, loc, scale)
    df = arg(df)
    half = (df + 1) * 0.5
    log_norm = _special.gammaln.impl(half) - _special.gammaln.impl(df * 0.5)
    log_norm = log_norm - 0.5 * (cnp.log(df) + LOG_PI) - cnp.log(arg(scale))
    return log_norm - half * cnp.log1p(z * z / df)


@binding(_st.t.pdf)
def pdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """The t density."""
    return cnp.exp(logpdf.impl(x, df, loc, scale))


@binding(_st.t.cdf)
def cdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """The t CDF at (x - loc)/scale (no derivative in ``df``)."""
    return _special.stdtr.impl(arg(df), standardize(x, loc, scale))


@binding(_st.t.logcdf)
def logcdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """log of the t CDF (no derivative in ``df``)."""
    return cnp.log(cdf.impl(x, df, loc, scale))


def __getattr__(name: str) -> Any:
    return forward_attribute(_st.t, __name__, name)


__all__ = ["cdf", "logcdf", "logpdf", "pdf"]
