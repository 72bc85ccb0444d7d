"""``ParameterList`` and ``ParameterDict``: parameters held by position or by name.

Each entry is registered as a parameter of the container, named "0", "1", ... or by
its key, so ``parameters()`` and the state dict see it as PyTorch's do. A plain
Tensor put in is wrapped as a ``Parameter`` sharing its array.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor


def _as_parameter(value: Any) -> Parameter:
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value, requires_grad=value.requires_grad)
    raise TypeError(f"a parameter container holds Tensors, not {type(value).__name__}")


class ParameterList(Module):
    """A list of parameters (no forward of its own).

    >>> import chainrule as cr
    >>> ps = cr.nn.ParameterList([cr.nn.Parameter(cr.zeros(2)) for _ in range(2)])
    >>> [name for name, _ in ps.named_parameters()]
    ['0', '1']
    """

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _index(self, index: int) -> str:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a ParameterList of {n}")
        return str(index % n)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ParameterList(list(self)[index])
        return self._parameters[self._index(index)]

    def __setitem__(self, index: int, value: Any) -> None:
        self.register_parameter(self._index(index), _as_parameter(value))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(list(self._parameters.values()))

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def append(self, value: Any) -> ParameterList:
        self.register_parameter(str(len(self)), _as_parameter(value))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        for v in values:
            self.append(v)
        return self

    def extra_repr(self) -> str:
        return "\n".join(
            f"({i}): Parameter containing: [{p.dtype} of size {tuple(p.shape)}]"
            for i, p in enumerate(self)
        )


class ParameterDict(Module):
    """Parameters by name (no forward of its own).

    >>> import chainrule as cr
    >>> params = cr.nn.ParameterDict({"scale": cr.nn.Parameter(cr.ones(2))})
    >>> [name for name, _ in params.named_parameters()]
    ['scale']
    """

    def __init__(self, parameters: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter:
        return self._parameters[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.register_parameter(key, _as_parameter(value))

    def __delitem__(self, key: str) -> None:
        delattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._parameters))

    def keys(self):
        return self._parameters.keys()

    def values(self):
        return self._parameters.values()

    def items(self):
        return self._parameters.items()

    def update(self, parameters: Mapping[str, Any]) -> None:
        for key, value in parameters.items():
            self[key] = value
