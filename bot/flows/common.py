"""Small helpers shared by the flows: cancel buttons, step checks, hours input, savepoints."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TypeVar

from bot import texts
from bot.messages import Button, Keyboard
from bot.turn import Turn
from clauses.directory import like_pattern  # noqa: F401 - moved to the domain; kept importable
from clauses.errors import DomainError, NegativeHoursError
from clauses.formatting import fr_hours, parse_hours

T = TypeVar("T")

CANCEL: Button = ("❌ Annuler", "x:cancel")


def with_cancel(rows: Keyboard) -> Keyboard:
    return [*rows, [CANCEL]]


def in_step(t: Turn, flow: str, *steps: str) -> bool:
    """Whether a pressed button belongs to the step in progress; says so when it does not."""
    if t.conv.flow == flow and (not steps or t.conv.step in steps):
        return True
    t.notify(texts.STALE_BUTTON)
    return False


def read_hours(text: str, what: str, ceiling: Decimal) -> Decimal:
    """Hours typed by a user ("35", "35,5", "35h30"); a DomainError says what to type.

    ``ceiling`` is the rulebook's ``hours.monthly_hours_max``: the one monthly ceiling, refused
    here at the step rather than after the whole flow."""
    value = parse_hours(text)
    if value < 0:
        raise NegativeHoursError(f"Le nombre d'heures de {what} ne peut pas être négatif.")
    if value > ceiling:
        raise DomainError(
            f"{text} h de {what} en un mois, ce n'est pas possible : le règlement en admet "
            f"{fr_hours(ceiling)} au plus par mois. Vérifiez le nombre."
        )
    return value


def iso_month(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def chunks(items: list[Button], per_row: int) -> Keyboard:
    return [items[i: i + per_row] for i in range(0, len(items), per_row)]
