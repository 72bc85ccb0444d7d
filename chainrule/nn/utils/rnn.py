"""Batches of sequences of different lengths, as PyTorch's ``torch.nn.utils.rnn``.

A *padded* batch is one ``(T, B, *)`` tensor (``(B, T, *)`` with ``batch_first``) and the
sequences' lengths; a *packed* one (:class:`PackedSequence`) holds only the real
steps, time-major: the first step of every sequence, then the second step of every
sequence that has one, and so on, sequences ordered by decreasing length.
``batch_sizes[t]`` says how many sequences have a step ``t``. ``nn.RNN``, ``nn.LSTM``
and ``nn.GRU`` take a packed batch and run each sequence for its own length only.

Each conversion is one gather (an integer index), so gradients flow back to the
padded tensor or to each sequence.

>>> import chainrule as cr
>>> from chainrule.nn.utils.rnn import pack_sequence, pad_packed_sequence
>>> packed = pack_sequence([cr.tensor([1.0, 2.0, 3.0]), cr.tensor([4.0, 5.0]), cr.tensor([6.0])])
>>> packed.data.tolist(), packed.batch_sizes.tolist()
([1.0, 4.0, 6.0, 2.0, 5.0, 3.0], [3, 2, 1])
>>> padded, lengths = pad_packed_sequence(packed, batch_first=True)
>>> padded.tolist(), lengths.tolist()
([[1.0, 2.0, 3.0], [4.0, 5.0, 0.0], [6.0, 0.0, 0.0]], [3, 2, 1])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

import chainrule.functions as _f
from chainrule.tensor import Tensor, as_tensor

__all__ = [
    "PackedSequence",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
]


def _indices(values: Any) -> Tensor:
    """An int64 tensor that carries no gradient (sizes, permutations, lengths)."""
    return Tensor(np.asarray(values, dtype=np.int64))


def _int_array(values: Any, what: str, name: str) -> np.ndarray:
    """``values`` (a list, an array or a Tensor) as a 1-D int64 array; whole-valued
    floats pass, fractions are refused rather than truncated."""
    arr = np.asarray(values.data if isinstance(values, Tensor) else values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: {what} must be 1-D (one per sequence), got shape {arr.shape}")
    if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: {what} must be whole numbers, got {arr.tolist()}")
    return arr.astype(np.int64)


class _Fields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_Fields):
    """A batch of sequences with only their real steps, as PyTorch's (a named tuple).

    ``data`` ``(sum of lengths, *)``: the steps, time-major, sequences by decreasing
    length; ``batch_sizes`` (int64, one per step): how many sequences have that step;
    ``sorted_indices``: the original position of each sequence in that order (None
    when the batch came sorted); ``unsorted_indices``: its inverse. Made by
    :func:`pack_padded_sequence` or :func:`pack_sequence`.
    """

    __slots__ = ()

    def __new__(
        cls,
        data: Any,
        batch_sizes: Any = None,
        sorted_indices: Any = None,
        unsorted_indices: Any = None,
    ) -> PackedSequence:
        if batch_sizes is None:
            raise TypeError("PackedSequence: batch_sizes is required (use pack_padded_sequence)")
        data = data if isinstance(data, Tensor) else as_tensor(data)
        sizes = _int_array(batch_sizes, "batch_sizes", "PackedSequence")
        if sizes.size == 0 or sizes.min() <= 0 or np.any(np.diff(sizes) > 0):
            raise ValueError(
                f"PackedSequence: batch_sizes must be positive and non-increasing, got "
                f"{sizes.tolist()}"
            )
        if data.ndim == 0 or data.shape[0] != sizes.sum():
            raise ValueError(
                f"PackedSequence: data has {data.shape[0] if data.ndim else 0} rows but "
                f"batch_sizes add up to {sizes.sum()}"
            )
        if sorted_indices is not None:
            order = _int_array(sorted_indices, "sorted_indices", "PackedSequence")
            if sorted(order.tolist()) != list(range(sizes[0])):
                raise ValueError(
                    f"PackedSequence: sorted_indices must be a permutation of "
                    f"0..{sizes[0] - 1}, got {order.tolist()}"
                )
            sorted_indices = _indices(order)
            if unsorted_indices is None:
                unsorted_indices = _indices(np.argsort(order))
        if unsorted_indices is not None:
            unsorted_indices = _indices(
                _int_array(unsorted_indices, "unsorted_indices", "PackedSequence")
            )
        return super().__new__(cls, data, _indices(sizes), sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """The same batch with ``data.to(*args, **kwargs)`` (a dtype or ``"cpu"``)."""
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else type(self)(data, *self[1:])

    def double(self) -> PackedSequence:
        """The same batch with float64 data."""
        return self.to(np.float64)

    def float(self) -> PackedSequence:
        """The same batch with float32 data."""
        return self.to(np.float32)


def pad_sequence(
    sequences: Iterable[Any],
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stack sequences of shapes ``(L_i, *)`` into one ``(T, B, *)`` tensor, T the longest
    L_i (``(B, T, *)`` with ``batch_first``), filling with ``padding_value`` after each
    sequence (``padding_side="left"``: before it).

    >>> import chainrule as cr
    >>> seqs = [cr.tensor([1.0, 2.0, 3.0]), cr.tensor([4.0])]
    >>> pad_sequence(seqs, batch_first=True, padding_value=-1.0).tolist()
    [[1.0, 2.0, 3.0], [4.0, -1.0, -1.0]]
    """
    seqs = [s if isinstance(s, Tensor) else as_tensor(s) for s in sequences]
    if not seqs:
        raise ValueError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise ValueError(
            f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}"
        )
    trailing = {tuple(s.shape[1:]) for s in seqs if s.ndim}
    if any(s.ndim == 0 for s in seqs) or len(trailing) != 1:
        raise ValueError(
            "pad_sequence: every sequence needs shape (length, *) with the same trailing "
            f"shape *, got shapes {[tuple(s.shape) for s in seqs]}"
        )
    lengths = np.array([s.shape[0] for s in seqs], dtype=np.int64)
    steps, batch, total = int(lengths.max()), len(seqs), int(lengths.sum())
    # All sequences one after the other, then one padding row; then one gather.
    dtype = np.result_type(*(s.dtype for s in seqs))
    pad = np.full((1, *trailing.pop()), padding_value, dtype=dtype)
    flat = _f.concatenate([*seqs, pad], axis=0)
    index = np.full((steps, batch), total, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for j, (start, length) in enumerate(zip(starts, lengths)):
        first = 0 if padding_side == "right" else steps - length
        index[first : first + length, j] = np.arange(start, start + length)
    return _f.getitem(flat, index.T if batch_first else index)


def pack_padded_sequence(
    input: Any,
    lengths: Any,
    batch_first: bool = False,
    enforce_sorted: bool = True,
) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) whose sequence
    ``j`` has ``lengths[j]`` real steps. With ``enforce_sorted`` the lengths must be
    non-increasing; otherwise the batch is sorted here and the order is kept in
    ``sorted_indices`` (PyTorch's sort: stable, longest first).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> x = cr.tensor(np.arange(6.0).reshape(3, 2))  # 3 steps of 2 sequences
    >>> p = pack_padded_sequence(x, [1, 3], enforce_sorted=False)
    >>> p.data.tolist(), p.batch_sizes.tolist(), p.sorted_indices.tolist()
    ([1.0, 0.0, 3.0, 5.0], [2, 1, 1], [1, 0])
    """
    name = "pack_padded_sequence"
    x = input if isinstance(input, Tensor) else as_tensor(input)
    if x.ndim < 2:
        raise ValueError(
            f"{name}: expected a padded batch of at least 2 axes ((T, B, *), or (B, T, *) "
            f"with batch_first), got shape {tuple(x.shape)}"
        )
    lengths = _int_array(lengths, "lengths", name)
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    if lengths.size != batch:
        raise ValueError(
            f"{name}: expected one length per sequence, {batch}, got {lengths.size} "
            f"(input shape {tuple(x.shape)}, batch_first={batch_first})"
        )
    if lengths.min() <= 0:
        raise ValueError(
            f"{name}: every length must be > 0 (an empty sequence cannot be packed), "
            f"got {lengths.tolist()}"
        )
    if lengths.max() > steps:
        raise ValueError(
            f"{name}: a length of {lengths.max()} is longer than the padded batch's "
            f"{steps} steps (input shape {tuple(x.shape)}, batch_first={batch_first})"
        )
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(
                f"{name}: lengths must be sorted in decreasing order when "
                f"enforce_sorted=True, got {lengths.tolist()}; pass enforce_sorted=False "
                "to have them sorted here"
            )
        order = np.arange(batch)
        sorted_indices = None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = order
    sorted_lengths = lengths[order]
    # Step t of the j-th longest sequence, for every (t, j) that exists, in the
    # packed order: np.nonzero walks the (T, B) mask row by row.
    present = np.arange(sorted_lengths[0])[:, None] < sorted_lengths[None, :]
    t, j = np.nonzero(present)
    index = (order[j], t) if batch_first else (t, order[j])
    return PackedSequence(_f.getitem(x, index), present.sum(axis=1), sorted_indices)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Undo :func:`pack_padded_sequence`: ``(padded, lengths)``, the padded batch
    ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) in the original order, T the longest
    length or ``total_length``, and the lengths (int64)."""
    name = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{name}: expected a PackedSequence, got {type(sequence).__name__}")
    data = sequence.data
    sizes = sequence.batch_sizes.data
    longest, batch = sizes.size, int(sizes[0])
    steps = longest
    if total_length is not None:
        if total_length < longest:
            raise ValueError(
                f"{name}: total_length={total_length} is shorter than the longest "
                f"sequence, {longest} steps"
            )
        steps = int(total_length)
    sorted_lengths = (sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)
    # Each (t, j) of the padded batch points to its packed row, or to one padding row
    # after the data.
    rows = data.shape[0]
    index = np.full((steps, batch), rows, dtype=np.int64)
    index[np.arange(steps)[:, None] < sorted_lengths[None, :]] = np.arange(rows)
    lengths = sorted_lengths
    if sequence.unsorted_indices is not None:
        unsorted = sequence.unsorted_indices.data
        index, lengths = index[:, unsorted], sorted_lengths[unsorted]
    pad = np.full((1, *data.shape[1:]), padding_value, dtype=data.dtype)
    padded = _f.getitem(_f.concatenate([data, pad], axis=0), index.T if batch_first else index)
    return padded, _indices(lengths)


def pack_sequence(sequences: Iterable[Any], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences ``(L_i, *)`` (longest first with ``enforce_sorted``):
    ``pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=...)``."""
    seqs = [s if isinstance(s, Tensor) else as_tensor(s) for s in sequences]
    padded = pad_sequence(seqs)
    lengths = [s.shape[0] for s in seqs]
    return pack_padded_sequence(padded, lengths, enforce_sorted=enforce_sorted)
