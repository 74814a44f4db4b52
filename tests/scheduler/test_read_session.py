"""Read sessions: the scheduler's due queries must not hold SQLite's write lock.

Why: every SQLite session began with BEGIN IMMEDIATE, so a long due query (the catch-up at
start-up) held the single write lock and the chat outbox sender failed with "database is
locked". Read-only work now uses ``Database.read_session()`` (deferred BEGIN on SQLite, READ ONLY
transaction on PostgreSQL); write sessions keep BEGIN IMMEDIATE.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.exc import DBAPIError

from clauses.clock import FixedClock
from clauses.context import Context
from scheduler.jobs import run_job
from storage.db import Database, ReadOnlySessionError
from storage.models import Base, KeyValue

NOW = dt.datetime(2025, 6, 16, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[tuple[Database, Path]]:
    path = tmp_path / "locks.sqlite3"
    database = Database(f"sqlite:///{path}")
    Base.metadata.create_all(database.engine)
    with database.session() as s:
        s.add(KeyValue(key="seed", value="{}", updated_at=NOW))
    yield database, path
    database.dispose()


def _write_elsewhere(path: Path, key: str) -> None:
    """Another process's write (the outbox sender), giving up after half a second."""
    con = sqlite3.connect(path, timeout=0.5, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO key_values (key, value, updated_at) VALUES (?, '{}', ?)",
                    (key, NOW.isoformat(" ")))
        con.execute("COMMIT")
    finally:
        con.close()


def test_another_connection_can_write_while_a_read_session_is_open(sqlite_file):
    db, path = sqlite_file
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(KeyValue)) == 1  # snapshot taken
        _write_elsewhere(path, "written_meanwhile")
        # The read keeps its snapshot (WAL): the other write is not seen until the next session.
        assert s.scalar(select(func.count()).select_from(KeyValue)) == 1
    with db.read_session() as s:
        assert s.get(KeyValue, "written_meanwhile") is not None


def test_write_sessions_still_take_the_write_lock_up_front(sqlite_file):
    """BEGIN IMMEDIATE stays for writers: no SQLITE_BUSY when a reader would upgrade its lock."""
    db, path = sqlite_file
    with db.session() as s:
        s.scalar(select(func.count()).select_from(KeyValue))  # only reads so far, yet locked
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            _write_elsewhere(path, "blocked")


def test_objects_read_stay_usable_after_the_read_session(db):
    with db.session() as s:
        s.add(KeyValue(key="k", value='{"a": 1}', updated_at=NOW))
    with db.read_session() as s:
        row = s.get(KeyValue, "k")
    assert row.value == '{"a": 1}'


def test_orm_writes_in_a_read_session_are_refused_not_dropped(db):
    with pytest.raises(ReadOnlySessionError), db.read_session() as s:
        s.add(KeyValue(key="stray", value="{}", updated_at=NOW))
        s.flush()
    with db.read_session() as s:
        assert s.get(KeyValue, "stray") is None


def test_postgres_read_sessions_are_read_only_transactions(pg_schema_url):
    """READ ONLY is PostgreSQL's (SQLite relies on the flush guard above): PostgreSQL only."""
    from tests.conftest import _truncate_all

    db = Database(pg_schema_url)
    _truncate_all(db)
    with db.session() as s:
        s.add(KeyValue(key="k", value="{}", updated_at=NOW))
    with pytest.raises(DBAPIError, match="read-only"), db.read_session() as s:
        assert s.scalar(text("SHOW transaction_read_only")) == "on"
        s.execute(update(KeyValue).values(value='{"b": 2}'))
    with db.session() as s:  # and the pooled connection is back to read-write
        assert s.scalar(text("SHOW transaction_read_only")) == "off"
    db.dispose()


def test_a_job_reads_what_is_due_without_the_write_lock(sqlite_file, tmp_path):
    """The due query's transaction begins deferred; only the items' units take the lock."""
    from clauses.context import Policy
    from clauses.rulebook import load_rulebook
    from storage.documents import DocumentStore

    db, _path = sqlite_file
    ctx = Context(db=db, documents=DocumentStore(tmp_path / "docs"), rulebook=load_rulebook("default"),
                  clock=FixedClock(dt.datetime(2025, 6, 16, 10, 0)), policy=Policy())
    begins: list[str] = []

    def record(_conn, _cursor, statement: str, *_args: object) -> None:
        if statement.startswith("BEGIN"):
            begins.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        result = run_job(ctx, "lateness")
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert not result.errors
    # The due queries (deferred: the ids of the engagements to judge, then each slice of them:
    # none in this empty database), then the record of the run (a write, immediate).
    assert begins[-1] == "BEGIN IMMEDIATE" and len(begins) >= 2
    assert set(begins[:-1]) == {"BEGIN"}


def test_lateness_figures_match_the_progress_view_and_names_come_only_with_alerts(ctx, clock):
    """The lean lateness query judges exactly as the chat's progress view does."""
    from clauses import due
    from clauses.progress_service import progress_rows
    from storage.models import Engagement
    from tests.scheduler import world as w

    with ctx.db.session() as s:
        w.build(s)
    today = dt.date(2025, 9, 15)
    rules = due.DueRules()
    at = due.progress_cutoff(today, rules)
    with ctx.db.read_session() as s:
        changes = due.lateness_changes(ctx, s, today, rules)
        views = {v.engagement_id: v for v in progress_rows(ctx, s, Engagement.id.is_not(None), at)}
    assert changes and any(c.alerts for c in changes)
    for c in changes:
        v = views[c.engagement_id]
        assert (c.current, c.owed, c.done, c.expected) == (v.status, v.owed, v.done, v.expected)
        if c.alerts:
            assert (c.company_name, c.market_reference, c.lot_number) == (
                v.company_name, v.market_reference, v.lot_number)
        else:
            assert c.company_name == ""


def test_the_lateness_job_judges_slice_by_slice_exactly_what_one_query_would(ctx, clock,
                                                                              monkeypatch):
    """Slices of one engagement id each: the same changes, each handled once."""
    from clauses import due
    from scheduler import jobs
    from storage.models import Alert, AlertKind
    from tests.scheduler import world as w

    with ctx.db.session() as s:
        w.build(s)
    clock.set(dt.datetime(2025, 9, 15, 8, 0, tzinfo=dt.UTC))
    with ctx.db.read_session() as s:
        whole = due.lateness_changes(ctx, s, clock.today(), due.DueRules())
    monkeypatch.setattr(jobs, "LATENESS_SLICE", 1)
    result = jobs.run_job(ctx, "lateness")
    assert (result.due, result.done, result.errors) == (len(whole), len(whole), [])
    with ctx.db.session() as s:
        alerts = s.scalars(select(Alert).where(Alert.kind == AlertKind.ENTREPRISE_EN_RETARD)).all()
    assert len(alerts) == sum(1 for c in whole if c.alerts) > 0
    assert jobs.run_job(ctx, "lateness").due == 0  # recorded: nothing changes twice
