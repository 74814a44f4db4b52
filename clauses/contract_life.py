"""The contract's life after the hire: extend (avenant, renewal), end early with a reason, change
the type (CDD → CDI), correct a wrong date, and the listing the facilitator and the company see.

Every change is audited with the values before and after, and none rewrites declared months
silently: a change that would leave a declared month outside the contract is refused, naming the
month (correct or remove the declaration first). The dates obey the same rules as the hire
(:func:`clauses.hiring.check_dates`: ordered, within the lot's execution, no overlap).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, scope_contracts
from clauses.context import Context
from clauses.declaring.lookup import is_running_in_month
from clauses.formatting import fr_date, fr_hours, fr_month
from clauses.hiring import HireError, authorize_contract, check_dates, contract_type_key
from storage.models import (
    Company,
    Contract,
    Engagement,
    HourDeclaration,
    Lot,
    Market,
    Participant,
    person_name,
)

MAX_REASON = 200


@dataclass(frozen=True)
class ContractLine:
    """One contract as listed to staff and companies."""

    contract_id: int
    participant_name: str
    market_reference: str
    lot_number: int
    company_name: str
    employer_name: str
    contract_type: str
    start: dt.date
    end: dt.date | None
    job_title: str | None
    end_reason: str | None
    declared_hours: Decimal

    def describe(self, type_label: str) -> str:
        """One French line: « n° 3 — DUPONT Marie — CDD du 01/03/2025 au 31/08/2025 … »."""
        span = f"du {fr_date(self.start)}" + (f" au {fr_date(self.end)}" if self.end else " (sans fin)")
        carrier = f", porté par {self.employer_name}" if self.employer_name != self.company_name else ""
        reason = f" — fin : {self.end_reason}" if self.end_reason else ""
        title = f", {self.job_title}" if self.job_title else ""
        return (f"n° {self.contract_id} — {self.participant_name} — {type_label} {span}{title} — "
                f"marché {self.market_reference} lot {self.lot_number}, {self.company_name}"
                f"{carrier} — {fr_hours(self.declared_hours)} déclarées{reason}")


def contracts_list(session: Session, actor: Actor, *, market_reference: str | None = None,
                   company_id: int | None = None, limit: int = 50) -> list[ContractLine]:
    """Contracts the actor may see (a company: its own and those it carries), newest first."""
    employer = Company.__table__.alias("employer")
    declared = (select(func.coalesce(func.sum(HourDeclaration.work_hours), 0))
                .where(HourDeclaration.contract_id == Contract.id).scalar_subquery())
    q = (
        select(Contract, Participant.last_name, Participant.first_name, Market.reference,
               Lot.number, Company.name, employer.c.name, declared)
        .join(Participant, Participant.id == Contract.participant_id)
        .join(Engagement, Engagement.id == Contract.engagement_id)
        .join(Company, Company.id == Engagement.company_id)
        .join(employer, employer.c.id == Contract.employer_id)
        .join(Lot, Lot.id == Engagement.lot_id)
        .join(Market, Market.id == Lot.market_id)
        .where(scope_contracts(actor, Action.DECLARATION_READ), Participant.anonymised_at.is_(None))
        .order_by(Contract.id.desc())
        .limit(limit)
    )
    if market_reference:
        q = q.where(Market.reference == market_reference.strip())
    if company_id is not None:
        q = q.where(Engagement.company_id == company_id)
    lines = [
        ContractLine(c.id, person_name(last, first), ref, number, company, employer_name,
                     c.contract_type, c.start_date, c.end_date, c.job_title, c.end_reason,
                     Decimal(hours))
        for c, last, first, ref, number, company, employer_name, hours in session.execute(q)
    ]
    audit.record(session, actor, "contracts.list", "company", actor.company_id, count=len(lines))
    return lines


def _declared_months(session: Session, contract_id: int) -> list[dt.date]:
    return list(session.scalars(select(HourDeclaration.month)
                                .where(HourDeclaration.contract_id == contract_id)
                                .order_by(HourDeclaration.month)))


def _check_declared(session: Session, contract: Contract, start: dt.date, end: dt.date | None) -> None:
    for month in _declared_months(session, contract.id):
        if not is_running_in_month(start, end, month):
            raise HireError(
                f"Des heures sont déclarées pour {fr_month(month)} sur ce contrat : les nouvelles "
                f"dates le laisseraient hors du contrat. Corrigez d'abord cette déclaration "
                f"(/corriger), ou choisissez une date qui couvre {fr_month(month)}.")


def _apply(ctx: Context, session: Session, actor: Actor, contract: Contract, action: str, *,
           start: dt.date | None = None, end: dt.date | str | None = "keep",
           contract_type: str | None = None, reason: str | None = None) -> Contract:
    """Check the new dates against every rule, write them, audit before/after."""
    new_start = start or contract.start_date
    new_end = contract.end_date if end == "keep" else end
    assert not isinstance(new_end, str)
    engagement = session.get(Engagement, contract.engagement_id)
    assert engagement is not None
    lot = session.get(Lot, engagement.lot_id)
    assert lot is not None
    market = session.get(Market, lot.market_id)
    assert market is not None
    check_dates(session, lot, market, new_start, new_end, contract.participant_id,
                exclude_contract=contract.id)
    _check_declared(session, contract, new_start, new_end)
    before = {"start": contract.start_date.isoformat(),
              "end": contract.end_date.isoformat() if contract.end_date else None,
              "type": contract.contract_type}
    contract.start_date, contract.end_date = new_start, new_end
    if contract_type is not None:
        contract.contract_type = contract_type
    if reason is not None:
        contract.end_reason = reason
    participant = session.get(Participant, contract.participant_id)
    if participant is not None:
        if action == "contract.correct" and participant.first_entry_date is not None:
            first = session.scalar(select(func.min(Contract.start_date))
                                   .where(Contract.participant_id == participant.id))
            participant.first_entry_date = min(first or new_start, new_start)
        participant.last_activity_at = ctx.clock.now()
    session.flush()
    audit.record(session, actor, action, "participant", contract.participant_id,
                 contract_id=contract.id, before=before,
                 after={"start": new_start.isoformat(),
                        "end": new_end.isoformat() if new_end else None,
                        "type": contract.contract_type},
                 reason=reason)
    return contract


def _label(ctx: Context, key: str) -> str:
    rule = ctx.rulebook.contract_types.get(key)
    return rule.label_fr if rule else key


def end_contract(ctx: Context, session: Session, actor: Actor, contract_id: int, end: dt.date,
                 reason: str) -> str:
    """End the contract on ``end`` (earlier than planned, or a CDI ending), with a reason."""
    contract = authorize_contract(session, actor, contract_id)
    reason = " ".join((reason or "").split())[:MAX_REASON]
    if not reason:
        raise HireError("Indiquez le motif de la fin du contrat (par exemple « démission », "
                        "« fin de chantier », « rupture de période d'essai »).")
    if contract.end_date is not None and end > contract.end_date:
        raise HireError(f"Le contrat finit déjà le {fr_date(contract.end_date)} : pour aller "
                        "au-delà, prolongez-le.")
    _apply(ctx, session, actor, contract, "contract.end", end=end, reason=reason)
    return f"Contrat n° {contract.id} terminé le {fr_date(end)} (motif : {reason})."


def extend_contract(ctx: Context, session: Session, actor: Actor, contract_id: int,
                    end: dt.date) -> str:
    """An avenant or a renewal: the planned end moves later."""
    contract = authorize_contract(session, actor, contract_id)
    if contract.end_date is None:
        raise HireError(f"Le contrat n° {contract.id} n'a pas de date de fin : rien à prolonger.")
    if end <= contract.end_date:
        raise HireError(f"La nouvelle fin ({fr_date(end)}) doit être après la fin actuelle "
                        f"({fr_date(contract.end_date)}). Pour avancer la fin, utilisez « terminer ».")
    _apply(ctx, session, actor, contract, "contract.extend", end=end)
    contract.end_reason = None
    return f"Contrat n° {contract.id} prolongé jusqu'au {fr_date(end)}."


def retype_contract(ctx: Context, session: Session, actor: Actor, contract_id: int,
                    contract_type: str, end: dt.date | None = None) -> str:
    """Change the type (a CDD becoming a CDI): an open-ended type loses its end date, another
    type needs one (kept, or ``end``). Declared months keep the hours counted when declared."""
    contract = authorize_contract(session, actor, contract_id)
    contract_type = contract_type_key(ctx, contract_type)
    rule = ctx.rulebook.contract_types[contract_type]
    if contract_type == contract.contract_type:
        return f"Le contrat n° {contract.id} est déjà un {rule.label_fr} : rien à changer."
    new_end = None if rule.open_ended else (end or contract.end_date)
    if not rule.open_ended and new_end is None:
        raise HireError(f"Un {rule.label_fr} a une date de fin prévue : indiquez-la.")
    was = _label(ctx, contract.contract_type)
    _apply(ctx, session, actor, contract, "contract.retype", end=new_end, contract_type=contract_type)
    return f"Contrat n° {contract.id} : {was} devenu {rule.label_fr}."


def correct_contract(ctx: Context, session: Session, actor: Actor, contract_id: int, *,
                     start: dt.date | None = None, end: dt.date | None = None) -> str:
    """Correct a wrongly entered start or end date (not an extension: the facts were wrong)."""
    contract = authorize_contract(session, actor, contract_id)
    if start is None and end is None:
        raise HireError("Indiquez la date à corriger : début, fin, ou les deux.")
    rule = ctx.rulebook.contract_types.get(contract.contract_type)
    if end is not None and rule is not None and rule.open_ended:
        raise HireError(f"Un {rule.label_fr} n'a pas de date de fin prévue : pour le terminer, "
                        "utilisez « terminer » avec un motif.")
    _apply(ctx, session, actor, contract, "contract.correct", start=start,
           end=end if end is not None else "keep")
    span = f"du {fr_date(contract.start_date)}" + (
        f" au {fr_date(contract.end_date)}" if contract.end_date else " (sans fin)")
    return f"Contrat n° {contract.id} corrigé : {span}."
