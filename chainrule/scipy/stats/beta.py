"""The beta distribution: ``logpdf``/``pdf`` differentiable in ``x``, ``a``, ``b``,
``loc`` and ``scale``; ``cdf`` in ``x``, ``loc`` and ``scale`` (its derivative in
``a`` and ``b`` has no closed form: asking for it raises)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats as _st

from chainrule.scipy import special as _special
from chainrule.scipy.stats._common import arg, binding, cnp, forward_attribute, standardize


@binding(_st.beta.logpdf)
def logpdf(x: Any, a: Any, b: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """(a-1) log z + (b-1) log(1-z) - log B(a, b) - log(scale) for 0 < z < 1, else -inf."""
    z = standardize(x, loc, scale)
    a, b = arg(a), arg(b)
    inside = (z > 0) & (z < 1)
    zs = cnp.where(inside, z, 0.5)
    value = (a - 1) * cnp.log(zs) + (b - 1) * cnp.log1p(-zs)
    value = value - _special.betaln.impl(a, b) - cnp.log(arg(scale))
    return cnp.where(inside, value, -np.inf)


@binding(_st.beta.pdf)
def pdf(x: Any, a: Any, b: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """The beta density."""
    return cnp.exp(logpdf.impl(x, a, b, loc, scale))


@binding(_st.beta.cdf)
def cdf(x: Any, a: Any, b: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """I_z(a, b), the regularized incomplete beta function (no derivative in a, b)."""
    z = standardize(x, loc, scale)
    return _special.betainc.impl(arg(a), arg(b), cnp.clip(z, 0.0, 1.0))


def __getattr__(name: str) -> Any:
    return forward_attribute(_st.beta, __name__, name)


__all__ = ["cdf", "logpdf", "pdf"]
