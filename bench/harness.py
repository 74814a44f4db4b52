"""Timing and result rows shared by every measurement.

Each measurement times the product's code and a baseline doing the same work the bare way, in
the same process, on the same database, *interleaved* (baseline and measured alternately, each
going first every other round), so
that a noisy neighbour on the shared machine slows both alike; the ratio of the medians is what
is reported. The first round of each is a warm-up (caches, compiled statements) and is dropped.
"""

from __future__ import annotations

import datetime as dt
import gc
import statistics
import time
from collections.abc import Callable
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


def interleaved(measured: Callable[[], Any], baseline: Callable[[], Any], *, repeat: int,
                warmup: int = 1, before: Callable[[], Any] | None = None) -> tuple[Timing, Timing]:
    """Time ``measured`` and ``baseline`` alternately; ``before`` runs untimed before each call."""
    m_samples: list[float] = []
    b_samples: list[float] = []
    for round_ in range(warmup + repeat):
        pairs = [(baseline, b_samples), (measured, m_samples)]
        for fn, samples in pairs if round_ % 2 == 0 else pairs[::-1]:  # neither always first
            if before is not None:
                before()
            gc.collect()
            began = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - began
            if round_ >= warmup:
                samples.append(elapsed)
    return Timing(m_samples), Timing(b_samples)


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
                "goal_ratio": self.goal}


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
        m = measured.median if isinstance(measured, Timing) else measured
        b = baseline.median if isinstance(baseline, Timing) else baseline
        return Row(measurement, self.size, self.backend, m, b, unit, goal, check, note,
                   lower_is_better)
