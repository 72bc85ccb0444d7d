"""The ``Optimizer`` base class: parameter groups, per-parameter state, state dicts.

Updates run on the parameters' NumPy arrays in place (never recorded in a
graph), so a parameter keeps its identity and its dtype.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from chainrule.autograd.versions import bump
from chainrule.tensor import Tensor


class Optimizer:
    """Base of SGD, Adam, AdamW, RMSprop.

    ``params`` is an iterable of parameters, or of dicts each with a ``"params"``
    entry and options that override ``defaults`` for that group (PyTorch's
    parameter groups). ``state[p]`` holds each parameter's buffers.

    >>> import chainrule as cr
    >>> class SignSGD(cr.optim.Optimizer):
    ...     def __init__(self, params, lr=0.01):
    ...         super().__init__(params, {"lr": lr})
    ...     def step(self, closure=None):
    ...         for group in self.param_groups:
    ...             for p in group["params"]:
    ...                 if p.grad is not None:
    ...                     p.data -= group["lr"] * cr.sign(p.grad).data
    >>> w = cr.nn.Parameter(cr.tensor([1.0, -2.0]))
    >>> opt = SignSGD([w], lr=0.5)
    >>> (w ** 2).sum().backward()
    >>> opt.step()
    >>> w
    Parameter containing:
    tensor([ 0.5, -1.5], requires_grad=True)
    """

    #: Whether the update is right for complex parameters (.grad in PyTorch's
    #: convention): linear in the gradient, as SGD's is.
    takes_complex = False

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(dict(g))

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (the rest from the defaults)."""
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{type(self).__name__} can only optimize Tensors, got {type(p).__name__}"
                )
            if not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: a parameter does not require grad")
            if p.dtype.kind == "c" and not self.takes_complex:
                raise TypeError(
                    f"{type(self).__name__}: complex parameters are not supported (its "
                    "per-element statistics, g * g, are written for real values); use SGD, "
                    "or keep the real and imaginary parts as two real parameters"
                )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError("some parameters appear in more than one parameter group")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        group["params"] = params
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        lr = group.get("lr")
        if lr is not None and lr < 0:
            raise ValueError(f"invalid learning rate: {lr}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget (or zero) the gradient of every parameter."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; ``closure`` re-evaluates the loss."""
        loss = None
        if closure is not None:
            from chainrule.autograd.grad_mode import enable_grad

            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{options, "params": [index...]}]}``.

        Parameters are numbered in the order of the groups (as in PyTorch); arrays are
        copies, so later steps do not change a state dict already taken.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                s = self.state.get(p)
                if s:
                    state[index[id(p)]] = {
                        k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore options and per-parameter state from :meth:`state_dict`'s output."""
        try:
            saved_groups = list(state_dict["param_groups"])
            saved_state = state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError(
                "load_state_dict: expected a dict with 'state' and 'param_groups' (the output of "
                "Optimizer.state_dict())"
            ) from None
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"load_state_dict: the state dict has {len(saved_groups)} parameter groups, the "
                f"optimizer {len(self.param_groups)}"
            )
        lookup: dict[int, Tensor] = {}
        for i, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError(
                    f"load_state_dict: parameter group {i} has {len(saved['params'])} parameters "
                    f"in the state dict but {len(mine['params'])} in the optimizer"
                )
            for idx, p in zip(saved["params"], mine["params"]):
                lookup[int(idx)] = p
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, s in dict(saved_state).items():
            p = lookup.get(int(key))
            if p is None:
                continue
            entry = {}
            for name, value in dict(s).items():
                if isinstance(value, Tensor):
                    value = value.data
                if isinstance(value, np.ndarray):
                    if value.shape != p.shape and value.ndim:
                        raise ValueError(
                            f"load_state_dict: state {name!r} of parameter {key} has shape "
                            f"{value.shape}, the parameter {p.shape}"
                        )
                    dtype = p.dtype if value.dtype.kind == "f" else value.dtype
                    value = np.array(value, dtype=dtype)
                elif isinstance(value, np.generic):
                    value = value.item()
                entry[name] = value
            new_state[p] = entry
        self.state = new_state
        for mine, saved in zip(self.param_groups, saved_groups):
            for k, v in saved.items():
                if k != "params":
                    mine[k] = tuple(v) if isinstance(v, list) else v

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)


def grads_of(group: dict[str, Any], maximize: bool = False):
    """(parameter, gradient array) for each parameter of ``group`` that has a gradient.

    The caller updates each parameter in place: its version is bumped here, so a graph
    still holding the old values (a backward pass not yet run) raises instead of
    differentiating with the new ones."""
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        bump(p.data)
        yield p, (-g.data if maximize else g.data)
