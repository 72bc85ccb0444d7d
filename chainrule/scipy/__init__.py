"""``chainrule.scipy``: SciPy's functions, differentiable (HIPS autograd's ``autograd.scipy``).

Change the import and code written for ``autograd.scipy`` differentiates with chainrule::

    import chainrule.numpy as np
    from chainrule import grad
    from chainrule.scipy.special import gammaln
    from chainrule.scipy.stats import norm

    def loglik(mu, x):
        return np.sum(norm.logpdf(x, mu, 2.0)) - gammaln(3.5)

    grad(loglik)(0.3, np.array([0.1, 1.2]))

Submodules: :mod:`~chainrule.scipy.special`, :mod:`~chainrule.scipy.stats`,
:mod:`~chainrule.scipy.signal` (``convolve``), :mod:`~chainrule.scipy.integrate`
(``odeint``), :mod:`~chainrule.scipy.linalg` and :mod:`~chainrule.scipy.misc`
(``logsumexp``). As in ``chainrule.numpy``, a function called without a Tensor is
SciPy's own; with one, it records the graph. Every derivative is a rule of the one
primitive table (``chainrule.ops.scipy_*``). SciPy is the optional extra
``chainrule[scipy]``; ``import chainrule`` never needs it.
"""

try:
    import scipy  # noqa: F401
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        'chainrule.scipy needs SciPy, which is not installed: pip install "chainrule[scipy]"'
    ) from None

import importlib
from typing import Any

__all__ = ["integrate", "linalg", "misc", "signal", "special", "stats"]


def __getattr__(name: str) -> Any:
    """Submodules on first use: ``scipy.stats`` alone takes seconds to import, and
    ``from chainrule.scipy.special import gammaln`` should not wait for it."""
    if name in __all__:
        return importlib.import_module(f"chainrule.scipy.{name}")
    raise AttributeError(f"module 'chainrule.scipy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
