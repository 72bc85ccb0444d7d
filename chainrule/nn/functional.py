"""Layers and losses as functions, with PyTorch's names, arguments and defaults.

Inputs may be Tensors, NumPy arrays or numbers; results are Tensors. Layout is
NCHW for images, class scores on axis 1 for losses (as in PyTorch).

>>> import numpy as np
>>> import chainrule as cr
>>> import chainrule.nn.functional as F
>>> logits = cr.tensor([[2.0, 0.5, -1.0]], dtype=cr.float64, requires_grad=True)
>>> loss = F.cross_entropy(logits, np.array([0]))
>>> round(loss.item(), 4)
0.2413
>>> loss.backward()
>>> np.round(logits.grad.data, 4)      # softmax(logits) - onehot(target)
array([[-0.2144,  0.1753,  0.0391]])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import chainrule.functions as _f
from chainrule.nn.functional_activation import (
    celu,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    prelu,
    selu,
    softplus,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
)
from chainrule.nn.functional_attention import scaled_dot_product_attention
from chainrule.nn.functional_breadth import (
    bilinear,
    channel_shuffle,
    conv_transpose1d,
    gumbel_softmax,
    pdist,
    rms_norm,
)
from chainrule.nn.functional_conv import (
    _tuple,
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    conv1d,
    conv_transpose2d,
    group_norm,
    interpolate,
)
from chainrule.nn.functional_conv3d import conv3d, conv_transpose3d
from chainrule.nn.functional_distance import cosine_similarity, normalize, pairwise_distance
from chainrule.nn.functional_dropout import dropout1d, dropout2d, dropout3d
from chainrule.nn.functional_embedding import embedding
from chainrule.nn.functional_extra import (
    elu,
    hardtanh,
    implicit_softmax_dim,
    leaky_relu,
    logsigmoid,
    mish,
    pad,
    relu6,
    silu,
    softmin,
)
from chainrule.nn.functional_fold import fold, pixel_shuffle, pixel_unshuffle
from chainrule.nn.functional_inplace import (
    celu_,
    elu_,
    hardtanh_,
    leaky_relu_,
    relu_,
    selu_,
    threshold_,
)
from chainrule.nn.functional_noise import alpha_dropout, feature_alpha_dropout, rrelu, rrelu_
from chainrule.nn.functional_norm import instance_norm, local_response_norm
from chainrule.nn.functional_pool import (
    _batched,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d_general,
    max_pool1d,
    max_pool2d_indexed,
    stride_or_kernel,
)
from chainrule.nn.functional_pool3d import (
    adaptive_avg_pool3d,
    adaptive_max_pool3d,
    avg_pool3d,
    max_pool3d,
)
from chainrule.nn.functional_unpool import (
    adaptive_max_pool1d_with_indices,
    adaptive_max_pool2d_with_indices,
    lp_pool1d,
    lp_pool2d,
    max_pool1d_with_indices,
    max_pool2d_with_indices,
    max_unpool1d,
    max_unpool2d,
)
from chainrule.nn.inplace import inplace_flag, relu_update, require_tensor_flag
from chainrule.nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from chainrule.nn.losses_margin import (
    multi_margin_loss,
    multilabel_margin_loss,
    triplet_margin_with_distance_loss,
)
from chainrule.nn.losses_more import (
    cosine_embedding_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_loss,
)
from chainrule.nn.rng import as_generator
from chainrule.ops import conv as _conv
from chainrule.ops import nn_ops as _nn
from chainrule.ops import normalization_affine as _affine
from chainrule.ops.normalization import normalize as _normalize
from chainrule.tensor import Tensor, active_tracer, apply, as_tensor, unary

IntPair = int | Sequence[int]

__all__ = [
    "elu",
    "hardtanh",
    "logsigmoid",
    "mish",
    "pad",
    "relu6",
    "silu",
    "softmin",
    "adaptive_avg_pool1d",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "avg_pool1d",
    "max_pool1d",
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "cross_entropy",
    "dropout",
    "embedding",
    "flatten",
    "gelu",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "relu",
    "sigmoid",
    "smooth_l1_loss",
    "softmax",
    "softplus",
    "tanh",
    "unflatten",
    "unfold",
    "scaled_dot_product_attention",
    "conv1d",
    "conv_transpose2d",
    "group_norm",
    "interpolate",
    "celu",
    "glu",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "prelu",
    "selu",
    "softshrink",
    "softsign",
    "tanhshrink",
    "threshold",
    "cosine_similarity",
    "normalize",
    "pairwise_distance",
    "fold",
    "pixel_shuffle",
    "pixel_unshuffle",
    "instance_norm",
    "local_response_norm",
    "cosine_embedding_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "multilabel_soft_margin_loss",
    "poisson_nll_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "celu_",
    "elu_",
    "hardtanh_",
    "leaky_relu_",
    "relu_",
    "selu_",
    "threshold_",
    "rms_norm",
    "bilinear",
    "conv_transpose1d",
    "channel_shuffle",
    "gumbel_softmax",
    "pdist",
    "alpha_dropout",
    "feature_alpha_dropout",
    "rrelu",
    "rrelu_",
    "max_unpool1d",
    "max_unpool2d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "lp_pool1d",
    "lp_pool2d",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "triplet_margin_with_distance_loss",
    "conv3d",
    "conv_transpose3d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool3d",
    "avg_pool3d",
    "max_pool3d",
]


def _pair(value: IntPair, name: str) -> tuple[int, int]:
    return _tuple(value, 2, name, "nn.functional", one_for_all=True)  # type: ignore[return-value]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _raw(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


# ------------------------------------------------------------------ activations
def relu(input: Any, inplace: bool = False) -> Tensor:
    """max(x, 0), elementwise; the derivative at 0 is 0. ``inplace=True`` writes the
    result into ``input`` and returns it, as PyTorch's (see ``chainrule.nn.inplace``)."""
    if inplace:
        return inplace_flag("relu", input, _f.relu, relu_update)
    return _f.relu(input)


def sigmoid(input: Any) -> Tensor:
    """1 / (1 + e^-x), elementwise."""
    return _f.sigmoid(input)


def tanh(input: Any) -> Tensor:
    """The hyperbolic tangent, elementwise."""
    return _f.tanh(input)


def softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """e^x / sum(e^x) along ``dim``, computed stably; ``dtype`` casts the input first.
    Without ``dim``, PyTorch's implicit choice (see ``implicit_softmax_dim``)."""
    x = _t(input) if dtype is None else _f.astype(input, dtype)
    if dim is None:
        dim = implicit_softmax_dim("softmax", x.ndim, _stacklevel)
    return _f.softmax(x, axis=dim)


def log_softmax(
    input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """x - logsumexp(x) along ``dim``, computed stably; ``dtype`` casts the input first.
    Without ``dim``, PyTorch's implicit choice (see ``implicit_softmax_dim``)."""
    x = _t(input) if dtype is None else _f.astype(input, dtype)
    if dim is None:
        dim = implicit_softmax_dim("log_softmax", x.ndim, _stacklevel)
    return _f.log_softmax(x, axis=dim)


_SQRT_HALF = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF; ``approximate="tanh"`` uses the tanh form."""
    x = _t(input)
    if approximate == "none":
        return x * (unary(_nn.erf, x * _SQRT_HALF) + 1) * 0.5
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * _SQRT_2_OVER_PI
        return x * (_f.tanh(inner) + 1) * 0.5
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")


# ----------------------------------------------------------------- linear, conv
def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:
    """input @ weight^T + bias, with weight shaped (out_features, in_features)."""
    return _linear(input, weight, bias, "linear", None)


def _linear(input: Any, weight: Any, bias: Any, name: str, expecter: str | None) -> Tensor:
    try:
        return apply(_nn.linear, (input, weight, bias))
    except ValueError:
        # Checked only once NumPy has refused: the hot path pays nothing, and the
        # message says it as the layer's user would (widths), not as matmul's gufunc.
        xs = input.shape if isinstance(input, Tensor) else np.shape(input)
        ws = weight.shape if isinstance(weight, Tensor) else np.shape(weight)
        if len(ws) == 2 and (not xs or xs[-1] != ws[1]):
            width = f"is {xs[-1]}" if xs else "missing (a 0-d input)"
            expecter = expecter or f"the weight of shape {tuple(ws)}"
            raise ValueError(
                f"{name}: the input's last dimension {width}, but {expecter} expects "
                f"{ws[1]} (input shape {tuple(xs)})"
            ) from None
        raise


def _same_padding(kernel: Sequence[int], dilation: Sequence[int]) -> list[tuple[int, int]]:
    """(before, after) zeros per spatial axis that keep a stride-1 convolution's size:
    ``d (k - 1)`` in all, the odd one after, as PyTorch splits it."""
    return [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation)]


def _conv_padding(padding: IntPair | str, kernel: tuple[int, int], dilation, stride):
    """The conv2d primitive's (ph, pw), and the uneven (before, after) amounts to pad
    first when ``padding="same"`` needs them (an even dilated kernel), else None."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), None
        if padding == "same":
            if stride != (1, 1):
                raise ValueError("conv2d: padding='same' needs stride 1")
            sides = _same_padding(kernel, dilation)
            if all(before == after for before, after in sides):
                return (sides[0][0], sides[1][0]), None
            return (0, 0), sides
        raise ValueError(
            f"conv2d: padding must be an int, a pair, 'valid' or 'same', not {padding!r}"
        )
    return _pair(padding, "padding"), None


def conv2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: IntPair = 1,
    padding: IntPair | str = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) of an NCHW input.

    ``weight`` is (out_channels, in_channels / groups, kh, kw). One primitive
    (``chainrule.ops.conv``): windows copied chunk by chunk and one matrix product
    per image, written NCHW; its gradients are primitives of their own.
    """
    x, w = _t(input), _t(weight)
    unbatched = x.ndim == 3
    if unbatched:
        x = x.reshape(1, *x.shape)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(
            f"conv2d: expected an input of shape (N, C, H, W) and a weight of shape "
            f"(out, in/groups, kh, kw); got {x.shape} and {w.shape}"
        )
    c, (oc, cg, kh, kw) = x.shape[1], w.shape
    if groups < 1 or c % groups or oc % groups:
        raise ValueError(
            f"conv2d: groups={groups} must divide in_channels {c} and out_channels {oc}"
        )
    if cg * groups != c:
        raise ValueError(
            f"conv2d: the input has {c} channels but the weight expects {cg * groups} "
            f"({cg} per group x {groups} groups); weight shape {w.shape}, input shape {x.shape}"
        )
    stride_, dilation_ = _pair(stride, "stride"), _pair(dilation, "dilation")
    symmetric, uneven = _conv_padding(padding, (kh, kw), dilation_, stride_)
    if uneven is not None:  # PyTorch pads the odd zero after: one copy, then no padding
        (top, bottom), (left, right) = uneven
        x = pad(x, (left, right, top, bottom))
    params = {"stride": stride_, "padding": symmetric, "dilation": dilation_, "groups": int(groups)}
    out = apply(_conv.conv2d, (x, w, bias), params)
    return out.reshape(out.shape[1:]) if unbatched else out


def unfold(
    input: Any,
    kernel_size: IntPair,
    dilation: IntPair = 1,
    padding: IntPair = 0,
    stride: IntPair = 1,
) -> Tensor:
    """PyTorch's unfold: (N, C, H, W) -> (N, C*kh*kw, L), each column one receptive field.

    >>> import chainrule as cr
    >>> # every 3x3 patch of a (1, 2, 4, 4) image as a column of 2*3*3 numbers; 2*2 patches
    >>> cr.nn.functional.unfold(cr.zeros(1, 2, 4, 4), kernel_size=3).shape
    (1, 18, 4)
    """
    x = _t(input)
    if x.ndim == 3:  # one unbatched image (C, H, W), as PyTorch takes it
        return unfold(x.reshape(1, *x.shape), kernel_size, dilation, padding, stride)[0]
    if x.ndim != 4:
        raise ValueError(
            f"unfold: expected an input of shape (N, C, H, W) or (C, H, W), got {x.shape}"
        )
    kh, kw = _pair(kernel_size, "kernel_size")
    params = {
        "kernel_size": (kh, kw),
        "stride": _pair(stride, "stride"),
        "padding": _pair(padding, "padding"),
        "dilation": _pair(dilation, "dilation"),
    }
    n, c = x.shape[:2]
    cols = apply(_nn.im2col, (x,), params)
    blocks = cols.shape[0] // n
    return (
        cols.reshape(n, blocks, kh, kw, c).transpose(0, 4, 2, 3, 1).reshape(n, c * kh * kw, blocks)
    )


# ------------------------------------------------------------------ pooling
def _pool_params(kernel_size, stride, padding, dilation, name):
    k = _pair(kernel_size, "kernel_size")
    s = _pair(stride_or_kernel(stride, k), "stride")
    p = _pair(padding, "padding")
    if p[0] * 2 > k[0] or p[1] * 2 > k[1]:
        raise ValueError(f"{name}: padding {p} must be at most half the kernel size {k}")
    return {"kernel_size": k, "stride": s, "padding": p, "dilation": _pair(dilation, "dilation")}


def max_pool2d(
    input: Any,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor:
    """Largest value of each window (stride defaults to the kernel size). With
    ``return_indices``, also each maximum's flat index in its (H, W) plane; with
    ``ceil_mode`` a last window may overhang the end (PyTorch's output size)."""
    if ceil_mode or return_indices:
        return max_pool2d_indexed(
            input, kernel_size, stride, padding, dilation, ceil_mode, return_indices
        )
    x, unbatched = _batched(_t(input), "max_pool2d")
    out = apply(
        _nn.max_pool2d, (x,), _pool_params(kernel_size, stride, padding, dilation, "max_pool2d")
    )
    return out.reshape(out.shape[1:]) if unbatched else out


def avg_pool2d(
    input: Any,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean of each window; padded zeros count unless ``count_include_pad=False``;
    with ``ceil_mode`` a last window may overhang the end, and its overhang does not
    count (PyTorch's divisors)."""
    x, unbatched = _batched(_t(input), "avg_pool2d")
    params = _pool_params(kernel_size, stride, padding, 1, "avg_pool2d")
    out = avg_pool2d_general(
        x,
        params["kernel_size"],
        params["stride"],
        params["padding"],
        ceil_mode,
        count_include_pad,
        divisor_override,
    )
    return out.reshape(out.shape[1:]) if unbatched else out


# ------------------------------------------------------------------ shape, dropout
def flatten(input: Any, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim`` .. ``end_dim`` into one."""
    x = _t(input)
    nd = max(x.ndim, 1)
    start, end = start_dim % nd, end_dim % nd
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape[:start] + (-1,) + x.shape[end + 1 :]
    return x.reshape(shape)


def unflatten(input: Any, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split axis ``dim`` into ``sizes`` (one of them may be -1)."""
    x = _t(input)
    d = dim % max(x.ndim, 1)
    return x.reshape(x.shape[:d] + tuple(int(s) for s in sizes) + x.shape[d + 1 :])


def dropout(
    input: Any, p: float = 0.5, training: bool = True, inplace: bool = False, generator: Any = None
) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p).
    ``inplace=True`` writes the result into ``input`` and returns it, as PyTorch's
    (outside training, or with p = 0, ``input`` itself, unchanged); ``generator``
    draws the mask (chainrule's own keyword)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be between 0 and 1, got {p}")
    if inplace:
        if not training or p == 0.0:
            return require_tensor_flag("dropout", input)
        return inplace_flag("dropout", input, lambda x: dropout(x, p, True, False, generator))
    x = _t(input)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0
    if x._batched:  # inside cr.vmap: each example draws its own mask
        from chainrule.batching.batched import batched_like, physical_shape

        draw = as_generator(generator).random(physical_shape(x), dtype=np.float32) >= p
        keep = batched_like(x, draw)
    else:
        keep = as_generator(generator).random(x.shape, dtype=np.float32) >= p
    return x * (keep.astype(x.dtype) * (1.0 / (1.0 - p))).astype(x.dtype)


def _index_values(idx: Any) -> np.ndarray:
    """The values of an index (every example's, inside cr.vmap), for range checks."""
    if getattr(idx, "_batched", False):
        from chainrule.batching.batched import physical_array

        return physical_array(idx)
    return idx


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Integer classes -> int64 one-hot vectors along a new last axis.

    >>> import chainrule as cr
    >>> cr.nn.functional.one_hot(cr.tensor([0, 2]), num_classes=3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    batched = getattr(tensor, "_batched", False)  # inside cr.vmap: each example's classes
    idx = tensor if batched else _raw(tensor)
    if num_classes < 0:
        values = _index_values(idx)  # (every example's: one width for the batch)
        num_classes = int(values.max()) + 1 if values.size else 0
    if batched:
        return as_tensor(np.eye(num_classes, dtype=np.int64))[idx]
    return as_tensor(np.eye(num_classes, dtype=np.int64)[idx])


# ------------------------------------------------------------------ normalisation
def batch_norm(
    input: Any,
    running_mean: Tensor | np.ndarray | None,
    running_var: Tensor | np.ndarray | None,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (axis 1) by batch statistics (training) or running ones.

    In training mode the running statistics are updated in place:
    running = (1 - momentum) * running + momentum * batch (the unbiased variance).
    """
    x = _t(input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected at least 2 axes (N, C, ...), got shape {x.shape}")
    c = x.shape[1]
    shape = (1, c) + (1,) * (x.ndim - 2)
    axes = (0, *range(2, x.ndim))
    if training or running_mean is None or running_var is None:
        count = x.size // c
        if count <= 1 and training:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got input "
                f"of shape {x.shape}"
            )
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=axes, keepdims=True)
        out = centred / _f.sqrt(var + eps)
        tracer = active_tracer()
        if training and running_mean is not None and running_var is not None and tracer:
            # Under cr.jit: the same update as recorded operations, which the compiled
            # code writes back into the buffers on every call (an in-place NumPy update
            # would happen at the trace only).
            for buffer, batch in (
                (running_mean, mean.detach().reshape(c)),
                (running_var, var.detach().reshape(c) * (count / max(count - 1, 1))),
            ):
                old = _t(buffer)
                tracer.write_back(buffer, old * (1 - momentum) + batch.astype(old.dtype) * momentum)
        elif training and running_mean is not None and running_var is not None:
            rm, rv = _raw(running_mean), _raw(running_var)
            batch_mean = mean.data.reshape(c)
            batch_var = var.data.reshape(c) * (count / max(count - 1, 1))
            rm *= 1 - momentum
            rm += momentum * batch_mean.astype(rm.dtype)
            rv *= 1 - momentum
            rv += momentum * batch_var.astype(rv.dtype)
        if weight is not None:
            out = out * _t(weight).reshape(shape)
        if bias is not None:
            out = out + _t(bias).reshape(shape)
        return out
    # Evaluation: an affine map per channel, folded into one scale and one shift.
    if active_tracer() is not None:
        # Under cr.jit, as operations on the buffers, so that the compiled code reads
        # them when it runs (training may have moved them since the trace).
        inv: Any = 1.0 / _f.sqrt(_t(running_var).astype(x.dtype) + eps)
        mean: Any = _t(running_mean).astype(x.dtype)
    else:
        inv = 1.0 / np.sqrt(_raw(running_var).astype(x.dtype) + eps)
        mean = _raw(running_mean).astype(x.dtype)
    if weight is None:
        scale: Any = inv.reshape(shape)
        shift: Any = (-mean * inv).reshape(shape)
    else:
        w = _t(weight)
        scale = (w * inv).reshape(shape)
        shift = (w * (-mean * inv)).reshape(shape)
    if bias is not None:
        shift = shift + _t(bias).reshape(shape)
    return x * scale + shift


def layer_norm(
    input: Any,
    normalized_shape: int | Sequence[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` axes (biased variance)."""
    x = _t(input)
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(ns) :]) != ns:
        raise ValueError(
            f"layer_norm: the input's last axes {x.shape} do not match normalized_shape {ns}"
        )
    if len(ns) == 1 and weight is not None and bias is not None:
        w, b = _t(weight), _t(bias)
        if _affine.takes(x, w, b):  # the whole layer in one node
            return apply(_affine.layer_norm_affine, (x, w, b), {"eps": eps})
    axes = tuple(range(x.ndim - len(ns), x.ndim))
    out = _normalize(x, eps=eps, axes=axes)  # one node (see chainrule.ops.normalization)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out
