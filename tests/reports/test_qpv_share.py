"""ANRU operations: the share of hours done by QPV residents, against the market's target."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from clauses.bilan import market_figures
from reports import render_chat
from reports.view import build_view
from tests import factories as f
from tests.privacy._world import declaration


def _market(s, *, target: Decimal | None):
    t = f.territory(s)
    t["market"].qpv_hours_share_min = target
    fac = t["facilitator"]
    resident = f.participant(s, "Benali", "Sami", validated_by=fac, qpv=True)
    k = f.contract(s, resident, t["engagement"], start=dt.date(2025, 1, 6))
    for month in (1, 2, 3):
        declaration(s, t["contract"], dt.date(2025, month, 1), 100)  # not a QPV resident
        declaration(s, k, dt.date(2025, month, 1), 4)
    declaration(s, k, dt.date(2025, 5, 1), 50)  # after the point d'étape's date
    s.flush()
    return t["market"].id


def _key(view, label):
    return next(cell for name, cell in view.key_figures if name == label)


def test_the_point_d_etape_shows_qpv_hours_share_and_whether_the_target_is_met(ctx, rulebook):
    with ctx.db.session() as s:
        market_id = _market(s, target=Decimal("0.05"))
        fig = market_figures(s, market_id, dt.date(2025, 3, 31), rulebook)
    assert fig.qpv is not None
    assert (fig.qpv.hours, fig.qpv.of_hours) == (Decimal("12.00"), Decimal("312.00"))
    assert fig.qpv.share == Decimal("0.0385") and fig.qpv.met is False
    view = build_view(fig, "externe")
    # 2 persons on the market: even the verdict would tell whether they live in a QPV
    assert _key(view, "Objectif QPV atteint à ce jour").text == "non diffusé (< 3 personnes)"
    assert _key(build_view(fig, "interne"), "Objectif QPV atteint à ce jour").text == "non"
    assert _key(view, "Objectif QPV du marché (ANRU)").text == "5 %"
    # one QPV resident did the 12 h: they are her own, so the référent sees the verdict only
    assert _key(view, "dont réalisées par des résident·es QPV").text == "non diffusé (< 3 personnes)"
    assert _key(view, "Part des heures réalisées par des résident·es QPV").text == "–"
    chat = render_chat(fig)
    assert "Résident·es QPV : non diffusé (< 3 personnes), objectif 5 %\n" in chat
    assert ": 12 h" not in chat.replace("\u202f", " ") and "3,8" not in chat
    staff = render_chat(fig, "interne")  # the agency reads the exact figures
    assert "Résident·es QPV : 12 h" in staff.replace("\u202f", " ") and "non atteint" in staff

    with ctx.db.session() as s:  # two months later the May hours bring it above 5 %
        later = market_figures(s, market_id, dt.date(2025, 5, 31), rulebook)
    assert later.qpv.hours == Decimal("62.00") and later.qpv.met is True
    assert _key(build_view(later, "interne"), "Objectif QPV atteint à ce jour").text == "oui"


def test_a_market_without_target_shows_qpv_hours_but_no_verdict(ctx, rulebook):
    with ctx.db.session() as s:
        market_id = _market(s, target=None)
        fig = market_figures(s, market_id, dt.date(2025, 3, 31), rulebook)
    assert fig.qpv.required_share is None and fig.qpv.met is None
    names = [name for name, _ in build_view(fig, "externe").key_figures]
    assert "dont réalisées par des résident·es QPV" in names
    assert "Objectif QPV du marché (ANRU)" not in names
    assert "objectif" not in render_chat(fig)
