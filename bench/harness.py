"""Timing: contenders of one workload take turns, and each keeps the median of its runs.

Each run records wall-clock seconds and the benchmark process's CPU seconds (its client
side: with the server in a child process, the server's work is not in it)."""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.targets import Target


@dataclass(frozen=True)
class Sample:
    """One run of one contender: the seconds measured, counters such as round trips, and
    the process's CPU seconds over the same span."""

    seconds: float
    counters: Mapping[str, float] = field(default_factory=dict)
    cpu_seconds: float = 0.0


# A contender's run does its untimed setup, times its work itself, and reports a Sample.
Run = Callable[[], Sample]


@dataclass(frozen=True)
class Contender:
    name: str
    run: Run


@dataclass(frozen=True)
class Workload:
    """The same work done by several contenders; ``reference`` is what ratios divide by."""

    section: str
    name: str
    ops: int  # operations per run, for the per-second figure
    reference: str
    contenders: Sequence[Contender]
    targets: Sequence[Target] = ()
    client_cpu: bool = False  # report the client's CPU time beside the wall clock

    def __post_init__(self) -> None:
        names = [c.name for c in self.contenders]
        if self.reference not in names:
            raise ValueError(f"{self.name}: reference {self.reference!r} is not among {names}")


@dataclass
class Row:
    """The figures of one contender on one workload."""

    section: str
    workload: str
    contender: str
    reference: str
    ops: int
    samples: list[float]
    counters: dict[str, float]
    median: float = 0.0
    spread: float = 0.0  # half the interquartile range, as a fraction of the median
    ratio: float = 1.0  # median / the reference's median (lower is faster)
    client_cpu: bool = False
    cpu_median: float = 0.0  # the benchmark process's CPU seconds per run (median)
    cpu_ratio: float = 1.0  # cpu_median / the reference's cpu_median

    @property
    def cpu_per_op(self) -> float:
        return self.cpu_median / self.ops if self.ops else 0.0

    @property
    def ops_per_second(self) -> float:
        return self.ops / self.median if self.median > 0 else float("inf")


def median_and_spread(samples: Sequence[float]) -> tuple[float, float]:
    """The median, and half the interquartile range relative to it (0 for < 2 samples)."""
    middle = statistics.median(samples)
    if len(samples) < 2 or middle <= 0:
        return middle, 0.0
    low, _, high = statistics.quantiles(samples, n=4, method="inclusive")
    return middle, (high - low) / 2 / middle


def summarize(workload: Workload, samples: Mapping[str, list[Sample]]) -> list[Row]:
    """Rows for a workload's contenders, with medians and ratios to the reference."""
    rows = []
    for contender in workload.contenders:
        runs = samples[contender.name]
        seconds = [s.seconds for s in runs]
        middle, spread = median_and_spread(seconds)
        counters: dict[str, float] = {}
        for key in sorted({k for s in runs for k in s.counters}):
            counters[key] = statistics.median(s.counters[key] for s in runs if key in s.counters)
        rows.append(Row(workload.section, workload.name, contender.name, workload.reference,
                        workload.ops, seconds, counters, middle, spread,
                        client_cpu=workload.client_cpu,
                        cpu_median=statistics.median(s.cpu_seconds for s in runs)))
    reference = next(r for r in rows if r.contender == workload.reference)
    for row in rows:
        row.ratio = row.median / reference.median if reference.median > 0 else float("inf")
        row.cpu_ratio = (row.cpu_median / reference.cpu_median if reference.cpu_median > 0
                         else float("inf"))
    return rows


def rotated(contenders: Sequence[Contender], round_: int) -> list[Contender]:
    """The turn order of round ``round_``: each round starts one contender later, so no
    contender always runs first (on a cold cache) or right after the same neighbour."""
    shift = round_ % len(contenders) if contenders else 0
    return [*contenders[shift:], *contenders[:shift]]


def run_workload(workload: Workload, repeats: int, warmups: int = 1) -> list[Row]:
    """Run every contender ``warmups`` times untimed, then ``repeats`` times in turns,
    the order rotated each round."""
    for _ in range(warmups):
        for contender in workload.contenders:
            contender.run()
    samples: dict[str, list[Sample]] = {c.name: [] for c in workload.contenders}
    for round_ in range(repeats):
        for contender in rotated(workload.contenders, round_):
            gc.collect()  # no contender pays for the garbage of the one before
            samples[contender.name].append(contender.run())
    return summarize(workload, samples)


class Stopwatch:
    """``with Stopwatch() as watch: ...`` then ``watch.sample()``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self._start = 0.0
        self._cpu_start = 0.0

    def __enter__(self) -> Stopwatch:
        self._cpu_start = time.process_time()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
        self.cpu_seconds = time.process_time() - self._cpu_start

    def sample(self, **counters: float) -> Sample:
        return Sample(self.seconds, counters, self.cpu_seconds)


# Counters taken, untimed, from what a run's work returned (documents found, say).
Count = Callable[[Any], Mapping[str, float]]


def timed(work: Callable[[], Any], setup: Callable[[], Any] | None = None,
          count: Count | None = None) -> Run:
    """A run that calls ``setup`` untimed, then times ``work``."""

    def run() -> Sample:
        if setup is not None:
            setup()
        with Stopwatch() as watch:
            result = work()
        return watch.sample(**(count(result) if count else {}))

    return run


def timed_async(
    loop: asyncio.AbstractEventLoop,
    work: Callable[[], Awaitable[Any]],
    setup: Callable[[], Awaitable[Any]] | None = None,
    count: Count | None = None,
) -> Run:
    """Like :func:`timed` for coroutines, on one long-lived loop (clients stay bound to it)."""

    async def measure() -> Sample:
        if setup is not None:
            await setup()
        with Stopwatch() as watch:
            result = await work()
        return watch.sample(**(count(result) if count else {}))

    return lambda: loop.run_until_complete(measure())
