"""``chainrule sigmoid``: the seed's worked example, computed by the engine node by node."""

from __future__ import annotations

import argparse
import math

import chainrule as cr

HELP = "the seed's example: the sigmoid split into four nodes, differentiated by the engine"


def sigmoid_chain_report(z: float) -> str:
    """The seed's example at ``z``, computed by backpropagation, as text."""
    zt = cr.tensor(z, dtype=cr.float64, requires_grad=True)
    f = -zt
    g = cr.exp(f)
    h = 1 + g
    i = 1 / h
    for t in (f, g, h, i):
        t.retain_grad()
    i.backward()

    fv, gv, hv, iv = (t.item() for t in (f, g, h, i))
    local = {"f'(z)": -1.0, "g'(f)": gv, "h'(g)": 1.0, "i'(h)": -1.0 / hv**2}
    product = math.prod(local.values())
    closed = iv * (1 - iv)
    rows = [
        ("f = -z", fv, "f'(z) = -1", -1.0, f.grad.item()),
        ("g = e^f", gv, "g'(f) = e^f", gv, g.grad.item()),
        ("h = 1 + g", hv, "h'(g) = 1", 1.0, h.grad.item()),
        ("i = 1/h", iv, "i'(h) = -1/h^2", -1.0 / hv**2, i.grad.item()),
    ]
    lines = [
        f"sigma(z) = 1/(1+e^-z) = i(h(g(f(z)))) at z = {z + 0.0:g}",
        "",
        f"{'node':<10} {'value':>12}   {'local derivative':<16} {'local':>12} "
        f"{'d sigma/d node':>15}",
    ]
    for name, value, formula, lval, upstream in rows:
        # + 0.0 turns -0.0 (f = -z at z = 0) into 0.0: "-0.000000" reads as a sign error
        value, lval, upstream = value + 0.0, lval + 0.0, upstream + 0.0
        lines.append(f"{name:<10} {value:>12.6f}   {formula:<16} {lval:>12.6f} {upstream:>15.6f}")
    lines += [
        "",
        "d sigma/dz = f'(z) * g'(f) * h'(g) * i'(h)",
        "           = (-1) * e^f * 1 * (-1/h^2) = e^-z / (1+e^-z)^2",
        f"           = {product + 0.0:.10f}   (product of the local derivatives)",
        f"backprop  : {zt.grad.item() + 0.0:.10f}   (z.grad from the engine)",
        f"closed    : {closed + 0.0:.10f}   (sigma(z) * (1 - sigma(z)))",
    ]
    return "\n".join(lines)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-z", type=float, nargs="+", default=[0.5], help="points (default 0.5)")


def run(args: argparse.Namespace) -> int:
    print("\n\n".join(sigmoid_chain_report(z) for z in args.z))
    return 0
