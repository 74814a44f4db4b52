"""Parsing of the values typed in CSV cells and options: SIRET, amounts, hours, dates, kinds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn

from clauses.importing import (
    ImportFileError,
    ValueProblem,
    parse_amount,
    parse_date,
    parse_hours_value,
    parse_market_kind,
    parse_trade,
    read_csv,
)
from clauses.rulebook import load_rulebook
from clauses.siret import (
    InvalidSiretError,
    format_siret,
    is_valid_siret,
    looks_like_siret,
    normalize_siret,
)
from storage.models import MarketKind


@pytest.mark.parametrize("typed", [
    "82195345200413", "821 953 452 00413", " 821.953.452.00413 ", "821\u00a0953\u00a0452\u00a000413",
    "821\u202f953\u202f452\u202f00413", "821-953-452-00413",
])
def test_siret_separators_are_removed(typed: str) -> None:
    assert normalize_siret(typed) == "82195345200413"


@pytest.mark.parametrize(("typed", "reason"), [
    ("82195345200414", "clé de contrôle"),
    ("8219534520041", "13 chiffre(s) au lieu de 14"),
    ("821953452004133", "15 chiffre(s) au lieu de 14"),
    ("82195345200A13", "que des chiffres"),
    ("", "vide"),
])
def test_invalid_siret_messages(typed: str, reason: str) -> None:
    with pytest.raises(InvalidSiretError) as err:
        normalize_siret(typed)
    assert reason in err.value.message_fr
    assert err.value.message_fr.startswith("SIRET invalide")
    assert not is_valid_siret(typed)


def test_siret_helpers() -> None:
    assert format_siret("82195345200413") == "821 953 452 00413"
    assert looks_like_siret("821 953 452 00414") and not looks_like_siret("BTP Rhône")
    # La Poste establishments do not follow Luhn (python-stdnum knows the exception).
    assert is_valid_siret("356 000 000 09075")


@given(st.integers(min_value=10_000_000, max_value=99_999_999), st.integers(1, 9999))
def test_generated_valid_sirets_round_trip(siren8: int, nic: int) -> None:
    siren = f"{siren8}" + luhn.calc_check_digit(f"{siren8}")
    body = f"{siren}{nic:04d}"
    siret = body + luhn.calc_check_digit(body)
    assert normalize_siret(format_siret(siret)) == siret


@pytest.mark.parametrize(("text", "value"), [
    ("1 000 000,50", Decimal("1000000.50")), ("1000000.50", Decimal("1000000.50")),
    ("1.000.000,50", Decimal("1000000.50")), ("1,000,000.50", Decimal("1000000.50")),
    ("25 000 €", Decimal(25000)), ("25\u202f000,00 € HT", Decimal(25000)), ("0", Decimal(0)),
    ("1\u00a0250", Decimal(1250)),
])
def test_amounts_in_french(text: str, value: Decimal) -> None:
    assert parse_amount(text) == value


@pytest.mark.parametrize(("text", "reason"), [
    ("-5 000", "négatif"), ("1.500", "ambigu"), ("12,345", "deux décimales"),
    ("douze", "illisible"), ("1 000 000 000 000", "trop grand"),
])
def test_bad_amounts(text: str, reason: str) -> None:
    with pytest.raises(ValueProblem, match=reason):
        parse_amount(text)


def test_hours() -> None:
    assert parse_hours_value("833 h") == Decimal(833)
    assert parse_hours_value("1 200,5") == Decimal("1200.5")
    with pytest.raises(ValueProblem, match="négatif"):
        parse_hours_value("-3")


@pytest.mark.parametrize(("text", "value"), [
    ("15/01/2025", dt.date(2025, 1, 15)), ("5/1/2025", dt.date(2025, 1, 5)),
    ("2025-01-15", dt.date(2025, 1, 15)), ("2025-01-15 00:00:00", dt.date(2025, 1, 15)),
])
def test_dates(text: str, value: dt.date) -> None:
    assert parse_date(text) == value


@pytest.mark.parametrize(("text", "reason"), [
    ("31/02/2025", "inexistante"), ("15.01.2025", "illisible"), ("01/15/25", "illisible"),
])
def test_bad_dates(text: str, reason: str) -> None:
    with pytest.raises(ValueProblem, match=reason):
        parse_date(text)


def test_kinds_and_trades() -> None:
    assert parse_market_kind(" Marché-Réservé ") == MarketKind.MARCHE_RESERVE
    with pytest.raises(ValueProblem, match="clause_execution, critere_attribution"):
        parse_market_kind("clause")
    rulebook = load_rulebook("default")
    assert parse_trade("Maçonnerie", rulebook) == "maconnerie"
    assert parse_trade("peinture_interieure", rulebook) == "peinture_interieure"
    with pytest.raises(ValueProblem, match="corps d'état inconnu"):
        parse_trade("jardinage", rulebook)


def test_csv_reading_details() -> None:
    table = read_csv(b"sep=,\r\nDonneur,SIRET\r\n\r\n\"Ville, d'Oullins\",1\r\n")
    assert table.delimiter == ","
    assert table.rows == [(4, {"donneur": "Ville, d'Oullins", "siret": "1"})]
    bom = read_csv("\ufeffdonneur;marche_ref\nVille;1\n".encode())
    assert bom.columns == ["donneur", "marche_ref"] and bom.rows[0][0] == 2
    multi = read_csv(b'donneur;marche_intitule;marche_ref\nV;"deux\nlignes";R\nV;x;S\n')
    assert [line for line, _ in multi.rows] == [2, 4]
    with pytest.raises(ImportFileError, match="UTF-16"):
        read_csv("donneur\n".encode("utf-16"))
    with pytest.raises(ImportFileError, match="vide"):
        read_csv(b"\n\n")
    with pytest.raises(ImportFileError, match="en double"):
        read_csv(b"donneur;Donneur\n")
