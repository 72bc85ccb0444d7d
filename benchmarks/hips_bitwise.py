"""Where do chainrule's numbers first differ from HIPS autograd's, bit for bit?

    python benchmarks/hips_bitwise.py ops [NAME...]       # one operation at a time
    python benchmarks/hips_bitwise.py programs [NAME...]  # whole gradients of gmm, rnn, ...
    python benchmarks/hips_bitwise.py programs --autograd-newest-first lstm hmm_em
    python benchmarks/hips_bitwise.py hvp [--trace [--at near]] [--as-autograd PLACE,...]

``ops`` evaluates small functions of the operations HIPS's drifting examples (gmm,
gplvm, rnn, lstm, hmm_em) use, at the programs' shapes, on both libraries, and
says for the forward value and for the VJP of each argument whether they are equal
to the last bit (and if not, in how many elements and by how much). ``programs``
does the same for each program's whole gradient (the probes of
``hips_gradients.py``) at its starting point and near it.

``--autograd-newest-first`` makes autograd's backward pass visit the nodes newest
first, as chainrule's engine does (instead of its depth-first topological order).
Where a value feeds several operations its gradient is a sum of their shares, and
the two orders add the shares in different orders; with this flag, a program
whose gradient then matches bit for bit differs only by that order, not by any
rule.

``hvp`` compares gmm's Hessian-vector product (``hessian_vector_product`` of the
program's flattened objective, as its Newton-CG calls it) at the start point and
near it, along one fixed random vector. ``--trace`` also records every operation
of the product (at the start point, or ``--at near``) on both libraries and lists
the chainrule operations where a difference is born, first first (see
``bitwise_trace.py``). ``--as-autograd`` is a what-if: it changes chainrule, in
this process only, to autograd's way at the places named: ``solve`` and ``inv``,
the products in their VJPs by ``einsum`` (autograd's ``grad_solve`` and
``grad_inv``) rather than ``matmul``; ``symmetric``, the rules of
``multivariate_normal.logpdf`` on ``cov`` itself rather than its symmetric part.
With all three and ``--autograd-newest-first``, the product equals autograd's bit
for bit at both points; without any one of the four it differs (at one point or
both): that is the whole list of what differs.
docs/reference/hips-gmm-hvp.md says why each stays.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as onp

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _libraries() -> dict[str, dict[str, object]]:
    import autograd.numpy as anp
    import autograd.scipy.special as asp
    import autograd.scipy.stats.multivariate_normal as amvn

    import chainrule.numpy as cnp
    import chainrule.scipy.special as csp
    import chainrule.scipy.stats.multivariate_normal as cmvn

    return {
        "autograd": {"np": anp, "sp": asp, "mvn": amvn},
        "chainrule": {"np": cnp, "sp": csp, "mvn": cmvn},
    }


def _cases(rs: onp.random.RandomState) -> dict[str, tuple[Callable, list]]:
    def r(*shape):
        return rs.randn(*shape)

    def spd(n):
        a = r(n, n)
        return a @ a.T + n * onp.eye(n)

    x90 = r(90, 2) * 0.1
    return {
        "tanh": (lambda L, x: L["np"].tanh(x), [r(30, 40) * 3]),
        "exp": (lambda L, x: L["np"].exp(x), [r(30, 40)]),
        "log": (lambda L, x: L["np"].log(x), [onp.abs(r(30, 40)) + 0.1]),
        "mul": (lambda L, x, y: x * y, [r(30, 40), r(1, 40)]),
        "div": (lambda L, x, y: x / y, [r(30, 40), r(30, 40)]),
        "div_broadcast": (lambda L, y: x90 / y, [onp.exp(r(2))]),
        "pow2": (lambda L, x: x**2, [r(30, 40)]),
        "pow3": (lambda L, x: x**3, [r(30, 40)]),
        "sub_broadcast": (lambda L, x, y: x - y, [r(30, 128), r(30, 1)]),
        "dot": (lambda L, x, y: L["np"].dot(x, y), [r(30, 169), r(169, 40)]),
        "hstack": (lambda L, x, y: L["np"].hstack((x, y)), [r(30, 128), r(30, 40)]),
        "repeat": (lambda L, x: L["np"].repeat(x, 30, axis=0), [r(1, 40)]),
        "logsumexp_axis1": (
            lambda L, x: L["sp"].logsumexp(x, axis=1, keepdims=True),
            [r(30, 128) * 3],
        ),
        "logsumexp_axis0": (lambda L, x: L["sp"].logsumexp(x, axis=0), [r(20, 20) * 3]),
        "logsumexp_all": (lambda L, x: L["sp"].logsumexp(x), [r(10) * 3]),
        "column": (lambda L, x: x[:, 3], [r(20, 101)]),
        "mvn_logpdf": (
            lambda L, x, m, c: L["mvn"].logpdf(x, m, c),
            [r(300, 2), r(2), spd(2)],
        ),
    }


def _difference(a: object, b: object) -> str:
    a, b = onp.asarray(a, float), onp.asarray(b, float)
    if a.shape != b.shape:
        return f"shapes {a.shape} and {b.shape}"
    differ = int(onp.sum(a != b))
    if differ == 0:
        return "same"
    scale = max(float(onp.max(onp.abs(b))), 1e-300)
    return f"{differ}/{a.size} differ (max rel {float(onp.max(onp.abs(a - b))) / scale:.1e})"


def ops(names: list[str]) -> None:
    import autograd

    import chainrule as cr

    libs = _libraries()
    rs = onp.random.RandomState(0)
    cases = _cases(rs)
    for name in names or list(cases):
        f, args = cases[name]
        vjp_a, ans_a = autograd.make_vjp(lambda t, f=f: f(libs["autograd"], *t))(tuple(args))
        vjp_c, ans_c = cr.make_vjp(lambda t, f=f: f(libs["chainrule"], *t))(tuple(args))
        g = rs.randn(*onp.shape(ans_a))
        ga, gc = vjp_a(g), vjp_c(g)
        cells = [f"value {_difference(ans_c, ans_a)}"]
        cells += [f"vjp{i} {_difference(gc[i], ga[i])}" for i in range(len(args))]
        print(f"{name:16s} " + "; ".join(cells))


def autograd_newest_first() -> None:
    """Make autograd's backward pass visit nodes newest first (chainrule's order)."""
    import autograd.core as core

    created = itertools.count()
    order: dict[int, int] = {}
    plain_init = core.VJPNode.__init__

    def init(self, *args):
        plain_init(self, *args)
        order[id(self)] = next(created)

    def newest_first(end):
        seen, stack = {}, [end]
        while stack:
            n = stack.pop()
            if id(n) not in seen:
                seen[id(n)] = n
                stack.extend(n.parents)
        return sorted(seen.values(), key=lambda n: -order.get(id(n), -1))

    core.VJPNode.__init__ = init
    core.toposort = newest_first


def programs(names: list[str]) -> None:
    from hips_examples import DEFAULT_REPO, export
    from hips_gradients import PROBES, lib, load

    with tempfile.TemporaryDirectory() as tmp:
        export(DEFAULT_REPO, Path(tmp), False)
        folder = Path(tmp, "examples")
        for name in names or list(PROBES):
            found = {}
            for chainrule in (False, True):
                L = lib(chainrule)
                f, x0 = PROBES[name](load(folder, name, chainrule), L)
                near = x0 + 0.1 * onp.random.RandomState(0).randn(*onp.shape(x0))
                found[chainrule] = [(f(x), L.grad(f)(x)) for x in (x0, near)]
            for k, where in enumerate(("start", "near")):
                (fa, ga), (fc, gc) = found[False][k], found[True][k]
                print(
                    f"{name:8s} {where:5s} value {_difference(fc, fa)}; "
                    f"gradient {_difference(gc, ga)}"
                )


def as_autograd(places: list[str]) -> None:
    """A what-if (see the module doc): chainrule, in this process, computing as
    autograd does at ``places``. Not the library's behaviour: each is left for a
    reason (docs/reference/hips-gmm-hvp.md)."""
    if "solve" in places:
        import chainrule.numpy as cnp
        from chainrule.ops import numpy_linalg as linalg

        plain_a, vjp_b = linalg.solve.vjps

        def vjp_a(g, ans, a, b):  # autograd's -einsum(solve(a^T, g), ans^T)
            if b.ndim == 1:
                return plain_a(g, ans, a, b)
            gb = vjp_b(g, ans, a, b)
            return -cnp.einsum("...ij,...jk->...ik", gb, cnp.swapaxes(ans, -1, -2))

        linalg.solve.vjps = (vjp_a, vjp_b)
    if "inv" in places:
        import chainrule.numpy as cnp
        from chainrule.ops import numpy_linalg as linalg

        def dot(a, b):
            return cnp.einsum("...ij,...jk->...ik", a, b)

        def inv_vjp(g, ans, a):  # autograd's grad_inv: -einsum(einsum(ans^T, g), ans^T)
            t = cnp.swapaxes(ans, -1, -2)
            return -dot(dot(t, g), t)

        linalg.inv.vjps = (inv_vjp,)
    if "symmetric" in places:
        from chainrule.ops import scipy_stats

        scipy_stats._symmetric = lambda cov: cov


def _gmm_hvp_setup(chainrule: bool, folder: Path):
    from hips_gradients import PROBES, lib, load

    L = lib(chainrule)
    f, x0 = PROBES["gmm"](load(folder, "gmm", chainrule), L)
    rs = onp.random.RandomState(0)
    v = rs.randn(*onp.shape(x0))
    near = x0 + 0.1 * rs.randn(*onp.shape(x0))
    return L, f, {"start": x0, "near": near}, v


def _hvp_differentiated(L, f, x, v) -> None:
    """The product inside one more reverse pass, so that both of its passes are
    recorded (a pass that nothing differentiates records nothing)."""
    w = onp.random.RandomState(1).randn(*onp.shape(v))
    L.grad(lambda y: L.np.sum(L.hvp(f)(y, v) * w))(x)


def hvp(trace: bool, at: str = "start") -> None:
    from bitwise_trace import recording, roots
    from hips_examples import DEFAULT_REPO, export

    with tempfile.TemporaryDirectory() as tmp:
        export(DEFAULT_REPO, Path(tmp), False)
        folder = Path(tmp, "examples")
        found, recorded = {}, {}
        for chainrule in (False, True):
            L, f, points, v = _gmm_hvp_setup(chainrule, folder)
            found[chainrule] = {k: L.hvp(f)(x, v) for k, x in points.items()}
            if trace:
                with recording(chainrule) as rec:
                    _hvp_differentiated(L, f, points[at], v)
                recorded[chainrule] = rec.ops
    for where in ("start", "near"):
        print(f"gmm hvp  {where:5s} {_difference(found[True][where], found[False][where])}")
    if not trace:
        return
    found_roots = roots(recorded[True], recorded[False])
    print(
        f"\nat the {at} point: {len(recorded[True])} chainrule and {len(recorded[False])} "
        f"autograd operations; where a difference is born ({len(found_roots)}):"
    )
    for r in found_roots:
        shapes = ", ".join(str(a.shape) for a in r.op.operands if isinstance(a, onp.ndarray))
        times = f" (x{r.count})" if r.count > 1 else ""
        print(
            f"  chainrule #{r.index} {r.op.name}({shapes}) -> {r.op.value.shape}{times}: "
            f"autograd's #{r.counterpart_index} {r.counterpart.name} within {r.distance:.1e}; "
            f"operands {', '.join(r.operands)}"
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["ops", "programs", "hvp"])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--autograd-newest-first", action="store_true")
    ap.add_argument("--trace", action="store_true", help="hvp: where differences are born")
    ap.add_argument("--at", choices=["start", "near"], default="start", help="hvp --trace: where")
    ap.add_argument(
        "--as-autograd",
        default="",
        help="hvp: a what-if, comma-separated: solve, inv, symmetric (see the doc)",
    )
    args = ap.parse_intermixed_args(argv)  # the flags may come after the names
    if args.autograd_newest_first:
        autograd_newest_first()
    places = [p for p in args.as_autograd.split(",") if p]
    unknown = set(places) - {"solve", "inv", "symmetric"}
    if unknown:
        ap.error(f"--as-autograd: unknown place(s) {sorted(unknown)}; use solve, inv, symmetric")
    if places:
        as_autograd(places)
    if args.what == "hvp":
        hvp(args.trace, args.at)
    else:
        (ops if args.what == "ops" else programs)(args.names)


if __name__ == "__main__":
    main()
