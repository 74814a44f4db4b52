"""The set-based daily jobs (issue 20, national tick): lateness, exits, paths and fee milestones
write a chunk of due items per transaction. Their statements do not grow with the number of
items; the edges of their windows hold (due today, due yesterday, a period ending on the 1st);
each item is done once, and a chunk that fails is rolled back whole and redone one by one.

Factories build the surroundings (these are rules of the jobs, not journeys; the journeys that
reach the same jobs through the channels are in tests/journeys and tests/exits).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from clauses.alert_digest import TALLY
from scheduler import jobs
from storage.models import (
    Alert,
    AlertKind,
    Contract,
    ExitFollowup,
    FeeMilestone,
    Market,
    MarketStatus,
    OutboxMessage,
)
from tests import factories as f
from tests.scheduler.chunk_failure import assert_failing_chunk_redone_one_by_one
from tests.scheduler.statements import run_counting_statements

D = dt.date
TODAY = D(2025, 12, 1)
"""A Monday, the 1st: a period (the contract below) ends on it, another the day before."""


def _units(s, n: int, tag: str) -> None:
    """``n`` units, each due once in every changed job: an engagement to judge (lateness), a
    contract ended before today (exit question), a contract ending within 30 days beside an
    opening of a close trade (path alert), a market whose clause starts (fee milestone)."""
    fac = f.user(s, display_name=f"Fanny {tag}", email=f"fanny-{tag}@agence.test")
    d = f.donneur(s, f"Ville {tag}")
    for k in range(n):
        m = f.market(s, d, reference=f"{tag}-M{k}", start=D(2025, 1, 1), end=D(2026, 12, 31),
                     facilitator=fac)
        here = f.company(s, f"Ici {tag}{k}", facilitator=fac,
                         email=f"ici{k}@{tag}.test" if k % 2 else None)
        mine = f.engagement(s, f.lot(s, m, 1, trade="maconnerie"), here, 400)
        f.engagement(s, f.lot(s, m, 2, trade="maconnerie_gros_oeuvre"),
                     f.company(s, f"Proche {tag}{k}"), 300)
        left = f.participant(s, f"Sortie{tag}", f"P{k}")
        f.contract(s, left, mine, start=D(2025, 3, 1), end=TODAY - dt.timedelta(days=1 + k % 3))
        ending = f.participant(s, f"Parcours{tag}", f"P{k}")
        f.contract(s, ending, mine, start=D(2025, 3, 1), end=TODAY + dt.timedelta(days=k % 31))
        f.market(s, d, reference=f"{tag}-F{k}", start=TODAY - dt.timedelta(days=k % 2),
                 end=D(2026, 12, 31), facilitator=fac,
                 status=MarketStatus.PREVU if k % 2 == 0 else MarketStatus.EN_COURS)




@pytest.mark.parametrize("job_id", ["lateness", "exits", "paths", "fee_milestones"])
def test_statements_do_not_grow_with_the_due_items(db, ctx, clock, job_id):
    """2 then 14 new units: the second run handles seven times the items in as many
    statements (one by one, each item cost 6 to 11)."""
    clock.set(dt.datetime(2025, 12, 1, 9, 0, tzinfo=dt.UTC))
    with db.session() as s:
        _units(s, 2, "a")
    small, first = run_counting_statements(db, ctx, job_id)
    with db.session() as s:
        _units(s, 14, "b")
    large, second = run_counting_statements(db, ctx, job_id)
    assert first.errors == second.errors == []
    # fee milestones: the old start of the unit's market (no alert) and the new one's (alerted)
    per_unit = {"lateness": 2, "exits": 1, "paths": 1, "fee_milestones": 2}[job_id]
    assert (first.done, second.done) == (2 * per_unit, 14 * per_unit), (first, second)
    assert second.messages >= 14
    assert large <= small + 3, (small, large)


def test_edges_of_the_windows_and_each_item_once(db, ctx, clock):
    """Due exactly today and yesterday, a contract ending on the 1st, the 30th day; a second
    run (and a third, a day later) adds nothing."""
    clock.set(dt.datetime(2025, 12, 1, 9, 0, tzinfo=dt.UTC))
    with db.session() as s:
        _units(s, 31, "e")
    results = {j: jobs.run_job(ctx, j) for j in ("lateness", "exits", "paths", "fee_milestones")}
    assert all(r.errors == [] for r in results.values())
    with db.session() as s:
        # exits: contracts ended on 30/11 (yesterday), 29/11, 28/11 — all asked, once each
        asked = s.scalar(select(func.count()).select_from(ExitFollowup))
        assert asked == 31
        # paths: contracts ending from 01/12 (today, a period ending on the 1st) to 31/12
        # (the 30th day): one alert each, listing the close trade's opening
        paths = s.scalars(select(Alert).where(Alert.dedup_key.like("path:contract:%"))).all()
        assert len(paths) == 31
        today_one = next(a for a in paths if "se termine le 01/12/2025" in a.message)
        # five openings of other companies (the close trade's, most hours owed first)
        assert today_one.message.count("\n• ") == 5 and "Ici e0 —" not in today_one.message
        assert "Ici e1 — marché e-M1 lot 1 (maconnerie) : 400 h encore dues" in today_one.message
        assert any("se termine le 31/12/2025" in a.message for a in paths)
        # fee milestones: clauses starting today and yesterday, each alerted once; « prévu »
        # markets started
        fees = s.scalars(select(FeeMilestone).join(Market, Market.id == FeeMilestone.market_id)
                         .where(Market.reference.like("e-F%"))).all()
        assert sorted({m.reached_on for m in fees}) == [D(2025, 11, 30), D(2025, 12, 1)]
        assert len(fees) == 31  # besides the old starts of the units' other markets
        assert s.scalar(select(func.count()).select_from(Market).where(
            Market.reference.like("e-F%"), Market.status == MarketStatus.PREVU)) == 0
        billing = s.scalar(select(func.count()).select_from(Alert)
                           .where(Alert.kind == AlertKind.FACTURATION))
        assert billing == 31
        # every alert reaches its facilitator once (e-mail: no chat link), in one digest that
        # counts them all (clauses.alert_digest), exits by e-mail to the companies with an
        # address, an alert to the facilitator for the others
        alerts = s.scalar(select(func.count()).select_from(Alert))
        [to_fanny] = s.scalars(select(OutboxMessage).where(
            OutboxMessage.to_address == "fanny-e@agence.test")).all()
        assert to_fanny.headers[TALLY]["total"] == alerts
        asked_by_mail = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.dedup_key.like("sortie:%")))
        assert asked_by_mail == 15  # the odd units have a contact address
        assert s.scalar(select(func.count()).select_from(Alert).where(
            Alert.dedup_key.like("sortie:%:sans_contact"))) == 16
        before = (alerts, s.scalar(select(func.count()).select_from(OutboxMessage)))
    assert results["lateness"].done == 31 * 2  # the units' two engagements, judged once
    again = [jobs.run_job(ctx, j) for j in ("lateness", "exits", "paths", "fee_milestones")]
    assert [r.done for r in again] == [0, 0, 0, 0]
    with db.session() as s:
        assert before == (s.scalar(select(func.count()).select_from(Alert)),
                          s.scalar(select(func.count()).select_from(OutboxMessage)))
    # the next day: only the contract that ended on the 1st is asked about (it ran through
    # its last day, so it was not an exit yesterday); nothing else again
    clock.set(dt.datetime(2025, 12, 2, 9, 0, tzinfo=dt.UTC))
    assert [jobs.run_job(ctx, j).done for j in ("exits", "paths", "fee_milestones")] == [1, 0, 0]
    with db.session() as s:
        newest = s.scalar(select(ExitFollowup).order_by(ExitFollowup.id.desc()).limit(1))
        assert newest.contract_id == s.scalar(select(Contract.id).where(
            Contract.end_date == TODAY))


@pytest.mark.parametrize(("job_id", "module", "bulk"), [
    ("fee_milestones", "clauses.fees", "record_milestones"),
    ("exits", "clauses.exits", "ask_questions"),
    ("lateness", "clauses.reminders", "apply_lateness_many"),
])
def test_a_failing_chunk_is_rolled_back_whole_and_redone_one_by_one(db, ctx, clock, monkeypatch,
                                                                    job_id, module, bulk):
    """A chunk that meets a concurrent row (the unique key's error, raised after the chunk
    wrote everything) keeps nothing; its items are then done one by one, each once."""
    clock.set(dt.datetime(2025, 12, 1, 9, 0, tzinfo=dt.UTC))
    with db.session() as s:
        _units(s, 5, "c")
    assert_failing_chunk_redone_one_by_one(db, ctx, monkeypatch, job_id, module, bulk)


def test_the_set_based_fee_alert_is_the_per_item_one(db, ctx, clock):
    """Same text, recipient and amount whichever writer recorded the milestone."""
    from clauses.fees import MilestoneDue, reach_milestone, record_milestones
    from clauses.formatting import fr_money
    from clauses.registries import create_convention
    from tests.domain.test_registries import ADMIN

    with db.session() as s:
        fac = f.user(s, display_name="Fanny", email="fanny@agence.test")
        d = f.donneur(s, "Ville A")
        create_convention(s, ADMIN, donneur=d.name, reference="C1", start=D(2025, 1, 1),
                          duration_months=48, fee_amount=Decimal(4000),
                          fee_start_share=Decimal("0.5"))
        a = f.market(s, d, reference="A", start=TODAY, end=D(2026, 12, 31), facilitator=fac)
        b = f.market(s, d, reference="B", start=TODAY, end=D(2026, 12, 31), facilitator=fac)
        assert record_milestones(s, [MilestoneDue("honoraires:demarrage:market:A", a.id,
                                                  "demarrage", TODAY)]) == 1
        assert reach_milestone(s, MilestoneDue("honoraires:demarrage:market:B", b.id,
                                               "demarrage", TODAY))
        s.flush()
        texts = {al.subject_id: al.message for al in s.scalars(select(Alert))}
        mails = sorted((m.to_address, m.subject.replace("« A »", "« B »").replace(" A ", " B "))
                       for m in s.scalars(select(OutboxMessage)))
    assert texts[a.id].replace("marché A", "marché B").replace("--marche A", "--marche B") \
        == texts[b.id]
    assert f"convention C1, {fr_money(Decimal(2000), ht=True)} à facturer" in texts[b.id]
    assert mails[0] == mails[1]
