"""The escalation procedure as people run it from the chat and by e-mail (seed annex §2A).

:mod:`clauses.escalation` is the machine, :mod:`clauses.escalation_service` persists it; this
module holds the use cases the channels call, one per thing a person does:

* the facilitator opens a case on a company × market (from the lateness alert's button or a
  command; a company on track is allowed, and told so), logs contacts (telephone, e-mail,
  meeting, letter) with a short note, sends the written reminder (a letter, PDF attached);
* asks the buyer's consent: the référent receives the draft letter by e-mail (and a button in
  the chat when linked), and consents by replying « accord » or pressing the button; an address
  that is not a référent of the market's donneur is refused and the facilitator told; the
  consent sends the 15-day letter at once (who consented and when are on the case);
* the company answers (chat or e-mail reply): the answer is attached to the case and the
  facilitator alerted, with a button to close the case as regularised;
* after the deadline (the scheduler alerts), the buyer is alerted with the file, the default
  notice is recorded, penalties computed from the lot's terms, and the case closed.

Each use case returns what the adapters need to show, including the typed next actions
(:class:`clauses.actions.ActionButton`); the adapters encode them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses import audit
from clauses import escalation as machine
from clauses import escalation_service as svc
from clauses.actions import ActionButton, ActionKind
from clauses.actors import Actor
from clauses.authz import Action, NotAllowed, authorize
from clauses.bilan.lookup import find_market
from clauses.context import Context
from clauses.errors import DomainError, EscalationError
from clauses.escalation_letters import queue_letter
from clauses.formatting import fold, fr_date
from clauses.outbox import enqueue_chat
from clauses.progress import ProgressStatus, engagement_progress
from clauses.reminders import Recipient, donneur_recipients
from storage.models import (
    AlertKind,
    Company,
    Engagement,
    EscalationCase,
    EscalationState,
    EscalationStep,
    Lot,
    User,
)

_E = machine.EscalationEvent

CONTACT_CHANNELS: dict[str, tuple[str, bool]] = {
    "telephone": ("téléphone", False),
    "rencontre": ("rencontre", False),
    "email": ("e-mail", True),
    "courrier": ("courrier", True),
}
"""Contact kinds: key -> (French label, counts as written)."""
CHANNEL_ALIASES = {"tel": "telephone", "téléphone": "telephone", "appel": "telephone",
                   "mail": "email", "e-mail": "email", "courriel": "email", "reunion": "rencontre",
                   "réunion": "rencontre", "visite": "rencontre", "lettre": "courrier"}
MAX_NOTE = 500
_TAG = re.compile(r"proc[ée]dure\s*n[°o]?\s*(\d+)", re.IGNORECASE)
_CONSENT_WORDS = ("accord", "d'accord", "j'accepte", "je donne mon accord", "oui", "ok",
                  "bon pour accord", "accord donne")
_NEGATIONS = frozenset({"pas", "non", "ne", "n'", "refus", "refuse", "mais", "sauf", "attendez"})


class NotAReferent(EscalationError):
    code = "escalation_consent_not_referent"


@dataclass(frozen=True)
class Opened:
    case_id: int
    company_name: str
    market_reference: str
    lot_number: int
    on_track: bool
    progress_label: str


@dataclass(frozen=True)
class CaseSummary:
    view: svc.CaseView
    steps: list[svc.StepView]
    requirement_fr: str
    consent_fr: str | None
    actions: list[ActionButton]


@dataclass(frozen=True)
class ConsentResult:
    case_id: int
    already: bool
    consent_by: str
    consent_at: dt.datetime
    deadline: dt.date | None


# --- lookups ----------------------------------------------------------------------------------


def find_engagement(session: Session, actor: Actor, market_reference: str, company: str,
                    lot_number: int | None = None) -> int:
    """The engagement of ``company`` (name part or SIRET) on the market; refuses ambiguity."""
    authorize(session, actor, Action.ESCALATION_ACT)
    market = find_market(session, market_reference)
    rows = session.execute(
        select(Engagement.id, Company.name, Company.siret, Lot.number)
        .join(Company, Company.id == Engagement.company_id)
        .join(Lot, Lot.id == Engagement.lot_id)
        .where(Lot.market_id == market.id).order_by(Lot.number, Company.name)
    ).all()
    wanted = fold(company)
    digits = "".join(ch for ch in company if ch.isdigit())
    found = [r for r in rows if (wanted and wanted in fold(r[1])) or (len(digits) == 14 and r[2] == digits)]
    if lot_number is not None:
        found = [r for r in found if r[3] == lot_number]
    if not found:
        names = ", ".join(sorted({f"{r[1]} (lot {r[3]})" for r in rows})) or "aucune"
        raise DomainError(
            f"Aucune entreprise « {company} » sur le marché {market.reference}"
            f"{f', lot {lot_number}' if lot_number else ''}. Entreprises du marché : {names}.",
            "No such company on the market.")
    if len(found) > 1:
        choices = ", ".join(f"{r[1]} (lot {r[3]})" for r in found)
        raise DomainError(
            f"Plusieurs engagements correspondent : {choices}. Précisez le lot, par exemple "
            f"« /procedure ouvrir {market.reference} lot {found[0][3]} {found[0][1]} ».",
            "Ambiguous engagement.")
    return int(found[0][0])


def case_id_in(text: str) -> int | None:
    """The case number a reply's subject or body quotes (« [procédure n° 12] »), if any."""
    match = _TAG.search(text or "")
    return int(match.group(1)) if match else None


def referent_of(session: Session, donneur_id: int, *, email: str | None = None,
                user_id: int | None = None) -> Recipient | None:
    """The one référent lookup of the escalation: the donneur's référent with this address or
    this user account (contacts and users, as :func:`clauses.reminders.donneur_recipients`)."""
    address = (email or "").strip().lower()
    for r in donneur_recipients(session, donneur_id):
        if (address and r.email == address) or (user_id is not None and r.user_id == user_id):
            return r
    if user_id is not None:
        user = session.get(User, user_id)
        if (user is not None and user.active and user.donneur_id == donneur_id
                and user.role.value == "referent"):
            return Recipient(f"u{user.id}", user.display_name, user.email, user.id)
    return None


# --- use cases ------------------------------------------------------------------------------


def open_case(ctx: Context, session: Session, actor: Actor, engagement_id: int,
              note: str | None = None) -> Opened:
    """Open the case; a company on track may be chased too (allowed), and the answer says so."""
    row = svc.open_case(ctx, session, actor, engagement_id, note=_note(note))
    subject = svc._subject(session, engagement_id)
    assert subject is not None
    today = ctx.clock.today()
    p = engagement_progress(subject.engagement.hours_owed,
                            svc._done_hours(session, engagement_id, today),
                            subject.lot.start_date or subject.market.start_date,
                            subject.lot.end_date or subject.market.end_date, today, ctx.rulebook)
    return Opened(case_id=row.id, company_name=subject.company.name,
                  market_reference=subject.market.reference, lot_number=subject.lot.number,
                  on_track=p.status is not ProgressStatus.EN_RETARD,
                  progress_label=p.status.label_fr)


def log_contact(ctx: Context, session: Session, actor: Actor, case_id: int, channel: str,
                note: str | None) -> svc.CaseView:
    """A contact made outside the bot: telephone or meeting (oral), e-mail or letter (written)."""
    key = CHANNEL_ALIASES.get(fold(channel), fold(channel))
    if key not in CONTACT_CHANNELS:
        raise DomainError(
            f"Type de contact inconnu : « {channel} ». Possibles : "
            f"{', '.join(CONTACT_CHANNELS)} (par exemple « /procedure {case_id} contact "
            "telephone Appel au gérant, plan promis sous 8 jours »).",
            "Unknown contact channel.")
    text = _note(note)
    if not text:
        raise DomainError(
            "Ajoutez une courte note au contact (qui, quoi), par exemple « /procedure "
            f"{case_id} contact {key} Appel au gérant, plan promis sous 8 jours ».",
            "A contact needs a note.")
    written = CONTACT_CHANNELS[key][1]
    event = _E.RELANCE_ECRITE if written else _E.CONTACT
    authorize(session, actor, Action.ESCALATION_ACT)
    with session.begin_nested():
        row = svc._load(session, case_id)
        svc._apply(ctx, session, actor, row, event.value, note=text, channel=key)
    return svc.case_view(ctx, session, actor, case_id)


def send_written_reminder(ctx: Context, session: Session, actor: Actor, case_id: int,
                          note: str | None = None) -> svc.CaseView:
    """The written reminder (« relance écrite »), e-mailed to the company with its PDF."""
    authorize(session, actor, Action.ESCALATION_ACT)
    with session.begin_nested():
        row, _ = _load_for(session, case_id, _E.RELANCE_ECRITE, "la relance écrite")
        subject = _subject(session, row)
        addresses = svc._company_addresses(session, subject.company)
        text = _note(note)
        svc._apply(ctx, session, actor, row, _E.RELANCE_ECRITE.value,
                   note=text or "relance écrite envoyée par e-mail (PDF joint)", channel="email")
        n = len(row.steps)
        facts = svc._facts(ctx, session, row, subject, svc.to_machine(row), ctx.clock.today())
        for address in addresses:
            queue_letter(ctx, session, dedup_key=f"escalade_relance:case:{row.id}:{n}:{address}",
                         to=address, template="relance", facts=facts,
                         pdf_name=f"relance-procedure-{row.id}.pdf", extra={"note": text or ""})
    return svc.case_view(ctx, session, actor, case_id)


def request_consent(ctx: Context, session: Session, actor: Actor, case_id: int) -> list[str]:
    """Send the draft letter to the donneur's référents; their consent sends it. Returns who."""
    authorize(session, actor, Action.ESCALATION_ACT)
    with session.begin_nested():
        row, current = _load_for(session, case_id, _E.COURRIER,
                                 "le courrier de rappel des obligations")
        rules = ctx.rulebook.escalation
        if (current.contacts < rules.contacts_required_before_letter
                or current.written_contacts < rules.written_contacts_required):
            raise DomainError(
                f"Avant le courrier, il faut au moins {rules.contacts_required_before_letter} "
                f"contacts dont {rules.written_contacts_required} par écrit ; enregistrés : "
                f"{current.contacts} dont {current.written_contacts} par écrit.",
                "Not enough contacts before asking consent.")
        if row.buyer_consent_at is not None:
            raise DomainError(
                f"L'accord est déjà enregistré ({row.buyer_consent_by}, le "
                f"{fr_date(machine.local_day(row.buyer_consent_at))}).",
                "Consent already recorded.")
        subject = _subject(session, row)
        referents = [r for r in donneur_recipients(session, subject.donneur.id) if r.email]
        if not referents:
            raise svc.NoAddressError(
                f"Aucun référent avec une adresse e-mail pour {subject.donneur.name} : "
                "ajoutez-en un (invitation ou contact référent) avant de demander l'accord.",
                "No référent to ask.")
        today = ctx.clock.today()
        deadline = today + dt.timedelta(days=rules.letter_deadline_days)
        facts = svc._facts(ctx, session, row, subject, current, today)
        for r in referents:
            assert r.email is not None
            chat = (r.user_id is not None and enqueue_chat(
                session, dedup_key=f"escalade_accord:case:{row.id}:{r.tag}:chat",
                user_id=r.user_id,
                text=(f"Accord demandé (procédure n° {row.id}) : courrier de rappel des "
                      f"obligations à {subject.company.name}, marché {subject.market.reference} "
                      f"lot {subject.lot.number}. Le projet vous est envoyé par e-mail."),
                reply_markup={"inline_keyboard": [[ActionButton(
                    "✅ Je donne mon accord", ActionKind.CONSENT, row.id).to_json()]]},
            ) is not None)
            queue_letter(ctx, session, dedup_key=f"escalade_accord:case:{row.id}:{r.tag}",
                         to=r.email, template="accord", facts=facts,
                         pdf_name=f"projet-courrier-procedure-{row.id}.pdf",
                         extra={"deadline": fr_date(deadline), "chat": bool(chat)})
        row.consent_requested_at = ctx.clock.now()
        names = [f"{r.label} <{r.email}>" if r.label != r.email else str(r.email)
                 for r in referents]
        session.add(EscalationStep(case_id=row.id, from_state=row.state, to_state=row.state,
                                   event=svc.CONSENT_ASKED_EVENT, at=ctx.clock.now(),
                                   by_user_id=actor.user_id,
                                   note=svc._who_note(actor, "projet envoyé à " + ", ".join(names))))
        audit.record(session, actor, "escalation.consent_asked", "escalation", row.id)
    return names


def give_consent(ctx: Context, session: Session, actor: Actor, case_id: int) -> ConsentResult:
    """The référent consents (e-mail reply or chat button): recorded, then the letter goes.

    Anyone else is refused (:class:`NotAReferent`) and the facilitator told. A second consent
    changes nothing and says when the first one was given.
    """
    row = session.get(EscalationCase, case_id)
    subject = _subject(session, row) if row is not None else None
    referent = (referent_of(session, subject.donneur.id, email=actor.email,
                            user_id=actor.user_id) if subject is not None else None)
    if row is None or subject is None or referent is None:
        if row is not None and subject is not None:  # outside the savepoint: it must stay
            _tell_facilitator_refused(session, row, subject, actor)
        raise NotAReferent(
            f"Accord non enregistré : {actor.email or actor.label} n'est pas référent·e du "
            "donneur d'ordre de cette procédure. Seul·e un·e référent·e peut donner "
            "l'accord ; l'équipe de l'agence en est informée.",
            "Consent refused: not a référent of the case's donneur.",
            details={"case_id": case_id})
    with session.begin_nested():
        row = svc._load(session, case_id)
        if row.buyer_consent_at is not None:
            return ConsentResult(case_id, True, row.buyer_consent_by or "?",
                                 row.buyer_consent_at, row.letter_deadline)
        if row.state == EscalationState.CLOS:
            raise DomainError(
                f"La procédure n° {case_id} est close : aucun courrier ne partira.",
                "Case closed.")
        who = f"{referent.label} <{referent.email}>" if referent.email else referent.label
        now = ctx.clock.now()
        row.buyer_consent_at = now
        row.buyer_consent_by = who[:254]
        row.buyer_consent_note = f"Accord donné par {who} ({actor.channel.value})."
        session.add(EscalationStep(case_id=row.id, from_state=row.state, to_state=row.state,
                                   event=svc.CONSENT_EVENT, at=now, by_user_id=actor.user_id,
                                   note=f"par {who}", channel=actor.channel.value))
        audit.record(session, actor, "escalation.consent", "escalation", row.id)
        session.flush()
        session.expire(row, ["steps"])
        system = Actor.system(label=f"accord de {referent.label}")
        svc._apply(ctx, session, system, row, _E.COURRIER.value, note=None)
        svc.alert_facilitator(
            session, row, subject, AlertKind.COURRIER_A_APPROUVER,
            dedup_key=f"escalade_accord_recu:case:{row.id}",
            message=(f"Procédure n° {row.id} — {subject.company.name} : accord de {who} le "
                     f"{fr_date(machine.local_day(now))} à {now.astimezone(machine.PARIS):%H:%M}. "
                     "Le courrier de rappel des obligations est parti ; échéance le "
                     f"{fr_date(row.letter_deadline) if row.letter_deadline else '?'}."),
            buttons=[[ActionButton("📂 Voir la procédure", ActionKind.SHOW_CASE, row.id)]])
    return ConsentResult(case_id, False, who, now, row.letter_deadline)


def company_answer(ctx: Context, session: Session, actor: Actor, text: str,
                   case_id: int | None = None) -> int:
    """The company answers (a plan, a candidate, a dispute): attached to its open case, and the
    facilitator alerted with a button to close it as regularised. Returns the case id."""
    body = _note(text)
    if not body:
        raise DomainError("Écrivez votre réponse après la commande, par exemple « /reponse "
                          "Nous recrutons deux personnes via l'ETTI à partir du 1er juin ».",
                          "Empty answer.")
    if actor.company_id is None:
        raise NotAllowed()
    q = (select(EscalationCase).join(Engagement, Engagement.id == EscalationCase.engagement_id)
         .where(Engagement.company_id == actor.company_id,
                EscalationCase.state != EscalationState.CLOS).order_by(EscalationCase.id))
    cases = list(session.scalars(q))
    if case_id is not None:
        cases = [c for c in cases if c.id == case_id]
    if not cases:
        raise DomainError(
            "Aucune procédure de relance en cours pour votre entreprise"
            f"{f' sous le n° {case_id}' if case_id is not None else ''} : votre message n'a "
            "pas été enregistré. Pour une question, écrivez à votre facilitateur·rice.",
            "No open case for this company.")
    if len(cases) > 1:
        numbers = ", ".join(str(c.id) for c in cases)
        raise DomainError(
            f"Plusieurs procédures sont en cours ({numbers}) : précisez le numéro, par exemple "
            f"« /reponse {cases[0].id} votre message ».", "Several open cases.")
    row = cases[0]
    authorize(session, actor, Action.ENGAGEMENT_READ, "engagement", row.engagement_id)
    subject = _subject(session, row)
    now = ctx.clock.now()
    session.add(EscalationStep(case_id=row.id, from_state=row.state, to_state=row.state,
                               event=svc.ANSWER_EVENT, at=now, by_user_id=actor.user_id,
                               note=svc._who_note(actor, body), channel=actor.channel.value))
    audit.record(session, actor, "escalation.answer", "escalation", row.id)
    session.flush()
    n = session.query(EscalationStep).filter_by(case_id=row.id).count()
    svc.alert_facilitator(
        session, row, subject, AlertKind.AUTRE, dedup_key=f"escalade_reponse:case:{row.id}:{n}",
        message=(f"Procédure n° {row.id} — réponse de {subject.company.name} "
                 f"({actor.label}) : « {body} »"),
        buttons=[[ActionButton("✅ Clore : régularisé", ActionKind.CLOSE_REGULARISED, row.id),
                  ActionButton("📂 Voir la procédure", ActionKind.SHOW_CASE, row.id)]])
    return row.id


def record_default(ctx: Context, session: Session, actor: Actor, case_id: int,
                   note: str | None = None) -> svc.CaseView:
    """The buyer notified the company of its default (the notice's date is today)."""
    svc.transition(ctx, session, actor, case_id, _E.NOTIFICATION_DEFAILLANCE.value,
                   note=_note(note))
    return svc.case_view(ctx, session, actor, case_id)


def compute_case_penalties(ctx: Context, session: Session, actor: Actor, case_id: int
                           ) -> tuple[svc.CaseView, list[str]]:
    """Penalties from the lot's terms (refused when the lot has none); the statement lines."""
    row = svc.transition(ctx, session, actor, case_id, _E.CALCUL_PENALITES.value)
    return svc.case_view(ctx, session, actor, case_id), (row.penalty_explanation or "").splitlines()


def close_case(ctx: Context, session: Session, actor: Actor, case_id: int, *, penalised: bool,
               note: str | None = None) -> svc.CaseView:
    """Close as penalised (after the penalties) or as regularised (any time)."""
    event = _E.CLOTURE_PENALITES if penalised else _E.RESOLUTION
    svc.transition(ctx, session, actor, case_id, event.value, note=_note(note))
    return svc.case_view(ctx, session, actor, case_id)


def alert_buyer(ctx: Context, session: Session, actor: Actor, case_id: int, *,
                refused: bool = False) -> svc.CaseView:
    svc.transition(ctx, session, actor, case_id, _E.ALERTE_DONNEUR.value, refused=refused)
    return svc.case_view(ctx, session, actor, case_id)


def summary(ctx: Context, session: Session, actor: Actor, case_id: int) -> CaseSummary:
    """History, what the rulebook requires before the next step, and the next actions."""
    view = svc.case_view(ctx, session, actor, case_id)
    steps = svc.history(session, actor, case_id)
    row = session.get(EscalationCase, case_id)
    assert row is not None
    rules = ctx.rulebook.escalation
    m = svc.to_machine(row)
    actions: list[ActionButton] = []
    consent = (f"Accord du donneur d'ordre : {row.buyer_consent_by}, le "
               f"{fr_date(machine.local_day(row.buyer_consent_at))} à "
               f"{row.buyer_consent_at.astimezone(machine.PARIS):%H:%M}."
               if row.buyer_consent_at else None)
    state = view.state
    if state in ("ouvert", "contacte", "relance_ecrite"):
        missing = max(rules.contacts_required_before_letter - m.contacts, 0)
        missing_w = max(rules.written_contacts_required - m.written_contacts, 0)
        if missing or missing_w:
            need = (f"Avant le courrier de rappel des obligations : encore {missing} contact(s) "
                    f"dont {missing_w} par écrit (le règlement en demande "
                    f"{rules.contacts_required_before_letter} dont "
                    f"{rules.written_contacts_required} par écrit).")
        elif row.buyer_consent_at is None:
            need = ("Contacts suffisants : demandez l'accord du donneur d'ordre ; son accord "
                    f"envoie le courrier (délai de {rules.letter_deadline_days} jours "
                    "calendaires).")
            actions.append(ActionButton("🤝 Demander l'accord", ActionKind.ASK_CONSENT, case_id))
        else:
            need = "Accord enregistré : le courrier peut partir."
            actions.append(ActionButton("✉️ Envoyer le courrier", ActionKind.SEND_LETTER, case_id))
    elif state == "courrier_envoye":
        deadline = fr_date(row.letter_deadline) if row.letter_deadline else "?"
        need = (f"Courrier envoyé le {fr_date(row.letter_sent_on) if row.letter_sent_on else '?'} ;"
                f" délai de {rules.letter_deadline_days} jours calendaires jusqu'au {deadline}"
                f"{' (dépassé)' if view.deadline_passed else ''}. Ensuite (ou tout de suite en "
                "cas de refus) : alerter le donneur d'ordre.")
        if view.deadline_passed:
            actions.append(ActionButton("📨 Alerter le donneur d'ordre", ActionKind.ALERT_BUYER,
                                        case_id))
    elif state == "donneur_alerte":
        need = "Donneur d'ordre alerté : enregistrez sa notification de la défaillance."
        actions.append(ActionButton("📝 Défaillance notifiée", ActionKind.RECORD_DEFAULT, case_id))
    elif state == "defaillance_notifiee":
        need = "Défaillance notifiée : calculez les pénalités selon les termes du lot."
        actions.append(ActionButton("🧮 Calculer les pénalités", ActionKind.COMPUTE_PENALTIES,
                                    case_id))
    elif state == "penalites_calculees":
        need = "Pénalités calculées et envoyées au donneur d'ordre : clore la procédure."
        actions.append(ActionButton("🔒 Clore : pénalisé", ActionKind.CLOSE_PENALISED, case_id))
    else:
        need = f"Procédure close ({row.outcome or 'clos'})."
    if state != "clos":
        actions.append(ActionButton("✅ Clore : régularisé", ActionKind.CLOSE_REGULARISED, case_id))
    return CaseSummary(view=view, steps=steps, requirement_fr=need, consent_fr=consent,
                       actions=actions)


# --- internals ------------------------------------------------------------------------------


def _note(text: str | None) -> str | None:
    cleaned = " ".join((text or "").split())[:MAX_NOTE]
    return cleaned or None


def _subject(session: Session, row: EscalationCase) -> svc._Subject:
    subject = svc._subject(session, row.engagement_id)
    if subject is None:
        raise DomainError("Engagement de la procédure introuvable.", "Engagement missing.")
    return subject


def _load_for(session: Session, case_id: int, event: _E, what: str
              ) -> tuple[EscalationCase, machine.EscalationCase]:
    """The case and its machine, when ``event`` is a step it may take now; else a French
    refusal naming ``what`` (closed, or not from this state)."""
    row = svc._load(session, case_id)
    current = svc.to_machine(row)
    if event not in current.allowed_events():
        _refuse_closed_or_late(row, what)
    return row, current


def _refuse_closed_or_late(row: EscalationCase, what: str) -> None:
    label = machine.EscalationStatus(row.state.value).label_fr
    if row.state == EscalationState.CLOS:
        raise DomainError(f"La procédure n° {row.id} est close : {what} n'est plus possible.",
                          "Case closed.")
    raise DomainError(f"Impossible : {what} depuis l'état « {label} » de la procédure "
                      f"n° {row.id}.", "Illegal step.")


def _tell_facilitator_refused(session: Session, row: EscalationCase, subject: svc._Subject,
                              actor: Actor) -> None:
    svc.alert_facilitator(
        session, row, subject, AlertKind.EMAIL_A_TRAITER,
        dedup_key=f"escalade_accord_refuse:case:{row.id}:{(actor.email or actor.label)[:80]}",
        message=(f"Procédure n° {row.id} — {subject.company.name} : un accord a été envoyé par "
                 f"{actor.email or actor.label}, qui n'est pas référent·e de "
                 f"{subject.donneur.name}. Il n'est pas enregistré ; si cette personne doit "
                 "pouvoir donner l'accord, ajoutez-la comme référente."))


def is_consent(text: str) -> bool:
    """A reply that plainly says yes: its first line starts with « accord », « d'accord »,
    « oui », « bon pour accord »... and says nothing negative (« pas d'accord », « oui mais
    pas avant lundi » are not a consent: never guess a yes)."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    first = re.sub(r"[^\w' ]", " ", fold(lines[0])).split() if lines else []
    phrase = " ".join(first)
    if any(word in first for word in _NEGATIONS):
        return False
    return any(phrase == w or phrase.startswith(w + " ") for w in _CONSENT_WORDS)
