"""Recording declarations: validation, idempotency, corrections with history, scoping."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from clauses.actors import Actor
from clauses.authz import NotAllowed
from clauses.contract_lookup import declarable_contracts
from clauses.declarations import (
    declarations_for_actor,
    find_contract,
    record_declaration,
)
from clauses.errors import DeclarationError, DomainError
from storage.models import Channel, DeclarationRevision, HourDeclaration, Role
from tests import factories as f


def _company_actor(t) -> Actor:
    return Actor.from_user(t["company_user"], Channel.TELEGRAM)


def test_first_declaration_is_recorded_with_counted_hours(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        out = record_declaration(ctx, s, _company_actor(t), contract_id=t["contract"].id,
                                 month=dt.date(2025, 3, 1), work_hours=Decimal(35),
                                 source=Channel.TELEGRAM, idempotency_key="tg:1")
        assert out.status == "created"
        assert out.counted == Decimal(35)
    with ctx.db.session() as s:
        row = s.scalar(select(HourDeclaration))
        assert (row.work_hours, row.counted_hours, row.revision) == (Decimal(35), Decimal(35), 1)
        assert s.scalar(select(func.count()).select_from(DeclarationRevision)) == 1


def test_replayed_idempotency_key_records_once(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        kw = dict(contract_id=t["contract"].id, month=dt.date(2025, 3, 1), work_hours=Decimal(35),
                  source=Channel.TELEGRAM, idempotency_key="tg:42")
        record_declaration(ctx, s, _company_actor(t), **kw)
        again = record_declaration(ctx, s, _company_actor(t), **kw)
        assert again.status == "duplicate"
        assert s.scalar(select(func.count()).select_from(HourDeclaration)) == 1
        assert s.scalar(select(func.count()).select_from(DeclarationRevision)) == 1


def test_second_declaration_same_month_needs_a_correction(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        actor = _company_actor(t)
        base = dict(contract_id=t["contract"].id, month=dt.date(2025, 3, 1), source=Channel.TELEGRAM)
        record_declaration(ctx, s, actor, work_hours=Decimal(35), **base)
        with pytest.raises(DeclarationError) as err:
            record_declaration(ctx, s, actor, work_hours=Decimal(40), **base)
        assert "correction" in err.value.message_fr
        out = record_declaration(ctx, s, actor, work_hours=Decimal(40), correction_reason="oubli", **base)
        assert out.status == "corrected"
        assert out.declaration.revision == 2
    with ctx.db.session() as s:
        revs = s.scalars(select(DeclarationRevision).order_by(DeclarationRevision.revision)).all()
        assert [r.work_hours for r in revs] == [Decimal(35), Decimal(40)]
        assert s.scalar(select(func.sum(HourDeclaration.counted_hours))) == Decimal(40)


def test_month_after_lot_end_is_refused_with_what_to_fix(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        t["lot"].end_date = dt.date(2025, 3, 31)
        t["contract"].end_date = None
        s.flush()
        with pytest.raises(DeclarationError) as err:
            record_declaration(ctx, s, _company_actor(t), contract_id=t["contract"].id,
                               month=dt.date(2025, 4, 1), work_hours=Decimal(20),
                               source=Channel.TELEGRAM)
        assert "31/03/2025" in err.value.message_fr


def test_other_company_cannot_declare_or_see_contracts(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        other = f.company(s, "Autre SARL")
        intruder = f.user(s, Role.ENTREPRISE, company_id=other.id)
        actor = Actor.from_user(intruder, Channel.TELEGRAM)
        with pytest.raises(NotAllowed):
            record_declaration(ctx, s, actor, contract_id=t["contract"].id,
                               month=dt.date(2025, 3, 1), work_hours=Decimal(1),
                               source=Channel.TELEGRAM)
        assert declarable_contracts(s, actor, dt.date(2025, 1, 1), dt.date(2025, 6, 1)) == []
        assert declarations_for_actor(s, actor) == []
        with pytest.raises(DomainError):
            find_contract(s, actor, participant_last_name="Dupont")
        mine = declarable_contracts(s, _company_actor(t), dt.date(2025, 3, 1))
        assert [c.contract_id for c in mine] == [t["contract"].id]


def test_unvalidated_participant_is_refused(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        p = f.participant(s, "Martin", "Paul")  # no facilitator validation
        k = f.contract(s, p, t["engagement"])
        with pytest.raises(DeclarationError) as err:
            record_declaration(ctx, s, _company_actor(t), contract_id=k.id,
                               month=dt.date(2025, 3, 1), work_hours=Decimal(10),
                               source=Channel.TELEGRAM)
        assert "valid" in err.value.message_fr.lower()


def test_names_with_accented_capitals_are_found_whatever_the_case_typed(ctx):
    """SQLite's own lower() folds ASCII only; the database layer makes it Unicode-aware."""
    with ctx.db.session() as s:
        t = f.territory(s)
        eric = f.participant(s, "ÉTIENNE", "Éric", validated_by=t["facilitator"])
        k = f.contract(s, eric, t["engagement"])
        for last, first in (("étienne", "éric"), ("Étienne", "ÉRIC"), ("ÉTIENNE", None)):
            found = find_contract(s, _company_actor(t), participant_last_name=last,
                                  participant_first_name=first)
            assert found.contract_id == k.id, (last, first)


def test_record_reads_built_once_bind_the_contract_and_the_days_eligibility(ctx, clock):
    """record_declaration's reads are built once (clauses.declarations._record_reads) and every
    value is bound at each call: the contract (a validated person's contract, then an
    unvalidated one's, right after), and the eligibility cutoff from today's date — a
    validation of 10/01 (6 months) still counts on 09/07, no longer on 10/07, its expiry day."""
    from clauses.declarations import _record_reads
    from storage.models import Eligibility

    with ctx.db.session() as s:
        t = f.territory(s)
        paul = f.participant(s, "Martin", "Paul")  # no facilitator validation
        refused = f.contract(s, paul, t["engagement"])
        lea = f.participant(s, "Roux", "Léa", validated_by=t["facilitator"])
        expiring = f.contract(s, lea, t["engagement"])
        lea.first_entry_date = None  # not entered yet: the validation's 6 months apply
        s.scalar(select(Eligibility).where(Eligibility.participant_id == lea.id)).validated_at = \
            dt.datetime(2025, 1, 10, 0, 0, tzinfo=dt.UTC)
        s.commit()
        actor = _company_actor(t)
        built = _record_reads()

        def declare(contract_id: int, month: dt.date) -> str:
            return record_declaration(ctx, s, actor, contract_id=contract_id, month=month,
                                      work_hours=Decimal(10), source=Channel.TELEGRAM).status

        assert declare(t["contract"].id, dt.date(2025, 3, 1)) == "created"
        with pytest.raises(DeclarationError):
            declare(refused.id, dt.date(2025, 3, 1))
        assert declare(t["contract"].id, dt.date(2025, 4, 1)) == "created"
        clock.set(dt.datetime(2025, 7, 9, 10, 0))
        assert declare(expiring.id, dt.date(2025, 5, 1)) == "created"
        clock.set(dt.datetime(2025, 7, 10, 10, 0))
        with pytest.raises(DeclarationError) as err:
            declare(expiring.id, dt.date(2025, 6, 1))
        assert "valid" in err.value.message_fr.lower()
        assert _record_reads() is built  # the same statements, rebuilt never
