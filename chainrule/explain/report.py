"""What an explanation shows: the chain rule's steps for one function at one point.

A :class:`Report` is data only, the one thing every renderer reads (text,
Markdown, LaTeX, HTML, DOT, JSON). It knows no format and no renderer; the
user-facing :class:`~chainrule.explain.explanation.Explanation` adds the ``to_*``
methods on top. ``kind`` names the kind of data, so that another kind (a
network's layers, say) can be drawn by the same renderers, each picking its
functions by kind (see :mod:`chainrule.explain.formats`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from chainrule.explain import expr as E
from chainrule.explain.check import Check
from chainrule.explain.element import ElementStep, follow
from chainrule.explain.model import Step, build_steps, count_paths, paths
from chainrule.explain.trace import Vertex


class Report:
    """The chain rule for one function at one point: every node and its numbers.

    ``value`` is the output, ``gradients`` maps each input name to d output / d
    input (of the sum of the output, for array outputs); ``steps`` holds each
    node's definition, local derivatives and gradient, in evaluation order.
    """

    #: the kind of data, which picks the renderers' functions
    kind: ClassVar[str] = "chain"
    #: computes the symbolic part on first use (``analyse(report, timeout)``); the
    #: layer that knows SymPy sets it, so this data needs no import of it
    analyser: ClassVar[Callable[[Any, float | None], Any] | None] = None

    def __init__(
        self,
        *,
        title: str,
        expression: E.Expr | None,
        inputs: dict[str, np.ndarray],
        vertices: list[Vertex],
        root: Vertex | None,
        out_value: np.ndarray,
        gradients: dict[str, np.ndarray],
        check: Check,
        notes: list[str],
        lang: str = "en",
        closed_form: tuple[E.Expr, str, float] | None = None,
    ) -> None:
        self.title = title
        self.expression = expression
        self.inputs = inputs
        self.vertices = vertices
        self.root = root
        #: the output and d output / d input as computed (arrays, also 0-d ones)
        self.out_value = out_value
        self.gradient_arrays = gradients
        self.check = check
        self.notes = notes
        self.lang = lang
        #: (closed form of d out / d input, whose derivative it is, its value), found
        #: numerically for a function of one number; SymPy's part does it symbolically
        self.closed_form = closed_form
        self.steps: list[Step] = build_steps(vertices)
        self._symbolic: Any = None
        self._symbolic_done = False
        #: seconds SymPy may take (None: the default, see chainrule.explain.budget)
        self.symbolic_timeout: float | None = None
        #: the output entry explained (``explain(..., element=(i, j))``), else None
        self.element: tuple[int, ...] | None = None
        self._element_steps: list[ElementStep] | None = None

    @property
    def output(self) -> str:
        """The output's name (``i`` for the seed's sigmoid)."""
        return self.root.name if self.root is not None else "out"

    @property
    def value(self) -> float | np.ndarray:
        v = self.out_value
        return float(v) if np.ndim(v) == 0 else v

    @property
    def gradients(self) -> dict[str, float | np.ndarray]:
        return {n: float(g) if np.ndim(g) == 0 else g for n, g in self.gradient_arrays.items()}

    @property
    def scalar(self) -> bool:
        """True when every value in the graph is a single number."""
        return all(np.ndim(s.vertex.value) == 0 for s in self.steps)

    @property
    def nodes(self) -> list[Step]:
        return [s for s in self.steps if not s.vertex.is_leaf]

    @property
    def element_steps(self) -> list[ElementStep]:
        """The entry ``element`` followed from the output back, one step per node
        (see :mod:`chainrule.explain.element`); [] without an ``element``."""
        if self.element is None:
            return []
        if self._element_steps is None:
            self._element_steps = follow(self.nodes)
        return self._element_steps

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def paths(self, input_name: str) -> tuple[int, list]:
        """(how many paths lead from the output to the input, up to 12 of them)."""
        target = self.step(input_name).vertex
        if self.root is None:
            return 0, []
        if self.root is target:
            return 1, [[]]
        return count_paths(self.steps, self.root, target), paths(self.steps, self.root, target)

    @property
    def symbolic(self) -> Any:
        """The SymPy part (:class:`~chainrule.explain.symbolic.Symbolic`), or None when
        SymPy is missing or the graph is not a function of scalars SymPy can follow."""
        if not self._symbolic_done:
            analyse = type(self).analyser
            self._symbolic = None if analyse is None else analyse(self, self.symbolic_timeout)
            self._symbolic_done = True
        return self._symbolic
