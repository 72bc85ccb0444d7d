"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU``, with PyTorch's arguments, weight
layout, state-dict keys (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...), gate order
(LSTM: i, f, g, o; GRU: r, z, n) and initialisation (every weight and bias from
U(-1/sqrt(H), 1/sqrt(H))).

Each layer and direction projects the inputs of all time steps with one GEMM
before its loop; each step then makes one GEMM for all its gates. The LSTM's loop
is one primitive (:mod:`chainrule.ops.recurrent`); RNN and GRU steps are composed.
The step functions (``rnn_step``, ``gru_step``, ``lstm_step``) serve the cells of
:mod:`chainrule.nn.layers_recurrent_cells` too; a packed input runs through
:mod:`chainrule.nn.recurrent_packed`.

>>> import numpy as np
>>> import chainrule as cr
>>> _ = cr.nn.manual_seed(0)
>>> lstm = cr.nn.LSTM(input_size=3, hidden_size=5, batch_first=True)
>>> out, (h, c) = lstm(cr.tensor(np.ones((2, 7, 3), dtype=np.float32)))
>>> out.shape, h.shape, c.shape
((2, 7, 5), (1, 2, 5), (1, 2, 5))
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule import conv_backend
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.layers_linear import _empty
from chainrule.nn.module import Module
from chainrule.nn.recurrent_packed import run_packed
from chainrule.nn.utils.rnn import PackedSequence
from chainrule.ops import recurrent_fused_loop as _loop
from chainrule.ops.recurrent import lstm_layer
from chainrule.ops.recurrent_fused import lstm_fused
from chainrule.tensor import Tensor, as_tensor

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def init_recurrent_(module: Module, hidden_size: int, generator: Any = None) -> None:
    """PyTorch's initialisation of recurrent layers and cells: every parameter, weight
    or bias, from U(-1/sqrt(H), 1/sqrt(H)), drawn in the order they were registered."""
    bound = 1.0 / math.sqrt(hidden_size)
    for p in module.parameters():
        init.uniform_(p, -bound, bound, generator)


class RNNBase(Module):
    """The shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU`."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if (
            isinstance(proj_size, bool)
            or not isinstance(proj_size, int | np.integer)
            or proj_size < 0
        ):
            raise ValueError(f"{name}: proj_size must be a whole number >= 0, got {proj_size!r}")
        if proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size is only supported for LSTM, not RNN or GRU")
        if proj_size and proj_size >= hidden_size:
            raise ValueError(
                f"{name}: proj_size ({proj_size}) has to be smaller than hidden_size "
                f"({hidden_size})"
            )
        for what, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name}: {what} must be a whole number > 0, got {value!r}")
        if not isinstance(num_layers, int | np.integer) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a whole number > 0, got {num_layers!r}")
        if isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{name}: dropout={dropout} acts between layers only, so it does nothing "
                "with num_layers=1",
                stacklevel=2,
            )
        self.mode = mode
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = int(proj_size)
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        # With proj_size, h (the output, and what the recurrence multiplies) is the
        # projection W_hr (o tanh(c)) of P numbers; c keeps H.
        out_size = self.proj_size or hidden_size
        # Registered in PyTorch's order (layer, direction, then w_ih, w_hh, b_ih, b_hh),
        # so the state dict and the initialisation's draws follow its order too.
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else out_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [
                    ("weight_ih", (gate_size, layer_input)),
                    ("weight_hh", (gate_size, out_size)),
                ]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if self.proj_size:
                    shapes.append(("weight_hr", (self.proj_size, hidden_size)))
                for kind, shape in shapes:
                    setattr(self, kind + suffix, _empty(shape, dtype))
                    self._flat_weights_names.append(kind + suffix)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Any = None) -> None:
        init_recurrent_(self, self.hidden_size, generator)

    def flatten_parameters(self) -> None:
        """Does nothing: PyTorch packs weights for cuDNN here; chainrule has no need."""

    def _weights(self, layer: int, direction: int) -> tuple[Any, ...]:
        """(w_ih, w_hh, b_ih, b_hh), and w_hr when the LSTM projects."""
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        get = self.__dict__.get
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        names += ("weight_hr",) if self.proj_size else ()
        return tuple(get(n + suffix) for n in names)

    # ---------------------------------------------------------------- checks
    def _check_input(self, x: Tensor) -> bool:
        """Whether ``x`` is batched; raises on a wrong shape."""
        name = type(self).__name__
        if x.ndim not in (2, 3):
            raise ValueError(
                f"{name}: expected an input with 2 (unbatched) or 3 axes, got shape {x.shape}"
            )
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}(input_size={self.input_size}): the input's last axis is "
                f"{x.shape[-1]} (input shape {x.shape})"
            )
        if x.dtype.kind != "f":
            raise TypeError(f"{name}: expected a floating-point input, got dtype {x.dtype}")
        steps = x.shape[1 if self.batch_first and x.ndim == 3 else 0]
        if steps == 0:
            raise ValueError(f"{name}: the input has no time steps (shape {x.shape})")
        return x.ndim == 3

    def _state(self, h: Any, batch: int, batched: bool, dtype: Any, what: str) -> Tensor:
        """An initial state as (layers * directions, N, H) (N, P for an LSTM's h with
        proj_size); zeros when not given."""
        layers = self.num_layers * (2 if self.bidirectional else 1)
        projected = self.proj_size and what == "h0"
        size = self.proj_size if projected else self.hidden_size
        if h is None:
            return as_tensor(np.zeros((layers, batch, size), dtype=dtype))
        h = h if isinstance(h, Tensor) else as_tensor(h)
        want = (layers, batch, size) if batched else (layers, size)
        if tuple(h.shape) != want:
            width = "proj_size" if projected else "hidden_size"
            raise ValueError(
                f"{type(self).__name__}: expected {what} of shape {want} (num_layers * "
                f"num_directions, {'batch, ' if batched else ''}{width}), got {tuple(h.shape)}"
            )
        return h if batched else h.reshape(layers, 1, size)

    # ---------------------------------------------------------------- forward
    def _run(self, x: Any, states: list[Any]) -> tuple[Tensor, list[list[Tensor]]]:
        """``x`` as (L, N, C); ``states`` one (layers * directions, N, H) per kind of
        state (h; or h and c). Returns the output and the final states, per kind."""
        if isinstance(x, PackedSequence):
            return run_packed(self, x, states)
        x = x if isinstance(x, Tensor) else as_tensor(x)
        batched = self._check_input(x)
        if not batched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
        elif self.batch_first:
            x = x.swapaxes(0, 1)
        batch = x.shape[1]
        dtype = np.result_type(x.dtype, self.weight_ih_l0.dtype)
        names = ("h0", "c0")
        inits = [self._state(s, batch, batched, dtype, names[k]) for k, s in enumerate(states)]
        directions = 2 if self.bidirectional else 1
        finals: list[list[Tensor]] = [[] for _ in states]
        for layer in range(self.num_layers):
            outs = []
            for direction in range(directions):
                k = layer * directions + direction
                seq = x if direction == 0 else x[::-1]
                out, last = self._layer(
                    seq, [s[k] for s in inits], *self._weights(layer, direction)
                )
                outs.append(out if direction == 0 else out[::-1])
                for kind, value in zip(finals, last):
                    kind.append(value)
            x = outs[0] if directions == 1 else _f.concatenate(outs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        if not batched:
            x = x.reshape(x.shape[0], x.shape[2])
        elif self.batch_first:
            x = x.swapaxes(0, 1)
        stacked = []
        for kind in finals:
            s = _f.stack(kind, axis=0)
            stacked.append(s if batched else s.reshape(s.shape[0], s.shape[2]))
        return x, stacked

    def _layer(self, seq, state, w_ih, w_hh, b_ih, b_hh):  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


def _sum_bias(b_ih: Any, b_hh: Any) -> Any:
    return None if b_ih is None else b_ih + b_hh


# ------------------------------------------------------------------ one step
# The step formulas the layers' loops and the cells (layers_recurrent_cells) share.
_ACTIVATIONS = {"tanh": _f.tanh, "relu": _f.relu}


def rnn_step(xproj_t: Any, h: Any, w_hh: Any, act: Any) -> Tensor:
    """One Elman step: ``act(x_t W_ih^T + b_ih + b_hh + h W_hh^T)``, the input's part
    ``xproj_t`` (N, H) computed beforehand."""
    return act(F.linear(h, w_hh, xproj_t))


def gru_step(xproj_t: Any, h: Any, w_hh: Any, b_hh: Any) -> Tensor:
    """One GRU step (PyTorch's gates r, z, n) from the input's part ``xproj_t =
    x_t W_ih^T + b_ih`` (N, 3H): ``b_hh``'s n rows sit inside ``r * (...)``, so the
    two biases cannot be summed beforehand as the RNN's and LSTM's are."""
    hidden = h.shape[-1]
    hh = F.linear(h, w_hh, b_hh)
    rz = _f.sigmoid(xproj_t[:, : 2 * hidden] + hh[:, : 2 * hidden])
    n = _f.tanh(xproj_t[:, 2 * hidden :] + rz[:, :hidden] * hh[:, 2 * hidden :])
    return n + rz[:, hidden:] * (h - n)


def lstm_step(xproj_t: Any, h: Any, c: Any, w_hh: Any) -> tuple[Tensor, Tensor]:
    """One LSTM step, by the layer's own primitive (``lstm_layer`` over one step), from
    the input's part ``xproj_t = x_t W_ih^T + b_ih + b_hh`` (N, 4H): ``(h', c')``."""
    hidden = h.shape[-1]
    hc = lstm_layer(xproj_t.reshape(1, *xproj_t.shape), h, c, w_hh)[0]
    return hc[:, :hidden], hc[:, hidden:]


def _projected_lstm(seq, h, c, w_ih, w_hh, bias, w_hr):
    """An LSTM layer with PyTorch's projections (proj_size): each step's
    h_t = W_hr (o tanh(c_t)), of P numbers, is the output and what the next step's
    gates multiply by W_hh (4H, P). Composed step by step (the lstm_layer primitive
    keeps h and c of one size)."""
    xproj = F.linear(seq, w_ih, bias)
    hidden = c.shape[-1]
    hs = []
    for t in range(seq.shape[0]):
        gates = xproj[t] + F.linear(h, w_hh)
        i = _f.sigmoid(gates[:, :hidden])
        f = _f.sigmoid(gates[:, hidden : 2 * hidden])
        g = _f.tanh(gates[:, 2 * hidden : 3 * hidden])
        o = _f.sigmoid(gates[:, 3 * hidden :])
        c = f * c + i * g
        h = F.linear(o * _f.tanh(c), w_hr)
        hs.append(h)
    return _f.stack(hs, axis=0), [h, c]


def _fused_lstm(seq, h0, c0, w_ih, w_hh, bias):
    """A layer by :func:`~chainrule.ops.recurrent_fused.lstm_fused` (one oneDNN call
    each way): its packed (T+1, N, H) output is the h sequence, then the last c."""
    if bias is None:
        bias = np.zeros(w_hh.shape[0], dtype=np.result_type(w_hh.dtype, seq.dtype))
    packed = lstm_fused(seq, h0, c0, w_ih, w_hh, bias)
    steps = seq.shape[0]
    return packed[:steps], [packed[steps - 1], packed[steps]]


def _gate_inputs(seq: Any, w_ih: Any, bias: Any) -> Any:
    """Every step's gate inputs ``x_t W_ih^T + b``, (L, N, 4H), as a view of a
    (L, 4H, N) array: the layout lstm_layer's loop works in (each gate a contiguous
    block), which it then reads without a transposing copy, and in which its
    gradient comes back (W_ih's gradient is then one batched GEMM, no copy)."""
    seq_t = seq.swapaxes(1, 2)  # (L, C, N)
    if bias is not None:
        # The bias as one more column of W_ih against a row of ones: adding a (4H, 1)
        # column to (L, 4H, N) costs more than the whole GEMM, and summing its
        # gradient back over (L, N) as much again.
        steps, _, batch = seq_t.shape
        w_ih = _f.concatenate([w_ih, bias.reshape(-1, 1)], axis=1)
        ones = np.ones((steps, 1, batch), dtype=np.result_type(seq_t.dtype, bias.dtype))
        seq_t = _f.concatenate([seq_t, ones], axis=1)
    return _f.matmul(w_ih, seq_t).swapaxes(1, 2)


class RNN(RNNBase):
    """An Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu).

    ``forward(input, hx=None)`` returns ``(output, h_n)``: output (L, N, D*H)
    ((N, L, D*H) with ``batch_first``), h_n (num_layers*D, N, H). Every layer also
    takes a :class:`~chainrule.nn.utils.rnn.PackedSequence` and returns one (each
    sequence run for its own length; :mod:`chainrule.nn.recurrent_packed`).

    >>> import chainrule as cr
    >>> rnn = cr.nn.RNN(4, 6, nonlinearity="relu")
    >>> out, h = rnn(cr.randn(7, 2, 4))  # 7 steps, batch of 2
    >>> out.shape, h.shape
    ((7, 2, 6), (1, 2, 6))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            dtype=dtype,
            generator=generator,
        )

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        out, (h,) = self._run(input, [hx])
        return out, h

    def _layer(self, seq, state, w_ih, w_hh, b_ih, b_hh):
        (h,) = state
        act = _ACTIVATIONS[self.nonlinearity]
        xproj = F.linear(seq, w_ih, _sum_bias(b_ih, b_hh))
        hs = []
        for t in range(seq.shape[0]):
            h = rnn_step(xproj[t], h, w_hh, act)
            hs.append(h)
        return _f.stack(hs, axis=0), [h]

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + ", nonlinearity='relu'"


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's cell (gates i, f, g, o in that order)::

        i, f, o = sigmoid(.), g = tanh(.)   (each of x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
        c_t = f c_{t-1} + i g,   h_t = o tanh(c_t)

    ``forward(input, hx=None)`` with ``hx = (h_0, c_0)`` returns
    ``(output, (h_n, c_n))``, shaped as :class:`RNN`'s.

    >>> import chainrule as cr
    >>> lstm = cr.nn.LSTM(28, 64, batch_first=True)  # 28 inputs per step, 64 hidden
    >>> out, (h, c) = lstm(cr.randn(8, 28, 28))  # 8 sequences of 28 steps
    >>> out.shape, h.shape, c.shape  # every step's h; the last h and c per layer
    ((8, 28, 64), (1, 8, 64), (1, 8, 64))
    >>> sorted(lstm.state_dict())  # PyTorch's keys
    ['bias_hh_l0', 'bias_ih_l0', 'weight_hh_l0', 'weight_ih_l0']
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            dtype,
            generator,
        )

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, tuple | list) or len(hx) != 2:
            raise TypeError("LSTM: hx must be a pair (h_0, c_0)")
        out, (h, c) = self._run(input, list(hx))
        return out, (h, c)

    def _layer(self, seq, state, w_ih, w_hh, b_ih, b_hh, w_hr=None):
        h0, c0 = state
        if w_hr is not None:
            return _projected_lstm(seq, h0, c0, w_ih, w_hh, _sum_bias(b_ih, b_hh), w_hr)
        # lstm_fused: oneDNN's fused LSTM with the onednn backend (float32; else
        # NumPy's, the same); on float32 with the compiled kernels, their loop
        # (recurrent_fused_loop), where x's projection is folded in.
        arrays = (seq, h0, c0, w_ih, w_hh)
        if conv_backend._usable() or _loop.serves(*(a.dtype for a in arrays)):
            return _fused_lstm(seq, h0, c0, w_ih, w_hh, _sum_bias(b_ih, b_hh))
        hidden = self.hidden_size
        ys = lstm_layer(_gate_inputs(seq, w_ih, _sum_bias(b_ih, b_hh)), h0, c0, w_hh)
        last = ys[-1]
        return ys[..., :hidden], [last[:, :hidden], last[:, hidden:]]


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's cell (gates r, z, n in that order)::

        r, z = sigmoid(x W_i{r,z}^T + b_i{r,z} + h W_h{r,z}^T + b_h{r,z})
        n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)),   h' = (1 - z) n + z h

    ``forward(input, hx=None)`` returns ``(output, h_n)``, shaped as :class:`RNN`'s.

    >>> import chainrule as cr
    >>> gru = cr.nn.GRU(10, 20, num_layers=2, bidirectional=True)  # (L, N, features) in
    >>> out, h = gru(cr.randn(5, 3, 10))
    >>> out.shape, h.shape  # both directions side by side; h per layer and direction
    ((5, 3, 40), (4, 3, 20))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            dtype=dtype,
            generator=generator,
        )

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        out, (h,) = self._run(input, [hx])
        return out, h

    def _layer(self, seq, state, w_ih, w_hh, b_ih, b_hh):
        (h,) = state
        xproj = F.linear(seq, w_ih, b_ih)
        hs = []
        for t in range(seq.shape[0]):
            h = gru_step(xproj[t], h, w_hh, b_hh)
            hs.append(h)
        return _f.stack(hs, axis=0), [h]
