"""The escalation procedure, persisted: the pure machine of :mod:`clauses.escalation` plus storage.

Each use case loads the case (locked), rebuilds the machine's state from the row and its steps,
lets :func:`clauses.escalation.apply_transition` decide, then writes the new state and a dated
:class:`~storage.models.EscalationStep` (who, when, what), in the caller's transaction. Side
effects travel through the outbox in that same transaction:

* the letter recalling the obligations (with its deadline) to the company's contacts, copied to the
  donneur's référents, once the buyer's consent is recorded (:func:`approve_letter`);
* the buyer alert to the référents when the deadline passed or the company refused;
* the penalty computation (:mod:`clauses.penalties`) at ``calcul_penalites``, sent to the
  référents, since the buyer is the one who applies penalties;
* an alert to the facilitator when enough contacts are recorded for the letter to be possible.

A refused move (illegal, consent missing, deadline not passed...) raises the machine's typed
error with its French message and leaves nothing written: every use case works in a SAVEPOINT.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from clauses import audit
from clauses import escalation as machine
from clauses.actions import ActionButton, ActionKind
from clauses.actors import Actor
from clauses.alerts import Button, raise_alert
from clauses.authz import Action, authorize
from clauses.context import Context
from clauses.errors import DomainError, EscalationError
from clauses.escalation_letters import LetterFacts, queue_letter
from clauses.formatting import fr_date, fr_money, fr_number, fr_percent
from clauses.penalties import PenaltyResult, PenaltyTerms, compute_penalties, statement_lines
from clauses.progress import engagement_progress
from clauses.reminders import company_recipients, donneur_recipients
from storage.models import (
    AlertKind,
    Company,
    Contract,
    Donneur,
    Engagement,
    EscalationCase,
    EscalationState,
    EscalationStep,
    HourDeclaration,
    Lot,
    Market,
    User,
)

OPENING_EVENT = "ouverture"
CONSENT_EVENT = "accord_donneur"
CONSENT_ASKED_EVENT = "accord_demande"
ANSWER_EVENT = "reponse_entreprise"
NOTE_EVENTS = {
    OPENING_EVENT: "ouverture de la procédure",
    CONSENT_ASKED_EVENT: "accord du donneur d'ordre demandé",
    CONSENT_EVENT: "accord du donneur d'ordre",
    ANSWER_EVENT: "réponse de l'entreprise",
}
"""Steps that record a fact without moving the machine (labels of the history)."""
CHANNEL_LABELS = {"telephone": "téléphone", "email": "e-mail", "rencontre": "rencontre",
                  "courrier": "courrier", "chat": "chat"}
_E = machine.EscalationEvent


class CaseNotFound(EscalationError):
    code = "escalation_case_not_found"

    def __init__(self, case_id: int) -> None:
        super().__init__(f"Procédure n° {case_id} introuvable.", f"No escalation case {case_id}.",
                         details={"case_id": case_id})


class CaseAlreadyOpen(EscalationError):
    code = "escalation_case_already_open"


class NoAddressError(EscalationError):
    code = "escalation_no_address"


class NoPenaltyTermsError(EscalationError):
    """The lot has no penalty terms: the contract's figures must be entered, not guessed."""

    code = "escalation_no_penalty_terms"

    def __init__(self, reference: str, lot_number: int, rulebook: object) -> None:
        rules = rulebook.penalties  # type: ignore[attr-defined]
        super().__init__(
            f"Le lot {lot_number} du marché {reference} n'a pas de termes de pénalités : "
            "saisissez ceux du marché avant le calcul, par exemple « clausebot lot penalites "
            f"--marche {reference} --lot {lot_number} --par-heure {fr_number(rules.per_missing_hour)} "
            f"--par-jour {fr_number(rules.per_day_late)} --plafond {fr_percent(rules.cap_share)} » "
            "(valeurs par défaut du règlement : "
            f"{fr_money(rules.per_missing_hour, ht=True)} par heure manquante, "
            f"{fr_money(rules.per_day_late, ht=True)} par jour de retard, plafond "
            f"{fr_percent(rules.cap_share)} du montant du lot).",
            f"Lot {lot_number} of market {reference} has no penalty terms.",
            details={"market": reference, "lot": lot_number},
        )


@dataclass(frozen=True)
class StepView:
    at: dt.datetime
    event: str
    label_fr: str
    from_state: str | None
    to_state: str
    by: str | None
    note: str | None
    channel: str | None = None

    @property
    def description_fr(self) -> str:
        local = self.at.astimezone(machine.PARIS)
        how = f" par {CHANNEL_LABELS.get(self.channel, self.channel)}" if self.channel else ""
        who = f" ({self.by})" if self.by else ""
        note = f" — {self.note}" if self.note else ""
        return f"{fr_date(local.date())} {local:%H:%M} : {self.label_fr}{how}{who}{note}"


@dataclass(frozen=True)
class CaseView:
    case_id: int
    engagement_id: int
    company_id: int
    company_name: str
    market_reference: str
    lot_number: int
    donneur_name: str
    state: str
    state_label: str
    opened_at: dt.datetime
    contacts: int
    written_contacts: int
    buyer_consent_at: dt.datetime | None
    letter_sent_on: dt.date | None
    letter_deadline: dt.date | None
    deadline_passed: bool
    penalty_amount: Decimal | None
    allowed: tuple[tuple[str, str], ...]
    """(event key, French label) of each move possible from the current state."""


@dataclass(frozen=True)
class _Subject:
    """The engagement a case is about, with what the letters quote."""

    engagement: Engagement
    lot: Lot
    market: Market
    company: Company
    donneur: Donneur


# --- loading --------------------------------------------------------------------------------


def alert_facilitator(session: Session, row: EscalationCase, subject: _Subject, kind: AlertKind,
                      dedup_key: str, message: str,
                      buttons: Sequence[Sequence[Button]] | None = None) -> None:
    """An alert about a case, to the facilitator in charge: the company's, else the market's."""
    raise_alert(session, kind=kind,
                facilitator_id=subject.company.facilitator_id or subject.market.facilitator_id,
                subject_type="escalation", subject_id=row.id, dedup_key=dedup_key,
                message=message, buttons=buttons)


def _subject(session: Session, engagement_id: int) -> _Subject | None:
    row = session.execute(
        select(Engagement, Lot, Market, Company, Donneur)
        .join(Lot, Lot.id == Engagement.lot_id)
        .join(Market, Market.id == Lot.market_id)
        .join(Company, Company.id == Engagement.company_id)
        .join(Donneur, Donneur.id == Market.donneur_id)
        .where(Engagement.id == engagement_id)
    ).one_or_none()
    return _Subject(*row) if row is not None else None


def _load(session: Session, case_id: int) -> EscalationCase:
    row = session.scalar(
        select(EscalationCase).where(EscalationCase.id == case_id).with_for_update()
    )
    if row is None:
        raise CaseNotFound(case_id)
    return row


def _local_day(at: dt.datetime | None) -> dt.date | None:
    return machine.local_day(at) if at is not None else None


def to_machine(row: EscalationCase) -> machine.EscalationCase:
    """The machine's view of a stored case (contact counts come from the recorded steps)."""
    events = [s.event for s in row.steps]
    day_of = {s.event: machine.local_day(s.at) for s in row.steps}
    return machine.EscalationCase(
        status=machine.EscalationStatus(row.state.value),
        opened_on=_local_day(row.opened_at),
        contacts=sum(e in (_E.CONTACT, _E.RELANCE_ECRITE) for e in events),
        written_contacts=sum(e == _E.RELANCE_ECRITE for e in events),
        consent_at=row.buyer_consent_at,
        letter_on=row.letter_sent_on,
        deadline=row.letter_deadline,
        alerted_on=day_of.get(_E.ALERTE_DONNEUR.value),
        default_notified_on=row.formal_notice_on,
        penalties_on=day_of.get(_E.CALCUL_PENALITES.value),
        penalty_amount=row.penalty_amount,
        closed_on=_local_day(row.closed_at),
        outcome=machine.EscalationOutcome(row.outcome) if row.outcome else None,
    )


def _done_hours(session: Session, engagement_id: int, at: dt.date) -> Decimal:
    done = session.scalar(
        select(func.coalesce(func.sum(HourDeclaration.counted_hours), 0))
        .join(Contract, Contract.id == HourDeclaration.contract_id)
        .where(Contract.engagement_id == engagement_id, HourDeclaration.month <= at)
    )
    return Decimal(done or 0)


# --- use cases ------------------------------------------------------------------------------


def open_case(
    ctx: Context, session: Session, actor: Actor, engagement_id: int, *, note: str | None = None
) -> EscalationCase:
    """Open the procedure on an engagement; refused while another one is open on it."""
    authorize(session, actor, Action.ESCALATION_ACT, "engagement", engagement_id)
    engagement = session.scalar(
        select(Engagement).where(Engagement.id == engagement_id).with_for_update()
    )
    if engagement is None:
        raise DomainError("Engagement introuvable.", "Unknown engagement.")
    current = session.scalar(
        select(EscalationCase).where(EscalationCase.engagement_id == engagement_id,
                                     EscalationCase.state != EscalationState.CLOS)
    )
    if current is not None:
        raise CaseAlreadyOpen(
            f"Une procédure est déjà ouverte pour cet engagement (n° {current.id}, état « "
            f"{machine.EscalationStatus(current.state.value).label_fr} »).",
            f"Case {current.id} is already open for engagement {engagement_id}.",
            details={"case_id": current.id},
        )
    now = ctx.clock.now()
    case = EscalationCase(engagement_id=engagement_id, state=EscalationState.OUVERT,
                          opened_at=now, opened_by_id=actor.user_id)
    session.add(case)
    session.flush()
    session.add(EscalationStep(case_id=case.id, from_state=None, to_state=EscalationState.OUVERT,
                               event=OPENING_EVENT, at=now, by_user_id=actor.user_id,
                               note=_who_note(actor, note)))
    audit.record(session, actor, "escalation.open", "escalation", case.id,
                 engagement_id=engagement_id)
    session.flush()
    return case


def record_consent(
    ctx: Context, session: Session, actor: Actor, case_id: int, note: str | None = None
) -> EscalationCase:
    """Record the buyer's consent to the letter (kept when already recorded)."""
    authorize(session, actor, Action.ESCALATION_ACT)
    with session.begin_nested():
        row = _load(session, case_id)
        _record_consent(ctx, session, actor, row, note)
    return row


def transition(
    ctx: Context,
    session: Session,
    actor: Actor,
    case_id: int,
    event: str,
    note: str | None = None,
    consent_note: str | None = None,
    *,
    refused: bool = False,
    days_late: int | None = None,
) -> EscalationCase:
    """Apply ``event`` to the case; record the step and do what the step implies.

    ``consent_note`` records the buyer's consent first (needed before the letter).
    ``refused=True`` lets the buyer be alerted before the deadline (the company refused).
    ``days_late`` overrides the late days counted by the penalty computation.
    """
    authorize(session, actor, Action.ESCALATION_ACT)
    with session.begin_nested():
        row = _load(session, case_id)
        if consent_note is not None:
            _record_consent(ctx, session, actor, row, consent_note)
        _apply(ctx, session, actor, row, event, note=note, refused=refused, days_late=days_late)
    return row


def approve_letter(
    ctx: Context, session: Session, actor: Actor, case_id: int, *, consent_note: str | None = None
) -> EscalationCase:
    """The buyer agreed: record the consent and send the letter with its deadline.

    A second press of the button, once the letter went out, changes nothing.
    """
    authorize(session, actor, Action.ESCALATION_ACT)
    with session.begin_nested():
        row = _load(session, case_id)
        if row.letter_sent_on is not None:
            return row
        _record_consent(ctx, session, actor, row, consent_note)
        _apply(ctx, session, actor, row, _E.COURRIER.value, note=None)
    return row


def _case_rows() -> Select[EscalationCase, Company, str, int, str]:
    """A case with what its view names: company, market reference, lot number, donneur."""
    return (
        select(EscalationCase, Company, Market.reference, Lot.number, Donneur.name)
        .join(Engagement, Engagement.id == EscalationCase.engagement_id)
        .join(Company, Company.id == Engagement.company_id)
        .join(Lot, Lot.id == Engagement.lot_id)
        .join(Market, Market.id == Lot.market_id)
        .join(Donneur, Donneur.id == Market.donneur_id)
    )


def open_cases(
    session: Session, actor: Actor, *, now: dt.datetime | None = None
) -> list[CaseView]:
    """Cases not closed, oldest first (staff only); ``now`` decides "deadline passed"."""
    authorize(session, actor, Action.ESCALATION_ACT)
    rows = session.execute(
        _case_rows()
        .where(EscalationCase.state != EscalationState.CLOS)
        .options(selectinload(EscalationCase.steps))
        .order_by(EscalationCase.opened_at, EscalationCase.id)
    ).all()
    now = now or dt.datetime.now(dt.UTC)
    return [_view(case, company, ref, number, donneur, now)
            for case, company, ref, number, donneur in rows]


def case_view(ctx: Context, session: Session, actor: Actor, case_id: int) -> CaseView:
    authorize(session, actor, Action.ESCALATION_ACT)
    row = session.execute(
        _case_rows()
        .where(EscalationCase.id == case_id)
    ).one_or_none()
    if row is None:
        raise CaseNotFound(case_id)
    return _view(*row, ctx.clock.now())


def history(session: Session, actor: Actor, case_id: int) -> list[StepView]:
    """The dated steps of a case, with who did each."""
    authorize(session, actor, Action.ESCALATION_ACT)
    rows = session.execute(
        select(EscalationStep, User.display_name)
        .outerjoin(User, User.id == EscalationStep.by_user_id)
        .where(EscalationStep.case_id == case_id)
        .order_by(EscalationStep.id)
    ).all()
    if not rows:
        raise CaseNotFound(case_id)
    return [_step_view(s, name) for s, name in rows]


def _step_view(s: EscalationStep, name: str | None) -> StepView:
    return StepView(at=s.at, event=s.event, label_fr=_event_label(s.event),
                    from_state=s.from_state.value if s.from_state else None,
                    to_state=s.to_state.value, by=name, note=s.note, channel=s.channel)


def deadline_passed(ctx: Context, row: EscalationCase) -> bool:
    """True when the letter's deadline day is over and the case still waits for an answer."""
    return row.state == EscalationState.COURRIER_ENVOYE and to_machine(row).is_deadline_passed(
        ctx.clock.now()
    )


# --- internals ------------------------------------------------------------------------------


def _who_note(actor: Actor, note: str | None) -> str | None:
    """Who acted, when no user account says it (the service itself, an e-mail sender)."""
    if actor.user_id is not None:
        return note
    who = f"par {actor.label}"
    return f"{note} ({who})" if note else who


def _event_label(event: str) -> str:
    if event in NOTE_EVENTS:
        return NOTE_EVENTS[event]
    try:
        return machine.EscalationEvent(event).label_fr
    except ValueError:
        return event


def _record_consent(
    ctx: Context, session: Session, actor: Actor, row: EscalationCase, note: str | None
) -> None:
    if row.buyer_consent_at is not None:
        return
    row.buyer_consent_at = ctx.clock.now()
    row.buyer_consent_note = note or f"Accord du donneur d'ordre enregistré par {actor.label}."
    row.buyer_consent_by = f"déclaré par {actor.label}"[:254]
    audit.record(session, actor, "escalation.consent", "escalation", row.id)


def _apply(
    ctx: Context,
    session: Session,
    actor: Actor,
    row: EscalationCase,
    event: str,
    *,
    note: str | None,
    refused: bool = False,
    days_late: int | None = None,
    channel: str | None = None,
) -> None:
    now = ctx.clock.now()
    today = machine.local_day(now)
    subject = _subject(session, row.engagement_id)
    if subject is None:  # the FK makes this impossible; say it plainly if it ever happens
        raise DomainError("Engagement de la procédure introuvable.", "Engagement missing.")
    current = to_machine(row)
    penalty = None
    if event == _E.CALCUL_PENALITES.value and _E.CALCUL_PENALITES in current.allowed_events():
        penalty = _penalty(ctx, session, row, subject, today, days_late)
    step = machine.apply_transition(
        current, event, at=now, actor=actor.label, rulebook=ctx.rulebook,
        consent_at=row.buyer_consent_at, refused=refused,
        penalty_amount=penalty.total if penalty else None, note=note,
    )
    new = step.case
    if step.step.event is _E.COURRIER:
        _send_letter(ctx, session, row, subject, new)
    elif step.step.event is _E.ALERTE_DONNEUR:
        _alert_buyer(ctx, session, row, subject, refused=refused)
    elif step.step.event is _E.CALCUL_PENALITES and penalty is not None:
        row.penalty_explanation = "\n".join(statement_lines(penalty))
        _send_penalties(ctx, session, row, subject, penalty)
    previous_state = row.state
    row.state = EscalationState(new.status.value)
    row.letter_sent_on = new.letter_on
    row.letter_deadline = new.deadline
    row.formal_notice_on = new.default_notified_on
    row.penalty_amount = new.penalty_amount
    row.outcome = new.outcome.value if new.outcome else None
    if new.status is machine.EscalationStatus.CLOS and row.closed_at is None:
        row.closed_at = now
    session.add(EscalationStep(case_id=row.id, from_state=previous_state, to_state=row.state,
                               event=step.step.event.value, at=now, by_user_id=actor.user_id,
                               note=_who_note(actor, note), channel=channel))
    audit.record(session, actor, f"escalation.{step.step.event.value}", "escalation", row.id,
                 engagement_id=row.engagement_id, refused=refused or None)
    session.flush()
    session.expire(row, ["steps"])
    if step.step.event in (_E.CONTACT, _E.RELANCE_ECRITE):
        _offer_letter(ctx, session, row, subject, new)


def _penalty(ctx: Context, session: Session, row: EscalationCase, subject: _Subject,
             today: dt.date, days_late: int | None):
    amount = subject.lot.amount_ht
    if amount is None:
        raise DomainError(
            f"Montant HT du lot {subject.lot.number} du marché {subject.market.reference} "
            "inconnu : renseignez-le avant de calculer les pénalités (plafond).",
            "Lot amount unknown: needed for the penalty cap.",
        )
    if days_late is None:
        deadline = row.letter_deadline
        days_late = max((today - deadline).days, 0) if deadline else 0
    if days_late < 0:
        raise DomainError("Le nombre de jours de retard ne peut pas être négatif.",
                          "Negative days late.")
    terms = PenaltyTerms(per_missing_hour=subject.lot.penalty_per_hour,
                         per_day_late=subject.lot.penalty_per_day_late,
                         cap_share=subject.lot.penalty_cap_share)
    if terms == PenaltyTerms():
        raise NoPenaltyTermsError(subject.market.reference, subject.lot.number, ctx.rulebook)
    done = _done_hours(session, row.engagement_id, today)
    return compute_penalties(subject.engagement.hours_owed, done, amount, days_late, terms,
                             ctx.rulebook)


def _facts(ctx: Context, session: Session, row: EscalationCase, subject: _Subject,
           new: machine.EscalationCase, today: dt.date) -> LetterFacts:
    """What the letters of this case quote, as of ``today``."""
    done = _done_hours(session, subject.engagement.id, today)
    p = engagement_progress(subject.engagement.hours_owed, done,
                            subject.lot.start_date or subject.market.start_date,
                            subject.lot.end_date or subject.market.end_date, today, ctx.rulebook)
    return LetterFacts(
        case_id=row.id, company_name=subject.company.name, donneur_name=subject.donneur.name,
        market_reference=subject.market.reference, market_title=subject.market.title,
        lot_number=subject.lot.number, lot_label=subject.lot.label, owed=p.owed, done=p.done,
        expected=p.expected, contacts=new.contacts, written_contacts=new.written_contacts,
        deadline_days=ctx.rulebook.escalation.letter_deadline_days,
        agency_name=ctx.policy.agency_name, agency_email=ctx.policy.agency_email)


def _about(subject: _Subject) -> str:
    return (f"marché {subject.market.reference} « {subject.market.title} », lot "
            f"{subject.lot.number} ({subject.lot.label})")


def _company_addresses(session: Session, company: Company) -> list[str]:
    addresses = [r.email for r in company_recipients(session, [company.id])[company.id] if r.email]
    if not addresses:
        raise NoAddressError(
            f"Aucune adresse e-mail connue pour {company.name} : ajoutez un contact de "
            "l'entreprise avant d'envoyer un courrier.",
            f"No e-mail address for company {company.id}.",
        )
    return addresses


def _send_letter(ctx: Context, session: Session, row: EscalationCase, subject: _Subject,
                 new: machine.EscalationCase) -> None:
    today = new.letter_on or machine.local_day(ctx.clock.now())
    facts = _facts(ctx, session, row, subject, new, today)
    consent_on = _local_day(row.buyer_consent_at)
    extra = {"deadline": fr_date(new.deadline) if new.deadline else "?", "copy": False,
             "consent_by": row.buyer_consent_by or subject.donneur.name,
             "consent_on": fr_date(consent_on) if consent_on else "?"}
    key = f"escalade_courrier:case:{row.id}"
    pdf = f"courrier-rappel-obligations-procedure-{row.id}.pdf"
    for address in _company_addresses(session, subject.company):
        queue_letter(ctx, session, dedup_key=f"{key}:{address}", to=address,
                     template="courrier", facts=facts, pdf_name=pdf, extra=extra, on=today)
    for r in donneur_recipients(session, subject.donneur.id):
        if r.email:
            queue_letter(ctx, session, dedup_key=f"{key}:{r.tag}", to=r.email,
                         template="courrier", facts=facts, pdf_name=pdf,
                         extra={**extra, "copy": True}, on=today)


def _alert_buyer(ctx: Context, session: Session, row: EscalationCase, subject: _Subject,
                 *, refused: bool) -> None:
    recipients = [r for r in donneur_recipients(session, subject.donneur.id) if r.email]
    if not recipients:
        raise NoAddressError(
            f"Aucun référent avec une adresse e-mail pour {subject.donneur.name} : ajoutez-en un "
            "avant d'alerter le donneur d'ordre.",
            f"No référent e-mail for donneur {subject.donneur.id}.",
        )
    today = machine.local_day(ctx.clock.now())
    why = ("a refusé de régulariser la situation" if refused else
           f"n'a pas répondu au courrier du {fr_date(row.letter_sent_on)} dans le délai, "
           f"échu le {fr_date(row.letter_deadline)}" if row.letter_sent_on and row.letter_deadline
           else "n'a pas régularisé la situation")
    facts = _facts(ctx, session, row, subject, to_machine(row), today)
    history = [_step_line(s, name) for s, name in _steps_with_names(session, row.id)]
    for r in recipients:
        assert r.email is not None
        queue_letter(ctx, session, dedup_key=f"escalade_alerte_donneur:case:{row.id}:{r.tag}",
                     to=r.email, template="alerte", facts=facts,
                     pdf_name=f"dossier-procedure-{row.id}.pdf",
                     extra={"why": why, "history": history}, on=today)


def _send_penalties(ctx: Context, session: Session, row: EscalationCase, subject: _Subject,
                    penalty: PenaltyResult) -> None:
    today = machine.local_day(ctx.clock.now())
    facts = _facts(ctx, session, row, subject, to_machine(row), today)
    for r in donneur_recipients(session, subject.donneur.id):
        if r.email:
            queue_letter(ctx, session, dedup_key=f"escalade_penalites:case:{row.id}:{r.tag}",
                         to=r.email, template="penalites", facts=facts,
                         pdf_name=f"penalites-procedure-{row.id}.pdf",
                         extra={"statement": statement_lines(penalty),
                                "total": fr_money(penalty.total, ht=True)}, on=today)


def _steps_with_names(session: Session, case_id: int) -> list[tuple[EscalationStep, str | None]]:
    return [(s, name) for s, name in session.execute(
        select(EscalationStep, User.display_name)
        .outerjoin(User, User.id == EscalationStep.by_user_id)
        .where(EscalationStep.case_id == case_id).order_by(EscalationStep.id)).all()]


def _step_line(step: EscalationStep, by: str | None) -> str:
    return _step_view(step, by).description_fr


def _offer_letter(ctx: Context, session: Session, row: EscalationCase, subject: _Subject,
                  new: machine.EscalationCase) -> None:
    """Enough contacts for the letter: ask the facilitator to get the buyer's consent."""
    rules = ctx.rulebook.escalation
    if (new.contacts < rules.contacts_required_before_letter
            or new.written_contacts < rules.written_contacts_required):
        return
    if row.buyer_consent_at:
        consent = f"L'accord de {subject.donneur.name} est déjà enregistré."
        button = ActionButton("✉️ Envoyer le courrier", ActionKind.SEND_LETTER, row.id)
    else:
        consent = (f"Demandez l'accord de {subject.donneur.name} : son référent reçoit le projet "
                   "et répond « accord » par e-mail (ou par le bouton du chat).")
        button = ActionButton("🤝 Demander l'accord du donneur d'ordre", ActionKind.ASK_CONSENT,
                              row.id)
    alert_facilitator(
        session, row, subject, AlertKind.COURRIER_A_APPROUVER,
        dedup_key=f"courrier_a_approuver:case:{row.id}",
        message=(f"Procédure n° {row.id} — {subject.company.name} ({_about(subject)}) : "
                 f"{new.contacts} prises de contact dont {new.written_contacts} par écrit. Le "
                 "courrier de rappel des obligations (délai de "
                 f"{rules.letter_deadline_days} jours) peut partir. {consent}"),
        buttons=[[button]],
    )


def _view(case: EscalationCase, company: Company, reference: str, lot_number: int,
          donneur_name: str, now: dt.datetime) -> CaseView:
    m = to_machine(case)
    return CaseView(
        case_id=case.id, engagement_id=case.engagement_id, company_id=company.id,
        company_name=company.name, market_reference=reference, lot_number=lot_number,
        donneur_name=donneur_name, state=case.state.value, state_label=m.status.label_fr,
        opened_at=case.opened_at, contacts=m.contacts, written_contacts=m.written_contacts,
        buyer_consent_at=case.buyer_consent_at, letter_sent_on=case.letter_sent_on,
        letter_deadline=case.letter_deadline,
        deadline_passed=case.state == EscalationState.COURRIER_ENVOYE and m.is_deadline_passed(now),
        penalty_amount=case.penalty_amount,
        allowed=tuple((e.value, e.label_fr) for e in m.allowed_events()),
    )
