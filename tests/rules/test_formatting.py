"""French numbers, money, dates and months, both ways."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clauses.errors import MonthParseError, NumberParseError
from clauses.formatting import (
    SPACE,
    fr_date,
    fr_hours,
    fr_money,
    fr_month,
    fr_number,
    fr_percent,
    parse_decimal_fr,
    parse_hours,
    parse_month,
    to_decimal,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12345.5"), "12 345,5 h"),
        (Decimal("833"), "833 h"),
        (Decimal("12.25"), "12,25 h"),
        (Decimal("12.50"), "12,5 h"),
        (Decimal("1000000"), "1 000 000 h"),
        (Decimal("0"), "0 h"),
        (Decimal("151.67"), "151,67 h"),
        (Decimal("999.999"), "1 000 h"),
        (Decimal("-42.5"), "-42,5 h"),
    ],
)
def test_fr_hours(value: Decimal, expected: str) -> None:
    assert fr_hours(value) == expected


def test_space_is_a_plain_space_everywhere() -> None:
    assert SPACE == " "
    assert "\u202f" not in fr_hours(Decimal("12345.5")) + fr_money(1234) + fr_percent("0.05")


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        (Decimal("25000"), {}, "25 000,00 €"),
        (Decimal("1000000"), {"ht": True}, "1 000 000,00 € HT"),
        (Decimal("0.005"), {}, "0,01 €"),
        (30, {}, "30,00 €"),
        (Decimal("-0.001"), {}, "0,00 €"),
    ],
)
def test_fr_money(value: Decimal, kwargs: dict[str, bool], expected: str) -> None:
    assert fr_money(value, **kwargs) == expected


@pytest.mark.parametrize(
    ("share", "expected"),
    [("0.05", "5 %"), ("0.055", "5,5 %"), ("0.7", "70 %"), ("1", "100 %"), ("0.3333", "33,33 %")],
)
def test_fr_percent(share: str, expected: str) -> None:
    assert fr_percent(share) == expected


def test_fr_number_fixed_decimals() -> None:
    assert fr_number(Decimal("1234.5"), 2) == "1 234,50"
    assert fr_number(Decimal("1234.5"), 0) == "1 235"
    assert fr_number(1234567) == "1 234 567"


def test_dates_and_months() -> None:
    assert fr_date(dt.date(2026, 11, 24)) == "24/11/2026"
    assert fr_date(dt.date(2025, 3, 1)) == "01/03/2025"
    assert fr_month(dt.date(2025, 3, 17)) == "mars 2025"
    assert fr_month(dt.date(2025, 8, 1)) == "août 2025"
    assert fr_month(dt.date(2025, 12, 1), capitalize=True) == "Décembre 2025"


TODAY = dt.date(2025, 4, 10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mars 2025", dt.date(2025, 3, 1)),
        ("Mars 25", dt.date(2025, 3, 1)),
        ("MARS", dt.date(2025, 3, 1)),
        ("avril", dt.date(2025, 4, 1)),
        ("mai", dt.date(2024, 5, 1)),
        ("décembre", dt.date(2024, 12, 1)),
        ("decembre 2024", dt.date(2024, 12, 1)),
        ("février 2025", dt.date(2025, 2, 1)),
        ("fevrier", dt.date(2025, 2, 1)),
        ("févr. 2025", dt.date(2025, 2, 1)),
        ("sept 2024", dt.date(2024, 9, 1)),
        ("août 2024", dt.date(2024, 8, 1)),
        ("aout 2024", dt.date(2024, 8, 1)),
        ("en janvier", dt.date(2025, 1, 1)),
        ("d'avril 2025", dt.date(2025, 4, 1)),
        ("d’octobre 2024", dt.date(2024, 10, 1)),
        ("mois de mars 2025", dt.date(2025, 3, 1)),
        ("03/2025", dt.date(2025, 3, 1)),
        ("3/2025", dt.date(2025, 3, 1)),
        ("03-2025", dt.date(2025, 3, 1)),
        ("03/25", dt.date(2025, 3, 1)),
        ("2025-03", dt.date(2025, 3, 1)),
        (" 2025/11 ", dt.date(2025, 11, 1)),
    ],
)
def test_parse_month(text: str, expected: dt.date) -> None:
    assert parse_month(text, today=TODAY) == expected


@pytest.mark.parametrize("text", ["", "13/2025", "2025-00", "marsupilami", "le 3 mars", "2025"])
def test_parse_month_refuses_with_an_example(text: str) -> None:
    with pytest.raises(MonthParseError) as err:
        parse_month(text, today=TODAY)
    assert "mars 2025" in err.value.message_fr


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_fr_month_round_trips(day: dt.date) -> None:
    assert parse_month(fr_month(day)) == day.replace(day=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12,5", Decimal("12.5")),
        ("151.67", Decimal("151.67")),
        ("1 234,50 €", Decimal("1234.50")),
        ("1\u202f234,5", Decimal("1234.5")),
        ("35 h", Decimal("35")),
        ("-3", Decimal("-3")),
    ],
)
def test_parse_decimal_fr(text: str, expected: Decimal) -> None:
    assert parse_decimal_fr(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12h30", Decimal("12.50")),
        ("7 h 45", Decimal("7.75")),
        ("12,25 h", Decimal("12.25")),
        ("8h05", Decimal("8.08")),
    ],
)
def test_parse_hours(text: str, expected: Decimal) -> None:
    assert parse_hours(text) == expected


@pytest.mark.parametrize("text", ["douze", "12,5,3", "12h75", ""])
def test_parse_numbers_refuse_garbage(text: str) -> None:
    with pytest.raises(NumberParseError):
        parse_hours(text)


def test_to_decimal_keeps_floats_exact() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal(3) == Decimal(3)
    with pytest.raises(TypeError):
        to_decimal(True)


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False))
def test_fr_number_round_trips(value: Decimal) -> None:
    assert parse_decimal_fr(fr_number(value)) == value
