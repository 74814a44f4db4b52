"""The one definition of "contract running in month M" and of "eligibility still valid".

Every query that selects contracts by month (guided declarations, spreadsheet batches, the
reminders, the bilans) and every Python filter over already-loaded rows call these functions, in
the spirit of les-emplois' ``ApprovalQuerySet.valid_lookup`` next to ``Approval.is_valid``: the SQL
expression and its Python twin live side by side, and ``tests/domain/test_declaring_lookup.py``
checks they agree on every edge (a contract ending on the 1st, mid-month, starting on the last
day, open-ended).

Days are inclusive on both ends: a contract from ``start`` to ``end`` (``None``: open-ended, a
CDI) runs during ``[first, last]`` when ``start <= last`` and ``end >= first``. The copies this
replaced wrote the upper bound either as ``start < first day of next month`` or as ``start <=
last day of the month``: on DATE columns the two are the same test (no day lies between the last
day and the next month's first), so neither copy was wrong; the inclusive form is kept because the
bilans bound their periods by a day (``period.end``), not by a month.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, or_

from clauses.counting import add_months, month_end, month_start
from storage.models import Company, Contract, Eligibility, Engagement, Lot, Market, Participant

ONE_DAY = dt.timedelta(days=1)


# -- contract running ------------------------------------------------------------------------


def running_during(first: Any, last: Any) -> ColumnElement[bool]:
    """SQL: the contract runs on at least one day of ``[first, last]`` (dates or bound
    parameters). Twin of :func:`is_running_during`."""
    return and_(
        Contract.start_date <= last,
        or_(Contract.end_date.is_(None), Contract.end_date >= first),
    )


def is_running_during(start: dt.date, end: dt.date | None, first: dt.date, last: dt.date) -> bool:
    """Python: the contract ``[start, end]`` runs on at least one day of ``[first, last]``.
    Twin of :func:`running_during`."""
    return start <= last and (end is None or end >= first)


@functools.lru_cache(maxsize=4096)
def month_bounds(first_month: dt.date, last_month: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """First day of ``first_month`` and last day of ``last_month`` (default: the same month)."""
    return month_start(first_month), month_end(last_month or first_month)


def running_in_months(first_month: dt.date, last_month: dt.date | None = None) -> ColumnElement[bool]:
    """SQL: the contract runs during at least one day of the months ``first_month`` ..
    ``last_month`` (any day of each month names it)."""
    return running_during(*month_bounds(first_month, last_month))


def running_in_month(month: dt.date) -> ColumnElement[bool]:
    """SQL: the contract runs during at least one day of ``month``."""
    return running_in_months(month)


def is_running_in_month(start: dt.date, end: dt.date | None, month: dt.date) -> bool:
    """Python twin of :func:`running_in_month`."""
    return is_running_during(start, end, *month_bounds(month))


def still_running_after(day: Any) -> ColumnElement[bool]:
    """SQL: the contract has started on or before ``day`` and goes on after it (open-ended, or
    its last day is later): the person is still under contract once ``day`` is over. The
    day-level form the exits use, so that an exit dated a contract's last day is allowed while a
    contract that continues refuses it. Twin of :func:`is_still_running_after`."""
    return and_(
        Contract.start_date <= day,
        or_(Contract.end_date.is_(None), Contract.end_date > day),
    )


def is_still_running_after(start: dt.date, end: dt.date | None, day: dt.date) -> bool:
    """Python twin of :func:`still_running_after`."""
    return start <= day and (end is None or end > day)


# -- eligibility still valid -----------------------------------------------------------------


def diagnosis_cutoff(at: dt.date, diagnosis_months: int) -> dt.date:
    """The earliest validation day still usable on ``at``: a validation made on V expires on
    ``add_months(V, N)`` (:mod:`clauses.eligibility`), so it is usable on ``at`` when
    ``add_months(V, N) > at``. ``add_months`` clamps (31/01 + 1 month = 28/02), hence the walk
    instead of ``add_months(at, -N)``."""
    day = add_months(at, -diagnosis_months)
    while add_months(day, diagnosis_months) > at:
        day -= ONE_DAY
    while add_months(day, diagnosis_months) <= at:
        day += ONE_DAY
    return day


def eligibility_valid(
    participant_id: Any, first_entry_date: Any, at: dt.date, diagnosis_months: int
) -> ColumnElement[bool]:
    """SQL: the person (an id or a column) has a validated, unrevoked eligibility usable on
    ``at``: once the person has entered the scheme (``first_entry_date`` set, a column or a
    value) the validation holds — the clause window after entry is applied by the counting —;
    before, the facilitator's validation lasts ``diagnosis_months`` (days counted in UTC, as
    stored). Twin of
    :func:`is_eligibility_valid`."""
    return eligibility_valid_since(participant_id, first_entry_date,
                                   eligibility_cutoff(at, diagnosis_months))


def eligibility_cutoff(at: dt.date, diagnosis_months: int) -> dt.datetime:
    """The earliest validation instant still usable on ``at`` (see :func:`diagnosis_cutoff`),
    what :func:`eligibility_valid_since` compares with."""
    return dt.datetime.combine(diagnosis_cutoff(at, diagnosis_months), dt.time.min, dt.UTC)


def eligibility_valid_since(participant_id: Any, first_entry_date: Any,
                            cutoff: Any) -> ColumnElement[bool]:
    """:func:`eligibility_valid` with its cutoff given (a value from
    :func:`eligibility_cutoff`, or a bound parameter of a statement built once)."""
    alive: ColumnElement[bool]
    if first_entry_date is None:
        alive = Eligibility.validated_at >= cutoff
    elif isinstance(first_entry_date, dt.date):
        alive = Eligibility.id.is_not(None)
    else:
        alive = or_(first_entry_date.is_not(None), Eligibility.validated_at >= cutoff)
    return exists().where(
        Eligibility.participant_id == participant_id,
        Eligibility.validated_at.is_not(None),
        Eligibility.revoked_at.is_(None),
        alive,
    )


def is_eligibility_valid(
    validated_at: dt.datetime | None,
    revoked_at: dt.datetime | None,
    first_entry_date: dt.date | None,
    at: dt.date,
    diagnosis_months: int,
) -> bool:
    """Python twin of :func:`eligibility_valid` for one eligibility row."""
    if validated_at is None or revoked_at is not None:
        return False
    if first_entry_date is not None:
        return True
    day = validated_at.astimezone(dt.UTC).date() if validated_at.tzinfo else validated_at.date()
    return day >= diagnosis_cutoff(at, diagnosis_months)


_Query = TypeVar("_Query", bound=Select)  # a select of any row shape


def joined_to_market(query: _Query, *, company: bool = False) -> _Query:
    """``query`` (over ``Contract``) joined to the contract's person, engagement, lot and market
    (and company): how a contract reaches the obligation it counts for, written once for the
    lookups, the declaration history and the control list."""
    query = (query.join(Participant, Participant.id == Contract.participant_id)
             .join(Engagement, Engagement.id == Contract.engagement_id))
    if company:
        query = query.join(Company, Company.id == Engagement.company_id)
    return query.join(Lot, Lot.id == Engagement.lot_id).join(Market, Market.id == Lot.market_id)
