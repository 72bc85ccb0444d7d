"""Batching as a transform: ``cr.vmap`` (see :mod:`chainrule.batching.api`).

- :mod:`~chainrule.batching.batched`: the batched tensor a vmapped function sees,
  and the dispatch of a primitive to its batching rule;
- :mod:`~chainrule.batching.api`: ``vmap`` itself (in_axes, out_axes, errors);
- the rules are a column of the primitive table: :mod:`chainrule.ops.batch_rules`.
"""

from chainrule.batching import batched as _batched  # noqa: F401
from chainrule.batching.api import vmap
from chainrule.batching.batched import BatchedTensor, VmapError
from chainrule.ops import batch_rules as _rules  # noqa: F401

__all__ = ["BatchedTensor", "VmapError", "vmap"]
