"""Chiffrage: hours owed by a lot, with the public worked example."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clauses.chiffrage import compute_lot_hours
from clauses.errors import ChiffrageInputError, UnknownTradeError
from clauses.rulebook import RULEBOOK_DIR, parse_rulebook, shipped_rulebook

DEFAULT = shipped_rulebook("default")


def test_public_worked_example_gives_833_hours() -> None:
    result = compute_lot_hours(Decimal("1000000"), rulebook=DEFAULT, trade="maconnerie")
    assert result.hours == 833
    assert result.insertion_budget == Decimal("25000")
    assert result.exact_hours.quantize(Decimal("0.01")) == Decimal("833.33")
    assert result.explanation_fr == (
        "1 000 000,00 € HT × 50 % (part main-d'œuvre maçonnerie) × 5 % (taux d'insertion) "
        "= 25 000,00 € ÷ 30,00 €/h = 833 h"
    )
    assert result.rounding_note_fr == "833,33 h arrondi à l'heure la plus proche : 833 h"
    assert (result.labour_share, result.insertion_rate, result.hourly_cost) == (
        Decimal("0.50"),
        Decimal("0.05"),
        Decimal(30),
    )


@pytest.mark.parametrize(
    ("amount", "trade", "expected"),
    [
        ("1000000", "peinture_interieure", 1167),  # 35 000 / 30 = 1166,67
        ("1000000", "charpente_metallique", 333),  # 10 000 / 30 = 333,33
        ("500000", "maconnerie", 417),  # 12 500 / 30 = 416,67
        ("120000", "nettoyage", 160),  # 4 800 / 30 = 160
        ("3000", "maconnerie", 3),  # 75 / 30 = 2,5 -> half up
    ],
)
def test_table_of_lots(amount: str, trade: str, expected: int) -> None:
    assert compute_lot_hours(amount, rulebook=DEFAULT, trade=trade).hours == expected


def test_explicit_inputs_override_the_rulebook() -> None:
    result = compute_lot_hours(
        200000, rulebook=DEFAULT, trade="maconnerie", labour_share="0.6", rate="0.1", hourly_cost=40
    )
    assert result.hours == 300  # 200 000 × 0,6 × 0,1 / 40
    assert "60 % (part main-d'œuvre retenue pour maçonnerie)" in result.explanation_fr
    assert "10 % (taux d'insertion)" in result.explanation_fr
    assert "÷ 40,00 €/h = 300 h" in result.explanation_fr
    no_trade = compute_lot_hours(200000, rulebook=DEFAULT, labour_share="0.6")
    assert "(part main-d'œuvre)" in no_trade.explanation_fr and no_trade.trade is None


def test_unknown_trade_lists_valid_keys() -> None:
    with pytest.raises(UnknownTradeError) as err:
        compute_lot_hours(1000, rulebook=DEFAULT, trade="astronautique")
    for key in ("maconnerie", "peinture_interieure", "vrd"):
        assert key in err.value.message_fr
    assert err.value.valid == sorted(DEFAULT.chiffrage.trades)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"amount_ht": 0, "trade": "maconnerie"},
        {"amount_ht": -5, "trade": "maconnerie"},
        {"amount_ht": 1000},  # neither trade nor share
        {"amount_ht": 1000, "labour_share": "1.5"},
        {"amount_ht": 1000, "labour_share": "0"},
        {"amount_ht": 1000, "trade": "maconnerie", "rate": "2"},
        {"amount_ht": 1000, "trade": "maconnerie", "hourly_cost": 0},
    ],
)
def test_bad_inputs_are_refused_in_french(kwargs: dict[str, object]) -> None:
    amount = kwargs.pop("amount_ht")
    with pytest.raises(ChiffrageInputError) as err:
        compute_lot_hours(amount, rulebook=DEFAULT, **kwargs)  # type: ignore[arg-type]
    assert err.value.message_fr


@pytest.mark.parametrize(("rounding", "expected"), [("nearest", 834), ("up", 834), ("down", 833)])
def test_rounding_rule_is_rulebook_data(rounding: str, expected: int) -> None:
    text = (RULEBOOK_DIR / "default.toml").read_text(encoding="utf-8")
    rulebook = parse_rulebook(text.replace('rounding = "nearest"', f'rounding = "{rounding}"'))
    # 1 000 200 × 50 % × 5 % = 25 005 € ÷ 30 = 833,5 h
    assert compute_lot_hours(1000200, rulebook=rulebook, trade="maconnerie").hours == expected
