"""Cheap reads for guided declarations: the contracts open in given months, and a pre-check.

Why a separate module: the chat's /declarer flow used to list *every* contract of the company
(full ORM rows, audit-logged) at every step, and to validate the draft by running
:func:`clauses.declarations.record_declaration` in a rolled-back savepoint (about ten
statements). Both were most of the cost of a chat update. Here:

* :func:`declarable_contracts` lists, in one statement, only the contracts running in the months
  the flow offers, with just the fields a chat screen shows, and writes one audit row (RGPD:
  reading personal data is logged) — the caller does it once per flow and keeps the result;
* :func:`check_declaration` evaluates the same rules as ``record_declaration`` on one read
  (contract, lot and market dates, eligibility, existing declaration), scoped by the actor's
  rights, writing nothing. It is advice for the user before the summary; the authoritative
  check remains ``record_declaration`` at the final write.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Executable, bindparam, exists, select
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, NotAllowed, Scope, scope_contracts, scope_for
from clauses.context import Context
from clauses.counting import month_start
from clauses.declaration_rules import (
    DeclarationWarning,
    contract_dates,
    declaration_inputs,
    validate_declaration,
)
from clauses.declarations import CONTRACT_DATES
from clauses.declaring.lookup import (
    eligibility_cutoff,
    eligibility_valid_since,
    joined_to_market,
    month_bounds,
    running_in_months,
)
from storage.models import (
    Contract,
    HourDeclaration,
    Lot,
    Market,
    Participant,
    person_name,
)


@dataclass(frozen=True)
class DeclarableContract:
    """What a chat screen shows of a contract (kept in the conversation state, so small)."""

    contract_id: int
    lot_id: int
    lot_number: int
    lot_label: str
    market_reference: str
    participant_name: str

    def to_state(self) -> list:
        """A JSON-friendly row for `conversation_states.data`."""
        return [self.contract_id, self.lot_id, self.lot_number, self.lot_label,
                self.market_reference, self.participant_name]

    @classmethod
    def from_state(cls, row: list) -> DeclarableContract:
        cid, lot_id, number, label, reference, name = row
        return cls(int(cid), int(lot_id), int(number), str(label), str(reference), str(name))


def declarable_contracts(
    session: Session, actor: Actor, first_month: dt.date, last_month: dt.date | None = None
) -> list[DeclarableContract]:
    """Contracts the actor may declare for that run during [first_month, last_month].

    One SELECT of plain columns (no ORM entities), scoped by the actor's write rights, ordered
    like the chat shows them; one audit row for the whole listing.
    """
    first, last = month_bounds(first_month, last_month)
    q = (
        joined_to_market(select(Contract.id, Lot.id, Lot.number, Lot.label, Market.reference,
                                Participant.last_name, Participant.first_name))
        .where(
            scope_contracts(actor, Action.DECLARATION_WRITE),
            Participant.anonymised_at.is_(None),
            running_in_months(first, last),
        )
        .order_by(Market.reference, Lot.number, Participant.last_name, Contract.id)
    )
    rows = [
        DeclarableContract(cid, lot_id, number, label, reference, person_name(last, first_name))
        for cid, lot_id, number, label, reference, last, first_name in session.execute(q)
    ]
    audit.record(session, actor, "contracts.list", "company", actor.company_id, count=len(rows),
                 months=f"{first:%Y-%m}/{last:%Y-%m}")
    return rows


def check_declaration(
    ctx: Context,
    session: Session,
    actor: Actor,
    *,
    contract_id: int,
    month: dt.date,
    work_hours: Decimal,
    training_hours: Decimal = Decimal(0),
) -> tuple[DeclarationWarning, ...]:
    """Raise the DomainError ``record_declaration`` would raise for this draft; write nothing.

    One SELECT: the contract's type and dates, its lot's and market's dates, whether the
    participant's eligibility is validated and whether the month is already declared — the
    inputs of :func:`clauses.declaration_rules.validate_declaration`. A contract outside the
    actor's scope is refused exactly like a missing one (NotAllowed).

    The statement is built once per kind of scope (:func:`_check_statement`), its values bound
    at each call: the chat checks a draft at three steps of every declaration, and building
    the select (scope, eligibility, joins) cost as much as running it.
    """
    month = month_start(month)
    today = ctx.clock.today()
    row = session.execute(_check_statement(actor), {
        "contract_id": contract_id, "month": month, "company_id": actor.company_id,
        "cutoff": eligibility_cutoff(today, ctx.rulebook.eligibility.diagnosis_validity_months),
    }).first()
    if row is None:
        raise NotAllowed()
    draft, context = declaration_inputs(
        today=today, month=month, work_hours=work_hours,
        training_hours=training_hours, contract_type=row[0], dates=contract_dates(row[3:]),
        validated=bool(row[1]), exists=bool(row[2]),
    )
    return validate_declaration(draft, context, ctx.rulebook)


_CHECKS: dict[tuple[Scope, bool], Executable] = {}
"""check_declaration's statement for each (scope, has a company): everything else is bound."""


def _check_statement(actor: Actor) -> Executable:
    """The check's SELECT for this actor's kind of scope, built on first use (the same rules
    as :func:`clauses.declarations.record_declaration`'s read: eligibility, scope, dates)."""
    key = (scope_for(actor, Action.DECLARATION_WRITE), actor.company_id is not None)
    statement = _CHECKS.get(key)
    if statement is None:
        declared = exists().where(
            HourDeclaration.contract_id == Contract.id,
            HourDeclaration.month == bindparam("month"),
        )
        statement = _CHECKS[key] = joined_to_market(select(
            Contract.contract_type,
            eligibility_valid_since(Contract.participant_id, Participant.first_entry_date,
                                    bindparam("cutoff")),
            declared, *CONTRACT_DATES)
        ).where(Contract.id == bindparam("contract_id"),
                scope_contracts(actor, Action.DECLARATION_WRITE,
                                company=bindparam("company_id")))
    return statement


def declared_months(
    session: Session, actor: Actor, contract_id: int, months: list[dt.date]
) -> dict[dt.date, int]:
    """{month: declaration id} of the given months already declared on the contract.

    Why: the guided flow must not propose (let alone default to) a month already declared; it
    offers its correction instead. Scoped like :func:`check_declaration` (a contract outside the
    actor's rights reads as having none).
    """
    firsts = [month_start(m) for m in months]
    rows = session.execute(
        select(HourDeclaration.month, HourDeclaration.id)
        .join(Contract, Contract.id == HourDeclaration.contract_id)
        .where(HourDeclaration.contract_id == contract_id, HourDeclaration.month.in_(firsts),
               scope_contracts(actor, Action.DECLARATION_WRITE))
    )
    return {month: decl_id for month, decl_id in rows}
