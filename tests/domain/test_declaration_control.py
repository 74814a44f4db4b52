"""Rules of the control of declared hours (:mod:`clauses.declaration_control`), on factories:
who may, what a correction does to a decision (both correction paths), what « all of the
month » takes, and which contested hours a bilan shows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from clauses import declaration_control as dc
from clauses.actors import Actor
from clauses.authz import NotAllowed
from clauses.bilan import annual_figures, market_figures
from clauses.declaration_batch import DeclarationLine, record_lines
from clauses.declarations import record_declaration
from storage.models import Channel, DeclarationStatus, HourDeclaration, OutboxMessage, Role
from tests import factories as f

D = Decimal


def _world(ctx, s):
    t = f.territory(s)
    company = Actor.from_user(t["company_user"], Channel.TELEGRAM)
    fanny = Actor.from_user(t["facilitator"], Channel.TELEGRAM)
    ids = {}
    for month, hours in [(dt.date(2025, 2, 1), 20), (dt.date(2025, 3, 1), 30), (dt.date(2025, 4, 1), 40)]:
        out = record_declaration(ctx, s, company, contract_id=t["contract"].id, month=month,
                                 work_hours=D(hours), source=Channel.TELEGRAM)
        ids[month.month] = out.declaration.id
    return t, company, fanny, ids


def _status(s, decl_id: int) -> DeclarationStatus:
    return s.get(HourDeclaration, decl_id).status


def test_a_company_or_a_referent_cannot_control_hours(ctx, db):
    with db.session() as s:
        t, company, _, ids = _world(ctx, s)
        referent = Actor(role=Role.REFERENT, channel=Channel.EMAIL, label="ref",
                         donneur_id=t["donneur"].id)
        for actor in (company, referent):
            with pytest.raises(NotAllowed):
                dc.validate(ctx, s, actor, ids[3])
            with pytest.raises(NotAllowed):
                dc.contest(ctx, s, actor, ids[3], "motif valable")
            with pytest.raises(NotAllowed):
                dc.validate_month(ctx, s, actor, t["company"].id, dt.date(2025, 3, 1))
            with pytest.raises(NotAllowed):
                dc.pending_months(s, actor)
        assert _status(s, ids[3]) == DeclarationStatus.ENREGISTREE


def test_correcting_a_validated_month_in_chat_reopens_control(ctx, db):
    with db.session() as s:
        t, company, fanny, ids = _world(ctx, s)
        dc.validate(ctx, s, fanny, ids[3])
        assert _status(s, ids[3]) == DeclarationStatus.VALIDEE
        record_declaration(ctx, s, company, contract_id=t["contract"].id, month=dt.date(2025, 3, 1),
                           work_hours=D(31), source=Channel.TELEGRAM, correction_reason="oubli")
        assert _status(s, ids[3]) == DeclarationStatus.ENREGISTREE
        # the same figures again are no correction: the decision stands
        dc.validate(ctx, s, fanny, ids[3])
        record_declaration(ctx, s, company, contract_id=t["contract"].id, month=dt.date(2025, 3, 1),
                           work_hours=D(31), source=Channel.TELEGRAM, correction_reason="oubli")
        assert _status(s, ids[3]) == DeclarationStatus.VALIDEE


def test_correcting_validated_and_contested_months_by_file_reopens_control(ctx, db):
    with db.session() as s:
        t, _, fanny, ids = _world(ctx, s)
        dc.validate(ctx, s, fanny, ids[2])
        dc.contest(ctx, s, fanny, ids[3], "bulletin de paie manquant")
        mail = Actor.from_user(t["company_user"], Channel.EMAIL)
        results = record_lines(ctx, s, mail, [
            DeclarationLine(key=f"k{n}", last_name="Dupont", first_name="Marie",
                            market_reference="2025-017", lot_number=2, month=dt.date(2025, n, 1),
                            work_hours=D(hours), correction_reason="bulletin")
            for n, hours in [(2, 21), (3, 29), (4, 40)]], source=Channel.EMAIL)
        assert [r.status for r in results] == ["corrected", "corrected", "unchanged"]
        s.expire_all()
        assert [_status(s, ids[n]) for n in (2, 3)] == [DeclarationStatus.ENREGISTREE] * 2
        # the facilitator sees why the line came back
        (line,) = [x for x in dc.month_lines(s, fanny, t["company"].id, dt.date(2025, 3, 1))]
        assert line.control_reason == "bulletin de paie manquant" and line.revision == 2


def test_validating_a_month_takes_that_month_only_and_leaves_contests(ctx, db):
    with db.session() as s:
        t, _, fanny, ids = _world(ctx, s)
        second = f.contract(s, f.participant(s, "Durand", "Léa", validated_by=t["facilitator"]),
                            t["engagement"])
        other = record_declaration(ctx, s, Actor.from_user(t["company_user"], Channel.TELEGRAM),
                                   contract_id=second.id, month=dt.date(2025, 3, 1),
                                   work_hours=D(10), source=Channel.TELEGRAM).declaration.id
        dc.contest(ctx, s, fanny, other, "heures à justifier")
        # a date inside the month (its last day) names the month
        done = dc.validate_month(ctx, s, fanny, t["company"].id, dt.date(2025, 3, 31))
        assert [x.declaration_id for x in done] == [ids[3]]
        assert _status(s, other) == DeclarationStatus.CONTESTEE
        assert [_status(s, ids[n]) for n in (2, 4)] == [DeclarationStatus.ENREGISTREE] * 2
        months = dc.pending_months(s, fanny)
        assert [(m.month.month, m.lines, m.contested) for m in months] == [(2, 1, 0), (3, 0, 1), (4, 1, 0)]
        # a contested line may still be validated (the proof came on paper)
        assert dc.validate(ctx, s, fanny, other).status == DeclarationStatus.VALIDEE


def test_a_stale_revision_or_a_second_contest_is_refused_and_sends_nothing(ctx, db):
    with db.session() as s:
        t, company, fanny, ids = _world(ctx, s)
        record_declaration(ctx, s, company, contract_id=t["contract"].id, month=dt.date(2025, 4, 1),
                           work_hours=D(38), source=Channel.TELEGRAM, correction_reason="erreur")
        with pytest.raises(dc.ControlError, match=r"corrigée entre-temps \(révision 2 : 38 h"):
            dc.contest(ctx, s, fanny, ids[4], "motif valable", revision=1)
        with pytest.raises(dc.ControlError, match="corrigée entre-temps"):
            dc.validate(ctx, s, fanny, ids[4], revision=1)
        assert _status(s, ids[4]) == DeclarationStatus.ENREGISTREE
        _, sent = dc.contest(ctx, s, fanny, ids[4], "  motif   valable ", revision=2)
        assert sent == 1  # the company's user has no chat: its e-mail address
        with pytest.raises(dc.ControlError, match="déjà contestée"):
            dc.contest(ctx, s, fanny, ids[4], "autre motif")
        with pytest.raises(dc.ControlError, match="trop long"):
            dc.contest(ctx, s, fanny, ids[3], "x" * 301)
        mails = s.scalars(select(OutboxMessage)).all()
        assert [m.to_address for m in mails] == ["chef@btp-rhone.test"]
        assert "« motif valable »" in mails[0].body_text


def test_bilans_show_contested_hours_of_their_months_only(ctx, db, rulebook):
    with db.session() as s:
        t, _, fanny, ids = _world(ctx, s)
        dc.contest(ctx, s, fanny, ids[2], "bulletin manquant")  # February: 20 h
        dc.contest(ctx, s, fanny, ids[4], "bulletin manquant")  # April: 40 h
        year = annual_figures(s, t["donneur"].id, dt.date(2025, 1, 1), dt.date(2025, 12, 31),
                              rulebook, today=dt.date(2026, 1, 15))
        assert (year.hours_counted, year.hours_contested) == (D(90), D(60))
        assert year.contested_by_company == {t["company"].id: D(60)}
        # a point d'étape on 31 March: April is not in it yet; 1 April: March is the last month
        for at in (dt.date(2025, 3, 31), dt.date(2025, 4, 1)):
            point = market_figures(s, t["market"].id, at, rulebook)
            assert point.hours_contested == D(20), at
        spring = annual_figures(s, t["donneur"].id, dt.date(2025, 3, 1), dt.date(2025, 12, 31),
                                rulebook, today=dt.date(2026, 1, 15))
        assert spring.hours_contested == D(40)


def test_a_company_month_is_that_company_s_only(ctx, db):
    """Two companies on the same lot, the same month: validating one leaves the other's line
    (ids chosen so that a company id equals the other company's declaration id)."""
    with db.session() as s:
        t, _, fanny, ids = _world(ctx, s)
        other = f.company(s, "Autre SARL")
        k = f.contract(s, f.participant(s, "Bernard", "Luc", validated_by=t["facilitator"]),
                       f.engagement(s, t["lot"], other))
        boss = f.user(s, Role.ENTREPRISE, display_name="Autre", company_id=other.id)
        theirs = record_declaration(ctx, s, Actor.from_user(boss, Channel.TELEGRAM), contract_id=k.id,
                                    month=dt.date(2025, 3, 1), work_hours=D(12),
                                    source=Channel.TELEGRAM).declaration.id
        assert other.id in ids.values()  # the trap: company 2 and declaration 2 exist both
        done = dc.validate_month(ctx, s, fanny, other.id, dt.date(2025, 3, 1))
        assert [x.declaration_id for x in done] == [theirs]
        assert [x.company_name for x in done] == ["Autre SARL"]
        assert _status(s, ids[3]) == DeclarationStatus.ENREGISTREE
        assert {m.company_name for m in dc.pending_months(s, fanny, company_id=other.id)} == set()
        assert [m.company_name for m in dc.pending_months(s, fanny, month=dt.date(2025, 3, 1))] == [
            "BTP Rhône"]
