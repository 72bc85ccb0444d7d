"""Higher-order derivatives and function transforms, JAX-style.

Run: python examples/transforms.py
"""

import numpy as np

import chainrule as cr


def sigmoid(z):
    return 1 / (1 + cr.exp(-z))


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def main() -> None:
    # grad composes to any depth: the n-th derivative of the seed's sigmoid.
    d = sigmoid
    z = 0.5
    s = 1 / (1 + np.exp(-z))
    closed = [s * (1 - s), s * (1 - s) * (1 - 2 * s), s * (1 - s) * (1 - 6 * s + 6 * s * s)]
    for order, expected in enumerate(closed, start=1):
        d = cr.grad(d)
        value = d(z).item()
        print(f"d^{order} sigma/dz^{order} at {z}: {value:+.10f}  (closed form {expected:+.10f})")

    # Forward mode: J @ u without forming J; reverse mode: v^T @ J.
    def polar(r):
        return cr.stack([r[0] * cr.cos(r[1]), r[0] * cr.sin(r[1])])

    r = np.array([2.0, 0.3])
    _, ju = cr.jvp(polar, (r,), (np.array([1.0, 0.0]),))
    _, vjp_fn = cr.vjp(polar, r)
    (vj,) = vjp_fn(np.array([1.0, 0.0]))
    print("J u   =", ju.data, "\nv^T J =", vj.data)
    print(
        "jacobian (reverse) == jacfwd (forward):",
        np.allclose(cr.jacobian(polar)(r).data, cr.jacfwd(polar)(r).data),
    )

    # The Hessian, forward over reverse, and a Hessian-vector product.
    x = np.array([1.2, 0.8, -0.5, 1.0])
    print("Hessian of the Rosenbrock function:\n", cr.hessian(rosenbrock)(x).data)
    print("H v =", cr.hvp(rosenbrock, (x,), (np.ones(4),)).data)


if __name__ == "__main__":
    main()
