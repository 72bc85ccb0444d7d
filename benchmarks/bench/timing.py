"""Timing: warm-up, calibration, interleaved repeats and their summary."""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Settings:
    """How long and how often to time; set from the command line."""

    repeats: int = 7
    min_time: float = 0.25  # seconds per repeat (a repeat runs the step this long)
    warmup: float = 0.1  # seconds of warm-up calls before calibration
    quick: bool = False
    batches: tuple[int, ...] = (128, 1024)
    profile: bool = False
    gc: bool = False  # keep the garbage collector running inside timed repeats


@dataclass
class Timing:
    """Seconds per call of the timed function: median and spread over repeats."""

    median: float
    q1: float
    q3: float
    best: float
    worst: float
    number: int  # calls per repeat
    samples: list[float]


@dataclass
class Job:
    """One function to time; ``gc`` None means: as ``Settings.gc`` says."""

    fn: Callable[[], Any]
    gc: bool | None = None


def _calibrate(fn: Callable[[], Any], settings: Settings) -> int:
    """Warm ``fn`` up and return how many calls fill ``settings.min_time``."""
    gc.collect()
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if calls >= 2 and elapsed >= settings.warmup:
            break
    return max(1, math.ceil(settings.min_time / (elapsed / calls)))


def measure_all(jobs: list[Job], settings: Settings) -> list[Timing]:
    """Time several functions, interleaved: repeat r of every job runs before
    repeat r + 1 of any, so that a burst of load from elsewhere on a shared machine
    hits one repeat of each job instead of all the repeats of one.

    Each repeat runs ``fn`` ``number`` times back to back (``number`` chosen in a
    warm-up so that a repeat lasts ``min_time``) and records the mean time per
    call; the median over repeats is the reported figure. Before each repeat a full
    garbage collection runs, untimed; during it the collector is off unless the job
    or ``--gc`` asks for it (see BENCHMARKS.md: with it on, a full collection
    scans the whole heap, torch's objects included, so the figures would depend on
    what else the process imported).
    """
    numbers = [_calibrate(job.fn, settings) for job in jobs]
    samples: list[list[float]] = [[] for _ in jobs]
    for _ in range(settings.repeats):
        for job, number, out in zip(jobs, numbers, samples):
            collect = settings.gc if job.gc is None else job.gc
            out.append(seconds_per_call(job.fn, number, collect))
    return [_summary(s, n) for s, n in zip(samples, numbers)]


def seconds_per_call(fn: Callable[[], Any], number: int, collect: bool = False) -> float:
    """The mean seconds of ``number`` calls of ``fn`` back to back, after a full
    garbage collection (untimed), with the collector off unless ``collect``."""
    gc.collect()
    if not collect:
        gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number
    finally:
        gc.enable()


def measure(fn: Callable[[], Any], settings: Settings) -> Timing:
    """Time one function (see :func:`measure_all`)."""
    return measure_all([Job(fn)], settings)[0]


def _summary(samples: list[float], number: int) -> Timing:
    if len(samples) >= 2:
        q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    else:
        q1 = q3 = samples[0]
    return Timing(
        median=statistics.median(samples),
        q1=q1,
        q3=q3,
        best=min(samples),
        worst=max(samples),
        number=number,
        samples=samples,
    )
