"""Check the engine's gradients against central finite differences, in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.engine import run_backward
from chainrule.autograd.grad_mode import no_grad
from chainrule.tensor import Tensor, check_differentiable_dtype


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` when an analytic gradient disagrees with the numeric one."""


def _outputs(result: Any) -> list[Tensor]:
    outs = list(result) if isinstance(result, tuple | list) else [result]
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: fn must return Tensors, got {type(o).__name__}")
    return outs


def gradcheck(
    fn: Callable[..., Any],
    inputs: Tensor | Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Compare d fn / d inputs from backpropagation with central finite differences.

    Every input Tensor with ``requires_grad=True`` is checked (others are held
    constant); all are promoted to float64 first. Returns True, or raises
    :class:`GradcheckError` naming the input, element and output of the worst
    mismatch with both values. An entry passes when
    ``|analytic - numeric| <= atol + rtol * |numeric|``.

    >>> import chainrule as cr
    >>> x = cr.tensor([0.5, -1.0], requires_grad=True)
    >>> cr.gradcheck(lambda t: (t * cr.sin(t)).sum(), (x,))
    True
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    args: list[Any] = []
    checked: list[int] = []
    for i, a in enumerate(inputs):
        if isinstance(a, Tensor) and a.requires_grad:
            check_differentiable_dtype(a.dtype, f"gradcheck input {i}")
            if a.dtype.kind == "c":
                raise TypeError(
                    f"gradcheck: input {i} is complex, and gradcheck compares real Jacobians "
                    "element by element; chainrule.test_util.check_grads checks complex "
                    "inputs along random complex directions"
                )
            args.append(Tensor(a.data.astype(np.float64), requires_grad=True))
            checked.append(i)
        elif isinstance(a, Tensor) and a.dtype.kind == "f":
            args.append(Tensor(a.data.astype(np.float64)))
        else:
            args.append(a)
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")

    outs = _outputs(fn(*args))
    analytic = _analytic_jacobians(outs, [args[i] for i in checked])
    numeric = _numeric_jacobians(fn, args, checked, eps)

    worst = None  # (excess, input, element, output, output element, analytic, numeric)
    for (out_k, in_i), a_jac in analytic.items():
        n_jac = numeric[(out_k, in_i)]
        excess = np.abs(a_jac - n_jac) - (atol + rtol * np.abs(n_jac))
        excess = np.where(np.isnan(a_jac) != np.isnan(n_jac), np.inf, excess)
        if excess.size == 0:
            continue
        flat = int(np.nanargmax(excess)) if not np.all(np.isnan(excess)) else 0
        value = excess.flat[flat]
        if (value > 0 or np.isnan(value)) and (worst is None or value > worst[0]):
            o_flat, x_flat = np.unravel_index(flat, a_jac.shape)
            worst = (value, in_i, x_flat, out_k, o_flat, a_jac.flat[flat], n_jac.flat[flat])
    if worst is None:
        return True
    _, in_i, x_flat, out_k, o_flat, a_val, n_val = worst
    x_index = np.unravel_index(x_flat, args[checked[in_i]].shape)
    o_index = np.unravel_index(o_flat, outs[out_k].shape)
    raise GradcheckError(
        f"gradcheck: gradient mismatch for input {checked[in_i]} at index "
        f"{tuple(int(j) for j in x_index)} (output {out_k}, index "
        f"{tuple(int(j) for j in o_index)}): analytic {float(a_val)!r}, numeric {float(n_val)!r} "
        f"(atol={atol}, rtol={rtol})"
    )


def _analytic_jacobians(outs: list[Tensor], xs: list[Tensor]) -> dict[tuple[int, int], Any]:
    jac = {}
    for k, out in enumerate(outs):
        rows = [np.zeros((out.size, x.size)) for x in xs]
        if out.requires_grad:
            for r in range(out.size):
                seed = np.zeros(out.size)
                seed[r] = 1.0
                grads = run_backward((out,), (seed.reshape(out.shape),), True, False, inputs=xs)
                for j, g in enumerate(grads):
                    if g is not None:
                        rows[j][r] = np.broadcast_to(np.asarray(g), xs[j].shape).ravel()
        for j in range(len(xs)):
            jac[(k, j)] = rows[j]
    return jac


def _numeric_jacobians(fn, args, checked, eps) -> dict[tuple[int, int], Any]:
    jac: dict[tuple[int, int], Any] = {}
    with no_grad():
        for j, i in enumerate(checked):
            x = args[i].data
            columns: list[list[np.ndarray]] = []
            for e in range(x.size):
                original = x.flat[e]
                x.flat[e] = original + eps
                plus = [o.data.astype(np.float64).ravel() for o in _outputs(fn(*args))]
                x.flat[e] = original - eps
                minus = [o.data.astype(np.float64).ravel() for o in _outputs(fn(*args))]
                x.flat[e] = original
                columns.append([(p - m) / (2 * eps) for p, m in zip(plus, minus)])
            for k in range(len(columns[0]) if columns else 0):
                jac[(k, j)] = np.stack([c[k] for c in columns], axis=1)
            if not columns:
                for k, o in enumerate(_outputs(fn(*args))):
                    jac[(k, j)] = np.zeros((o.size, 0))
    return jac


def gradgradcheck(
    fn: Callable[..., Any],
    inputs: Tensor | Sequence[Any],
    grad_outputs: Sequence[Any] | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check second derivatives: the gradient of ``fn`` (a vector-Jacobian product
    with ``grad_outputs``, random if not given) is itself checked by :func:`gradcheck`,
    so the engine's derivative of the backward pass meets finite differences of it.

    >>> import chainrule as cr
    >>> x = cr.tensor([0.3, 0.8], requires_grad=True)
    >>> cr.gradgradcheck(lambda t: cr.tanh(t) * t, (x,))
    True
    """
    from chainrule.autograd.engine import grad as autograd_grad
    from chainrule.autograd.grad_mode import enable_grad

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [i for i, a in enumerate(inputs) if isinstance(a, Tensor) and a.requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: no input requires grad, so there is nothing to check")
    probe = [Tensor(a.data.astype(np.float64)) if isinstance(a, Tensor) else a for a in inputs]
    with no_grad():
        outs = _outputs(fn(*probe))
    rng = np.random.default_rng(seed)
    if grad_outputs is None:
        cotangents = [rng.standard_normal(o.shape) for o in outs]
    else:
        gos = [grad_outputs] if isinstance(grad_outputs, Tensor | np.ndarray) else grad_outputs
        cotangents = [
            np.asarray(g.data if isinstance(g, Tensor) else g, dtype=np.float64) for g in gos
        ]

    def first_derivative(*args: Any) -> tuple[Tensor, ...]:
        with enable_grad():
            outs = _outputs(fn(*args))
            wrt = [args[i] for i in checked]
            pairs = [(o, c) for o, c in zip(outs, cotangents) if o.requires_grad]
            if not pairs:
                return tuple(Tensor(np.zeros_like(w.data)) for w in wrt)
            grads = autograd_grad(
                [o for o, _ in pairs],
                wrt,
                [c for _, c in pairs],
                create_graph=True,
                materialize_grads=True,
            )
            return tuple(grads)

    return gradcheck(first_derivative, inputs, eps=eps, atol=atol, rtol=rtol)
