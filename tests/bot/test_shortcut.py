"""Parsing of the free-text declaration shortcut (pure, no database)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bot.shortcut import name_matches, parse_shortcut

TODAY = dt.date(2025, 6, 16)


@pytest.mark.parametrize(
    ("text", "names", "work", "training", "month", "lot", "market"),
    [
        ("Dupont Marie 35h mars lot 2", ("dupont", "marie"), "35", None, (2025, 3), 2, None),
        ("dupont 35h30 03/2025", ("dupont",), "35.50", None, (2025, 3), None, None),
        ("Marie Dupont 151,67 h formation 7h mai 2025 marché 2025-017",
         ("marie", "dupont"), "151.67", "7", (2025, 5), None, "2025-017"),
        ("Dupont 35 heures", ("dupont",), "35", None, None, None, None),
        # « dont »: 35 h in all, 7 of them training (issue 18: was recorded as 35 + 7)
        ("DUPONT Marie 35h dont 7h de formation avril", ("dupont", "marie"), "28", "7",
         (2025, 4), None, None),
        ("Jean-Pierre N'Diaye 20 h décembre lot n°3", ("jean-pierre", "n'diaye"), "20", None,
         (2024, 12), 3, None),
    ],
)
def test_declarations_are_understood(text, names, work, training, month, lot, market):
    draft = parse_shortcut(text, TODAY)
    assert draft is not None
    assert draft.names == names
    assert draft.work_hours == Decimal(work)
    assert draft.training_hours == (Decimal(training) if training else None)
    assert draft.month == (dt.date(*month, 1) if month else None)
    assert draft.lot_number == lot
    assert draft.market_reference == market


@pytest.mark.parametrize(
    "text",
    [
        "bonjour",
        "35h",  # no name
        "Dupont Marie mars lot 2",  # no hours
        "Robert'); DROP TABLE users;-- 35h",
        "Dupont 35h mars 12 13",  # stray numbers: ask rather than guess
        "x" * 300 + " 35h",
    ],
)
def test_other_texts_are_not_declarations(text):
    assert parse_shortcut(text, TODAY) is None


def test_name_matching_ignores_case_accents_and_order():
    assert name_matches(("helene", "dupont"), "DUPONT Hélène")
    assert name_matches(("dupont",), "DUPONT Hélène")
    assert not name_matches(("dupont", "marie"), "DUPONT Hélène")
