"""Compilation of chainrule functions to straight-line NumPy code (``cr.jit``).

See :func:`chainrule.jit.api.jit`. The parts: :mod:`~chainrule.jit.tracer` records
the primitive applications of one call, :mod:`~chainrule.jit.codegen` turns that
record into Python source, :mod:`~chainrule.jit.api` caches one compiled function
per input signature and checks that tracing was faithful.
"""

from chainrule.jit.api import Jitted, jit
from chainrule.jit.tracer import JitError

__all__ = ["JitError", "Jitted", "jit"]
