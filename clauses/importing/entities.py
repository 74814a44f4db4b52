"""What the validation builds from the lines: merged entities, and the plan the writer applies.

An entity (a donneur, market, lot, company or engagement) may be described by several lines of
the file; :class:`Entity` keeps the merged values and the line each one came from, so a
contradiction or a later check can point at the right line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from clauses.formatting import fr_date
from storage.models import Company, Contact, Donneur, Lot, Market


class _Invalid:
    """Marks a value whose cell was refused, so no second error is raised about it."""

    def __repr__(self) -> str:
        return "<invalid>"


INVALID: Any = _Invalid()


@dataclass
class Entity:
    """An entity described by one or more lines: merged values and where each came from."""

    key: Any
    first_line: int | None
    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int | None] = field(default_factory=dict)
    seen_on: list[int | None] = field(default_factory=list)

    def get(self, name: str) -> Any:
        value = self.values.get(name)
        return None if value is INVALID else value

    def has(self, name: str) -> bool:
        """Given on some line (even if refused there)."""
        return name in self.values


@dataclass
class Plan:
    """Every entity of the file with its existing row (None: to create), ready to write."""

    donneurs: dict[str, tuple[Entity, Donneur | None]] = field(default_factory=dict)
    markets: dict[str, tuple[Entity, Market | None]] = field(default_factory=dict)
    lots: dict[tuple[str, int], tuple[Entity, Lot | None]] = field(default_factory=dict)
    companies: dict[str, tuple[Entity, Company | None]] = field(default_factory=dict)
    engagements: dict[tuple[str, int, str], tuple[Entity, None]] = field(default_factory=dict)
    referents: dict[str, tuple[Entity, Contact | None]] = field(default_factory=dict)


def display(value: Any) -> str:
    """A value as the error messages quote it (dates French, decimals as typed, enums by value).

    Decimals keep every digit, ungrouped ("1500,00"): :func:`clauses.formatting.fr_number`
    would round them to two decimals and group thousands, changing the messages users get.
    """
    if isinstance(value, dt.date):
        return fr_date(value)
    if isinstance(value, Decimal):
        return f"{value:f}".replace(".", ",")
    return str(getattr(value, "value", value))
