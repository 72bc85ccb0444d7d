"""More of ``torch.nn.functional`` for images and sequences: ``conv1d``,
``conv_transpose2d``, ``group_norm``, ``interpolate`` and an ``adaptive_avg_pool2d``
that takes any output size. Each is a composition of primitives already in the
table (im2col, col2im, linear, matmul, indexing, reductions), so each has its
reverse and forward derivatives, to any order, without a rule of its own.

- ``conv1d`` is ``conv2d`` on a unit height axis.
- ``conv_transpose2d`` is the adjoint of a convolution: every input pixel times
  the kernel, added into the output (``col2im`` of one matrix product), then the
  ``padding`` cropped off and ``output_padding`` added at the end, as PyTorch does.
- ``interpolate`` gathers source pixels by index (nearest), or mixes two of them
  per axis with PyTorch's weights (linear, bilinear), in the input's precision.
- ``adaptive_avg_pool2d`` is ``A_h @ x @ A_w^T`` with averaging matrices whose
  rows are PyTorch's windows [floor(i*H/OH), ceil((i+1)*H/OH)), which may overlap
  or differ in size when the sizes do not divide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.nn.functional_extra import pad
from chainrule.ops import nn_ops as _nn
from chainrule.tensor import Tensor, apply, as_tensor

IntOrSeq = int | Sequence[int]


def _t(x: Any) -> Tensor:
    return as_tensor(x)


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _tuple(
    value: IntOrSeq, n: int, name: str, op: str, one_for_all: bool = False
) -> tuple[int, ...]:
    """``n`` ints from an int or a sequence of ``n`` ints (or of one, repeated, with
    ``one_for_all``, as PyTorch's pooling takes (2,)). Anything else is refused in
    one line: int() would cut a float (3.5 to 3) without a word."""
    if _is_int(value):
        return (int(value),) * n
    wrong = ValueError(f"{op}: {name} must be an int or {n} ints, got {value!r}")
    if not isinstance(value, Sequence | np.ndarray) or isinstance(value, str):
        raise wrong
    if not all(_is_int(v) for v in value):
        raise wrong
    out = tuple(int(v) for v in value)
    if one_for_all and len(out) == 1:
        return out * n
    if len(out) != n:
        raise wrong
    return out


# ------------------------------------------------------------------ conv1d
def conv1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution (cross-correlation) of an (N, C, L) or (C, L) input.

    ``weight`` is (out_channels, in_channels / groups, k); padding may be an int,
    ``"valid"`` or ``"same"`` (stride 1; an even kernel gets the odd zero after, as in
    PyTorch).

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.conv1d(np.array([[[1.0, 2.0, 3.0, 4.0]]]), np.array([[[1.0, -1.0]]])).numpy()
    array([[[-1., -1., -1.]]])
    """
    from chainrule.nn.functional import conv2d

    x, w = _t(input), _t(weight)
    unbatched = x.ndim == 2
    if unbatched:
        x = x.reshape(1, *x.shape)
    if x.ndim != 3 or w.ndim != 3:
        raise ValueError(
            f"conv1d: expected an input of shape (N, C, L) or (C, L) and a weight of shape "
            f"(out, in/groups, k); got {tuple(_t(input).shape)} and {tuple(w.shape)}"
        )
    if groups < 1 or x.shape[1] % groups or w.shape[0] % groups:
        raise ValueError(
            f"conv1d: groups={groups} must divide in_channels {x.shape[1]} and "
            f"out_channels {w.shape[0]}"
        )
    if w.shape[1] * groups != x.shape[1]:
        raise ValueError(
            f"conv1d: the input has {x.shape[1]} channels but the weight expects "
            f"{w.shape[1] * groups} ({w.shape[1]} per group x {groups} groups); weight shape "
            f"{tuple(w.shape)}, input shape {tuple(x.shape)}"
        )
    (s,), (d,) = _tuple(stride, 1, "stride", "conv1d"), _tuple(dilation, 1, "dilation", "conv1d")
    p: Any = (
        padding if isinstance(padding, str) else (0, _tuple(padding, 1, "padding", "conv1d")[0])
    )
    out = conv2d(
        x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]),
        w.reshape(w.shape[0], w.shape[1], 1, w.shape[2]),
        bias,
        stride=(1, s),
        padding=p,
        dilation=(1, d),
        groups=groups,
    )
    out = out.reshape(out.shape[0], out.shape[1], out.shape[3])
    return out.reshape(out.shape[1:]) if unbatched else out


# ------------------------------------------------------------------ conv_transpose2d
def conv_transpose2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq = 0,
    output_padding: IntOrSeq = 0,
    groups: int = 1,
    dilation: IntOrSeq = 1,
) -> Tensor:
    """Transposed 2-D convolution (the gradient of conv2d with respect to its input)
    of an (N, C_in, H, W) or (C_in, H, W) input, with PyTorch's arguments.

    ``weight`` is (in_channels, out_channels / groups, kh, kw). The output height is
    (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1.

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), stride=2).shape
    (1, 1, 4, 4)
    """
    x, w = _t(input), _t(weight)
    unbatched = x.ndim == 3
    if unbatched:
        x = x.reshape(1, *x.shape)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(
            "conv_transpose2d: expected an input of shape (N, C_in, H, W) or (C_in, H, W) "
            "and a weight of shape (C_in, C_out/groups, kh, kw); got "
            f"{tuple(_t(input).shape)} and {tuple(w.shape)}"
        )
    n, cin, h, wd = x.shape
    wcin, cout_g, kh, kw = w.shape
    if groups < 1 or cin % groups:
        raise ValueError(f"conv_transpose2d: groups={groups} must divide in_channels {cin}")
    if wcin != cin:
        raise ValueError(
            f"conv_transpose2d: the input has {cin} channels but the weight's first axis is "
            f"{wcin}; weight shape {tuple(w.shape)}, input shape {tuple(x.shape)}"
        )
    op_name = "conv_transpose2d"
    s = _tuple(stride, 2, "stride", op_name)
    p = _tuple(padding, 2, "padding", op_name)
    op = _tuple(output_padding, 2, "output_padding", op_name)
    d = _tuple(dilation, 2, "dilation", op_name)
    if min(s) < 1 or min(d) < 1 or min(p) < 0 or min(op) < 0:
        raise ValueError(
            f"{op_name}: stride and dilation must be positive, padding and output_padding "
            f"non-negative; got stride={s}, dilation={d}, padding={p}, output_padding={op}"
        )
    for axis in range(2):
        if op[axis] >= max(s[axis], d[axis]):
            raise ValueError(
                f"{op_name}: output_padding {op} must be smaller than either stride {s} or "
                f"dilation {d} (on each axis)"
            )
    full = ((h - 1) * s[0] + d[0] * (kh - 1) + 1, (wd - 1) * s[1] + d[1] * (kw - 1) + 1)
    size = (full[0] - 2 * p[0] + op[0], full[1] - 2 * p[1] + op[1])
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(
            f"{op_name}: the output would be {size[0]}x{size[1]} (input {h}x{wd}, kernel "
            f"{kh}x{kw}, stride {s}, padding {p}, dilation {d}, output_padding {op})"
        )
    cout = cout_g * groups
    rows = x.transpose(0, 2, 3, 1).reshape(n * h * wd, cin)
    # Each input pixel times the kernel: one row of (kh, kw, C_out) values, channel
    # fastest, the layout col2im adds back into the image.
    if groups == 1:
        cols = rows @ w.transpose(0, 2, 3, 1).reshape(cin, kh * kw * cout)
    else:
        cg = cin // groups
        rows_g = rows.reshape(n * h * wd, groups, cg).transpose(1, 0, 2)
        w_g = w.reshape(groups, cg, cout_g, kh, kw).transpose(0, 1, 3, 4, 2)
        cols_g = rows_g @ w_g.reshape(groups, cg, kh * kw * cout_g)
        cols = (
            cols_g.reshape(groups, n * h * wd, kh * kw, cout_g)
            .transpose(1, 2, 0, 3)
            .reshape(n * h * wd, kh * kw * cout)
        )
    params = {
        "shape": (n, cout, full[0], full[1]),
        "kernel_size": (kh, kw),
        "stride": s,
        "padding": (0, 0),
        "dilation": d,
    }
    out = apply(_nn.col2im, (cols,), params)
    # PyTorch crops `padding` from both sides and then adds `output_padding` at the
    # end: rows past the full result are zero (plus the bias).
    extra = (max(0, p[0] + size[0] - full[0]), max(0, p[1] + size[1] - full[1]))
    if extra != (0, 0):
        out = pad(out, (0, extra[1], 0, extra[0]))
    if (p, size) != ((0, 0), full):
        out = out[:, :, p[0] : p[0] + size[0], p[1] : p[1] + size[1]]
    if bias is not None:
        out = out + _t(bias).reshape(1, cout, 1, 1)
    return out.reshape(out.shape[1:]) if unbatched else out


# ------------------------------------------------------------------ group_norm
def group_norm(
    input: Any, num_groups: int, weight: Any = None, bias: Any = None, eps: float = 1e-5
) -> Tensor:
    """Normalise each sample over groups of channels (axis 1) and the remaining axes,
    with the biased variance; then scale and shift each channel.

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> y = F.group_norm(np.arange(8.0).reshape(1, 4, 2), 2)
    >>> np.round(y.numpy()[0, :2], 3)
    array([[-1.342, -0.447],
           [ 0.447,  1.342]])
    """
    x = _t(input)
    if x.ndim < 2:
        raise ValueError(f"group_norm: expected an input of shape (N, C, ...), got {x.shape}")
    n, c = x.shape[:2]
    if num_groups < 1 or c % num_groups:
        raise ValueError(
            f"group_norm: num_groups={num_groups} must divide the {c} channels (axis 1) of "
            f"the input of shape {tuple(x.shape)}"
        )
    xg = x.reshape(n, num_groups, -1)
    mean = xg.mean(axis=-1, keepdims=True)
    centred = xg - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    out = (centred / (var + eps) ** 0.5).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    if weight is not None:
        out = out * _t(weight).reshape(shape)
    if bias is not None:
        out = out + _t(bias).reshape(shape)
    return out


# ------------------------------------------------------------------ interpolate
#: The modes and how many spatial axes each takes (None: one, two or three).
_MODES = {
    "nearest": None,
    "nearest-exact": None,
    "area": None,
    "linear": 1,
    "bilinear": 2,
    "bicubic": 2,
    "trilinear": 3,
}


def _out_sizes(shape, size, scale_factor, dims):
    """Output sizes, and the scale factors PyTorch maps coordinates with (None: in/out)."""
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        sizes = _tuple(size, dims, "size", "interpolate")
        return sizes, (None,) * dims
    scales = (
        (float(scale_factor),) * dims
        if isinstance(scale_factor, int | float)
        else tuple(float(f) for f in scale_factor)
    )
    if len(scales) != dims:
        raise ValueError(f"interpolate: scale_factor must be one number or {dims}, got {scales}")
    if any(f <= 0 for f in scales):
        raise ValueError(f"interpolate: scale_factor must be positive, got {scales}")
    return tuple(math.floor(n * f) for n, f in zip(shape, scales)), scales


def _nearest_index(
    n_in: int, n_out: int, scale: float | None, exact: bool, shortcuts: bool
) -> np.ndarray:
    """PyTorch's source index of each output position: floor(dst s) (nearest) or
    floor((dst + 0.5) s) (nearest-exact), in float32 as its kernels compute them.

    PyTorch 2.13's 2-D nearest kernel takes two shortcuts whatever the scale_factor
    (``shortcuts``): an unchanged size is copied, a doubled one maps dst to dst // 2.
    Its 1-D and 3-D kernels, and nearest-exact, do not: a scale_factor of 1.3 keeps a
    side of 3 at 3 there but maps positions 0, 1, 2 to 0, 0, 1."""
    if (shortcuts or scale is None) and not exact:
        if n_out == n_in:
            return np.arange(n_out)
        if n_out == 2 * n_in:
            return np.arange(n_out) >> 1
    s = np.float32(1.0 / scale) if scale is not None else np.float32(n_in) / np.float32(n_out)
    dst = np.arange(n_out, dtype=np.float32)
    if exact:
        dst += np.float32(0.5)
    src = np.floor(dst * s).astype(np.int64)
    return np.minimum(src, n_in - 1)


def _opmath(dtype: Any) -> Any:
    """The precision PyTorch's kernels compute coordinates and weights in: the input's
    floating type (float32 for float32), float32 for anything else."""
    return np.dtype(dtype).type if np.dtype(dtype).kind == "f" else np.float32


def _source_ratio(n_in, n_out, scale, align_corners, kind):
    """PyTorch's area_pixel_compute_scale."""
    if align_corners:
        return kind(n_in - 1) / kind(n_out - 1) if n_out > 1 else kind(0)
    return kind(1.0 / scale) if scale is not None else kind(n_in) / kind(n_out)


def _linear_taps(n_in, n_out, scale, align_corners, dtype):
    """PyTorch's two source indices and weights ``[(i0, 1 - l), (i1, l)]`` of each
    output position, computed in the input's floating precision (its kernel's opmath
    type)."""
    kind = _opmath(dtype)
    dst = np.arange(n_out, dtype=kind)
    ratio = _source_ratio(n_in, n_out, scale, align_corners, kind)
    if align_corners:
        src = ratio * dst
    else:
        src = np.maximum(ratio * (dst + kind(0.5)) - kind(0.5), kind(0))
    i0 = src.astype(np.int64)
    i1 = i0 + (i0 < n_in - 1)
    lam = (src - i0.astype(kind)).astype(kind)
    return [(i0, kind(1) - lam), (i1, lam)]


def _cubic_taps(n_in, n_out, scale, align_corners, dtype):
    """PyTorch's bicubic taps along one axis: the four source indices floor(src) - 1
    to floor(src) + 2, clamped to the axis (the border repeated), and Keys' cubic
    convolution weights with A = -0.75; the source coordinate is not clamped at 0
    (unlike linear). In the input's floating precision, as its kernel."""
    kind = _opmath(dtype)
    a = kind(-0.75)
    dst = np.arange(n_out, dtype=kind)
    ratio = _source_ratio(n_in, n_out, scale, align_corners, kind)
    src = ratio * dst if align_corners else ratio * (dst + kind(0.5)) - kind(0.5)
    base = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    t = np.clip(src - base.astype(kind), kind(0), kind(1)).astype(kind)

    def near(d):  # |d| <= 1
        return ((a + kind(2)) * d - (a + kind(3))) * d * d + kind(1)

    def far(d):  # 1 < |d| < 2
        return ((a * d - kind(5) * a) * d + kind(8) * a) * d - kind(4) * a

    weights = [far(t + kind(1)), near(t), near(kind(1) - t), far(kind(2) - t)]
    return [(np.clip(base - 1 + j, 0, n_in - 1), w.astype(kind)) for j, w in enumerate(weights)]


def interpolate(
    input: Any,
    size: IntOrSeq | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize the spatial axes of an (N, C, L), (N, C, H, W) or (N, C, D, H, W) input,
    as PyTorch does.

    Modes: ``nearest``, ``nearest-exact`` and ``area`` (1 to 3 spatial axes),
    ``linear`` (3-D input), ``bilinear`` and ``bicubic`` (4-D), ``trilinear`` (5-D);
    the interpolating ones take ``align_corners``. Give ``size`` or ``scale_factor``.

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> x = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    >>> F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True).numpy()[0, 0, 0]
    array([0.        , 0.33333333, 0.66666667, 1.        ])
    """
    x = _t(input)
    if mode not in _MODES:
        raise NotImplementedError(
            f"interpolate: mode {mode!r} is not supported ({', '.join(_MODES)})"
        )
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    dims = x.ndim - 2
    if _MODES[mode] is None and dims not in (1, 2, 3):
        raise ValueError(
            f"interpolate: {mode} expects a 3-D, 4-D or 5-D input, got shape {x.shape}"
        )
    if _MODES[mode] is not None and dims != _MODES[mode]:
        want = {1: "3-D (N, C, L)", 2: "4-D (N, C, H, W)", 3: "5-D (N, C, D, H, W)"}
        raise ValueError(
            f"interpolate: {mode} expects a {want[_MODES[mode]]} input, got shape {x.shape}"
        )
    if _MODES[mode] is None and align_corners is not None:
        raise ValueError(
            "interpolate: align_corners can only be set with the interpolating modes "
            "(linear, bilinear, bicubic, trilinear)"
        )
    sizes, scales = _out_sizes(x.shape[2:], size, scale_factor, dims)
    if any(s < 1 for s in sizes):
        raise ValueError(f"interpolate: the output size {sizes} must be positive")
    if mode == "area":  # PyTorch's area mode is adaptive average pooling to the size
        out = x
        for k, n_out in enumerate(sizes):
            out = _adaptive_mean_axis(out, 2 + k, n_out)
        return out
    if recompute_scale_factor:
        scales = (None,) * dims  # map coordinates by in/out, as PyTorch then does
    out = x
    for k, (n_in, n_out, scale) in enumerate(zip(x.shape[2:], sizes, scales)):
        axis = 2 + k
        lead = (slice(None),) * axis
        if mode in ("nearest", "nearest-exact"):
            index = _nearest_index(n_in, n_out, scale, mode == "nearest-exact", dims == 2)
            out = out[(*lead, index)]
            continue
        if mode == "bicubic":
            taps = _cubic_taps(n_in, n_out, scale, bool(align_corners), x.dtype)
        elif n_in == n_out:
            # PyTorch's linear kernels leave an axis of unchanged size as it is, even
            # when a scale_factor (1.3 on a side of 3) would move its coordinates.
            continue
        else:
            taps = _linear_taps(n_in, n_out, scale, bool(align_corners), x.dtype)
        bcast = (n_out,) + (1,) * (x.ndim - 1 - axis)
        terms = [out[(*lead, i)] * w.reshape(bcast) for i, w in taps]
        out = terms[0]
        for term in terms[1:]:
            out = out + term
    return out


# ------------------------------------------------------------------ adaptive pooling
def _averaging_matrix(n_in: int, n_out: int, dtype: Any) -> np.ndarray:
    """(n_out, n_in): row i averages PyTorch's window [floor(i n/m), ceil((i+1) n/m))."""
    a = np.zeros((n_out, n_in), dtype=dtype)
    for i in range(n_out):
        start = (i * n_in) // n_out
        end = -((-(i + 1) * n_in) // n_out)
        a[i, start:end] = 1.0 / (end - start)
    return a


def _adaptive_mean_axis(x: Tensor, axis: int, n_out: int) -> Tensor:
    """Adaptive average pooling along one axis: a reshaped mean when ``n_out`` divides
    the axis, else a product with the averaging matrix."""
    n_in = x.shape[axis]
    if n_in == n_out:
        return x
    if n_in % n_out == 0:
        return x.reshape(x.shape[:axis] + (n_out, n_in // n_out) + x.shape[axis + 1 :]).mean(
            axis=axis + 1
        )
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    moved = x.swapaxes(axis, -1) @ _averaging_matrix(n_in, n_out, dtype).T
    return moved.swapaxes(axis, -1)


def adaptive_avg_pool1d(input: Any, output_size: int) -> Tensor:
    """Mean over PyTorch's adaptive windows of an (N, C, L) or (C, L) input: output
    position i averages [floor(i L/O), ceil((i+1) L/O)).

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.adaptive_avg_pool1d(np.arange(5.0).reshape(1, 1, 5), 2).numpy()
    array([[[1., 3.]]])
    """
    x = _t(input)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"adaptive_avg_pool1d: expected an input of shape (N, C, L) or (C, L), "
            f"got {tuple(x.shape)}"
        )
    (size,) = _tuple(output_size, 1, "output_size", "adaptive_avg_pool1d")
    if size < 1:
        raise ValueError(f"adaptive_avg_pool1d: output size {size} must be positive")
    return _adaptive_mean_axis(x, x.ndim - 1, size)


def adaptive_avg_pool2d(input: Any, output_size: int | None | Sequence[int | None]) -> Tensor:
    """Mean over PyTorch's adaptive windows: output cell (i, j) averages rows
    [floor(i H/OH), ceil((i+1) H/OH)) and the like columns (None keeps that axis).

    >>> import numpy as np
    >>> import chainrule.nn.functional as F
    >>> F.adaptive_avg_pool2d(np.arange(9.0).reshape(1, 1, 3, 3), 2).numpy()
    array([[[[2., 3.],
             [5., 6.]]]])
    """
    x = _t(input)
    unbatched = x.ndim == 3
    if unbatched:
        x = x.reshape(1, *x.shape)
    if x.ndim != 4:
        raise ValueError(
            f"adaptive_avg_pool2d: expected an input of shape (N, C, H, W) or (C, H, W), "
            f"got {tuple(_t(input).shape)}"
        )
    n, c, h, w = x.shape
    size = (output_size, output_size) if not isinstance(output_size, Sequence) else output_size
    if len(size) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be one or two sizes, got {size}")
    oh, ow = (h if size[0] is None else int(size[0])), (w if size[1] is None else int(size[1]))
    if oh < 1 or ow < 1:
        raise ValueError(f"adaptive_avg_pool2d: output size ({oh}, {ow}) must be positive")
    if h % oh == 0 and w % ow == 0:
        # Even tiling: the windows are blocks of a reshaped view.
        out = x.reshape((n, c, oh, h // oh, ow, w // ow)).mean(axis=(3, 5))
    else:
        dtype = x.dtype if x.dtype.kind == "f" else np.float64
        out = _averaging_matrix(h, oh, dtype) @ x @ _averaging_matrix(w, ow, dtype).T
    return out.reshape(out.shape[1:]) if unbatched else out
