"""Whether ``t -= x`` on a recorded tensor rebinds the name (HIPS autograd's meaning)
or changes the tensor in place (PyTorch's).

In HIPS autograd a traced value is a box without in-place operators, so Python
runs ``t -= x`` as ``t = t - x``: a new value, bound to ``t`` only; the array ``t``
was computed from, and any other name for it, keep their values. Its users write
NumPy code with that meaning (HIPS's fluid simulation subtracts in place from a
reshaped array). PyTorch's ``t -= x`` changes the tensor itself, which chainrule
refuses where the gradient could not follow (a view, a leaf).

The function transforms (``cr.grad`` and the rest) called with NumPy arrays and
numbers, as HIPS autograd is called, set this flag while they run the function
(and transforms nested in them keep it), so an augmented assignment that is
recorded follows autograd; called with Tensors, PyTorch's rules stay. Outside a
recorded operation (``no_grad``, values that require no grad) both mean the same
write into the array, which NumPy does too.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

_REBINDS: ContextVar[bool] = ContextVar("chainrule_inplace_rebinds", default=False)

#: ``rebinds()``: True while a transform called with NumPy inputs runs its function.
rebinds: Callable[[], bool] = _REBINDS.get

#: Set and reset by the function transforms (``token = set_rebinds(True)``).
set_rebinds = _REBINDS.set
reset_rebinds = _REBINDS.reset
