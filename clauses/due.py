"""What is due on a given day: the domain's answer to every scheduled job, as plain reads.

Nothing here sends or writes. Each function returns the items that are due *up to* ``today`` and
not yet recorded as sent, so a job run daily catches up after downtime ("late rather than
never"), and a second run on the same day finds nothing left ("exactly once"). The sending
itself, and the record that it happened, are :mod:`clauses.reminders`' business, in one
transaction per item.

Every item carries ``key``: ``kind:subject:period`` (e.g. ``rappel_declaration:company:12:2025-05``).
The ledger of what was sent is the ``key_values`` table, one row ``sent:<key>`` per sending.

Calendar rules (documented choices):

* A date falling on a Sunday or a French public holiday (``holidays``, optionally a subdivision
  such as Alsace-Moselle) moves to the next business day; Saturday counts as a business day
  unless ``saturday_is_business_day`` is false. A job running on a non-business day sends
  nothing: what became due waits for the next business day.
* Reminders *before* an event (meetings) move to the previous business day instead, so that they
  are never pushed past the event; once the event has started nothing is sent any more.
* Monthly declaration reminders: the first for month M on ``reminder_day`` of month M+1, the second
  ``second_reminder_after_days`` after the first was actually sent (a late first reminder pushes
  the second back, so the company always has the full delay). Only the last ``catch_up_months``
  months are looked at, so a first start never mails a year of backlog.
* Lateness is judged at the end of the last month whose declarations are due (its first reminder
  date has passed), not at today: hours are declared monthly after the fact, so comparing against
  today would call every company late every month until it declares.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol, TypeVar

import holidays
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from clauses.clock import PARIS
from clauses.context import DEFAULTS, Policy
from clauses.counting import add_months, month_end, month_start
from clauses.declaring.lookup import running_in_month
from clauses.meetings import reminder_key_prefix
from clauses.progress import engagement_progress
from clauses.progress_service import progress_select
from storage.models import (
    Company,
    CompanyKind,
    Contract,
    Convention,
    Donneur,
    Engagement,
    EscalationCase,
    EscalationState,
    HourDeclaration,
    KeyValue,
    Lot,
    Market,
    MarketStatus,
    Meeting,
    MeetingKind,
    Participant,
)

LEDGER_PREFIX = "sent:"
APPROVAL_PREFIX = "bilan_annuel_ok:"

SIAE_KINDS = (CompanyKind.EI, CompanyKind.ETTI, CompanyKind.AI, CompanyKind.ACI)
"""Who is invited to the SIAE collective meetings."""


# --- rules and calendar ---------------------------------------------------------------------


@dataclass(frozen=True)
class DueRules:
    """The agency's scheduling choices (the wiring builds them from the settings; the defaults
    of the settings that exist are :data:`clauses.context.DEFAULTS`)."""

    reminder_day: int = DEFAULTS.reminder_day
    second_reminder_after_days: int = DEFAULTS.second_reminder_after_days
    catch_up_months: int = 2
    meeting_reminder_days: tuple[int, ...] = (7, 1)
    annual_bilan_date: str = DEFAULTS.annual_bilan_date
    annual_bilan_auto: bool = DEFAULTS.annual_bilan_auto
    saturday_is_business_day: bool = True
    holiday_subdivision: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.reminder_day <= 28:
            raise ValueError("reminder_day must be between 1 and 28 (every month has it)")
        if self.second_reminder_after_days < 1:
            raise ValueError("second_reminder_after_days must be at least 1")
        if self.catch_up_months < 1:
            raise ValueError("catch_up_months must be at least 1")
        _ = self.bilan_month_day  # validates the MM-DD text

    @classmethod
    def from_policy(cls, policy: Policy) -> DueRules:
        """Read the fields the policy has; keep the defaults for the others."""
        names = cls.__dataclass_fields__
        values = {n: getattr(policy, n) for n in names if hasattr(policy, n)}
        if "meeting_reminder_days" in values:
            values["meeting_reminder_days"] = tuple(values["meeting_reminder_days"])
        return cls(**values)

    @property
    def bilan_month_day(self) -> tuple[int, int]:
        try:
            month_text, day_text = self.annual_bilan_date.split("-")
            month, day = int(month_text), int(day_text)
            dt.date(2001, month, day)  # not a leap year: 02-29 is refused
        except ValueError:
            raise ValueError(
                f"annual_bilan_date must be MM-DD, got {self.annual_bilan_date!r}"
            ) from None
        return month, day

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar.get(self.saturday_is_business_day, self.holiday_subdivision)


class BusinessCalendar:
    """French business days: not Sunday, not a public holiday (optionally not Saturday)."""

    def __init__(self, saturday_is_business_day: bool = True, subdivision: str | None = None):
        self.saturday_open = saturday_is_business_day
        self._holidays = holidays.country_holidays("FR", subdiv=subdivision)
        self._lock = threading.Lock()  # jobs run in a thread pool; years are filled lazily

    @staticmethod
    @lru_cache(maxsize=8)
    def get(saturday_is_business_day: bool, subdivision: str | None) -> BusinessCalendar:
        return BusinessCalendar(saturday_is_business_day, subdivision)

    def is_holiday(self, day: dt.date) -> bool:
        with self._lock:
            return day in self._holidays

    def is_business_day(self, day: dt.date) -> bool:
        weekday = day.weekday()
        if weekday == 6 or (weekday == 5 and not self.saturday_open):
            return False
        return not self.is_holiday(day)

    def on_or_after(self, day: dt.date) -> dt.date:
        while not self.is_business_day(day):
            day += dt.timedelta(days=1)
        return day

    def on_or_before(self, day: dt.date) -> dt.date:
        while not self.is_business_day(day):
            day -= dt.timedelta(days=1)
        return day


def first_reminder_day(month: dt.date, rules: DueRules) -> dt.date:
    """Business day of the first reminder for the declarations of ``month``."""
    nominal = add_months(month_start(month), 1).replace(day=rules.reminder_day)
    return rules.calendar().on_or_after(nominal)


def last_due_month(today: dt.date, rules: DueRules) -> dt.date:
    """The latest month whose declarations are due on ``today`` (its first reminder has passed)."""
    previous = add_months(month_start(today), -1)
    if first_reminder_day(previous, rules) <= today:
        return previous
    return add_months(previous, -1)


def progress_cutoff(today: dt.date, rules: DueRules) -> dt.date:
    """The day lateness is judged at: end of :func:`last_due_month`."""
    return month_end(last_due_month(today, rules))


# --- the ledger -----------------------------------------------------------------------------


def ledger_key(key: str) -> str:
    return f"{LEDGER_PREFIX}{key}"


def sent_days(session: Session, keys: Iterable[str]) -> dict[str, dt.date]:
    """For each of ``keys`` already sent, the day it was sent (one query per 1,000 keys)."""
    wanted = {ledger_key(k): k for k in keys}
    found: dict[str, dt.date] = {}
    ledger = list(wanted)
    for low in range(0, len(ledger), 1000):
        for row_key, value in session.execute(
            select(KeyValue.key, KeyValue.value).where(KeyValue.key.in_(ledger[low:low + 1000]))
        ):
            found[wanted[row_key]] = _ledger_day(value)
    return found


def _ledger_day(value: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat(json.loads(value or "{}")["day"])
    except (ValueError, KeyError, TypeError):
        return dt.date.min


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


_K = TypeVar("_K", bound=_Keyed)


def unsent(session: Session, items: list[_K]) -> list[_K]:
    """Those of ``items`` not yet in the ledger: what keeps a daily job to "exactly once"."""
    sent = sent_days(session, [i.key for i in items])
    return [i for i in items if i.key not in sent]


def _unsent_after(session: Session, items: list[_K], day: Callable[[_K], dt.date],
                  cal: BusinessCalendar, today: dt.date) -> list[_K]:
    """Items due once their ``day`` is over: from the next business day on, until sent."""
    passed = [i for i in items if cal.on_or_after(day(i) + dt.timedelta(days=1)) <= today]
    return unsent(session, passed)


# --- declarations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GapLine:
    """One contract with no declaration for the month (initials only: least data that serves)."""

    contract_id: int
    market_reference: str
    lot_number: int
    initials: str


@dataclass(frozen=True)
class DeclarationGap:
    """A company has not declared a month: first (stage 1) or second (stage 2) reminder due."""

    key: str
    stage: int
    company_id: int
    company_name: str
    facilitator_id: int | None
    month: dt.date
    lines: tuple[GapLine, ...]
    first_sent_on: dt.date | None = None

    @property
    def alert_key(self) -> str:
        return f"declaration_manquante:company:{self.company_id}:{self.month:%Y-%m}"


def declaration_key(stage: int, company_id: int, month: dt.date) -> str:
    kind = "rappel_declaration" if stage == 1 else "relance_declaration"
    return f"{kind}:company:{company_id}:{month:%Y-%m}"


def _lot_runs_in(first: dt.date, last: dt.date) -> ColumnElement[bool]:
    """On an engagement, lot and market row: the lot runs during [first, last] and the
    engagement has not ended before ``first``."""
    return ((func.coalesce(Lot.start_date, Market.start_date) <= last)
            & (func.coalesce(Lot.end_date, Market.end_date) >= first)
            & or_(Engagement.ended_on.is_(None), Engagement.ended_on >= first))


def _running_engagements(first: dt.date, last: dt.date, *columns: Any) -> Select[Any]:
    """``columns`` (the engagement id by default) of the engagements whose lot runs during
    [first, last] (:func:`_lot_runs_in`): the one select behind the reminders' scope and
    their unscoped due query."""
    return (select(*(columns or (Engagement.id,)))
            .join(Lot, Lot.id == Engagement.lot_id)
            .join(Market, Market.id == Lot.market_id)
            .where(_lot_runs_in(first, last)))


ReminderScope = dict[dt.date, dict[int, list[int]]]
"""Per month whose declarations are due, company id -> ids of its engagements running that
month (:func:`reminder_scope`)."""


def reminder_months(today: dt.date, rules: DueRules) -> list[dt.date]:
    """The months whose declarations the reminders look at on ``today`` (their first reminder
    day has come, within ``catch_up_months``)."""
    months = [add_months(month_start(today), -i) for i in range(1, rules.catch_up_months + 1)]
    return [m for m in months if first_reminder_day(m, rules) <= today]


def reminder_scope(session: Session, today: dt.date, rules: DueRules) -> ReminderScope:
    """The engagements running in each month the reminders look at, by company: one query a
    month for the whole territory, which the scheduler then walks a company slice at a time
    (:func:`declaration_gaps`'s ``scope``).

    Why: each slice's due query otherwise found the running engagements again from every lot
    and market (SQLite: 0.1 s a query; PostgreSQL: hash joins over every lot, market and
    running contract, 0.3-0.5 s a query), 11 slices x 2 months every day at national size.
    About 16,000 ids a month nationally (a megabyte)."""
    if not rules.calendar().is_business_day(today):
        return {}
    scope: ReminderScope = {}
    for month in reminder_months(today, rules):
        by_company: dict[int, list[int]] = {}
        for company_id, engagement_id in session.execute(_running_engagements(
                month_start(month), month_end(month), Engagement.company_id, Engagement.id)):
            # no ORDER BY: SQLite would walk every engagement by company to spare the sort
            by_company.setdefault(company_id, []).append(engagement_id)
        scope[month] = by_company
    return scope


SCOPE_IDS = 5000
"""Engagement ids bound per due query of a scoped slice (whole companies; far below SQLite's
32,766 parameters)."""


def _missing_lines(session: Session, month: dt.date,
                   company_range: tuple[int, int] | None = None,
                   engagements: dict[int, list[int]] | None = None) -> dict[int, list]:
    """Contracts active in ``month``, on a lot running that month, with no declaration for it.

    The contracts are reached from the engagements of the lots running that month (an IN list
    SQLite builds first, then index lookups): left to itself SQLite walks every engagement
    ever made, so the query grew with the whole history (0.02 s -> 0.09 s with 11x the rows).
    Given ``engagements`` (company id -> running engagement ids, from :func:`reminder_scope`),
    the contracts are reached from those ids (index lookups on both backends), the lot's
    running checked again on the row itself.
    """
    first, last = month_start(month), month_end(month)
    declared = (
        select(HourDeclaration.id)
        .where(HourDeclaration.contract_id == Contract.id, HourDeclaration.month == first)
        .exists()
    )
    q = (
        select(
            Contract.id, Engagement.company_id, Company.name, Company.facilitator_id,
            Market.facilitator_id, Market.reference, Lot.number, Participant.last_name,
            Participant.first_name,
        )
        .join(Engagement, Engagement.id == Contract.engagement_id)
        .join(Company, Company.id == Engagement.company_id)
        .join(Lot, Lot.id == Engagement.lot_id)
        .join(Market, Market.id == Lot.market_id)
        .join(Participant, Participant.id == Contract.participant_id)
        .where(running_in_month(month), ~declared)
        .order_by(Engagement.company_id, Market.reference, Lot.number, Contract.id)
    )
    if engagements is None:
        if company_range is not None:
            q = q.where(Engagement.company_id >= company_range[0],
                        Engagement.company_id < company_range[1])
        running = _running_engagements(first, last).correlate(None)
        if company_range is not None:  # the slice's engagements only
            running = running.where(Engagement.company_id >= company_range[0],
                                    Engagement.company_id < company_range[1])
        queries = [q.where(Contract.engagement_id.in_(running))]
    else:
        batches: list[list[int]] = []
        for company_id in sorted(engagements):
            if company_range is not None and not company_range[0] <= company_id < company_range[1]:
                continue
            if not batches or len(batches[-1]) >= SCOPE_IDS:
                batches.append([])
            batches[-1].extend(engagements[company_id])  # a company's ids in one batch
        # the ids are the slice's companies': no company range (PostgreSQL then hashed the
        # slice's every engagement for nothing)
        queries = [q.where(Contract.engagement_id.in_(ids), _lot_runs_in(first, last))
                   for ids in batches]
    by_company: dict[int, list] = {}
    for query in queries:
        for row in session.execute(query):
            by_company.setdefault(row[1], []).append(row)
    return by_company


def _initials(last: str, first: str) -> str:
    return f"{last[:1].upper()}. {first[:1].upper()}." if last and first else "?"


def declaration_gaps(session: Session, today: dt.date, rules: DueRules, *,
                     company_range: tuple[int, int] | None = None,
                     scope: ReminderScope | None = None) -> list[DeclarationGap]:
    """First and second reminders due on ``today`` for months not declared (for the companies
    whose id is in ``company_range``, when given: the scheduler walks them a slice at a time,
    so that a national catch-up never holds 6,000 reminders and their recipients at once;
    ``scope``, the day's :func:`reminder_scope`, spares each slice finding the running
    engagements again)."""
    cal = rules.calendar()
    if not cal.is_business_day(today):
        return []
    candidates: list[tuple[dt.date, int, list]] = []
    for month in reminder_months(today, rules):
        engagements = None if scope is None else scope.get(month, {})
        if engagements is not None and not any(
                company_range is None or company_range[0] <= c < company_range[1]
                for c in engagements):
            continue  # nothing runs that month in the slice: no query
        for company_id, rows in _missing_lines(session, month, company_range,
                                               engagements).items():
            candidates.append((month, company_id, rows))
    keys = [declaration_key(s, cid, m) for m, cid, _ in candidates for s in (1, 2)]
    sent = sent_days(session, keys)
    gaps: list[DeclarationGap] = []
    for month, company_id, rows in candidates:
        key1, key2 = declaration_key(1, company_id, month), declaration_key(2, company_id, month)
        first_sent = sent.get(key1)
        if first_sent is not None and (key2 in sent or cal.on_or_after(
                first_sent + dt.timedelta(days=rules.second_reminder_after_days)) > today):
            continue  # both sent, or the second not due yet: the lines are not built (a steady
            # day has 18,000 of them nationally and nothing due)
        lines = tuple(
            GapLine(contract_id=r[0], market_reference=r[5], lot_number=r[6],
                    initials=_initials(r[7], r[8]))
            for r in rows
        )
        facilitator = rows[0][3] if rows[0][3] is not None else rows[0][4]
        common = {"company_id": company_id, "company_name": rows[0][2],
                  "facilitator_id": facilitator, "month": month, "lines": lines}
        if first_sent is None:
            gaps.append(DeclarationGap(key=key1, stage=1, **common))
        else:
            gaps.append(DeclarationGap(key=key2, stage=2, first_sent_on=first_sent, **common))
    return gaps


# --- lateness -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LatenessChange:
    """An engagement whose progress status differs from the one last recorded.

    Plain ids and figures: the names the alert quotes are filled in only when it alerts.
    """

    engagement_id: int
    previous: str | None
    current: str
    at: dt.date
    facilitator_id: int | None
    owed: Decimal
    done: Decimal
    expected: Decimal
    company_name: str = ""
    market_reference: str = ""
    lot_number: int = 0

    @property
    def alerts(self) -> bool:
        """Only entering "en retard" alerts; other changes are recorded silently."""
        return self.current == "en_retard"

    @property
    def key(self) -> str:
        return f"retard:engagement:{self.engagement_id}:{self.at.isoformat()}"


LATENESS_BATCH = 1000
"""Rows fetched at a time by :func:`lateness_changes`, and ids per name lookup (well under
SQLite's bound-parameter limit)."""


def _lot_started(at: dt.date) -> ColumnElement[bool]:
    """On a lot and market row: the market is not closed and the lot has started at ``at``."""
    return ((Market.status != MarketStatus.CLOS)
            & (func.coalesce(Lot.start_date, Market.start_date) <= at))


def _judged(at: dt.date) -> ColumnElement[bool]:
    """The engagements lateness judges at ``at``: of started, not closed markets, not ended."""
    started = Engagement.lot_id.in_(
        select(Lot.id)
        .join(Market, Market.id == Lot.market_id)
        .where(_lot_started(at))
        .correlate(None)
    )
    return started & Engagement.ended_on.is_(None)  # an ended engagement is judged no more


def lateness_slices(session: Session, today: dt.date, rules: DueRules,
                    size: int) -> list[list[int]]:
    """The ids of the engagements to judge, ``size`` a slice, for :func:`lateness_changes`'s
    ``ids``.

    The ids of the engagements judged (one query), not every id ever given: at national size
    16,735 of 168,243 engagements are open, the rest closed markets' history, and walking all
    the ids by 2,000 ran the judging query 85 times (6 s on a steady day) where 9 cover the
    same engagements (1 s). Each slice is then judged from its own ids (index lookups), not
    by finding every started lot again (0.5 s a day on SQLite, 5 s on PostgreSQL)."""
    ids = list(session.scalars(select(Engagement.id)
                               .where(_judged(progress_cutoff(today, rules)))
                               .order_by(Engagement.id)))
    return [ids[low:low + size] for low in range(0, len(ids), size)]


def lateness_changes(ctx, session: Session, today: dt.date, rules: DueRules, *,
                     ids: Sequence[int] | None = None) -> list[LatenessChange]:
    """Engagements of started, not closed markets whose status changed since last recorded.

    Every open engagement must be judged (16,000 at national size), but few change on a given
    day: the query returns ids and numbers only, in batches, and the names are looked up for
    the alerting changes alone. Loading each engagement with its lot, market and company as
    ORM entities cost about 100 MB at national size. ``ids`` (from :func:`lateness_slices`)
    limits the judgement to those engagements, checked again against the rule on their own lot
    and market (one may have closed since the ids were read): the scheduler walks them a slice
    at a time, so that a first run, where every engagement changes, never holds 16,000 changes
    at once (20 MB). A slice's ids are bound twice (its rows and their sums): 2,000 ids stay far
    below SQLite's 32,766 parameters.
    """
    at = progress_cutoff(today, rules)
    columns = (Engagement.id, Engagement.hours_owed, Engagement.last_progress_status,
               func.coalesce(Lot.start_date, Market.start_date),
               func.coalesce(Lot.end_date, Market.end_date),
               func.coalesce(Company.facilitator_id, Market.facilitator_id))
    if ids is None:
        q = progress_select(session, _judged(at), at, *columns).execution_options(
            yield_per=LATENESS_BATCH)
    else:  # a slice is fetched whole: PostgreSQL plans a streamed (cursor) query for its
        # first rows, 0.67 s a slice against 0.2 s
        q = progress_select(session, Engagement.id.in_(ids), at, *columns).where(
            _lot_started(at), Engagement.ended_on.is_(None))  # :func:`_judged`, on its own rows
    changes: list[LatenessChange] = []
    for eng_id, owed, previous, start, end, facilitator, done_hours in session.execute(q):
        p = engagement_progress(owed, Decimal(done_hours), start, end, at, ctx.rulebook)
        if p.status.value != previous:
            changes.append(LatenessChange(
                engagement_id=eng_id, previous=previous, current=p.status.value, at=at,
                facilitator_id=facilitator, owed=p.owed, done=p.done, expected=p.expected,
            ))
    names = _engagement_names(session, [c.engagement_id for c in changes if c.alerts])
    return [dataclasses.replace(c, company_name=names[c.engagement_id][0],
                                market_reference=names[c.engagement_id][1],
                                lot_number=names[c.engagement_id][2])
            if c.engagement_id in names else c
            for c in changes]


def _engagement_names(session: Session, ids: list[int]) -> dict[int, tuple[str, str, int]]:
    """Company name, market reference and lot number of ``ids``, a batch of ids per query."""
    out: dict[int, tuple[str, str, int]] = {}
    for i in range(0, len(ids), LATENESS_BATCH):
        for eng_id, company, reference, number in session.execute(
            select(Engagement.id, Company.name, Market.reference, Lot.number)
            .join(Company, Company.id == Engagement.company_id)
            .join(Lot, Lot.id == Engagement.lot_id)
            .join(Market, Market.id == Lot.market_id)
            .where(Engagement.id.in_(ids[i:i + LATENESS_BATCH]))
        ):
            out[eng_id] = (company, reference, number)
    return out


# --- escalation deadlines -------------------------------------------------------------------


@dataclass(frozen=True)
class EscalationDeadline:
    """A letter whose deadline passed with the case still waiting for an answer."""

    key: str
    case_id: int
    engagement_id: int
    company_name: str
    market_reference: str
    lot_number: int
    donneur_id: int
    donneur_name: str
    deadline: dt.date
    facilitator_id: int | None


def escalation_deadlines(session: Session, today: dt.date, rules: DueRules) -> list[EscalationDeadline]:
    cal = rules.calendar()
    if not cal.is_business_day(today):
        return []
    q = (
        select(
            EscalationCase.id, EscalationCase.engagement_id, EscalationCase.letter_deadline,
            Company.name, Market.reference, Lot.number, Donneur.id, Donneur.name,
            func.coalesce(Company.facilitator_id, Market.facilitator_id),
        )
        .join(Engagement, Engagement.id == EscalationCase.engagement_id)
        .join(Company, Company.id == Engagement.company_id)
        .join(Lot, Lot.id == Engagement.lot_id)
        .join(Market, Market.id == Lot.market_id)
        .join(Donneur, Donneur.id == Market.donneur_id)
        .where(
            EscalationCase.state == EscalationState.COURRIER_ENVOYE,
            EscalationCase.letter_deadline.is_not(None),
            EscalationCase.letter_deadline < today,
        )
        .order_by(EscalationCase.id)
    )
    items = [
        EscalationDeadline(
            key=f"escalade_echeance:case:{r[0]}:{r[2].isoformat()}", case_id=r[0],
            engagement_id=r[1], deadline=r[2], company_name=r[3], market_reference=r[4],
            lot_number=r[5], donneur_id=r[6], donneur_name=r[7], facilitator_id=r[8],
        )
        for r in session.execute(q) if r[2] is not None  # excluded by the query already
    ]
    return _unsent_after(session, items, lambda i: i.deadline, cal, today)


# --- meetings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingReminder:
    key: str
    meeting_id: int
    kind: MeetingKind
    scheduled_at: dt.datetime
    lead_days: int
    location: str | None
    note: str | None
    market_id: int | None
    market_reference: str | None
    market_title: str | None
    donneur_id: int | None
    donneur_name: str | None
    facilitator_id: int | None

    @property
    def local_start(self) -> dt.datetime:
        return self.scheduled_at.astimezone(PARIS)


def meeting_reminders(
    session: Session, today: dt.date, now: dt.datetime, rules: DueRules
) -> list[MeetingReminder]:
    """For each meeting not yet started, the latest of its reminders whose day has come."""
    cal = rules.calendar()
    if not cal.is_business_day(today) or not rules.meeting_reminder_days:
        return []
    horizon = now + dt.timedelta(days=max(rules.meeting_reminder_days) + 10)
    q = (
        select(Meeting, Market.reference, Market.title, Market.facilitator_id,
               func.coalesce(Meeting.donneur_id, Market.donneur_id), Donneur.name)
        .outerjoin(Market, Market.id == Meeting.market_id)
        .outerjoin(Donneur, Donneur.id == func.coalesce(Meeting.donneur_id, Market.donneur_id))
        .where(Meeting.scheduled_at > now, Meeting.scheduled_at <= horizon)
        .order_by(Meeting.scheduled_at, Meeting.id)
    )
    items: list[MeetingReminder] = []
    for meeting, ref, title, fac, donneur_id, donneur_name in session.execute(q):
        day = meeting.scheduled_at.astimezone(PARIS).date()
        passed = [
            lead for lead in sorted(set(rules.meeting_reminder_days), reverse=True)
            if cal.on_or_before(day - dt.timedelta(days=lead)) <= today
        ]
        if not passed:
            continue
        lead = passed[-1]  # the closest to the meeting: earlier missed ones are not sent late
        items.append(MeetingReminder(
            key=f"{reminder_key_prefix(meeting.id)}{day.isoformat()}:j{lead}", meeting_id=meeting.id,
            kind=meeting.kind, scheduled_at=meeting.scheduled_at, lead_days=lead,
            location=meeting.location, note=meeting.note, market_id=meeting.market_id,
            market_reference=ref, market_title=title, donneur_id=donneur_id,
            donneur_name=donneur_name, facilitator_id=fac,
        ))
    return unsent(session, items)


# --- conventions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConventionRenewal:
    key: str
    convention_id: int
    reference: str
    donneur_id: int
    donneur_name: str
    end_date: dt.date
    notice_months: int


def convention_end(start: dt.date, duration_months: int) -> dt.date:
    """Last day of a convention: the day before its start plus its duration."""
    return add_months(start, duration_months) - dt.timedelta(days=1)


def convention_renewals(session: Session, today: dt.date, rules: DueRules) -> list[ConventionRenewal]:
    """Conventions whose end minus notice period has come, until their end."""
    cal = rules.calendar()
    if not cal.is_business_day(today):
        return []
    items = []
    for conv, name in session.execute(
        select(Convention, Donneur.name).join(Donneur, Donneur.id == Convention.donneur_id)
        .where(Convention.start_date <= today, Convention.ended_on.is_(None))
        .order_by(Convention.id)
    ):
        end = convention_end(conv.start_date, conv.duration_months)
        remind = cal.on_or_after(add_months(end, -conv.notice_months))
        if remind <= today <= end:
            items.append(ConventionRenewal(
                key=f"convention_renouvellement:convention:{conv.id}:{end.isoformat()}",
                convention_id=conv.id, reference=conv.reference, donneur_id=conv.donneur_id,
                donneur_name=name, end_date=end, notice_months=conv.notice_months,
            ))
    return unsent(session, items)


# --- market ends ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketEnd:
    key: str
    market_id: int
    reference: str
    title: str
    donneur_name: str
    end_date: dt.date
    facilitator_id: int | None


def market_ends(session: Session, today: dt.date, rules: DueRules) -> list[MarketEnd]:
    """Markets over (end date passed) and not closed: the final bilan is to be made."""
    cal = rules.calendar()
    if not cal.is_business_day(today):
        return []
    q = (
        select(Market.id, Market.reference, Market.title, Donneur.name, Market.end_date,
               Market.facilitator_id)
        .join(Donneur, Donneur.id == Market.donneur_id)
        .where(Market.status != MarketStatus.CLOS, Market.end_date < today)
        .order_by(Market.end_date, Market.id)
    )
    items = [
        MarketEnd(key=f"bilan_final:market:{r[0]}:{r[4].isoformat()}", market_id=r[0],
                  reference=r[1], title=r[2], donneur_name=r[3], end_date=r[4],
                  facilitator_id=r[5])
        for r in session.execute(q)
    ]
    return _unsent_after(session, items, lambda i: i.end_date, cal, today)


# --- annual bilans --------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnualBilan:
    """A donneur's annual bilan for ``year``: to approve first, or to send."""

    key: str
    donneur_id: int
    donneur_name: str
    year: int
    send: bool
    approved_by: str | None = None

    @property
    def period(self) -> tuple[dt.date, dt.date]:
        return dt.date(self.year, 1, 1), dt.date(self.year, 12, 31)


def approval_key(donneur_id: int, year: int) -> str:
    return f"{APPROVAL_PREFIX}{donneur_id}:{year}"


def annual_bilan_day(year: int, rules: DueRules) -> dt.date:
    """Business day on which the bilan of ``year`` goes out (configured date of ``year + 1``)."""
    month, day = rules.bilan_month_day
    return rules.calendar().on_or_after(dt.date(year + 1, month, day))


def annual_bilans(session: Session, today: dt.date, rules: DueRules) -> list[AnnualBilan]:
    """Each donneur with a market running in the past year: approval asked, or bilan sent."""
    cal = rules.calendar()
    year = today.year - 1
    if not cal.is_business_day(today) or annual_bilan_day(year, rules) > today:
        return []
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    donneurs = session.execute(
        select(Donneur.id, Donneur.name)
        .where(Donneur.id.in_(
            select(Market.donneur_id)
            .where(Market.start_date <= last, Market.end_date >= first)
            .correlate(None)
        ))
        .order_by(Donneur.id)
    ).all()
    if not donneurs:
        return []
    approvals = dict(
        session.execute(
            select(KeyValue.key, KeyValue.value)
            .where(KeyValue.key.in_([approval_key(d, year) for d, _ in donneurs]))
        ).all()
    )
    items: list[AnnualBilan] = []
    for donneur_id, name in donneurs:
        approved = approvals.get(approval_key(donneur_id, year))
        if approved is not None or rules.annual_bilan_auto:
            by = _approver(approved) if approved is not None else "automatique"
            items.append(AnnualBilan(key=f"bilan_annuel:donneur:{donneur_id}:{year}",
                                     donneur_id=donneur_id, donneur_name=name, year=year,
                                     send=True, approved_by=by))
        else:
            items.append(AnnualBilan(key=f"bilan_annuel_approbation:donneur:{donneur_id}:{year}",
                                     donneur_id=donneur_id, donneur_name=name, year=year,
                                     send=False))
    return unsent(session, items)



def _approver(value: str | None) -> str:
    try:
        return str(json.loads(value or "{}").get("by") or "?")
    except (ValueError, AttributeError):
        return "?"
