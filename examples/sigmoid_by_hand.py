"""The seed's example, worked twice: by hand with the chain rule, and by the engine.

    sigma(z) = 1 / (1 + e^-z) = i(h(g(f(z))))
    f(z) = -z      f'(z) = -1
    g(f) = e^f     g'(f) = e^f
    h(g) = 1 + g   h'(g) = 1
    i(h) = 1/h     i'(h) = -1/h^2
    dsigma/dz = f' * g' * h' * i' = e^-z / (1 + e^-z)^2 = sigma(z) (1 - sigma(z))

Run: python examples/sigmoid_by_hand.py [z ...]
"""

from __future__ import annotations

import math
import sys

import chainrule as cr


def by_hand(z: float) -> dict[str, float]:
    """Each node's value and local derivative, and their product, with plain floats."""
    f = -z
    g = math.exp(f)
    h = 1 + g
    i = 1 / h
    local = {"f'(z)": -1.0, "g'(f)": g, "h'(g)": 1.0, "i'(h)": -1 / h**2}
    return {"f": f, "g": g, "h": h, "i": i, **local, "product": math.prod(local.values())}


def by_engine(z: float) -> tuple[float, float, dict[str, float]]:
    """sigma(z) and dsigma/dz by backpropagation, and the upstream gradient at each node."""
    zt = cr.tensor(z, dtype=cr.float64, requires_grad=True)
    f = -zt
    g = cr.exp(f)
    h = 1 + g
    i = 1 / h
    for t in (f, g, h):
        t.retain_grad()
    i.backward()
    upstream = {"dsigma/df": f.grad.item(), "dsigma/dg": g.grad.item(), "dsigma/dh": h.grad.item()}
    return i.item(), zt.grad.item(), upstream


def main(points: list[float]) -> None:
    for z in points:
        hand = by_hand(z)
        value, grad, upstream = by_engine(z)
        closed = hand["i"] * (1 - hand["i"])
        print(f"z = {z:g}")
        print(f"  f = -z = {hand['f']:.6f}   g = e^f = {hand['g']:.6f}   "
              f"h = 1 + g = {hand['h']:.6f}   i = 1/h = {hand['i']:.6f}")  # fmt: skip
        print(
            "  local derivatives: "
            + ", ".join(f"{k} = {hand[k]:.6f}" for k in ("f'(z)", "g'(f)", "h'(g)", "i'(h)"))
        )
        print("  upstream (engine): " + ", ".join(f"{k} = {v:.6f}" for k, v in upstream.items()))
        print(f"  by hand, f'*g'*h'*i'   = {hand['product']:.12f}")
        print(f"  by the engine, z.grad  = {grad:.12f}")
        print(f"  closed form s(1 - s)   = {closed:.12f}")
        assert math.isclose(value, hand["i"], rel_tol=1e-12)
        assert math.isclose(grad, hand["product"], rel_tol=1e-12, abs_tol=1e-300)
        assert math.isclose(grad, closed, rel_tol=1e-9, abs_tol=1e-300)
        # the fused primitive cr.sigmoid gives the same derivative
        zt = cr.tensor(z, dtype=cr.float64, requires_grad=True)
        cr.sigmoid(zt).backward()
        assert math.isclose(zt.grad.item(), closed, rel_tol=1e-9, abs_tol=1e-300)
    print("the product of the local derivatives equals backpropagation at every point")


if __name__ == "__main__":
    main([float(a) for a in sys.argv[1:]] or [-2.0, 0.0, 0.5, 3.0])
