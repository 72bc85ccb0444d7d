"""Recurrent cells: ``RNNCell``, ``LSTMCell``, ``GRUCell``, one time step each, with
PyTorch's arguments, parameters (``weight_ih`` (G*H, in), ``weight_hh`` (G*H, H),
``bias_ih``, ``bias_hh``), gate order (LSTM: i, f, g, o; GRU: r, z, n) and
initialisation (every parameter from U(-1/sqrt(H), 1/sqrt(H))).

A cell computes the step of the matching layer with the layer's own step function
(:mod:`chainrule.nn.layers_recurrent`: ``rnn_step``, ``gru_step``, and ``lstm_step``,
the LSTM primitive over one step), so a loop of cells and a layer agree.

>>> import chainrule as cr
>>> cell = cr.nn.LSTMCell(3, 5)
>>> x = cr.randn(7, 2, 3)  # 7 steps, batch of 2
>>> h, c = None, None
>>> for t in range(7):
...     h, c = cell(x[t], None if h is None else (h, c))
>>> h.shape, c.shape
((2, 5), (2, 5))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn.layers_linear import _empty
from chainrule.nn.layers_recurrent import (
    _ACTIVATIONS,
    _sum_bias,
    gru_step,
    init_recurrent_,
    lstm_step,
    rnn_step,
)
from chainrule.nn.module import Module
from chainrule.tensor import Tensor, as_tensor


class RNNCellBase(Module):
    """The parameters, checks and representation :class:`RNNCell`, :class:`LSTMCell`
    and :class:`GRUCell` share; ``num_chunks`` (PyTorch's name) is the number of
    gates G: 1, 4 or 3."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        for what, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name}: {what} must be a whole number > 0, got {value!r}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.bias = bias
        # PyTorch's registration order, hence its state-dict order and its draws.
        gate_size = num_chunks * hidden_size
        self.weight_ih = _empty((gate_size, input_size), dtype)
        self.weight_hh = _empty((gate_size, hidden_size), dtype)
        if bias:
            self.bias_ih = _empty((gate_size,), dtype)
            self.bias_hh = _empty((gate_size,), dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Any = None) -> None:
        init_recurrent_(self, self.hidden_size, generator)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        return s

    def _input(self, x: Any) -> tuple[Tensor, bool]:
        """``x`` as (N, input_size), and whether it came batched."""
        name = type(self).__name__
        x = x if isinstance(x, Tensor) else as_tensor(x)
        if x.ndim not in (1, 2):
            raise ValueError(
                f"{name}: expected an input of shape (batch, input_size) or (input_size,), "
                f"got {x.ndim} axes (shape {tuple(x.shape)})"
            )
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}(input_size={self.input_size}): the input's last axis is "
                f"{x.shape[-1]} (input shape {tuple(x.shape)})"
            )
        if x.dtype.kind != "f":
            raise TypeError(f"{name}: expected a floating-point input, got dtype {x.dtype}")
        batched = x.ndim == 2
        return (x if batched else x.reshape(1, self.input_size)), batched

    def _state(self, h: Any, x: Tensor, batched: bool, what: str) -> Tensor:
        """A state as (N, H): zeros when not given, else checked against the input."""
        batch = x.shape[0]
        if h is None:
            dtype = np.result_type(x.dtype, self.weight_ih.dtype)
            return as_tensor(np.zeros((batch, self.hidden_size), dtype=dtype))
        h = h if isinstance(h, Tensor) else as_tensor(h)
        want = (batch, self.hidden_size) if batched else (self.hidden_size,)
        if tuple(h.shape) != want:
            raise ValueError(
                f"{type(self).__name__}: expected {what} of shape {want} "
                f"({'batch, ' if batched else ''}hidden_size) for an input of shape "
                f"{tuple(x.shape) if batched else (x.shape[1],)}, got {tuple(h.shape)}"
            )
        return h if batched else h.reshape(1, self.hidden_size)


def _unbatch(h: Tensor, batched: bool) -> Tensor:
    return h if batched else h.reshape(h.shape[-1])


class RNNCell(RNNCellBase):
    """One Elman step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    ``forward(input, hx=None)``: input (N, input_size) or (input_size,), hx (N, H) or
    (H,) (zeros when None); returns h' shaped as hx.

    >>> import chainrule as cr
    >>> cell = cr.nn.RNNCell(4, 6, nonlinearity="relu")
    >>> cell(cr.randn(2, 4)).shape
    (2, 6)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        if nonlinearity not in _ACTIVATIONS:
            raise ValueError(
                f"RNNCell: nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}"
            )
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, dtype, generator)

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        x, batched = self._input(input)
        h = self._state(hx, x, batched, "hx")
        xproj = F.linear(x, self.weight_ih, _sum_bias(self.bias_ih, self.bias_hh))
        h = rnn_step(xproj, h, self.weight_hh, _ACTIVATIONS[self.nonlinearity])
        return _unbatch(h, batched)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        # PyTorch prints the name without quotes: RNNCell(3, 4, nonlinearity=relu)
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity}"


class LSTMCell(RNNCellBase):
    """One LSTM step, PyTorch's cell (gates i, f, g, o in that order)::

        i, f, o = sigmoid(.), g = tanh(.)   (each of x W_ih^T + b_ih + h W_hh^T + b_hh)
        c' = f c + i g,   h' = o tanh(c')

    ``forward(input, hx=None)`` with ``hx = (h, c)`` (zeros when None) returns
    ``(h', c')``, each (N, H), or (H,) for an unbatched (input_size,) input.

    >>> import chainrule as cr
    >>> cell = cr.nn.LSTMCell(4, 6)
    >>> h, c = cell(cr.randn(4))  # unbatched
    >>> h.shape, c.shape
    ((6,), (6,))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 4, dtype, generator)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        x, batched = self._input(input)
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, tuple | list) or len(hx) != 2:
            raise TypeError("LSTMCell: hx must be a pair (h, c)")
        h = self._state(hx[0], x, batched, "h")
        c = self._state(hx[1], x, batched, "c")
        xproj = F.linear(x, self.weight_ih, _sum_bias(self.bias_ih, self.bias_hh))
        h, c = lstm_step(xproj, h, c, self.weight_hh)
        return _unbatch(h, batched), _unbatch(c, batched)


class GRUCell(RNNCellBase):
    """One GRU step, PyTorch's cell (gates r, z, n in that order)::

        r, z = sigmoid(x W_i{r,z}^T + b_i{r,z} + h W_h{r,z}^T + b_h{r,z})
        n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)),   h' = (1 - z) n + z h

    ``forward(input, hx=None)`` returns h', shaped as :class:`RNNCell`'s.

    >>> import chainrule as cr
    >>> cell = cr.nn.GRUCell(4, 6)
    >>> cell(cr.randn(3, 4), cr.zeros(3, 6)).shape
    (3, 6)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, dtype, generator)

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        x, batched = self._input(input)
        h = self._state(hx, x, batched, "hx")
        xproj = F.linear(x, self.weight_ih, self.bias_ih)
        return _unbatch(gru_step(xproj, h, self.weight_hh, self.bias_hh), batched)
