"""The normal distribution: differentiable in ``x``, ``loc`` and ``scale``."""

from __future__ import annotations

from typing import Any

import scipy.stats as _st

from chainrule.scipy import special as _special
from chainrule.scipy.stats._common import LOG_2PI, arg, binding, cnp, forward_attribute, standardize


@binding(_st.norm.logpdf)
def logpdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """log of the normal density: -z^2/2 - log(scale) - log(2 pi)/2, z = (x - loc)/scale."""
    z = standardize(x, loc, scale)
    return -0.5 * (z * z) - cnp.log(arg(scale)) - 0.5 * LOG_2PI


@binding(_st.norm.pdf)
def pdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """The normal density."""
    return cnp.exp(logpdf.impl(x, loc, scale))


@binding(_st.norm.cdf)
def cdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """Phi((x - loc)/scale)."""
    return _special.ndtr.impl(standardize(x, loc, scale))


@binding(_st.norm.logcdf)
def logcdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """log Phi((x - loc)/scale), accurate in the lower tail."""
    return _special.log_ndtr.impl(standardize(x, loc, scale))


@binding(_st.norm.sf)
def sf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """1 - cdf, as Phi(-(x - loc)/scale) (accurate in the upper tail)."""
    return _special.ndtr.impl(-standardize(x, loc, scale))


@binding(_st.norm.logsf)
def logsf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """log(1 - cdf), accurate in the upper tail."""
    return _special.log_ndtr.impl(-standardize(x, loc, scale))


def __getattr__(name: str) -> Any:
    return forward_attribute(_st.norm, __name__, name)


__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]
