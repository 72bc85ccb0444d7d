"""The convolution primitive behind ``chainrule.scipy.signal.convolve``.

``convolve(a, b)`` along pairs of axes ``axes = (axes_of_a, axes_of_b)``, with
``dot_axes`` pairs summed over as in ``tensordot``, and every other axis kept
(a's first, then b's, then the convolved ones), as HIPS autograd's ``convolve``.
The primitive's ``batch`` parameter (pairs of axes, ``cr.vmap``'s) names axes
that both operands keep, element by element, ahead of all the others: example i
of a convolved with example i of b, in the same einsum.

Along a convolved axis the full convolution is ``c[n] = sum_k a[k] b[n - k]`` for
n in [0, na + nb - 1); each mode keeps a window [lo, hi) of it (full: all of it;
valid: [min - 1, max); same: na entries centred as SciPy centres them). So one
primitive with ``lo``/``hi`` per axis covers every mode, and its adjoints are the
same primitive again: with the upstream gradient ``g`` on [lo, hi),

    grad_a[k] = sum_n g[n - lo] b[n - k] = (g * flip(b))[k + nb - 1 - lo],

a window of the full convolution of ``g`` with ``b`` reversed, and likewise for
``b``. The rules are therefore differentiable again. The forward is a sliding-window
view of ``a`` (padded with zeros only as far as the window needs) contracted with
reversed ``b`` by ``einsum``, with no copy of the windows.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from chainrule.ops.primitive import Primitive, call


def _roles(ndim, conv, dot, paired=()):
    """The axes of an operand that are neither convolved, summed nor paired (kept as
    they are)."""
    return [i for i in range(ndim) if i not in conv and i not in dot and i not in paired]


def _forward(a, b, conv, dot, lo, hi, batch=None):
    ca, cb = conv
    da, db = dot
    ba, bb = batch or ((), ())
    pads = [(0, 0)] * a.ndim
    index = [slice(None)] * a.ndim
    for k, (i, j) in enumerate(zip(ca, cb)):
        na, nb = a.shape[i], b.shape[j]
        first, last = lo[k] - (nb - 1), hi[k] - 1  # the entries of a the window reads
        left, right = max(0, -first), max(0, last - (na - 1))
        pads[i] = (left, right)
        start = first + left
        index[i] = slice(start, start + hi[k] - lo[k] + nb - 1)
    if any(p != (0, 0) for p in pads):
        a = np.pad(a, pads)
    a = a[tuple(index)]
    windows = sliding_window_view(a, [b.shape[j] for j in cb], axis=list(ca))
    flipped = b[tuple(slice(None, None, -1) if j in cb else slice(None) for j in range(b.ndim))]

    n_conv = len(ca)
    position = list(range(n_conv))  # labels 0.. for the output positions
    window = list(range(n_conv, 2 * n_conv))
    fresh = iter(range(2 * n_conv, 52))
    shared = {m: next(fresh) for m in range(len(da))}
    paired = [next(fresh) for _ in ba]  # one label each, kept: the output's first axes
    labels_a = [
        position[ca.index(i)]
        if i in ca
        else shared[da.index(i)]
        if i in da
        else paired[ba.index(i)]
        if i in ba
        else next(fresh)
        for i in range(a.ndim)
    ] + window
    labels_b = [
        window[cb.index(j)]
        if j in cb
        else shared[db.index(j)]
        if j in db
        else paired[bb.index(j)]
        if j in bb
        else next(fresh)
        for j in range(b.ndim)
    ]
    kept_a = [labels_a[i] for i in _roles(a.ndim, ca, da, ba)]
    kept_b = [labels_b[j] for j in _roles(b.ndim, cb, db, bb)]
    return np.einsum(windows, labels_a, flipped, labels_b, paired + kept_a + kept_b + position)


def _vjp_a(g, ans, a, b, conv, dot, lo, hi, batch=None):
    ca, cb = conv
    da, db = dot
    ba, bb = batch or ((), ())
    nb_ = len(ba)  # g's first axes are the paired ones
    kept_a, kept_b = _roles(a.ndim, ca, da, ba), _roles(b.ndim, cb, db, bb)
    g_conv = tuple(range(nb_ + len(kept_a) + len(kept_b), g.ndim))
    g_kept_b = tuple(range(nb_ + len(kept_a), nb_ + len(kept_a) + len(kept_b)))
    new_lo = tuple(b.shape[j] - 1 - lo[k] for k, j in enumerate(cb))
    new_hi = tuple(new_lo[k] + a.shape[i] for k, i in enumerate(ca))
    r = call(
        convolve,
        g,
        np.flip(b, axis=tuple(cb)),
        conv=(g_conv, tuple(cb)),
        dot=(g_kept_b, tuple(kept_b)),
        lo=new_lo,
        hi=new_hi,
        **({"batch": (tuple(range(nb_)), tuple(bb))} if nb_ else {}),
    )
    # r's axes: the paired ones, a's kept axes, b's summed axes (in b's order), a's
    # convolved axes.
    source = list(ba) + kept_a + [da[db.index(j)] for j in sorted(db)] + list(ca)
    return r.transpose(tuple(int(p) for p in np.argsort(source)))


def _vjp_b(g, ans, a, b, conv, dot, lo, hi, batch=None):
    ca, cb = conv
    da, db = dot
    ba, bb = batch or ((), ())
    nb_ = len(ba)
    kept_a, kept_b = _roles(a.ndim, ca, da, ba), _roles(b.ndim, cb, db, bb)
    g_conv = tuple(range(nb_ + len(kept_a) + len(kept_b), g.ndim))
    g_kept_a = tuple(range(nb_, nb_ + len(kept_a)))
    new_lo = tuple(a.shape[i] - 1 - lo[k] for k, i in enumerate(ca))
    new_hi = tuple(new_lo[k] + b.shape[j] for k, j in enumerate(cb))
    r = call(
        convolve,
        g,
        np.flip(a, axis=tuple(ca)),
        conv=(g_conv, tuple(ca)),
        dot=(g_kept_a, tuple(kept_a)),
        lo=new_lo,
        hi=new_hi,
        **({"batch": (tuple(range(nb_)), tuple(ba))} if nb_ else {}),
    )
    # r's axes: the paired ones, b's kept axes, a's summed axes (in a's order), b's
    # convolved axes.
    source = list(bb) + kept_b + [db[da.index(i)] for i in sorted(da)] + list(cb)
    return r.transpose(tuple(int(p) for p in np.argsort(source)))


convolve = Primitive(
    "convolve",
    _forward,
    vjp=(_vjp_a, _vjp_b),
    # Bilinear: each tangent goes through the same convolution.
    jvp=(
        lambda t, ans, a, b, **p: call(convolve, t, b, **p),
        lambda t, ans, a, b, **p: call(convolve, a, t, **p),
    ),
    formula=("g * flip(b)", "g * flip(a)"),
    doc="A window [lo, hi) of the full convolution of a and b along paired axes.",
)
