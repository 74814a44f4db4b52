"""Timing and result rows shared by every measurement.

Each measurement times the product's code and a baseline doing the same work the bare way, in
the same process, on the same database, *alternated*: the order of the sides rotates every round
(baseline, product | product, baseline | ...: each pair of rounds is B P P B), so that a noisy
neighbour on the shared machine, or a cache warmed by whoever ran just before, favours neither
side. The first round of each side is a warm-up (caches, compiled statements) and is dropped.
The ratio of the medians is what is reported; the minimums are reported beside them (the least
noisy estimate of what the code costs on a shared machine).

Measurements that drive their own loop (a fresh database copy per round, several sides, a
subprocess) use :func:`alternated_rounds` for the same order and warm-up rule.
"""

from __future__ import annotations

import datetime as dt
import gc
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.databases import Backends, BenchDatabase


@dataclass
class Timing:
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)


def alternated_rounds(sides: Sequence[str], *, repeat: int, warmup: int = 1
                      ) -> Iterator[tuple[int, bool, list[str]]]:
    """``(round, timed, order)`` for ``warmup + repeat`` rounds: ``order`` is ``sides`` rotated
    by one at every round (two sides: B P, P B, B P...), ``timed`` is False for the warm-up
    rounds, whose samples the caller drops. One place for the rule every measurement follows."""
    names = list(sides)
    for round_ in range(warmup + repeat):
        shift = round_ % len(names) if names else 0
        yield round_, round_ >= warmup, names[shift:] + names[:shift]


def interleaved(measured: Callable[[], Any], baseline: Callable[[], Any], *, repeat: int,
                warmup: int = 1, before: Callable[[], Any] | None = None) -> tuple[Timing, Timing]:
    """Time ``measured`` and ``baseline`` alternately; ``before`` runs untimed before each call."""
    timings = alternated({"baseline": baseline, "measured": measured}, repeat=repeat,
                         warmup=warmup, before=before)
    return timings["measured"], timings["baseline"]


def alternated(sides: dict[str, Callable[[], Any]], *, repeat: int, warmup: int = 1,
               before: Callable[[], Any] | None = None) -> dict[str, Timing]:
    """Time every side of ``sides`` in rotating order (:func:`alternated_rounds`), the warm-up
    rounds dropped; ``before`` runs untimed before each call (a fresh copy of the database...)."""
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for _round, timed, order in alternated_rounds(list(sides), repeat=repeat, warmup=warmup):
        for name in order:
            if before is not None:
                before()
            gc.collect()
            began = time.perf_counter()
            sides[name]()
            elapsed = time.perf_counter() - began
            if timed:
                samples[name].append(elapsed)
    return {name: Timing(values) for name, values in samples.items()}


@dataclass
class Row:
    """One line of the results table."""

    measurement: str
    size: str
    backend: str
    measured: float
    baseline: float
    unit: str
    goal: float
    """Largest acceptable ratio."""
    check: str = ""
    """What was verified about the result (the same figures as the baseline...)."""
    note: str = ""
    lower_is_better: bool = True
    absolute_goal: float | None = None
    """When set, the goal is on the measured value itself (in ``unit``), not on the ratio."""
    measured_best: float | None = None
    baseline_best: float | None = None
    """The best timed round of each side: the minimum of a time, the maximum of a rate (None
    when a single figure was measured)."""
    rounds: int | None = None
    """Timed rounds behind the medians (the warm-up excluded)."""

    @property
    def ratio(self) -> float:
        if self.lower_is_better:
            return self.measured / self.baseline if self.baseline else float("inf")
        return self.baseline / self.measured if self.measured else float("inf")

    @property
    def met(self) -> bool:
        if self.absolute_goal is not None:
            return self.measured <= self.absolute_goal
        return self.ratio <= self.goal

    @property
    def goal_text(self) -> str:
        if self.absolute_goal is not None:
            return f"≤ {self.absolute_goal:g} {self.unit}"
        return f"≤ {self.goal:g}x"

    def as_dict(self) -> dict[str, Any]:
        return {"measurement": self.measurement, "size": self.size, "backend": self.backend,
                "measured": self.measured, "baseline": self.baseline, "unit": self.unit,
                "ratio": round(self.ratio, 3), "goal": self.goal_text, "met": self.met,
                "check": self.check, "note": self.note,
                "lower_is_better": self.lower_is_better, "absolute_goal": self.absolute_goal,
                "goal_ratio": self.goal, "measured_best": self.measured_best,
                "baseline_best": self.baseline_best, "rounds": self.rounds}


@dataclass
class Run:
    """What a measurement gets: the database, the servers, the rules and the options."""

    bench_db: BenchDatabase
    backends: Backends
    rulebook: Any
    workdir: Path
    repeat: int = 5
    log: Callable[[str], None] = print
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def db(self) -> Any:
        return self.bench_db.db

    @property
    def today(self) -> dt.date:
        return self.bench_db.today

    @property
    def size(self) -> str:
        return self.bench_db.size.name

    @property
    def backend(self) -> str:
        return self.bench_db.backend

    def context(self, db: Any = None) -> Any:
        """The domain's Context on this database, with the clock fixed at the bench's today."""
        from clauses.clock import FixedClock
        from clauses.context import Context, Policy
        from storage.documents import DocumentStore

        clock = FixedClock(dt.datetime.combine(self.today, dt.time(10, 0)))
        return Context(db=db or self.db, documents=DocumentStore(self.workdir / "documents"),
                       rulebook=self.rulebook, clock=clock, policy=Policy())

    def row(self, measurement: str, measured: Timing | float, baseline: Timing | float, *,
            goal: float, unit: str = "s", check: str = "", note: str = "",
            lower_is_better: bool = True) -> Row:
        """A result row; given :class:`Timing` objects it carries their medians and best rounds
        (the minimum of a time; with ``lower_is_better=False``, Timings of rates, the maximum)."""

        def best(value: Timing | float) -> float | None:
            if not isinstance(value, Timing) or not value.samples:
                return None
            return min(value.samples) if lower_is_better else max(value.samples)

        m = measured.median if isinstance(measured, Timing) else measured
        b = baseline.median if isinstance(baseline, Timing) else baseline
        rounds = len(measured.samples) if isinstance(measured, Timing) else None
        return Row(measurement, self.size, self.backend, m, b, unit, goal, check, note,
                   lower_is_better, measured_best=best(measured), baseline_best=best(baseline),
                   rounds=rounds)
