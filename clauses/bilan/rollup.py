"""Roll-ups of the bilan's aggregated rows: headline, monthly, contract-type, market and donneur
figures as sums of rows that SQL has already grouped.

The declarations are read twice per bilan (:func:`clauses.bilan.queries.engagement_rows`, up to
the reference date, and :func:`clauses.bilan.queries.month_type_hours`, the period); every other
hour figure is a sum of those few thousand rows, here, instead of one more scan of the
declarations per table. Hours stay exact: each row is already a two-decimal ``Decimal``, and the
sums start from ``0.00`` so an empty sum reads as the SQL ``COALESCE(SUM(...), 0)`` did.

Persons are never summed (one person on two markets counts once in the total): they come from
the COUNT(DISTINCT) groupings of :func:`clauses.bilan.queries.contract_counts`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from clauses.bilan.figures import (
    APART_KINDS,
    HOUR_OBLIGATION_KINDS,
    ApartLine,
    DonneurLine,
    EngagementLine,
    Headline,
    MarketLine,
    MonthHours,
)
from clauses.bilan.queries import ContractCounts, EngagementRow, MarketRow, MonthTypeHours, dec

_ZERO = dec(0)
"""``0.00``: the value an empty SUM had once coalesced and quantized (a Decimal is immutable,
so one instance serves every sum)."""


def _zero() -> Decimal:
    return _ZERO


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, _zero())


def _line_hours(rows: list[EngagementRow]) -> tuple[Decimal, Decimal, Decimal]:
    """(owed, done in the period, done to date) of a line summing engagements."""
    return (_sum(e.hours_owed for e in rows), _sum(e.hours_period for e in rows),
            _sum(e.hours_to_date for e in rows))


@dataclass(frozen=True)
class Totals:
    hours_counted: Decimal
    hours_work: Decimal
    hours_training: Decimal
    hours_to_date: Decimal
    hours_owed: Decimal
    contracts: int
    persons: int


def totals(engagements: list[EngagementRow], counts: ContractCounts) -> Totals:
    """Headline figures: hours summed over the engagements, contracts and persons counted once
    (one pass over the rows: a territory has tens of thousands)."""
    counted = work = training = to_date = owed = _zero()
    for e in engagements:
        counted += e.hours_period
        work += e.hours_work
        training += e.hours_training
        to_date += e.hours_to_date
        owed += e.hours_owed
    return Totals(
        hours_counted=counted,
        hours_work=work,
        hours_training=training,
        hours_to_date=to_date,
        hours_owed=owed,
        contracts=counts.contracts,
        persons=counts.persons,
    )


def market_kinds(markets: list[MarketRow]) -> dict[str, int]:
    """Markets in scope by storage kind (keys in sorted order, so the result is stable)."""
    out: dict[str, int] = {}
    for m in sorted(markets, key=lambda m: m.kind):
        out[m.kind] = out.get(m.kind, 0) + 1
    return out


def months(rows: list[MonthTypeHours]) -> list[MonthHours]:
    """Counted, work and training hours per month of the period, every contract type together."""
    by_month: dict[dt.date, list[Decimal]] = {}
    for r in rows:
        acc = by_month.setdefault(r.month, [_zero(), _zero(), _zero()])
        acc[0] += r.counted
        acc[1] += r.work
        acc[2] += r.training
    return [MonthHours(m, *by_month[m]) for m in sorted(by_month)]


def contract_types(rows: list[MonthTypeHours], counts: ContractCounts,
                   ) -> list[tuple[str, int, int, Decimal]]:
    """(contract type, contracts, distinct persons, counted hours of the period) for every type
    of the period's contracts; a type without declarations in the period has ``0.00`` hours."""
    hours: dict[str, Decimal] = {}
    for r in rows:
        if r.contract_type is not None:
            hours[r.contract_type] = hours.get(r.contract_type, _zero()) + r.counted
    return [(key, n, persons, hours.get(key, _zero()))
            for key, (n, persons) in counts.by_type.items()]


def market_status(status: str, end: dt.date, at: dt.date) -> str:
    """The status a reader needs at ``at``: a market past its end that nobody closed yet is
    « terminé » (and awaits its final bilan), not « en cours »."""
    if status != "clos" and end < at:
        return "termine"
    return status


def headline(lines: list[EngagementLine]) -> Headline:
    """Owed vs done over the engagements whose obligation is in hours, each capped at what it
    owes (see :class:`Headline`). One pass over the already aggregated lines."""
    n = short_n = over_n = 0
    owed = done = credited = over = short = _zero()
    for e in lines:
        if e.market_kind not in HOUR_OBLIGATION_KINDS:
            continue
        n += 1
        owed += e.hours_owed
        done += e.hours_to_date
        credited += e.hours_credited
        over += e.hours_over
        short += e.hours_short
        if e.hours_to_date < e.hours_owed:
            short_n += 1
        elif e.hours_to_date > e.hours_owed:
            over_n += 1
    return Headline(
        engagements=n, owed=owed, done=done, credited=credited, over=over, short=short,
        engagements_short=short_n, engagements_over=over_n,
    )


def apart(markets: list[MarketRow], engagements: list[EngagementRow],
          counts: ContractCounts) -> list[ApartLine]:
    """Reserved and insertion markets, one line per kind present (persons distinct per kind,
    from SQL)."""
    out = []
    for kind in APART_KINDS:
        ids = {m.market_id for m in markets if m.kind == kind}
        if not ids:
            continue
        rows = [e for e in engagements if e.market_id in ids]
        contracts, persons = counts.by_kind.get(kind, (0, 0))
        planned, period, to_date = _line_hours(rows)
        out.append(ApartLine(
            kind=kind, markets=len(ids), engagements=len(rows), hours_planned=planned,
            hours_period=period, hours_to_date=to_date, contracts=contracts, persons=persons,
        ))
    return out


def market_lines(markets: list[MarketRow], engagements: list[EngagementRow],
                 counts: ContractCounts, at: dt.date | None = None) -> list[MarketLine]:
    """One line per market in scope; hours summed over its engagements (none: zeros), in one
    pass over the engagement rows."""
    sums: dict[int, list[Decimal]] = {}
    for e in engagements:
        acc = sums.get(e.market_id)
        if acc is None:
            sums[e.market_id] = [_ZERO + e.hours_owed, _ZERO + e.hours_period,
                                 _ZERO + e.hours_to_date]
        else:
            acc[0] += e.hours_owed
            acc[1] += e.hours_period
            acc[2] += e.hours_to_date
    out = []
    for m in markets:
        contracts, persons = counts.by_market.get(m.market_id, (0, 0))
        owed, period, to_date = sums.get(m.market_id) or (_ZERO, _ZERO, _ZERO)
        out.append(MarketLine(
            market_id=m.market_id, reference=m.reference, title=m.title, kind=m.kind,
            status=market_status(m.status, m.end_date, at) if at else m.status,
            start_date=m.start_date, end_date=m.end_date,
            donneur_name=m.donneur_name, hours_owed=owed, hours_period=period,
            hours_to_date=to_date, contracts=contracts, persons=persons,
        ))
    return out


def donneur_lines(markets: list[MarketRow], engagements: list[EngagementRow],
                  counts: ContractCounts) -> list[DonneurLine]:
    """Territory bilan: one line per donneur with markets in scope, in the markets' order
    (donneur name first); persons distinct per donneur, from SQL."""
    donneur_of = {m.market_id: m.donneur_id for m in markets}
    names: dict[int, str] = {}
    n_markets: dict[int, int] = {}
    for m in markets:
        names.setdefault(m.donneur_id, m.donneur_name)
        n_markets[m.donneur_id] = n_markets.get(m.donneur_id, 0) + 1
    owed = {d: _zero() for d in names}
    period = {d: _zero() for d in names}
    for e in engagements:
        d = donneur_of[e.market_id]
        owed[d] += e.hours_owed
        period[d] += e.hours_period
    return [
        DonneurLine(donneur_id=d, name=name, markets=n_markets[d], hours_owed=owed[d],
                    hours_period=period[d], contracts=counts.by_donneur.get(d, (0, 0))[0],
                    persons=counts.by_donneur.get(d, (0, 0))[1])
        for d, name in names.items()
    ]
