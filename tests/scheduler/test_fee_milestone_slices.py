"""The fee milestones job walks the markets a slice of ids at a time (issue 20, memory at national
size: a first run on a national history found 140,000 milestones and held them all, about
30 MB at the service's peak). Slices must cover every market once: ids on a slice's edge, a
market whose start is today, one starting tomorrow, a closed market's final milestone, one
already recorded; the job finds by slices of two exactly what one query finds, and a second
run finds nothing.

Factories build the surroundings (a rule of the job, not a journey).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from clauses import fees
from scheduler import jobs
from storage.models import FeeMilestone, MarketStatus
from tests import factories as f

D = dt.date
TODAY = D(2025, 12, 1)


def test_slices_of_two_markets_find_what_one_query_finds(db, ctx, clock, monkeypatch):
    clock.set(dt.datetime.combine(TODAY, dt.time(9, 0), tzinfo=dt.UTC))
    with db.session() as s:
        fac = f.user(s, display_name="Fanny", email="fanny@agence.test")
        d = f.donneur(s, "Ville A")
        ids = [f.market(s, d, reference=f"M{i}", start=start, end=D(2026, 6, 30),
                        facilitator=fac, **kw).id
               for i, (start, kw) in enumerate([
                   (D(2025, 1, 1), {}),
                   (TODAY, {}),  # starts today: due
                   (D(2025, 12, 2), {"status": MarketStatus.PREVU}),  # tomorrow: not yet
                   (D(2024, 1, 1), {"status": MarketStatus.CLOS, "closed_on": D(2025, 11, 30)}),
                   (D(2025, 3, 1), {}),
               ])]
        s.add(FeeMilestone(market_id=ids[4], kind=fees.START, reached_on=D(2025, 3, 1)))
    with db.read_session() as s:
        whole = {i.key for i in fees.milestones_due(s, TODAY)}
    assert whole == {f"honoraires:{fees.START}:market:{ids[0]}",
                     f"honoraires:{fees.START}:market:{ids[1]}",
                     f"honoraires:{fees.START}:market:{ids[3]}",
                     f"honoraires:{fees.FINAL}:market:{ids[3]}"}
    monkeypatch.setattr(jobs, "MARKET_SLICE", 2)
    result = jobs.run_job(ctx, "fee_milestones")
    assert (result.due, result.done, result.errors) == (4, 4, [])
    with db.read_session() as s:
        recorded = {(m, k) for m, k in s.execute(select(FeeMilestone.market_id, FeeMilestone.kind))}
    assert recorded == {(ids[0], fees.START), (ids[1], fees.START), (ids[3], fees.START),
                        (ids[3], fees.FINAL), (ids[4], fees.START)}
    assert jobs.run_job(ctx, "fee_milestones").due == 0
