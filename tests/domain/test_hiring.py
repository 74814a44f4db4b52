"""Rules of the hire use case, on factory data (the channels are covered by tests/journeys)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from clauses.actors import Actor
from clauses.hiring import HireError, HireRequest, record_hire
from storage.models import (
    Candidature,
    CandidatureStatus,
    Channel,
    Contact,
    ContactKind,
    OutboxMessage,
    Role,
)
from tests import factories as f


def _setup(s, *, prescriber: bool = True, status=CandidatureStatus.VALIDEE):
    t = f.territory(s)
    presc = f.prescriber(s, "Mission Locale Sud") if prescriber else None
    if presc is not None:
        s.add(Contact(kind=ContactKind.PRESCRIPTEUR, prescriber_id=presc.id, name="Paul",
                      email="Conseiller@ML-sud.test"))
    person = f.participant(s, "Koffi", "Awa", validated_by=t["facilitator"])
    cand = Candidature(participant_id=person.id, company_id=t["company"].id,
                       prescriber_id=presc.id if presc else None, source=Channel.EMAIL,
                       submitted_by_email="conseiller@ml-sud.test" if presc else None,
                       status=status)
    s.add(cand)
    s.flush()
    return t, person, cand


def _company(t) -> Actor:
    return Actor.from_user(t["company_user"], Channel.TELEGRAM)


def _req(t, cand, **kw) -> HireRequest:
    values = dict(candidature_id=cand.id, lot_id=t["lot"].id, contract_type="cdd",
                  start=dt.date(2025, 3, 3), end=dt.date(2025, 8, 31))
    values.update(kw)
    return HireRequest(**values)


def test_hire_tells_the_prescriber_with_initials_only(ctx):
    with ctx.db.session() as s:
        t, _, cand = _setup(s)
        out = record_hire(ctx, s, _company(t), _req(t, cand), source=Channel.TELEGRAM)
        assert out.created
        (mail,) = s.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key.like("candidature:%:hire%")))
        assert mail.to_address == "conseiller@ml-sud.test"
        assert f"candidature n° {cand.id} (KOFFI A.) : embauche par BTP Rhône" in mail.body_text
        assert "Awa" not in mail.body_text


def test_first_entry_date_keeps_an_earlier_entry(ctx):
    with ctx.db.session() as s:
        t, person, cand = _setup(s, prescriber=False)
        person.first_entry_date = dt.date(2024, 11, 4)
        record_hire(ctx, s, _company(t), _req(t, cand), source=Channel.CLI)
        assert person.first_entry_date == dt.date(2024, 11, 4)
        assert not s.scalars(select(OutboxMessage)).all()  # no prescriber: nobody to tell


@pytest.mark.parametrize(("status", "message"), [
    (CandidatureStatus.A_VALIDER, "pas encore validée"),
    (CandidatureStatus.REFUSEE, "est refusée"),
    (CandidatureStatus.RETIREE, "est retirée"),
])
def test_only_a_validated_candidature_is_hired(ctx, status, message):
    with ctx.db.session() as s:
        t, _, cand = _setup(s, status=status)
        with pytest.raises(HireError, match=message):
            record_hire(ctx, s, _company(t), _req(t, cand), source=Channel.CLI)


@pytest.mark.parametrize(("start", "end", "refused"), [
    (dt.date(2025, 11, 30), dt.date(2025, 12, 31), True),   # starts on the other's last day
    (dt.date(2025, 12, 1), dt.date(2025, 12, 31), False),   # the day after: no overlap
    (dt.date(2025, 1, 1), dt.date(2025, 2, 1), True),       # ends on the other's first day
    (dt.date(2025, 1, 1), dt.date(2025, 1, 31), False),     # ends the day before
])
def test_overlap_on_the_same_lot_is_refused_to_the_day(ctx, start, end, refused):
    with ctx.db.session() as s:
        t, _, _ = _setup(s, prescriber=False)
        other = Candidature(participant_id=t["participant"].id, company_id=t["company"].id,
                            source=Channel.CLI, status=CandidatureStatus.VALIDEE)
        s.add(other)
        s.flush()  # the territory's Marie has a contract from 01/02/2025 to 30/11/2025
        req = _req(t, other, start=start, end=end)
        if refused:
            with pytest.raises(HireError, match="se chevauchent"):
                record_hire(ctx, s, _company(t), req, source=Channel.CLI)
        else:
            assert record_hire(ctx, s, _company(t), req, source=Channel.CLI).created


def test_the_lots_own_dates_bound_the_contract(ctx):
    with ctx.db.session() as s:
        t, _, cand = _setup(s, prescriber=False)
        t["lot"].start_date, t["lot"].end_date = dt.date(2025, 4, 1), dt.date(2025, 9, 30)
        with pytest.raises(HireError, match="du 01/04/2025 au 30/09/2025"):
            record_hire(ctx, s, _company(t), _req(t, cand), source=Channel.CLI)


def test_a_carrier_must_be_an_insertion_employer(ctx):
    with ctx.db.session() as s:
        t, _, cand = _setup(s, prescriber=False)
        ordinary = f.company(s, "Autre BTP")
        with pytest.raises(HireError, match="ETTI, une AI, un GEIQ"):
            record_hire(ctx, s, _company(t), _req(t, cand, employer_id=ordinary.id),
                        source=Channel.CLI)


def test_a_referent_cannot_hire(ctx):
    with ctx.db.session() as s:
        t, _, cand = _setup(s, prescriber=False)
        referent = f.user(s, Role.REFERENT, donneur_id=t["donneur"].id)
        with pytest.raises(HireError, match="introuvable ou n'est pas proposée"):
            record_hire(ctx, s, Actor.from_user(referent, Channel.TELEGRAM), _req(t, cand),
                        source=Channel.TELEGRAM)


def test_hire_button_only_on_a_company_candidature_notice(ctx):
    from clauses.candidatures import hire_button

    with ctx.db.session() as s:
        _, _, cand = _setup(s)
        assert hire_button(cand) is None  # a prescriber's candidature: they do not hire
        cand.prescriber_id = None
        assert hire_button(cand) == {"inline_keyboard": [[
            {"text": "👷 Déclarer l'embauche", "callback_data": f"h:c:{cand.id}"}]]}
        cand.status = CandidatureStatus.A_VALIDER
        assert hire_button(cand) is None
