"""The Dirichlet distribution: differentiable in ``x`` and ``alpha``.

As SciPy: ``alpha`` has K > 1 entries; ``x`` holds the K components along its
first axis (K or K-1 of them; the last is then 1 minus the others' sum), a second
axis for several points; every point must lie in the simplex.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats as _st

from chainrule.scipy import special as _special
from chainrule.scipy.stats._common import arg, binding, cnp, data, forward_attribute


def _checked(function: str, x: Any, alpha: Any) -> tuple[Any, Any]:
    x, alpha = arg(x), arg(alpha)
    a = np.asarray(data(alpha))
    if a.ndim != 1 or a.shape[0] < 2:
        raise ValueError(
            f"dirichlet.{function}: alpha must be a vector of at least 2 entries, "
            f"got shape {a.shape}"
        )
    if np.any(a <= 0):
        raise ValueError(f"dirichlet.{function}: every entry of alpha must be > 0")
    k = a.shape[0]
    xs = np.asarray(data(x))
    if xs.ndim == 0 or xs.shape[0] not in (k, k - 1):
        raise ValueError(
            f"dirichlet.{function}: x must have {k} or {k - 1} components along "
            f"its first axis (one per entry of alpha), got shape {xs.shape}"
        )
    if xs.shape[0] == k - 1:
        x = cnp.concatenate([x, 1 - cnp.sum(x, axis=0, keepdims=True)], axis=0)
        xs = np.asarray(data(x))
    if np.any(xs < 0) or np.any(xs > 1):
        raise ValueError(f"dirichlet.{function}: every component of x must lie in [0, 1]")
    if np.any(np.abs(xs.sum(axis=0) - 1.0) > 1e-9):
        raise ValueError(f"dirichlet.{function}: the components of x must sum to 1 (the simplex)")
    if xs.ndim == 2:
        alpha = cnp.expand_dims(alpha, -1)
    return x, alpha


@binding(_st.dirichlet.logpdf)
def logpdf(x: Any, alpha: Any) -> Any:
    """log Gamma(sum alpha) - sum log Gamma(alpha_i) + sum (alpha_i - 1) log x_i."""
    x, alpha = _checked("logpdf", x, alpha)
    log_norm = _special.gammaln.impl(cnp.sum(alpha, axis=0)) - cnp.sum(
        _special.gammaln.impl(alpha), axis=0
    )
    return log_norm + cnp.sum((alpha - 1) * cnp.log(x), axis=0)


@binding(_st.dirichlet.pdf)
def pdf(x: Any, alpha: Any) -> Any:
    """The Dirichlet density."""
    return cnp.exp(logpdf.impl(x, alpha))


def __getattr__(name: str) -> Any:
    return forward_attribute(_st.dirichlet, __name__, name)


__all__ = ["logpdf", "pdf"]
