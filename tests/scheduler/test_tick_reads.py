"""The steady day's reads (issue 20, fifth round): the due queries bounded to what can be due.

Declaration reminders read a company slice's running engagements only (not every running one
again per slice); fee milestones find the missing ones in SQL. Each must find exactly what the
whole query finds, at the edges: a lot ending mid-month, an engagement ended on the last day
of a month, a company with engagements in two slices' neighbourhood, a market starting on the
1st (today), one starting tomorrow, a market closed without a closing day.

Factories build the surroundings (rules of the due queries, not journeys: the journeys reaching
these jobs through the channels are in tests/journeys).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from clauses import due
from clauses.fees import FINAL, START, milestones_due, reach_milestone
from scheduler import jobs
from storage.models import Engagement, FeeMilestone, KeyValue, MarketStatus
from tests import factories as f

D = dt.date
MONDAY = D(2025, 7, 7)
"""May's and June's first reminders are both due (June's since Saturday 05/07, a business
day), none sent yet."""


def _world(s) -> dict[str, int]:
    """Seven companies on three lots; {name: company id}."""
    fac = f.user(s, display_name="Fanny", email="fanny@agence.test")
    d = f.donneur(s, "Ville R")
    m = f.market(s, d, reference="R-1", start=D(2025, 1, 1), end=D(2025, 12, 31), facilitator=fac)
    whole = f.lot(s, m, 1, hours=100_000)
    mid_may = f.lot(s, m, 2, hours=100_000, end_date=D(2025, 5, 15))  # runs in May, not June
    other = f.lot(s, m, 3, hours=100_000)
    ids: dict[str, int] = {}
    for i in range(7):
        c = f.company(s, f"Entreprise {i}", email=f"contact{i}@r.test")
        ids[c.name] = c.id
        lot = mid_may if i == 2 else whole
        e = f.engagement(s, lot, c, hours=500)
        f.contract(s, f.participant(s, f"Nom{i}", "Marie", validated_by=fac), e,
                   start=D(2025, 3, 1), end=D(2025, 12, 31))
        if i == 4:  # a second engagement, ended on the last day of May
            e2 = f.engagement(s, other, c, hours=500)
            e2.ended_on = D(2025, 5, 31)
            f.contract(s, f.participant(s, "Second", "Paul", validated_by=fac), e2,
                       start=D(2025, 3, 1), end=D(2025, 12, 31))
    return ids


def _gaps(found: list[due.DeclarationGap]) -> set[tuple[str, tuple[int, ...]]]:
    return {(g.key, tuple(line.contract_id for line in g.lines)) for g in found}


def test_reminders_by_company_slices_find_what_the_whole_query_finds(db, ctx, clock, monkeypatch):
    """Slices of two company ids find the same gaps, lines included, as one query over every
    company, with or without the day's scope of running engagements read once: May's for all seven (company 2's lot ran until 15 May; company 4 has both its
    contracts, the second engagement ending on 31 May), June's for six (not company 2, and
    company 4 without the ended engagement's contract). The job by slices of two sends each
    once."""
    clock.set(dt.datetime.combine(MONDAY, dt.time(9, 0), tzinfo=dt.UTC))
    with db.session() as s:
        ids = _world(s)
    rules = jobs.rules_for(ctx)
    with db.read_session() as s:
        whole = due.declaration_gaps(s, MONDAY, rules)
        top = max(ids.values())
        sliced = [g for low in range(0, top + 1, 2)
                  for g in due.declaration_gaps(s, MONDAY, rules, company_range=(low, low + 2))]
        scope = due.reminder_scope(s, MONDAY, rules)
        scoped = [g for low in range(0, top + 1, 2)
                  for g in due.declaration_gaps(s, MONDAY, rules, company_range=(low, low + 2),
                                                scope=scope)]
        lines_of_4 = {g.month: len(g.lines) for g in whole
                      if g.company_id == ids["Entreprise 4"]}
    assert len(sliced) == len(scoped) == len(whole) == 7 + 6
    assert _gaps(sliced) == _gaps(scoped) == _gaps(whole)
    assert [g.lines for g in scoped] == [g.lines for g in sliced]  # same order of lines
    # the scope: May runs the three lots, June not the one ending on 15 May nor the ended one
    assert {m: sorted(c) for m, c in scope.items()} == {
        D(2025, 6, 1): sorted(set(ids.values()) - {ids["Entreprise 2"]}),
        D(2025, 5, 1): sorted(ids.values())}
    assert {g.company_id for g in whole if g.month == D(2025, 6, 1)} == \
        set(ids.values()) - {ids["Entreprise 2"]}
    assert lines_of_4 == {D(2025, 5, 1): 2, D(2025, 6, 1): 1}
    monkeypatch.setattr(jobs, "COMPANY_SLICE", 2)
    result = jobs.run_job(ctx, "declaration_reminders")
    assert (result.due, result.done, result.errors) == (13, 13, [])
    assert jobs.run_job(ctx, "declaration_reminders").due == 0
    with db.session() as s:
        sent = s.scalar(select(func.count()).select_from(KeyValue).where(
            KeyValue.key.like("sent:rappel_declaration:%")))
    assert sent == 13


def test_missing_fee_milestones_found_in_sql_at_the_edges(db):
    """Monday 01/12/2025, the 1st: a market starting today is due (alerted), one starting
    tomorrow is not; a closed market with its start recorded owes its final milestone on its
    closing day; a closed market without a closing day and nothing recorded owes both (the
    final one at its end date, 30/06, long past: recorded without an alert); a market with both recorded owes nothing. Once recorded, nothing is
    due."""
    today = D(2025, 12, 1)
    with db.session() as s:
        d = f.donneur(s, "Ville F")
        starts = f.market(s, d, reference="F-today", start=today, end=D(2026, 12, 31),
                          status=MarketStatus.PREVU)
        f.market(s, d, reference="F-tomorrow", start=today + dt.timedelta(days=1),
                 end=D(2026, 12, 31), status=MarketStatus.PREVU)
        closed = f.market(s, d, reference="F-closed", start=D(2024, 1, 1), end=D(2025, 6, 30),
                          status=MarketStatus.CLOS, closed_on=D(2025, 11, 30))
        bare = f.market(s, d, reference="F-bare", start=D(2024, 1, 1), end=D(2025, 6, 30),
                        status=MarketStatus.CLOS)
        done = f.market(s, d, reference="F-done", start=D(2024, 1, 1), end=D(2025, 6, 30),
                        status=MarketStatus.CLOS, closed_on=D(2025, 7, 1))
        for market, kind in ((closed, START), (done, START), (done, FINAL)):
            s.add(FeeMilestone(market_id=market.id, kind=kind, reached_on=D(2024, 1, 1),
                               amount=Decimal(0)))
        s.flush()
        found = {(i.market_id, i.kind): (i.on, i.alert) for i in milestones_due(s, today)}
        assert found == {
            (starts.id, START): (today, True),
            (closed.id, FINAL): (D(2025, 11, 30), True),
            (bare.id, START): (D(2024, 1, 1), False),
            (bare.id, FINAL): (D(2025, 6, 30), False),
        }
        for item in milestones_due(s, today):
            assert reach_milestone(s, item)
        assert milestones_due(s, today) == []
        assert s.get(type(starts), starts.id).status == MarketStatus.EN_COURS


def test_a_lateness_slice_checks_its_ids_against_the_rule_again(db, ctx, clock):
    """The slices' ids are read first, then each slice is judged from its ids: an engagement
    whose market was closed, or which ended, in between is not judged; the others are. Monday
    01/12/2025 judges at 31/10: a market started on 31/10 (the last day of the month) is
    judged."""
    clock.set(dt.datetime(2025, 12, 1, 9, 0, tzinfo=dt.UTC))
    with db.session() as s:
        d = f.donneur(s, "Ville L")
        markets = [f.market(s, d, start=D(2025, 10, 31), end=D(2026, 6, 30)) for _ in range(3)]
        engaged = [f.engagement(s, f.lot(s, m, 1, hours=10_000), f.company(s), hours=400).id
                   for m in markets]
    rules = jobs.rules_for(ctx)
    with db.read_session() as s:
        [ids] = due.lateness_slices(s, D(2025, 12, 1), rules, 10)
    assert ids == engaged
    with db.session() as s:
        s.get(type(markets[0]), markets[0].id).status = MarketStatus.CLOS
        s.get(Engagement, engaged[1]).ended_on = D(2025, 11, 30)
    with db.read_session() as s:
        judged = due.lateness_changes(ctx, s, D(2025, 12, 1), rules, ids=ids)
    assert [c.engagement_id for c in judged] == [engaged[2]]
    assert judged[0].at == D(2025, 10, 31)
