"""``chainrule.builtins``: HIPS autograd's ``tuple``, ``list``, ``dict`` and ``isinstance``.

autograd needs its own container types so that a tuple of traced arrays can be one
traced value (``odeint(f, y0, t, tuple((params,)))``). In chainrule a container
of Tensors needs nothing special: each Tensor records its own operations, and the
transforms take nested lists, tuples and dicts. So ``tuple``, ``list`` and ``dict``
here are Python's own (programs that import them run unchanged), and
``isinstance`` and ``type`` look at a Tensor's array, as autograd's look through
its boxes: ``isinstance(x, np.ndarray)`` is True for the Tensor a transform passes.

    from chainrule.builtins import isinstance, tuple
    isinstance(cr.tensor([1.0]), np.ndarray)   # True
"""

from __future__ import annotations

import builtins as _py

from chainrule.extend import notrace_primitive

__all__ = ["dict", "isinstance", "list", "tuple", "type"]

tuple = _py.tuple  # noqa: A001 - autograd's names
list = _py.list  # noqa: A001
dict = _py.dict  # noqa: A001
isinstance = notrace_primitive(_py.isinstance)  # noqa: A001
type = notrace_primitive(_py.type)  # noqa: A001
