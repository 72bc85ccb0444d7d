"""One output entry followed back through the graph, as scalars: the data.

``explain(fn, ..., element=(i, j))`` seeds the chain rule with one entry of the
output, so the gradient reaches each node at a single entry until a sum spreads
it. :func:`follow` walks the nodes from the output back and says, for each node
whose gradient is one entry, what the seed's sigmoid shows: the entry's value, the
upstream gradient, the local derivative towards each input entry it depends on
and the product passed down.

Where an entry is a sum of products it is written as one, term by term: a matmul
(``y[i, j] = Σ_k x[i, k]·w[k, j]``), a ``linear`` node (``x @ W^T + b``), and a
convolution (a ``conv2d`` node, with the reshapes of an unbatched call), read as
one step, ``y[n, o, i, j] = Σ_{c, p, q} w[o, c, p, q]·x[n, c, ...] + b[o]``, each term a
weight entry times an input entry, so the gradient that reaches ``x`` and ``w``
is a single entry per term.

The local derivatives come from the primitive table's own rules, applied to the
one-hot seed of the entry (∂y[index]/∂input), as the node table's come from them
applied to ones. This module is data only; ``render_element`` and the other
renderers draw it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.explain import expr as E
from chainrule.explain.model import Step
from chainrule.explain.trace import Const, Vertex
from chainrule.ops.broadcast import sum_to
from chainrule.ops.primitive import ELEMENTWISE

Index = tuple[int, ...]

#: ops that only move entries (each output entry is one input entry, or a padded 0):
#: an entry can be followed through them exactly
MOVES = frozenset({"reshape", "transpose", "expand_dims", "squeeze", "getitem", "im2col"})


@dataclass
class Entry:
    """One number of a node: ``x[0, 1, 2, 1]``."""

    node: str
    index: Index
    value: float

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "index": list(self.index), "value": self.value}


@dataclass
class Share:
    """What one input entry gets from the entry followed: ∂y[index]/∂wrt[at] (the
    local derivative, ``formula`` and ``local``) times the upstream gradient."""

    wrt: str
    index: Index | None  # None: the input is one number with no index shown
    formula: E.Expr
    local: float
    product: float

    @property
    def formula_text(self) -> str:
        return E.to_pretty(self.formula)

    def to_dict(self) -> dict[str, Any]:
        return {
            "wrt": self.wrt,
            "index": None if self.index is None else list(self.index),
            "formula": E.to_text(self.formula),
            "local": self.local,
            "product": self.product,
        }


@dataclass
class Term:
    """One term of a sum: the product of its factors (``w[1, 0, 0, 0]·x[0, 0, 2, 1]``)."""

    factors: list[Entry]
    value: float

    def to_dict(self) -> dict[str, Any]:
        return {"factors": [f.to_dict() for f in self.factors], "value": self.value}


@dataclass
class ElementStep:
    """One node at the entry followed.

    ``kind`` is "local" (each input entry with its local derivative), "sum" (the
    entry as a sum of products: ``terms``, written ``formula`` over ``sum_over``,
    with ``patterns[input] = (its entry, its local derivative)`` in index form), or
    "spread" (the gradient reaches ``reached`` entries of the node, so it has no one
    entry to show).
    """

    node: str
    op: str
    kind: str
    index: Index | None = None
    value: float | None = None
    upstream: float | None = None
    shares: list[Share] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list)
    formula: str | None = None
    sum_over: str | None = None
    ranges: str | None = None
    patterns: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: the factors of a term in index form (``("x[1, k]", "w[k, 2]")``); ``formula``
    #: is their product
    factors: tuple[str, ...] = ()
    #: extra addends of a sum (a bias), already in ``value``
    extra: list[Entry] = field(default_factory=list)
    #: terms left out because their input entry is in the zero padding
    padded: int = 0
    #: nodes read as part of this step (a convolution's im2col, reshape, transpose)
    folded: list[str] = field(default_factory=list)
    reached: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "node": self.node,
            "op": self.op,
            "kind": self.kind,
            "index": None if self.index is None else list(self.index),
            "value": self.value,
            "upstream": self.upstream,
            "local": [s.to_dict() for s in self.shares],
        }
        if self.kind == "sum":
            d["formula"] = self.formula
            d["sum_over"] = self.sum_over
            d["factors"] = list(self.factors)
            d["terms"] = [t.to_dict() for t in self.terms]
            d["extra"] = [e.to_dict() for e in self.extra]
            d["padded"] = self.padded
            d["folded"] = self.folded
        if self.kind == "spread":
            d["reached"] = self.reached
        return d


def at(name: str, index: Index | None) -> str:
    """``x[1, 2]`` (or the bare name for a number)."""
    return f"{name}[{', '.join(map(str, index))}]" if index else name


def single(grad: Any) -> Index | None:
    """The one entry where ``grad`` is not zero (() for a number), else None."""
    g = np.asarray(grad)
    if g.ndim == 0:
        return ()
    hits = np.argwhere(g != 0)
    return tuple(int(i) for i in hits[0]) if len(hits) == 1 else None


def _value(arg: Vertex | Const) -> np.ndarray:
    return np.asarray(arg.value, dtype=float)


def _label(arg: Vertex | Const, fallback: str) -> str:
    return arg.name if isinstance(arg, Vertex) else fallback


# ------------------------------------------------------------- moving entries
class Moves:
    """Entries followed back through nodes that only move them (:data:`MOVES`).

    For such a node, the op's own forward applied to its input's entry numbers says
    which input entry each output entry holds, so no op's geometry (im2col's
    windows, a transpose's axes) is written a second time here. Computed once per
    node and kept, since a convolution's terms ask im2col for each of its columns.
    """

    def __init__(self) -> None:
        self._maps: dict[int, np.ndarray | None] = {}

    def source_map(self, v: Vertex) -> np.ndarray | None:
        """At each entry of ``v``: 1 + the flat index of the input entry it holds (0:
        a padded zero); None when ``v`` is not a node that only moves entries."""
        if id(v) not in self._maps:
            self._maps[id(v)] = _source_map(v)
        return self._maps[id(v)]

    def back(self, v: Vertex, index: Index) -> tuple[Vertex, Index | None, list[Vertex]]:
        """``v[index]`` followed back: (the first vertex that is not a moving node,
        the entry's index there or None for a padded zero, the vertices passed)."""
        passed: list[Vertex] = []
        while not v.is_leaf:
            moved = self.source_map(v)
            if moved is None:
                break
            src = v.args[0]
            assert isinstance(src, Vertex)
            flat = int(moved[index])
            passed.append(v)
            if flat == 0:
                return src, None, passed
            index = tuple(int(i) for i in np.unravel_index(flat - 1, np.shape(src.value)))
            v = src
        return v, index, passed


def _source_map(v: Vertex) -> np.ndarray | None:
    if v.builtin_op not in MOVES or v.node is None or v.node.args is None:
        return None
    if not v.args or not isinstance(v.args[0], Vertex):
        return None
    shape = np.shape(v.args[0].value)
    numbers = np.arange(1, int(np.prod(shape)) + 1, dtype=np.float64).reshape(shape)
    out = v.node.prim.forward(numbers, *v.node.args[1:], **(v.node.params or {}))
    return np.asarray(out)


# ------------------------------------------------------------- local derivatives
def _is_elementwise(v: Vertex) -> bool:
    prim = v.node.prim if v.node is not None else None
    return prim is not None and (prim.exact or prim.batch is ELEMENTWISE)


def _broadcast_index(index: Index, shape: tuple[int, ...]) -> Index:
    """The entry of an input of ``shape`` that broadcasting lines up with ``index``."""
    tail = index[len(index) - len(shape) :] if shape else ()
    return tuple(0 if n == 1 else i for i, n in zip(tail, shape))


def _entry_jacobian(v: Vertex, position: int, index: Index) -> np.ndarray | None:
    """∂v[index]/∂(input ``position``): the table's rule applied to a one-hot seed."""
    node = v.node
    assert node is not None and node.args is not None
    seed = np.zeros(np.shape(v.value), dtype=np.float64)
    seed[index] = 1.0
    rule = node.prim.vjps[position]
    with np.errstate(all="ignore"):
        out = rule(seed, node.ans, *node.args, **(node.params or {}))
    if out is None:
        return None
    src = v.args[position]
    return sum_to(np.asarray(out, dtype=np.float64), np.shape(src.value))


def _local_step(step: Step, index: Index, up: float, moves: Moves) -> ElementStep:
    """A node at one entry: each input entry it depends on, with its local derivative."""
    v = step.vertex
    shares: list[Share] = []
    folded: list[str] = []
    for loc in step.locals:
        src = loc.src
        jac = _entry_jacobian(v, loc.position, index)
        if jac is None:
            continue
        shape = np.shape(src.value)
        hits = [tuple(int(i) for i in h) for h in np.argwhere(jac != 0)]
        if not hits:  # a zero local derivative (a dead ReLU): name the entry it is at
            if _is_elementwise(v):
                hits = [_broadcast_index(index, shape)]
            elif v.builtin_op in MOVES:
                moved = moves.source_map(v)
                flat = 0 if moved is None else int(moved[index])
                hits = [] if flat == 0 else [tuple(np.unravel_index(flat - 1, shape))]
        for where in hits:
            local = float(jac[where]) if jac.ndim else float(jac)
            # an input that only moves entries (a reshape, im2col, a transpose) is
            # followed back to where the entry is held, and read as part of this step
            where = tuple(int(i) for i in where)
            target, at_index, through = moves.back(src, where)
            if v.builtin_op == "getitem" or _is_conv(target):
                # the entry chosen keeps the name the user indexed; a convolution's
                # output keeps its (N, C, H, W) name, the step that writes its sum
                target, at_index, through = src, where, []
            if at_index is None:
                continue  # a padded zero: no input entry gets this share
            folded += [u.name for u in through if u.name not in folded]
            shares.append(Share(target.name, at_index, loc.formula, local, up * local))
    return ElementStep(
        node=v.name,
        op=v.op or "",
        kind="local",
        index=index,
        value=float(np.asarray(v.value)[index]),
        upstream=up,
        shares=shares,
        folded=folded,
    )


# ------------------------------------------------------------- sums of products
def _pair_sum(
    step_node: str,
    op: str,
    index: Index,
    value: float,
    up: float,
    left: tuple[Vertex | Const, str, list[Index], np.ndarray],
    right: tuple[Vertex | Const, str, list[Index], np.ndarray],
) -> ElementStep:
    """``Σ_k left[k]·right[k]``: the terms, and each side's share (the other factor)."""
    (la, ln, li, lv), (ra, rn, ri, rv) = left, right
    terms = [
        Term([Entry(ln, a, float(x)), Entry(rn, b, float(y))], float(x * y))
        for a, b, x, y in zip(li, ri, lv, rv)
    ]
    shares: list[Share] = []
    for arg, name, idx, other, other_name, other_idx in (
        (la, ln, li, rv, rn, ri),
        (ra, rn, ri, lv, ln, li),
    ):
        if not isinstance(arg, Vertex):
            continue
        for where, local, oi in zip(idx, other, other_idx):
            formula = E.Opaque(at(other_name, oi))
            shares.append(Share(name, where, formula, float(local), up * float(local)))
    return ElementStep(
        node=step_node,
        op=op,
        kind="sum",
        index=index,
        value=value,
        upstream=up,
        shares=shares,
        terms=terms,
    )


def _matmul_step(v: Vertex, index: Index, up: float) -> ElementStep | None:
    a_arg, b_arg = v.args[0], v.args[1]
    a, b = _value(a_arg), _value(b_arg)
    if len(index) != 2 or a.ndim != 2 or b.ndim != 2:
        return None
    i, j = index
    an, bn = _label(a_arg, "A"), _label(b_arg, "B")
    n = a.shape[1]
    s = _pair_sum(
        v.name,
        "matmul",
        index,
        float(np.asarray(v.value)[index]),
        up,
        (a_arg, an, [(i, k) for k in range(n)], a[i, :]),
        (b_arg, bn, [(k, j) for k in range(n)], b[:, j]),
    )
    s.factors = (f"{an}[{i}, k]", f"{bn}[k, {j}]")
    s.formula = "·".join(s.factors)
    s.sum_over, s.ranges = "k", f"k = 0 … {n - 1}"
    s.patterns = {an: (f"{an}[{i}, k]", f"{bn}[k, {j}]"), bn: (f"{bn}[k, {j}]", f"{an}[{i}, k]")}
    return s


def _bias_share(step: ElementStep, b_arg: Vertex | Const, col: int, up: float) -> None:
    if isinstance(b_arg, Const) and b_arg.value is None:
        return
    b = _value(b_arg)
    where: Index = (col,) if b.ndim == 1 else ()
    name = _label(b_arg, "b")
    step.extra.append(Entry(name, where, float(b[where] if b.ndim else b)))
    if isinstance(b_arg, Vertex):
        step.shares.append(Share(name, where, E.Num(1.0), 1.0, up))
    step.patterns[name] = (at(name, where), "1")


def _linear_step(v: Vertex, index: Index, up: float) -> ElementStep | None:
    """``y[r, o] = Σ_k x[r, k]·W[o, k] + b[o]`` (the fused node of nn.Linear)."""
    x_arg, w_arg = v.args[0], v.args[1]
    x, w = _value(x_arg), _value(w_arg)
    if len(index) != 2 or x.ndim != 2 or w.ndim != 2:
        return None
    r, o = index
    xn, wn = _label(x_arg, "x"), _label(w_arg, "W")
    n = x.shape[1]
    s = _pair_sum(
        v.name,
        "linear",
        index,
        float(np.asarray(v.value)[index]),
        up,
        (x_arg, xn, [(r, k) for k in range(n)], x[r, :]),
        (w_arg, wn, [(o, k) for k in range(n)], w[o, :]),
    )
    s.factors = (f"{xn}[{r}, k]", f"{wn}[{o}, k]")
    s.formula = "·".join(s.factors)
    s.sum_over, s.ranges = "k", f"k = 0 … {n - 1}"
    s.patterns = {xn: (f"{xn}[{r}, k]", f"{wn}[{o}, k]"), wn: (f"{wn}[{o}, k]", f"{xn}[{r}, k]")}
    if len(v.args) > 2:
        _bias_share(s, v.args[2], o, up)
    return s


def _affine(base: int, step: int, var: str) -> str:
    """``base + step·var`` as short as it goes: ``2 + p``, ``p``, ``2·p - 1``."""
    term = var if step == 1 else f"{step}·{var}"
    if base == 0:
        return term
    return f"{term} - {-base}" if base < 0 else f"{base} + {term}"


def _is_conv(v: Vertex) -> bool:
    """``v`` is a conv2d node (the primitive ``cr.nn.functional.conv2d`` records)."""
    return v.builtin_op == "conv2d"


def _conv_step(v: Vertex, index: Index, up: float, moves: Moves) -> ElementStep | None:
    """A convolution's entry, when ``v`` is a conv2d node or a move after one (the
    reshape of an unbatched call; groups=1): the sum over input channels and kernel
    window of weight times input, plus the bias. None for anything else, and for
    any term that does not fit the index form written (so it is never shown wrong)."""
    conv, at_index, out_side = (v, index, []) if _is_conv(v) else moves.back(v, index)
    if not _is_conv(conv) or at_index is None or len(conv.args) < 2:
        return None
    image, w_arg = conv.args[0], conv.args[1]
    if not isinstance(image, Vertex) or not isinstance(w_arg, Vertex):
        return None
    p = conv.params or {}
    if p.get("groups", 1) != 1 or np.ndim(image.value) != 4 or np.ndim(w_arg.value) != 4:
        return None
    (sh, sw), (ph, pw), (dh, dw) = p["stride"], p["padding"], p["dilation"]
    _, _, h, w = np.shape(image.value)
    _, cin, kh, kw = np.shape(w_arg.value)
    n, o, oi, oj = at_index
    weights: list[Entry] = []
    inputs: list[Entry] = []
    padded = 0
    folded = [u for u in out_side if u is not conv] + [conv]
    x_src = w_src = None
    for c in range(cin):
        for kr in range(kh):
            for kc in range(kw):
                ws, wi, through_w = moves.back(w_arg, (o, c, kr, kc))
                if wi is None or w_src not in (None, ws):
                    return None
                w_src = ws
                folded += [u for u in through_w if u not in folded]
                row, column = oi * sh - ph + kr * dh, oj * sw - pw + kc * dw
                if not (0 <= row < h and 0 <= column < w):
                    padded += 1
                    continue
                xs, xi, through_x = moves.back(image, (n, c, row, column))
                # the input entry must be the one the index form names, batched or not
                expected = (n, c, row, column) if np.ndim(xs.value) == 4 else (c, row, column)
                if xi != expected or x_src not in (None, xs):
                    return None
                x_src = xs
                folded += [u for u in through_x if u not in folded]
                weights.append(Entry(ws.name, wi, float(_value(ws)[wi])))
                inputs.append(Entry(xs.name, xi, float(_value(xs)[xi])))
    if w_src is None:
        return None
    x_arg = x_src or image
    x_name = x_arg.name
    s = _pair_sum(
        v.name,
        "conv2d",
        index,
        float(np.asarray(v.value)[index]),
        up,
        (w_src, w_src.name, [e.index for e in weights], np.array([e.value for e in weights])),
        (x_arg, x_name, [e.index for e in inputs], np.array([e.value for e in inputs])),
    )
    s.padded = padded
    s.folded = [u.name for u in folded]
    lead = [str(n)] if np.ndim(x_arg.value) == 4 else []
    rows, columns = _affine(oi * sh - ph, dh, "p"), _affine(oj * sw - pw, dw, "q")
    x_pat = f"{x_name}[{', '.join([*lead, 'c', rows, columns])}]"
    w_pat = f"{w_src.name}[{o}, c, p, q]"
    s.factors = (w_pat, x_pat)
    s.formula = "·".join(s.factors)
    s.sum_over = "c, p, q"
    s.ranges = f"c = 0 … {cin - 1}, p = 0 … {kh - 1}, q = 0 … {kw - 1}"
    s.patterns = {w_src.name: (w_pat, x_pat), x_name: (x_pat, w_pat)}
    if len(conv.args) > 2:
        _bias_share(s, conv.args[2], o, up)
    return s


# ------------------------------------------------------------------- the walk
def follow(nodes: list[Step]) -> list[ElementStep]:
    """The entry followed from the output back: one step per node that the seed's
    gradient reaches, in backward order (see the module doc)."""
    steps: list[ElementStep] = []
    folded: set[str] = set()
    moves = Moves()
    for step in reversed(nodes):
        v = step.vertex
        if v.name in folded or v.grad is None or not np.any(np.asarray(v.grad)):
            continue
        index = single(v.grad)
        if index is None:
            # a sum on the way spreads the gradient over several entries
            count = int(np.count_nonzero(v.grad))
            steps.append(ElementStep(node=v.name, op=v.op or "", kind="spread", reached=count))
            continue
        up = float(np.asarray(v.grad)[index])
        found = None
        if v.builtin_op in ("conv2d", "transpose", "reshape", "squeeze"):
            found = _conv_step(v, index, up, moves)
        elif v.builtin_op == "matmul":
            found = _matmul_step(v, index, up)
        elif v.builtin_op == "linear":
            found = _linear_step(v, index, up)
        if found is None:
            found = _local_step(step, index, up, moves)
        folded.update(found.folded)
        steps.append(found)
    return steps
