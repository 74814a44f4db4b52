"""Penalties: missing hours and late days at the contract's rates, capped."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clauses.errors import InvalidValueError
from clauses.penalties import PenaltyTerms, compute_penalties
from clauses.rulebook import shipped_rulebook

RB = shipped_rulebook("default")
H = Decimal


@pytest.mark.parametrize(
    ("owed", "done", "amount", "days", "total", "capped"),
    [
        ("833", "533", "1000000", 10, "19000.00", False),  # 300 h × 60 + 10 × 100
        ("833", "533", "50000", 10, "10000.00", True),  # capped at 20 % of 50 000
        ("833", "900", "1000000", 0, "0.00", False),  # more than owed: nothing
        ("833", "832.5", "1000000", 0, "30.00", False),  # half an hour
        ("100", "0", "30000", 0, "6000.00", False),  # exactly at the cap: not "capped"
    ],
)
def test_penalties_default(
    owed: str, done: str, amount: str, days: int, total: str, capped: bool
) -> None:
    result = compute_penalties(H(owed), H(done), H(amount), days, None, RB)
    assert result.total == H(total)
    assert result.capped is capped
    assert result.total <= result.cap == (H(amount) * H("0.20")).quantize(H("0.01"))


def test_explanation_in_french() -> None:
    result = compute_penalties(H(833), H(533), H(50000), 10, None, RB)
    assert result.explanation_fr == (
        "Pénalités — heures manquantes : 300 h × 60,00 € HT = 18 000,00 € HT ; "
        "retard : 10 jours × 100,00 € HT = 1 000,00 € HT ; total 19 000,00 € HT, "
        "ramené au plafond de 20 % du montant du lot (50 000,00 € HT × 20 % = 10 000,00 € HT) : "
        "10 000,00 € HT."
    )


def test_market_terms_override_field_by_field() -> None:
    terms = PenaltyTerms(per_missing_hour=H(45))
    result = compute_penalties(H(100), H(0), H(1000000), 2, terms, RB)
    assert (result.per_missing_hour, result.per_day_late, result.cap_share) == (
        H(45),
        H(100),
        H("0.20"),
    )
    assert result.total == H("4700.00")
    uncapped = compute_penalties(H(100), H(0), H(10000), 0, PenaltyTerms(cap_share=H(1)), RB)
    assert uncapped.total == H("6000.00") and not uncapped.capped


def test_negative_inputs_refused() -> None:
    with pytest.raises(InvalidValueError):
        compute_penalties(H(1), H(0), H(100), -1, None, RB)
