"""``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` over a :class:`PackedSequence`.

A packed batch is sorted longest first, so the sequences that have a step ``t`` are
always the first ``batch_sizes[t]`` ones. The steps therefore fall into *segments*,
runs of steps with the same batch size, and within a segment the rows of ``data``
are one (steps, batch, features) block. Each segment is run by the layer's own
``_layer`` (the LSTM's primitive, the composed RNN and GRU steps), so the packed
path computes with the very formulas of the padded one:

- forward in time, a segment starts from the states the previous one ended with;
  where the batch shrinks, the sequences that ended keep their last states as
  their final ones;
- backward in time (the reverse direction), the segments run last to first, and
  where the batch grows, the sequences that start there (at their own last step)
  join with their initial states.

There are as many segments as distinct lengths, each a loop of its own. The LSTM's
primitive is fastest over long loops, so with many distinct lengths this path is
the slower one for the LSTM (measured about 2x the padded batch with 20 distinct
lengths in 28 steps); the composed RNN and GRU steps skip the padding here and
were faster than padded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule.nn import functional as F
from chainrule.nn.utils.rnn import PackedSequence
from chainrule.tensor import Tensor


def _segments(sizes: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """(first step, end step, first row, end row, batch size) of each run of steps
    that share one batch size."""
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    starts = [0, *(np.flatnonzero(np.diff(sizes)) + 1).tolist()]
    ends = [*starts[1:], sizes.size]
    return [(a, b, int(offsets[a]), int(offsets[b]), int(sizes[a])) for a, b in zip(starts, ends)]


def _forward(layer, x, segments, inits, weights):
    """One direction, forward in time: the output rows and the final states."""
    state, ended = list(inits), [[] for _ in inits]
    outs = []
    for t0, t1, r0, r1, batch in segments:
        if batch < state[0].shape[0]:  # these sequences ended with the last segment
            for kind, s in enumerate(state):
                ended[kind].append(s[batch:])
                state[kind] = s[:batch]
        seq = x[r0:r1].reshape(t1 - t0, batch, x.shape[-1])
        out, state = layer(seq, state, *weights)
        outs.append(out.reshape(r1 - r0, out.shape[-1]))
    finals = [_f.concatenate([s, *reversed(e)], axis=0) if e else s for s, e in zip(state, ended)]
    return outs, finals


def _backward(layer, x, segments, inits, weights):
    """One direction, backward in time: each sequence starts at its own last step."""
    last_batch = segments[-1][-1]
    state = [s[:last_batch] for s in inits]
    outs = []
    for t0, t1, r0, r1, batch in reversed(segments):
        have = state[0].shape[0]
        if batch > have:  # these sequences start here, at their last step
            state = [_f.concatenate([s, s0[have:batch]], axis=0) for s, s0 in zip(state, inits)]
        seq = x[r0:r1].reshape(t1 - t0, batch, x.shape[-1])[::-1]
        out, state = layer(seq, state, *weights)
        outs.append(out[::-1].reshape(r1 - r0, out.shape[-1]))
    return outs[::-1], state


def run_packed(
    module: Any, packed: PackedSequence, states: list[Any]
) -> tuple[PackedSequence, list[Tensor]]:
    """``module._run`` for a packed input: ``(packed output, final states)``, the
    states (layers * directions, N, H) in the batch's original order."""
    name = type(module).__name__
    x = packed.data
    if x.ndim != 2 or x.shape[-1] != module.input_size:
        raise ValueError(
            f"{name}(input_size={module.input_size}): a packed input's data must be "
            f"(total steps, {module.input_size}), got shape {tuple(x.shape)}"
        )
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point input, got dtype {x.dtype}")
    sizes = packed.batch_sizes.data
    batch = int(sizes[0])
    dtype = np.result_type(x.dtype, module.weight_ih_l0.dtype)
    names = ("h0", "c0")
    inits = []
    for k, s in enumerate(states):
        given = s is not None
        s = module._state(s, batch, True, dtype, names[k])
        # PyTorch takes hx in the batch's original order and runs in the sorted one.
        if given and packed.sorted_indices is not None:
            s = s[:, packed.sorted_indices.data]
        inits.append(s)
    segments = _segments(sizes)
    directions = 2 if module.bidirectional else 1
    finals: list[list[Tensor]] = [[] for _ in states]
    for layer in range(module.num_layers):
        outs = []
        for direction in range(directions):
            k = layer * directions + direction
            run = _backward if direction else _forward
            pieces, last = run(
                module._layer,
                x,
                segments,
                [s[k] for s in inits],
                module._weights(layer, direction),
            )
            outs.append(_f.concatenate(pieces, axis=0) if len(pieces) > 1 else pieces[0])
            for kind, value in zip(finals, last):
                kind.append(value)
        x = outs[0] if directions == 1 else _f.concatenate(outs, axis=-1)
        if module.dropout and module.training and layer < module.num_layers - 1:
            x = F.dropout(x, module.dropout, True)
    stacked = [_f.stack(kind, axis=0) for kind in finals]
    if packed.unsorted_indices is not None:
        stacked = [s[:, packed.unsorted_indices.data] for s in stacked]
    out = PackedSequence(x, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    return out, stacked
