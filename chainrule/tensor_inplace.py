"""In-place operations on tensors: ``+=``, ``-=``, ``*=``, ``/=``, ``**=``, ``t[i] = v``
and PyTorch's ``add_``, ``sub_``, ``mul_``, ``div_``, ``pow_``, ``neg_``, ``zero_``,
``fill_``, ``copy_``, ``clamp_``, ``clamp_min_``, ``clamp_max_``; and
:func:`change_in_place`, the one door through which a computation (an activation's
``inplace=True``, ``exp_()``) replaces a tensor's values.

PyTorch's rules, which a user of either library expects:

- under ``cr.no_grad()``, or when nothing involved requires grad, the tensor's
  array changes in place (every tensor sharing that array sees the change): one
  NumPy call with ``out=``, as cheap as an optimizer's own update;
- while recording, on a tensor computed by an operation (or on a constant given a
  value that requires grad), the change is recorded: the tensor takes a new node
  whose input is a copy of its old values, so its gradient stays right;
- while recording, on a leaf that requires grad, it is refused: the leaf's
  gradient is defined with respect to the values it had.

Inside a function transform called with NumPy inputs (HIPS autograd's way), a
recorded ``t += x`` (and ``-=``, ``*=``, ``/=``, ``**=``) rebinds instead, as
autograd's does: ``t = t + x``, see :mod:`chainrule.autograd.rebinding`.

Every change bumps the array's version (:mod:`chainrule.autograd.versions`), so a
node that saved the old values raises at backward instead of using the new ones.
Under ``cr.jit`` tracing an in-place change is refused: compiled code would not
repeat it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import buffer_pool
from chainrule import functions as F
from chainrule.autograd.grad_mode import grad_enabled
from chainrule.autograd.rebinding import rebinds
from chainrule.autograd.rebinding import record as record_rebound
from chainrule.autograd.versions import bump, version
from chainrule.ops import elementwise as _el
from chainrule.tensor import Tensor, _wrap, active_tracer, binary_op

ndarray = np.ndarray


def _refuse_under_trace(what: str, hint: str = "write t = t + x instead") -> None:
    tracer = active_tracer()
    if tracer is not None:
        # Compiled code would not repeat the write; an out-of-place spelling traces.
        tracer.refuse(f"changes a tensor in place ({what}; {hint})")


def _buffer(self: Tensor, what: str) -> ndarray:
    """The array to write into: a 0-d value held as a NumPy scalar becomes an array."""
    data = self.data
    if not data.flags.writeable:
        raise ValueError(
            f"{what}: this tensor's array is read-only (a broadcast view or a NumPy array "
            "marked read-only); change a copy instead (t = t.copy())"
        )
    return data


def _records(self: Tensor, other: Any) -> bool:
    return grad_enabled() and (
        self._requires_grad or (isinstance(other, Tensor) and other._requires_grad)
    )


def _leaf_error(what: str, hint: str | None = None) -> RuntimeError:
    return RuntimeError(
        f"{what}: a leaf tensor that requires grad cannot be changed in place while "
        "gradients are recorded (its gradient is with respect to the values it has); "
        + (
            hint
            or "update it under `with cr.no_grad():` (as optimizers do), or compute a new "
            "tensor (t = t - x)"
        )
    )


def _sole_view(data: ndarray) -> bool:
    """True when ``data`` views an array that nothing else holds: an operation's
    temporary reshaped on its way out (``Linear`` on a stack of another dtype than its
    weights'). Then no other tensor can see a change to it. CPython's reference count
    says so: the view's own reference, the local name below and getrefcount's argument."""
    base = data.base
    return type(base) is ndarray and base.base is None and sys.getrefcount(base) <= 3


def _check_recordable(self: Tensor, data: ndarray, what: str, hint: str | None = None) -> None:
    """Refuse a recorded in-place change that would leave some gradient wrong."""
    if self._node is None and self._requires_grad:
        raise _leaf_error(what, hint)
    if data.base is not None and not buffer_pool.owns(data) and not _sole_view(data):
        # The tensor views another's memory (a slice, a reshape, a transpose): the
        # other tensor's values would change while its graph says they did not.
        raise RuntimeError(
            f"{what}: this tensor shares its memory with another (a view from slicing, "
            "reshape or transpose), so changing it in place while gradients are recorded "
            "would leave the other's gradient wrong; "
            + (hint or "compute a new tensor (t = t + x), or change a copy (t = t.copy())")
        )


def _check_fits(data: ndarray, out: Any, what: str) -> None:
    """Refuse a result that cannot replace ``data`` element for element."""
    out = np.asarray(out)
    if out.shape != data.shape:
        raise ValueError(
            f"{what}: the result has shape {out.shape}, which does not fit in place into "
            f"this tensor of shape {data.shape}"
        )
    if not np.can_cast(out.dtype, data.dtype, "same_kind"):
        raise TypeError(
            f"{what}: the result has dtype {out.dtype}, which cannot be stored in place "
            f"in this {data.dtype} tensor"
        )


def _store(self: Tensor, data: ndarray, result: Tensor, what: str) -> None:
    """Write a recorded result into ``self``: its array changes, its node is the result's."""
    out = result.data
    _check_fits(data, out, what)
    bump(data)
    np.copyto(data, out, casting="same_kind")
    self._node = result._node
    self._requires_grad = result._node is not None


def _recorded_self(self: Tensor, data: ndarray) -> Tensor:
    """``self``'s current values as a tensor on its current node, in an array of its own
    (the in-place write that follows must not change what the new node saves)."""
    return _wrap(data.copy(), self._node)


def require_tensor(value: Any, what: str, hint: str | None = None) -> None:
    """Refuse to change anything but a Tensor in place (a NumPy array or a number)."""
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{what}: needs a chainrule Tensor to change in place, got {type(value).__name__}"
            + (f"; {hint}" if hint else "")
        )


def change_in_place(
    self: Any,
    compute: Callable[[Tensor], Tensor],
    what: str,
    *,
    update: Callable[[ndarray], Any] | None = None,
    other: Any = None,
    hint: str | None = None,
) -> Tensor:
    """Replace ``self``'s values by ``compute(self)`` in place and return ``self`` itself,
    with PyTorch's rules (``F.relu(h, inplace=True)``, ``h.exp_()``):

    - while recording (gradients enabled and ``self``, or ``other``, a value written into
      it, requires grad): ``compute`` runs on a copy of the old values that stays on
      ``self``'s node, and ``self`` moves onto the result's node, so the new node never
      saves the array about to change; refused on a leaf that requires grad and on a
      view of another tensor's memory;
    - otherwise: the result (or ``update(array)``, a faster write into the array, where
      given) replaces the values, and every tensor sharing the array sees them;
    - under ``cr.jit`` tracing and inside ``cr.vmap``: refused.

    Every change bumps the array's version. ``what`` names the call in errors; ``hint``
    says what to write instead (default: the advice of ``t += x``).
    """
    require_tensor(self, what, hint)
    if self._batched:
        raise NotImplementedError(
            f"{what}: changing a tensor in place inside cr.vmap is not supported"
            + (f"; {hint}" if hint else "")
        )
    if hint is None:
        _refuse_under_trace(what)
    else:
        _refuse_under_trace(what, hint)
    data = _buffer(self, what)
    if _records(self, other):
        _check_recordable(self, data, what, hint)
        _store(self, data, compute(_recorded_self(self, data)), what)
        return self
    if update is not None:
        bump(data)
        update(data)
        return self
    out = compute(self).data
    _check_fits(data, out, what)
    bump(data)
    np.copyto(data, out, casting="same_kind")
    return self


def _inplace_binary(self: Tensor, other: Any, prim: Any, ufunc: Any, what: str) -> Tensor:
    _refuse_under_trace(what)
    data = _buffer(self, what)
    if _records(self, other):
        _check_recordable(self, data, what)
        old = _recorded_self(self, data)
        # t += t: both operands are the old values (the new node must not save the
        # array that is about to change).
        result = binary_op(prim)(old, old if other is self else other)
        _store(self, data, result, what)
        return self
    raw = other.data if isinstance(other, Tensor) else other
    bump(data)
    try:
        ufunc(data, raw, out=data)
    except (TypeError, ValueError) as exc:
        # NumPy's casting error takes other arguments: the base kind carries the message.
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind(
            f"{what}: {exc} (this tensor: shape {data.shape}, dtype {data.dtype}; the other "
            f"operand: shape {np.shape(raw)}, dtype {getattr(raw, 'dtype', type(raw).__name__)})"
        ) from None
    return self


def _method(prim: Any, ufunc: Any, name: str, alpha: bool = False) -> Any:
    if alpha:

        def method(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
            if alpha != 1:
                other = other * alpha
            return _inplace_binary(self, other, prim, ufunc, f"{name}()")

    else:

        def method(self: Tensor, other: Any) -> Tensor:
            return _inplace_binary(self, other, prim, ufunc, f"{name}()")

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"``t.{name}(other)``: {prim.name} in place; returns ``t`` (see chainrule.tensor_inplace)."
    )
    return method


def _operator(prim: Any, ufunc: Any, symbol: str) -> Any:
    op = binary_op(prim)

    def method(self: Tensor, other: Any) -> Tensor:
        if rebinds() and _records(self, other):
            # Inside a transform called as HIPS autograd is: t = t - x, a new tensor
            # (chainrule.autograd.rebinding); the explicit sub_() stays in place. The
            # old value must not be read again: NumPy would see the change there.
            result = op(self, other)
            record_rebound(self, f"t {symbol} x")
            return result
        return _inplace_binary(self, other, prim, ufunc, f"t {symbol} x")

    method.__name__ = method.__qualname__ = f"__i{prim.name}__"
    return method


_BINARY = (
    ("add", _el.add, np.add, "+="),
    ("sub", _el.sub, np.subtract, "-="),
    ("mul", _el.mul, np.multiply, "*="),
    ("div", _el.div, np.true_divide, "/="),
    ("pow", _el.pow, np.power, "**="),
)
_DUNDER = {"add": "__iadd__", "sub": "__isub__", "mul": "__imul__", "div": "__itruediv__"}
for _name, _prim, _ufunc, _symbol in _BINARY:
    setattr(Tensor, f"{_name}_", _method(_prim, _ufunc, f"{_name}_", _name in ("add", "sub")))
    setattr(Tensor, _DUNDER.get(_name, "__ipow__"), _operator(_prim, _ufunc, _symbol))


def _set_values(self: Tensor, index: Any, value: Any, what: str) -> None:
    """``self[index] = value`` for tensors that record nothing."""
    data = _buffer(self, what)
    raw = value.data if isinstance(value, Tensor) else value
    bump(data)
    data[index] = raw


def _setitem(self: Tensor, index: Any, value: Any) -> None:
    _refuse_under_trace("t[i] = v")
    index = F.normalize_index(index)
    value_grad = isinstance(value, Tensor) and value._requires_grad
    if _records(self, value):
        if value_grad:
            raise RuntimeError(
                "assigning a tensor that requires grad into another tensor in place "
                "(t[i] = v) is not recorded by chainrule, so it would drop its gradient; "
                "build the result from tensors "
                "instead (cr.where, cr.cat, chainrule.numpy.stack), or assign v.detach() "
                "if no gradient should reach v"
            )
        data = _buffer(self, "t[i] = v")
        _check_recordable(self, data, "in-place assignment (t[i] = v)")
        # As PyTorch: recorded on a non-leaf; the assigned places get no gradient.
        placed = np.zeros(data.shape, dtype=data.dtype)
        chosen = np.zeros(data.shape, dtype=bool)
        placed[index] = value.data if isinstance(value, Tensor) else value
        chosen[index] = True
        _store(self, data, F.where(chosen, placed, _recorded_self(self, data)), "t[i] = v")
        return
    _set_values(self, index, value, "t[i] = v")


def _zero_(self: Tensor) -> Tensor:
    """Set every element to 0 in place and return the tensor (``p.grad.zero_()``)."""
    return _fill_(self, 0)


def _fill_(self: Tensor, value: Any) -> Tensor:
    """Set every element to ``value`` in place and return the tensor."""
    _refuse_under_trace("fill_()")
    if isinstance(value, Tensor) and value._requires_grad and grad_enabled():
        # A one-element tensor that requires grad: the gradient must reach it (PyTorch's
        # fill_ passes the sum of the gradient on), which copy_ records.
        if value.data.size != 1:
            raise RuntimeError(
                f"fill_(): the value must have one element, not shape {value.data.shape}"
            )
        return _copy_(self, value.reshape(()))
    recorded = grad_enabled() and self._requires_grad
    if recorded:
        _check_recordable(self, _buffer(self, "fill_()"), "fill_()")
    _set_values(self, ..., value, "fill_()")
    if recorded:  # the values no longer depend on anything: the tensor is a constant
        self._node = None
        self._requires_grad = False
    return self


def _copy_(self: Tensor, src: Any) -> Tensor:
    """Copy ``src``'s values into this tensor in place (broadcasting); returns it."""
    _refuse_under_trace("copy_()")
    data = _buffer(self, "copy_()")
    if _records(self, src):
        _check_recordable(self, data, "copy_()")
        # where(False, old, src): src's values exactly (old * 0 + src would turn an inf
        # or nan among the old values into nan); the gradient reaches src, broadcast
        # back, and zeros reach the old values (PyTorch's rule).
        keep_old = np.zeros(data.shape, dtype=bool)
        result = F.where(keep_old, _recorded_self(self, data), src)
        _store(self, data, result, "copy_()")
        return self
    raw = src.data if isinstance(src, Tensor) else src
    bump(data)
    np.copyto(data, raw, casting="same_kind")
    return self


def _neg_(self: Tensor) -> Tensor:
    """Negate in place; returns the tensor."""
    return _inplace_binary(self, -1, _el.mul, np.multiply, "neg_()")


def _clamp(self: Tensor, min: Any, max: Any, what: str) -> Tensor:  # noqa: A002
    if min is None and max is None:
        # (NumPy would leave the values as they are without a word)
        raise ValueError(f"{what}: give a bound (min, max or both), not None")
    return change_in_place(
        self,
        lambda old: F.clip(old, min, max),
        what,
        update=lambda data: np.clip(data, min, max, out=data),
    )


def _clamp_(self: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Clip to ``[min, max]`` in place (PyTorch's ``clamp_``); returns the tensor."""
    return _clamp(self, min, max, "clamp_()")


def _clamp_min_(self: Tensor, min: Any) -> Tensor:  # noqa: A002
    """Raise every element below ``min`` to it, in place (PyTorch's ``clamp_min_``)."""
    return _clamp(self, min, None, "clamp_min_()")


def _clamp_max_(self: Tensor, max: Any) -> Tensor:  # noqa: A002
    """Lower every element above ``max`` to it, in place (PyTorch's ``clamp_max_``)."""
    return _clamp(self, None, max, "clamp_max_()")


Tensor.__setitem__ = _setitem
Tensor.zero_ = _zero_
Tensor.fill_ = _fill_
Tensor.copy_ = _copy_
Tensor.neg_ = _neg_
Tensor.clamp_ = Tensor.clip_ = _clamp_
Tensor.clamp_min_ = _clamp_min_
Tensor.clamp_max_ = _clamp_max_
Tensor._version = property(  # type: ignore[assignment]
    lambda self: version(self._data),
    doc="How many times this tensor's array was changed in place through chainrule.",
)
