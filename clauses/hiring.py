"""Recording a hire: a validated candidature becomes a contract counted on a lot.

Whoever really hires calls :func:`record_hire` — the company in chat (``/embauche``, or the
« Déclarer l'embauche » button on the validation notice) or by spreadsheet, the facilitator in
chat or with ``clausebot contrat create``. One use case, so every channel gives the same answers:

* the candidature must be validated by the facilitator (the seed: every candidature is validated
  before hiring); a candidature already hired answers with its contract (a hire pressed twice
  records one contract: ``contracts.candidature_id`` is unique);
* a company hires only its own candidates, on a lot it holds (its engagement); the hours stay
  credited to that engagement whoever carries the contract (``employer_id``: an ETTI, AI, GEIQ
  or EI/ACI; the company itself by default);
* the type is one of the rulebook's; an open-ended type (CDI) has no end date, others need one
  (``end >= start``); both dates lie within the lot's execution (the market's when the lot has
  none); the same person has no other contract on that lot over the same days;
* the hire moves the candidature to « embauchée », links it to the contract, sets the person's
  first entry date (when unset or later), and tells the prescriber who proposed the person
  (annex D: feedback to the référent de parcours), in the same transaction (outbox).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, authorize, is_allowed, scope_engagements
from clauses.bilan.errors import UnknownMarketError
from clauses.bilan.lookup import find_market
from clauses.context import Context
from clauses.declaring.lookup import running_during
from clauses.errors import DomainError
from clauses.formatting import fr_date
from clauses.importing.values import ValueProblem, parse_date
from clauses.prescriber_feedback import prescriber_recipients, send_feedback
from clauses.rulebook import ContractType
from storage.models import (
    Candidature,
    CandidatureStatus,
    Channel,
    Company,
    CompanyKind,
    Contract,
    Engagement,
    Lot,
    Market,
    Participant,
    Role,
    person_name,
)

MAX_JOB_TITLE = 200
FAR_FUTURE = dt.date(9999, 12, 31)
CARRIER_KINDS = (CompanyKind.ETTI, CompanyKind.AI, CompanyKind.GEIQ, CompanyKind.EI, CompanyKind.ACI)
"""Insertion employers that may carry a contract for the company holding the lot."""


class HireError(DomainError):
    """A hire refused: the French message says what to fix; nothing was written."""

    code = "hire_refused"


@dataclass(frozen=True)
class HireRequest:
    """What a hire needs; ``company_id`` only for staff hiring for a candidature with no company."""

    candidature_id: int
    lot_id: int
    contract_type: str
    start: dt.date
    end: dt.date | None = None
    employer_id: int | None = None
    job_title: str | None = None
    company_id: int | None = None


@dataclass(frozen=True)
class HireOutcome:
    contract_id: int
    created: bool
    message_fr: str


@dataclass(frozen=True)
class HireableCandidature:
    candidature_id: int
    participant_name: str
    company_id: int | None


@dataclass(frozen=True)
class HireLot:
    lot_id: int
    market_reference: str
    lot_number: int
    label: str


# -- what the channels offer -----------------------------------------------------------------


def hireable_candidatures(session: Session, actor: Actor, limit: int = 20) -> list[HireableCandidature]:
    """Validated candidatures the actor may hire (a company: its own), newest first."""
    if not is_allowed(session, actor, Action.CONTRACT_WRITE):
        return []
    q = (
        select(Candidature.id, Participant.last_name, Participant.first_name, Candidature.company_id)
        .join(Participant, Participant.id == Candidature.participant_id)
        .where(Candidature.status == CandidatureStatus.VALIDEE, Participant.anonymised_at.is_(None))
        .order_by(Candidature.id.desc())
        .limit(limit)
    )
    if actor.role == Role.ENTREPRISE:
        q = q.where(Candidature.company_id == actor.company_id)
    rows = [HireableCandidature(cid, person_name(last, first), company)
            for cid, last, first, company in session.execute(q)]
    audit.record(session, actor, "candidatures.hireable", "company", actor.company_id, count=len(rows))
    return rows


def hire_lots(session: Session, actor: Actor, company_id: int | None) -> list[HireLot]:
    """Lots a hire may be counted on: the engagements of the company (a company: its own)."""
    if actor.role == Role.ENTREPRISE:
        company_id = actor.company_id
    if company_id is None:
        return []
    q = (
        select(Lot.id, Market.reference, Lot.number, Lot.label)
        .join(Engagement, Engagement.lot_id == Lot.id)
        .join(Market, Market.id == Lot.market_id)
        .where(Engagement.company_id == company_id, scope_engagements(actor, Action.CONTRACT_WRITE))
        .order_by(Market.reference, Lot.number)
    )
    return [HireLot(*row) for row in session.execute(q)]


def carriers(session: Session) -> list[tuple[int, str, str]]:
    """(id, name, kind) of the insertion employers that may carry a contract."""
    q = select(Company.id, Company.name, Company.kind).where(Company.kind.in_(CARRIER_KINDS))
    return [(cid, name, kind.value) for cid, name, kind in session.execute(q.order_by(Company.name))]


def contract_type_choices(ctx: Context) -> list[tuple[str, str, bool]]:
    """(key, French label, open-ended) of the rulebook's contract types, in its order."""
    return [(key, t.label_fr, t.open_ended) for key, t in ctx.rulebook.contract_types.items()]


def contract_type_key(ctx: Context, text: str) -> str:
    """The rulebook key of a contract type written as its key or its French label ("CDD",
    "cdd", "Intérim"); a HireError lists the types."""
    from clauses.formatting import fold

    wanted = fold(text)
    for key, rule in ctx.rulebook.contract_types.items():
        if wanted in (fold(key), fold(rule.label_fr)):
            return key
    keys = ", ".join(ctx.rulebook.contract_types)
    raise HireError(f"Type de contrat inconnu « {text} » : choisissez parmi {keys}.")


def find_lot(session: Session, market_reference: str, lot_number: int) -> Lot:
    """The lot ``lot_number`` of the market ``market_reference``; a HireError says what exists."""
    try:
        market = find_market(session, market_reference)
    except UnknownMarketError as exc:
        raise HireError(exc.message_fr) from None
    lot = session.scalar(select(Lot).where(Lot.market_id == market.id, Lot.number == lot_number))
    if lot is None:
        numbers = ", ".join(str(n) for n in session.scalars(
            select(Lot.number).where(Lot.market_id == market.id).order_by(Lot.number)))
        raise HireError(f"Le marché {market.reference} n'a pas de lot {lot_number} "
                        f"(lots : {numbers or 'aucun'}).")
    return lot


def find_carrier(session: Session, text: str) -> Company:
    """An insertion employer by its exact name (case and accents ignored) or its SIRET."""
    from clauses.formatting import fold

    wanted = fold(text)
    digits = "".join(ch for ch in text if ch.isdigit())
    matches = [c for c in session.scalars(select(Company).where(Company.kind.in_(CARRIER_KINDS)))
               if fold(c.name) == wanted or (len(digits) == 14 and c.siret == digits)]
    if len(matches) != 1:
        names = ", ".join(name for _, name, _ in carriers(session)) or "aucune enregistrée"
        raise HireError(f"Structure porteuse « {text} » inconnue ou ambiguë : indiquez le nom exact "
                        f"d'une ETTI, AI, GEIQ, EI ou ACI ({names}).")
    return matches[0]


def read_date(text: str, what: str) -> dt.date:
    """A date typed as JJ/MM/AAAA (or AAAA-MM-JJ); a HireError says how to write it."""
    try:
        return parse_date(text)
    except ValueProblem as exc:
        raise HireError(f"{what} : {exc}") from None


# -- the use case ----------------------------------------------------------------------------


def hire_precheck(session: Session, actor: Actor, candidature_id: int
                  ) -> tuple[Candidature, Participant, HireOutcome | None]:
    """The candidature if it may be hired, with the outcome already recorded if it was (a hire
    pressed twice); a HireError for a candidature not validated, refused or withdrawn."""
    if not is_allowed(session, actor, Action.CONTRACT_WRITE, "candidature", candidature_id):
        raise HireError(
            f"La candidature n° {candidature_id} est introuvable ou n'est pas proposée à "
            "votre entreprise : vérifiez le numéro (/embauche liste vos candidatures validées)."
        )
    cand = session.get(Candidature, candidature_id)
    if cand is None:
        raise HireError(f"La candidature n° {candidature_id} est introuvable.")
    participant = session.get(Participant, cand.participant_id)
    assert participant is not None
    existing = session.scalar(select(Contract).where(Contract.candidature_id == cand.id))
    if existing is not None:
        return cand, participant, HireOutcome(existing.id, False, (
            f"L'embauche de {participant.display_name} est déjà enregistrée (contrat n° "
            f"{existing.id}, depuis le {fr_date(existing.start_date)}) : rien de plus à faire."))
    if cand.status != CandidatureStatus.VALIDEE:
        if cand.status == CandidatureStatus.A_VALIDER:
            raise HireError(
                f"La candidature n° {cand.id} n'est pas encore validée par la·le "
                "facilitateur·rice : l'embauche s'enregistre après la validation.")
        raise HireError(f"La candidature n° {cand.id} est {_status_fr(cand.status)} : "
                        "pas d'embauche possible.")
    return cand, participant, None


def record_hire(ctx: Context, session: Session, actor: Actor, req: HireRequest, *,
                source: Channel) -> HireOutcome:
    """Check every rule, then record the contract and its consequences (see module)."""
    cand, participant, already = hire_precheck(session, actor, req.candidature_id)
    if already is not None:
        return already
    company_id = actor.company_id if actor.role == Role.ENTREPRISE else (
        cand.company_id or req.company_id)
    lot = session.get(Lot, req.lot_id)
    if lot is None:
        raise HireError("Lot introuvable : choisissez un lot de vos engagements.")
    market = session.get(Market, lot.market_id)
    assert market is not None
    lot_name = f"marché {market.reference}, lot {lot.number}"
    engagement = None
    if company_id is not None:
        engagement = session.scalar(select(Engagement).where(
            Engagement.lot_id == lot.id, Engagement.company_id == company_id))
    else:
        holders = list(session.scalars(select(Engagement).where(Engagement.lot_id == lot.id)))
        engagement = holders[0] if len(holders) == 1 else None
        if len(holders) > 1:
            raise HireError(f"Plusieurs entreprises tiennent le {lot_name} : précisez "
                            "l'entreprise qui embauche.")
    if engagement is None:
        raise HireError(f"L'entreprise n'a pas d'engagement sur le {lot_name} : choisissez un "
                        "lot qu'elle tient.")
    contract_type = contract_type_key(ctx, req.contract_type)
    rule = ctx.rulebook.contract_types[contract_type]
    end = req.end
    check_end(rule, end)
    check_dates(session, lot, market, req.start, end, participant.id, exclude_contract=None)
    employer_id = engagement.company_id
    if req.employer_id is not None and req.employer_id != engagement.company_id:
        carrier = session.get(Company, req.employer_id)
        if carrier is None or carrier.kind not in CARRIER_KINDS:
            raise HireError("La structure porteuse doit être une ETTI, une AI, un GEIQ, une EI "
                            "ou un ACI enregistré.")
        employer_id = carrier.id
    title = " ".join((req.job_title or "").split())[:MAX_JOB_TITLE] or None
    contract = Contract(
        participant_id=participant.id, engagement_id=engagement.id, employer_id=employer_id,
        contract_type=contract_type, start_date=req.start, end_date=end, job_title=title,
        candidature_id=cand.id, created_at=ctx.clock.now(),
    )
    try:
        with session.begin_nested():  # a concurrent hire of the same candidature won the race
            session.add(contract)
            session.flush()
    except IntegrityError:
        _, _, already = hire_precheck(session, actor, req.candidature_id)
        if already is None:
            raise
        return already
    cand.status = CandidatureStatus.EMBAUCHEE
    if participant.first_entry_date is None or participant.first_entry_date > req.start:
        participant.first_entry_date = req.start
    participant.last_activity_at = ctx.clock.now()
    session.flush()
    company = session.get(Company, engagement.company_id)
    what = (f"{rule.label_fr} du {fr_date(req.start)}"
            + (f" au {fr_date(end)}" if end else "") + f", {lot_name}")
    _tell_prescriber(session, cand, participant, company.name if company else "", what)
    audit.record(session, actor, "contract.hire", "participant", participant.id,
                 contract_id=contract.id, candidature_id=cand.id, channel=source.value)
    return HireOutcome(contract.id, True, (
        f"Embauche enregistrée : {participant.display_name}, {what} (contrat n° {contract.id}). "
        "Ses heures se déclarent chaque mois avec /declarer."))


def check_dates(session: Session, lot: Lot, market: Market, start: dt.date, end: dt.date | None,
                participant_id: int, *, exclude_contract: int | None) -> None:
    """Dates ordered, within the lot's execution, no overlap with the person's other contract
    on the same lot; a HireError names the rule broken."""
    check_span(start, end, lot.start_date or market.start_date, lot.end_date or market.end_date,
               market.reference, lot.number)
    q = (select(Contract.id, Contract.start_date, Contract.end_date)
         .join(Engagement, Engagement.id == Contract.engagement_id)
         .where(Contract.participant_id == participant_id, Engagement.lot_id == lot.id,
                running_during(start, end or FAR_FUTURE)))
    if exclude_contract is not None:
        q = q.where(Contract.id != exclude_contract)
    other = session.execute(q.limit(1)).first()
    if other is not None:
        raise overlap_error(other[0], other[1], other[2])


# -- the pure rules (no database): shared by record_hire and the history import's batch check --


def check_end(rule: ContractType, end: dt.date | None) -> None:
    """An open-ended type (CDI) has no planned end; every other type needs one."""
    if rule.open_ended and end is not None:
        raise HireError(f"Un {rule.label_fr} n'a pas de date de fin prévue : n'en indiquez pas "
                        "(une fin anticipée s'enregistre plus tard avec « terminer »).")
    if not rule.open_ended and end is None:
        raise HireError(f"Indiquez la date de fin prévue du {rule.label_fr}.")


def check_span(start: dt.date, end: dt.date | None, first: dt.date, last: dt.date,
               market_reference: str, lot_number: int) -> None:
    """Dates ordered and within the lot's execution ``[first, last]`` (the lot's own dates,
    else the market's)."""
    if end is not None and end < start:
        raise HireError(f"La date de fin ({fr_date(end)}) est avant la date de début "
                        f"({fr_date(start)}) : corrigez l'une des deux.")
    if start < first or start > last or (end is not None and end > last):
        raise HireError(
            f"Les dates doivent être dans l'exécution du marché {market_reference} lot "
            f"{lot_number}, du {fr_date(first)} au {fr_date(last)}.")


def overlap_error(contract_id: int | None, start: dt.date, end: dt.date | None) -> HireError:
    """The refusal of a contract overlapping the person's contract ``contract_id`` on the same
    lot (``None``: one not recorded yet, earlier in the same file)."""
    span = f"du {fr_date(start)}" + (f" au {fr_date(end)}" if end else " (sans fin)")
    which = f"contrat n° {contract_id}" if contract_id is not None else "plus haut dans le fichier"
    return HireError(f"Cette personne a déjà un contrat sur ce lot {span} ({which}) : les deux "
                     "contrats se chevauchent. Prolongez plutôt le contrat existant.")


def _status_fr(status: CandidatureStatus) -> str:
    return {CandidatureStatus.REFUSEE: "refusée", CandidatureStatus.RETIREE: "retirée",
            CandidatureStatus.EMBAUCHEE: "déjà embauchée"}.get(status, status.value)


def _tell_prescriber(session: Session, cand: Candidature, participant: Participant,
                     company_name: str, what: str) -> None:
    """Feedback to the référent de parcours: the adviser who proposed the person, found by the
    one lookup the exit feedback also uses (:mod:`clauses.prescriber_feedback`). Initials only."""
    if cand.prescriber_id is None:
        return
    who = f"{participant.last_name.upper()} {participant.first_name[:1]}."
    text = f"Votre candidature n° {cand.id} ({who}) : embauche par {company_name}, {what}."
    subject = f"Candidature n° {cand.id} : embauche"
    send_feedback(session, prescriber_recipients(session, participant.id, cand),
                  dedup_key=f"candidature:{cand.id}:hire", subject=subject, text=text)


def authorize_contract(session: Session, actor: Actor, contract_id: int) -> Contract:
    """The contract if the actor may change it, else the refusal every channel gives."""
    authorize(session, actor, Action.CONTRACT_WRITE, "contract", contract_id)
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise HireError(f"Contrat n° {contract_id} introuvable.")
    return contract


def record_history_hire(ctx: Context, session: Session, actor: Actor, *, participant_id: int,
                        company_id: int, req: HireRequest, source: Channel) -> HireOutcome:
    """A contract from an agency's history file: the same rules as a live hire.

    Why: a past contract has no candidature in the database, yet :func:`record_hire` is the
    one place that checks a contract (engagement, rulebook type, dates within the lot, no
    overlap). So the history entry point records the candidature the agency validated at the
    time (« validée », keyed by person, lot and start so a re-import finds it) and hands it to
    :func:`record_hire`; a refusal rolls both back (the caller's savepoint).
    """
    key = f"history:{participant_id}:{req.lot_id}:{req.start.isoformat()}"
    cand = session.scalar(select(Candidature).where(Candidature.idempotency_key == key))
    if cand is None:
        cand = Candidature(participant_id=participant_id, company_id=company_id,
                           lot_id=req.lot_id, source=source, status=CandidatureStatus.VALIDEE,
                           decided_by_id=actor.user_id, decided_at=ctx.clock.now(),
                           criteria_claimed=[], idempotency_key=key)
        session.add(cand)
        session.flush()
    return record_hire(ctx, session, actor, HireRequest(
        candidature_id=cand.id, lot_id=req.lot_id, contract_type=req.contract_type,
        start=req.start, end=req.end, employer_id=req.employer_id, job_title=req.job_title,
        company_id=company_id), source=source)
