"""Parsing one cell: French numbers, dates, kinds, lot numbers, corps d'état, e-mails.

Each parser takes the cell's text and returns the typed value, or raises :class:`ValueProblem`
whose French message says what to write instead; the validator reports it on the cell's line.
Why not :func:`clauses.formatting.parse_decimal_fr` for amounts: a file pasted from a spreadsheet
has thousands dots ("1.250.000,00") and "1.500" is ambiguous there, so it is refused rather than
read as 1,5; the chat's parser, meant for typed figures, accepts it.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from clauses.formatting import fold
from clauses.importing.columns import MAX_AMOUNT, MAX_HOURS
from storage.models import CompanyKind, DonneurKind, EngagementMeans, MarketKind

_EMAIL = re.compile(r"^[^@\s;,<>]+@[^@\s;,<>]+\.[^@\s;,<>]+$")


def to_key(text: str) -> str:
    """The snake_case key a label stands for: "Corps d'état" -> "corps_d_etat".

    Lets a header or a corps d'état be written as users spell it (accents, capitals, spaces).
    """
    return re.sub(r"[^a-z0-9]+", "_", fold(text)).strip("_")


class ValueProblem(ValueError):
    """A cell's value cannot be used; the message is French and says what to write instead."""


_NUMBER_UNITS = re.compile(r"(€|eur|euros?|ht|ttc|h|heures?)$")
_THOUSANDS_DOTS = re.compile(r"^\d{1,3}(\.\d{3})+$")


def parse_number(text: str, *, what: str = "nombre", max_value: Decimal = MAX_AMOUNT,
                 unit: str = "") -> Decimal:
    """A non-negative Decimal with at most two decimals, from French or plain text.

    Accepts "1 000 000,50", "1000000.50", "1.000.000,50", "833 h", "25 000 €" (spaces, no-break
    spaces, units). Refuses negatives, more than two decimals and "1.500" (1 500 or 1,5?).
    """
    cleaned = fold(text)
    while True:
        stripped = _NUMBER_UNITS.sub("", cleaned).strip()
        if stripped == cleaned:
            break
        cleaned = stripped
    cleaned = cleaned.replace(" ", "").replace("'", "")
    sign = ""
    if cleaned[:1] in "+-" and cleaned:
        sign, cleaned = cleaned[0], cleaned[1:]
    if "," in cleaned and "." in cleaned:
        if cleaned.rfind(",") > cleaned.rfind("."):
            cleaned = cleaned.replace(".", "")
        else:
            cleaned = cleaned.replace(",", "")
    elif cleaned.count(".") > 1 and _THOUSANDS_DOTS.match(cleaned):
        cleaned = cleaned.replace(".", "")
    elif re.fullmatch(r"\d{1,3}\.\d{3}", cleaned):
        raise ValueProblem(
            f"{what} ambigu « {text} » : écrivez « {cleaned.replace('.', ' ')} » ou "
            f"« {cleaned.replace('.', ',')} »."
        )
    cleaned = cleaned.replace(",", ".")
    if not re.fullmatch(r"\d+(\.\d+)?", cleaned):
        raise ValueProblem(f"{what} illisible « {text} » (exemple : 1 250 000,50{unit}).")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueProblem(f"{what} illisible « {text} ».") from None
    if sign == "-" and value != 0:
        raise ValueProblem(f"{what} négatif « {text} » : une valeur positive ou nulle est attendue.")
    if -value.as_tuple().exponent > 2:  # type: ignore[operator]
        raise ValueProblem(f"{what} « {text} » : deux décimales au plus.")
    if value > max_value:
        raise ValueProblem(f"{what} trop grand « {text} ».")
    return value


def parse_amount(text: str) -> Decimal:
    """Euros HT from French text ("1 000 000,50", "25 000 €")."""
    return parse_number(text, what="Montant", max_value=MAX_AMOUNT, unit=" €")


def parse_share(text: str) -> Decimal:
    """A share from French text: "5 %", "5", "0,05" → 0.05 (a number of 1 or more is a percentage).

    Refuses more than 100 %, and more precision than a hundredth of a percent.
    """
    cleaned = text.strip().rstrip("%").strip()
    value = parse_number(cleaned, what="Part", max_value=Decimal(100), unit=" %")
    share = value / 100 if value >= 1 else value
    if share > 1:
        raise ValueProblem(f"Part « {text} » : 100 % au plus.")
    if -share.normalize().as_tuple().exponent > 4:  # type: ignore[operator]
        raise ValueProblem(f"Part « {text} » : un centième de pour cent au plus.")
    return share


def parse_cap_share(text: str) -> Decimal:
    """The penalty cap, a share of the lot's amount in whole hundredths ("20 %", "0,2")."""
    share = parse_share(text)
    if share != share.quantize(Decimal("0.01")):
        raise ValueProblem(f"Plafond « {text} » : un pourcentage entier (ex. 20 %).")
    return share


def parse_hours_value(text: str) -> Decimal:
    """A number of hours from French text ("833", "1 200,5 h")."""
    return parse_number(text, what="Nombre d'heures", max_value=MAX_HOURS, unit=" h")


_DATE_FR = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?$")


def parse_date(text: str) -> dt.date:
    """A date written JJ/MM/AAAA (French) or AAAA-MM-JJ (ISO, as some exports write it)."""
    raw = text.strip()
    match = _DATE_FR.match(raw)
    if match:
        day, month, year = (int(g) for g in match.groups())
    else:
        match = _DATE_ISO.match(raw)
        if not match:
            raise ValueProblem(f"date illisible « {text} » : écrivez JJ/MM/AAAA (ex. 15/01/2025).")
        year, month, day = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueProblem(f"date inexistante « {text} ».") from None


def _parse_choice(text: str, enum_cls: Any, what: str) -> Any:
    key = re.sub(r"[\s\-']+", "_", fold(text))
    for member in enum_cls:
        if member.value.lower() == key:
            return member
    valid = ", ".join(m.value for m in enum_cls)
    raise ValueProblem(f"{what} inconnu « {text} ». Valeurs possibles : {valid}.")


def parse_market_kind(text: str) -> MarketKind:
    return _parse_choice(text, MarketKind, "type de marché")


def parse_company_kind(text: str) -> CompanyKind:
    return _parse_choice(text, CompanyKind, "type d'entreprise")


def parse_donneur_kind(text: str) -> DonneurKind:
    return _parse_choice(text, DonneurKind, "type de donneur")


def parse_means(text: str) -> EngagementMeans:
    return _parse_choice(text, EngagementMeans, "moyen")


def parse_lot_number(text: str) -> int:
    raw = text.strip()
    if not re.fullmatch(r"\d{1,4}", raw) or int(raw) < 1:
        raise ValueProblem(f"numéro de lot « {text} » : un entier à partir de 1 est attendu.")
    return int(raw)


def parse_trade(text: str, rulebook: Any | None) -> str:
    """A corps d'état key of the rulebook, from its key or its French label ("Maçonnerie")."""
    key = to_key(text)
    if rulebook is None:
        if not key:
            raise ValueProblem(f"corps d'état illisible « {text} ».")
        return key
    trades = rulebook.chiffrage.trades
    if key in trades:
        return key
    for trade in trades.values():
        if fold(trade.label_fr) == fold(text):
            return trade.key
    raise ValueProblem(
        f"corps d'état inconnu « {text} ». Valeurs possibles : {', '.join(sorted(trades))}."
    )


def parse_email(text: str) -> str:
    value = text.strip().lower()
    if not _EMAIL.match(value):
        raise ValueProblem(f"adresse e-mail invalide « {text} ».")
    return value
