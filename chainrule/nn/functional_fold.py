"""Rearranging images in blocks: ``fold`` (the adjoint of ``unfold``), ``pixel_shuffle``
and ``pixel_unshuffle``, with PyTorch's layouts.

``fold`` is the ``col2im`` primitive behind ``unfold``'s gradient, so each is the
other's transpose by construction: overlapping blocks add up, as in PyTorch. The pixel
shuffles are a reshape, a transpose and a reshape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.ops import nn_ops as _nn
from chainrule.tensor import Tensor, apply, as_tensor

__all__ = ["fold", "pixel_shuffle", "pixel_unshuffle"]

IntPair = int | Sequence[int]


def _pair(value: IntPair, name: str, fn: str) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
    return pair  # type: ignore[return-value]


def fold(
    input: Any,
    output_size: IntPair,
    kernel_size: IntPair,
    dilation: IntPair = 1,
    padding: IntPair = 0,
    stride: IntPair = 1,
) -> Tensor:
    """Sum blocks back into an image: (N, C*kh*kw, L) -> (N, C, H, W), the adjoint of
    ``unfold`` (an unbatched (C*kh*kw, L) input gives (C, H, W)).

    >>> import chainrule as cr
    >>> F = cr.nn.functional
    >>> # the four 2x2 patches of a 3x3 image, folded back: each pixel counts its patches
    >>> F.fold(F.unfold(cr.ones(1, 1, 3, 3), 2), (3, 3), 2)[0, 0]
    tensor([[1., 2., 1.],
            [2., 4., 2.],
            [1., 2., 1.]])
    """
    x = as_tensor(input)
    unbatched = x.ndim == 2
    if unbatched:
        x = x.reshape(1, *x.shape)
    if x.ndim != 3:
        raise ValueError(
            f"fold: expected an input of shape (N, C*kh*kw, L) or (C*kh*kw, L), got {x.shape}"
        )
    h, w = _pair(output_size, "output_size", "fold")
    kh, kw = _pair(kernel_size, "kernel_size", "fold")
    params = {
        "kernel_size": (kh, kw),
        "stride": _pair(stride, "stride", "fold"),
        "padding": _pair(padding, "padding", "fold"),
        "dilation": _pair(dilation, "dilation", "fold"),
    }
    n, rows, blocks = x.shape
    if min(kh, kw) < 1 or rows % (kh * kw):
        raise ValueError(
            f"fold: the input's dimension 1 ({rows}) must be divisible by the product of "
            f"kernel_size ({kh}x{kw})"
        )
    (sh, sw), (ph, pw), (dh, dw) = params["stride"], params["padding"], params["dilation"]
    oh = _nn.out_size(h, kh, sh, ph, dh)
    ow = _nn.out_size(w, kw, sw, pw, dw)
    if oh < 1 or ow < 1 or oh * ow != blocks:
        raise ValueError(
            f"fold: an output of size {(h, w)} with kernel_size {(kh, kw)}, dilation "
            f"{(dh, dw)}, padding {(ph, pw)} and stride {(sh, sw)} has {max(oh, 0)}x"
            f"{max(ow, 0)} blocks, but the input holds {blocks} (input shape {x.shape})"
        )
    c = rows // (kh * kw)
    # unfold's column layout, undone: (N, C, kh, kw, L) -> rows (N*L, kh*kw*C) of col2im.
    cols = x.reshape(n, c, kh, kw, blocks).transpose(0, 4, 2, 3, 1).reshape(n * blocks, -1)
    out = apply(_nn.col2im, (cols,), {"shape": (n, c, h, w), **params})
    return out.reshape(out.shape[1:]) if unbatched else out


def _factor(value: int, name: str, fn: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{fn}: {name} must be a positive int, got {value!r}")
    return value


def pixel_shuffle(input: Any, upscale_factor: int) -> Tensor:
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r): channels rearranged into r x r blocks."""
    x = as_tensor(input)
    r = _factor(upscale_factor, "upscale_factor", "pixel_shuffle")
    if x.ndim < 3:
        raise ValueError(f"pixel_shuffle: expected at least 3 dimensions, got shape {x.shape}")
    *batch, c, h, w = x.shape
    if c % (r * r):
        raise ValueError(
            f"pixel_shuffle: the channels ({c}) must be divisible by upscale_factor^2 "
            f"({r * r}); input shape {x.shape}"
        )
    lead = len(batch)
    out = x.reshape(*batch, c // (r * r), r, r, h, w)
    perm = (*range(lead), lead, lead + 3, lead + 1, lead + 4, lead + 2)
    return out.transpose(perm).reshape(*batch, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Any, downscale_factor: int) -> Tensor:
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W): the inverse of ``pixel_shuffle``."""
    x = as_tensor(input)
    r = _factor(downscale_factor, "downscale_factor", "pixel_unshuffle")
    if x.ndim < 3:
        raise ValueError(f"pixel_unshuffle: expected at least 3 dimensions, got shape {x.shape}")
    *batch, c, h, w = x.shape
    if h % r or w % r:
        raise ValueError(
            f"pixel_unshuffle: the height ({h}) and width ({w}) must be divisible by "
            f"downscale_factor ({r}); input shape {x.shape}"
        )
    lead = len(batch)
    out = x.reshape(*batch, c, h // r, r, w // r, r)
    perm = (*range(lead), lead, lead + 2, lead + 4, lead + 1, lead + 3)
    return out.transpose(perm).reshape(*batch, c * r * r, h // r, w // r)
