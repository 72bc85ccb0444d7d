"""``Module``, the base of every layer and model, and the containers ``Sequential``,
``ModuleList`` and ``ModuleDict``.

A module holds parameters, buffers (state that is saved but not trained, such as
BatchNorm's running statistics) and submodules, each registered by assigning it
to an attribute. Names and state-dict keys follow PyTorch's (``"0.weight"``,
``"features.conv1.bias"``), so a state dict maps one to one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from chainrule.autograd.versions import bump
from chainrule.dtypes import check_device, parse_to
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match.

    >>> import chainrule as cr
    >>> m = cr.nn.Linear(2, 2)
    >>> state = {"weight": cr.zeros(2, 2), "bias": cr.zeros(2), "extra": cr.zeros(1)}
    >>> m.load_state_dict(state, strict=False)
    IncompatibleKeys(missing_keys=[], unexpected_keys=['extra'])
    """

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of layers and models: subclass it and define ``forward``.

    >>> import chainrule as cr
    >>> class Affine(cr.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = cr.nn.Parameter(cr.ones(3, dtype="float32"))
    ...         self.register_buffer("calls", cr.zeros((), dtype="int64"))
    ...     def forward(self, x):
    ...         return x * self.scale
    >>> m = Affine()
    >>> [name for name, _ in m.named_parameters()], list(m.state_dict())
    (['scale'], ['scale', 'calls'])
    """

    training: bool

    def __init__(self) -> None:
        # Registries; parameters, buffers and submodules are also plain attributes of
        # the instance, so reading ``self.weight`` in forward costs no __getattr__.
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---------------------------------------------------------------- registration
    def _registries(self) -> dict[str, Any]:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError(
                f"cannot assign parameters, buffers or submodules before "
                f"{type(self).__name__}.__init__() calls super().__init__()"
            )
        return params

    def _forget(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._non_persistent.discard(name)
        self._modules.pop(name, None)

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter):
            self._registries()
            self._forget(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._registries()
            self._forget(name)
            self._modules[name] = value
        else:
            d = self.__dict__
            if "_parameters" in d:
                if name in d["_parameters"]:
                    if value is not None:
                        raise TypeError(
                            f"cannot assign a {type(value).__name__} as parameter {name!r} "
                            "(a cr.nn.Parameter or None is expected)"
                        )
                    d["_parameters"][name] = None
                elif name in d["_modules"]:
                    if value is not None:
                        raise TypeError(
                            f"cannot assign a {type(value).__name__} as submodule {name!r} "
                            "(a cr.nn.Module or None is expected)"
                        )
                    d["_modules"][name] = None
                elif name in d["_buffers"]:
                    value = _as_buffer(name, value)
                    d["_buffers"][name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if "_parameters" in self.__dict__:
            self._forget(name)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None, for an absent optional one such as a bias)."""
        _check_name(name, self)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter({name!r}): expected a cr.nn.Parameter or None, "
                f"got {type(param).__name__}"
            )
        self._registries()
        self._forget(name)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Register state that is not trained; ``persistent`` buffers go in the state dict."""
        _check_name(name, self)
        self._registries()
        self._forget(name)
        value = _as_buffer(name, tensor)
        self._buffers[name] = value
        if not persistent:
            self._non_persistent.add(name)
        object.__setattr__(self, name, value)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as a submodule called ``name``."""
        _check_name(name, self)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): {type(module).__name__} is not a Module")
        self._registries()
        self._forget(name)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    # ------------------------------------------------------------------- traversal
    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """This module and all below it, with dotted names ("" for this one)."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            sub = f"{prefix}.{name}" if prefix else name
            yield from child.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, kind: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen: set[int] = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, value in getattr(mod, kind).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs; a parameter shared by two modules comes once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every submodule (children first) and on this module."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ state dict
    def state_dict(
        self,
        destination: dict[str, Tensor] | None = None,
        prefix: str = "",
        keep_vars: bool = False,
    ) -> dict[str, Tensor]:
        """Parameters and persistent buffers by dotted name (detached, sharing memory)."""
        out: dict[str, Tensor] = OrderedDict() if destination is None else destination
        for mod_prefix, mod in self.named_modules(prefix=prefix.rstrip(".")):
            head = f"{mod_prefix}." if mod_prefix else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    out[head + name] = p if keep_vars else p.detach()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[head + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers, in place.

        With ``strict`` (the default), every missing and every unexpected key is an
        error; a shape mismatch is always one. All problems are reported together.
        Values are cast to each parameter's dtype.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict: expected a mapping of names to tensors, got "
                f"{type(state_dict).__name__}"
            )
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        values = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = value.data if isinstance(value, Tensor) else np.asarray(value)
            if array.shape != target.shape:
                mismatched.append(
                    f"size mismatch for {key}: copying a param with shape {array.shape} from "
                    f"checkpoint, the shape in current model is {target.shape}."
                )
            else:
                values[key] = array
        problems = []
        if strict and missing:
            problems.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
        if strict and unexpected:
            problems.append(
                "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected)
            )
        problems += mismatched
        if problems:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(problems)
            )
        for key, array in values.items():
            target = own[key]
            bump(target.data)  # a graph that saved the old values must not use the new
            np.copyto(target.data, array, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    # ---------------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        """Training mode (Dropout drops, BatchNorm uses batch statistics); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter (or set them to zero)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(tensor)``, as PyTorch.

        Floating-point parameters and buffers are converted to ``dtype`` in place; the
        device must be the CPU (``"cpu"`` or any object whose ``type`` is ``"cpu"``), the
        only one chainrule has; any other raises :class:`DeviceError`. Returns self.
        """
        _, target, _ = parse_to(args, kwargs, f"{type(self).__name__}.to")
        if target is None:
            return self
        if target.kind != "f":
            raise TypeError(f"to(): dtype must be a floating-point dtype, got {target}")
        for t in [*self.parameters(), *self.buffers()]:
            if t.data.dtype.kind == "f" and t.data.dtype != target:
                t.data = t.data.astype(target)
                if t.grad is not None:
                    t.grad = None
        return self

    def cpu(self) -> Module:
        """Returns self: the parameters are already on the CPU."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Always raises :class:`DeviceError`: chainrule runs on the CPU only."""
        check_device(device if isinstance(device, str) else "cuda", f"{type(self).__name__}.cuda")
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    def half(self) -> Module:
        return self.to(np.float16)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """How many numbers the parameters hold."""
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # ----------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The text between the parentheses of this module's line in ``repr``."""
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, child in self._modules.items():
            text = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {text}")
        head = type(self).__name__ + "("
        if not self._modules:
            return head + "\n  ".join(lines) + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _check_name(name: str, module: Module) -> None:
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"invalid name {name!r}: a non-empty string without '.' is needed")
    if hasattr(type(module), name):
        raise KeyError(f"attribute {name!r} already exists on {type(module).__name__}")


def _as_buffer(name: str, value: Any) -> Tensor | None:
    if value is None or isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray | int | float | bool):
        return Tensor(value)
    raise TypeError(
        f"buffer {name!r} must be a Tensor, an ndarray or None, not {type(value).__name__}"
    )


# ---------------------------------------------------------------------- containers
class Sequential(Module):
    """Modules applied one after another; named "0", "1", ... or by an ordered dict.

    >>> import chainrule as cr
    >>> net = cr.nn.Sequential(cr.nn.Linear(4, 3), cr.nn.ReLU(), cr.nn.Linear(3, 2))
    >>> net(cr.ones((5, 4), dtype="float32")).shape
    (5, 2)
    """

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, index: int | slice) -> Module:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[index][1]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self._modules)), module)
        return self


class ModuleList(Module):
    """A list of modules, registered as "0", "1", ... (no forward of its own).

    >>> import chainrule as cr
    >>> layers = cr.nn.ModuleList([cr.nn.Linear(2, 2) for _ in range(3)])
    >>> len(layers), [name for name, _ in layers.named_parameters()][:2]
    (3, ['0.weight', '0.bias'])
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _renumber(self, items: list[Module]) -> None:
        for name in list(self._modules):
            object.__delattr__(self, name)
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(items[index])
        return items[index]

    def __setitem__(self, index: int, module: Module) -> None:
        items = list(self._modules.values())
        items[index] = module
        self._renumber(items)

    def __delitem__(self, index: int | slice) -> None:
        items = list(self._modules.values())
        del items[index]
        self._renumber(items)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        items = list(self._modules.values())
        items.insert(index, module)
        self._renumber(items)


class ModuleDict(Module):
    """Modules by name (no forward of its own).

    >>> import chainrule as cr
    >>> parts = cr.nn.ModuleDict({"enc": cr.nn.Linear(2, 3), "dec": cr.nn.Linear(3, 2)})
    >>> list(parts.keys()), parts["dec"](parts["enc"](cr.zeros(1, 2))).shape
    (['enc', 'dec'], (1, 2))
    """

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            for name, m in modules.items():
                self.add_module(name, m)

    def __getitem__(self, name: str) -> Module:
        return self._modules[name]

    def __setitem__(self, name: str, module: Module) -> None:
        self.add_module(name, module)

    def __contains__(self, name: str) -> bool:
        return name in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()
