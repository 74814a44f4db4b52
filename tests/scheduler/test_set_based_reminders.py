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
import re

import pytest
from sqlalchemy import func, select

from scheduler import jobs
from storage.models import Alert, ChatLink, Company, MarketKind, OutboxMessage, Role
from tests import factories as f
from tests.scheduler.chunk_failure import assert_failing_chunk_redone_one_by_one
from tests.scheduler.statements import run_counting_statements

D = dt.date


def _at(clock, day: dt.date) -> None:
    clock.set(dt.datetime.combine(day, dt.time(9, 0), tzinfo=dt.UTC))




# --- declaration reminders ------------------------------------------------------------------


END = dt.date(2025, 12, 31)


def _companies(s, n: int, tag: str, *, end: dt.date = END) -> None:
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
    small, first = run_counting_statements(db, ctx, "declaration_reminders")
    with db.session() as s:
        _companies(s, 15, "b")
    large, second = run_counting_statements(db, ctx, "declaration_reminders")
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


# --- meeting planning -----------------------------------------------------------------------

TODAY = D(2025, 12, 1)
"""A Monday."""


def _markets(s, starts: list[int], tag: str) -> dict[int, int]:
    """A market starting ``TODAY + days`` for each of ``starts``, no meeting entered; the
    reserved ones (every other) also need their SIAE start meeting. {days: market id}."""
    fac = f.user(s, display_name=f"Fanny {tag}", email=f"fanny-{tag}@agence.test")
    d = f.donneur(s, f"Ville {tag}")
    out = {}
    for k, days in enumerate(starts):
        m = f.market(s, d, reference=f"{tag}-{k}", start=TODAY + dt.timedelta(days=days),
                     end=D(2027, 12, 31), facilitator=fac,
                     kind=MarketKind.MARCHE_RESERVE if k % 2 else MarketKind.CLAUSE_EXECUTION)
        out[days] = m.id
    return out


def test_planning_statements_do_not_grow_and_prompted_ones_are_not_due(db, ctx, clock):
    """3 then 15 new markets starting today: the second run prompts five times the meetings in
    as many statements, and what was prompted is no longer due (it was, every day of its
    window, each costing a transaction to find its claim)."""
    _at(clock, TODAY)
    with db.session() as s:
        _markets(s, [0] * 3, "a")
    small, first = run_counting_statements(db, ctx, "meeting_planning")
    with db.session() as s:
        _markets(s, [0] * 15, "b")
    large, second = run_counting_statements(db, ctx, "meeting_planning")
    assert first.errors == second.errors == []
    # launches, and the reserved markets' SIAE start and year-end (they run on 1 December)
    assert (first.due, first.done) == (3 + 2, 3 + 2)
    assert (second.due, second.done) == (15 + 14, 15 + 14)  # the new markets' only
    assert large <= small + 3, (small, large)
    assert jobs.run_job(ctx, "meeting_planning").due == 0


def test_planning_window_edges_and_each_once(db, ctx, clock):
    """Prompted from 30 days before a market's start until 30 days after: on 01/12 the markets
    starting 30 days ago, today and in 30 days, not 31 days ago nor in 31 days; the next day
    the one then 30 days ahead, and nothing twice; a Saturday, nothing."""
    with db.session() as s:
        ids = _markets(s, [-31, -30, 0, 30, 31], "e")
    _at(clock, TODAY)
    result = jobs.run_job(ctx, "meeting_planning")
    assert result.errors == [] and result.due == result.done
    with db.session() as s:
        alerts = list(s.scalars(select(Alert).where(Alert.dedup_key.like("planifier:%"))))
    launched = {a.subject_id for a in alerts if ":lancement:" in (a.dedup_key or "")}
    assert launched == {ids[-30], ids[0], ids[30]}
    # the SIAE start meeting of the reserved ones (every other: -30, 30)
    assert {a.subject_id for a in alerts if ":siae_collective_debut:" in (a.dedup_key or "")} \
        == {ids[-30], ids[30]}
    # and the year-end SIAE meeting of the reserved one running on 1 December
    assert {a.subject_id for a in alerts if ":siae_collective_fin:" in (a.dedup_key or "")} \
        == {ids[-30]}
    assert jobs.run_job(ctx, "meeting_planning").due == 0
    _at(clock, TODAY + dt.timedelta(days=1))
    again = jobs.run_job(ctx, "meeting_planning")
    assert (again.due, again.done) == (1, 1)  # the launch of the one now 30 days ahead
    _at(clock, D(2025, 12, 6))  # a Saturday: planning prompts on business days only
    assert jobs.run_job(ctx, "meeting_planning").due == 0
    with db.session() as s:
        keys = list(s.scalars(select(Alert.dedup_key)))
        assert len(keys) == len(set(keys)) == 7
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.to_address == "fanny-e@agence.test")) == 7


# --- both jobs: a failing chunk; the same messages from either writer -----------------------


@pytest.mark.parametrize(("job_id", "module", "bulk"), [
    ("declaration_reminders", "clauses.reminders", "send_declaration_reminders"),
    ("meeting_planning", "clauses.meeting_planning", "prompt_meeting_plannings"),
])
def test_a_failing_chunk_is_rolled_back_whole_and_redone_one_by_one(db, ctx, clock, monkeypatch,
                                                                    job_id, module, bulk):
    """A chunk that meets a concurrent row (the unique key's error, raised after the chunk
    wrote everything) keeps nothing; its items are then done one by one, each once."""
    # reminders: Monday 07/07/2025 (May and June missing); planning: Monday 01/12/2025
    _at(clock, D(2025, 7, 7) if job_id == "declaration_reminders" else TODAY)
    with db.session() as s:
        _companies(s, 4, "c")
        _markets(s, [0, 5, 10], "cm")
    assert_failing_chunk_redone_one_by_one(db, ctx, monkeypatch, job_id, module, bulk)


def test_both_writers_queue_the_same_reminders(db, ctx, clock):
    """Two companies of the same shape, one reminded by the set-based writer, the other by the
    per-item one: same texts, channels and alerts (names aside), first and second reminder."""
    from clauses import reminders
    from clauses.due import declaration_gaps
    from scheduler.jobs import rules_for

    with db.session() as s:
        _companies(s, 1, "x")
        _companies(s, 1, "y")
        x, y = (s.scalar(select(Company.id).where(Company.name == n))
                for n in ("Entreprise x0", "Entreprise y0"))

    def remind(day: dt.date) -> None:
        _at(clock, day)
        with db.session() as s:
            gaps = declaration_gaps(s, day, rules_for(ctx))
            assert reminders.send_declaration_reminders(
                ctx, s, [g for g in gaps if g.company_id == x]) == 2
            assert [reminders.send_declaration_reminder(ctx, s, g)
                    for g in gaps if g.company_id == y] == [True, True]

    remind(D(2025, 6, 5))  # the first reminders of April and May
    remind(D(2025, 6, 12))  # their second

    def sent(company_id: int, tag: str) -> list[tuple[str, ...]]:
        def same(value: object) -> str:
            text = str(value).replace(f"Entreprise {tag}0", "NAME").replace(f"{tag}-M", "REF")
            text = re.sub(r"contrat n° \d+", "contrat n° N", text)
            return text.replace(f":company:{company_id}:", ":company:ID:")

        with db.session() as s:
            rows = s.scalars(select(OutboxMessage).where(
                OutboxMessage.dedup_key.like(f"%:company:{company_id}:%")).order_by(
                OutboxMessage.dedup_key))
            out = [(r.channel, r.subject, r.body_text, r.to_chat_id is not None,
                    r.dedup_key.rsplit(":", 1)[0]) for r in rows]
            alerts = [(a.kind, a.message, a.facilitator_id is not None) for a in s.scalars(
                select(Alert).where(Alert.subject_id == company_id).order_by(Alert.id))]
        return [tuple(same(v) for v in row) for row in out + alerts]

    xs, ys = sent(x, "x"), sent(y, "y")
    assert len(xs) == 2 * 2 * 2 + 2  # chat and e-mail for each reminder, the seconds' alerts
    assert xs == ys


# --- lateness: the slices cover the judged engagements only ---------------------------------


def test_lateness_slices_cover_exactly_the_judged_engagements(db, ctx, clock, monkeypatch):
    """On Monday 01/12/2025 lateness judges at 31/10 (October's reminder has passed, not
    November's): a market started on 31/10 is judged, one starting on 01/11 is not, nor a
    closed market's engagements nor an ended one. The slices hold the judged ids only (closed
    markets' history no longer costs a query per 2,000 ids), and the job finds by slices of
    two exactly what one query finds."""
    from clauses import due
    from storage.models import Engagement, MarketStatus

    _at(clock, TODAY)
    with db.session() as s:
        fac = f.user(s, display_name="Fanny", email="fanny@agence.test")
        d = f.donneur(s, "Ville L")

        def engagements(start: dt.date, n: int, **kw) -> list[int]:
            m = f.market(s, d, start=start, end=D(2026, 6, 30), facilitator=fac, **kw)
            lot = f.lot(s, m, 1, hours=10_000)
            return [f.engagement(s, lot, f.company(s), hours=400).id for _ in range(n)]

        engagements(D(2024, 1, 1), 4, status=MarketStatus.CLOS)
        judged = engagements(D(2025, 10, 31), 3)
        engagements(D(2025, 11, 1), 2)
        judged += engagements(D(2025, 1, 1), 2)
        ended = s.get(Engagement, judged.pop())
        ended.ended_on = D(2025, 9, 30)
    rules = jobs.rules_for(ctx)
    with db.read_session() as s:
        slices = due.lateness_slices(s, TODAY, rules, 2)
        whole = {c.engagement_id for c in due.lateness_changes(ctx, s, TODAY, rules)}
    a, b, c, e = sorted(judged)
    assert slices == [[a, b], [c, e]]  # the closed market's ids are in none
    assert whole == set(judged)  # first judgement: every judged engagement gets a status
    monkeypatch.setattr(jobs, "LATENESS_SLICE", 2)
    result = jobs.run_job(ctx, "lateness")
    assert (result.due, result.done, result.errors) == (4, 4, [])
    assert jobs.run_job(ctx, "lateness").due == 0
