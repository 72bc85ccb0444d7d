"""Discrete Fourier transforms: the primitives behind ``chainrule.numpy.fft``.

Every transform is linear, so its JVP is the transform of the tangent. Its VJP is
its transpose under HIPS autograd's pairing ``Re(sum(g * t))`` (no conjugate; see
:mod:`chainrule.ops.complex_parts`):

- ``fftn``/``ifftn``: the DFT matrix is symmetric, so the transpose of a transform
  is the same transform, applied to ``g``; the zero-padding or truncation to ``s``
  transposes to truncation or zero-padding back to the input's shape (``fit``).
- ``rfftn`` of real x keeps the first ``n//2 + 1`` outputs of ``fftn`` on the last
  axis: its transpose zero-pads ``g`` back to ``n`` there, applies ``fftn`` and
  keeps the real part (a real input moves along real directions only).
- ``irfftn`` reads a half spectrum as the Hermitian full one: on the last axis it
  is ``irfft(X)_m = scale * (X_0 + 2 Re sum_{0<k<n/2} X_k w^km + X_{n/2} (-1)^m)``,
  with the imaginary parts of ``X_0`` (and ``X_{n/2}``, n even) ignored. Its
  transpose is ``c * ifftn(g)`` on the first ``n//2 + 1`` entries of the last axis,
  ``c`` being 1 at 0 (and n/2, n even) and 2 elsewhere; ``ifftn``'s ``norm`` gives
  the same scale as the forward's. This holds for odd ``n`` too.
- ``fftshift``/``ifftshift`` permute: each transposes to the other.

Transforms along a repeated axis are refused (``chainrule.numpy.fft``), as in
autograd.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.ops.complex_parts import real
from chainrule.ops.primitive import Primitive, call
from chainrule.tensor import apply


def _fit_forward(x: Any, shape: tuple[int, ...]) -> Any:
    """x truncated or zero-padded (at the end of each axis) to ``shape``."""
    x = x[tuple(slice(0, n) for n in shape)]
    pads = [(0, max(n - m, 0)) for n, m in zip(shape, x.shape)]
    return np.pad(x, pads) if any(p for _, p in pads) else np.array(x)


fit = Primitive(
    "fft_fit",
    _fit_forward,
    vjp=lambda g, ans, x, shape: call(fit, g, shape=tuple(x.shape)),
    jvp=lambda t, ans, x, shape: call(fit, t, shape=shape),
    formula="1",
    complex_rules=True,
    doc="x truncated or zero-padded to a shape (the n and s of the FFTs).",
)


def _reshaped(shape: tuple[int, ...], axes: tuple[int, ...], sizes: Any) -> tuple[int, ...]:
    out = list(shape)
    for a, n in zip(axes, sizes):
        out[a] = n
    return tuple(out)


def _fftn_forward(x: Any, s: Any, axes: tuple[int, ...], norm: Any) -> Any:
    return np.fft.fftn(x, s=s, axes=axes, norm=norm)


def _ifftn_forward(x: Any, s: Any, axes: tuple[int, ...], norm: Any) -> Any:
    return np.fft.ifftn(x, s=s, axes=axes, norm=norm)


def _fftn_vjp(g: Any, ans: Any, x: Any, s: Any, axes: tuple[int, ...], norm: Any) -> Any:
    return call(fit, call(fftn, g, s=None, axes=axes, norm=norm), shape=tuple(x.shape))


def _ifftn_vjp(g: Any, ans: Any, x: Any, s: Any, axes: tuple[int, ...], norm: Any) -> Any:
    return call(fit, call(ifftn, g, s=None, axes=axes, norm=norm), shape=tuple(x.shape))


fftn = Primitive(
    "fftn",
    _fftn_forward,
    vjp=_fftn_vjp,
    jvp=lambda t, ans, x, s, axes, norm: call(fftn, t, s=s, axes=axes, norm=norm),
    formula="DFT (symmetric: its transpose is itself)",
    complex_rules=True,
    doc="The n-dimensional discrete Fourier transform over ``axes``.",
)
ifftn = Primitive(
    "ifftn",
    _ifftn_forward,
    vjp=_ifftn_vjp,
    jvp=lambda t, ans, x, s, axes, norm: call(ifftn, t, s=s, axes=axes, norm=norm),
    formula="inverse DFT (symmetric: its transpose is itself)",
    complex_rules=True,
    doc="The n-dimensional inverse discrete Fourier transform over ``axes``.",
)


def _full_sizes(shape: tuple[int, ...], s: Any, axes: tuple[int, ...]) -> list[int]:
    return list(s) if s is not None else [shape[a] for a in axes]


def _rfftn_forward(x: Any, s: Any, axes: tuple[int, ...], norm: Any) -> Any:
    return np.fft.rfftn(x, s=s, axes=axes, norm=norm)


def _rfftn_vjp(g: Any, ans: Any, x: Any, s: Any, axes: tuple[int, ...], norm: Any) -> Any:
    sizes = _full_sizes(x.shape, s, axes)
    padded = call(fit, g, shape=_reshaped(g.shape, axes[-1:], sizes[-1:]))
    full = call(fftn, padded, s=None, axes=axes, norm=norm)
    return call(fit, call(real, full), shape=tuple(x.shape))


rfftn = Primitive(
    "rfftn",
    _rfftn_forward,
    vjp=_rfftn_vjp,
    jvp=lambda t, ans, x, s, axes, norm: call(rfftn, t, s=s, axes=axes, norm=norm),
    formula="the first n//2+1 outputs of the DFT of real x on the last axis",
    complex_rules=True,
    doc="The n-dimensional DFT of real x, the last axis halved (n//2 + 1 entries).",
)


def _irfftn_forward(x: Any, s: Any, axes: tuple[int, ...], norm: Any) -> Any:
    return np.fft.irfftn(x, s=s, axes=axes, norm=norm)


def _hermitian_weights(n: int, half: int, axis: int, ndim: int) -> np.ndarray:
    """1 for the entries irfft reads once (0, and n/2 for even n), 2 for the others."""
    c = np.full(half, 2.0)
    c[0] = 1.0
    if n % 2 == 0 and half > n // 2:
        c[n // 2] = 1.0
    return c.reshape([half if i == axis else 1 for i in range(ndim)])


def _irfftn_vjp(g: Any, ans: Any, x: Any, s: Any, axes: tuple[int, ...], norm: Any) -> Any:
    n = ans.shape[axes[-1]]
    half = n // 2 + 1
    inverse = call(ifftn, g, s=None, axes=axes, norm=norm)
    kept = call(fit, inverse, shape=_reshaped(inverse.shape, axes[-1:], (half,)))
    weighted = kept * _hermitian_weights(n, half, axes[-1], kept.ndim)
    return call(fit, weighted, shape=tuple(x.shape))


irfftn = Primitive(
    "irfftn",
    _irfftn_forward,
    vjp=_irfftn_vjp,
    jvp=lambda t, ans, x, s, axes, norm: call(irfftn, t, s=s, axes=axes, norm=norm),
    formula="c * ifftn(g) on the half spectrum (c = 1 at 0 and n/2, else 2)",
    complex_rules=True,
    saves_ans=True,
    doc="The inverse of rfftn: a half spectrum (read as Hermitian) to real values.",
)

fftshift = Primitive(
    "fftshift",
    lambda x, axes: np.fft.fftshift(x, axes=axes),
    vjp=lambda g, ans, x, axes: call(ifftshift, g, axes=axes),
    jvp=lambda t, ans, x, axes: call(fftshift, t, axes=axes),
    formula="a permutation (its transpose is ifftshift)",
    complex_rules=True,
    doc="The zero frequency moved to the middle of ``axes``.",
)
ifftshift = Primitive(
    "ifftshift",
    lambda x, axes: np.fft.ifftshift(x, axes=axes),
    vjp=lambda g, ans, x, axes: call(fftshift, g, axes=axes),
    jvp=lambda t, ans, x, axes: call(ifftshift, t, axes=axes),
    formula="a permutation (its transpose is fftshift)",
    complex_rules=True,
    doc="The inverse of fftshift.",
)


# ------------------------------------------------------------- batching (vmap)
# The transforms act along named axes, so a batch (its axis first) goes through in
# one call with every axis moved up by one; fit pads the batch axis not at all.
def _shifted_axes_rule(prim, xs, flags, size, params):
    axes = params["axes"]
    moved = axes + 1 if isinstance(axes, int) else tuple(a + 1 for a in axes)
    return apply(prim, (xs[0],), {**params, "axes": moved})


def _fit_rule(prim, xs, flags, size, params):
    return apply(prim, (xs[0],), {"shape": (xs[0].shape[0], *params["shape"])})


for _prim in (fftn, ifftn, rfftn, irfftn, fftshift, ifftshift):
    _prim.vmap = _shifted_axes_rule
fit.vmap = _fit_rule
