"""More of ``torch.nn.functional``, each a composition of differentiable operations
(so every derivative comes from the table of primitive rules): ``rms_norm``,
``bilinear``, ``conv_transpose1d`` (the 2-D one on a height-1 image),
``channel_shuffle``, ``gumbel_softmax`` and ``pdist``, with PyTorch 2.13's arguments,
defaults and errors.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule.nn.functional_conv import _tuple, conv_transpose2d
from chainrule.nn.functional_noise import draw_like
from chainrule.nn.rng import as_generator
from chainrule.tensor import Tensor, as_tensor
from chainrule.torch_functions import norm as _norm

__all__ = [
    "bilinear",
    "channel_shuffle",
    "conv_transpose1d",
    "gumbel_softmax",
    "pdist",
    "rms_norm",
]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _shape_of(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if isinstance(x, Tensor) else tuple(np.shape(x))


def rms_norm(
    input: Any,
    normalized_shape: int | Sequence[int],
    weight: Any = None,
    eps: float | None = None,
) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over the last ``len(normalized_shape)`` axes, times
    ``weight``. ``eps=None`` is the machine epsilon of the input's dtype (float32's
    for float16), as PyTorch's.

    >>> import chainrule as cr
    >>> cr.nn.functional.rms_norm(cr.tensor([[3.0, 4.0]]), [2], eps=0.0)
    tensor([[0.84852815, 1.1313709 ]])
    """
    x = _t(input)
    ns = (
        (int(normalized_shape),)
        if isinstance(normalized_shape, int | np.integer)
        else tuple(int(n) for n in normalized_shape)
    )
    if tuple(x.shape[x.ndim - len(ns) :]) != ns or len(ns) > x.ndim:
        raise ValueError(
            f"rms_norm: given normalized_shape={list(ns)}, expected an input of shape "
            f"[*, {', '.join(map(str, ns))}], got {list(x.shape)}"
        )
    if weight is not None and _shape_of(weight) != ns:
        raise ValueError(
            f"rms_norm: the weight's shape {_shape_of(weight)} must equal normalized_shape {ns}"
        )
    if x.dtype.kind != "f":
        raise TypeError(f"rms_norm: expected a floating-point input, got dtype {x.dtype}")
    if eps is None:  # PyTorch computes half precision in float32, and takes its epsilon
        eps = float(np.finfo(np.float64 if x.dtype == np.float64 else np.float32).eps)
    axes = tuple(range(x.ndim - len(ns), x.ndim))
    out = x / _f.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
    return out if weight is None else out * weight


def bilinear(input1: Any, input2: Any, weight: Any, bias: Any = None) -> Tensor:
    """y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o].

    ``weight`` is (out, in1, in2); ``input1`` (..., in1) and ``input2`` (..., in2) share
    their leading axes.

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.bilinear(np.ones((2, 3)), np.ones((2, 4)), np.ones((5, 3, 4))).shape
    (2, 5)
    """
    a, b, w = _t(input1), _t(input2), _t(weight)
    if w.ndim != 3:
        raise ValueError(f"bilinear(): weight must be 3-D (out, in1, in2), got {w.shape}")
    if a.ndim != b.ndim or a.shape[:-1] != b.shape[:-1] or a.ndim == 0:
        raise ValueError(
            f"bilinear(): input1 {a.shape} and input2 {b.shape} must share their batch "
            f"dimensions (all but the last)"
        )
    out_f, in1, in2 = w.shape
    if a.shape[-1] != in1:
        raise ValueError(
            f"bilinear(): input1 size does not match weight size: got {a.shape[-1]} but "
            f"expected {in1}"
        )
    if b.shape[-1] != in2:
        raise ValueError(
            f"bilinear(): input2 size does not match weight size: got {b.shape[-1]} but "
            f"expected {in2}"
        )
    if bias is not None and _shape_of(bias) != (out_f,):
        raise ValueError(
            f"bilinear(): bias size does not match weight size: got {_shape_of(bias)} but "
            f"expected ({out_f},)"
        )
    batch = a.shape[:-1]
    rows = a.reshape(-1, in1)
    # input1 against every (out, in2) slice in one matrix product, then the dot with input2.
    left = (rows @ w.transpose(1, 0, 2).reshape(in1, out_f * in2)).reshape(-1, out_f, in2)
    out = (left * b.reshape(-1, 1, in2)).sum(axis=-1).reshape(*batch, out_f)
    return out if bias is None else out + bias


def conv_transpose1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
) -> Tensor:
    """Transposed 1-D convolution of an (N, C_in, L) or (C_in, L) input: ``conv_transpose2d``
    on a height-1 image. ``weight`` is (C_in, C_out / groups, k); the output length is
    (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.conv_transpose1d(np.ones((1, 1, 3)), np.ones((1, 1, 2)), stride=2).numpy()
    array([[[1., 1., 1., 1., 1., 1.]]])
    """
    name = "conv_transpose1d"
    x, w = _t(input), _t(weight)
    if x.ndim not in (2, 3) or w.ndim != 3:
        raise ValueError(
            f"{name}: expected an input of shape (N, C_in, L) or (C_in, L) and a weight of "
            f"shape (C_in, C_out/groups, k); got {x.shape} and {w.shape}"
        )
    (s,), (p,) = _tuple(stride, 1, "stride", name), _tuple(padding, 1, "padding", name)
    (op,), (d,) = (
        _tuple(output_padding, 1, "output_padding", name),
        _tuple(dilation, 1, "dilation", name),
    )
    # Said here in 1-D terms; conv_transpose2d would name its height-1 image instead.
    cin = x.shape[-2]
    if groups < 1 or cin % groups or w.shape[0] != cin:
        raise ValueError(
            f"{name}: the input has {cin} channels; the weight's first axis must equal it "
            f"and groups={groups} must divide it (weight shape {w.shape}, input shape "
            f"{x.shape})"
        )
    if s < 1 or d < 1 or p < 0 or not 0 <= op < max(s, d):
        raise ValueError(
            f"{name}: stride and dilation must be positive, padding non-negative and "
            f"output_padding smaller than stride or dilation; got stride={s}, "
            f"padding={p}, output_padding={op}, dilation={d}"
        )
    length = (x.shape[-1] - 1) * s - 2 * p + d * (w.shape[-1] - 1) + op + 1
    if length <= 0:
        raise ValueError(
            f"{name}: the output would have length {length} (input length {x.shape[-1]}, "
            f"kernel {w.shape[-1]}, stride {s}, padding {p}, dilation {d})"
        )
    out = conv_transpose2d(
        x.reshape(*x.shape[:-1], 1, x.shape[-1]),
        w.reshape(w.shape[0], w.shape[1], 1, w.shape[2]),
        bias,
        (1, s),
        (0, p),
        (0, op),
        groups,
        (1, d),
    )
    return out.reshape(*out.shape[:-2], out.shape[-1])


def channel_shuffle(input: Any, groups: int) -> Tensor:
    """Channels (axis 1 of an ``(N, C, *)`` input) read as a (groups, C / groups) grid and
    written transposed, as ShuffleNet mixes grouped convolutions' channels.

    >>> import chainrule as cr
    >>> cr.nn.functional.channel_shuffle(cr.arange(4.0).reshape(1, 4, 1), 2).reshape(-1)
    tensor([0., 2., 1., 3.])
    """
    x = _t(input)
    if x.ndim <= 2:
        raise ValueError(
            f"channel_shuffle: expected an input with more than 2 dims, got shape {x.shape}"
        )
    if isinstance(groups, bool) or not isinstance(groups, int | np.integer) or groups <= 0:
        raise ValueError(f"channel_shuffle: groups must be a positive int, got {groups!r}")
    c = x.shape[1]
    if c % groups:
        raise ValueError(
            f"channel_shuffle: the number of channels must be divisible by groups, got {c} "
            f"channels and {groups} groups"
        )
    n, rest = x.shape[0], x.shape[2:]
    grid = x.reshape(n, int(groups), c // int(groups), *rest)
    return grid.swapaxes(1, 2).reshape(x.shape)


def gumbel_softmax(
    logits: Any,
    tau: float = 1,
    hard: bool = False,
    eps: float = 1e-10,
    dim: int = -1,
    generator: Any = None,
) -> Tensor:
    """softmax((logits + g) / tau) along ``dim``, g drawn from Gumbel(0, 1) (chainrule's
    generator: other draws than PyTorch's). ``hard=True``: the one-hot of the largest
    (straight-through): its value is the one-hot, its gradient the soft sample's.
    ``eps`` has no effect (PyTorch deprecated it, and warns when it is given).

    >>> import chainrule as cr
    >>> y = cr.nn.functional.gumbel_softmax(cr.zeros(2, 5), hard=True)
    >>> y.sum(axis=-1)
    tensor([1., 1.])
    """
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    x = _t(logits)
    if x.dtype.kind != "f":
        raise TypeError(f"gumbel_softmax: expected floating-point logits, got dtype {x.dtype}")
    rng = as_generator(generator)
    # -log(E), E ~ Exponential(1), is Gumbel(0, 1) distributed (as PyTorch draws it).
    gumbels = draw_like(x, lambda shape: -np.log(rng.standard_exponential(shape)))
    y_soft = _f.softmax((x + gumbels) / tau, axis=dim)
    if not hard:
        return y_soft
    if getattr(x, "_batched", False):
        # Inside cr.vmap: the largest found by a recorded comparison (a tie, of
        # probability zero under continuous noise, would mark both).
        top = y_soft == y_soft.max(axis=dim, keepdims=True)
        y_hard: Any = top.astype(x.dtype)
    else:
        picked = np.argmax(y_soft.data, axis=dim)  # the first maximum, as PyTorch's
        y_hard = np.zeros(x.shape, dtype=x.dtype)
        np.put_along_axis(y_hard, np.expand_dims(picked, dim), 1.0, axis=dim)
    return y_hard - y_soft.detach() + y_soft


def pdist(input: Any, p: float = 2) -> Tensor:
    """The p-norm distance between every pair of rows i < j of an (N, M) input, in
    row-major order of (i, j): N (N - 1) / 2 numbers (the upper triangle of cdist).
    The gradient at a zero distance is 0, as PyTorch's.

    >>> import chainrule as cr
    >>> cr.nn.functional.pdist(cr.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]))
    tensor([5.       , 1.       , 4.2426405])
    """
    x = _t(input)
    if x.ndim != 2:
        raise ValueError(f"pdist: only 2-D inputs (N, M) are supported, got {x.ndim}-D")
    if p < 0:
        raise ValueError(f"pdist: p must be non-negative, got {p}")
    if x.dtype.kind != "f":
        raise TypeError(f"pdist: expected a floating-point input, got dtype {x.dtype}")
    i, j = np.triu_indices(x.shape[0], k=1)
    if i.size == 0:
        return _f.reshape(x, (-1,))[:0]
    return _norm(x[i] - x[j], p, -1, False)
