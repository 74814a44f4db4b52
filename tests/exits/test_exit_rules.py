"""The edges of the exit rules, on factory rows: which ended contracts are asked about, when
the 6-month follow-up falls, and which exit dates a contract allows."""

from __future__ import annotations

import datetime as dt

import pytest

from clauses.actors import Actor
from clauses.errors import DomainError
from clauses.exits import Question, questions_due, record_exit
from storage.models import Channel, Engagement, ExitFollowup, Role
from tests import factories as f

D = dt.date
STAFF = Actor(role=Role.ADMIN, channel=Channel.CLI, label="test")


def _person(s, world, last: str, *spans: tuple[D, D | None]) -> int:
    p = f.participant(s, last, "Test")
    for start, end in spans:
        f.contract(s, p, s.get(Engagement, world["engagement"]), start=start, end=end)
    return p.id


def test_which_ended_contracts_are_asked_about(ctx, world):
    today = D(2025, 6, 16)
    with ctx.db.session() as s:
        ends_today = _person(s, world, "Aujourdhui", (D(2025, 1, 6), today))
        yesterday = _person(s, world, "Hier", (D(2025, 1, 6), D(2025, 6, 15)))
        window_edge = _person(s, world, "Limite", (D(2025, 1, 6), today - dt.timedelta(days=92)))
        too_old = _person(s, world, "Ancien", (D(2025, 1, 6), today - dt.timedelta(days=93)))
        renewed = _person(s, world, "Renouvele", (D(2025, 1, 6), D(2025, 6, 13)),
                          (D(2025, 7, 1), D(2025, 12, 31)))
        first_of_month = _person(s, world, "Premier", (D(2025, 2, 3), D(2025, 6, 1)))
        asked = {q.participant_id for q in questions_due(s, today) if q.kind == "sortie"}
    assert {yesterday, window_edge, first_of_month} <= asked
    assert not asked & {ends_today, too_old, renewed}


def test_exit_dates_a_contract_allows(ctx, world):
    with ctx.db.session() as s:
        pid = _person(s, world, "Premier", (D(2025, 2, 3), D(2025, 6, 1)))  # ends on the 1st
        with pytest.raises(DomainError, match="encore sous contrat le 31/05/2025"):
            record_exit(ctx, s, STAFF, pid, situation="cdi", exit_date=D(2025, 5, 31))
        with pytest.raises(DomainError, match="précède le début"):
            record_exit(ctx, s, STAFF, pid, situation="cdi", exit_date=D(2025, 2, 2))
        p = record_exit(ctx, s, STAFF, pid, situation="cdi", exit_date=D(2025, 6, 1))
        assert (p.exit_situation, p.exit_date) == ("cdi", D(2025, 6, 1))
        mid = _person(s, world, "Milieu", (D(2025, 3, 3), D(2025, 4, 15)))  # ends mid-month
        record_exit(ctx, s, STAFF, mid, situation="sans_nouvelles", exit_date=D(2025, 4, 15))


def test_the_follow_up_falls_six_calendar_months_after_the_exit(ctx, world, clock):
    clock.set(dt.datetime(2025, 9, 10, 10, 0))
    with ctx.db.session() as s:
        pid = _person(s, world, "Aout", (D(2025, 3, 3), D(2025, 8, 31)))
        record_exit(ctx, s, STAFF, pid, situation="cdd_moins_6_mois", exit_date=D(2025, 8, 31))

    def due(day: D) -> list[Question]:
        with ctx.db.session() as s:
            return [q for q in questions_due(s, day) if q.kind == "suivi_6_mois"]

    assert due(D(2026, 2, 27)) == []
    (q,) = due(D(2026, 2, 28))  # 31/08 + 6 months, clamped to February's last day
    assert q.participant_id == pid
    assert [x.participant_id for x in due(D(2026, 3, 20))] == [pid]  # caught up after downtime
    with ctx.db.session() as s:
        assert s.query(ExitFollowup).filter_by(kind="sortie", participant_id=pid).one().situation \
            == "cdd_moins_6_mois"
