"""Counted hours: which declared hours count toward a clause, month by month.

A company declares, per contract and month, hours of work and hours of training. What counts
depends on the rulebook (``contract_types.<key>``): whether work and training hours count at
all, the share of the counted hours that training may represent, whether the contract counts
only for its first N months (e.g. a CDI counted 12 months), and the end of the person's clause
eligibility (N months after first entry). :func:`count_month` applies these rules to one
declaration; the lead stores the result on the declaration and aggregates it in SQL.

Month granularity (documented choice): a month counts in full when the person was eligible on at
least one of its days (its first day is on or before the eligibility end), and the N-month cap
runs over calendar months starting with the contract's first month, even if partial.

Invariants (property-tested): counted ≤ declared for work and training; counted training never
exceeds ``training_share_cap`` × counted total (training is rounded *down* to the cent of an hour).

Also home of the small calendar helpers every rule uses (month start/end, month arithmetic).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from clauses.errors import NegativeHoursError
from clauses.formatting import fr_date, fr_hours, fr_month, fr_percent, to_decimal
from clauses.rulebook import ContractType, Rulebook

ZERO = Decimal(0)
_HUNDREDTH = Decimal("0.01")


# --- calendar helpers --------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def month_start(day: dt.date) -> dt.date:
    """First day of ``day``'s month (months are identified by their first day).

    Cached, as :func:`month_end`: a 10,000-line declaration file asks 130,000 times for a few
    dozen months, and ``date.replace`` costs eight times a cache hit."""
    return day.replace(day=1)


@functools.lru_cache(maxsize=4096)
def month_end(day: dt.date) -> dt.date:
    """Last day of ``day``'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` calendar months, clamped to the month's length (31/01 + 1 = 28/02)."""
    index = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def months_between(start: dt.date, later: dt.date) -> int:
    """Whole calendar months from ``start``'s month to ``later``'s month (same month: 0)."""
    return (later.year - start.year) * 12 + later.month - start.month


def iter_months(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    """First days of every month from ``first``'s month to ``last``'s month, inclusive."""
    current = month_start(first)
    while current <= last:
        yield current
        current = add_months(current, 1)


# --- counting ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CountedHours:
    """Hours of one declaration that count toward the clause, and why some did not."""

    work: Decimal
    training: Decimal
    total: Decimal
    reasons: tuple[str, ...] = ()

    @classmethod
    def nothing(cls, reason: str) -> CountedHours:
        return cls(ZERO, ZERO, ZERO, (reason,))


def training_cap(counted_work: Decimal, share_cap: Decimal) -> Decimal | None:
    """Most training hours that keep training ≤ ``share_cap`` of (work + training).

    From t ≤ s·(w + t): t ≤ s·w / (1 − s). Rounded down to the hundredth so the share is never
    exceeded; ``None`` means no cap (s = 1).
    """
    if share_cap >= 1:
        return None
    if share_cap <= 0:
        return ZERO
    cap = (share_cap * counted_work / (1 - share_cap)).quantize(_HUNDREDTH, rounding=ROUND_FLOOR)
    # Decimal division is rounded at 28 digits: step down if that ever put us over the share.
    while cap > 0 and cap > share_cap * (counted_work + cap):
        cap -= _HUNDREDTH
    return cap


def count_month(
    contract_type: str | ContractType,
    contract_start: dt.date,
    month: dt.date,
    work_hours: Decimal | int | str,
    training_hours: Decimal | int | str,
    clause_eligibility_end: dt.date | None,
    rulebook: Rulebook,
) -> CountedHours:
    """Counted hours of one month of one contract (pure; see the module docstring for rules).

    ``clause_eligibility_end`` is the person's last eligible day (see
    :func:`clauses.eligibility.clause_eligibility_end`), ``None`` when unknown/unbounded.
    Reasons are French sentences for the facilitator.
    """
    kind = (
        rulebook.contract_type(contract_type) if isinstance(contract_type, str) else contract_type
    )
    work = to_decimal(work_hours)
    training = to_decimal(training_hours)
    if work < 0 or training < 0:
        raise NegativeHoursError(
            "Le nombre d'heures ne peut pas être négatif.",
            "Hours cannot be negative.",
            details={"work": str(work), "training": str(training)},
        )
    month = month_start(month)
    if month < month_start(contract_start):
        return CountedHours.nothing(
            f"{fr_month(month)} est antérieur au début du contrat ({fr_date(contract_start)}) : "
            "aucune heure comptée."
        )
    if clause_eligibility_end is not None and month > clause_eligibility_end:
        return CountedHours.nothing(
            f"{fr_month(month)} est après la fin d'éligibilité à la clause "
            f"({fr_date(clause_eligibility_end)}) : aucune heure comptée."
        )
    cap_months = kind.counted_months_cap
    if cap_months is not None and months_between(contract_start, month) >= cap_months:
        return CountedHours.nothing(
            f"{kind.label_fr} compté {cap_months} mois à partir du début du contrat "
            f"({fr_date(contract_start)}) : {fr_month(month)} n'est plus compté."
        )

    reasons: list[str] = []
    counted_work = work if kind.work_hours_count else ZERO
    if not kind.work_hours_count and work > 0:
        reasons.append(
            f"Heures de travail non comptées pour ce type de contrat ({kind.label_fr}) : "
            f"{fr_hours(work)} non retenues."
        )
    counted_training = training if kind.training_hours_count else ZERO
    if not kind.training_hours_count and training > 0:
        reasons.append(
            f"Heures de formation non comptées pour ce type de contrat ({kind.label_fr}) : "
            f"{fr_hours(training)} non retenues."
        )
    cap = training_cap(counted_work, kind.training_share_cap) if counted_training > 0 else None
    if cap is not None and counted_training > cap:
        reasons.append(
            f"Formation plafonnée à {fr_percent(kind.training_share_cap)} des heures comptées : "
            f"{fr_hours(cap)} retenues sur {fr_hours(counted_training)} déclarées."
        )
        counted_training = cap
    return CountedHours(
        work=counted_work,
        training=counted_training,
        total=counted_work + counted_training,
        reasons=tuple(reasons),
    )
