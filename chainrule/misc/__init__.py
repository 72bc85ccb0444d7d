"""HIPS autograd's ``autograd.misc``: ``flatten``, ``optimizers`` and ``fixed_points``.

Thin helpers over chainrule's transforms and :mod:`chainrule.tree`; no derivative
of their own except ``fixed_point``'s, which is the implicit-function VJP built
from ``cr.vjp`` of the user's step.
"""

from chainrule.misc import fixed_points, optimizers
from chainrule.misc.flatten import flatten, flatten_func

__all__ = ["fixed_points", "flatten", "flatten_func", "optimizers"]
