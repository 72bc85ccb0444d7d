"""3-D convolutions over (N, C, D, H, W) volumes, built on the 2-D primitives.

A 3-D cross-correlation is a sum over the kernel's depth offsets of 2-D ones:
for depth offset ``i``, output slice ``z`` reads input slice ``z * sd + i * dd``
(of the depth-padded input). So ``conv3d`` takes, per offset, the strided run of
depth slices the output needs, folds depth into the batch and, rather than running
``conv2d`` with ``w[:, :, i]`` per offset and adding the ``kd`` partial results,
stacks the runs as channels so that a single ``conv2d`` with the weight viewed as
(O, C/groups * kd, kh, kw) does the sum inside its GEMM. Every step is a
primitive of the table (pad, slice, stack, transpose, reshape, conv2d): gradients
of any order, ``cr.jit``, ``cr.vmap`` and the oneDNN backend of conv2d come
without a rule here.

``conv_transpose3d`` is its adjoint the same way round: per depth offset ``i``, the
2-D transposed convolution of every input slice with ``w[:, :, i]``, each result
slice ``d`` added at output depth ``d * sd + i * dd`` (zeros interleaved between
the slices for a stride, then shifted by the offset), then the depth ``padding``
cropped off and ``output_padding`` added, as PyTorch does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.functions import stack
from chainrule.nn.functional_conv import _is_int, _tuple, conv_transpose2d
from chainrule.nn.functional_extra import pad
from chainrule.tensor import Tensor, as_tensor

IntOrTriple = int | Sequence[int]

__all__ = ["conv3d", "conv_transpose3d"]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _triple(value: IntOrTriple, name: str, op: str) -> tuple[int, int, int]:
    # One int in a sequence stands for all three, as PyTorch's functional takes (2,).
    return _tuple(value, 3, name, op, one_for_all=True)  # type: ignore[return-value]


def _volumes(input: Any, weight: Any, op: str, weight_form: str) -> tuple[Tensor, Tensor, bool]:
    """The input as a batch (N, C, D, H, W), the weight, and whether the input was one
    unbatched volume (C, D, H, W)."""
    x, w = _t(input), _t(weight)
    unbatched = x.ndim == 4
    if unbatched:
        x = x.reshape(1, *x.shape)
    if x.ndim != 5 or w.ndim != 5:
        raise ValueError(
            f"{op}: expected an input of shape (N, C, D, H, W) or (C, D, H, W) and a weight "
            f"of shape {weight_form}; got {tuple(_t(input).shape)} and {tuple(w.shape)}"
        )
    return x, w, unbatched


def _padding3d(
    padding: IntOrTriple | str, kernel: Sequence[int], dilation: Sequence[int], stride
) -> list[tuple[int, int]]:
    """(before, after) zeros per spatial axis (D, H, W); ``"same"`` splits ``d (k - 1)``
    with the odd one after, as PyTorch does."""
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * 3
        if padding == "same":
            if tuple(stride) != (1, 1, 1):
                raise ValueError(f"conv3d: padding='same' needs stride 1, got stride {stride}")
            return [
                (d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation)
            ]
        raise ValueError(
            f"conv3d: padding must be an int, three ints, 'valid' or 'same', not {padding!r}"
        )
    p = _triple(padding, "padding", "conv3d")
    if min(p) < 0:
        raise ValueError(f"conv3d: padding must be non-negative, got {p}")
    return [(a, a) for a in p]


def conv3d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrTriple = 1,
    padding: IntOrTriple | str = 0,
    dilation: IntOrTriple = 1,
    groups: int = 1,
) -> Tensor:
    """3-D convolution (cross-correlation, as in PyTorch) of an (N, C, D, H, W) or
    (C, D, H, W) input.

    ``weight`` is (out_channels, in_channels / groups, kd, kh, kw); padding may be an
    int, three ints, ``"valid"`` or ``"same"`` (stride 1). One ``conv2d`` over the
    depth runs stacked as channels (see the module's docstring).

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.conv3d(np.ones((1, 1, 3, 4, 4)), np.ones((2, 1, 2, 3, 3)), padding=(0, 1, 1)).shape
    (1, 2, 2, 4, 4)
    """
    from chainrule.nn.functional import conv2d  # noqa: PLC0415 (functional imports us)

    op = "conv3d"
    x, w, unbatched = _volumes(input, weight, op, "(out, in/groups, kd, kh, kw)")
    n, c = x.shape[:2]
    oc, cg, kd, kh, kw = w.shape
    if not _is_int(groups) or groups < 1 or c % groups or oc % groups:
        raise ValueError(
            f"{op}: groups={groups!r} must be a positive int that divides in_channels {c} "
            f"and out_channels {oc}"
        )
    if cg * groups != c:
        raise ValueError(
            f"{op}: the input has {c} channels but the weight expects {cg * groups} "
            f"({cg} per group x {groups} groups); weight shape {tuple(w.shape)}, input shape "
            f"{tuple(x.shape)}"
        )
    s, d = _triple(stride, "stride", op), _triple(dilation, "dilation", op)
    if min(s) < 1 or min(d) < 1:
        raise ValueError(f"{op}: stride and dilation must be positive, got {s} and {d}")
    sides = _padding3d(padding, (kd, kh, kw), d, s)
    # Depth padding, and uneven 'same' padding of H and W, as one pad; even padding of
    # H and W is left to conv2d (which pads inside its window copies).
    hw = [p if p[0] != p[1] else (0, 0) for p in sides[1:]]
    amounts = (*hw[1], *hw[0], *sides[0])
    if any(amounts):
        x = pad(x, amounts)
    inner = tuple(0 if hw[k] != (0, 0) else sides[1 + k][0] for k in range(2))
    depth = x.shape[2]
    od = (depth - d[0] * (kd - 1) - 1) // s[0] + 1
    if od < 1:
        raise ValueError(
            f"{op}: the input's depth {depth} (padded) is too small for kernel depth {kd} "
            f"(dilation {d[0]}); input shape {tuple(_t(input).shape)}"
        )
    # (N, D, C, H, W): depth next to the batch, so a run of slices folds into it.
    xt = x.transpose(0, 2, 1, 3, 4)
    h, wd = xt.shape[3:]
    if kd == 1:
        runs = xt[:, : s[0] * (od - 1) + 1 : s[0]].reshape(n * od, c, h, wd)
    else:
        # The kd runs side by side as channels c * kd + i: with the weight viewed as
        # (O, C/groups * kd, kh, kw) (index c * kd + i, groups still outermost), one
        # conv2d computes the whole sum over depth offsets in one GEMM. Measured against
        # kd conv2d calls whose outputs are added: as fast with NumPy's backend, twice
        # as fast with oneDNN's (forward and backward, paired on a busy machine).
        span = s[0] * (od - 1) + 1
        runs = stack([xt[:, i * d[0] : i * d[0] + span : s[0]] for i in range(kd)], axis=3)
        runs = runs.reshape(n * od, c * kd, h, wd)
    out = conv2d(runs, w.reshape(oc, cg * kd, kh, kw), bias, s[1:], inner, d[1:], groups)
    out = out.reshape(n, od, oc, *out.shape[2:]).transpose(0, 2, 1, 3, 4)
    return out.reshape(out.shape[1:]) if unbatched else out


def conv_transpose3d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrTriple = 1,
    padding: IntOrTriple = 0,
    output_padding: IntOrTriple = 0,
    groups: int = 1,
    dilation: IntOrTriple = 1,
) -> Tensor:
    """Transposed 3-D convolution (the gradient of conv3d in its input) of an
    (N, C_in, D, H, W) or (C_in, D, H, W) input, with PyTorch's arguments.

    ``weight`` is (in_channels, out_channels / groups, kd, kh, kw). Each output side
    is (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.conv_transpose3d(np.ones((1, 1, 2, 2, 2)), np.ones((1, 1, 2, 2, 2)), stride=2).shape
    (1, 1, 4, 4, 4)
    """
    op = "conv_transpose3d"
    x, w, unbatched = _volumes(input, weight, op, "(C_in, C_out/groups, kd, kh, kw)")
    n, cin, depth = x.shape[:3]
    wcin, cout_g, kd = w.shape[:3]
    if not _is_int(groups) or groups < 1 or cin % groups:
        raise ValueError(
            f"{op}: groups={groups!r} must be a positive int that divides in_channels {cin}"
        )
    if wcin != cin:
        raise ValueError(
            f"{op}: the input has {cin} channels but the weight's first axis is {wcin}; "
            f"weight shape {tuple(w.shape)}, input shape {tuple(x.shape)}"
        )
    s = _triple(stride, "stride", op)
    p = _triple(padding, "padding", op)
    opad = _triple(output_padding, "output_padding", op)
    d = _triple(dilation, "dilation", op)
    if min(s) < 1 or min(d) < 1 or min(p) < 0 or min(opad) < 0:
        raise ValueError(
            f"{op}: stride and dilation must be positive, padding and output_padding "
            f"non-negative; got stride={s}, dilation={d}, padding={p}, output_padding={opad}"
        )
    for axis in range(3):
        if opad[axis] >= max(s[axis], d[axis]):
            raise ValueError(
                f"{op}: output_padding {opad} must be smaller than either stride {s} or "
                f"dilation {d} (on each axis)"
            )
    full = (depth - 1) * s[0] + d[0] * (kd - 1) + 1
    size = full - 2 * p[0] + opad[0]
    if size <= 0:
        raise ValueError(
            f"{op}: the output depth would be {size} (input depth {depth}, kernel depth {kd}, "
            f"stride {s[0]}, padding {p[0]}, dilation {d[0]}, output_padding {opad[0]})"
        )
    rows = x.transpose(0, 2, 1, 3, 4).reshape(n * depth, cin, *x.shape[3:])
    out = None
    for i in range(kd):
        part = conv_transpose2d(rows, w[:, :, i], None, s[1:], p[1:], opad[1:], groups, d[1:])
        part = part.reshape(n, depth, *part.shape[1:])  # (N, D, C_out, H', W')
        if s[0] > 1:  # slice z of the result goes to z * stride: zeros between slices
            spread = pad(part.reshape(n, depth, 1, *part.shape[2:]), (0, 0) * 3 + (0, s[0] - 1))
            part = spread.reshape(n, depth * s[0], *part.shape[2:])[:, : (depth - 1) * s[0] + 1]
        before = i * d[0]
        part = pad(part, (0, 0) * 3 + (before, full - before - part.shape[1]))
        out = part if out is None else out + part
    assert out is not None
    # Crop the depth padding and add output_padding (zeros) at the end, as PyTorch.
    extra = max(0, p[0] + size - full)
    if extra:
        out = pad(out, (0, 0) * 3 + (0, extra))
    if (p[0], size) != (0, full):
        out = out[:, p[0] : p[0] + size]
    out = out.transpose(0, 2, 1, 3, 4)
    if bias is not None:
        out = out + _t(bias).reshape(1, -1, 1, 1, 1)
    return out.reshape(out.shape[1:]) if unbatched else out
