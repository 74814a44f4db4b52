"""Candidatures: proposed by a company or a prescriber, validated by a facilitator before hiring.

The facilitator's decision is the eligibility validation the seed requires ("chaque candidature
devra être validée par l'AMOI"): accepting records each claimed criterion as validated, by whom
and when; refusing keeps a reason, and the rejected person's data are purged after the
retention period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.alerts import keyboard, raise_alert
from clauses.authz import Action, authorize, is_allowed
from clauses.authz import NotAllowed as NotAllowed
from clauses.context import Context
from clauses.errors import DomainError
from clauses.hire_notice import tell_company_of_validation
from clauses.identity import possible_duplicate_alert, resolve_participant
from clauses.outbox import enqueue_chat, enqueue_email
from clauses.typology import apply_typology, check_typology, profile_summary
from storage.models import (
    AlertKind,
    Candidature,
    CandidatureStatus,
    Channel,
    Company,
    Eligibility,
    Participant,
    Role,
    User,
)

MAX_NAME = 100


@dataclass
class CandidateInput:
    last_name: str
    first_name: str
    birth_date: dt.date | None = None
    gender: str | None = None
    commune: str | None = None
    qpv: bool = False
    email: str | None = None
    phone: str | None = None
    criteria_claimed: list[str] = field(default_factory=list)
    message: str | None = None


def _clean_name(value: str, what: str) -> str:
    value = " ".join((value or "").split())
    if not value or len(value) > MAX_NAME or any(ch.isdigit() for ch in value):
        raise DomainError(f"{what} invalide : indiquez un {what.lower()} en lettres ({MAX_NAME} caractères au plus).")
    return value


def _check_criteria(ctx: Context, keys: list[str]) -> list[str]:
    catalogue = ctx.rulebook.eligibility.criteria
    unknown = [k for k in keys if k not in catalogue]
    if unknown:
        valid = ", ".join(f"{k} ({c.short})" for k, c in catalogue.items())
        raise DomainError(f"Critère(s) inconnu(s) : {', '.join(unknown)}. Critères possibles : {valid}.")
    return list(dict.fromkeys(keys))


def submit_candidature(
    ctx: Context,
    session: Session,
    actor: Actor,
    candidate: CandidateInput,
    *,
    company_id: int | None = None,
    lot_id: int | None = None,
    prescriber_id: int | None = None,
    cv_document_id: int | None = None,
    source: Channel,
    idempotency_key: str | None = None,
    birth_date: dt.date | int | str | None = None,
    gender: str | None = None,
    commune: str | None = None,
    qpv: bool | str | None = None,
    status_at_entry: str | None = None,
    same_person: int | None = None,
    job_offer_id: int | None = None,
) -> Candidature:
    """Record a candidature to validate and alert the facilitator in charge.

    The typology keywords (``birth_date`` — a date or a year —, ``gender``, ``commune``,
    ``qpv``, ``status_at_entry``) are what the bilans need; all optional, checked by
    :mod:`clauses.typology`, and they only fill what a known person does not have yet.
    `same_person`: the chat submitter's answer when the candidate matched a known person
    (:mod:`clauses.identity`): her id, or 0 for "another person".
    `job_offer_id`: the offer the application quotes (:mod:`clauses.job_offers`): it must be
    open, and sets the company and lot.
    """
    if actor.role == Role.ENTREPRISE:
        company_id = actor.company_id
    if actor.role == Role.PRESCRIPTEUR:
        prescriber_id = actor.prescriber_id
    authorize(session, actor, Action.CANDIDATURE_SUBMIT)
    if idempotency_key:
        existing = session.scalar(select(Candidature).where(Candidature.idempotency_key == idempotency_key))
        if existing is not None:
            return existing
    if job_offer_id is not None:
        from clauses.job_offers import open_offer

        offer = open_offer(session, job_offer_id,
                           company_id=actor.company_id if actor.role == Role.ENTREPRISE else None)
        company_id, lot_id = offer.company_id, offer.lot_id
    candidate.last_name = _clean_name(candidate.last_name, "Nom")
    candidate.first_name = _clean_name(candidate.first_name, "Prénom")
    criteria = _check_criteria(ctx, candidate.criteria_claimed)
    typology = check_typology(
        ctx, birth_date=birth_date if birth_date is not None else candidate.birth_date,
        gender=gender if gender is not None else candidate.gender,
        commune=commune if commune is not None else candidate.commune,
        qpv=qpv if qpv is not None else (candidate.qpv or None), status_at_entry=status_at_entry)
    candidate.birth_date, candidate.gender = typology.birth_date, typology.gender
    candidate.commune, candidate.qpv = typology.commune, bool(typology.qpv)
    participant, doubts = resolve_participant(
        session, candidate, company_id=company_id, prescriber_id=prescriber_id,
        same_person=same_person, can_ask=source in (Channel.TELEGRAM, Channel.CONSOLE))
    apply_typology(participant, typology, overwrite=False)
    if job_offer_id is not None:
        from clauses.job_offers import check_not_applied

        check_not_applied(session, job_offer_id, participant)
    cand = Candidature(
        participant_id=participant.id, company_id=company_id, lot_id=lot_id,
        prescriber_id=prescriber_id, source=source, submitted_by_user_id=actor.user_id,
        submitted_by_email=actor.email, criteria_claimed=criteria,
        message=(candidate.message or "")[:4000] or None, cv_document_id=cv_document_id,
        idempotency_key=idempotency_key, created_at=ctx.clock.now(), job_offer_id=job_offer_id,
    )
    session.add(cand)
    session.flush()
    company = session.get(Company, company_id) if company_id else None
    labels = ", ".join(ctx.rulebook.eligibility.criteria[k].short for k in criteria) or "aucun critère indiqué"
    raise_alert(
        session,
        kind=AlertKind.CANDIDATURE_A_VALIDER,
        facilitator_id=company.facilitator_id if company else None,
        subject_type="candidature",
        subject_id=cand.id,
        dedup_key=f"candidature:{cand.id}",
        message=(
            f"Candidature n° {cand.id} à valider : {participant.display_name}"
            + (f" pour {company.name}" if company else "")
            + (f" (offre OFF-{job_offer_id})" if job_offer_id else "")
            + f" — critères déclarés : {labels}"
            + (" — CV joint" if cv_document_id else "")
            + f" (reçue par {source.value})."
            + "\n" + profile_summary(ctx, participant, cand.id)
        ),
        buttons=[[("✅ Valider", f"cand:ok:{cand.id}"), ("❌ Refuser", f"cand:no:{cand.id}")]]
        + ([[("📄 Voir le CV", f"cv:{cand.id}")]] if cv_document_id else []),
    )
    for doubt in doubts[:3]:
        possible_duplicate_alert(session, participant, doubt, company.facilitator_id if company else None)
    audit.record(session, actor, "candidature.submit", "participant", participant.id, candidature_id=cand.id)
    return cand


def decide_candidature(
    ctx: Context,
    session: Session,
    actor: Actor,
    candidature_id: int,
    *,
    accept: bool,
    reason: str | None = None,
    proof_date: dt.date | None = None,
) -> Candidature:
    """Validate (criteria become validated eligibility) or refuse; tell whoever proposed it."""
    authorize(session, actor, Action.CANDIDATURE_DECIDE, "candidature", candidature_id)
    cand = session.get(Candidature, candidature_id)
    if cand is None:
        raise NotAllowed()
    if cand.status != CandidatureStatus.A_VALIDER:
        raise DomainError(
            f"La candidature n° {cand.id} a déjà été traitée ({cand.status.value}) : rien à faire."
        )
    if not accept and not (reason and reason.strip()):
        raise DomainError("Indiquez le motif du refus : il est transmis à qui a proposé la candidature.")
    now = ctx.clock.now()
    cand.decided_by_id = actor.user_id
    cand.decided_at = now
    participant = session.get(Participant, cand.participant_id)
    if accept:
        cand.status = CandidatureStatus.VALIDEE
        for key in cand.criteria_claimed or []:
            exists_ = session.scalar(
                select(Eligibility).where(
                    Eligibility.participant_id == cand.participant_id,
                    Eligibility.criterion == key,
                    Eligibility.proof_date == (proof_date or ctx.clock.today()),
                )
            )
            if exists_ is None:
                session.add(Eligibility(
                    participant_id=cand.participant_id, criterion=key,
                    proof_date=proof_date or ctx.clock.today(),
                    validated_by_id=actor.user_id, validated_at=now,
                ))
        if participant is not None and participant.status_at_entry is None and cand.criteria_claimed:
            participant.status_at_entry = cand.criteria_claimed[0]
        outcome = ("est validé par la·le facilitateur·rice : son éligibilité à la clause "
                   "d'insertion est confirmée")
    else:
        cand.status = CandidatureStatus.REFUSEE
        cand.refusal_reason = reason.strip()[:1000] if reason else None
        outcome = (f"n'est pas retenu par la·le facilitateur·rice (motif : "
                   f"{cand.refusal_reason})")
    if participant is not None:
        participant.last_activity_at = now
    _notify_submitter(session, cand, participant, outcome)
    tell_company_of_validation(session, cand, participant)
    audit.record(session, actor, "candidature.decide", "participant", cand.participant_id,
                 candidature_id=cand.id, accept=accept)
    session.flush()
    return cand


def _notify_submitter(session: Session, cand: Candidature, participant: Participant | None, outcome: str) -> None:
    """Least data that serves: the candidature number and the person's initials.

    Worded as a decision on the candidate the submitter proposed (« Votre candidature a été
    validée » read, to a company, as if the company itself had applied)."""
    who = f"{participant.last_name.upper()} {participant.first_name[:1]}., " if participant else ""
    text = f"Le candidat que vous avez proposé, {who}candidature n° {cand.id}, {outcome}."
    markup = hire_button(cand)
    chat_text = text
    if markup is not None:
        chat_text += (" Une fois la personne embauchée, déclarez l'embauche avec le bouton "
                      f"ci-dessous (ou /embauche {cand.id}).")
        text += (" Une fois la personne embauchée, déclarez l'embauche dans l'onglet "
                 f"« Embauches » du modèle de déclaration (candidature n° {cand.id}).")
    key = f"candidature:{cand.id}:decision"
    if cand.submitted_by_user_id is not None:
        if enqueue_chat(session, dedup_key=key, user_id=cand.submitted_by_user_id,
                        text=chat_text, reply_markup=markup) is not None:
            return
        user = session.get(User, cand.submitted_by_user_id)
        if user is not None and user.email:
            enqueue_email(session, dedup_key=key, to=user.email,
                          subject=f"Candidature n° {cand.id} : décision", text=text)
            return
    if cand.submitted_by_email:
        enqueue_email(session, dedup_key=key, to=cand.submitted_by_email,
                      subject=f"Candidature n° {cand.id} : décision", text=text)


def hire_button(cand: Candidature) -> dict | None:
    """« Déclarer l'embauche » on a validated candidature's notice to the company that proposed
    it (the guided hire of bot/flows/hire.py starts from it)."""
    if cand.status != CandidatureStatus.VALIDEE or cand.company_id is None \
            or cand.prescriber_id is not None:  # a prescriber's: the notice goes to them
        return None
    return keyboard([[("👷 Déclarer l'embauche", f"h:c:{cand.id}")]])


def candidatures_for_actor(session: Session, actor: Actor, *, status: CandidatureStatus | None = None,
                           limit: int = 50) -> list[Candidature]:
    q = select(Candidature).order_by(Candidature.created_at.desc()).limit(limit)
    if status is not None:
        q = q.where(Candidature.status == status)
    if not is_allowed(session, actor, Action.CANDIDATURE_READ):
        return []
    if actor.role == Role.ENTREPRISE:
        q = q.where(Candidature.company_id == actor.company_id)
    elif actor.role == Role.PRESCRIPTEUR:
        q = q.where(Candidature.prescriber_id == actor.prescriber_id)
    return list(session.scalars(q))
