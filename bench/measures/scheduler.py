"""Measurement 5: the scheduler tick — against the floor of what it writes, and on ten times more
history with the same due items.

The tick is :func:`scheduler.jobs.run_daily`: every daily job once (lateness, declaration
reminders, escalation deadlines, meetings, conventions, market ends, exits, paths, fee
milestones, annual bilans), each due item in its own transaction, as the service runs it every
morning and at start-up (on a generated database that never ran the jobs, the start-up
catch-up: every item due since the beginning).

**The tick against its floor** (any size, national included). The baseline writes *the very
rows the tick wrote* (captured from the warm-up round's copy: every row added to every table)
through the bare driver, one ``executemany`` per table, with the rows split into as many
transactions as the tick handled due items — the physical floor of "one transaction per due
item", which the tick needs (one failing item must not hold back the others, and a crash
must not lose or repeat what was queued). Foreign keys are not checked on that side (rows of a
table may reference a later slice of another), which only makes the floor lower. What the
ratio shows is what the tick costs above writing its result: finding what is due and deciding
for each item (its queries per item).

**Ten times the history** (territory only). The two databases come from the same seed and the
same "today": the baseline has ``history_years`` of history (3 for a territory), the measured
one twelve times as many. The generator draws every arrival from a generator keyed by its
month, so the last three years — and therefore every contract, engagement, escalation and market
that can be due today — are the same in both; only the past grows. The due counts of both
ticks are compared (they must be equal, or the comparison would be meaningless) and reported.
The national database with ten times its history would not fit the time budget.

A tick writes (the ledger of what was sent, outbox rows, alerts, engagement statuses), so each
round of either side runs on a fresh copy of the database, made before the timer starts.
Rounds alternate (:func:`bench.harness.alternated_rounds`), the first is a dropped warm-up.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass
from typing import Any

from bench.databases import BenchDatabase
from bench.harness import Row, Run, Timing, alternated_rounds
from bench.sql import raw

FACTOR = 12
"""History multiplier of the big database: 3 -> 36 years gives about ten times the rows."""


def tick(run: Run, db: Any, day: dt.date | None = None,
         commits: list[int] | None = None) -> list[Any]:
    """``run_daily`` as the service runs it, at ``day`` (the bench's today by default);
    ``commits`` gets the number of write transactions it committed (the floor replays its rows
    in as many)."""
    import dataclasses

    from sqlalchemy import event

    from clauses.clock import FixedClock
    from scheduler.jobs import run_daily
    from storage.db import READ_ONLY

    ctx = run.context(db)
    if day is not None:
        ctx = dataclasses.replace(ctx, clock=FixedClock(dt.datetime.combine(day, dt.time(10, 0))))
    count = [0]

    def committed(conn: Any) -> None:
        if not conn.get_execution_options().get(READ_ONLY):
            count[0] += 1

    event.listen(db.engine, "commit", committed)
    try:
        return run_daily(ctx, describe=False)
    finally:
        event.remove(db.engine, "commit", committed)
        if commits is not None:
            commits.append(count[0])


def _summary(results: list[Any]) -> dict[str, int]:
    return {r.job_id: r.due for r in results}


def _errors(results: list[Any]) -> list[str]:
    return [e for r in results for e in r.errors]


def timed_tick(run: Run, bench_db: BenchDatabase, counter: itertools.count) -> tuple[float, Any]:
    clone = run.backends.clone(bench_db, f"tick{next(counter)}")
    try:
        began = time.perf_counter()
        results = tick(run, clone)
        return time.perf_counter() - began, results
    finally:
        run.backends.drop_clone(clone)


def run(run: Run) -> list[Row]:
    rows = floor_rows(run)
    if run.bench_db.size.scale > 1:
        run.log("  history: skipped (the ten-times-history database of this size would not fit "
                "the machine's time budget; run it at territory size)")
        return rows
    return rows + history_rows(run)


def history_rows(run: Run) -> list[Row]:
    size = run.bench_db.size
    big = run.backends.database(run.backend, size.with_history(size.history_years * FACTOR))
    counter = itertools.count()
    samples: dict[str, list[float]] = {"small": [], "big": []}
    dues: dict[str, dict[str, int]] = {}
    try:
        for _round, timed, order in alternated_rounds(["small", "big"], repeat=run.repeat):
            for side in order:
                elapsed, results = timed_tick(run, big if side == "big" else run.bench_db,
                                              counter)
                errors = _errors(results)
                if errors:
                    raise AssertionError("scheduler tick reported errors: " +
                                         "; ".join(errors[:5]))
                dues[side] = _summary(results)
                if timed:
                    samples[side].append(elapsed)
        small_rows = sum(run.bench_db.report.rows.values())
        big_rows = sum(big.report.rows.values())
    finally:
        run.backends.release(big)
    small_due, big_due = dues.get("small"), dues.get("big")
    if small_due != big_due:
        raise AssertionError(f"due items differ: {small_due} vs {big_due}")
    assert small_due is not None
    due_total = sum(small_due.values())
    run.log(f"  tick: {Timing(samples['big']).median:.3f}s ({big_rows:,} rows) vs "
            f"{Timing(samples['small']).median:.3f}s ({small_rows:,} rows), {due_total} due items")
    detail = ", ".join(f"{k} {v}" for k, v in small_due.items() if v)
    return [run.row(
        f"scheduler tick, {big_rows / small_rows:.1f}x the rows "
        f"({size.history_years * FACTOR} vs {size.history_years} years)",
        Timing(samples["big"]), Timing(samples["small"]), goal=1.2,
        check=f"same due items on both: {due_total} ({detail})",
        note=f"run_daily at {dt.date.isoformat(run.today)}; each round on a fresh copy")]


# --- the tick against the floor of writing its rows ------------------------------------------


@dataclass
class Written:
    """The rows a tick added, table by table (FK order), as the driver returns them."""

    tables: list[tuple[str, list[str], list[tuple[Any, ...]]]]

    @property
    def count(self) -> int:
        return sum(len(rows) for _t, _c, rows in self.tables)

    def summary(self) -> str:
        return ", ".join(f"{t} {len(rows):,}" for t, _c, rows in self.tables)


def _high_water(db: Any) -> dict[str, Any]:
    """Per table, what is already there: the largest integer id, or the set of keys of a table
    keyed otherwise (small tables: the ledger)."""
    from storage.models import Base

    marks: dict[str, Any] = {}
    with raw(db) as sql:
        for table in Base.metadata.sorted_tables:
            pk = [c.name for c in table.primary_key]
            if pk == ["id"]:
                marks[table.name] = sql.one(f"SELECT COALESCE(MAX(id), 0) FROM {table.name}")[0]
            else:
                cols = ", ".join(pk)
                marks[table.name] = {tuple(r) for r in sql.all(f"SELECT {cols} FROM {table.name}")}
    return marks


def _added_rows(db: Any, marks: dict[str, Any]) -> Written:
    from storage.models import Base

    tables: list[tuple[str, list[str], list[tuple[Any, ...]]]] = []
    with raw(db) as sql:
        for table in Base.metadata.sorted_tables:
            cols = [c.name for c in table.columns]
            quoted = ", ".join(f'"{c}"' for c in cols)
            mark = marks[table.name]
            if isinstance(mark, set):
                pk = [cols.index(c.name) for c in table.primary_key]
                rows = [r for r in sql.all(f"SELECT {quoted} FROM {table.name}")
                        if tuple(r[i] for i in pk) not in mark]
            else:
                rows = sql.all(f"SELECT {quoted} FROM {table.name} WHERE id > :m ORDER BY id",
                               {"m": mark})
            if rows:
                tables.append((table.name, cols, rows))
    return Written(tables)


def write_floor(db: Any, written: Written, transactions: int) -> None:
    """The rows in ``transactions`` transactions (slice i of every table in each), through the
    bare driver, foreign keys unchecked."""
    with raw(db) as sql:
        conn = sql.conn
        if sql.dialect == "sqlite":
            conn.commit()
            conn.execute("PRAGMA foreign_keys=OFF")
            mark = "?"
        else:
            conn.execute("SET session_replication_role = replica")
            conn.commit()
            mark = "%s"
        statements = []
        for table, cols, rows in written.tables:
            quoted = ", ".join(f'"{c}"' for c in cols)
            text = (f"INSERT INTO {table} ({quoted}) VALUES "
                    f"({', '.join(mark for _ in cols)})")
            statements.append((text, _driver_rows(sql.dialect, rows)))
        n = max(1, transactions)
        cur = conn.cursor()
        try:
            for i in range(n):
                for text, rows in statements:
                    part = rows[i * len(rows) // n:(i + 1) * len(rows) // n]
                    if part:
                        cur.executemany(text, part)
                conn.commit()
        finally:
            cur.close()
            if sql.dialect == "sqlite":
                conn.execute("PRAGMA foreign_keys=ON")
            else:
                conn.execute("SET session_replication_role = DEFAULT")
                conn.commit()


def _driver_rows(dialect: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    if dialect == "sqlite":
        return rows
    from psycopg.types.json import Jsonb

    return [tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in r) for r in rows]


def floor_rows(run: Run) -> list[Row]:
    """The catch-up against its floors, then (national size) a steady-state day: the day after
    next of a copy that caught up today and tomorrow (tomorrow is the first business day, whose
    meeting-planning job has its own catch-up), against the floors of what that day writes."""
    rows = tick_against_floor(run, run.bench_db, None, "catch-up")
    if run.bench_db.size.scale <= 1:
        return rows
    base = run.backends.clone(run.bench_db, "caughtup")
    try:
        for day in (run.today, run.today + dt.timedelta(days=1)):
            errors = _errors(tick(run, base, day))
            if errors:
                raise AssertionError("catch-up before the steady day: " + "; ".join(errors[:5]))
        base.dispose()
        rows += tick_against_floor(run, base, run.today + dt.timedelta(days=2), "steady day")
    finally:
        run.backends.drop_clone(base)
    return rows


def tick_against_floor(run: Run, source: Any, day: dt.date | None, what: str) -> list[Row]:
    """The tick on fresh copies of ``source`` at ``day`` against two floors of writing its rows
    through the bare driver: in as many transactions as the tick committed (its own
    granularity: a chunk of items per transaction since the jobs are set-based), and in one
    transaction per item done (the per-item design's floor, the previous rows' baseline)."""
    counter = itertools.count()
    source_db = source.db if isinstance(source, BenchDatabase) else source
    marks = _high_water(source_db)
    sides = ["floor", "floor-items", "tick"]
    samples: dict[str, list[float]] = {side: [] for side in sides}
    written: Written | None = None
    done = 0
    commits: list[int] = []
    summary: dict[str, int] = {}
    for _round, timed, order in alternated_rounds(sides, repeat=run.repeat):
        if written is None:  # the floor replays what the tick wrote: the tick goes first once
            order = ["tick"] + [side for side in order if side != "tick"]
        for side in order:
            clone = run.backends.clone(source, f"{side.replace('-', '')}{next(counter)}")
            try:
                began = time.perf_counter()
                if side == "tick":
                    results = tick(run, clone, day, commits)
                else:
                    assert written is not None
                    write_floor(clone, written, commits[0] if side == "floor" else done)
                elapsed = time.perf_counter() - began
                if side == "tick":
                    errors = _errors(results)
                    if errors:
                        raise AssertionError("scheduler tick reported errors: " +
                                             "; ".join(errors[:5]))
                    this = {r.job_id: r.done for r in results}
                    if summary and this != summary:
                        raise AssertionError(f"ticks of two rounds differ: {summary} vs {this}")
                    summary = this
                    done = sum(this.values())
                    if written is None:
                        written = _added_rows(clone, marks)
                if timed:
                    samples[side].append(elapsed)
            finally:
                run.backends.drop_clone(clone)
    assert written is not None
    tick_t = Timing(samples["tick"])
    per_item = tick_t.median / max(1, done) * 1000
    when = dt.date.isoformat(day or run.today)
    detail = ", ".join(f"{k} {v:,}" for k, v in summary.items() if v)
    out = []
    for side, how in (("floor", f"in the tick's {commits[0]:,} write transactions"),
                      ("floor-items", "a transaction an item")):
        floor_t = Timing(samples[side])
        run.log(f"  tick ({what}) vs floor {how}: {tick_t.median:.3f}s vs {floor_t.median:.3f}s, "
                f"{done:,} items, {written.count:,} rows ({per_item:.2f} ms an item)")
        out.append(run.row(
            f"scheduler tick ({what}, {done:,} due items) vs writing its rows, {how}",
            tick_t, floor_t, goal=5.0,
            check=f"same items every round: {detail}; rows written: {written.summary()}",
            note=f"run_daily at {when}; {per_item:.2f} ms an item; each round on a fresh copy"))
    return out
