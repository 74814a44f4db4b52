"""The day a closed market reached its final fee milestone when its closing day is unknown.

A history loaded with markets closed long ago (status « clos », no closing day) used to reach
every final milestone « today », each with an alert: at national size 66,000 billing alerts in
the first catch-up. The rule: the closing day if known, else the end date if past, else today.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from clauses.fees import FINAL, final_reached_on, milestones_due, record_milestones
from storage.models import Alert, FeeMilestone, MarketStatus
from tests import factories as f

D = dt.date
TODAY = D(2026, 6, 16)


def test_final_day_rule_edges() -> None:
    assert final_reached_on(None, D(2026, 6, 15), TODAY) == D(2026, 6, 15)  # ended yesterday
    assert final_reached_on(None, TODAY, TODAY) == TODAY  # ends today
    assert final_reached_on(None, D(2026, 6, 17), TODAY) == TODAY  # ends tomorrow: not before today
    assert final_reached_on(D(2026, 6, 1), D(2021, 3, 31), TODAY) == D(2026, 6, 1)  # known day wins
    assert final_reached_on(D(2026, 6, 1), D(2026, 6, 30), TODAY) == D(2026, 6, 1)


def test_markets_closed_long_ago_are_recorded_without_alerts(db) -> None:
    """End date yesterday / today / tomorrow, closing day set, and the 31-day window's edge."""
    ends = {
        "HIER": D(2026, 6, 15), "AUJ": TODAY, "DEMAIN": D(2026, 6, 17),
        "J-31": D(2026, 5, 16), "J-32": D(2026, 5, 15), "2021": D(2021, 3, 31),
    }
    with db.session() as s:
        fac = f.user(s, display_name="Fanny")
        d = f.donneur(s, "Ville A")
        ids = {ref: f.market(s, d, reference=ref, start=D(2020, 1, 6), end=end, facilitator=fac,
                             status=MarketStatus.CLOS).id for ref, end in ends.items()}
        ids["CLOS-LE"] = f.market(s, d, reference="CLOS-LE", start=D(2020, 1, 6),
                                  end=D(2021, 3, 31), facilitator=fac, status=MarketStatus.CLOS,
                                  closed_on=D(2026, 6, 1)).id
        finals = {i.market_id: i for i in milestones_due(s, TODAY) if i.kind == FINAL}
        by_ref = {ref: (finals[mid].on, finals[mid].alert) for ref, mid in ids.items()}
        assert by_ref == {
            "HIER": (D(2026, 6, 15), True), "AUJ": (TODAY, True), "DEMAIN": (TODAY, True),
            "J-31": (D(2026, 5, 16), True), "J-32": (D(2026, 5, 15), False),
            "2021": (D(2021, 3, 31), False), "CLOS-LE": (D(2026, 6, 1), True),
        }
        record_milestones(s, list(finals.values()))
        reached = dict(s.execute(select(FeeMilestone.market_id, FeeMilestone.reached_on)
                                 .where(FeeMilestone.kind == FINAL)).all())
        assert reached[ids["2021"]] == D(2021, 3, 31) and len(reached) == 7
        alerted = set(s.scalars(select(Alert.subject_id)))
        assert alerted == {ids[r] for r in ("HIER", "AUJ", "DEMAIN", "J-31", "CLOS-LE")}
