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

import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import (
    CTE,
    BindParameter,
    ColumnElement,
    Executable,
    Integer,
    Result,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    extract,
    func,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from clauses.bilan.figures import NOT_STATED, Period
from clauses.clock import PARIS
from clauses.declaring.lookup import running_during
from storage.models import (
    Company,
    Contract,
    DeclarationStatus,
    Donneur,
    Engagement,
    EscalationCase,
    EscalationState,
    EscalationStep,
    ExitFollowup,
    HourDeclaration,
    Lot,
    Market,
    Meeting,
    Participant,
    QualitativeNote,
)
from storage.models.exits import FOLLOWUP_QUESTION

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

    @property
    def shape(self) -> tuple[bool, bool]:
        """(one market, one donneur): the filters the statements carry. Statements are built
        once per shape and run with :meth:`params`."""
        return (self.market_id is not None, self.donneur_id is not None)

    def params(self) -> dict[str, Any]:
        """The values of the named parameters of :class:`Bound` (unused ones are ignored)."""
        values: dict[str, Any] = {
            "bilan_start": self.period.start,
            "bilan_month_start": self.period.month_start,
            # nothing after the reference date counts, whatever the period says
            "bilan_end": min(self.period.end, self.at),
            "bilan_at": self.at,
            "bilan_cutoff": self.cutoff,
            "bilan_day_after": _day_after(self.at),
        }
        if self.market_id is not None:
            values["bilan_market_id"] = self.market_id
        if self.donneur_id is not None:
            values["bilan_donneur_id"] = self.donneur_id
        return values


@dataclass(frozen=True)
class BoundPeriod:
    start: BindParameter[Any]
    month_start: BindParameter[Any]
    end: BindParameter[Any]


class Bound:
    """A :class:`Scope` as named bind parameters, with the same attribute names.

    The statements are built from it once per shape (:func:`_statement`) and executed with
    :meth:`Scope.params`: building a SQLAlchemy statement of subqueries and CTEs costs more
    Python time than the database takes to run some of them. An untyped parameter takes the
    type of the column it is compared with, so values are converted as before.
    """

    def __init__(self, shape: tuple[bool, bool]) -> None:
        one_market, one_donneur = shape
        self.period = BoundPeriod(_param("start"), _param("month_start"), _param("end"))
        self.at = _param("at")
        self.cutoff = _param("cutoff")
        self.day_after = _param("day_after")
        self.market_id = _param("market_id") if one_market else None
        self.donneur_id = _param("donneur_id") if one_donneur else None

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


def _param(name: str) -> BindParameter[Any]:
    return bindparam(f"bilan_{name}")


@functools.cache
def _statement(builder: Callable[[Bound], Executable], shape: tuple[bool, bool]) -> Executable:
    """``builder``'s statement for scopes of this shape, built once per process (statements
    are immutable; SQLAlchemy caches their compiled form by structure)."""
    return builder(Bound(shape))


def _run(session: Session, builder: Callable[[Bound], Executable], scope: Scope) -> Result[*tuple[Any, ...]]:
    return session.execute(_statement(builder, scope.shape), scope.params())


# --- building blocks ---------------------------------------------------------------------------

_KEY = re.compile(r"^[a-z0-9_]+$")


def _const(value: str) -> ColumnElement[str]:
    """An inlined string constant: PostgreSQL cannot see that two bound parameters are equal,
    so a CASE of parameters in a GROUP BY would be rejected."""
    if not _KEY.match(value):
        raise ValueError(f"not a plain key: {value!r}")
    return literal_column(f"'{value}'", String)


def _in_period(scope: Bound) -> ColumnElement[bool]:
    """Months of the period that are complete at the reference date: a month is counted
    once it has ended (its hours are declared after it), so the period's hours and the progress
    are as of the same day (:attr:`Scope.cutoff`)."""
    return and_(
        HourDeclaration.month >= scope.period.month_start, HourDeclaration.month <= scope.cutoff
    )


def _hours_when(condition: ColumnElement[bool]) -> Any:
    return _column_when(HourDeclaration.counted_hours, condition)


def _column_when(column: Any, condition: ColumnElement[bool]) -> Any:
    """SUM of ``column`` over the rows meeting ``condition``: several periods in one scan."""
    return func.coalesce(func.sum(case((condition, column), else_=0)), 0)


def engagements_cte(scope: Bound, name: str = "eng") -> CTE:
    return (
        select(
            Engagement.id.label("engagement_id"),
            Engagement.company_id.label("company_id"),
            Engagement.hours_owed.label("hours_owed"),
            Lot.market_id.label("market_id"),
            Market.donneur_id.label("donneur_id"),
            type_coerce(Market.kind, String).label("market_kind"),
        )
        .join(Lot, Lot.id == Engagement.lot_id)
        .join(Market, Market.id == Lot.market_id)
        .where(*scope.market_conditions())
        .cte(name)
    )


def contracts_cte(scope: Bound, eng: CTE, name: str = "ctr") -> CTE:
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
            eng.c.market_kind,
        )
        .join(eng, eng.c.engagement_id == Contract.engagement_id)
        .where(
            running_during(scope.period.month_start, scope.period.end),
        )
        .cte(name)
    )


def dec(value: Any) -> Decimal:
    """Hours as an exact two-decimal Decimal (SQLite hands back floats for SUMs)."""
    if value is None:
        return Decimal("0.00")
    if isinstance(value, Decimal):  # PostgreSQL's NUMERIC: no detour through a string
        return value.quantize(HUNDREDTH)
    return Decimal(str(value)).quantize(HUNDREDTH)


# --- the queries -------------------------------------------------------------------------------
#
# Each query is a ``_*_statement(scope: Bound)`` builder, cached per shape by :func:`_run`, and a
# public function that runs it with the scope's values and turns the rows into dataclasses.


class MarketRow(NamedTuple):
    """A market in scope and its donneur, without figures (those are rolled up from the
    engagement rows and the contract counts, see :mod:`clauses.bilan.rollup`). A named tuple,
    like :class:`EngagementRow`: all of France has twelve thousand markets in a year."""

    market_id: int
    reference: str
    title: str
    kind: str
    status: str
    start_date: dt.date
    end_date: dt.date
    donneur_id: int
    donneur_name: str


def _market_rows_statement(scope: Bound) -> Executable:
    return (
        select(
            Market.id,
            Market.reference,
            Market.title,
            type_coerce(Market.kind, String),
            type_coerce(Market.status, String),
            Market.start_date,
            Market.end_date,
            Donneur.id,
            Donneur.name,
        )
        .join(Donneur, Donneur.id == Market.donneur_id)
        .where(*scope.market_conditions())
        .order_by(Donneur.name, Market.reference)
    )


def market_rows(session: Session, scope: Scope) -> list[MarketRow]:
    """Markets in scope, ordered by donneur name then reference (the order the lines keep when
    the report re-sorts them with accent-insensitive keys)."""
    return [MarketRow(r[0], r[1], r[2], str(r[3]), str(r[4]), r[5], r[6], r[7], r[8])
            for r in _run(session, _market_rows_statement, scope)]


GROUP_ALL, GROUP_MARKET, GROUP_COMPANY, GROUP_DONNEUR, GROUP_TYPE = (
    "all",
    "market",
    "company",
    "donneur",
    "contract_type",
)
GROUP_KIND, GROUP_ENTERED = "market_kind", "entered"
GROUP_PATHS = "paths"


@dataclass(frozen=True)
class ContractCounts:
    """Contracts in scope and distinct persons, per grouping: ``by_*[key] = (contracts,
    persons)``. Persons cannot be rolled up (one person on two markets counts once in the
    total), hence one COUNT(DISTINCT) per grouping."""

    contracts: int
    persons: int
    by_market: dict[int, tuple[int, int]]
    by_company: dict[int, tuple[int, int]]
    by_donneur: dict[int, tuple[int, int]]
    by_type: dict[str, tuple[int, int]]
    by_kind: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    """Per market kind: reserved and insertion markets are reported apart, with their persons."""
    entered: int = 0
    """Persons whose first contract in scope starts in the period (new on these markets)."""
    paths: int = 0
    """Persons of the period with several successive contracts on these markets (« parcours »:
    the pooling of hours the convention is for), any buyer of the scope."""


def _contract_counts_statement(scope: Bound) -> Executable:
    eng = engagements_cte(scope)
    ctr = contracts_cte(scope, eng)
    no_id = cast(null(), Integer)
    no_key = cast(null(), String)

    def grouping(name: str, id_col: Any, key_col: Any, *group_by: Any) -> Any:
        return select(
            _const(name).label("grouping"),
            id_col.label("id"),
            key_col.label("key"),
            func.count(ctr.c.contract_id).label("contracts"),
            func.count(func.distinct(ctr.c.participant_id)).label("persons"),
        ).group_by(*group_by)

    # Each person of the scope's contracts begun by the end: how many, and the first start.
    # « Entered » (no earlier contract in the scope) and « paths » (two or more) both read it:
    # one pass over the scope's contracts, where « entered » was an anti-join on every contract
    # of the database (a full index scan of 1.03 million at national size; docs/benchmarks.md,
    # k21pgbilan). Every contract of ``ctr`` began by the end, so it is among them.
    persons = (
        select(
            Contract.participant_id.label("participant_id"),
            func.count(Contract.id).label("contracts"),
            func.min(Contract.start_date).label("first_start"),
        )
        .where(Contract.engagement_id.in_(select(eng.c.engagement_id)),  # the scope's contracts
               Contract.start_date <= scope.period.end)
        .group_by(Contract.participant_id)
        .cte("persons_in_scope")
    )
    newcomers = select(persons.c.participant_id).where(
        persons.c.first_start >= scope.period.start)
    entered = select(
        _const(GROUP_ENTERED).label("grouping"), no_id.label("id"), no_key.label("key"),
        func.count(func.distinct(ctr.c.participant_id)).label("contracts"),
        func.count(func.distinct(ctr.c.participant_id)).label("persons"),
    ).where(ctr.c.start_date >= scope.period.start, ctr.c.participant_id.in_(newcomers))
    several = select(persons.c.participant_id).where(persons.c.contracts >= 2)
    paths = select(
        _const(GROUP_PATHS).label("grouping"), no_id.label("id"), no_key.label("key"),
        func.count(func.distinct(ctr.c.participant_id)).label("contracts"),
        func.count(func.distinct(ctr.c.participant_id)).label("persons"),
    ).where(ctr.c.participant_id.in_(several))
    return union_all(
        grouping(GROUP_ALL, no_id, no_key),
        paths,
        grouping(GROUP_KIND, no_id, ctr.c.market_kind, ctr.c.market_kind),
        entered,
        grouping(GROUP_MARKET, ctr.c.market_id, no_key, ctr.c.market_id),
        grouping(GROUP_COMPANY, ctr.c.company_id, no_key, ctr.c.company_id),
        grouping(GROUP_DONNEUR, ctr.c.donneur_id, no_key, ctr.c.donneur_id),
        grouping(GROUP_TYPE, no_id, ctr.c.contract_type, ctr.c.contract_type),
    )


def contract_counts(session: Session, scope: Scope) -> ContractCounts:
    """Every contract count and distinct-person count of the bilan in one UNION ALL over the
    contracts in scope (a few thousand rows, no declaration read)."""
    groups: dict[str, dict[Any, tuple[int, int]]] = {
        GROUP_ALL: {}, GROUP_MARKET: {}, GROUP_COMPANY: {}, GROUP_DONNEUR: {}, GROUP_TYPE: {},
        GROUP_KIND: {}, GROUP_ENTERED: {}, GROUP_PATHS: {},
    }
    for name, id_, key, n, persons in _run(session, _contract_counts_statement, scope):
        if name in (GROUP_TYPE, GROUP_KIND):
            groups[str(name)][str(key)] = (int(n), int(persons))
        elif name in (GROUP_ALL, GROUP_ENTERED, GROUP_PATHS):
            groups[str(name)][0] = (int(n), int(persons))
        else:
            groups[str(name)][int(id_)] = (int(n), int(persons))
    contracts, persons = groups[GROUP_ALL].get(0, (0, 0))
    return ContractCounts(
        contracts=contracts,
        persons=persons,
        by_market=groups[GROUP_MARKET],
        by_company=groups[GROUP_COMPANY],
        by_donneur=groups[GROUP_DONNEUR],
        by_type={k: groups[GROUP_TYPE][k] for k in sorted(groups[GROUP_TYPE])},
        by_kind=groups[GROUP_KIND],
        entered=groups[GROUP_ENTERED].get(0, (0, 0))[1],
        paths=groups[GROUP_PATHS].get(0, (0, 0))[1],
    )


@dataclass(frozen=True)
class MonthTypeHours:
    """Hours of one month of the period for one contract type. ``contract_type`` is None for
    contracts of the scope's engagements that are outside the period's contracts (their hours
    count in the months, not in the contract-type table)."""

    month: dt.date
    contract_type: str | None
    counted: Decimal
    work: Decimal
    training: Decimal


def _month_type_hours_statement(scope: Bound) -> Executable:
    eng = engagements_cte(scope)
    in_ctr = running_during(scope.period.month_start, scope.period.end)
    decl = (
        select(
            HourDeclaration.month.label("month"),
            case((in_ctr, Contract.contract_type), else_=None).label("contract_type"),
            HourDeclaration.counted_hours.label("counted"),
            HourDeclaration.work_hours.label("work"),
            HourDeclaration.training_hours.label("training"),
        )
        .join(Contract, Contract.id == HourDeclaration.contract_id)
        .where(_in_period(scope), Contract.engagement_id.in_(select(eng.c.engagement_id)))
        .subquery("decl")
    )
    return select(
        decl.c.month,
        decl.c.contract_type,
        func.sum(decl.c.counted),
        func.sum(decl.c.work),
        func.sum(decl.c.training),
    ).group_by(decl.c.month, decl.c.contract_type)


def month_type_hours(session: Session, scope: Scope) -> list[MonthTypeHours]:
    """The period's declarations of the scope, in ONE scan grouped by month and contract type:
    the monthly table and the contract-type hours are both sums of these rows.

    The declarations are reached from the scope's engagements (never aggregated over the whole
    database then joined); the engagements are an IN list, so SQLite seeks each contract's
    months in the (contract, month) index instead of walking the month index of the whole
    database and joining every declaration back to its market. A contract is "in the period" by
    the same date test as :func:`contracts_cte`; the test is made in a derived table and grouped
    on its output column, because PostgreSQL rejects a GROUP BY on a CASE of bound parameters.
    """
    return [
        MonthTypeHours(_as_date(m), None if k is None else str(k), dec(c), dec(w), dec(t))
        for m, k, c, w, t in _run(session, _month_type_hours_statement, scope)
    ]


TYPOLOGY_DIMENSIONS = ("age_band", "gender", "commune", "qpv", "status")


def _yyyymmdd(column: Any) -> Any:
    return extract("year", column) * 10000 + extract("month", column) * 100 + extract("day", column)


class _Ymd(FunctionElement[int]):
    """``yyyymmdd`` of a date as an integer: EXTRACT arithmetic (:func:`_yyyymmdd`) everywhere but
    SQLite, where one ``strftime`` does it (SQLAlchemy compiles each EXTRACT to a ``strftime`` of
    its own: twelve per person in the age bands instead of four)."""

    type = Integer()
    name = "yyyymmdd"
    inherit_cache = True


@compiles(_Ymd)
def _compile_ymd(element: _Ymd, compiler: Any, **kw: Any) -> str:
    (column,) = element.clauses
    return f"({compiler.process(_yyyymmdd(column), **kw)})"  # a term of a difference


@compiles(_Ymd, "sqlite")
def _compile_ymd_sqlite(element: _Ymd, compiler: Any, **kw: Any) -> str:
    (column,) = element.clauses
    return f"CAST(strftime('%Y%m%d', {compiler.process(column, **kw)}) AS INTEGER)"


def _typology_statement(scope: Bound) -> Executable:
    eng = engagements_cte(scope)
    # The scope's contracts reached through an IN list of its engagements: grouped by person
    # over the contracts CTE, SQLite walked the person index of every contract of the database
    # (to skip a sort) and joined each back to its market, a cost growing with the history.
    pers = (
        select(Contract.participant_id, func.min(Contract.start_date).label("first_start"))
        .where(Contract.engagement_id.in_(select(eng.c.engagement_id)),
               running_during(scope.period.month_start, scope.period.end))
        .group_by(Contract.participant_id)
        .cte("pers")
    )
    age_diff = _Ymd(pers.c.first_start) - _Ymd(Participant.birth_date)
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
    dims = [typo.c[dim] for dim in TYPOLOGY_DIMENSIONS]
    return select(*dims, func.count()).group_by(*dims)


def typology(session: Session, scope: Scope) -> dict[str, dict[str, int]]:
    """Persons (each once) by age band, gender, commune, QPV and status at entry.

    One GROUP BY of the five dimensions together over a derived table of the persons in scope
    (one pass over the persons), summed per dimension here. The age is taken at the person's
    first contract in scope: ``(yyyymmdd(ref) - yyyymmdd(birth)) / 10000`` floored is the age in
    whole years, so comparing the difference with 260000 / 500000 gives the bands without any
    dialect-specific date arithmetic.
    """
    counts: dict[str, dict[str, int]] = {dim: {} for dim in TYPOLOGY_DIMENSIONS}
    for *keys, n in _run(session, _typology_statement, scope):
        for dim, key in zip(TYPOLOGY_DIMENSIONS, keys, strict=True):
            counts[dim][str(key)] = counts[dim].get(str(key), 0) + int(n)
    return {dim: {k: by_key[k] for k in sorted(by_key)} for dim, by_key in counts.items()}


def _exits_statement(scope: Bound) -> Executable:
    eng = engagements_cte(scope)
    ctr = contracts_cte(scope, eng)
    return (
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


def exits(session: Session, scope: Scope) -> dict[str, int]:
    """Persons in scope who left during the period (or with no exit date), by situation key."""
    return {str(k): int(n) for k, n in _run(session, _exits_statement, scope)}


class EngagementRow(NamedTuple):
    """One engagement's SQL row. A named tuple rather than a frozen dataclass: a territory has
    thousands of engagements and a tuple is built several times faster."""

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
    market_kind: str
    hours_period: Decimal
    hours_to_date: Decimal
    hours_at_cutoff: Decimal
    hours_work: Decimal
    hours_training: Decimal
    contracts: int
    persons: int
    severity: int
    hours_contested: Decimal = Decimal("0.00")
    """Counted hours of the period under the facilitator's contest (part of ``hours_period``)."""


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


def _engagement_rows_statement(scope: Bound) -> Executable:
    eng = engagements_cte(scope)
    hrs = (
        select(
            Contract.engagement_id.label("engagement_id"),
            _hours_when(_in_period(scope)).label("period"),
            # "to date" is through the cutoff, the same sum the progress compares: one column
            _hours_when(HourDeclaration.month <= scope.cutoff).label("to_date"),
            _column_when(HourDeclaration.work_hours, _in_period(scope)).label("work"),
            _column_when(HourDeclaration.training_hours, _in_period(scope)).label("training"),
            # the period's hours under the facilitator's contest, in the same scan (a statement
            # of its own walked every contested declaration of the database for a territory)
            _hours_when(and_(_in_period(scope),
                             HourDeclaration.status == DeclarationStatus.CONTESTEE))
            .label("contested"),
        )
        .join(HourDeclaration, HourDeclaration.contract_id == Contract.id)
        # an IN list, not a join: joined, SQLite walked every contract of the database (its
        # engagement index) and every declaration of each before dropping those out of scope,
        # a cost that grew with the whole history instead of the scope
        .where(Contract.engagement_id.in_(select(eng.c.engagement_id)))
        .group_by(Contract.engagement_id)
        .subquery("hrs")
    )
    # The period's contracts of the scope's engagements, an IN list as well: through the
    # contracts CTE (a join on the engagements), SQLite took 0.7 s instead of 0.1 s for one
    # donneur at national size once the declaration sums sat beside it in the statement.
    ctrs = (
        select(
            Contract.engagement_id.label("engagement_id"),
            func.count(Contract.id).label("contracts"),
            func.count(func.distinct(Contract.participant_id)).label("persons"),
        )
        .where(Contract.engagement_id.in_(select(eng.c.engagement_id)),
               running_during(scope.period.month_start, scope.period.end))
        .group_by(Contract.engagement_id)
        .subquery("ctrs")
    )
    esc = (
        select(
            EscalationCase.engagement_id.label("engagement_id"),
            func.max(_escalation_severity()).label("severity"),
        )
        .where(
            EscalationCase.opened_at < scope.day_after,
            EscalationCase.engagement_id.in_(select(eng.c.engagement_id)),
        )
        .group_by(EscalationCase.engagement_id)
        .subquery("esc")
    )
    return (
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
            type_coerce(Market.kind, String).label("market_kind"),
            func.coalesce(hrs.c.period, 0),
            func.coalesce(hrs.c.to_date, 0),
            func.coalesce(hrs.c.contested, 0),
            func.coalesce(hrs.c.work, 0),
            func.coalesce(hrs.c.training, 0),
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
        # the scope's engagements as an IN list too: with the market conditions alone SQLite
        # scanned every engagement of the database and looked up its market
        .where(Engagement.id.in_(select(eng.c.engagement_id)), *scope.market_conditions())
        # no ORDER BY: the assembly sorts the lines with accent-insensitive keys anyway
    )


def engagement_rows(session: Session, scope: Scope) -> list[EngagementRow]:
    """Every engagement in scope with its hours (period, to date, at cutoff; work, training and
    contested hours of the period), contracts, persons and the worst escalation case opened by
    the reference date.

    This is the bilan's one scan of the declarations up to the reference date: the headline,
    per-market and per-donneur hours are sums of these rows (:mod:`clauses.bilan.rollup`), so
    they cannot disagree with the engagement table and the declarations are not read again.
    """
    rows: list[EngagementRow] = []
    for r in _run(session, _engagement_rows_statement, scope):
        to_date = dec(r[14])
        rows.append(EngagementRow(
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
            market_kind=str(r[12]),
            hours_period=dec(r[13]),
            hours_to_date=to_date,
            hours_at_cutoff=to_date,  # the same sum (see the statement)
            hours_contested=dec(r[15]),
            hours_work=dec(r[16]),
            hours_training=dec(r[17]),
            contracts=int(r[18]),
            persons=int(r[19]),
            severity=int(r[20]),
        ))
    return rows


def _name_of(column: Any, key: Any, reference: Any) -> ColumnElement[Any]:
    """``column`` of the row whose ``key`` is ``reference`` (NULL when none): one index probe
    per outer row, whatever the size of the looked-up table."""
    return select(column).where(key == reference).scalar_subquery()


def _notes_statement(scope: Bound, everything: bool) -> Executable:
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
    # The names are looked up per note (a few dozen for a donneur, about 2,000 for all of France
    # in a year), not joined: the planner cannot estimate how many notes the OR above keeps
    # (672 guessed, 33 kept for the biggest donneur) and hash-joined every market and company of
    # the database, 75,566 and 20,000 rows at national size, 10 ms of a 110 ms bilan.
    return (
        select(
            QualitativeNote.written_on,
            _name_of(Donneur.name, Donneur.id, QualitativeNote.donneur_id),
            _name_of(Market.reference, Market.id, QualitativeNote.market_id),
            _name_of(Company.name, Company.id, QualitativeNote.company_id),
            QualitativeNote.body,
        )
        .where(
            condition,
            QualitativeNote.written_on >= scope.period.start,
            QualitativeNote.written_on <= scope.at,
        )
        .order_by(QualitativeNote.written_on, QualitativeNote.id)
    )


def _all_notes_statement(scope: Bound) -> Executable:
    return _notes_statement(scope, everything=True)


def _scope_notes_statement(scope: Bound) -> Executable:
    return _notes_statement(scope, everything=False)


def notes(
    session: Session, scope: Scope, *, everything: bool = False
) -> list[tuple[dt.date, str | None, str | None, str | None, str]]:
    """Qualitative notes written in the period about the scope.

    A note tied to a market is shown with that market's bilans; a note on a company alone (no
    market, no donneur) with every bilan where the company works; a note on a donneur with its
    bilans. A company note written for another buyer's market therefore never leaks here.
    """
    builder = _all_notes_statement if everything else _scope_notes_statement
    rows = _run(session, builder, scope)
    return [(_as_date(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


def _as_date(value: Any) -> dt.date:
    """Dates computed by SQLite functions (COALESCE, MIN) come back as ISO strings."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def qpv_hours_to_date(session: Session, market_id: int, at: dt.date) -> tuple[Decimal, int]:
    """Counted hours done on one market through ``at`` by residents of priority neighbourhoods
    (the participant's QPV flag), for the markets that set a QPV share (ANRU operations), and how
    many persons did them (fewer than the small-cell threshold: the hours are one or two
    persons' own, masked in outputs leaving the agency).

    One grouped statement; only the market bilans ask for it, so it is not in the shared
    statement cache.
    """
    total, persons = session.execute(
        select(func.coalesce(func.sum(HourDeclaration.counted_hours), 0),
               func.count(func.distinct(Participant.id))
               .filter(HourDeclaration.counted_hours > 0))
        .join(Contract, Contract.id == HourDeclaration.contract_id)
        .join(Participant, Participant.id == Contract.participant_id)
        .join(Engagement, Engagement.id == Contract.engagement_id)
        .join(Lot, Lot.id == Engagement.lot_id)
        .where(Lot.market_id == market_id, HourDeclaration.month <= at,
               Participant.qpv.is_(True))
    ).one()
    return dec(total), int(persons or 0)



# --- company relationship and follow-up (small result sets: the scope's few procedures) ---------


class RelationEvent(NamedTuple):
    """One dated fact of the relationship with a company: a procedure step or a meeting."""

    at: dt.datetime
    source: str
    """``etape`` (escalation step) or ``reunion`` (meeting)."""
    key: str
    """Step event key, or meeting kind."""
    company_name: str | None
    market_reference: str | None
    state: str | None
    """The procedure's state after the step (None for a meeting)."""
    note: str | None


def _relation_events_statement(scope: Bound) -> Executable:
    start = scope.period.month_start  # bound to the first month's midnight (Paris) when run
    steps = (
        select(
            EscalationStep.at.label("at"),
            _const("etape").label("source"),
            EscalationStep.event.label("key"),
            Company.name.label("company_name"),
            Market.reference.label("market_reference"),
            type_coerce(EscalationStep.to_state, String).label("state"),
            EscalationStep.note.label("note"),
        )
        .join(EscalationCase, EscalationCase.id == EscalationStep.case_id)
        .join(Engagement, Engagement.id == EscalationCase.engagement_id)
        .join(Lot, Lot.id == Engagement.lot_id)
        .join(Market, Market.id == Lot.market_id)
        .join(Company, Company.id == Engagement.company_id)
        .where(*scope.market_conditions(), EscalationStep.at >= start,
               EscalationStep.at < scope.day_after)
    )
    market_ids = select(Market.id).where(*scope.market_conditions())
    meeting_scope: ColumnElement[bool] = Meeting.market_id.in_(market_ids)
    if scope.donneur_id is not None and scope.market_id is None:
        meeting_scope = or_(meeting_scope, Meeting.donneur_id == scope.donneur_id)
    meetings = (
        select(
            Meeting.scheduled_at.label("at"),
            _const("reunion").label("source"),
            type_coerce(Meeting.kind, String).label("key"),
            cast(null(), String).label("company_name"),
            Market.reference.label("market_reference"),
            cast(null(), String).label("state"),
            Meeting.location.label("note"),
        )
        .outerjoin(Market, Market.id == Meeting.market_id)
        .where(meeting_scope, Meeting.scheduled_at >= start,
               Meeting.scheduled_at < scope.day_after)
    )
    both = union_all(steps, meetings).subquery("rel")
    return select(*both.c).order_by(both.c.at, both.c.source, both.c.key)


def relation_events(session: Session, scope: Scope) -> list[RelationEvent]:
    """Procedure steps on the scope's engagements and meetings on its markets (or with its
    donneur) from the period's first month through the reference date: what the bilan's
    « relation avec les entreprises » shows beside each company's status. One statement."""
    params = scope.params()
    params["bilan_month_start"] = dt.datetime.combine(scope.period.month_start, dt.time(0),
                                                      tzinfo=PARIS)
    rows = session.execute(_statement(_relation_events_statement, scope.shape), params)
    return [RelationEvent(_as_datetime(r[0]), str(r[1]), str(r[2]), r[3], r[4],
                          None if r[5] is None else str(r[5]), r[6]) for r in rows]


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def _followups_statement(scope: Bound) -> Executable:
    """The answered six-month follow-ups (``exit_followups``, kind ``suivi_6_mois``) of the
    persons in scope who left, one per person (the latest answered, should a person have left
    two contracts), counted by situation."""
    eng = engagements_cte(scope)
    ctr = contracts_cte(scope, eng)
    later = aliased(ExitFollowup)
    newer = exists().where(
        later.participant_id == ExitFollowup.participant_id,
        later.kind == FOLLOWUP_QUESTION,
        later.situation.is_not(None),
        later.id > ExitFollowup.id,
    )
    return (
        select(ExitFollowup.situation, func.count(func.distinct(ExitFollowup.participant_id)))
        .join(Participant, Participant.id == ExitFollowup.participant_id)
        .where(
            ExitFollowup.participant_id.in_(select(ctr.c.participant_id)),
            ExitFollowup.kind == FOLLOWUP_QUESTION,
            ExitFollowup.situation.is_not(None),
            Participant.exit_situation.is_not(None),
            ~newer,
        )
        .group_by(ExitFollowup.situation)
    )


def followups(session: Session, scope: Scope) -> dict[str, int] | None:
    """Persons in scope who left, by their situation at the six-month follow-up (as the
    employer or the facilitator answered it: :mod:`clauses.exits`)."""
    return {str(k): int(n) for k, n in _run(session, _followups_statement, scope)}
