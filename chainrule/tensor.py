"""The Tensor: a NumPy array, its gradient, and the node that produced it.

This module also holds the hot path of every operation (``apply``, ``unary``,
``binary``): unwrap the inputs, call the primitive's NumPy forward, and, when a
gradient can flow, record one :class:`~chainrule.autograd.node.Node`.
"""

from __future__ import annotations

import dis
import importlib
import operator
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from threading import get_ident
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import grad_enabled
from chainrule.autograd.node import Node, new_node
from chainrule.dtypes import as_dtype, check_device, get_default_dtype
from chainrule.ops.errors import InputError

ndarray = np.ndarray
generic = np.generic
_asarray = np.asarray
_new = object.__new__

#: The active :class:`chainrule.jit.tracer.Tracer` while ``cr.jit`` traces a
#: function, else None. Every operation checks it once (a global load); the tracer
#: ignores calls from other threads than its own.
_tracer: Any = None


def active_tracer() -> Any:
    """The tracer of the ``cr.jit`` trace in progress in this thread, or None."""
    tracer = _tracer
    if tracer is not None and tracer.thread != get_ident():
        return None
    return tracer


#: The one hook every operation looks at before its fast path, else None: one
#: global load per operation, as for the tracer. While a ``cr.vmap`` runs, it
#: applies primitives to batched tensors
#: (:func:`chainrule.batching.batched.batched_apply`); while a value rebound by
#: ``t -= x`` under a NumPy-input transform could be read again, it first checks
#: the arguments (:mod:`chainrule.autograd.rebinding`). It answers NotImplemented
#: when neither concerns the arguments, so other threads are not affected.
_batcher: Any = None
_vmap_apply: Any = None
_read_guard: Any = None


def _install_hook() -> None:
    global _batcher
    vmap_apply, guard = _vmap_apply, _read_guard
    if guard is None or vmap_apply is None:
        _batcher = guard or vmap_apply
        return

    def guarded_vmap_apply(prim: Any, args: tuple, params: dict | None) -> Any:
        guard(prim, args, params)
        return vmap_apply(prim, args, params)

    _batcher = guarded_vmap_apply


# Threads install and remove the two independently: one lock keeps the combined
# hook in step with both.
_hook_lock = threading.Lock()


def set_batcher(batcher: Any) -> Any:
    """Install vmap's ``batcher`` (None: none); returns the previous one."""
    global _vmap_apply
    with _hook_lock:
        previous = _vmap_apply
        _vmap_apply = batcher
        _install_hook()
    return previous


def set_read_guard(guard: Any) -> Any:
    """Install ``guard(prim, args, params)``, called before every operation (it raises
    or returns NotImplemented; None: none); returns the previous one."""
    global _read_guard
    with _hook_lock:
        previous = _read_guard
        _read_guard = guard
        _install_hook()
    return previous


def set_tracer(tracer: Any) -> Any:
    """Make ``tracer`` the active one (None: no trace); returns the previous one."""
    global _tracer
    previous = _tracer
    _tracer = tracer
    return previous


#: numpy ufunc -> chainrule function; filled by :mod:`chainrule.numpy._dispatch`.
UFUNC_RULES: dict[Any, Callable[..., Any]] = {}
#: numpy function -> chainrule function; filled by :mod:`chainrule.numpy._dispatch`.
FUNCTION_RULES: dict[Any, Callable[..., Any]] = {}
#: NumPy module name -> the chainrule module that fills FUNCTION_RULES for its
#: functions when imported (those that load on first use: chainrule.numpy.linalg).
LAZY_FUNCTION_RULES: dict[str, str] = {}


def check_differentiable_dtype(dtype: np.dtype, what: str = "tensor") -> None:
    """Refuse gradients for dtypes whose values are not floating point (real or complex)."""
    if dtype.kind != "f" and dtype.kind != "c":
        raise TypeError(
            f"only floating-point tensors can require gradients (real or complex), but this "
            f"{what} has dtype "
            f"{dtype} (integers and booleans have no derivative); convert it first, "
            f"e.g. cr.tensor(data, dtype='float64') or t.astype('float32')"
        )


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    >>> import chainrule as cr
    >>> x = cr.tensor(2.0, requires_grad=True)
    >>> y = x * x + 3 * x
    >>> y.backward()
    >>> x.grad.item()
    7.0

    ``.data`` is always a NumPy array. Inside, a 0-d result of an elementwise
    operator or function is kept as a NumPy scalar (``_data``) until ``.data`` is
    read: NumPy's scalar arithmetic costs about a tenth of its 0-d array arithmetic,
    which is what a graph of scalar operations spends most of its time on.
    """

    __slots__ = ("_data", "grad", "_node", "_requires_grad", "_extra", "__weakref__")
    # Let NumPy defer to us in mixed expressions such as ``ndarray * tensor``.
    __array_priority__ = 1000
    #: True for the batched tensors cr.vmap hands its function (no array of their own).
    _batched = False

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        source = data
        if isinstance(data, Tensor):
            data = data.data
        self._data: np.ndarray | np.generic = np.array(data, dtype=dtype)
        if _tracer is not None:
            _tracer.copied(source, self)
        self.grad: Tensor | None = None
        self._node: Node | None = None
        self._requires_grad = False
        self._extra: dict[str, Any] | None = None
        if requires_grad:
            self.requires_grad = True

    # ----------------------------------------------------------------- array facts
    @property
    def data(self) -> np.ndarray:
        """The values as a NumPy array (shares memory; not tracked by autograd).

        Writes into it go around chainrule's version counters, as writes into
        PyTorch's ``.data`` do: a value saved for backward and then changed through
        ``.data`` gives a wrong gradient without an error. Change a tensor in place
        through chainrule (``t -= x``, ``t[i] = v``, ``t.add_(x)``) to have that
        checked (see :mod:`chainrule.tensor_inplace`).
        """
        d = self._data
        if _tracer is not None:
            _tracer.read_data(self)  # refused when the user's code reads a traced value
        if type(d) is not ndarray:
            scalar = d
            d = self._data = _asarray(d)  # a 0-d result kept as a scalar until now
            if _tracer is not None:
                _tracer.alias(scalar, d)
        return d

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value if type(value) is ndarray else _asarray(value)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    def numpy(self) -> np.ndarray:
        """The underlying NumPy array (shares memory; not tracked by autograd)."""
        if _tracer is not None:
            _tracer.refuse_value(self, "t.numpy()")
        return self.data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if _tracer is not None:
            _tracer.refuse_value(self, "t.item()")
        if self.data.size != 1:
            raise ValueError(
                f"item(): only one-element tensors can be converted to a Python number; "
                f"this one has shape {self.data.shape}"
            )
        return self.data.item()

    def tolist(self) -> Any:
        if _tracer is not None:
            _tracer.refuse_value(self, "t.tolist()")
        return self.data.tolist()

    # ------------------------------------------------------------- autograd state
    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if self._node is not None:
            raise RuntimeError(
                "requires_grad can only be changed on leaf tensors; this tensor was computed "
                "by an operation (use .detach() to get a leaf)"
            )
        if flag:
            check_differentiable_dtype(self._data.dtype)
        self._requires_grad = bool(flag)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return the tensor."""
        self.requires_grad = flag
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user rather than by an operation."""
        return self._node is None

    @property
    def grad_fn(self) -> Node | None:
        """The graph node that produced this tensor (None for leaves)."""
        return self._node

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return _wrap(self.data, None)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always do)."""
        if self._node is None:
            return
        if not self._requires_grad:
            raise RuntimeError("retain_grad(): this tensor does not require grad")
        extra = _node_extra(self._node)
        extra.setdefault("retain", []).append(weakref.ref(self))

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed.

        The hook may return a new gradient to use instead. Returns a handle whose
        ``remove()`` unregisters the hook.
        """
        if not self._requires_grad:
            raise RuntimeError(
                "register_hook(): cannot register a hook on a tensor that does not require grad"
            )
        if self._node is None:
            if self._extra is None:
                self._extra = {}
            hooks = self._extra.setdefault("hooks", [])
        else:
            hooks = _node_extra(self._node).setdefault("hooks", [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def backward(
        self,
        grad: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` by the chain rule.

        ``grad`` is d(loss)/d(self); it may be omitted for one-element tensors.
        ``retain_graph`` (default: ``create_graph``) keeps saved values for another
        pass; ``create_graph`` records the backward pass so it can be differentiated.
        """
        from chainrule.autograd.engine import run_backward, seed_gradient

        if not self._requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad, so there is no graph to "
                "differentiate; create the inputs with requires_grad=True (and check that "
                "the computation did not run under cr.no_grad())"
            )
        seed = seed_gradient(self, grad, create_graph, "backward()")
        if retain_graph is None:
            retain_graph = create_graph
        run_backward((self,), (seed,), retain_graph, create_graph)

    # --------------------------------------------------------------- conversions
    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extras = []
        # As PyTorch: the default floating dtype, int64 and bool go without saying.
        if self.data.dtype not in (get_default_dtype(), np.int64, np.bool_):
            extras.append(f"dtype={self.data.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn=<{self._node.prim.name}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __bool__(self) -> bool:
        if _tracer is not None:
            _tracer.refuse_value(self, "bool(t) (an if or while on a tensor's value)")
        return bool(self.data)

    def __float__(self) -> float:
        if self._requires_grad and grad_enabled() and _stores_into_array(sys._getframe(1)):
            # RuntimeError: NumPy passes it through unchanged (a TypeError it rewords).
            raise RuntimeError(
                "assigning a tensor that requires grad into a NumPy array (a[i] = t) would "
                "drop its gradient without notice; build the array from tensors instead "
                "(chainrule.numpy.array([...]), stack, concatenate, where), or assign "
                "t.item() if the gradient is not wanted"
            )
        if _tracer is not None:
            _tracer.refuse_value(self, "float(t)")
        return float(self.item())

    def __int__(self) -> int:
        if _tracer is not None:
            _tracer.refuse_value(self, "int(t)")
        return int(self.item())

    def __index__(self) -> int:
        if _tracer is not None:
            _tracer.refuse_value(self, "a tensor used as an index")
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError(
                f"only integer tensors with one element can be used as an index, not a "
                f"tensor of dtype {self.data.dtype} and shape {self.data.shape}"
            )
        return int(self.item())

    # Operators such as == are elementwise, so hashing falls back to identity.
    __hash__ = object.__hash__

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if _tracer is not None:
            _tracer.refuse_value(self, "a NumPy conversion (np.asarray(t) or a NumPy function)")
        # Integer and boolean results (numpy.int64(t), a mask) carry no gradient anyway.
        if (
            self._requires_grad
            and grad_enabled()
            and (dtype is None or np.dtype(dtype).kind in "fc")
        ):
            raise TypeError(
                "cannot convert a tensor that requires grad to a NumPy array: the gradient "
                "would be lost without notice; use t.detach() (or t.numpy()) if that is "
                "meant, or chainrule.numpy (import chainrule.numpy as np) to keep it"
            )
        data = self.data if dtype is None else self.data.astype(dtype, copy=False)
        return data.copy() if copy else data

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        rule = UFUNC_RULES.get(ufunc if method == "__call__" else (ufunc, method))
        if rule is None:
            name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
            raise _no_rule_error(f"numpy.{name}")
        return rule(*inputs, **kwargs) if kwargs else rule(*inputs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        rule = FUNCTION_RULES.get(func)
        if rule is None and LAZY_FUNCTION_RULES:
            rule = _load_function_rule(func)
        if rule is None:
            module = getattr(func, "__module__", None) or "numpy"
            if not module.startswith("numpy"):
                module = "numpy"
            raise _no_rule_error(f"{module}.{func.__name__}")
        return rule(*args, **kwargs)


def _load_function_rule(func: Any) -> Callable[..., Any] | None:
    """The rule for ``func`` from a chainrule module not imported yet (see
    ``LAZY_FUNCTION_RULES``), importing it; None if there is none."""
    module = LAZY_FUNCTION_RULES.pop(getattr(func, "__module__", None), None)
    if module is None:
        return None
    importlib.import_module(module)
    return FUNCTION_RULES.get(func)


def _no_rule_error(name: str) -> TypeError:
    return TypeError(
        f"{name} has no differentiation rule in chainrule, so it does not take a Tensor "
        "(its gradient would be lost). Add one with the custom-primitive API: "
        "@cr.primitive def f(x): return <the NumPy call>, then "
        "f.defvjp(lambda g, ans, x: <g times the derivative>) and call f instead (see "
        "chainrule.ops.primitive); or pass t.detach() if no gradient is wanted"
    )


def _stores_into_array(frame: Any) -> bool:
    """True if ``frame`` is executing ``container[index] = value``: NumPy converts a
    value assigned into a float array element with ``float()``.

    Reads the caller's bytecode, so it is limited to the CPython versions whose
    ``f_lasti`` (a byte offset) it was checked on; elsewhere it never refuses.
    """
    if not _BYTECODE_CHECK:
        return False
    code = frame.f_code.co_code
    i = frame.f_lasti
    return 0 <= i < len(code) and code[i] == _STORE_SUBSCR


_STORE_SUBSCR = dis.opmap["STORE_SUBSCR"]
_BYTECODE_CHECK = sys.implementation.name == "cpython" and (3, 11) <= sys.version_info[:2] <= (
    3,
    13,
)


class RemovableHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list, hook: Callable) -> None:
        self._hooks = hooks
        self._hook = hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _node_extra(node: Node) -> dict[str, Any]:
    if node.extra is None:
        node.extra = {}
    return node.extra


def _wrap(data: np.ndarray, node: Node | None) -> Tensor:
    """Make a Tensor around ``data`` without converting or copying (internal)."""
    t = _new(Tensor)
    t._data = data
    t.grad = None
    t._node = node
    t._requires_grad = node is not None
    t._extra = None
    return t


def attach(value: Any, node: Node) -> Tensor:
    """A value a node saved, as a Tensor produced by ``node`` (for recorded rules)."""
    if isinstance(value, Tensor):  # a batched tensor, saved as itself
        return value._attached(node)
    return _wrap(value, node)


def as_tensor(x: Any) -> Tensor:
    """Return ``x`` if it is a Tensor, else a constant Tensor of it (no copy if possible)."""
    if isinstance(x, Tensor):
        return x
    return _wrap(_asarray(x), None)


# --------------------------------------------------------------------- hot path
def _forward_error(prim: Any, raw: tuple, exc: Exception) -> Exception:
    if isinstance(exc, InputError):
        return exc
    shapes = ", ".join(str(np.shape(a)) for a in raw)
    dtypes = ", ".join(str(getattr(a, "dtype", type(a).__name__)) for a in raw)
    message = f"{prim.name}: {exc} (input shapes: {shapes}; dtypes: {dtypes})"
    # Keep the exception's own type where it takes a message (numpy.linalg.LinAlgError
    # is a ValueError that callers catch by name); fall back to the base kind.
    for kind in (type(exc), ValueError):
        if issubclass(kind, (ValueError, TypeError, IndexError)):
            try:
                return kind(message)
            except Exception:  # noqa: BLE001 - an exception type with another signature
                continue
    return ValueError(message)


def apply(prim: Any, args: tuple, params: dict | None = None) -> Tensor:
    """Apply ``prim`` to ``args`` (Tensors, arrays or numbers) and record it if needed."""
    if _batcher is not None:
        out = _batcher(prim, args, params)
        if out is not NotImplemented:
            return out
    track = grad_enabled() and prim.differentiable
    raw = []
    parents = []
    any_parent = False
    for a in args:
        if isinstance(a, Tensor):
            raw.append(a.data)  # the property: a scalar-held 0-d value becomes an array
            if track and a._requires_grad:
                parents.append(a._node or a)
                any_parent = True
                continue
        else:
            raw.append(a)
        parents.append(None)
    raw = tuple(raw)
    try:
        out = prim.forward(*raw, **params) if params else prim.forward(*raw)
    except (ValueError, TypeError, IndexError, np.exceptions.AxisError) as exc:
        raise _forward_error(prim, raw, exc) from None
    converted = type(out) is not ndarray
    if converted:
        out = _asarray(out)
    kind = out.dtype.kind
    if any_parent and (kind == "f" or kind == "c"):
        if kind == "c" and not prim.complex_rules:
            raise complex_refused(prim)
        node = new_node(prim, tuple(parents), raw, out if prim.saves_ans else None, params)
        result = _wrap(out, node)
    else:
        result = _wrap(out, None)
    if _tracer is not None:
        _tracer.record(prim, args, raw, params, result, True, converted)
    return result


def complex_refused(prim: Any) -> TypeError:
    """The error of a primitive whose rules hold for real numbers only, met with
    complex values that need a gradient: the gradient would be wrong, not missing.
    Raised where such a primitive would record a complex result (a cheap check of
    the result's dtype); the few that turn complex input into a real result (std,
    vector norms, log|det|) refuse complex input in their forward instead."""
    return TypeError(
        f"{prim.name}: complex inputs are not differentiable through this operation "
        "(its derivative rule holds for real numbers only); pass the real and imaginary "
        "parts separately, or detach the input if no gradient is wanted"
    )


def unary(prim: Any, x: Any) -> Tensor:
    """``prim`` applied to one input, without parameters (through :func:`unary_op`)."""
    return unary_op(prim)(x)


def binary(prim: Any, x: Any, y: Any) -> Tensor:
    """``prim`` applied to two inputs, without parameters (through :func:`binary_op`)."""
    return binary_op(prim)(x, y)


# Python's operators call the same ufuncs as the numpy functions for arrays, skip
# the function call's argument parsing, and take NumPy's fast scalar path for
# NumPy scalars (np.add on a NumPy scalar and a Python int costs 15 times more).
_OPERATOR_FORMS: dict[Any, Callable[..., Any]] = {
    np.add: operator.add,
    np.subtract: operator.sub,
    np.multiply: operator.mul,
    np.true_divide: operator.truediv,
    np.power: operator.pow,
    np.matmul: operator.matmul,
    np.negative: operator.neg,
}
_unary_ops: dict[Any, Callable[[Any], Tensor]] = {}
_binary_ops: dict[tuple[Any, bool], Callable[[Any, Any], Tensor]] = {}


def unary_op(prim: Any, doc: str | None = None) -> Callable[[Any], Tensor]:
    """``prim`` (one input, no parameters) as a function specialised to it: the
    function behind ``cr.exp``, ``t.exp()``, ``-t`` and the like. Everything the hot
    path needs is bound once. Cached per primitive; with ``doc``, a new function
    with that docstring (a public function of its own)."""
    if doc is not None:
        return _make_unary_op(prim, doc)
    op = _unary_ops.get(prim)
    if op is None:
        op = _unary_ops[prim] = _make_unary_op(prim, prim.doc)
    return op


def _make_unary_op(prim: Any, doc: str | None) -> Callable[[Any], Tensor]:
    if not prim.differentiable:
        return lambda x: apply(prim, (x,))
    forward = _OPERATOR_FORMS.get(prim.forward, prim.forward)
    saves_ans = prim.saves_ans
    real_only = not prim.complex_rules

    def op(x: Any) -> Tensor:
        if not isinstance(x, Tensor) or _batcher is not None:
            return apply(prim, (x,))
        data = x._data
        try:
            out = forward(data)
        except (ValueError, TypeError) as exc:
            raise _forward_error(prim, (data,), exc) from None
        converted = type(out) is not ndarray and not isinstance(out, generic)
        if converted:
            out = _asarray(out)  # a Python number; NumPy scalars are kept (see Tensor)
        t = _new(Tensor)
        t._data = out
        t.grad = None
        t._extra = None
        if x._requires_grad and grad_enabled():
            if real_only and out.dtype.kind == "c":
                raise complex_refused(prim)
            t._node = new_node(prim, (x._node or x,), (data,), out if saves_ans else None, None)
            t._requires_grad = True
        else:
            t._node = None
            t._requires_grad = False
        if _tracer is not None:
            _tracer.record(prim, (x,), (data,), None, t, False, converted)
        return t

    op.__name__ = op.__qualname__ = prim.name
    op.__doc__ = doc
    return op


def binary_op(
    prim: Any, reflected: bool = False, doc: str | None = None
) -> Callable[[Any, Any], Tensor]:
    """``prim`` (two inputs, no parameters) as a function specialised to it: the
    function behind ``a + b``, ``cr.add`` and the like (``reflected``: behind
    ``b.__radd__(a)``, arguments swapped). Cached like :func:`unary_op`."""
    if doc is not None:
        return _make_binary_op(prim, reflected, doc)
    op = _binary_ops.get((prim, reflected))
    if op is None:
        op = _binary_ops[prim, reflected] = _make_binary_op(prim, reflected, prim.doc)
    return op


def _match_kinds(x: Any, y: Any, xd: Any, yd: Any) -> tuple[Any, Any, Any, Any]:
    """PyTorch's promotion of an integer or boolean operand met with a floating one:
    it takes the float's dtype. NumPy would widen (float32 with int64 gives float64),
    so ``x.pow(cr.tensor([1, 2, 3]))`` would leave float32 behind. The cast is an
    operation of its own, so the graph and a ``cr.jit`` trace record it."""
    kx, ky = xd.dtype.kind, yd.dtype.kind
    if kx == "f" and ky in "iub":
        y = _cast_to(y, xd.dtype)
        yd = y._data if isinstance(y, Tensor) else y
    elif ky == "f" and kx in "iub":
        x = _cast_to(x, yd.dtype)
        xd = x._data if isinstance(x, Tensor) else x
    return x, y, xd, yd


def _cast_to(v: Any, dtype: np.dtype) -> Any:
    if not isinstance(v, Tensor):
        return v.astype(dtype)  # a NumPy constant
    from chainrule.ops.elementwise import cast

    return apply(cast, (v,), {"dtype": dtype})


def _make_binary_op(prim: Any, reflected: bool, doc: str | None) -> Callable[[Any, Any], Tensor]:
    if not prim.differentiable:
        return lambda x, y: apply(prim, (y, x) if reflected else (x, y))
    forward = _OPERATOR_FORMS.get(prim.forward, prim.forward)
    saves_ans = prim.saves_ans
    real_only = not prim.complex_rules

    def op(x: Any, y: Any) -> Tensor:
        if reflected:
            x, y = y, x
        if _batcher is not None and (isinstance(x, Tensor) or isinstance(y, Tensor)):
            return apply(prim, (x, y))
        if isinstance(x, Tensor):
            xd = x._data
            xp = (x._node or x) if x._requires_grad else None
            if isinstance(y, Tensor):
                yd = y._data
                yp = (y._node or y) if y._requires_grad else None
                if xd.dtype is not yd.dtype:
                    x, y, xd, yd = _match_kinds(x, y, xd, yd)
            else:
                yd = y
                yp = None
                if type(y) is ndarray and xd.dtype is not y.dtype:
                    x, y, xd, yd = _match_kinds(x, y, xd, yd)
        elif isinstance(y, Tensor):
            xd = x
            xp = None
            yd = y._data
            yp = (y._node or y) if y._requires_grad else None
            if type(x) is ndarray and x.dtype is not yd.dtype:
                x, y, xd, yd = _match_kinds(x, y, xd, yd)
        else:  # no Tensor: a Python operator could mean something else (list + list)
            return apply(prim, (x, y))
        try:
            out = forward(xd, yd)
        except (ValueError, TypeError) as exc:
            raise _forward_error(prim, (xd, yd), exc) from None
        converted = type(out) is not ndarray and not isinstance(out, generic)
        if converted:
            out = _asarray(out)  # a Python number; NumPy scalars are kept (see Tensor)
        t = _new(Tensor)
        t._data = out
        t.grad = None
        t._extra = None
        if (xp is not None or yp is not None) and grad_enabled():
            if real_only and out.dtype.kind == "c":
                raise complex_refused(prim)
            t._node = new_node(prim, (xp, yp), (xd, yd), out if saves_ans else None, None)
            t._requires_grad = True
        else:
            t._node = None
            t._requires_grad = False
        if _tracer is not None:
            _tracer.record(prim, (x, y), (xd, yd), None, t, False, converted)
        return t

    op.__name__ = op.__qualname__ = prim.name
    op.__doc__ = doc
    return op


def name(t: Tensor, label: str) -> Tensor:
    """Give ``t`` a display name (used by explanations and graph drawings); returns ``t``.

    >>> import chainrule as cr
    >>> z = cr.tensor(0.5, requires_grad=True)
    >>> h = cr.name(1 + cr.exp(-z), "h")
    >>> name_of(h)
    'h'
    """
    if not isinstance(t, Tensor):
        raise TypeError(f"name(): expected a Tensor, got {type(t).__name__}")
    if not isinstance(label, str) or not label:
        raise ValueError("name(): the label must be a non-empty string")
    if t._node is not None:
        _node_extra(t._node)["name"] = label
    else:
        if t._extra is None:
            t._extra = {}
        t._extra["name"] = label
    return t


def name_of(t: Tensor) -> str | None:
    """The display name given to ``t`` with :func:`name`, or None."""
    extra = t._node.extra if t._node is not None else t._extra
    return None if extra is None else extra.get("name")


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Create a leaf tensor holding a copy of ``data`` (any array-like).

    Python floats take the default dtype (float32, as in PyTorch; see
    ``cr.set_default_dtype``); a NumPy array or scalar, or a tensor, keeps its
    dtype, so ``cr.tensor(np.ones(3))`` is float64. Only floating-point tensors may
    set ``requires_grad=True``. ``device`` may only be the CPU.
    """
    if device is not None:
        check_device(device)
    if dtype is not None:
        dtype = as_dtype(dtype)
    elif not isinstance(data, (Tensor, ndarray, generic)):
        # Nested Python data, converted once: its NumPy dtype decides.
        converted = np.array(data)
        if converted.dtype.kind == "f" and not _holds_arrays(data):
            converted = converted.astype(get_default_dtype(), copy=False)
        return Tensor(converted, dtype=None, requires_grad=requires_grad)
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def _holds_arrays(data: Any) -> bool:
    """True for a list or tuple whose first leaf is a NumPy array or a Tensor (those
    keep their dtype, as in ``cr.tensor([np.ones(2), np.zeros(2)])``)."""
    while isinstance(data, (list, tuple)) and data:
        data = data[0]
    return isinstance(data, (Tensor, ndarray, generic))
