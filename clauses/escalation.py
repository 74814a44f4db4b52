"""Escalation of a company that does not meet its clause (seed annex §2A), as a pure state machine.

::

    ouvert ─contact→ contacte ─relance_ecrite→ relance_ecrite ─courrier→ courrier_envoye
      ─alerte_donneur→ donneur_alerte ─notification_defaillance→ defaillance_notifiee
      ─calcul_penalites→ penalites_calculees ─cloture_penalites→ clos (penalise)
    any open state ─resolution→ clos (resolu)

Guards (values from the rulebook's ``escalation`` section):

* ``courrier`` (the letter recalling the obligations) needs ``contacts_required_before_letter``
  contacts of which ``written_contacts_required`` in writing, and, when
  ``buyer_consent_required``, the buyer's consent recorded (``consent_at``, not after the letter);
  its deadline is the letter's date + ``letter_deadline_days``;
* ``alerte_donneur`` is possible once the deadline has passed, or earlier if the company refused
  (``refused=True``).

:func:`apply_transition` never mutates: it returns the new :class:`EscalationCase` and the dated
:class:`EscalationStep` to record (who, when, what). Illegal moves raise typed errors whose French
message says what is possible from the current state. Dates: an aware datetime is read in
Europe/Paris time to decide the day (the deadline is a French calendar day).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from clauses.catalog import LabelledEnum
from clauses.errors import (
    ConsentRequiredError,
    DeadlineNotPassedError,
    IllegalTransitionError,
    NotEnoughContactsError,
)
from clauses.formatting import fr_date
from clauses.progress import ProgressStatus
from clauses.rulebook import Rulebook

PARIS = ZoneInfo("Europe/Paris")


class EscalationStatus(LabelledEnum):
    OUVERT = ("ouvert", "ouvert", "open")
    CONTACTE = ("contacte", "entreprise contactée", "company contacted")
    RELANCE_ECRITE = ("relance_ecrite", "relance écrite envoyée", "written reminder sent")
    COURRIER_ENVOYE = (
        "courrier_envoye",
        "courrier de rappel des obligations envoyé",
        "formal letter sent",
    )
    DONNEUR_ALERTE = ("donneur_alerte", "donneur d'ordre alerté", "buyer alerted")
    DEFAILLANCE_NOTIFIEE = (
        "defaillance_notifiee",
        "défaillance notifiée par le donneur d'ordre",
        "default notified by the buyer",
    )
    PENALITES_CALCULEES = ("penalites_calculees", "pénalités calculées", "penalties computed")
    CLOS = ("clos", "clos", "closed")


class EscalationEvent(LabelledEnum):
    CONTACT = ("contact", "contact (téléphone, rencontre)", "contact (phone, meeting)")
    RELANCE_ECRITE = ("relance_ecrite", "relance écrite (courriel, courrier)", "written reminder")
    COURRIER = ("courrier", "envoi du courrier de rappel des obligations", "send the formal letter")
    ALERTE_DONNEUR = ("alerte_donneur", "alerte du donneur d'ordre", "alert the buyer")
    NOTIFICATION_DEFAILLANCE = (
        "notification_defaillance",
        "notification de la défaillance",
        "notify the default",
    )
    CALCUL_PENALITES = ("calcul_penalites", "calcul des pénalités", "compute penalties")
    CLOTURE_PENALITES = (
        "cloture_penalites",
        "clôture après application des pénalités",
        "close after penalties",
    )
    RESOLUTION = ("resolution", "résolution (l'entreprise a régularisé)", "resolution")


class EscalationOutcome(LabelledEnum):
    RESOLU = ("resolu", "résolu", "resolved")
    PENALISE = ("penalise", "pénalisé", "penalised")


_S = EscalationStatus
_E = EscalationEvent

TRANSITIONS: dict[EscalationStatus, dict[EscalationEvent, EscalationStatus]] = {
    _S.OUVERT: {
        _E.CONTACT: _S.CONTACTE,
        _E.RELANCE_ECRITE: _S.RELANCE_ECRITE,
        _E.COURRIER: _S.COURRIER_ENVOYE,
        _E.RESOLUTION: _S.CLOS,
    },
    _S.CONTACTE: {
        _E.CONTACT: _S.CONTACTE,
        _E.RELANCE_ECRITE: _S.RELANCE_ECRITE,
        _E.COURRIER: _S.COURRIER_ENVOYE,
        _E.RESOLUTION: _S.CLOS,
    },
    _S.RELANCE_ECRITE: {
        _E.CONTACT: _S.RELANCE_ECRITE,
        _E.RELANCE_ECRITE: _S.RELANCE_ECRITE,
        _E.COURRIER: _S.COURRIER_ENVOYE,
        _E.RESOLUTION: _S.CLOS,
    },
    _S.COURRIER_ENVOYE: {_E.ALERTE_DONNEUR: _S.DONNEUR_ALERTE, _E.RESOLUTION: _S.CLOS},
    _S.DONNEUR_ALERTE: {
        _E.NOTIFICATION_DEFAILLANCE: _S.DEFAILLANCE_NOTIFIEE,
        _E.RESOLUTION: _S.CLOS,
    },
    _S.DEFAILLANCE_NOTIFIEE: {_E.CALCUL_PENALITES: _S.PENALITES_CALCULEES, _E.RESOLUTION: _S.CLOS},
    _S.PENALITES_CALCULEES: {_E.CLOTURE_PENALITES: _S.CLOS, _E.RESOLUTION: _S.CLOS},
    _S.CLOS: {},
}
"""Every legal move: state -> event -> next state (guards apart)."""


def local_day(at: dt.datetime | dt.date) -> dt.date:
    """The French calendar day of ``at`` (aware datetimes read in Europe/Paris)."""
    if isinstance(at, dt.datetime):
        return at.astimezone(PARIS).date() if at.tzinfo is not None else at.date()
    return at


@dataclass(frozen=True, slots=True)
class EscalationCase:
    """The state of one escalation (storage keeps these fields and the list of steps)."""

    status: EscalationStatus = EscalationStatus.OUVERT
    opened_on: dt.date | None = None
    contacts: int = 0
    written_contacts: int = 0
    consent_at: dt.datetime | dt.date | None = None
    letter_on: dt.date | None = None
    deadline: dt.date | None = None
    alerted_on: dt.date | None = None
    default_notified_on: dt.date | None = None
    penalties_on: dt.date | None = None
    penalty_amount: Decimal | None = None
    closed_on: dt.date | None = None
    outcome: EscalationOutcome | None = None

    @classmethod
    def open(cls, at: dt.datetime | dt.date) -> EscalationCase:
        return cls(opened_on=local_day(at))

    @property
    def is_open(self) -> bool:
        return self.status is not EscalationStatus.CLOS

    def is_deadline_passed(self, at: dt.datetime | dt.date) -> bool:
        """True once the letter's deadline day is over (False when no letter was sent)."""
        return self.deadline is not None and local_day(at) > self.deadline

    def allowed_events(self) -> list[EscalationEvent]:
        return list(TRANSITIONS[self.status])


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """One dated step, to append to the case's history."""

    event: EscalationEvent
    from_status: EscalationStatus
    to_status: EscalationStatus
    at: dt.datetime | dt.date
    actor: str
    note: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def description_fr(self) -> str:
        text = f"{fr_date(local_day(self.at))} : {self.event.label_fr} ({self.actor})"
        if "deadline" in self.data:
            text += f", délai jusqu'au {fr_date(self.data['deadline'])}"
        return text


@dataclass(frozen=True, slots=True)
class Transition:
    case: EscalationCase
    step: EscalationStep


def _allowed_fr(case: EscalationCase) -> str:
    parts: list[str] = []
    for event in TRANSITIONS[case.status]:
        label = event.label_fr
        if event is _E.ALERTE_DONNEUR and case.deadline is not None:
            label += f" (après le {fr_date(case.deadline)}, ou tout de suite en cas de refus)"
        parts.append(label)
    return ", ".join(parts) if parts else "aucune (dossier clos)"


def apply_transition(
    case: EscalationCase,
    event: EscalationEvent | str,
    *,
    at: dt.datetime | dt.date,
    actor: str,
    rulebook: Rulebook,
    consent_at: dt.datetime | dt.date | None = None,
    refused: bool = False,
    penalty_amount: Decimal | None = None,
    note: str | None = None,
) -> Transition:
    """Apply ``event`` to ``case`` on ``at`` by ``actor``; return the new case and the step.

    Raises :class:`IllegalTransitionError` (what is possible from here),
    :class:`NotEnoughContactsError`, :class:`ConsentRequiredError` or
    :class:`DeadlineNotPassedError`.
    """
    try:
        event = EscalationEvent(event)
    except ValueError:
        raise IllegalTransitionError(
            f"Action inconnue : « {event} ». Actions possibles depuis l'état "
            f"« {case.status.label_fr} » : {_allowed_fr(case)}.",
            f"Unknown escalation event {event!r}.",
            details={"status": case.status.value, "event": str(event)},
        ) from None
    day = local_day(at)
    targets = TRANSITIONS[case.status]
    if event not in targets:
        raise IllegalTransitionError(
            f"Impossible : « {event.label_fr} » depuis l'état « {case.status.label_fr} ». "
            f"Actions possibles : {_allowed_fr(case)}.",
            f"Illegal: {event.value} from {case.status.value}. "
            f"Allowed: {', '.join(e.value for e in targets) or 'none'}.",
            details={"status": case.status.value, "event": event.value},
        )
    target = targets[event]
    rules = rulebook.escalation
    changes: dict[str, Any] = {"status": target}
    data: dict[str, Any] = {}

    if event in (_E.CONTACT, _E.RELANCE_ECRITE):
        changes["contacts"] = case.contacts + 1
        if event is _E.RELANCE_ECRITE:
            changes["written_contacts"] = case.written_contacts + 1
    elif event is _E.COURRIER:
        missing_total = rules.contacts_required_before_letter - case.contacts
        missing_written = rules.written_contacts_required - case.written_contacts
        if missing_total > 0 or missing_written > 0:
            raise NotEnoughContactsError(
                f"Avant le courrier, il faut au moins {rules.contacts_required_before_letter} "
                f"contacts dont {rules.written_contacts_required} par écrit ; enregistrés : "
                f"{case.contacts} dont {case.written_contacts} par écrit. Relancez d'abord "
                "l'entreprise.",
                f"The letter needs {rules.contacts_required_before_letter} contacts "
                f"({rules.written_contacts_required} written); recorded: {case.contacts} "
                f"({case.written_contacts} written).",
                details={"contacts": case.contacts, "written": case.written_contacts},
            )
        consent = consent_at if consent_at is not None else case.consent_at
        if rules.buyer_consent_required and (consent is None or local_day(consent) > day):
            raise ConsentRequiredError(
                "Le courrier de rappel des obligations s'envoie avec l'accord du donneur "
                "d'ordre : enregistrez d'abord la date de son accord.",
                "The letter needs the buyer's consent, recorded first.",
            )
        deadline = day + dt.timedelta(days=rules.letter_deadline_days)
        changes.update(consent_at=consent, letter_on=day, deadline=deadline)
        data.update(deadline=deadline, consent_at=consent, letter_on=day)
    elif event is _E.ALERTE_DONNEUR:
        if not refused and not case.is_deadline_passed(at):
            deadline_fr = fr_date(case.deadline) if case.deadline else "?"
            raise DeadlineNotPassedError(
                f"Le délai laissé à l'entreprise court jusqu'au {deadline_fr} : le donneur "
                "d'ordre peut être alerté après cette date, ou dès maintenant si l'entreprise "
                "a refusé.",
                f"The company's deadline runs until {case.deadline}.",
                details={"deadline": case.deadline.isoformat() if case.deadline else None},
            )
        changes["alerted_on"] = day
        data.update(refused=refused)
    elif event is _E.NOTIFICATION_DEFAILLANCE:
        changes["default_notified_on"] = day
    elif event is _E.CALCUL_PENALITES:
        changes.update(penalties_on=day, penalty_amount=penalty_amount)
        if penalty_amount is not None:
            data["penalty_amount"] = penalty_amount
    elif event is _E.CLOTURE_PENALITES:
        changes.update(closed_on=day, outcome=EscalationOutcome.PENALISE)
        data["outcome"] = EscalationOutcome.PENALISE
    elif event is _E.RESOLUTION:
        changes.update(closed_on=day, outcome=EscalationOutcome.RESOLU)
        data["outcome"] = EscalationOutcome.RESOLU

    if case.opened_on is None:
        changes["opened_on"] = day
    new_case = dataclasses.replace(case, **changes)
    step = EscalationStep(
        event=event,
        from_status=case.status,
        to_status=target,
        at=at,
        actor=actor,
        note=note,
        data=data,
    )
    return Transition(case=new_case, step=step)


class CompanyStanding(LabelledEnum):
    """The state of the relationship with a company, as the bilans report it."""

    A_JOUR = ("a_jour", "à jour", "on track")
    EN_RETARD = ("en_retard", "en retard", "late")
    SOUS_ESCALADE = ("sous_escalade", "procédure de relance en cours", "under escalation")
    EN_DEFAILLANCE = ("en_defaillance", "en défaillance", "in default")


_DEFAULT_STATUSES = (_S.DEFAILLANCE_NOTIFIEE, _S.PENALITES_CALCULEES)


def company_standing(
    progress: ProgressStatus, escalation: EscalationCase | None = None
) -> CompanyStanding:
    """Standing of a company on an engagement: default > escalation > lateness > on track.

    "À risque" counts as on track (it is within the late tolerance); a resolved escalation no
    longer weighs; one closed with penalties leaves the company in default.
    """
    if escalation is not None:
        if escalation.status in _DEFAULT_STATUSES or (
            escalation.outcome is EscalationOutcome.PENALISE
        ):
            return CompanyStanding.EN_DEFAILLANCE
        if escalation.is_open:
            return CompanyStanding.SOUS_ESCALADE
    if progress is ProgressStatus.EN_RETARD:
        return CompanyStanding.EN_RETARD
    return CompanyStanding.A_JOUR
