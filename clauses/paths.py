"""Paths (« parcours »): before a contract ends, propose the person to another company.

The convention's purpose (art. 2) is to pool hours across markets and buyers so that a person's
path continues. ``PATH_NOTICE_DAYS`` before a contract's end, the facilitator gets (alert, pushed
to the chat) the engagements of the territory — any buyer, another company — whose hours are
still owed (summed for a whole day's endings at once, :func:`openings_many`) on a
trade close to the one of the ending contract's lot, with one button per engagement. The button
creates a candidature for that company, already validated (the person's eligibility was
validated for the first hire), and tells the company, which hires with the usual flow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, String, cast, exists, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from clauses import audit
from clauses.actors import Actor
from clauses.alerts import AlertSpec, keyboard, raise_alerts
from clauses.authz import Action, NotAllowed, authorize
from clauses.context import Context
from clauses.errors import DomainError
from clauses.formatting import fr_date
from clauses.outbox import enqueue_chat, enqueue_email
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
    HourDeclaration,
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
    return openings_many(session, [(contract_id, on)]).get(contract_id, [])


def openings_many(session: Session, endings: Sequence[tuple[int, dt.date]]
                  ) -> dict[int, list[Opening]]:
    """:func:`openings` of many (contract id, day) pairs, in five queries whatever their number
    (plus one per thousand endings and per thousand openings proposed).

    Why: one query per ending summed the declarations of every candidate engagement of its trade
    family again — 1.5 s an ending at national size, 3,000 endings in a first run (75 min).
    Here the candidates of all the endings' trades are read once, their hours done summed once
    up to the earliest day plus once per month between the earliest and the latest day (a
    window of 30 days: one or two months), and each ending keeps its own in Python.
    """
    if not endings:
        return {}
    ids = sorted({cid for cid, _on in endings})
    own: dict[int, tuple[str, int]] = {}
    for low in range(0, len(ids), _SLICE):
        for cid, trade, company_id in session.execute(
                select(Contract.id, Lot.trade, Engagement.company_id)
                .join(Engagement, Engagement.id == Contract.engagement_id)
                .join(Lot, Lot.id == Engagement.lot_id)
                .where(Contract.id.in_(ids[low:low + _SLICE]))):
            if trade:
                own[cid] = (trade, company_id)
    if not own:
        return {}
    exacts = sorted({trade for trade, _c in own.values()})
    families = sorted({close_trades(trade)[1] for trade in exacts})
    days = [on for cid, on in endings if cid in own]
    first, last = min(days), max(days)
    ends = func.coalesce(Lot.end_date, Market.end_date)
    # Only what an ending can pick: running, on a lot of a close trade, of a market not closed,
    # ending on or after the earliest ending day, of an active company (168,000 engagements of
    # the trades at national size, 18,000 of them open: their sums were the job's cost). The
    # lots are reached from the markets not closed (an IN list SQLite builds first).
    lots = (select(Lot.id).join(Market, Market.id == Lot.market_id)
            .where(Market.status != MarketStatus.CLOS, ends >= first,
                   or_(Lot.trade.in_(exacts), *(Lot.trade.like(family) for family in families)))
            .correlate(None))
    open_ = (Engagement.ended_on.is_(None) & Engagement.lot_id.in_(lots)
             & Company.active.is_(True))
    # ids, hours and days only: the names are read for the openings proposed alone (a row with
    # its company name and market reference for each of the 20,000 running engagements of a
    # national first run weighed 25 MB)
    candidates = session.execute(
        select(Engagement.id, Engagement.company_id, Lot.trade, Engagement.hours_owed, ends)
        .join(Lot, Lot.id == Engagement.lot_id).join(Market, Market.id == Lot.market_id)
        .join(Company, Company.id == Engagement.company_id).where(open_))
    by_trade: dict[str | None, list[tuple[int, int, Decimal, dt.date]]] = {}
    for eid, company, trade, owed, end in candidates:
        if end is not None:  # an undated end is never picked
            by_trade.setdefault(trade, []).append((eid, company, _dec(owed), end))
    opened = (select(Engagement.id).join(Company, Company.id == Engagement.company_id)
              .where(open_).correlate(None))

    def summed(*columns: Any) -> Select[Any]:
        return (select(Contract.engagement_id, *columns, func.sum(HourDeclaration.counted_hours))
                .join(HourDeclaration, HourDeclaration.contract_id == Contract.id)
                .where(Contract.engagement_id.in_(opened))
                .group_by(Contract.engagement_id, *columns))

    done: dict[int, Decimal] = {eid: _dec(total) for eid, total in session.execute(
        summed().where(HourDeclaration.month <= first))}
    later: dict[int, list[tuple[dt.date, Decimal]]] = {}
    if last > first:  # the months between the earliest and the latest day, kept apart
        for eid, month, total in session.execute(summed(HourDeclaration.month).where(
                HourDeclaration.month > first, HourDeclaration.month <= last)):
            later.setdefault(eid, []).append((month, _dec(total)))
    months = sorted({month for rows in later.values() for month, _total in rows})

    def ranking(trade: str, cut: int) -> list[tuple[int, str | None, Decimal, int, dt.date]]:
        """Every opening of ``trade`` counting the declarations up to ``first`` and the
        ``cut`` next months, most hours owed first (any company, any end): (engagement,
        trade, hours remaining, company, end)."""
        exact, family = close_trades(trade)
        prefix = family.removesuffix("%")
        counted = set(months[:cut])
        found = []
        zero = Decimal(0)
        for tr, rows in by_trade.items():
            if tr != exact and not (tr or "").startswith(prefix):
                continue
            for eid, company, owed, until in rows:
                hours = done.get(eid, zero)
                if counted and eid in later:
                    hours += sum((total for month, total in later[eid] if month in counted), zero)
                remaining = owed - hours
                if remaining > 0:
                    found.append((eid, tr, remaining, company, until))
        found.sort(key=lambda row: (-row[2], row[0]))
        return found

    # The endings grouped by ranking, each ranking built, used and dropped in turn: a ranking
    # lists every opening of a trade family (thousands at national size).
    groups: dict[tuple[str, int], list[tuple[int, dt.date, int]]] = {}
    seen: set[int] = set()
    for cid, on in endings:
        if cid not in own or cid in seen:  # the first day given for a contract counts
            continue
        seen.add(cid)
        trade, company_id = own[cid]
        cut = sum(1 for month in months if month <= on)
        groups.setdefault((trade, cut), []).append((cid, on, company_id))
    picked: dict[int, list[tuple[int, str | None, Decimal]]] = {}
    for (trade, cut), members in groups.items():
        ranked = ranking(trade, cut)
        for cid, on, company_id in members:
            mine: list[tuple[int, str | None, Decimal]] = []
            for eid, tr, remaining, company, until in ranked:
                if company != company_id and until >= on:
                    mine.append((eid, tr, remaining))
                    if len(mine) == MAX_SUGGESTIONS:
                        break
            picked[cid] = mine
        del ranked
    names = _opening_names(session, sorted({eid for rows in picked.values() for eid, _t, _r in rows}))
    return {cid: [Opening(eid, *names[eid], tr, remaining) for eid, tr, remaining in rows]
            for cid, rows in picked.items()}


def _opening_names(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, str, int]]:
    """Company name, market reference and lot number of the engagements proposed."""
    out: dict[int, tuple[str, str, int]] = {}
    for low in range(0, len(ids), _SLICE):
        for eid, name, reference, number in session.execute(
                select(Engagement.id, Company.name, Market.reference, Lot.number)
                .join(Lot, Lot.id == Engagement.lot_id).join(Market, Market.id == Lot.market_id)
                .join(Company, Company.id == Engagement.company_id)
                .where(Engagement.id.in_(ids[low:low + _SLICE]))):
            out[eid] = (name, reference, number)
    return out


_SLICE = 1000


def _dec(value: object) -> Decimal:
    """A sum as SQLite (float) or PostgreSQL (Decimal) returns it, as a Decimal."""
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def alert_path(ctx: Context, session: Session, item: Ending) -> bool:
    """Raise the facilitator's alert listing the openings (none: nothing to propose, no alert)."""
    specs = path_alerts(session, [item])
    if not specs:
        return False
    return bool(raise_alerts(session, specs))


def path_alerts(session: Session, items: Sequence[Ending]) -> list[AlertSpec]:
    """The alerts of many endings (:func:`openings_many`, then the persons and companies in one
    query each); the endings without an opening raise none. Reads only: the daily job computes
    them in a read session and writes them with :func:`clauses.alerts.raise_alerts`."""
    found = openings_many(session, [(i.contract_id, i.end_date) for i in items])
    items = [i for i in items if found.get(i.contract_id)]
    if not items:
        return []
    persons = {p.id: p for p in session.scalars(select(Participant).where(
        Participant.id.in_({i.participant_id for i in items})))}
    companies = {cid: (name, facilitator) for cid, name, facilitator in session.execute(
        select(Contract.id, Company.name, Company.facilitator_id)
        .join(Engagement, Engagement.id == Contract.engagement_id)
        .join(Company, Company.id == Engagement.company_id)
        .where(Contract.id.in_([i.contract_id for i in items])))}
    specs = []
    for item in items:
        person, (company, facilitator) = persons[item.participant_id], companies[item.contract_id]
        lines = "\n".join(f"• {o.company_name} — marché {o.market_reference} lot {o.lot_number}"
                          f" ({o.trade}) : {o.remaining:.0f} h encore dues"
                          for o in found[item.contract_id])
        specs.append(AlertSpec(
            kind=AlertKind.AUTRE, facilitator_id=facilitator, subject_type="contract",
            subject_id=item.contract_id, dedup_key=item.key,
            message=(f"Parcours : le contrat de {person.display_name} chez {company} se termine "
                     f"le {fr_date(item.end_date)}. Suites possibles (heures encore dues, métier "
                     f"proche) :\n{lines}\nProposer la personne à une entreprise :"),
            buttons=[[(f"➡️ {o.company_name}"[:60], f"path:{item.contract_id}:{o.engagement_id}")]
                     for o in found[item.contract_id]]))
    return specs


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
