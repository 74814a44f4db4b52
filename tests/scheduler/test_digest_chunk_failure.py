"""A fee or lateness chunk that fails is redone item by item (tests/scheduler/chunk_failure.py): its alerts
still reach the facilitator as one digest, not one push each (the per-item writer goes
through the same set-based rule, :mod:`clauses.alert_digest`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from clauses import fees, reminders
from clauses.alert_digest import TALLY
from scheduler import jobs
from storage.models import Alert, AlertKind, ChatLink, OutboxMessage, User
from tests import factories as f
from tests.scheduler.test_set_based_jobs import _units

TODAY = dt.date(2025, 12, 1)


def test_a_chunk_redone_one_by_one_still_ends_in_one_digest(db, ctx, clock, monkeypatch):
    clock.set(dt.datetime(2025, 12, 1, 9, 0, tzinfo=dt.UTC))
    with db.session() as s:
        fanny = f.user(s, display_name="Fanny", email="fanny@agence.test")
        s.add(ChatLink(user_id=fanny.id, chat_id=-7))
        d = f.donneur(s, "Ville A")
        for k in range(12):
            f.market(s, d, reference=f"M{k}", start=TODAY, end=dt.date(2026, 12, 31),
                     facilitator=fanny)
    real = fees.record_milestones

    def concurrent(*args):
        real(*args)
        raise IntegrityError("INSERT …", {}, Exception("a concurrent run's row"))

    monkeypatch.setattr(fees, "record_milestones", concurrent)
    result = jobs.run_job(ctx, "fee_milestones")
    assert (result.errors, result.done) == ([], 12)
    with db.session() as s:
        assert len(s.scalars(select(Alert)).all()) == 12
        [digest] = s.scalars(select(OutboxMessage)).all()
        assert digest.dedup_key.startswith("digest:") and digest.to_chat_id == -7
        assert digest.headers[TALLY]["total"] == 12
        assert digest.body_text.startswith("🔔 12 nouvelles alertes")


def test_a_lateness_chunk_redone_one_by_one_still_ends_in_one_digest(db, ctx, clock, monkeypatch):
    """The same for the lateness job's per-item writer (reminders.apply_lateness)."""
    clock.set(dt.datetime(2025, 12, 1, 9, 0, tzinfo=dt.UTC))
    with db.session() as s:
        _units(s, 12, "r")
        fanny = s.scalar(select(User).where(User.email == "fanny-r@agence.test"))
        s.add(ChatLink(user_id=fanny.id, chat_id=-8))
    real = reminders.apply_lateness_many

    def concurrent(*args):
        real(*args)
        raise IntegrityError("INSERT …", {}, Exception("a concurrent run's row"))

    monkeypatch.setattr(reminders, "apply_lateness_many", concurrent)
    result = jobs.run_job(ctx, "lateness")
    assert result.errors == [] and result.done >= 12
    with db.session() as s:
        late = s.scalars(select(Alert).where(Alert.kind == AlertKind.ENTREPRISE_EN_RETARD)).all()
        assert len(late) >= 12
        rows = s.scalars(select(OutboxMessage)).all()
        assert not [r for r in rows if r.dedup_key.startswith("alert:")]  # no push one by one
        [digest] = [r for r in rows if r.dedup_key.startswith("digest:")]
        assert digest.to_chat_id == -8 and digest.headers[TALLY]["total"] == len(late)
