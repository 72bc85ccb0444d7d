"""The Poisson distribution: differentiable in the rate ``mu``. The count ``k``
(and the shift ``loc``) are integers with no derivative: a Tensor that requires
grad there is refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats as _st

from chainrule.scipy import special as _special
from chainrule.scipy.stats._common import (
    arg,
    binding,
    cnp,
    constant_only,
    data,
    forward_attribute,
)


def _count(function: str, k: Any, loc: Any) -> Any:
    constant_only(function, "k", k, "a count is an integer")
    constant_only(function, "loc", loc, "a shift of a count is an integer")
    return np.asarray(data(k), dtype=float) - np.asarray(data(loc), dtype=float)


@binding(_st.poisson.logpmf)
def logpmf(k: Any, mu: Any, loc: Any = 0) -> Any:
    """k log mu - mu - log k! for integer k >= 0, else -inf."""
    k = _count("poisson.logpmf", k, loc)
    mu = arg(mu)
    valid = (k >= 0) & (k % 1 == 0)
    ks = np.where(valid, k, 0.0)
    # k log mu with 0 log 0 = 0 (the pmf at mu = 0 is 1 for k = 0).
    k_log_mu = cnp.where(ks == 0, 0.0, ks * cnp.log(cnp.where(ks == 0, 1.0, mu)))
    value = k_log_mu - mu - _special.gammaln(ks + 1)
    return cnp.where(valid, value, -np.inf)


@binding(_st.poisson.pmf)
def pmf(k: Any, mu: Any, loc: Any = 0) -> Any:
    """The Poisson probability of ``k``."""
    return cnp.exp(logpmf.impl(k, mu, loc))


@binding(_st.poisson.cdf)
def cdf(k: Any, mu: Any, loc: Any = 0) -> Any:
    """P(K <= k) = Q(floor(k) + 1, mu), the regularized upper incomplete gamma."""
    k = np.floor(_count("poisson.cdf", k, loc))
    value = _special.gammaincc.impl(np.where(k >= 0, k, 0.0) + 1, arg(mu))
    return cnp.where(k >= 0, value, 0.0)


def __getattr__(name: str) -> Any:
    return forward_attribute(_st.poisson, __name__, name)


__all__ = ["cdf", "logpmf", "pmf"]
