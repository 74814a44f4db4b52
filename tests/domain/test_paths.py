"""Paths (clauses.paths): the 30-day window to the day, renewals, close trades, remaining hours,
and the proposal of a person whose eligibility is not validated."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from clauses.actors import Actor
from clauses.errors import DomainError
from clauses.job_offers import quoted_offer_id
from clauses.paths import endings_due, openings, propose_person
from storage.models import Candidature, Channel, HourDeclaration
from tests import factories as f


def _world(s, *, validated: bool = True):
    fanny = f.user(s)
    d = f.donneur(s)
    m = f.market(s, d, start=dt.date(2025, 1, 1), end=dt.date(2026, 12, 31))
    here = f.engagement(s, f.lot(s, m, 1, trade="maconnerie"), f.company(s, "Ici"), 300)
    close = f.engagement(s, f.lot(s, m, 2, trade="maconnerie"), f.company(s, "Proche"), 100)
    f.engagement(s, f.lot(s, m, 3, trade="peinture_interieure"), f.company(s, "Loin"), 900)
    person = f.participant(s, "Koffi", "Awa", validated_by=fanny if validated else None)
    contract = f.contract(s, person, here, start=dt.date(2025, 3, 1), end=dt.date(2025, 7, 1))
    return fanny, here, close, person, contract


@pytest.mark.parametrize(("today", "due"), [
    (dt.date(2025, 5, 31), False),  # 31 days before a period ending on the 1st
    (dt.date(2025, 6, 1), True),  # 30 days before
    (dt.date(2025, 7, 1), True),  # the last day itself
    (dt.date(2025, 7, 2), False),  # ended
])
def test_the_window_is_thirty_days_to_the_day(ctx, today, due):
    with ctx.db.session() as s:
        _world(s)
        assert bool(endings_due(s, today)) is due


def test_a_renewed_contract_is_not_an_ending(ctx):
    with ctx.db.session() as s:
        _fanny, here, _close, person, _contract = _world(s)
        f.contract(s, person, here, start=dt.date(2025, 7, 2), end=dt.date(2025, 12, 31))
        assert endings_due(s, dt.date(2025, 6, 15)) == []


def test_openings_are_other_companies_with_hours_still_owed_on_a_close_trade(ctx):
    with ctx.db.session() as s:
        _fanny, _here, close, _person, contract = _world(s)
        (only,) = openings(s, contract.id, dt.date(2025, 7, 1))
        assert (only.company_name, only.remaining) == ("Proche", 100)
        # its 100 h all done: nothing left to propose
        other = f.participant(s, "Diallo", "Mariam")
        done = f.contract(s, other, close, start=dt.date(2025, 1, 1), end=dt.date(2025, 6, 30))
        s.add(HourDeclaration(contract_id=done.id, month=dt.date(2025, 5, 1), work_hours=100, source=Channel.CLI,
                              counted_hours=100))
        s.flush()
        assert openings(s, contract.id, dt.date(2025, 7, 1)) == []


def test_a_person_not_validated_is_not_proposed_and_nothing_is_written(ctx):
    with ctx.db.session() as s:
        fanny, _here, close, _person, contract = _world(s, validated=False)
        with pytest.raises(DomainError, match="n'est pas validée"):
            propose_person(ctx, s, Actor.from_user(fanny, Channel.CONSOLE), contract.id, close.id)
        assert s.scalar(select(func.count()).select_from(Candidature)) == 0


@pytest.mark.parametrize(("text", "number"), [
    ("Candidature OFF-12", 12), ("réf. off 7 maçon", 7), ("OFF n°3", 3), ("OFFRE 12", None),
    ("COFF-1", None),
])
def test_the_quoted_reference(text, number):
    assert quoted_offer_id(text) == number


def test_a_day_of_endings_at_once_gives_each_ending_its_own_openings(ctx):
    """:func:`openings_many` (the daily job's: one read for all endings) bounds what it sums to
    the engagements an ending can pick — open market, active company, lot ending on or after
    the earliest ending day. At the edges: a lot ending the day before the earliest ending is
    never proposed, one ending that very day is proposed to that ending only; a July
    declaration counts for the ending of 20/07, not for the one of 15/06; a closed market and
    an inactive company are never proposed. Each ending gets what it would get alone."""
    from clauses.paths import openings_many
    from storage.models import MarketStatus

    with ctx.db.session() as s:
        d = f.donneur(s)
        m = f.market(s, d, start=dt.date(2025, 1, 1), end=dt.date(2026, 12, 31))

        def opening(number: int, name: str, hours: int, *, market=m, **lot) -> object:
            return f.engagement(s, f.lot(s, market, number, trade="maconnerie", **lot),
                                f.company(s, name), hours)

        opening(2, "Veille", 900, end_date=dt.date(2025, 6, 14))
        opening(3, "Jour", 800, end_date=dt.date(2025, 6, 15))
        late = opening(4, "Tard", 300)
        closed = f.market(s, d, start=dt.date(2025, 1, 1), end=dt.date(2026, 12, 31),
                          status=MarketStatus.CLOS)
        opening(1, "Close", 700, market=closed)
        asleep = opening(5, "Dormante", 600)
        s.get(type(asleep), asleep.id).company.active = False
        done = f.contract(s, f.participant(s, "Diallo", "Mariam"), late,
                          start=dt.date(2025, 6, 1), end=dt.date(2025, 12, 31))
        s.add(HourDeclaration(contract_id=done.id, month=dt.date(2025, 7, 1), work_hours=100,
                              source=Channel.CLI, counted_hours=100))
        here = f.engagement(s, f.lot(s, m, 6, trade="maconnerie_gros_oeuvre"), f.company(s, "Ici"),
                            100)
        june = f.contract(s, f.participant(s, "Koffi", "Awa"), here, start=dt.date(2025, 3, 1),
                          end=dt.date(2025, 6, 15))
        july = f.contract(s, f.participant(s, "Martin", "Léa"), here, start=dt.date(2025, 3, 1),
                          end=dt.date(2025, 7, 20))
        s.flush()
        days = [(july.id, dt.date(2025, 7, 20)), (june.id, dt.date(2025, 6, 15))]
        together = openings_many(s, days)
        alone = {cid: openings(s, cid, on) for cid, on in days}

    def shown(found) -> list[tuple[str, int]]:
        return [(o.company_name, int(o.remaining)) for o in found]

    assert shown(together[june.id]) == [("Jour", 800), ("Tard", 300)]
    assert shown(together[july.id]) == [("Tard", 200)]
    assert {cid: shown(v) for cid, v in together.items()} == \
        {cid: shown(v) for cid, v in alone.items()}
