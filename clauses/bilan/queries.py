"""The SQL aggregates behind every bilan.

Each function runs ONE statement (GROUP BY, scalar subqueries, CTEs, UNION ALL) whatever the
number of markets, contracts or declarations, so the cost of a bilan is a fixed number of round
trips (counted by a test). Rows come back already aggregated; Python only attaches rulebook labels
and the pro-rata arithmetic.

Scope rules (the same in every query, so the tables add up):

* markets in scope: the donneur's (or the territory's) markets whose dates overlap the period, or
  the one market of a point d'étape;
* engagements in scope: those of the lots of these markets;
* contracts in scope: contracts on these engagements whose dates overlap the period;
* hours of the period: declarations of these contracts whose month (stored as its first day) lies
  in ``[first day of the start's month, end]`` — declarations are monthly, so a period starting
  mid-month includes that whole month;
* hours "to date": every declared month up to the reference date, since the market's start.

Only the current row of a declaration exists in ``hour_declarations`` (corrections append to
``declaration_revisions`` and update the row), so a plain SUM never counts a correction twice.

The queries only use constructs SQLite and PostgreSQL share (``EXTRACT`` is compiled to
``strftime`` on SQLite by SQLAlchemy; constants are inlined literals so PostgreSQL can match the
grouped expressions).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    String,
    and_,
    case,
    extract,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from clauses.bilan.figures import NOT_STATED, MarketLine, Period
from clauses.clock import PARIS
from storage.models import (
    Company,
    Contract,
    Donneur,
    Engagement,
    EscalationCase,
    EscalationState,
    HourDeclaration,
    Lot,
    Market,
    Participant,
    QualitativeNote,
)

HUNDREDTH = Decimal("0.01")

DEFAULT_STATES = (EscalationState.DEFAILLANCE_NOTIFIEE, EscalationState.PENALITES_CALCULEES)
"""Escalation states at which the company is in default (the buyer has notified it)."""

PENALISED_OUTCOMES = ("penalise", "penalisee", "penalites", "defaillance", "defaillante")
"""Outcomes of a closed case that mean the company was found in default (clauses.escalation
writes "penalise"; a closed case with no outcome but a penalty amount counts too)."""

SEVERITY_NONE, SEVERITY_OPEN, SEVERITY_DEFAULT = 0, 2, 3


@dataclass(frozen=True)
class Scope:
    """What a bilan looks at: a period, a reference date, and optionally one donneur or market."""

    period: Period
    at: dt.date
    donneur_id: int | None = None
    market_id: int | None = None

    @property
    def cutoff(self) -> dt.date:
        """Last day of the last complete month at ``at`` (progress is compared there, because
        the current month's hours are declared after it ends)."""
        if (self.at + dt.timedelta(days=1)).day == 1:
            return self.at
        return self.at.replace(day=1) - dt.timedelta(days=1)

    def market_conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.market_id is not None:
            conditions.append(Market.id == self.market_id)
        else:
            conditions.append(Market.start_date <= self.period.end)
            conditions.append(Market.end_date >= self.period.month_start)
        if self.donneur_id is not None:
            conditions.append(Market.donneur_id == self.donneur_id)
        return conditions


# --- building blocks ---------------------------------------------------------------------------

_KEY = re.compile(r"^[a-z0-9_]+$")


def _const(value: str) -> ColumnElement[str]:
    """An inlined string constant: PostgreSQL cannot see that two bound parameters are equal,
    so a CASE of parameters in a GROUP BY would be rejected."""
    if not _KEY.match(value):
        raise ValueError(f"not a plain key: {value!r}")
    return literal_column(f"'{value}'", String)


def _in_period(scope: Scope) -> ColumnElement[bool]:
    return and_(
        HourDeclaration.month >= scope.period.month_start, HourDeclaration.month <= scope.period.end
    )


def _hours_when(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, HourDeclaration.counted_hours), else_=0)), 0)


def engagements_cte(scope: Scope, name: str = "eng") -> CTE:
    return (
        select(
            Engagement.id.label("engagement_id"),
            Engagement.company_id.label("company_id"),
            Engagement.hours_owed.label("hours_owed"),
            Lot.market_id.label("market_id"),
            Market.donneur_id.label("donneur_id"),
        )
        .join(Lot, Lot.id == Engagement.lot_id)
        .join(Market, Market.id == Lot.market_id)
        .where(*scope.market_conditions())
        .cte(name)
    )


def contracts_cte(scope: Scope, eng: CTE, name: str = "ctr") -> CTE:
    return (
        select(
            Contract.id.label("contract_id"),
            Contract.participant_id.label("participant_id"),
            Contract.contract_type.label("contract_type"),
            Contract.start_date.label("start_date"),
            eng.c.engagement_id,
            eng.c.company_id,
            eng.c.market_id,
            eng.c.donneur_id,
        )
        .join(eng, eng.c.engagement_id == Contract.engagement_id)
        .where(
            Contract.start_date <= scope.period.end,
            or_(Contract.end_date.is_(None), Contract.end_date >= scope.period.month_start),
        )
        .cte(name)
    )


def dec(value: Any) -> Decimal:
    """Hours as an exact two-decimal Decimal (SQLite hands back floats for SUMs)."""
    if value is None:
        return Decimal("0.00")
    return Decimal(str(value)).quantize(HUNDREDTH)


# --- the queries -------------------------------------------------------------------------------


def market_counts(session: Session, scope: Scope) -> dict[str, int]:
    """Markets in scope by storage kind."""
    rows = session.execute(
        select(type_coerce(Market.kind, String), func.count(Market.id))
        .where(*scope.market_conditions())
        .group_by(Market.kind)
    )
    return {str(kind): int(n) for kind, n in rows}


@dataclass(frozen=True)
class Totals:
    hours_counted: Decimal
    hours_work: Decimal
    hours_training: Decimal
    hours_to_date: Decimal
    hours_owed: Decimal
    contracts: int
    persons: int


def totals(session: Session, scope: Scope) -> Totals:
    """Headline figures in one statement of scalar subqueries."""
    eng = engagements_cte(scope)
    ctr = contracts_cte(scope, eng)

    def hours(column: Any, condition: ColumnElement[bool]) -> Any:
        return (
            select(func.coalesce(func.sum(column), 0))
            .select_from(HourDeclaration)
            .join(Contract, Contract.id == HourDeclaration.contract_id)
            .join(eng, eng.c.engagement_id == Contract.engagement_id)
            .where(condition)
            .scalar_subquery()
        )

    in_period = _in_period(scope)
    to_date = HourDeclaration.month <= scope.at
    row = session.execute(
        select(
            hours(HourDeclaration.counted_hours, in_period),
            hours(HourDeclaration.work_hours, in_period),
            hours(HourDeclaration.training_hours, in_period),
            hours(HourDeclaration.counted_hours, to_date),
            select(func.coalesce(func.sum(eng.c.hours_owed), 0)).scalar_subquery(),
            select(func.count(ctr.c.contract_id)).scalar_subquery(),
            select(func.count(func.distinct(ctr.c.participant_id))).scalar_subquery(),
        )
    ).one()
    return Totals(
        hours_counted=dec(row[0]),
        hours_work=dec(row[1]),
        hours_training=dec(row[2]),
        hours_to_date=dec(row[3]),
        hours_owed=dec(row[4]),
        contracts=int(row[5]),
        persons=int(row[6]),
    )


def hours_by_month(session: Session, scope: Scope) -> list[tuple[dt.date, Decimal, Decimal, Decimal]]:
    eng = engagements_cte(scope)
    rows = session.execute(
        select(
            HourDeclaration.month,
            func.sum(HourDeclaration.counted_hours),
            func.sum(HourDeclaration.work_hours),
            func.sum(HourDeclaration.training_hours),
        )
        .join(Contract, Contract.id == HourDeclaration.contract_id)
        .join(eng, eng.c.engagement_id == Contract.engagement_id)
        .where(_in_period(scope))
        .group_by(HourDeclaration.month)
        .order_by(HourDeclaration.month)
    )
    return [(_as_date(m), dec(c), dec(w), dec(t)) for m, c, w, t in rows]


TYPOLOGY_DIMENSIONS = ("age_band", "gender", "commune", "qpv", "status")


def _yyyymmdd(column: Any) -> Any:
    return extract("year", column) * 10000 + extract("month", column) * 100 + extract("day", column)


def typology(session: Session, scope: Scope) -> dict[str, dict[str, int]]:
    """Persons (each once) by age band, gender, commune, QPV and status at entry.

    One UNION ALL of five GROUP BYs over a derived table of the persons in scope. The age is taken
    at the person's first contract in scope: ``(yyyymmdd(ref) - yyyymmdd(birth)) / 10000``
    floored is the age in whole years, so comparing the difference with 260000 / 500000 gives the
    bands without any dialect-specific date arithmetic.
    """
    eng = engagements_cte(scope)
    ctr = contracts_cte(scope, eng)
    pers = (
        select(ctr.c.participant_id, func.min(ctr.c.start_date).label("first_start"))
        .group_by(ctr.c.participant_id)
        .cte("pers")
    )
    age_diff = _yyyymmdd(pers.c.first_start) - _yyyymmdd(Participant.birth_date)
    typo = (
        select(
            case(
                (Participant.birth_date.is_(None), _const(NOT_STATED)),
                (age_diff < 260000, _const("moins_26")),
                (age_diff < 500000, _const("26_49")),
                else_=_const("50_plus"),
            ).label("age_band"),
            func.coalesce(type_coerce(Participant.gender, String), _const(NOT_STATED)).label(
                "gender"
            ),
            func.coalesce(Participant.commune, _const(NOT_STATED)).label("commune"),
            case((Participant.qpv.is_(True), _const("qpv")), else_=_const("hors_qpv")).label("qpv"),
            func.coalesce(Participant.status_at_entry, _const(NOT_STATED)).label("status"),
        )
        .join_from(pers, Participant, Participant.id == pers.c.participant_id)
        .subquery("typo")
    )
    parts = [
        select(
            _const(dim).label("dim"),
            type_coerce(typo.c[dim], String).label("key"),
            func.count().label("n"),
        ).group_by(typo.c[dim])
        for dim in TYPOLOGY_DIMENSIONS
    ]
    out: dict[str, dict[str, int]] = {dim: {} for dim in TYPOLOGY_DIMENSIONS}
    for dim, key, n in session.execute(union_all(*parts)):
        out[str(dim)][str(key)] = int(n)
    return out


def contract_types(session: Session, scope: Scope) -> list[tuple[str, int, int, Decimal]]:
    """(contract type key, contracts, distinct persons, counted hours of the period)."""
    eng = engagements_cte(scope)
    ctr = contracts_cte(scope, eng)
    hrs = (
        select(
            HourDeclaration.contract_id.label("contract_id"),
            func.sum(HourDeclaration.counted_hours).label("hours"),
        )
        .where(_in_period(scope))
        .group_by(HourDeclaration.contract_id)
        .subquery("hrs")
    )
    rows = session.execute(
        select(
            ctr.c.contract_type,
            func.count(ctr.c.contract_id),
            func.count(func.distinct(ctr.c.participant_id)),
            func.coalesce(func.sum(hrs.c.hours), 0),
        )
        .outerjoin(hrs, hrs.c.contract_id == ctr.c.contract_id)
        .group_by(ctr.c.contract_type)
        .order_by(ctr.c.contract_type)
    )
    return [(str(k), int(c), int(p), dec(h)) for k, c, p, h in rows]


def exits(session: Session, scope: Scope) -> dict[str, int]:
    """Persons in scope who left during the period (or with no exit date), by situation key."""
    eng = engagements_cte(scope)
    ctr = contracts_cte(scope, eng)
    rows = session.execute(
        select(Participant.exit_situation, func.count(Participant.id))
        .where(
            Participant.id.in_(select(ctr.c.participant_id)),
            Participant.exit_situation.is_not(None),
            or_(
                Participant.exit_date.is_(None),
                and_(
                    Participant.exit_date >= scope.period.start,
                    Participant.exit_date <= scope.period.end,
                ),
            ),
        )
        .group_by(Participant.exit_situation)
    )
    return {str(k): int(n) for k, n in rows}


@dataclass(frozen=True)
class EngagementRow:
    engagement_id: int
    hours_owed: Decimal
    lot_number: int
    lot_label: str
    start: dt.date
    end: dt.date
    market_id: int
    market_reference: str
    company_id: int
    company_name: str
    company_kind: str
    means: str
    hours_period: Decimal
    hours_to_date: Decimal
    hours_at_cutoff: Decimal
    contracts: int
    persons: int
    severity: int


def _escalation_severity() -> Any:
    return case(
        (EscalationCase.state.in_(DEFAULT_STATES), SEVERITY_DEFAULT),
        (
            and_(
                EscalationCase.state == EscalationState.CLOS,
                or_(
                    func.lower(EscalationCase.outcome).in_(PENALISED_OUTCOMES),
                    and_(
                        EscalationCase.outcome.is_(None),
                        func.coalesce(EscalationCase.penalty_amount, 0) > 0,
                    ),
                ),
            ),
            SEVERITY_DEFAULT,
        ),
        (EscalationCase.state != EscalationState.CLOS, SEVERITY_OPEN),
        else_=SEVERITY_NONE,
    )


def _day_after(day: dt.date) -> dt.datetime:
    """Midnight (Paris) after ``day``, as an aware datetime: the end of that French day."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=PARIS)


def engagement_rows(session: Session, scope: Scope) -> list[EngagementRow]:
    """Every engagement in scope with its hours (period, to date, at cutoff), contracts, persons
    and the worst escalation case opened by the reference date."""
    eng = engagements_cte(scope)
    ctr = contracts_cte(scope, eng)
    hrs = (
        select(
            Contract.engagement_id.label("engagement_id"),
            _hours_when(_in_period(scope)).label("period"),
            _hours_when(HourDeclaration.month <= scope.at).label("to_date"),
            _hours_when(HourDeclaration.month <= scope.cutoff).label("cutoff"),
        )
        .join(HourDeclaration, HourDeclaration.contract_id == Contract.id)
        .join(eng, eng.c.engagement_id == Contract.engagement_id)
        .group_by(Contract.engagement_id)
        .subquery("hrs")
    )
    ctrs = (
        select(
            ctr.c.engagement_id,
            func.count(ctr.c.contract_id).label("contracts"),
            func.count(func.distinct(ctr.c.participant_id)).label("persons"),
        )
        .group_by(ctr.c.engagement_id)
        .subquery("ctrs")
    )
    esc = (
        select(
            EscalationCase.engagement_id.label("engagement_id"),
            func.max(_escalation_severity()).label("severity"),
        )
        .where(EscalationCase.opened_at < _day_after(scope.at))
        .group_by(EscalationCase.engagement_id)
        .subquery("esc")
    )
    rows = session.execute(
        select(
            Engagement.id,
            Engagement.hours_owed,
            Lot.number,
            Lot.label,
            func.coalesce(Lot.start_date, Market.start_date),
            func.coalesce(Lot.end_date, Market.end_date),
            Market.id,
            Market.reference,
            Company.id,
            Company.name,
            type_coerce(Company.kind, String),
            type_coerce(Engagement.means, String),
            func.coalesce(hrs.c.period, 0),
            func.coalesce(hrs.c.to_date, 0),
            func.coalesce(hrs.c.cutoff, 0),
            func.coalesce(ctrs.c.contracts, 0),
            func.coalesce(ctrs.c.persons, 0),
            func.coalesce(esc.c.severity, 0),
        )
        .join(Lot, Lot.id == Engagement.lot_id)
        .join(Market, Market.id == Lot.market_id)
        .join(Company, Company.id == Engagement.company_id)
        .outerjoin(hrs, hrs.c.engagement_id == Engagement.id)
        .outerjoin(ctrs, ctrs.c.engagement_id == Engagement.id)
        .outerjoin(esc, esc.c.engagement_id == Engagement.id)
        .where(*scope.market_conditions())
        .order_by(Company.name, Company.id, Market.reference, Lot.number)
    )
    return [
        EngagementRow(
            engagement_id=r[0],
            hours_owed=dec(r[1]),
            lot_number=r[2],
            lot_label=r[3],
            start=_as_date(r[4]),
            end=_as_date(r[5]),
            market_id=r[6],
            market_reference=r[7],
            company_id=r[8],
            company_name=r[9],
            company_kind=str(r[10]),
            means=str(r[11]),
            hours_period=dec(r[12]),
            hours_to_date=dec(r[13]),
            hours_at_cutoff=dec(r[14]),
            contracts=int(r[15]),
            persons=int(r[16]),
            severity=int(r[17]),
        )
        for r in rows
    ]


def persons_by_company(session: Session, scope: Scope) -> dict[int, int]:
    """Distinct persons per company: a person on two lots of one company counts once there."""
    eng = engagements_cte(scope)
    ctr = contracts_cte(scope, eng)
    rows = session.execute(
        select(ctr.c.company_id, func.count(func.distinct(ctr.c.participant_id))).group_by(
            ctr.c.company_id
        )
    )
    return {int(c): int(n) for c, n in rows}


MarketRow = MarketLine  # the SQL row is already the report line


def market_rows(session: Session, scope: Scope) -> list[MarketRow]:
    eng = engagements_cte(scope)
    ctr = contracts_cte(scope, eng)
    owed = (
        select(eng.c.market_id, func.sum(eng.c.hours_owed).label("owed"))
        .group_by(eng.c.market_id)
        .subquery("owed")
    )
    hrs = (
        select(
            eng.c.market_id,
            _hours_when(_in_period(scope)).label("period"),
            _hours_when(HourDeclaration.month <= scope.at).label("to_date"),
        )
        .select_from(HourDeclaration)
        .join(Contract, Contract.id == HourDeclaration.contract_id)
        .join(eng, eng.c.engagement_id == Contract.engagement_id)
        .group_by(eng.c.market_id)
        .subquery("hrs")
    )
    ctrs = (
        select(
            ctr.c.market_id,
            func.count(ctr.c.contract_id).label("contracts"),
            func.count(func.distinct(ctr.c.participant_id)).label("persons"),
        )
        .group_by(ctr.c.market_id)
        .subquery("ctrs")
    )
    rows = session.execute(
        select(
            Market.id,
            Market.reference,
            Market.title,
            type_coerce(Market.kind, String),
            type_coerce(Market.status, String),
            Market.start_date,
            Market.end_date,
            Donneur.name,
            func.coalesce(owed.c.owed, 0),
            func.coalesce(hrs.c.period, 0),
            func.coalesce(hrs.c.to_date, 0),
            func.coalesce(ctrs.c.contracts, 0),
            func.coalesce(ctrs.c.persons, 0),
        )
        .join(Donneur, Donneur.id == Market.donneur_id)
        .outerjoin(owed, owed.c.market_id == Market.id)
        .outerjoin(hrs, hrs.c.market_id == Market.id)
        .outerjoin(ctrs, ctrs.c.market_id == Market.id)
        .where(*scope.market_conditions())
        .order_by(Donneur.name, Market.reference)
    )
    return [
        MarketRow(
            market_id=r[0],
            reference=r[1],
            title=r[2],
            kind=str(r[3]),
            status=str(r[4]),
            start_date=r[5],
            end_date=r[6],
            donneur_name=r[7],
            hours_owed=dec(r[8]),
            hours_period=dec(r[9]),
            hours_to_date=dec(r[10]),
            contracts=int(r[11]),
            persons=int(r[12]),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class DonneurRow:
    donneur_id: int
    name: str
    markets: int
    hours_owed: Decimal
    hours_period: Decimal
    contracts: int
    persons: int


def donneur_rows(session: Session, scope: Scope) -> list[DonneurRow]:
    """Territory bilan: one line per donneur with markets in scope (persons distinct per donneur;
    a person working for two donneurs appears on both lines, once in the territory total)."""
    eng = engagements_cte(scope)
    ctr = contracts_cte(scope, eng)
    mk = (
        select(Market.donneur_id.label("donneur_id"), func.count(Market.id).label("markets"))
        .where(*scope.market_conditions())
        .group_by(Market.donneur_id)
        .subquery("mk")
    )
    owed = (
        select(eng.c.donneur_id, func.sum(eng.c.hours_owed).label("owed"))
        .group_by(eng.c.donneur_id)
        .subquery("owed")
    )
    hrs = (
        select(eng.c.donneur_id, func.sum(HourDeclaration.counted_hours).label("hours"))
        .select_from(HourDeclaration)
        .join(Contract, Contract.id == HourDeclaration.contract_id)
        .join(eng, eng.c.engagement_id == Contract.engagement_id)
        .where(_in_period(scope))
        .group_by(eng.c.donneur_id)
        .subquery("hrs")
    )
    ctrs = (
        select(
            ctr.c.donneur_id,
            func.count(ctr.c.contract_id).label("contracts"),
            func.count(func.distinct(ctr.c.participant_id)).label("persons"),
        )
        .group_by(ctr.c.donneur_id)
        .subquery("ctrs")
    )
    rows = session.execute(
        select(
            Donneur.id,
            Donneur.name,
            mk.c.markets,
            func.coalesce(owed.c.owed, 0),
            func.coalesce(hrs.c.hours, 0),
            func.coalesce(ctrs.c.contracts, 0),
            func.coalesce(ctrs.c.persons, 0),
        )
        .join(mk, mk.c.donneur_id == Donneur.id)
        .outerjoin(owed, owed.c.donneur_id == Donneur.id)
        .outerjoin(hrs, hrs.c.donneur_id == Donneur.id)
        .outerjoin(ctrs, ctrs.c.donneur_id == Donneur.id)
        .order_by(Donneur.name)
    )
    return [
        DonneurRow(
            donneur_id=r[0],
            name=r[1],
            markets=int(r[2]),
            hours_owed=dec(r[3]),
            hours_period=dec(r[4]),
            contracts=int(r[5]),
            persons=int(r[6]),
        )
        for r in rows
    ]


def notes(
    session: Session, scope: Scope, *, everything: bool = False
) -> list[tuple[dt.date, str | None, str | None, str | None, str]]:
    """Qualitative notes written in the period about the scope.

    A note tied to a market is shown with that market's bilans; a note on a company alone (no
    market, no donneur) with every bilan where the company works; a note on a donneur with its
    bilans. A company note written for another buyer's market therefore never leaks here.
    """
    eng = engagements_cte(scope)
    market_ids = select(Market.id).where(*scope.market_conditions())
    company_ids = select(eng.c.company_id)
    condition: ColumnElement[bool] = or_(
        QualitativeNote.market_id.in_(market_ids),
        and_(
            QualitativeNote.market_id.is_(None),
            QualitativeNote.donneur_id.is_(None),
            QualitativeNote.company_id.in_(company_ids),
        ),
    )
    if scope.donneur_id is not None and scope.market_id is None:
        condition = or_(condition, QualitativeNote.donneur_id == scope.donneur_id)
    if everything:
        condition = QualitativeNote.id.is_not(None)
    rows = session.execute(
        select(
            QualitativeNote.written_on,
            Donneur.name,
            Market.reference,
            Company.name,
            QualitativeNote.body,
        )
        .outerjoin(Market, Market.id == QualitativeNote.market_id)
        .outerjoin(Company, Company.id == QualitativeNote.company_id)
        .outerjoin(Donneur, Donneur.id == QualitativeNote.donneur_id)
        .where(
            condition,
            QualitativeNote.written_on >= scope.period.start,
            QualitativeNote.written_on <= scope.at,
        )
        .order_by(QualitativeNote.written_on, QualitativeNote.id)
    )
    return [(_as_date(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


def _as_date(value: Any) -> dt.date:
    """Dates computed by SQLite functions (COALESCE, MIN) come back as ISO strings."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
