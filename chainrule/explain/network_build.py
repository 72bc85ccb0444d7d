"""``cr.explain(model, *inputs, target=None, loss=None)``: a network's layers as the nodes.

One forward pass records every leaf module's call (its input and output tensors,
in call order); one backward pass, by :func:`chainrule.autograd.grad`, gives
d loss / d each of them and d loss / d each parameter. ``grad`` returns the
gradients instead of accumulating them, so the parameters' ``.grad`` is never
touched. The model runs in the mode the user set (``train()`` or ``eval()``);
buffers a training-mode forward changes (BatchNorm's running statistics) are put
back afterwards, and so is the default random generator's state (Dropout draws from
it), so explaining a model leaves it and the random stream as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd import grad as autograd_grad
from chainrule.autograd.grad_mode import enable_grad
from chainrule.autograd.versions import version
from chainrule.explain.errors import ExplainError
from chainrule.explain.network_explanation import NetworkExplanation
from chainrule.explain.network_report import (
    LayerCapture,
    LayerRecord,
    ParamRecord,
    diagnose,
    running_product,
)
from chainrule.nn.module import Module
from chainrule.nn.rng import get_rng_state, set_rng_state
from chainrule.tensor import Tensor, _wrap, tensor

#: the layers whose outputs are counted as dead (exactly 0: no gradient passes)
DEAD_TYPES = ("ReLU", "ReLU6")


class _Call:
    """One call of a leaf module, as the forward pass made it."""

    def __init__(
        self, name: str, module: Module, inputs: list[Tensor], output: Tensor, rng: Any
    ) -> None:
        self.name = name
        self.module = module
        self.inputs = inputs
        self.output = output
        self.rng = rng  # the random state before the call: Dropout's mask, for layer()
        # the parameters as this call saw them (a later optimiser step must not change
        # what layer(name) explains)
        self.params = {
            n: np.array(p.data, copy=True) for n, p in module._parameters.items() if p is not None
        }


def _record_calls(model: Module, calls: list[_Call]) -> list[tuple[Module, Any]]:
    """Wrap each leaf module's ``forward`` to record its calls; returns what to restore.

    Module has no hooks, so the wrapper is set as an instance attribute, which
    ``Module.__call__`` finds before the class's ``forward``.
    """
    saved = []
    for name, module in model.named_modules():
        if any(True for _ in module.children()):
            continue
        own = module.__dict__.get("forward")  # an instance's own forward, kept as is
        saved.append((module, own))
        inner = module.forward

        def recording(*args: Any, _name=name, _module=module, _inner=inner, **kwargs: Any):
            rng = get_rng_state()
            ins = [a for a in args if isinstance(a, Tensor)]
            before = _before_call(_module, ins)
            out = _inner(*args, **kwargs)
            ins = _undo_in_place(_name, _module, ins, before, calls)
            first = out if isinstance(out, Tensor) else _first_tensor(out)
            if first is not None:
                calls.append(_Call(_name, _module, ins, first, rng))
            return out

        object.__setattr__(module, "forward", recording)
    return saved


def _before_call(module: Module, ins: list[Tensor]) -> list[tuple[Any, int, Any]]:
    """Each input's node and version before a layer's call, and, for a layer built with
    ``inplace=True``, a copy of its values."""
    copy = getattr(module, "inplace", False) is True
    return [(t._node, version(t.data), np.array(t.data, copy=True) if copy else None) for t in ins]


def _undo_in_place(
    name: str, module: Module, ins: list[Tensor], before: list[tuple[Any, int, Any]], calls: list
) -> list[Tensor]:
    """The layer's inputs as they were before its call. A layer that changed one in
    place (``nn.ReLU(inplace=True)``) moved that tensor onto its own output's node,
    so the tensor stands for the output now: the input, and the earlier call that
    returned it, get a tensor of the old values on the old node instead (so that each
    layer's numbers are its own)."""
    result = list(ins)
    for i, (t, (node, seen, old)) in enumerate(zip(ins, before)):
        if t._node is node and version(t.data) == seen:
            continue
        if old is None:
            raise ExplainError(
                f"layer {name!r} ({type(module).__name__}) changed its input in place; "
                "explain needs each layer's input as it was (write the layer without "
                "in-place changes, or build it with inplace=False)"
            )
        was = _wrap(old, node)
        result[i] = was
        for c in calls:
            if c.output is t:
                c.output = was
            c.inputs = [was if x is t else x for x in c.inputs]
    return result


def _first_tensor(out: Any) -> Tensor | None:
    if isinstance(out, (tuple, list)):
        return next((o for o in out if isinstance(o, Tensor)), None)
    return None


def _restore_forwards(saved: list[tuple[Module, Any]]) -> None:
    for module, own in saved:
        if own is None:
            module.__dict__.pop("forward", None)
        else:
            object.__setattr__(module, "forward", own)


def snapshot_buffers(model: Module) -> list[tuple[Module, str, Any, np.ndarray | None]]:
    shots = []
    for module in model.modules():
        for bname, buf in module._buffers.items():
            data = None if buf is None else np.array(buf.data, copy=True)
            shots.append((module, bname, buf, data))
    return shots


def restore_buffers(shots: list[tuple[Module, str, Any, np.ndarray | None]]) -> None:
    for module, bname, buf, data in shots:
        if buf is not None:
            buf.data = data  # the same object, so references held elsewhere see it too
        module._buffers[bname] = buf
        object.__setattr__(module, bname, buf)


def _as_input(i: int, x: Any) -> Tensor:
    """A copy of the i-th input; floating ones require grad, so the first layer's
    input gradient is defined (the caller's tensor is left alone)."""
    if isinstance(x, Tensor):
        a = np.array(x.data, copy=True)
    else:
        try:
            a = np.asarray(x)
        except (TypeError, ValueError):
            raise ExplainError(
                f"input {i} must be a tensor or an array of numbers, not {type(x).__name__}"
            ) from None
        if a.dtype == object:
            raise ExplainError(f"input {i} must be a tensor or an array of numbers")
    return tensor(a, requires_grad=bool(np.issubdtype(a.dtype, np.floating)))


def _default_loss(target: Any) -> tuple[Callable[[Any, Any], Any] | None, str]:
    from chainrule.nn import functional as F  # noqa: N812 - PyTorch's spelling

    if target is None:
        return None, "output.sum()"
    kind = target.dtype if isinstance(target, Tensor) else np.asarray(target).dtype
    if np.issubdtype(kind, np.integer):
        return F.cross_entropy, "cross_entropy"
    return F.mse_loss, "mse_loss"


def _norm(a: Any) -> float:
    return float(np.sqrt(np.sum(np.square(np.asarray(a, dtype=np.float64)))))


def _one_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def explain_network(
    model: Module,
    *inputs: Any,
    target: Any = None,
    loss: Callable[[Any, Any], Any] | None = None,
) -> NetworkExplanation:
    """Run ``model(*inputs)`` and its backward pass once; the layers' gradients, explained.

    ``loss(output, target)`` gives the scalar explained; by default
    ``cross_entropy`` for a target of integers (class indices), ``mse_loss`` for
    any other target, and ``output.sum()`` when there is no target. Layers are the
    leaf modules in call order; a module called twice gives two entries, with the
    same name. The model runs in its current mode: in ``train()`` mode BatchNorm
    normalizes by the batch and Dropout drops, as in training. Parameters' ``.grad``,
    buffers, the train/eval mode and the default random generator are left as they
    were.
    """
    if not inputs:
        raise ExplainError("explain(model, ...) needs the model's input(s) after the model")
    xs = [_as_input(i, x) for i, x in enumerate(inputs)]
    loss_name = getattr(loss, "__name__", type(loss).__name__)
    if loss is None:
        loss, loss_name = _default_loss(target)
    elif not callable(loss):
        raise ExplainError(f"loss must be a function loss(output, target), not {loss!r}")
    calls: list[_Call] = []
    shots = snapshot_buffers(model)
    rng = get_rng_state()  # Dropout in train mode draws; explaining must not move the stream
    saved = _record_calls(model, calls)
    try:
        with enable_grad():
            try:
                out = model(*xs)
            except ExplainError:
                raise
            except Exception as err:  # the user's model: any error is theirs, in one line
                raise ExplainError(f"the model failed on these inputs: {_one_line(err)}") from None
            output = out if isinstance(out, Tensor) else _first_tensor(out)
            if output is None:
                raise ExplainError(
                    f"the model returned {type(out).__name__}, not a tensor to explain"
                )
            try:
                value = output.sum() if loss is None else loss(output, target)
            except Exception as err:
                raise ExplainError(f"the loss failed: {_one_line(err)}") from None
            if not isinstance(value, Tensor) or value.data.size != 1:
                raise ExplainError(
                    f"the loss must be a single number, got {type(value).__name__} of shape "
                    f"{getattr(value, 'shape', '?')}"
                )
    finally:
        _restore_forwards(saved)
        restore_buffers(shots)
        set_rng_state(rng)
    return _report(model, calls, value, loss_name)


def _report(model: Module, calls: list[_Call], value: Tensor, loss_name: str) -> NetworkExplanation:
    wanted: list[Tensor] = []
    index: dict[int, int] = {}

    def want(t: Tensor) -> None:
        if t.requires_grad and id(t) not in index:
            index[id(t)] = len(wanted)
            wanted.append(t)

    for c in calls:
        want(c.output)
        for t in c.inputs:
            want(t)
        for p in c.module._parameters.values():
            if p is not None:
                want(p)
    grads: tuple[Tensor | None, ...] = ()
    if wanted and value.requires_grad:
        grads = autograd_grad(value, wanted, allow_unused=True)

    def grad_of(t: Tensor) -> np.ndarray | None:
        i = index.get(id(t))
        g = None if i is None or i >= len(grads) else grads[i]
        if g is None:
            return None if i is None else np.zeros(t.shape)  # unused: d loss / d t is 0
        return g.data

    layers = []
    captures = []
    for c in calls:
        g_out = grad_of(c.output)
        captures.append(
            LayerCapture(
                name=c.name,
                module=c.module,
                inputs=[np.array(t.data, copy=True) for t in c.inputs],
                grad_output=None if g_out is None else np.array(g_out, copy=True),
                params=c.params,
                rng_state=c.rng,
            )
        )
        g_out_norm = 0.0 if g_out is None else _norm(g_out)
        g_ins = [grad_of(t) for t in c.inputs]
        g_ins = [g for g in g_ins if g is not None]
        g_in_norm = float(np.sqrt(sum(_norm(g) ** 2 for g in g_ins))) if g_ins else None
        gain = None if g_in_norm is None or g_out_norm == 0.0 else g_in_norm / g_out_norm
        params = {}
        for pname, p in c.module._parameters.items():
            if p is None:
                continue
            g = grad_of(p)
            params[pname] = ParamRecord(
                norm=_norm(p.data), grad_norm=None if g is None else _norm(g)
            )
        y = np.asarray(c.output.data, dtype=np.float64)
        kind = type(c.module).__name__
        saturated = dead = None
        if kind == "Sigmoid":
            saturated = float(np.mean((y < 0.01) | (y > 0.99))) if y.size else 0.0
        elif kind == "Tanh":
            saturated = float(np.mean(np.abs(y) > 0.99)) if y.size else 0.0
        elif kind in DEAD_TYPES:
            dead = float(np.mean(y == 0)) if y.size else 0.0
        layers.append(
            LayerRecord(
                name=c.name,
                type=kind,
                output_shape=[int(n) for n in c.output.shape],
                grad_output_norm=g_out_norm,
                grad_input_norm=g_in_norm,
                gain=gain,
                params=params,
                mean=float(y.mean()) if y.size else 0.0,
                std=float(y.std()) if y.size else 0.0,
                saturated=saturated,
                dead=dead,
            )
        )
    product = running_product(layers)
    ex = NetworkExplanation(
        model=type(model).__name__,
        loss_name=loss_name,
        loss=float(value.data),
        layers=layers,
        product=product,
        diagnosis=diagnose(layers, product),
    )
    ex.captures = captures
    return ex
