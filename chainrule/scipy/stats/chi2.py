"""The chi-squared distribution: ``logpdf``/``pdf`` differentiable in ``x``, ``df``,
``loc`` and ``scale``; ``cdf`` in ``x``, ``loc`` and ``scale`` (no closed form in ``df``).

chi2(df) is gamma(df/2) with scale 2, and is computed so."""

from __future__ import annotations

from typing import Any

import scipy.stats as _st

from chainrule.scipy import special as _special
from chainrule.scipy.stats._common import arg, binding, cnp, forward_attribute, standardize
from chainrule.scipy.stats.gamma import log_density


@binding(_st.chi2.logpdf)
def logpdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """(df/2 - 1) log u - u - log Gamma(df/2) - log(2 scale), u = (x - loc)/(2 scale)."""
    scale2 = arg(scale) * 2.0
    return log_density(standardize(x, loc, scale2), arg(df) * 0.5, scale2)


@binding(_st.chi2.pdf)
def pdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """The chi-squared density."""
    return cnp.exp(logpdf.impl(x, df, loc, scale))


@binding(_st.chi2.cdf)
def cdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """P(df/2, z/2) (no derivative in ``df``)."""
    z = standardize(x, loc, scale)
    return _special.gammainc.impl(arg(df) * 0.5, cnp.where(z > 0, z, 0.0) * 0.5)


def __getattr__(name: str) -> Any:
    return forward_attribute(_st.chi2, __name__, name)


__all__ = ["cdf", "logpdf", "pdf"]
