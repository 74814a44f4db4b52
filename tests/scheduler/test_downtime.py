"""Late rather than never, and never twice: downtime, restarts and duplicate runs."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select

from clauses.context import Context
from scheduler.jobs import run_job
from storage.db import Database
from storage.models import Alert, AlertKind, KeyValue, OutboxMessage
from tests import factories as f
from tests.scheduler.world import at

D = dt.date


def _outbox(ctx, prefix: str) -> list[OutboxMessage]:
    with ctx.db.session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key.like(f"{prefix}%"))
                              .order_by(OutboxMessage.id)))


def _ledger_day(ctx, key: str) -> dt.date | None:
    with ctx.db.session() as s:
        value = s.scalar(select(KeyValue.value).where(KeyValue.key == f"sent:{key}"))
    return D.fromisoformat(json.loads(value)["day"]) if value else None


def _restarted(ctx: Context) -> Context:
    """A new process on the same database: new engine, nothing kept in memory."""
    ctx.db.dispose()
    return Context(db=Database(ctx.db.url), documents=ctx.documents, rulebook=ctx.rulebook,
                   clock=ctx.clock, policy=ctx.policy)


def test_service_down_across_the_reminder_dates_sends_each_once_on_restart(ctx, clock):
    with ctx.db.session() as s:
        t = f.territory(s)  # contract from 2025-02-01, February never declared
    company, fac = t["company"].id, t["facilitator"].id
    first_key = f"rappel_declaration:company:{company}:2025-02"
    # Up and running until 2025-03-01: nothing due yet.
    for day in (D(2025, 2, 27), D(2025, 2, 28), D(2025, 3, 1)):
        clock.set(at(day))
        assert run_job(ctx, "declaration_reminders").due == 0
    # Down from 2 to 20 March: the first (5 March) and second (12 March) reminder dates pass.
    ctx = _restarted(ctx)
    clock.set(at(D(2025, 3, 21), 7, 30))
    first = run_job(ctx, "declaration_reminders")
    again = run_job(ctx, "declaration_reminders")  # a duplicate run, same day
    ctx = _restarted(ctx)
    after_restart = run_job(ctx, "declaration_reminders")  # and a restart, same day
    assert (first.done, again.done, after_restart.done) == (1, 0, 0)
    assert [p.to for p in first.planned] == ["chef@btp-rhone.test"]
    assert _ledger_day(ctx, first_key) == D(2025, 3, 21)
    assert len(_outbox(ctx, "rappel_declaration:")) == 1
    # The second reminder waits the full delay after the late first one: 28 March, not 12.
    for day in range(22, 28):
        clock.set(at(D(2025, 3, day)))
        assert run_job(ctx, "declaration_reminders").done == 0
    clock.set(at(D(2025, 3, 28)))
    second = run_job(ctx, "declaration_reminders")
    assert second.done == 1
    assert run_job(ctx, "declaration_reminders").done == 0
    assert len(_outbox(ctx, "relance_declaration:")) == 1
    with ctx.db.session() as s:
        alerts = s.scalars(select(Alert).where(Alert.kind == AlertKind.DECLARATION_MANQUANTE)).all()
        assert [(a.facilitator_id, a.subject_id) for a in alerts] == [(fac, company)]
        assert "février 2025" in alerts[0].message and "21/03/2025" in alerts[0].message


def test_a_run_on_a_sunday_or_holiday_sends_nothing_and_the_next_business_day_does(ctx, clock):
    with ctx.db.session() as s:
        f.territory(s)
    clock.set(at(D(2025, 10, 5)))  # Sunday: September's reminder date moves to Monday
    assert run_job(ctx, "declaration_reminders").due == 0
    clock.set(at(D(2025, 10, 6)))
    assert run_job(ctx, "declaration_reminders").done == 2  # August and September (catch-up)
    clock.set(at(D(2025, 11, 1)))  # Toussaint
    assert run_job(ctx, "declaration_reminders").due == 0


def test_a_long_downtime_reminds_only_the_recent_months(ctx, clock):
    with ctx.db.session() as s:
        t = f.territory(s)
    clock.set(at(D(2025, 7, 7)))  # first run ever: February to June are missing
    result = run_job(ctx, "declaration_reminders")
    months = sorted(p.key.split(":")[3] for p in result.planned)
    assert months == ["2025-05", "2025-06"]  # catch_up_months = 2: no year of backlog
    assert t["company"].name in result.planned[0].subject


def test_dry_run_shows_what_would_be_sent_and_writes_nothing(ctx, clock):
    with ctx.db.session() as s:
        f.territory(s)
    clock.set(at(D(2025, 6, 16)))
    dry = run_job(ctx, "declaration_reminders", dry_run=True)
    assert dry.dry_run and dry.done == 2
    assert {(p.channel, p.to) for p in dry.planned} == {("email", "chef@btp-rhone.test")}
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert s.scalar(select(func.count()).select_from(KeyValue)) == 0
    real = run_job(ctx, "declaration_reminders")
    assert [p.key for p in real.planned] == [p.key for p in dry.planned]


def test_the_service_counts_the_messages_without_describing_them(ctx, clock):
    """The scheduled runs only count: describing each message costs a query and memory."""
    with ctx.db.session() as s:
        f.territory(s)
    clock.set(at(D(2025, 6, 16)))
    quiet = run_job(ctx, "declaration_reminders", describe=False)
    assert (quiet.done, quiet.messages, quiet.planned) == (2, 2, [])
    assert "2 message(s)" in quiet.summary_fr()
    assert len(_outbox(ctx, "rappel_declaration:")) == 2
