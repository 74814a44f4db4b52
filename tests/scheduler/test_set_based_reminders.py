"""Declaration reminders and meeting planning, set-based (issue 20, the national steady day):
both write a chunk of due items per transaction, and meeting planning asks only for the
meetings not prompted yet. Their statements do not grow with the number of items; the edges of
their windows hold (due exactly today, the day before, a period ending on the 1st); each item
is done once across runs; a chunk that fails is rolled back whole and redone one by one; both
writers give the same messages.

Factories build the surroundings (rules of the jobs, not journeys: the journeys reaching these
jobs through the channels are in tests/journeys).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from scheduler import jobs
from storage.models import Alert, ChatLink, Company, MarketKind, OutboxMessage, Role
from tests import factories as f

D = dt.date


def _at(clock, day: dt.date) -> None:
    clock.set(dt.datetime.combine(day, dt.time(9, 0), tzinfo=dt.UTC))


def _count(db, ctx, job_id: str) -> tuple[int, jobs.JobResult]:
    count = [0]

    def one(*_args) -> None:
        count[0] += 1

    event.listen(db.engine, "before_cursor_execute", one)
    try:
        result = jobs.run_job(ctx, job_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", one)
    return count[0], result


# --- declaration reminders ------------------------------------------------------------------


def _companies(s, n: int, tag: str, *, end: dt.date = D(2025, 12, 31)) -> None:
    """``n`` companies with a contract and no declaration. By thirds: a boss with a chat link
    and an e-mail contact (chat + e-mail), an e-mail contact only, nobody to reach."""
    fac = f.user(s, display_name=f"Fanny {tag}", email=f"fanny-{tag}@agence.test")
    m = f.market(s, f.donneur(s, f"Ville {tag}"), reference=f"{tag}-M", facilitator=fac)
    lot = f.lot(s, m, 1, hours=100_000)
    for i in range(n):
        c = f.company(s, f"Entreprise {tag}{i}",
                      email=f"contact{i}@{tag}.test" if i % 3 < 2 else None)
        if i % 3 == 0:
            boss = f.user(s, Role.ENTREPRISE, display_name=f"Chef {tag}{i}", company_id=c.id,
                          email=f"chef{i}@{tag}.test")
            s.add(ChatLink(user_id=boss.id, chat_id=hash((tag, i)) % 10_000_000))
        f.contract(s, f.participant(s, f"Nom{tag}{i}", "Marie", validated_by=fac),
                   f.engagement(s, lot, c, hours=500), start=D(2025, 3, 1), end=end)


def test_reminders_statements_do_not_grow_with_the_companies(db, ctx, clock):
    """3 then 15 new companies (April and May missing; each third reached differently): the
    second run sends five times the reminders in as many statements (one by one, each cost
    about ten, and a transaction)."""
    _at(clock, D(2025, 6, 16))
    with db.session() as s:
        _companies(s, 3, "a")
    small, first = _count(db, ctx, "declaration_reminders")
    with db.session() as s:
        _companies(s, 15, "b")
    large, second = _count(db, ctx, "declaration_reminders")
    assert first.errors == second.errors == []
    assert (first.done, second.done) == (3 * 2, 15 * 2)  # April and May, new companies only
    assert large <= small + 3, (small, large)


def _sent(db, stage: int, month: str) -> set[int]:
    """Companies sent the reminder of ``stage`` for ``month`` (YYYY-MM), whatever the channel."""
    kind = "rappel_declaration" if stage == 1 else "relance_declaration"
    with db.session() as s:
        keys = s.scalars(select(OutboxMessage.dedup_key)
                         .where(OutboxMessage.dedup_key.like(f"{kind}:company:%:{month}:%")))
        return {int(k.split(":")[2]) for k in keys}


def test_reminders_window_edges_and_each_once(db, ctx, clock):
    """Friday 04/07/2025: May's first reminders (June's are due Monday 07/07, not yet). Monday:
    June's, due exactly today, for the contracts running in June (one ends on 1 June, a period
    ending on the 1st; one ended on 31 May gets none). Thursday 10/07, the day before May's
    second reminders: nothing. Monday 14/07 is a holiday: nothing. Tuesday 15/07: May's second
    reminders, due since Friday 11/07, and June's, due exactly today (07/07 + 7 days is the
    holiday: the next business day). Each run again adds nothing."""
    with db.session() as s:
        _companies(s, 6, "w")
        _companies(s, 1, "first", end=D(2025, 6, 1))
        _companies(s, 1, "may", end=D(2025, 5, 31))
        ids = dict(s.execute(select(Company.name, Company.id)).all())
    everyone = set(ids.values())
    june = everyone - {ids["Entreprise may0"]}

    def run_twice(day: dt.date) -> int:
        _at(clock, day)
        result = jobs.run_job(ctx, "declaration_reminders")
        assert result.errors == []
        assert jobs.run_job(ctx, "declaration_reminders").done == 0
        return result.done

    assert run_twice(D(2025, 7, 4)) == 8
    # reached companies only: the unreachable ones (w2, w5) are alerted instead
    reached = everyone - {ids["Entreprise w2"], ids["Entreprise w5"]}
    assert _sent(db, 1, "2025-05") == reached and _sent(db, 1, "2025-06") == set()
    assert run_twice(D(2025, 7, 7)) == 7
    assert _sent(db, 1, "2025-06") == june & reached and _sent(db, 2, "2025-05") == set()
    assert run_twice(D(2025, 7, 10)) == 0
    assert run_twice(D(2025, 7, 14)) == 0
    assert run_twice(D(2025, 7, 15)) == 8 + 7
    assert _sent(db, 2, "2025-05") == reached and _sent(db, 2, "2025-06") == june & reached
    with db.session() as s:
        nobody = s.scalars(select(Alert.message).where(Alert.dedup_key.like("sans_contact:%")))
        assert sorted(m.split(" : ")[0] for m in nobody) == sorted(
            [f"Rappel de déclaration de mai 2025 impossible pour Entreprise {n}" for n in
             ("w2", "w5")] +
            [f"Rappel de déclaration de juin 2025 impossible pour Entreprise {n}" for n in
             ("w2", "w5")])
        seconds = list(s.scalars(select(Alert.message)
                                 .where(Alert.dedup_key.like("declaration_manquante:%"))))
        assert len(seconds) == 8 + 7
        assert sum("Aucun contact joignable" in m for m in seconds) == 4
        keys = list(s.scalars(select(OutboxMessage.dedup_key)))
        assert len(keys) == len(set(keys))
        # chat to the bosses (w0, w3, first0: May and June, two stages; may0: May only)
        chats = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.to_chat_id.is_not(None), OutboxMessage.dedup_key.like("%declaration:%")))
        assert chats == 3 * 4 + 2
