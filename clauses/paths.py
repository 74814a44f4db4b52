"""Paths (« parcours »): before a contract ends, propose the person to another company.

The convention's purpose (art. 2) is to pool hours across markets and buyers so that a person's
path continues. ``PATH_NOTICE_DAYS`` before a contract's end, the facilitator gets (alert, pushed
to the chat) the engagements of the territory — any buyer, another company — whose hours are
still owed (counted in SQL by :func:`clauses.progress_service.done_hours_by_engagement`) on a
trade close to the one of the ending contract's lot, with one button per engagement. The button
creates a candidature for that company, already validated (the person's eligibility was
validated for the first hire), and tells the company, which hires with the usual flow.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import String, cast, exists, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from clauses import audit
from clauses.actors import Actor
from clauses.alerts import keyboard, raise_alert
from clauses.authz import Action, NotAllowed, authorize
from clauses.context import Context
from clauses.errors import DomainError
from clauses.formatting import fr_date
from clauses.outbox import enqueue_chat, enqueue_email
from clauses.progress_service import done_hours_by_engagement
from storage.models import (
    Alert,
    AlertKind,
    Candidature,
    CandidatureStatus,
    Company,
    Contact,
    ContactKind,
    Contract,
    Eligibility,
    Engagement,
    Lot,
    Market,
    MarketStatus,
    Participant,
    Role,
    User,
)

PATH_NOTICE_DAYS = 30
MAX_SUGGESTIONS = 5


def close_trades(trade: str | None) -> list[str]:
    """Trades taken as close to ``trade``: itself and those of the same family, the first word of
    the catalogue key (``peinture_interieure`` ~ ``peinture_exterieure``)."""
    if not trade:
        return []
    return [trade, f"{trade.split('_')[0]}%"]


@dataclass(frozen=True)
class Ending:
    key: str
    contract_id: int
    participant_id: int
    end_date: dt.date


def endings_due(session: Session, today: dt.date) -> list[Ending]:
    """Contracts ending within PATH_NOTICE_DAYS, with no later contract already signed, whose
    path alert was not raised yet (the window catches up a few days of downtime)."""
    later = aliased(Contract)
    renewed = exists().where(later.participant_id == Contract.participant_id, later.id != Contract.id,
                             or_(later.end_date.is_(None), later.end_date > Contract.end_date))
    raised = exists().where(Alert.dedup_key == literal("path:contract:") + cast(Contract.id, String))
    rows = session.execute(
        select(Contract.id, Contract.participant_id, Contract.end_date)
        .join(Participant, Participant.id == Contract.participant_id)
        .where(Contract.end_date >= today,
               Contract.end_date <= today + dt.timedelta(days=PATH_NOTICE_DAYS),
               Participant.anonymised_at.is_(None), ~renewed, ~raised)
        .order_by(Contract.end_date, Contract.id))
    return [Ending(f"path:contract:{cid}", cid, pid, end) for cid, pid, end in rows
            if end is not None]  # the query keeps dated ends only


@dataclass(frozen=True)
class Opening:
    engagement_id: int
    company_name: str
    market_reference: str
    lot_number: int
    trade: str | None
    remaining: Decimal


def openings(session: Session, contract_id: int, on: dt.date) -> list[Opening]:
    """Engagements of another company, still running at ``on``, with hours still owed at ``on``
    and a trade close to the contract's lot's, most hours owed first."""
    row = session.execute(
        select(Lot.trade, Engagement.company_id).join(Engagement, Engagement.lot_id == Lot.id)
        .join(Contract, Contract.engagement_id == Engagement.id).where(Contract.id == contract_id)).first()
    if row is None or not row[0]:
        return []
    trade, company_id = row
    exact, family = close_trades(trade)
    where = (Engagement.company_id != company_id) & Engagement.ended_on.is_(None) & (
        (Lot.trade == exact) | Lot.trade.like(family))
    # the sums restricted to the candidate engagements: unrestricted, every item of the tick
    # summed every declaration of the database (seconds each at national size)
    candidates = ((Engagement.company_id != company_id) & Engagement.ended_on.is_(None)
                  & Engagement.lot_id.in_(select(Lot.id).where((Lot.trade == exact)
                                                               | Lot.trade.like(family))))
    done = done_hours_by_engagement(session, on, candidates)
    remaining = Engagement.hours_owed - func.coalesce(done.c.done, 0)
    q = (select(Engagement.id, Company.name, Market.reference, Lot.number, Lot.trade, remaining)
         .join(Lot, Lot.id == Engagement.lot_id).join(Market, Market.id == Lot.market_id)
         .join(Company, Company.id == Engagement.company_id)
         .outerjoin(done, done.c.engagement_id == Engagement.id)
         .where(where, remaining > 0, Market.status != MarketStatus.CLOS, Company.active.is_(True),
                func.coalesce(Lot.end_date, Market.end_date) >= on)
         .order_by(remaining.desc(), Engagement.id).limit(MAX_SUGGESTIONS))
    return [Opening(eid, name, ref, num, tr, Decimal(rem)) for eid, name, ref, num, tr, rem in session.execute(q)]


def alert_path(ctx: Context, session: Session, item: Ending) -> bool:
    """Raise the facilitator's alert listing the openings (none: nothing to propose, no alert)."""
    found = openings(session, item.contract_id, item.end_date)
    if not found:
        return False
    person = session.get(Participant, item.participant_id)
    company = session.scalar(select(Company).join(Engagement, Engagement.company_id == Company.id)
                             .join(Contract, Contract.engagement_id == Engagement.id)
                             .where(Contract.id == item.contract_id))
    assert person is not None and company is not None
    lines = "\n".join(f"• {o.company_name} — marché {o.market_reference} lot {o.lot_number}"
                      f" ({o.trade}) : {o.remaining:.0f} h encore dues" for o in found)
    _alert, created = raise_alert(
        session, kind=AlertKind.AUTRE, facilitator_id=company.facilitator_id,
        subject_type="contract", subject_id=item.contract_id, dedup_key=item.key,
        message=(f"Parcours : le contrat de {person.display_name} chez {company.name} se termine le "
                 f"{fr_date(item.end_date)}. Suites possibles (heures encore dues, métier proche) :\n"
                 f"{lines}\nProposer la personne à une entreprise :"),
        buttons=[[(f"➡️ {o.company_name}"[:60], f"path:{item.contract_id}:{o.engagement_id}")]
                 for o in found])
    return created


def _validated(session: Session, participant_id: int) -> bool:
    return bool(session.scalar(select(Eligibility.id).where(
        Eligibility.participant_id == participant_id, Eligibility.revoked_at.is_(None),
        Eligibility.validated_at.is_not(None)).limit(1)))


def propose_person(ctx: Context, session: Session, actor: Actor, contract_id: int,
                   engagement_id: int) -> tuple[Candidature, bool]:
    """Propose the person of ``contract_id`` to the company of ``engagement_id``: a validated
    candidature on that lot, and a chat notice to the company with the hire button. Pressed
    twice: the same candidature (False)."""
    authorize(session, actor, Action.CANDIDATURE_DECIDE)
    contract = session.get(Contract, contract_id)
    engagement = session.get(Engagement, engagement_id)
    if contract is None or engagement is None:
        raise NotAllowed()
    key = f"path:{contract_id}:{engagement_id}"
    existing = session.scalar(select(Candidature).where(Candidature.idempotency_key == key))
    if existing is not None:
        return existing, False
    person = session.get(Participant, contract.participant_id)
    if person is None or person.anonymised_at is not None:
        raise NotAllowed()
    if not _validated(session, person.id):
        raise DomainError(f"L'éligibilité de {person.display_name} n'est pas validée : proposez-la "
                          "par /candidat pour que la·le facilitateur·rice la vérifie d'abord.")
    if engagement.company_id == session.scalar(
            select(Engagement.company_id).where(Engagement.id == contract.engagement_id)):
        raise DomainError("Cette entreprise emploie déjà la personne : proposez une autre entreprise.")
    now = ctx.clock.now()
    cand = Candidature(participant_id=person.id, company_id=engagement.company_id,
                       lot_id=engagement.lot_id, source=actor.channel,
                       submitted_by_user_id=actor.user_id, status=CandidatureStatus.VALIDEE,
                       decided_by_id=actor.user_id, decided_at=now, idempotency_key=key,
                       message=f"Suite de parcours (contrat n° {contract.id})", created_at=now)
    session.add(cand)
    session.flush()
    lot = session.get(Lot, engagement.lot_id)
    market = session.get(Market, lot.market_id) if lot else None
    text = (f"La·le facilitateur·rice vous propose {person.display_name}, dont l'éligibilité est "
            f"validée et dont le contrat en cours se termine le {fr_date(contract.end_date) if contract.end_date else '?'}, pour "
            f"vos heures d'insertion encore dues (marché {market.reference if market else '?'}, lot "
            f"{lot.number if lot else '?'}). Candidature n° {cand.id}. Si vous l'embauchez, "
            f"déclarez-le avec le bouton ci-dessous (ou /embauche {cand.id}).")
    told = 0
    for user_id in session.scalars(select(User.id).where(
            User.company_id == engagement.company_id, User.role == Role.ENTREPRISE, User.active.is_(True))):
        if enqueue_chat(session, dedup_key=f"{key}:{user_id}", user_id=user_id, text=text,
                        reply_markup=keyboard([[("👷 Déclarer l'embauche", f"h:c:{cand.id}")]])) is not None:
            told += 1
    if not told:  # no chat account: the company's contact addresses
        for contact_id, email in session.execute(select(Contact.id, Contact.email).where(
                Contact.company_id == engagement.company_id, Contact.kind == ContactKind.ENTREPRISE,
                Contact.active.is_(True), Contact.email.is_not(None))):
            enqueue_email(session, dedup_key=f"{key}:contact:{contact_id}", to=str(email),
                          subject=f"Proposition de candidat : candidature n° {cand.id}",
                          text=text.replace("avec le bouton ci-dessous (ou /embauche "
                                            f"{cand.id})", f"(candidature n° {cand.id})"))
    audit.record(session, actor, "path.propose", "participant", person.id, candidature_id=cand.id,
                 engagement_id=engagement_id)
    return cand, True
