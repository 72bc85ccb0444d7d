"""Custom ``cr.autograd.Function``s inside ``cr.vmap``, with torch.func's rules.

A Function's ``forward`` may be code vmap cannot see into (NumPy on ``.numpy()``
values), so, as in ``torch.func``, it runs inside vmap only when the class says how:

- ``generate_vmap_rule = True``: its ``forward``, ``backward`` (and ``jvp``) use only
  chainrule operations, so they run on the batched tensors as they are, and are
  batched operation by operation;
- ``@staticmethod vmap(info, in_dims, *args)``: given the whole batch (``in_dims``:
  per argument, 0 where it is batched along axis 0, None where it is shared;
  ``info.batch_size``), it returns ``(output, out_dims)``, the batch of outputs and
  where each one's batch axis is (None: the same for every example). The class then
  needs the ``setup_context`` form (``forward`` without ctx), so that ctx can be
  filled without running ``forward`` per example.

Both at once, or neither, is an error naming the class. Gradients inside vmap
(``vmap(grad(f))``) run the class's ``backward`` on batched gradients, so a
``vmap`` staticmethod's class meets itself again there through ``Fn.apply``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from chainrule.batching.batched import BatchedTensor, _levels, batched


def innermost_level(args: tuple) -> int:
    """The innermost vmap level among ``args`` (-1: none is batched)."""
    return max((a.level for a in args if type(a) is BatchedTensor), default=-1)


def check_vmap_support(cls: type, has_vmap: bool, has_setup_context: bool) -> None:
    name = cls.__name__
    generate = bool(getattr(cls, "generate_vmap_rule", False))
    if generate and has_vmap:
        raise RuntimeError(
            f"{name}: generate_vmap_rule=True and a vmap staticmethod are both set; "
            "use one of them (as torch.autograd.Function)"
        )
    if not generate and not has_vmap:
        raise RuntimeError(
            f"{name}: to use this Function inside cr.vmap, set generate_vmap_rule = True "
            "on the class (its forward and backward use only chainrule operations) or "
            "define @staticmethod vmap(info, in_dims, *args) returning (output, out_dims)"
        )
    if has_vmap and not has_setup_context:
        raise RuntimeError(
            f"{name}: a vmap staticmethod needs the setup_context form: forward(*args) "
            "without ctx and @staticmethod setup_context(ctx, inputs, output)"
        )


def run_vmap_staticmethod(cls: type, level: int, args: tuple, kwargs: dict) -> Any:
    """``cls.vmap`` on the batch of ``level``; its outputs batched at that level."""
    from chainrule.ops.batch_rules import moveaxis_to_front

    phys = []
    in_dims = []
    for a in args:
        if type(a) is BatchedTensor and a.level == level:
            phys.append(a.value)
            in_dims.append(0)
        else:
            phys.append(a)
            in_dims.append(None)
    info = SimpleNamespace(batch_size=_levels.sizes[level], randomness="different")
    result = cls.vmap(info, tuple(in_dims), *phys, **kwargs)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise RuntimeError(
            f"{cls.__name__}.vmap must return a pair (output, out_dims), got "
            f"{type(result).__name__}"
        )
    output, out_dims = result
    many = isinstance(output, tuple)
    outs = output if many else (output,)
    dims = out_dims if isinstance(out_dims, tuple) else (out_dims,) * len(outs)
    if len(dims) != len(outs):
        raise RuntimeError(
            f"{cls.__name__}.vmap returned {len(outs)} outputs but {len(dims)} out_dims"
        )
    wrapped = []
    for o, d in zip(outs, dims):
        if d is None:
            wrapped.append(o)
        else:
            wrapped.append(batched(moveaxis_to_front(o, int(d) % o.ndim), level))
    return tuple(wrapped) if many else wrapped[0]
