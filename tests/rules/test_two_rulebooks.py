"""The same scenarios under two rulebooks give the results each rulebook implies.

The mechanics are code, the values are data: each scenario states its expected figures for the
default rulebook and for the rural example, and also checks them against the rulebook's values.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import pytest

from clauses.chiffrage import compute_lot_hours
from clauses.counting import count_month
from clauses.eligibility import (
    CriterionProof,
    ParticipantFacts,
    assess_eligibility,
    clause_eligibility_end,
)
from clauses.escalation import EscalationCase, EscalationEvent, apply_transition
from clauses.penalties import compute_penalties
from clauses.progress import ProgressStatus, engagement_progress
from clauses.rulebook import Rulebook, shipped_rulebook

D = dt.date
H = Decimal
BOTH = pytest.mark.parametrize("name", ["default", "rural"])


def rb(name: str) -> Rulebook:
    return shipped_rulebook(name)


@pytest.mark.parametrize(
    ("amount", "trade", "expected"),
    [
        ("1000000", "maconnerie", {"default": 833, "rural": 1540}),
        ("1000000", "nettoyage", {"default": 1333, "rural": 2240}),
        ("10000", "vrd", {"default": 5, "rural": 9}),  # rural rounds 8,4 h up
    ],
)
@BOTH
def test_chiffrage(name: str, amount: str, trade: str, expected: dict[str, int]) -> None:
    rulebook = rb(name)
    result = compute_lot_hours(H(amount), rulebook=rulebook, trade=trade)
    assert result.hours == expected[name]
    exact = (
        H(amount)
        * rulebook.trade(trade).share
        * rulebook.chiffrage.default_insertion_rate
        / rulebook.chiffrage.default_hourly_cost
    )
    rounding = {"nearest": ROUND_HALF_UP, "up": ROUND_CEILING}[rulebook.chiffrage.rounding]
    assert result.hours == int(exact.quantize(H(1), rounding=rounding))


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        (D(2025, 3, 1), {"default": ("100", "40"), "rural": ("100", "0")}),
        (D(2025, 8, 1), {"default": ("100", "40"), "rural": ("0", "0")}),  # rural: CDI 6 months
        (D(2026, 2, 1), {"default": ("0", "0"), "rural": ("0", "0")}),  # past 12 months
    ],
)
@BOTH
def test_counting_a_cdi_with_training(
    name: str, month: dt.date, expected: dict[str, tuple[str, str]]
) -> None:
    counted = count_month("cdi", D(2025, 1, 6), month, H(100), H(40), None, rb(name))
    assert (counted.work, counted.training) == (H(expected[name][0]), H(expected[name][1]))


@BOTH
def test_eligibility_window_after_entry(name: str) -> None:
    rulebook = rb(name)
    facts = ParticipantFacts(first_entry_date=D(2025, 3, 1), validated_on=D(2025, 2, 20))
    proofs = [CriterionProof("deld", D(2025, 2, 1), D(2025, 2, 20), "fac")]
    expected_end = {"default": D(2027, 2, 28), "rural": D(2026, 8, 31)}[name]
    assert clause_eligibility_end(D(2025, 3, 1), rulebook) == expected_end
    result = assess_eligibility(facts, proofs, D(2026, 10, 1), rulebook)
    assert result.eligible is {"default": True, "rural": False}[name]
    # and the hours of that month count or not accordingly
    counted = count_month(
        "cdd", D(2025, 3, 1), D(2026, 10, 1), H(100), H(0), expected_end, rulebook
    )
    assert counted.total == {"default": H(100), "rural": H(0)}[name]


@BOTH
def test_youth_age_limit(name: str) -> None:
    facts = ParticipantFacts(birth_date=D(1997, 1, 1), validated_on=D(2025, 2, 1))  # 28
    proofs = [CriterionProof("jeune_sans_qualification", D(2025, 2, 1), D(2025, 2, 1), "fac")]
    result = assess_eligibility(facts, proofs, D(2025, 3, 1), rb(name))
    assert result.eligible is {"default": False, "rural": True}[name]


@BOTH
def test_rsa_proof_and_diagnosis_windows(name: str) -> None:
    facts = ParticipantFacts(validated_on=D(2025, 1, 10))
    proofs = [CriterionProof("rsa", D(2025, 1, 1), D(2025, 1, 10), "fac")]
    result = assess_eligibility(facts, proofs, D(2025, 5, 15), rb(name))
    if name == "default":
        assert result.eligible and result.valid_until == D(2025, 6, 30)
    else:
        assert not result.eligible
        assert "justificatif RSA expiré le 01/04/2025" in result.missing
        assert any("expirée le 10/04/2025" in m for m in result.missing)


@pytest.mark.parametrize(
    ("done", "expected"),
    [
        ("500", {"default": ProgressStatus.A_JOUR, "rural": ProgressStatus.A_JOUR}),
        ("480", {"default": ProgressStatus.A_JOUR, "rural": ProgressStatus.A_RISQUE}),
        ("430", {"default": ProgressStatus.A_RISQUE, "rural": ProgressStatus.EN_RETARD}),
        ("420", {"default": ProgressStatus.EN_RETARD, "rural": ProgressStatus.EN_RETARD}),
    ],
)
@BOTH
def test_progress_tolerances(name: str, done: str, expected: dict[str, ProgressStatus]) -> None:
    progress = engagement_progress(
        H(1000), H(done), D(2025, 1, 1), D(2025, 12, 31), D(2025, 7, 2), rb(name)
    )
    assert progress.expected == H(500)
    assert progress.status is expected[name]


@BOTH
def test_letter_deadline(name: str) -> None:
    rulebook = rb(name)
    case = EscalationCase(contacts=3, written_contacts=1, status=EscalationCase().status)
    sent = apply_transition(
        case,
        EscalationEvent.COURRIER,
        at=D(2026, 11, 9),
        actor="fac",
        rulebook=rulebook,
        consent_at=D(2026, 11, 8),
    )
    assert sent.case.deadline == {"default": D(2026, 11, 24), "rural": D(2026, 11, 17)}[name]
    assert sent.case.deadline == D(2026, 11, 9) + dt.timedelta(
        days=rulebook.escalation.letter_deadline_days
    )


@BOTH
def test_penalties(name: str) -> None:
    result = compute_penalties(H(833), H(533), H(100000), 10, None, rb(name))
    assert result.total == {"default": H("19000.00"), "rural": H("10000.00")}[name]
    assert result.capped is (name == "rural")
