"""Measurement 5: a scheduler tick on ten times more data, with the same due items.

The tick is :func:`scheduler.jobs.run_daily`: every daily job once (lateness, declaration
reminders, escalation deadlines, meetings, conventions, market ends, annual bilans), each due item
in its own transaction, as the service runs it every morning and at start-up.

The two databases come from the same seed and the same "today": the baseline has
``history_years`` of history (3 for a territory), the measured one ten times as many (30). The
generator draws every arrival from a generator keyed by its month, so the last three years — and
therefore every contract, engagement, escalation and market that can be due today — are the
same in both; only the past grows. The due counts of both ticks are compared (they must be
equal, or the comparison would be meaningless) and reported.

A tick writes (the ledger of what was sent, outbox rows, alerts, engagement statuses), so each
round runs on a fresh copy of the database, made before the timer starts.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from bench.databases import BenchDatabase
from bench.harness import Row, Run, Timing

FACTOR = 12
"""History multiplier of the big database: 3 -> 36 years gives about ten times the rows."""


def tick(run: Run, db: Any) -> list[Any]:
    from scheduler.jobs import run_daily

    return run_daily(run.context(db), describe=False)  # as the service runs it


def _summary(results: list[Any]) -> dict[str, int]:
    return {r.job_id: r.due for r in results}


def _errors(results: list[Any]) -> list[str]:
    return [e for r in results for e in r.errors]


def timed_tick(run: Run, bench_db: BenchDatabase, counter: itertools.count) -> tuple[float, Any]:
    import time

    clone = run.backends.clone(bench_db, f"tick{next(counter)}")
    try:
        began = time.perf_counter()
        results = tick(run, clone)
        return time.perf_counter() - began, results
    finally:
        run.backends.drop_clone(clone)


def run(run: Run) -> list[Row]:
    size = run.bench_db.size
    if size.scale > 1:
        run.log("  skipped: the ten-times-history database of this size would not fit the "
                "machine's time budget (run it at territory size)")
        return []
    big = run.backends.database(run.backend, size.with_history(size.history_years * FACTOR))
    counter = itertools.count()
    small_s: list[float] = []
    big_s: list[float] = []
    small_due = big_due = None
    try:
        for round_ in range(1 + run.repeat):
            if round_ % 2:  # neither database always goes first
                b_time, b_res = timed_tick(run, big, counter)
                s_time, s_res = timed_tick(run, run.bench_db, counter)
            else:
                s_time, s_res = timed_tick(run, run.bench_db, counter)
                b_time, b_res = timed_tick(run, big, counter)
            errors = _errors(s_res) + _errors(b_res)
            if errors:
                raise AssertionError("scheduler tick reported errors: " + "; ".join(errors[:5]))
            small_due, big_due = _summary(s_res), _summary(b_res)
            if round_:
                small_s.append(s_time)
                big_s.append(b_time)
        small_rows = sum(run.bench_db.report.rows.values())
        big_rows = sum(big.report.rows.values())
    finally:
        run.backends.release(big)
    if small_due != big_due:
        raise AssertionError(f"due items differ: {small_due} vs {big_due}")
    assert small_due is not None
    due_total = sum(small_due.values())
    run.log(f"  tick: {Timing(big_s).median:.3f}s ({big_rows:,} rows) vs "
            f"{Timing(small_s).median:.3f}s ({small_rows:,} rows), {due_total} due items")
    detail = ", ".join(f"{k} {v}" for k, v in small_due.items() if v)
    return [run.row(
        f"scheduler tick, {big_rows / small_rows:.1f}x the rows "
        f"({size.history_years * FACTOR} vs {size.history_years} years)",
        Timing(big_s), Timing(small_s), goal=1.2,
        check=f"same due items on both: {due_total} ({detail})",
        note=f"run_daily at {dt.date.isoformat(run.today)}; each round on a fresh copy")]
