"""The free-text declaration shortcut: "Dupont Marie 35h mars lot 2".

Parsing is pure (no database): it extracts the hours, the month, the lot, the market reference
and the words left for the person's name. Matching those against the company's contracts is
the declaration flow's job, which asks whenever more than one contract fits.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from clauses.errors import DomainError
from clauses.formatting import fold, parse_hours, parse_month

_HOURS = r"(\d{1,3}(?:[.,]\d{1,2})?)\s*(?:h|heures?)(?:\s*(\d{2})(?!\d))?(?![a-z])"
_TRAINING_AFTER = re.compile(r"(?:\bformation|\bform\.)\s*:?\s*" + _HOURS)
_TRAINING_BEFORE = re.compile(r"(?<![\w/.,])" + _HOURS + r"\s*(?:de\s+|d')?formation\b")
_WORK = re.compile(r"(?<![\w/.,])" + _HOURS)
_LOT = re.compile(r"\blot\s*(?:n\s*[°o]?\s*)?(\d{1,3})\b")
_MARKET_WORD = re.compile(r"\bmarche\s+(?:n\s*[°o]?\s*)?([a-z0-9][a-z0-9/_.\-]{1,58})")
_MARKET_REF = re.compile(r"\b(\d{4}-[a-z0-9]{1,8}(?:-[a-z0-9]{1,8})?)\b")
_MONTH_NUM = re.compile(r"\b(\d{1,2}[/.\-](?:\d{4}|\d{2}))\b")
_MONTH_WORD = re.compile(
    r"\b(janvier|janv|fevrier|fevr|fev|mars|avril|avr|mai|juin|juillet|juil|aout|septembre|"
    r"sept|octobre|oct|novembre|nov|decembre|dec)\.?(?:\s+(\d{4}|\d{2})(?!\d))?\b"
)
_NAME_WORD = re.compile(r"^[a-z][a-z'\-]*$")
_STOP_WORDS = frozenset(
    {"de", "du", "des", "d", "en", "pour", "le", "la", "les", "et", "h", "heure", "heures",
     "travail", "mois", "declarer", "declaration", "dont", "sur", "au", "a", "formation"}
)


@dataclass(frozen=True)
class ShortcutDraft:
    names: tuple[str, ...]
    work_hours: Decimal
    training_hours: Decimal | None = None
    month: dt.date | None = None
    lot_number: int | None = None
    market_reference: str | None = None


def _hours(match: re.Match[str]) -> Decimal:
    whole, minutes = match.group(1), match.group(2)
    return parse_hours(f"{whole}h{minutes}" if minutes else whole)


def parse_shortcut(text: str, today: dt.date) -> ShortcutDraft | None:
    """A draft when the text carries hours and a name; None when it is not a declaration."""
    rest = fold(text)
    if len(rest) > 200:
        return None
    try:
        training = None
        for pattern in (_TRAINING_AFTER, _TRAINING_BEFORE):
            match = pattern.search(rest)
            if match:
                training = _hours(match)
                rest = rest[: match.start()] + " " + rest[match.end():]
                break
        match = _WORK.search(rest)
        if not match:
            return None
        work = _hours(match)
        rest = rest[: match.start()] + " " + rest[match.end():]
    except DomainError:
        return None
    lot_number = None
    match = _LOT.search(rest)
    if match:
        lot_number = int(match.group(1))
        rest = rest[: match.start()] + " " + rest[match.end():]
    market = None
    match = _MARKET_WORD.search(rest) or _MARKET_REF.search(rest)
    if match:
        market = match.group(1)
        rest = rest[: match.start()] + " " + rest[match.end():]
    month = None
    match = _MONTH_NUM.search(rest) or _MONTH_WORD.search(rest)
    if match:
        try:
            month = parse_month(match.group(0), today=today)
        except DomainError:
            return None
        rest = rest[: match.start()] + " " + rest[match.end():]
    names = tuple(
        word for word in re.split(r"[\s,;:]+", rest)
        if word and word not in _STOP_WORDS and _NAME_WORD.match(word)
    )
    leftovers = [w for w in re.split(r"[\s,;:]+", rest) if w and w not in names and w not in _STOP_WORDS]
    if not names or leftovers:
        return None
    return ShortcutDraft(
        names=names, work_hours=work, training_hours=training, month=month,
        lot_number=lot_number, market_reference=market,
    )


def name_matches(names: tuple[str, ...], participant_name: str) -> bool:
    """Every typed word is a word of the person's names (any order, accents ignored)."""
    words = set(re.split(r"[\s]+", fold(participant_name)))
    return all(n in words for n in names)
