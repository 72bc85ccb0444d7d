"""Layer normalisation's core as one primitive: (x - mean) / sqrt(var + eps) over
the last axes.

Composed, it is nine nodes (two means, a square, a root, a division, ...) and
its backward pass twice as many; a transformer makes two per layer. Fused, it is
one node whose rule is the textbook one. Its Jacobian, with x̂ the result and
``rstd = 1 / sqrt(var + eps)``, is

    d x̂ / d x = rstd (I - 1/n - x̂ x̂^T / n)

which is symmetric, so one formula pushes a gradient back and a tangent forward:
``rstd (v - mean(v) - x̂ mean(v x̂))``. The rule uses only operations Tensors
take, so second derivatives are recorded as usual.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops.primitive import Primitive


def _rstd(x, eps, axes):
    centred = x - x.mean(axis=axes, keepdims=True)
    return 1.0 / np.sqrt((centred * centred).mean(axis=axes, keepdims=True) + eps)


def _normalize_forward(x, eps=1e-5, axes=(-1,)):
    centred = x - x.mean(axis=axes, keepdims=True)
    var = np.square(centred).mean(axis=axes, keepdims=True)
    var += eps
    np.sqrt(var, out=var)
    centred /= var
    return centred


def _normalize_rule(v, ans, x, eps=1e-5, axes=(-1,)):
    inner = v - v.mean(axis=axes, keepdims=True) - ans * (v * ans).mean(axis=axes, keepdims=True)
    return inner * _rstd(x, eps, axes)


normalize = Primitive(
    "layer_normalize",
    _normalize_forward,
    vjp=_normalize_rule,
    jvp=_normalize_rule,
    formula="rstd*(1[i=j]-1/n-xhat_i*xhat_j/n)",
    saves_ans=True,
    doc="(x - mean) / sqrt(var + eps) over ``axes`` (the last ones; biased variance): "
    "layer normalisation before its scale and shift.",
)
