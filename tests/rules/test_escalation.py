"""Escalation state machine: legal path, guards, refusals that say what is possible."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from clauses.errors import (
    ConsentRequiredError,
    DeadlineNotPassedError,
    EscalationError,
    IllegalTransitionError,
    NotEnoughContactsError,
)
from clauses.escalation import (
    TRANSITIONS,
    CompanyStanding,
    EscalationCase,
    EscalationEvent,
    EscalationOutcome,
    EscalationStatus,
    apply_transition,
    company_standing,
    local_day,
)
from clauses.progress import ProgressStatus
from clauses.rulebook import shipped_rulebook

RB = shipped_rulebook("default")
E = EscalationEvent
S = EscalationStatus
FAC = "facilitateur:12"
UTC = dt.UTC


def at(day: int, month: int = 11, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=UTC)


def run(case: EscalationCase, *events: tuple[E, dt.datetime, dict[str, Any]]) -> EscalationCase:
    for event, when, kw in events:
        case = apply_transition(case, event, at=when, actor=FAC, rulebook=RB, **kw).case
    return case


def letter_ready() -> EscalationCase:
    return run(
        EscalationCase.open(at(2)),
        (E.CONTACT, at(2), {}),
        (E.RELANCE_ECRITE, at(5), {}),
    )


def letter_sent() -> EscalationCase:
    """The formal letter sent on the 9th with the buyer's consent of the 8th."""
    return apply_transition(
        letter_ready(), E.COURRIER, at=at(9), actor=FAC, rulebook=RB, consent_at=at(8)
    ).case


def test_full_path_to_penalties() -> None:
    case = letter_ready()
    assert (case.status, case.contacts, case.written_contacts) == (S.RELANCE_ECRITE, 2, 1)
    sent = apply_transition(case, E.COURRIER, at=at(9), actor=FAC, rulebook=RB, consent_at=at(8))
    case = sent.case
    assert case.status is S.COURRIER_ENVOYE
    assert case.letter_on == dt.date(2026, 11, 9)
    assert case.deadline == dt.date(2026, 11, 24)  # 9 + 15 days
    assert sent.step.data["deadline"] == dt.date(2026, 11, 24)
    assert sent.step.from_status is S.RELANCE_ECRITE and sent.step.to_status is S.COURRIER_ENVOYE
    assert sent.step.description_fr == (
        "09/11/2026 : envoi du courrier de rappel des obligations (facilitateur:12), "
        "délai jusqu'au 24/11/2026"
    )
    assert not case.is_deadline_passed(at(24, hour=22))  # 23:00 Paris, still the 24th
    assert case.is_deadline_passed(at(24, hour=23))  # 00:00 Paris on the 25th
    case = run(
        case,
        (E.ALERTE_DONNEUR, at(25), {}),
        (E.NOTIFICATION_DEFAILLANCE, at(2, 12), {}),
        (E.CALCUL_PENALITES, at(3, 12), {"penalty_amount": Decimal("18000.00")}),
        (E.CLOTURE_PENALITES, at(4, 12), {}),
    )
    assert case.status is S.CLOS and case.outcome is EscalationOutcome.PENALISE
    assert case.penalty_amount == Decimal("18000.00")
    assert case.alerted_on == dt.date(2026, 11, 25)
    assert not case.is_open and case.allowed_events() == []


def test_deadline_not_passed_refuses_the_alert_but_a_refusal_allows_it() -> None:
    case = letter_sent()
    with pytest.raises(DeadlineNotPassedError) as err:
        apply_transition(case, E.ALERTE_DONNEUR, at=at(20), actor=FAC, rulebook=RB)
    assert "24/11/2026" in err.value.message_fr
    alerted = apply_transition(
        case, E.ALERTE_DONNEUR, at=at(20), actor=FAC, rulebook=RB, refused=True
    )
    assert alerted.case.status is S.DONNEUR_ALERTE and alerted.step.data["refused"] is True


def test_letter_needs_consent() -> None:
    with pytest.raises(ConsentRequiredError) as err:
        apply_transition(letter_ready(), E.COURRIER, at=at(9), actor=FAC, rulebook=RB)
    assert "accord du donneur d'ordre" in err.value.message_fr
    with pytest.raises(ConsentRequiredError):  # consent given after the letter does not count
        apply_transition(
            letter_ready(), E.COURRIER, at=at(9), actor=FAC, rulebook=RB, consent_at=at(10)
        )


def test_letter_needs_enough_contacts_one_written() -> None:
    oral_only = run(EscalationCase.open(at(2)), (E.CONTACT, at(2), {}), (E.CONTACT, at(3), {}))
    with pytest.raises(NotEnoughContactsError) as err:
        apply_transition(oral_only, E.COURRIER, at=at(9), actor=FAC, rulebook=RB, consent_at=at(8))
    assert (
        "dont 1 par écrit" in err.value.message_fr
        and "enregistrés : 2 dont 0" in err.value.message_fr
    )
    one = run(EscalationCase.open(at(2)), (E.RELANCE_ECRITE, at(2), {}))
    with pytest.raises(NotEnoughContactsError):
        apply_transition(one, E.COURRIER, at=at(9), actor=FAC, rulebook=RB, consent_at=at(8))


def test_illegal_transition_says_what_is_allowed() -> None:
    with pytest.raises(IllegalTransitionError) as err:
        apply_transition(
            EscalationCase(), E.NOTIFICATION_DEFAILLANCE, at=at(2), actor=FAC, rulebook=RB
        )
    message = err.value.message_fr
    assert "depuis l'état « ouvert »" in message
    assert "contact (téléphone, rencontre)" in message and "résolution" in message
    assert isinstance(err.value, EscalationError)
    with pytest.raises(IllegalTransitionError) as err2:
        apply_transition(EscalationCase(), "teleportation", at=at(2), actor=FAC, rulebook=RB)
    assert "Action inconnue" in err2.value.message_fr


def test_alert_hint_names_the_deadline() -> None:
    case = letter_sent()
    with pytest.raises(IllegalTransitionError) as err:
        apply_transition(case, E.CONTACT, at=at(10), actor=FAC, rulebook=RB)
    assert "après le 24/11/2026" in err.value.message_fr


@pytest.mark.parametrize("status", [s for s in S if s is not S.CLOS])
def test_resolution_from_any_open_state(status: EscalationStatus) -> None:
    result = apply_transition(
        EscalationCase(status=status), E.RESOLUTION, at=at(12), actor=FAC, rulebook=RB
    )
    assert result.case.status is S.CLOS and result.case.outcome is EscalationOutcome.RESOLU
    assert result.case.closed_on == dt.date(2026, 11, 12)


def test_closed_case_accepts_nothing() -> None:
    closed = EscalationCase(status=S.CLOS, outcome=EscalationOutcome.RESOLU)
    for event in E:
        with pytest.raises(IllegalTransitionError) as err:
            apply_transition(closed, event, at=at(12), actor=FAC, rulebook=RB)
        assert "aucune (dossier clos)" in err.value.message_fr


def test_transition_table_is_complete_and_closes() -> None:
    assert set(TRANSITIONS) == set(S)
    reachable = {S.OUVERT}
    frontier = [S.OUVERT]
    while frontier:
        for target in TRANSITIONS[frontier.pop()].values():
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(S)


def test_apply_does_not_mutate_and_accepts_dates() -> None:
    case = EscalationCase()
    result = apply_transition(
        case, "contact", at=dt.date(2026, 11, 2), actor=FAC, rulebook=RB, note="appel"
    )
    assert case.status is S.OUVERT and case.contacts == 0
    assert result.case.opened_on == dt.date(2026, 11, 2) and result.step.note == "appel"
    assert local_day(dt.datetime(2026, 6, 30, 23, 30, tzinfo=UTC)) == dt.date(2026, 7, 1)


def test_rural_deadline_and_contacts() -> None:
    rural = shipped_rulebook("rural")
    case = letter_ready()
    with pytest.raises(NotEnoughContactsError):  # rural needs 3 contacts
        apply_transition(case, E.COURRIER, at=at(9), actor=FAC, rulebook=rural, consent_at=at(8))
    case = apply_transition(case, E.CONTACT, at=at(6), actor=FAC, rulebook=rural).case
    sent = apply_transition(case, E.COURRIER, at=at(9), actor=FAC, rulebook=rural, consent_at=at(8))
    assert sent.case.deadline == dt.date(2026, 11, 17)


@pytest.mark.parametrize(
    ("progress", "case", "standing"),
    [
        (ProgressStatus.A_JOUR, None, CompanyStanding.A_JOUR),
        (ProgressStatus.A_RISQUE, None, CompanyStanding.A_JOUR),
        (ProgressStatus.EN_RETARD, None, CompanyStanding.EN_RETARD),
        (
            ProgressStatus.EN_RETARD,
            EscalationCase(status=S.COURRIER_ENVOYE),
            CompanyStanding.SOUS_ESCALADE,
        ),
        (
            ProgressStatus.EN_RETARD,
            EscalationCase(status=S.DEFAILLANCE_NOTIFIEE),
            CompanyStanding.EN_DEFAILLANCE,
        ),
        (
            ProgressStatus.SOLDE,
            EscalationCase(status=S.CLOS, outcome=EscalationOutcome.RESOLU),
            CompanyStanding.A_JOUR,
        ),
        (
            ProgressStatus.EN_RETARD,
            EscalationCase(status=S.CLOS, outcome=EscalationOutcome.PENALISE),
            CompanyStanding.EN_DEFAILLANCE,
        ),
    ],
)
def test_company_standing(
    progress: ProgressStatus, case: EscalationCase | None, standing: CompanyStanding
) -> None:
    assert company_standing(progress, case) is standing
