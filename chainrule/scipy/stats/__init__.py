"""``chainrule.scipy.stats``: densities and distribution functions, differentiable.

The distributions and functions of HIPS autograd's ``autograd.scipy.stats``:

- ``norm``: logpdf, pdf, cdf, logcdf, sf, logsf (in x, loc, scale)
- ``t``: logpdf, pdf (in x, df, loc, scale); cdf, logcdf (in x, loc, scale)
- ``multivariate_normal``: logpdf, pdf (in x, mean, cov); entropy (in cov)
- ``dirichlet``: logpdf, pdf (in x, alpha)
- ``gamma``: logpdf, pdf (in x, a, loc, scale); cdf (in x, loc, scale)
- ``beta``: logpdf, pdf (in x, a, b, loc, scale); cdf (in x, loc, scale)
- ``chi2``: logpdf, pdf (in x, df, loc, scale); cdf (in x, loc, scale)
- ``poisson``: logpmf, pmf, cdf (in mu; the count k is an integer)

Each is a composition of ``chainrule.numpy`` and ``chainrule.scipy.special``, so
higher orders and forward mode work. Their other methods (``rvs``, ``ppf``, ...)
are SciPy's, without derivatives.
"""

from chainrule.scipy.stats import (
    beta,
    chi2,
    dirichlet,
    gamma,
    multivariate_normal,
    norm,
    poisson,
    t,
)

__all__ = ["beta", "chi2", "dirichlet", "gamma", "multivariate_normal", "norm", "poisson", "t"]
