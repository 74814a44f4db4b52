"""French formatting and parsing of numbers, money, dates and months.

Every user-facing figure goes through these functions so that the bot, the e-mails and the bilans
write "12 345,5 h", "25 000,00 €", "24/11/2026" and "mars 2025" the same way.

Spacing choice: the thousands separator and the space before a unit ("h", "€", "%") are a plain
space (U+0020, constant :data:`SPACE`). French typography prefers a narrow no-break space, but
plain text in Telegram, e-mails, spreadsheets and CSV exports shows it inconsistently, and users
who copy a figure back into the bot would send a character the parsers must then special-case.
The parsers below accept plain, no-break (U+00A0) and narrow no-break (U+202F) spaces alike.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from clauses.errors import MonthParseError, NumberParseError

SPACE = " "
"""Separator used for thousands and before units (see module docstring)."""

MONTHS_FR: tuple[str, ...] = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)

_HUNDREDTH = Decimal("0.01")


def to_decimal(value: Decimal | int | float | str) -> Decimal:
    """Exact Decimal from a number; floats go through ``str`` so 0.1 stays 0.1.

    Strings use the Python syntax ("1234.5"); French text goes through :func:`parse_decimal_fr`.
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int):
        return Decimal(value)
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise NumberParseError(
            f"Nombre non reconnu : « {value} ».", f"Not a number: {value!r}."
        ) from exc


def _group_thousands(digits: str) -> str:
    groups: list[str] = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    groups.insert(0, digits)
    return SPACE.join(groups)


def fr_number(value: Decimal | int | float | str, decimals: int | None = None) -> str:
    """French number: thousands grouped by spaces, decimal comma.

    ``decimals=None`` keeps up to two decimals and drops trailing zeros (12345.50 -> "12 345,5");
    an integer ``decimals`` always prints exactly that many (rounded half up).
    """
    number = to_decimal(value)
    places = 2 if decimals is None else decimals
    quantum = Decimal(1).scaleb(-places)
    number = number.quantize(quantum, rounding=ROUND_HALF_UP)
    sign = "-" if number < 0 else ""
    text = f"{abs(number):f}"
    whole, _, frac = text.partition(".")
    if decimals is None:
        frac = frac.rstrip("0")
    if sign and not (whole.strip("0") or frac.strip("0")):
        sign = ""  # never print "-0"
    out = sign + _group_thousands(whole)
    return f"{out},{frac}" if frac else out


def fr_hours(value: Decimal | int | float | str) -> str:
    """Hours: ``fr_hours(Decimal("12345.5")) == "12 345,5 h"`` (up to two decimals)."""
    return f"{fr_number(value)}{SPACE}h"


def fr_money(value: Decimal | int | float | str, *, ht: bool = False) -> str:
    """Euros with always two decimals: "25 000,00 €" (``ht=True`` appends " HT")."""
    text = f"{fr_number(value, 2)}{SPACE}€"
    return f"{text}{SPACE}HT" if ht else text


def fr_percent(share: Decimal | int | float | str, decimals: int | None = None) -> str:
    """A share (0.05) as a French percentage ("5 %"); up to two decimals by default ("5,5 %")."""
    return f"{fr_number(to_decimal(share) * 100, decimals)}{SPACE}%"


def fr_date(value: dt.date) -> str:
    """Day as the French administrative format "24/11/2026"."""
    return value.strftime("%d/%m/%Y")


def fr_month(value: dt.date, *, capitalize: bool = False) -> str:
    """Month in words: "mars 2025" (locale-independent)."""
    text = f"{MONTHS_FR[value.month - 1]} {value.year}"
    return text[:1].upper() + text[1:] if capitalize else text


# --- parsing -----------------------------------------------------------------------------------


class _DropCombining(dict[int, int | None]):
    """A :meth:`str.translate` table that drops combining marks, filled as characters come
    (a national bilan folds tens of thousands of names: one table lookup per character instead
    of a Python-level test)."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_DROP_COMBINING = _DropCombining()
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower case, no accents, unified spaces: lets "Février", "fevrier" and "FÉVR." match.

    The one matching form of typed names (months, donneurs, companies, column headers).
    """
    text = unicodedata.normalize("NFKD", text or "")
    if not text.isascii():  # accents, typographic spaces and apostrophes are all non-ASCII
        text = text.translate(_DROP_COMBINING)
        text = text.replace("\u202f", " ").replace("\xa0", " ").replace("\u2019", "'")
    return _SPACES.sub(" ", text).strip().lower()


_MONTH_WORDS: dict[str, int] = {}
for _index, _name in enumerate(MONTHS_FR, start=1):
    _MONTH_WORDS[fold(_name)] = _index
_MONTH_WORDS.update(
    {
        "janv": 1,
        "fev": 2,
        "fevr": 2,
        "avr": 4,
        "juil": 7,
        "sept": 9,
        "oct": 10,
        "nov": 11,
        "dec": 12,
    }
)

_NUMERIC_MONTH_PATTERNS = (
    re.compile(r"^(?P<year>\d{4})[-/.](?P<month>\d{1,2})$"),
    re.compile(r"^(?P<month>\d{1,2})[-/.](?P<year>\d{4})$"),
    re.compile(r"^(?P<month>\d{1,2})[-/.](?P<year2>\d{2})$"),
)
_WORD_MONTH = re.compile(
    r"^(?:(?:mois\s+)?(?:de|en)\s+|(?:mois\s+)?d'\s*)?"
    r"(?P<word>[a-z]+)\.?(?:\s+(?P<year>\d{2}|\d{4}))?$"
)


def _month_error(text: str) -> MonthParseError:
    return MonthParseError(
        f"Mois non reconnu : « {text} ». Écrivez par exemple « mars 2025 », « 03/2025 » "
        "ou « 2025-03 ».",
        f"Unrecognised month: {text!r}. Expected e.g. 'mars 2025', '03/2025' or '2025-03'.",
        details={"text": text},
    )


def _full_year(two_digits: str) -> int:
    return 2000 + int(two_digits)


def parse_month(text: str, *, today: dt.date | None = None) -> dt.date:
    """First day of the month written in ``text``.

    Accepts "mars 2025", "Mars 25", "en février 2024", "03/2025", "3-2025", "03/25", "2025-03".
    A month name without a year ("mars") means its most recent occurrence not after ``today``'s
    month, because people declare hours for months already worked.
    """
    folded = fold(text)
    for pattern in _NUMERIC_MONTH_PATTERNS:
        match = pattern.match(folded)
        if match:
            parts = match.groupdict()
            year = int(parts["year"]) if parts.get("year") else _full_year(parts["year2"])
            month = int(parts["month"])
            if not 1 <= month <= 12:
                raise _month_error(text)
            return dt.date(year, month, 1)
    match = _WORD_MONTH.match(folded)
    if not match or match["word"] not in _MONTH_WORDS:
        raise _month_error(text)
    month = _MONTH_WORDS[match["word"]]
    if match["year"]:
        year_text = match["year"]
        year = int(year_text) if len(year_text) == 4 else _full_year(year_text)
        return dt.date(year, month, 1)
    ref = today or dt.date.today()
    year = ref.year if month <= ref.month else ref.year - 1
    return dt.date(year, month, 1)


_NUMBER_FR = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")


def parse_decimal_fr(text: str) -> Decimal:
    """Decimal from French text: "1 234,5", "1234.5", "1 234,50 €" (unit and spaces ignored)."""
    cleaned = fold(text)
    cleaned = re.sub(r"(€|eur|euros?|ht|h|heures?)$", "", cleaned).strip()
    cleaned = cleaned.replace(" ", "")
    if not _NUMBER_FR.match(cleaned):
        raise NumberParseError(
            f"Nombre non reconnu : « {text} ». Écrivez par exemple « 151,67 » ou « 35 ».",
            f"Not a number: {text!r}.",
            details={"text": text},
        )
    return Decimal(cleaned.replace(",", "."))


_HOURS_MINUTES = re.compile(r"^(?P<h>\d+)\s*h\s*(?P<m>\d{1,2})(?:\s*(?:min|mn))?$")


def parse_hours(text: str) -> Decimal:
    """Hours from French text: "12,5", "12,5 h", "12h30" (= 12.5), "151.67"."""
    folded = fold(text)
    match = _HOURS_MINUTES.match(folded)
    if match:
        minutes = int(match["m"])
        if minutes >= 60:
            raise NumberParseError(
                f"Durée non reconnue : « {text} » (minutes ≥ 60).",
                f"Not a duration: {text!r}.",
                details={"text": text},
            )
        hours = Decimal(match["h"]) + Decimal(minutes) / Decimal(60)
        return hours.quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)
    return parse_decimal_fr(text)




def fr_datetime(at: dt.datetime) -> str:
    """A stored instant as a person in France reads it: "06/12/2026 à 01:30", Paris time.

    Stored instants are UTC; SQLite gives them back without a zone, so a naive value is UTC.
    """
    from zoneinfo import ZoneInfo

    aware = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    local = aware.astimezone(ZoneInfo("Europe/Paris"))
    return f"{fr_date(local.date())} à {local:%H:%M}"
