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
