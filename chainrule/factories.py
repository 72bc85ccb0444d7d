"""Tensor factories with PyTorch's signatures: ``zeros``, ``randn``, ``linspace``, ...

Each takes the size as ``cr.zeros(2, 3)`` or ``cr.zeros((2, 3))``, and the keywords
``dtype=``, ``requires_grad=`` and ``device=`` (the CPU only; see
:mod:`chainrule.dtypes`). Floating results have the default dtype (float32 unless
``cr.set_default_dtype`` changed it); integer ones int64, as in PyTorch.

The random ones draw from chainrule's generator (``cr.manual_seed(n)`` seeds it),
a NumPy ``Generator``: seeded alike, chainrule and PyTorch draw different numbers.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.dtypes import as_dtype, check_device, get_default_dtype
from chainrule.nn.rng import as_generator
from chainrule.tensor import Tensor, _wrap

SizeLike = int | Sequence[int]
# The module itself (the package's attribute of that name is the function cr.tensor):
# its _batcher is set while any vmap is open.
_TENSOR_MODULE = sys.modules[Tensor.__module__]


class Size(tuple):
    """PyTorch's ``torch.Size``: a tuple of dimension lengths (``t.shape == cr.Size([2, 3])``)."""

    def numel(self) -> int:
        return builtins.int(np.prod(self, dtype=np.int64))


def _size(args: tuple, what: str) -> tuple[int, ...]:
    """``(2, 3)`` from ``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])`` or ``f(size=...)``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list, np.ndarray)):
        args = tuple(args[0])
    for n in args:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"{what}(): sizes must be ints, got {n!r}")
        if n < 0:
            raise ValueError(f"{what}(): sizes must not be negative, got {tuple(args)}")
    return tuple(builtins.int(n) for n in args)


def _finish(
    data: np.ndarray, dtype: Any, requires_grad: bool, device: Any, what: str, floating: bool
) -> Tensor:
    """Cast to ``dtype`` (or the default floating dtype) and make the leaf tensor."""
    check_device(device)
    if dtype is not None:
        target = as_dtype(dtype)
    elif floating or data.dtype.kind == "f":
        target = get_default_dtype()
    else:
        target = data.dtype
    if data.dtype != target:
        data = data.astype(target)
    t = _wrap(data, None)
    if requires_grad:
        t.requires_grad = True  # refuses integer dtypes with the usual message
    return t


def _sized(fill: Any, what: str) -> Any:
    def factory(
        *size: Any,
        dtype: Any = None,
        requires_grad: bool = False,
        device: Any = None,
        **kw: Any,
    ) -> Tensor:
        _no_out(kw, what)
        if "size" in kw:
            size = (kw.pop("size"),)
        # NumPy's spelling cr.zeros((2, 3), "float32"): a dtype after a shape.
        if len(size) == 2 and not isinstance(size[0], (int, np.integer)) and dtype is None:
            size, dtype = size[:1], size[1]
        shape = _size(size, what)
        return _finish(fill(shape), dtype, requires_grad, device, what, True)

    factory.__name__ = factory.__qualname__ = what
    return factory


def _no_out(kw: dict, what: str) -> None:
    kw.pop("pin_memory", None)
    kw.pop("layout", None)
    kw.pop("memory_format", None)
    if kw.pop("out", None) is not None:
        raise TypeError(f"{what}(): out= is not supported; assign the result instead")
    if kw:
        raise TypeError(f"{what}() got unexpected keyword arguments: {', '.join(kw)}")


zeros = _sized(np.zeros, "zeros")
zeros.__doc__ = "A tensor of zeros: ``cr.zeros(2, 3)`` or ``cr.zeros((2, 3))``."
ones = _sized(np.ones, "ones")
ones.__doc__ = "A tensor of ones: ``cr.ones(2, 3)`` or ``cr.ones((2, 3))``."
# np.empty's leftover memory would make results depend on what ran before.
empty = _sized(np.zeros, "empty")
empty.__doc__ = "A tensor to be overwritten (filled with zeros, so runs are repeatable)."


def full(
    size: SizeLike,
    fill_value: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    **kw: Any,
) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (an int fill gives int64)."""
    _no_out(kw, "full")
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    data = np.full(_size((size,), "full"), fill_value)
    return _finish(data, dtype, requires_grad, device, "full", False)


def _shape_dtype(x: Any) -> tuple[tuple[int, ...], np.dtype]:
    # Shape and dtype only, never the values: inside cr.vmap x is one example
    # of a batch, whose values are not there to read.
    if isinstance(x, Tensor):
        return tuple(x.shape), x.dtype
    data = np.asarray(x)
    return data.shape, data.dtype


def _like(fill: Any, what: str) -> Any:
    def factory(
        x: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None, **kw: Any
    ) -> Tensor:
        _no_out(kw, what)
        shape, like = _shape_dtype(x)
        return _finish(fill(shape), dtype or like, requires_grad, device, what, False)

    factory.__name__ = factory.__qualname__ = what
    factory.__doc__ = f"``{what}(x)``: the shape (and dtype, unless given) of ``x``."
    return factory


zeros_like = _like(np.zeros, "zeros_like")
ones_like = _like(np.ones, "ones_like")
empty_like = _like(np.zeros, "empty_like")


def full_like(
    x: Any,
    fill_value: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    **kw: Any,
) -> Tensor:
    """``fill_value`` in the shape (and dtype, unless given) of ``x``."""
    _no_out(kw, "full_like")
    shape, like = _shape_dtype(x)
    out = np.full(shape, fill_value)
    return _finish(out, dtype or like, requires_grad, device, "full_like", False)


def eye(
    n: int,
    m: int | None = None,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    **kw: Any,
) -> Tensor:
    """The ``n`` by ``m`` (default ``n``) identity matrix."""
    _no_out(kw, "eye")
    return _finish(np.eye(n, m), dtype, requires_grad, device, "eye", True)


def arange(
    *args: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    **kw: Any,
) -> Tensor:
    """``arange(end)``, ``arange(start, end, step=1)``: int64 for int arguments, else
    the default floating dtype (as PyTorch)."""
    _no_out(kw, "arange")
    args = tuple(a.item() if isinstance(a, Tensor) else a for a in args)
    if "end" in kw or "start" in kw or "step" in kw:
        raise TypeError("arange(): give start, end and step by position")
    data = np.arange(*args)
    return _finish(data, dtype, requires_grad, device, "arange", False)


def linspace(
    start: float,
    end: float,
    steps: int,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    **kw: Any,
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included."""
    _no_out(kw, "linspace")
    return _finish(
        np.linspace(_number(start), _number(end), _steps(steps, "linspace")),
        dtype,
        requires_grad,
        device,
        "linspace",
        True,
    )


def logspace(
    start: float,
    end: float,
    steps: int,
    base: float = 10.0,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    **kw: Any,
) -> Tensor:
    """``base ** linspace(start, end, steps)``."""
    _no_out(kw, "logspace")
    data = np.logspace(_number(start), _number(end), _steps(steps, "logspace"), base=base)
    return _finish(data, dtype, requires_grad, device, "logspace", True)


def _number(x: Any) -> Any:
    return x.item() if isinstance(x, Tensor) else x


def _steps(steps: Any, what: str) -> int:
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise TypeError(f"{what}(): steps must be a non-negative int, got {steps!r}")
    return builtins.int(steps)


# ------------------------------------------------------------------- random
def _per_example(draw: Any, finish: Any) -> Tensor:
    """``finish(draw(()))``, or inside ``cr.vmap`` one draw per example (as a loop
    over the examples would make) returned batched: ``draw`` takes the leading
    shape of the open vmap levels."""
    if _TENSOR_MODULE._batcher is None:  # no vmap open in any thread: the common case
        return finish(draw(()))
    from chainrule.batching.batched import batch_sizes, batched_draw

    sizes = batch_sizes()
    if not sizes:
        return finish(draw(()))
    return batched_draw(finish(draw(sizes)))


def _random(draw: Any, what: str, doc: str) -> Any:
    def factory(
        *size: Any,
        generator: Any = None,
        dtype: Any = None,
        requires_grad: bool = False,
        device: Any = None,
        **kw: Any,
    ) -> Tensor:
        _no_out(kw, what)
        if "size" in kw:
            size = (kw.pop("size"),)
        shape = _size(size, what)
        return _per_example(
            lambda lead: draw(as_generator(generator), lead + shape),
            lambda data: _finish(data, dtype, requires_grad, device, what, True),
        )

    factory.__name__ = factory.__qualname__ = what
    factory.__doc__ = doc
    return factory


rand = _random(
    lambda g, shape: g.random(shape),
    "rand",
    "Uniform samples on [0, 1): ``cr.rand(2, 3)``, from chainrule's generator.",
)
randn = _random(
    lambda g, shape: g.standard_normal(shape),
    "randn",
    "Standard normal samples: ``cr.randn(2, 3)``, from chainrule's generator.",
)


def rand_like(x: Any, dtype: Any = None, requires_grad: bool = False, **kw: Any) -> Tensor:
    """Uniform samples on [0, 1) in the shape (and dtype, unless given) of ``x``."""
    shape, like = _shape_dtype(x)
    return rand(shape, dtype=dtype or like, requires_grad=requires_grad, **kw)


def randn_like(x: Any, dtype: Any = None, requires_grad: bool = False, **kw: Any) -> Tensor:
    """Standard normal samples in the shape (and dtype, unless given) of ``x``."""
    shape, like = _shape_dtype(x)
    return randn(shape, dtype=dtype or like, requires_grad=requires_grad, **kw)


def randint(*args: Any, generator: Any = None, dtype: Any = None, **kw: Any) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: ints in [low, high)."""
    if "size" in kw:
        args = (*args, kw.pop("size"))
    if len(args) == 2:
        low, (high, size) = 0, args
    elif len(args) == 3:
        low, high, size = args
    else:
        raise TypeError("randint(): expected randint(high, size) or randint(low, high, size)")
    requires_grad = kw.pop("requires_grad", False)
    device = kw.pop("device", None)
    _no_out(kw, "randint")
    shape = _size((size,), "randint")
    if high <= low:
        raise ValueError(f"randint(): high ({high}) must be greater than low ({low})")
    return _per_example(
        lambda lead: as_generator(generator).integers(low, high, lead + shape, dtype=np.int64),
        lambda data: _finish(data, dtype, requires_grad, device, "randint", False),
    )


def randperm(
    n: int, generator: Any = None, dtype: Any = None, device: Any = None, **kw: Any
) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64)."""
    _no_out(kw, "randperm")
    data = as_generator(generator).permutation(builtins.int(n)).astype(np.int64)
    return _finish(data, dtype, False, device, "randperm", False)


# ------------------------------------------------------------ from NumPy data
def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory (changes to one show in the other).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> a = np.array([1.0, 2.0])
    >>> t = cr.from_numpy(a)  # shares a's memory: no copy
    >>> a[0] = 5.0
    >>> t
    tensor([5., 2.], dtype=float64)
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy(): expected a numpy.ndarray, got {type(array).__name__}")
    return _wrap(array, None)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory when it already is one (or a NumPy array of
    the right dtype); Python data is copied, with floats in the default dtype."""
    check_device(device)
    if isinstance(data, Tensor):
        if dtype is None or data.dtype == as_dtype(dtype):
            return data
        return data.to(as_dtype(dtype))
    if isinstance(data, np.ndarray):
        if dtype is None or data.dtype == as_dtype(dtype):
            return _wrap(data, None)
        return _wrap(data.astype(as_dtype(dtype)), None)
    from chainrule.tensor import tensor

    return tensor(data, dtype=dtype)
