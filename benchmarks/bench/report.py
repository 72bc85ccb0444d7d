"""A case's report: its rows, baselines, ratios (plain and paired) and checks."""

from __future__ import annotations

import importlib
import itertools
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.timing import Job, Settings, Timing, measure_all


class Skip(Exception):
    """Raised by a peer's factory when it cannot run here; the message says why."""


@dataclass
class Row:
    """One line of the results table, in the case's display unit."""

    case: str
    peer: str
    # "ok"; "skipped" (library missing); "wrong" (failed its check, not timed);
    # "breakdown" (part of a peer's work) or "gc-on" (timed with the collector on)
    status: str
    unit: str = ""
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    best: float | None = None
    worst: float | None = None
    calls_per_repeat: int | None = None
    repeats: int | None = None
    ratios: dict[str, float] = field(default_factory=dict)
    # Median over repeats of (this row's repeat r / the baseline's repeat r): the two
    # were timed next to each other, so a burst of load from elsewhere on the machine
    # mostly cancels; present when both rows were timed in the same interleaved group.
    paired: dict[str, float] = field(default_factory=dict)
    samples: list[float] = field(default_factory=list)  # per repeat, in the unit
    group: int | None = None  # rows with one number were timed interleaved together
    note: str = ""
    # further figures, one per name in CaseReport.columns (memory, scale, ceiling)
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class CaseReport:
    """What one case measured: its rows, the baselines ratios refer to, and facts."""

    case: str
    title: str
    unit: str
    baselines: list[str]
    rows: list[Row] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # names of Row.extra, in order
    _queued: list = field(default_factory=list, repr=False)

    def add(self, peer: str, timing: Timing, scale: float, note: str = "", kind: str = "ok"):
        """Record a timing; ``scale`` converts seconds per call into the case's unit."""
        row = Row(case=self.case, peer=peer, status=kind, unit=self.unit, note=note)
        self.rows.append(_fill(row, timing, scale))

    def queue(
        self,
        peer: str,
        fn: Callable[[], Any],
        scale: float,
        note: str = "",
        kind: str = "ok",
        gc: bool | None = None,
    ) -> None:
        """Add a row to be timed by :meth:`time_queued`, interleaved with the others.

        ``kind`` is the row's status once timed; ``gc`` forces the collector on or
        off while this row is timed (default: as ``--gc`` says).
        """
        row = Row(case=self.case, peer=peer, status="pending", unit=self.unit, note=note)
        self.rows.append(row)
        self._queued.append((row, Job(fn, gc), scale, kind))

    def time_queued(self, settings: Settings) -> None:
        """Time every queued row together (see :func:`measure_all`)."""
        queued, self._queued = self._queued, []
        timings = measure_all([job for _, job, _, _ in queued], settings)
        group = next(_groups)
        for (row, _, scale, kind), timing in zip(queued, timings):
            row.status = kind
            row.group = group
            _fill(row, timing, scale)

    def skip(self, peer: str, why: str) -> None:
        self.rows.append(Row(case=self.case, peer=peer, status="skipped", note=why))

    def wrong(self, peer: str, why: str) -> None:
        self.rows.append(Row(case=self.case, peer=peer, status="wrong", note=why))

    def finish(self) -> CaseReport:
        """Fill in each timed row's ratio to every baseline that was timed."""
        ok = {r.peer: r for r in self.rows if r.status == "ok"}
        for row in self.rows:
            if row.median is None:
                continue
            for name in self.baselines:
                base = ok.get(name)
                if base is None or not base.median:
                    continue
                row.ratios[name] = row.median / base.median
                if row.group is not None and row.group == base.group:
                    pairs = [a / b for a, b in zip(row.samples, base.samples)]
                    row.paired[name] = statistics.median(pairs)
        return self


_groups = itertools.count()


def _fill(row: Row, timing: Timing, scale: float) -> Row:
    row.samples = [t * scale for t in timing.samples]
    row.median = timing.median * scale
    row.q1, row.q3 = timing.q1 * scale, timing.q3 * scale
    row.best, row.worst = timing.best * scale, timing.worst * scale
    row.calls_per_repeat, row.repeats = timing.number, len(timing.samples)
    return row


def optional_import(name: str) -> Any:
    """Import a peer library or raise :class:`Skip` saying it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise Skip(
            f"{name} is not installed here ({exc}); `bash benchmarks/setup.sh` installs it"
        ) from None


def optional_jax() -> Any:
    """Import JAX on the CPU with float64 enabled (B3 and B4 are float64; B2's
    float32 arrays stay float32)."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    jax = optional_import("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def array_of(value: Any) -> np.ndarray:
    """The NumPy array of a transform's result: transforms of NumPy inputs return
    NumPy arrays, of Tensors return Tensors (whose ``.data`` is the array)."""
    return value if isinstance(value, np.ndarray | np.generic) else value.data


def rel_close(a: float, b: float, rtol: float, atol: float = 0.0) -> bool:
    return abs(a - b) <= atol + rtol * abs(b)
