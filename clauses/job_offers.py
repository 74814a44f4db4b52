"""Job offers: broadcast a company's offer to the partners, gather the applications, pre-select.

The seed's annex (§B) lists these among the facilitator's services. One use case per step, so
chat, e-mail and CLI give the same answers:

* an offer is created on an engagement (a lot the company holds) by the company or a facilitator;
* the facilitator approves it: only then is it e-mailed (outbox, same transaction) to the staff
  addresses of the active prescriber organisations, with the reference to quote (« OFF-12 »);
* an application quoting the reference (a prescriber's e-mail, a company's /candidat) is a
  candidature linked to the offer (``Candidature.job_offer_id``), validated as any other;
* the facilitator sends a pre-selection of validated candidatures to the company (chat, one
  button per person); the company chooses (``chosen_at``), which leads to the usual hire;
* when the positions are all chosen the offer is filled (POURVUE), or the facilitator closes it
  (FERMEE); the prescribers of the candidates not chosen are told, with initials only.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.alerts import keyboard, raise_alert, resolve_alerts
from clauses.authz import Action, NotAllowed, authorize
from clauses.context import Context
from clauses.errors import DomainError
from clauses.formatting import fr_date
from clauses.hiring import find_lot
from clauses.importing.values import ValueProblem, parse_date
from clauses.outbox import enqueue_chat, enqueue_email
from storage.models import (
    AlertKind,
    Candidature,
    CandidatureStatus,
    Company,
    Contact,
    ContactKind,
    Engagement,
    JobOffer,
    JobOfferStatus,
    Lot,
    Market,
    Participant,
    Prescriber,
    Role,
    User,
    person_name,
)

REFERENCE = re.compile(r"\bOFF\s*(?:-|–|n°|no\.?)?\s*(\d{1,9})\b", re.IGNORECASE)
MAX_POSITIONS = 50
MAX_HOURS_PER_WEEK = 48
MAX_DURATION_MONTHS = 60
ONE_LINE_USAGE = (
    "<marché> <lot> ; <intitulé du poste> ; <lieu> ; <début jj/mm/aaaa> ; <durée en mois> ; "
    "<heures par semaine> ; <nombre de postes>"
)


class OfferError(DomainError):
    """An offer step refused: the French message says what to fix; nothing was written."""

    code = "offer_refused"


def reference(offer_id: int) -> str:
    """The reference partners quote in their applications."""
    return f"OFF-{offer_id}"


def quoted_offer_id(*texts: str | None) -> int | None:
    """The offer number quoted in a subject or body (« OFF-12 », « off 12 »), if any."""
    for text in texts:
        match = REFERENCE.search(text or "")
        if match:
            return int(match.group(1))
    return None


@dataclass(frozen=True)
class OfferInput:
    """What an offer says; the trade defaults to the lot's."""

    market_reference: str
    lot_number: int
    title: str
    place: str
    start: dt.date
    duration_months: int
    hours_per_week: int
    positions: int = 1
    trade: str | None = None
    description: str | None = None


def read_int(text: str, what: str, low: int, high: int) -> int:
    value = text.strip().lower().removesuffix("h").removesuffix("mois").strip()
    if not value.isdigit() or not (low <= int(value) <= high):
        raise OfferError(f"{what} « {text.strip()[:20]} » invalide : un nombre entier de {low} à {high}.")
    return int(value)


def read_offer(market_reference: str, lot: str, title: str, place: str, start: str, duration: str,
               hours: str, positions: str = "1") -> OfferInput:
    """Check the fields typed in chat or given to the CLI; an OfferError names the wrong one."""
    title, place = read_title(title), read_place(place)
    start_date = read_start(start)
    return OfferInput(
        market_reference=market_reference.strip(), lot_number=read_int(lot, "Numéro de lot", 1, 999),
        title=title, place=place, start=start_date,
        duration_months=read_int(duration, "Durée (mois)", 1, MAX_DURATION_MONTHS),
        hours_per_week=read_int(hours, "Heures par semaine", 1, MAX_HOURS_PER_WEEK),
        positions=read_int(positions, "Nombre de postes", 1, MAX_POSITIONS))


def read_title(text: str) -> str:
    title = " ".join(text.split())
    if not (2 <= len(title) <= 200):
        raise OfferError("Intitulé du poste manquant ou trop long (200 caractères au plus).")
    return title


def read_place(text: str) -> str:
    place = " ".join(text.split())
    if not (2 <= len(place) <= 120):
        raise OfferError("Lieu de travail manquant ou trop long (120 caractères au plus).")
    return place


def read_start(text: str) -> dt.date:
    try:
        return parse_date(text)
    except ValueProblem as exc:
        raise OfferError(f"Date de début : {exc}") from None


def parse_offer_line(text: str) -> OfferInput:
    """The one-line form of /offre: « 2025-017 2 ; Maçon ; Oullins ; 01/09/2025 ; 6 ; 35 ; 2 »."""
    parts = [p.strip() for p in text.split(";")]
    head = parts[0].split() if parts else []
    if len(parts) not in (6, 7) or len(head) != 2:
        raise OfferError(f"Offre incomplète. Écrivez : /offre {ONE_LINE_USAGE}\n"
                         "ex. /offre 2025-017 2 ; Maçon coffreur ; Oullins ; 01/09/2025 ; 6 ; 35 ; 2")
    return read_offer(head[0], head[1], *parts[1:])


def _describe(session: Session, offer: JobOffer) -> str:
    lot = session.get(Lot, offer.lot_id) if offer.lot_id else None
    market = session.get(Market, lot.market_id) if lot else None
    company = session.get(Company, offer.company_id)
    where = f"marché {market.reference} lot {lot.number}" if lot and market else "sans lot"
    return (f"{reference(offer.id)} — {offer.title} ({offer.positions} poste"
            f"{'s' if offer.positions > 1 else ''}), {company.name if company else '?'}, {where}"
            + (f", métier {offer.trade}" if offer.trade else "")
            + (f", à {offer.place}" if offer.place else "")
            + (f", début le {fr_date(offer.start_date)}" if offer.start_date else "")
            + (f", {offer.duration_months} mois" if offer.duration_months else "")
            + (f", {offer.hours_per_week} h/semaine" if offer.hours_per_week else ""))


def find_company(session: Session, name: str) -> Company:
    company = session.scalar(select(Company).where(func.lower(Company.name) == name.strip().lower()))
    if company is None:
        raise OfferError(f"Entreprise « {name.strip()[:80]} » introuvable : indiquez son nom exact.")
    return company


def create_offer(ctx: Context, session: Session, actor: Actor, data: OfferInput, *,
                 company: str | None = None) -> JobOffer:
    """Record an offer on a lot the company holds, and ask the facilitator to approve it."""
    if actor.role == Role.ENTREPRISE:
        company_id = actor.company_id
    else:
        authorize(session, actor, Action.CANDIDATURE_DECIDE)
        if not company:
            raise OfferError("Indiquez l'entreprise qui recrute (--entreprise).")
        company_id = find_company(session, company).id
    if company_id is None:
        raise NotAllowed()
    try:
        lot = find_lot(session, data.market_reference, data.lot_number)
    except DomainError as exc:
        raise OfferError(exc.message_fr) from None
    held = session.scalar(select(Engagement.id).where(
        Engagement.lot_id == lot.id, Engagement.company_id == company_id, Engagement.ended_on.is_(None)))
    if held is None:
        raise OfferError(f"L'entreprise ne tient pas le lot {data.lot_number} du marché "
                         f"{data.market_reference} : une offre se dépose sur un lot de ses "
                         "engagements (/avancement les liste).")
    if data.start < ctx.clock.today():
        raise OfferError(f"La date de début ({fr_date(data.start)}) est passée : indiquez une date à venir.")
    same = session.scalar(select(JobOffer).where(
        JobOffer.company_id == company_id, JobOffer.lot_id == lot.id,
        func.lower(JobOffer.title) == data.title.lower(), JobOffer.status == JobOfferStatus.OUVERTE))
    if same is not None:
        raise OfferError(f"Cette offre est déjà enregistrée ({reference(same.id)}, ouverte) : "
                         "rien de plus à faire.")
    offer = JobOffer(company_id=company_id, lot_id=lot.id, title=data.title, place=data.place,
                     trade=data.trade or lot.trade, start_date=data.start,
                     duration_months=data.duration_months, hours_per_week=data.hours_per_week,
                     positions=data.positions, description=data.description,
                     created_at=ctx.clock.now())
    session.add(offer)
    session.flush()
    owner = session.get(Company, company_id)
    raise_alert(session, kind=AlertKind.AUTRE, facilitator_id=owner.facilitator_id if owner else None,
                subject_type="job_offer", subject_id=offer.id, dedup_key=f"offer:{offer.id}:approve",
                message=f"Offre d'emploi à valider avant diffusion aux partenaires : {_describe(session, offer)}.",
                buttons=[[("📣 Valider et diffuser", f"off:ok:{offer.id}"),
                          ("🚫 Fermer", f"off:cl:{offer.id}")]])
    audit.record(session, actor, "job_offer.create", "job_offer", offer.id, company_id=company_id)
    return offer


def _get_offer(session: Session, offer_id: int) -> JobOffer:
    offer = session.get(JobOffer, offer_id)
    if offer is None:
        raise OfferError(f"L'offre {reference(offer_id)} est introuvable : vérifiez la référence (/offres).")
    return offer


def partner_addresses(session: Session) -> list:
    """(contact id, address) of the active staff of the active prescriber organisations."""
    return list(session.execute(
        select(Contact.id, Contact.email).join(Prescriber, Prescriber.id == Contact.prescriber_id)
        .where(Contact.kind == ContactKind.PRESCRIPTEUR, Contact.active.is_(True),
               Prescriber.active.is_(True), Contact.email.is_not(None))
        .order_by(Contact.id)).all())


def approve_offer(ctx: Context, session: Session, actor: Actor, offer_id: int) -> tuple[JobOffer, int]:
    """Approve and broadcast (once: pressed twice, nothing is sent again). Returns the number of
    partner addresses it was e-mailed to."""
    authorize(session, actor, Action.CANDIDATURE_DECIDE)
    offer = _get_offer(session, offer_id)
    if offer.status != JobOfferStatus.OUVERTE:
        raise OfferError(f"L'offre {reference(offer.id)} est {offer.status.value} : elle ne peut plus être diffusée.")
    if offer.approved_at is not None:
        raise OfferError(f"L'offre {reference(offer.id)} est déjà validée et diffusée "
                         f"(le {fr_date(offer.approved_at.date())}) : rien de plus à faire.")
    addresses = partner_addresses(session)
    if not addresses:
        raise OfferError("Aucun partenaire à qui diffuser l'offre : enregistrez les adresses des "
                         "prescripteurs (clausebot prescripteur create ... --email).")
    offer.approved_at = ctx.clock.now()
    ref = reference(offer.id)
    body = (f"Bonjour,\n\nUne entreprise du territoire recrute dans le cadre d'une clause sociale "
            f"d'insertion :\n\n{_describe(session, offer)}.\n\nPour proposer une personne, répondez "
            f"à cette adresse en indiquant la référence {ref} dans l'objet, puis sur des lignes "
            "séparées « Nom : ... », « Prénom : ... » et « Critères : ... » (une candidature par "
            "message, CV joint si possible). La·le facilitateur·rice vérifie l'éligibilité de "
            "chaque candidature.\n\nCordialement.")
    for contact_id, email in addresses:
        enqueue_email(session, dedup_key=f"offer:{offer.id}:broadcast:{contact_id}", to=email,
                      subject=f"Offre d'emploi {ref} : {offer.title}", text=body)
    _tell_company(session, offer, f"Votre offre « {offer.title} » est diffusée aux partenaires de "
                  f"l'emploi sous la référence {ref}. Les candidatures vous seront présentées après "
                  "validation de leur éligibilité.", f"offer:{offer.id}:approved")
    if actor.user_id is not None:  # the approval answers the alert that asked for it
        resolve_alerts(session, "job_offer", offer.id, actor.user_id)
    audit.record(session, actor, "job_offer.approve", "job_offer", offer.id, partners=len(addresses))
    return offer, len(addresses)


def _company_users(session: Session, company_id: int) -> list[int]:
    return list(session.scalars(select(User.id).where(
        User.company_id == company_id, User.role == Role.ENTREPRISE, User.active.is_(True))))


def _tell_company(session: Session, offer: JobOffer, text: str, key: str,
                  markup: dict | None = None) -> int:
    sent = 0
    for user_id in _company_users(session, offer.company_id):
        if enqueue_chat(session, dedup_key=f"{key}:{user_id}", user_id=user_id, text=text,
                        reply_markup=markup) is not None:
            sent += 1
    return sent


def open_offer(session: Session, offer_id: int, *, company_id: int | None = None) -> JobOffer:
    """The offer an application quotes, if it may still receive applications."""
    offer = session.get(JobOffer, offer_id)
    if offer is None or offer.approved_at is None or (
            company_id is not None and offer.company_id != company_id):
        raise OfferError(f"L'offre {reference(offer_id)} est introuvable : vérifiez la référence "
                         "indiquée dans le message de diffusion.")
    if offer.status != JobOfferStatus.OUVERTE:
        raise OfferError(f"L'offre {reference(offer_id)} n'est plus ouverte "
                         f"({'pourvue' if offer.status == JobOfferStatus.POURVUE else 'fermée'}) : "
                         "elle ne reçoit plus de candidatures.")
    return offer


def check_not_applied(session: Session, offer_id: int, participant: Participant) -> None:
    """One application per person and offer (a prescriber sending it twice, a company and a
    prescriber proposing the same person): the same record, or the same names and no differing
    birth date, since a second message may create a doubtful new record (clauses.identity)."""
    same = session.scalar(select(Candidature.id).join(
        Participant, Participant.id == Candidature.participant_id).where(
        Candidature.job_offer_id == offer_id,
        (Candidature.participant_id == participant.id) | (
            (func.lower(Participant.last_name) == participant.last_name.lower())
            & (func.lower(Participant.first_name) == participant.first_name.lower())
            & (Participant.birth_date.is_(None) | (participant.birth_date is None)
               | (Participant.birth_date == participant.birth_date)))).limit(1))
    if same is not None:
        raise OfferError(f"Cette personne est déjà candidate à l'offre {reference(offer_id)} "
                         f"(candidature n° {same}) : rien n'a été enregistré.")


@dataclass(frozen=True)
class OfferRow:
    offer_id: int
    description: str
    status: JobOfferStatus
    approved: bool
    applications: int
    validated: int


def list_offers(session: Session, actor: Actor, *, open_only: bool = False) -> list[OfferRow]:
    """Offers with their application counts; a company sees its own."""
    q = select(JobOffer).order_by(JobOffer.id)
    if actor.role == Role.ENTREPRISE:
        q = q.where(JobOffer.company_id == actor.company_id)
    else:
        authorize(session, actor, Action.CANDIDATURE_READ)
    if open_only:
        q = q.where(JobOffer.status == JobOfferStatus.OUVERTE)
    offers = list(session.scalars(q))
    counts = {(oid, st): n for oid, st, n in session.execute(
        select(Candidature.job_offer_id, Candidature.status, func.count())
        .where(Candidature.job_offer_id.in_([o.id for o in offers]))
        .group_by(Candidature.job_offer_id, Candidature.status))}
    return [OfferRow(o.id, _describe(session, o), o.status, o.approved_at is not None,
                     sum(n for (oid, _), n in counts.items() if oid == o.id),
                     counts.get((o.id, CandidatureStatus.VALIDEE), 0)) for o in offers]


@dataclass(frozen=True)
class ApplicationRow:
    candidature_id: int
    person: str
    status: CandidatureStatus
    chosen: bool


def offer_applications(session: Session, actor: Actor, offer_id: int) -> list[ApplicationRow]:
    """The candidatures quoting the offer (staff only: names and statuses)."""
    authorize(session, actor, Action.CANDIDATURE_DECIDE)
    _get_offer(session, offer_id)
    rows = session.execute(
        select(Candidature.id, Participant.last_name, Participant.first_name, Candidature.status,
               Candidature.chosen_at)
        .join(Participant, Participant.id == Candidature.participant_id)
        .where(Candidature.job_offer_id == offer_id).order_by(Candidature.id))
    return [ApplicationRow(cid, person_name(last, first), status, chosen is not None)
            for cid, last, first, status, chosen in rows]


def send_preselection(ctx: Context, session: Session, actor: Actor, offer_id: int,
                      candidature_ids: list[int] | None = None) -> list[int]:
    """Send the company a chat message with one button per pre-selected validated candidate.

    Without ids: every validated candidature of the offer not chosen yet. An id not on the offer
    or not validated refuses the whole pre-selection."""
    authorize(session, actor, Action.CANDIDATURE_DECIDE)
    offer = open_offer(session, offer_id)
    cands = {c.id: c for c in session.scalars(select(Candidature).where(
        Candidature.job_offer_id == offer.id, Candidature.chosen_at.is_(None)))}
    if candidature_ids:
        for cid in candidature_ids:
            cand = cands.get(cid)
            if cand is None:
                raise OfferError(f"La candidature n° {cid} ne répond pas à l'offre {reference(offer.id)} "
                                 "(ou la personne est déjà choisie) : rien n'a été envoyé.")
            if cand.status != CandidatureStatus.VALIDEE:
                raise OfferError(f"La candidature n° {cid} n'est pas validée ({cand.status.value}) : "
                                 "seules les candidatures validées sont présélectionnées. Rien n'a été envoyé.")
        chosen = [cands[cid] for cid in dict.fromkeys(candidature_ids)]
    else:
        chosen = [c for c in cands.values() if c.status == CandidatureStatus.VALIDEE]
    if not chosen:
        raise OfferError(f"Aucune candidature validée à présélectionner pour l'offre {reference(offer.id)} : "
                         "validez d'abord les candidatures reçues.")
    names = {p.id: p.display_name for p in session.scalars(select(Participant).where(
        Participant.id.in_([c.participant_id for c in chosen])))}
    buttons = [[(f"✅ {names[c.participant_id]}"[:60], f"off:ch:{c.id}")] for c in chosen]
    text = (f"Présélection pour votre offre {reference(offer.id)} « {offer.title} » : "
            f"{len(chosen)} candidature(s) validée(s) par la·le facilitateur·rice :\n"
            + "\n".join(f"• {names[c.participant_id]} (candidature n° {c.id})" for c in chosen)
            + "\nChoisissez la ou les personnes retenues avec les boutons.")
    key = f"offer:{offer.id}:preselection:{'-'.join(str(c.id) for c in chosen)}"
    if _tell_company(session, offer, text, key, keyboard(buttons)) == 0:
        raise OfferError("L'entreprise n'a pas encore de compte dans le chat : envoyez-lui une "
                         "invitation (clausebot invitation create) puis recommencez.")
    audit.record(session, actor, "job_offer.preselection", "job_offer", offer.id,
                 candidatures=[c.id for c in chosen])
    return [c.id for c in chosen]


def choose_candidate(ctx: Context, session: Session, actor: Actor, candidature_id: int
                     ) -> tuple[Candidature, str, dict]:
    """The company chooses a pre-selected person: the answer leads to the usual hire."""
    authorize(session, actor, Action.CONTRACT_WRITE, "candidature", candidature_id)
    cand = session.get(Candidature, candidature_id)
    if cand is None or cand.job_offer_id is None:
        raise NotAllowed()
    participant = session.get(Participant, cand.participant_id)
    assert participant is not None
    hire = keyboard([[("👷 Déclarer l'embauche", f"h:c:{cand.id}")]])
    if cand.chosen_at is not None:
        return cand, (f"{participant.display_name} est déjà retenu·e pour l'offre "
                      f"{reference(cand.job_offer_id)} : déclarez l'embauche."), hire
    offer = open_offer(session, cand.job_offer_id)
    if cand.status != CandidatureStatus.VALIDEE:
        raise OfferError(f"La candidature n° {cand.id} n'est plus disponible ({cand.status.value}).")
    cand.chosen_at = ctx.clock.now()
    session.flush()
    taken = session.scalar(select(func.count()).select_from(Candidature).where(
        Candidature.job_offer_id == offer.id, Candidature.chosen_at.is_not(None))) or 0
    filled = taken >= offer.positions
    if filled:
        _finish(ctx, session, offer, JobOfferStatus.POURVUE)
    audit.record(session, actor, "job_offer.choose", "participant", cand.participant_id,
                 candidature_id=cand.id, job_offer_id=offer.id)
    text = (f"Vous avez retenu {participant.display_name} pour l'offre {reference(offer.id)}"
            + (" : l'offre est pourvue." if filled else f" ({taken}/{offer.positions} postes).")
            + f" Déclarez l'embauche avec le bouton ci-dessous (ou /embauche {cand.id}).")
    return cand, text, hire


def close_offer(ctx: Context, session: Session, actor: Actor, offer_id: int) -> JobOffer:
    """Close an offer without (all) its positions filled; the waiting candidates are told."""
    authorize(session, actor, Action.CANDIDATURE_DECIDE)
    offer = _get_offer(session, offer_id)
    if offer.status != JobOfferStatus.OUVERTE:
        raise OfferError(f"L'offre {reference(offer.id)} est déjà {offer.status.value} : rien à faire.")
    _finish(ctx, session, offer, JobOfferStatus.FERMEE)
    if actor.user_id is not None:
        resolve_alerts(session, "job_offer", offer.id, actor.user_id)
    audit.record(session, actor, "job_offer.close", "job_offer", offer.id)
    return offer


def _finish(ctx: Context, session: Session, offer: JobOffer, status: JobOfferStatus) -> None:
    """Fill or close the offer; withdraw the candidatures not chosen and tell their prescribers
    (annex D feedback), with the candidature number and initials only."""
    offer.status = status
    offer.closed_at = ctx.clock.now()
    why = "l'offre a été pourvue" if status == JobOfferStatus.POURVUE else "l'offre a été fermée"
    waiting = session.scalars(select(Candidature).where(
        Candidature.job_offer_id == offer.id, Candidature.chosen_at.is_(None),
        Candidature.status.in_([CandidatureStatus.A_VALIDER, CandidatureStatus.VALIDEE])))
    for cand in waiting:
        cand.status = CandidatureStatus.RETIREE
        person = session.get(Participant, cand.participant_id)
        initials = f"{person.first_name[:1]}. {person.last_name[:1]}." if person else "?"
        text = (f"Bonjour,\n\nLa candidature n° {cand.id} ({initials}) proposée pour l'offre "
                f"{reference(offer.id)} « {offer.title} » n'a pas été retenue : {why}. La personne "
                "reste connue de nos services pour d'autres offres.\n\nCordialement.")
        to = cand.submitted_by_email or (session.scalar(select(User.email).where(
            User.id == cand.submitted_by_user_id)) if cand.submitted_by_user_id else None)
        if to and cand.prescriber_id is not None:
            enqueue_email(session, dedup_key=f"offer:{offer.id}:not_chosen:{cand.id}", to=to,
                          subject=f"Offre {reference(offer.id)} : candidature n° {cand.id} non retenue",
                          text=text)
