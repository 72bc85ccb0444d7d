"""``chainrule.numpy.fft``: NumPy's ``numpy.fft`` with derivatives.

fft, ifft, fft2, ifft2, fftn, ifftn, rfft, irfft, rfft2, irfft2, rfftn, irfftn,
fftshift and ifftshift, with NumPy's ``n``, ``s``, ``axis``/``axes`` and ``norm``
arguments. Each call is one of the primitives in :mod:`chainrule.ops.fft` (the 1-D
and 2-D forms are the n-dimensional ones along their axes), differentiable in both
modes; complex values follow HIPS autograd's convention (docs/reference/complex.md).
Unlike autograd, ``rfft``/``irfft`` of odd lengths are differentiable too. A
transform along a repeated axis is refused when a gradient is needed (as in
autograd); ``rfft`` and friends take real input, as NumPy's do.

Other names (``fftfreq``, ``rfftfreq``, ``hfft``, ...) are NumPy's; on a Tensor that
requires grad, those without a rule refuse it, naming themselves.
"""

from __future__ import annotations

import sys as _sys
from typing import Any

import numpy as np

from chainrule.numpy import _dispatch
from chainrule.numpy._core import array_arg, binding, constant, data, no_out, normalize_axis
from chainrule.ops import fft as _fft
from chainrule.tensor import Tensor, apply

fftfreq = np.fft.fftfreq
rfftfreq = np.fft.rfftfreq


def __getattr__(name: str) -> Any:
    return getattr(np.fft, name)


def _transform(prim: Any, a: Any, s: Any, axes: Any, norm: Any, out: Any, name: str) -> Any:
    no_out(f"fft.{name}", out)
    x = array_arg(a)
    axes = tuple(normalize_axis(int(ax), x.ndim, name) for ax in axes)
    s = None if s is None else tuple(int(n) for n in s)
    if s is not None and len(s) != len(axes):
        raise ValueError(f"fft.{name}: s has {len(s)} entries but there are {len(axes)} axes")
    if len(set(axes)) != len(axes):
        if isinstance(x, Tensor) and x.requires_grad:
            raise NotImplementedError(
                f"fft.{name}: the gradient of a transform along a repeated axis "
                f"({axes}) is not implemented (as in autograd); transform once per axis"
            )
        return constant(np.asarray(prim.forward(data(x), s=s, axes=axes, norm=norm)))
    return apply(prim, (x,), {"s": s, "axes": axes, "norm": norm})


def _nd_axes(a: Any, s: Any, axes: Any) -> Any:
    """NumPy's default axes of the n-dimensional transforms: all, or the last len(s)."""
    if axes is not None:
        return axes
    ndim = np.ndim(a.data if isinstance(a, Tensor) else a)
    return range(ndim) if s is None else range(ndim - len(s), ndim)


def _one_axis(n: Any, axis: int) -> tuple[Any, tuple[int]]:
    return (None if n is None else (n,)), (axis,)


@binding(np.fft.fft)
def fft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    """The 1-D discrete Fourier transform (length ``n``: truncated or zero-padded)."""
    s, axes = _one_axis(n, axis)
    return _transform(_fft.fftn, a, s, axes, norm, out, "fft")


@binding(np.fft.ifft)
def ifft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    """The 1-D inverse discrete Fourier transform."""
    s, axes = _one_axis(n, axis)
    return _transform(_fft.ifftn, a, s, axes, norm, out, "ifft")


@binding(np.fft.fft2)
def fft2(a: Any, s: Any = None, axes: Any = (-2, -1), norm: Any = None, out: Any = None) -> Any:
    """The 2-D discrete Fourier transform over ``axes``."""
    return _transform(_fft.fftn, a, s, axes, norm, out, "fft2")


@binding(np.fft.ifft2)
def ifft2(a: Any, s: Any = None, axes: Any = (-2, -1), norm: Any = None, out: Any = None) -> Any:
    """The 2-D inverse discrete Fourier transform over ``axes``."""
    return _transform(_fft.ifftn, a, s, axes, norm, out, "ifft2")


@binding(np.fft.fftn)
def fftn(a: Any, s: Any = None, axes: Any = None, norm: Any = None, out: Any = None) -> Any:
    """The n-dimensional discrete Fourier transform (all axes, or the last len(s))."""
    return _transform(_fft.fftn, a, s, _nd_axes(a, s, axes), norm, out, "fftn")


@binding(np.fft.ifftn)
def ifftn(a: Any, s: Any = None, axes: Any = None, norm: Any = None, out: Any = None) -> Any:
    """The n-dimensional inverse discrete Fourier transform."""
    return _transform(_fft.ifftn, a, s, _nd_axes(a, s, axes), norm, out, "ifftn")


@binding(np.fft.rfft)
def rfft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    """The DFT of real input, non-negative frequencies only (n//2 + 1 of them)."""
    s, axes = _one_axis(n, axis)
    return _transform(_fft.rfftn, a, s, axes, norm, out, "rfft")


@binding(np.fft.irfft)
def irfft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    """The inverse of rfft: real output of length ``n`` (default 2 (m - 1))."""
    s, axes = _one_axis(n, axis)
    return _transform(_fft.irfftn, a, s, axes, norm, out, "irfft")


@binding(np.fft.rfft2)
def rfft2(a: Any, s: Any = None, axes: Any = (-2, -1), norm: Any = None, out: Any = None) -> Any:
    """The 2-D DFT of real input, the last axis halved."""
    return _transform(_fft.rfftn, a, s, axes, norm, out, "rfft2")


@binding(np.fft.irfft2)
def irfft2(a: Any, s: Any = None, axes: Any = (-2, -1), norm: Any = None, out: Any = None) -> Any:
    """The inverse of rfft2."""
    return _transform(_fft.irfftn, a, s, axes, norm, out, "irfft2")


@binding(np.fft.rfftn)
def rfftn(a: Any, s: Any = None, axes: Any = None, norm: Any = None, out: Any = None) -> Any:
    """The n-dimensional DFT of real input, the last axis halved."""
    return _transform(_fft.rfftn, a, s, _nd_axes(a, s, axes), norm, out, "rfftn")


@binding(np.fft.irfftn)
def irfftn(a: Any, s: Any = None, axes: Any = None, norm: Any = None, out: Any = None) -> Any:
    """The inverse of rfftn: real output (last axis 2 (m - 1) unless ``s`` says)."""
    return _transform(_fft.irfftn, a, s, _nd_axes(a, s, axes), norm, out, "irfftn")


def _shift(prim: Any, x: Any, axes: Any, name: str) -> Any:
    x = array_arg(x)
    if axes is None:
        axes = tuple(range(x.ndim))
    elif isinstance(axes, int | np.integer):
        axes = normalize_axis(int(axes), x.ndim, name)
    else:
        axes = tuple(normalize_axis(int(a), x.ndim, name) for a in axes)
    return apply(prim, (x,), {"axes": axes})


@binding(np.fft.fftshift)
def fftshift(x: Any, axes: Any = None) -> Any:
    """The zero-frequency term moved to the middle of ``axes`` (default: all)."""
    return _shift(_fft.fftshift, x, axes, "fftshift")


@binding(np.fft.ifftshift)
def ifftshift(x: Any, axes: Any = None) -> Any:
    """The inverse of fftshift."""
    return _shift(_fft.ifftshift, x, axes, "ifftshift")


# numpy.fft.X(tensor) reaches these implementations (NumPy's dispatch).
_dispatch.install_functions(_sys.modules[__name__])
