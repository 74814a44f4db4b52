"""Recording monthly hour declarations, from any channel.

One row per (contract, month) holds the current figures; every entry or correction appends a
revision. An idempotency key (the chat update, the e-mail's Message-ID and line number) makes a
replay a no-op. Counted hours are computed here with the rulebook and stored on the row so that
every report is a plain SQL sum.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Executable, bindparam, func, select
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, authorize, scope_contracts
from clauses.context import Context
from clauses.counting import count_month, month_start
from clauses.declaration_control import status_after_correction
from clauses.declaration_rules import contract_dates, declaration_inputs, validate_declaration
from clauses.declaring.lookup import (
    eligibility_cutoff,
    eligibility_valid,
    eligibility_valid_since,
    joined_to_market,
    running_in_month,
)
from clauses.eligibility import clause_eligibility_end
from clauses.errors import DomainError, DuplicateDeclarationError
from clauses.formatting import fr_month
from storage.models import (
    Channel,
    Company,
    Contract,
    DeclarationRevision,
    DeclarationStatus,
    HourDeclaration,
    Lot,
    Market,
    Participant,
)


@dataclass
class DeclarationOutcome:
    declaration: HourDeclaration
    status: str  # "created" | "corrected" | "duplicate"
    warnings: list[str] = field(default_factory=list)
    counted: Decimal = Decimal(0)
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ContractView:
    contract_id: int
    participant_id: int
    participant_name: str
    lot_id: int
    lot_number: int
    lot_label: str
    market_reference: str
    engagement_id: int
    company_name: str
    contract_type: str
    start: dt.date
    end: dt.date | None


@dataclass(frozen=True)
class DeclarationView:
    declaration_id: int
    contract_id: int
    participant_name: str
    market_reference: str
    lot_number: int
    month: dt.date
    work_hours: Decimal
    training_hours: Decimal
    counted_hours: Decimal
    revision: int
    status: DeclarationStatus = DeclarationStatus.ENREGISTREE
    """The facilitator's control (clauses.declaration_control); with its reason when contested."""
    control_reason: str | None = None


CONTRACT_DATES = (Contract.start_date, Contract.end_date, Lot.start_date, Lot.end_date,
                  Market.start_date, Market.end_date)
"""The dates a declaration is checked against, in :func:`declaration_inputs`' order (select
them joined from the contract through its engagement and lot)."""


def validated_eligibility(ctx: Context, participant_id: Any,
                          first_entry_date: Any) -> ColumnElement[bool]:
    """A validated, unrevoked eligibility usable today exists for ``participant_id`` (a value
    or a column): the facilitator's validation every counted contract needs. The rule is
    :func:`clauses.declaring.lookup.eligibility_valid`; this binds it to the context."""
    return eligibility_valid(participant_id, first_entry_date, ctx.clock.today(),
                             ctx.rulebook.eligibility.diagnosis_validity_months)


@functools.cache
def _record_reads() -> tuple[Executable, Executable, Executable]:
    """:func:`record_declaration`'s three reads (the replay, the contract with its dates and
    eligibility, the month's current row), built once with every value bound.

    Why: building them at each call (the joins to the market, the eligibility EXISTS, their
    cache keys) cost about as much as running them, at every declaration of every channel;
    the same move as :func:`clauses.contract_lookup.check_declaration`'s statement."""
    replay = select(DeclarationRevision).where(
        DeclarationRevision.idempotency_key == bindparam("key"))
    contract = joined_to_market(select(
        Contract, Participant,
        eligibility_valid_since(Participant.id, Participant.first_entry_date,
                                bindparam("cutoff")),
        *CONTRACT_DATES)).where(Contract.id == bindparam("contract_id"))
    current = select(HourDeclaration).where(
        HourDeclaration.contract_id == bindparam("contract_id"),
        HourDeclaration.month == bindparam("month"),
    ).with_for_update()
    return replay, contract, current


def record_declaration(
    ctx: Context,
    session: Session,
    actor: Actor,
    *,
    contract_id: int,
    month: dt.date,
    work_hours: Decimal,
    training_hours: Decimal = Decimal(0),
    source: Channel,
    idempotency_key: str | None = None,
    correction_reason: str | None = None,
    proof_document_id: int | None = None,
) -> DeclarationOutcome:
    """Validate and record one month of one contract; raise a DomainError saying what to fix."""
    authorize(session, actor, Action.DECLARATION_WRITE, "contract", contract_id)
    month = month_start(month)
    replay, contract_read, current = _record_reads()
    if idempotency_key is not None:
        done = session.scalar(replay, {"key": idempotency_key})
        if done is not None:
            decl = done.declaration
            return DeclarationOutcome(decl, "duplicate", counted=decl.counted_hours)
    cutoff = eligibility_cutoff(ctx.clock.today(), ctx.rulebook.eligibility.diagnosis_validity_months)
    row = session.execute(contract_read, {"contract_id": contract_id, "cutoff": cutoff}).one()
    contract, participant, validated, dates = row[0], row[1], bool(row[2]), contract_dates(row[3:])
    existing = session.scalar(current, {"contract_id": contract_id, "month": month})
    draft, context = declaration_inputs(
        today=ctx.clock.today(), month=month, work_hours=work_hours,
        training_hours=training_hours, contract_type=contract.contract_type, dates=dates,
        validated=validated, exists=existing is not None,
        correction=correction_reason is not None,
        identical=existing is not None and existing.work_hours == Decimal(work_hours)
        and existing.training_hours == Decimal(training_hours),
    )
    warnings = [w.message_fr for w in validate_declaration(draft, context, ctx.rulebook)]
    counted = count_month(
        contract.contract_type,
        contract.start_date,
        month,
        draft.work_hours,
        draft.training_hours,
        clause_eligibility_end(participant.first_entry_date, ctx.rulebook)
        if participant.first_entry_date
        else None,
        ctx.rulebook,
    )
    now = ctx.clock.now()
    if existing is None:
        decl = HourDeclaration(
            contract_id=contract_id,
            month=month,
            work_hours=draft.work_hours,
            training_hours=draft.training_hours,
            counted_hours=counted.total,
            revision=1,
            source=source,
            declared_by_user_id=actor.user_id,
            declared_by_email=actor.email,
            proof_document_id=proof_document_id,
            created_at=now,
            updated_at=now,
        )
        session.add(decl)
        session.flush()
        status = "created"
    else:
        if (
            existing.work_hours == draft.work_hours
            and existing.training_hours == draft.training_hours
        ):  # the same hours again, corrected or re-sent: nothing to write
            return DeclarationOutcome(existing, "unchanged", warnings, existing.counted_hours)
        if correction_reason is None:  # validate_declaration should have refused already
            raise DuplicateDeclarationError(
                f"{fr_month(month)} est déjà déclaré pour ce contrat : utilisez « corriger ».",
            )
        decl = existing
        decl.work_hours = draft.work_hours
        decl.training_hours = draft.training_hours
        decl.counted_hours = counted.total
        decl.revision += 1
        decl.status = status_after_correction()
        decl.source = source
        decl.declared_by_user_id = actor.user_id
        decl.declared_by_email = actor.email
        decl.updated_at = now
        if proof_document_id is not None:
            decl.proof_document_id = proof_document_id
        status = "corrected"
    session.add(
        DeclarationRevision(
            declaration_id=decl.id,
            revision=decl.revision,
            work_hours=decl.work_hours,
            training_hours=decl.training_hours,
            counted_hours=decl.counted_hours,
            source=source,
            declared_by_user_id=actor.user_id,
            declared_by_email=actor.email,
            reason=correction_reason,
            idempotency_key=idempotency_key,
            created_at=now,
        )
    )
    participant.last_activity_at = now
    audit.record(session, actor, f"declaration.{status}", "declaration", decl.id,
                 participant_id=participant.id, month=month.isoformat())
    session.flush()
    return DeclarationOutcome(decl, status, warnings, counted.total, list(counted.reasons))


def _contract_view_query():
    return (
        joined_to_market(select(Contract, Participant, Lot, Market, Company), company=True)
    )


def _view(row) -> ContractView:
    c, p, lot, m, comp = row
    return ContractView(
        contract_id=c.id, participant_id=p.id, participant_name=p.display_name, lot_id=lot.id,
        lot_number=lot.number, lot_label=lot.label, market_reference=m.reference,
        engagement_id=c.engagement_id, company_name=comp.name, contract_type=c.contract_type,
        start=c.start_date, end=c.end_date,
    )


def find_contract(
    session: Session,
    actor: Actor,
    *,
    participant_last_name: str,
    participant_first_name: str | None = None,
    market_reference: str | None = None,
    lot_number: int | None = None,
    month: dt.date | None = None,
) -> ContractView:
    """The one contract matching a person's name (and market/lot); ask when ambiguous."""
    q = _contract_view_query().where(
        scope_contracts(actor, Action.DECLARATION_WRITE),
        func.lower(Participant.last_name) == participant_last_name.strip().lower(),
        Participant.anonymised_at.is_(None),
    )
    if participant_first_name:
        q = q.where(func.lower(Participant.first_name) == participant_first_name.strip().lower())
    if market_reference:
        q = q.where(Market.reference == market_reference.strip())
    if lot_number is not None:
        q = q.where(Lot.number == lot_number)
    if month is not None:
        q = q.where(running_in_month(month))
    views = [_view(r) for r in session.execute(q.limit(MAX_CANDIDATES))]
    if len(views) != 1:
        raise contract_not_resolved(
            participant_last_name, participant_first_name, market_reference, lot_number,
            [(v.market_reference, v.lot_number) for v in views],
        )
    return views[0]


MAX_CANDIDATES = 10
"""Most contracts listed when a name is ambiguous (the rest would not help the company)."""


def contract_not_resolved(
    last_name: str,
    first_name: str | None,
    market_reference: str | None,
    lot_number: int | None,
    candidates: list[tuple[str, int]],
) -> DomainError:
    """The refusal for a line naming no contract or several (shared with the file path, so a
    company reads the same advice whichever way it declared)."""
    who = f"{last_name.upper()} {first_name or ''}".strip()
    if not candidates:
        return DomainError(
            f"Aucun contrat trouvé pour {who}"
            + (f" sur le marché {market_reference}" if market_reference else "")
            + (f", lot {lot_number}" if lot_number is not None else "")
            + ". Vérifiez le nom, le marché et le lot."
        )
    options = "; ".join(f"marché {ref} lot {number}" for ref, number in sorted(candidates))
    return DomainError(
        f"Plusieurs contrats correspondent à {who} ({options}). Précisez le marché et le lot."
    )


def declarations_for_actor(
    session: Session, actor: Actor, *, limit: int = 20, contract_id: int | None = None
) -> list[DeclarationView]:
    q = (
        joined_to_market(select(HourDeclaration, Participant, Lot, Market)
                         .join(Contract, Contract.id == HourDeclaration.contract_id))
        .where(scope_contracts(actor, Action.DECLARATION_READ))
        .order_by(HourDeclaration.month.desc(), HourDeclaration.id.desc())
        .limit(limit)
    )
    if contract_id is not None:
        q = q.where(HourDeclaration.contract_id == contract_id)
    views = [
        DeclarationView(
            declaration_id=d.id, contract_id=d.contract_id, participant_name=p.display_name,
            market_reference=m.reference, lot_number=lot.number, month=d.month,
            work_hours=d.work_hours, training_hours=d.training_hours,
            counted_hours=d.counted_hours, revision=d.revision, status=d.status,
            control_reason=d.control_reason,
        )
        for d, p, lot, m in session.execute(q)
    ]
    audit.record(session, actor, "declarations.list", "company", actor.company_id, count=len(views))
    return views
