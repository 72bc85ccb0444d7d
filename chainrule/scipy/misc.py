"""``chainrule.scipy.misc``: ``logsumexp``, where old SciPy (and code written for it,
``from autograd.scipy.misc import logsumexp``) had it; the same function as
:func:`chainrule.scipy.special.logsumexp`."""

from chainrule.scipy.special import logsumexp

__all__ = ["logsumexp"]
