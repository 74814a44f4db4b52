"""Meetings that should be on the calendar and are not: the facilitator is prompted to set them.

Reminders (:func:`clauses.due.meeting_reminders`) only cover meetings someone entered. The
convention's calendar says which meetings must happen; when one of them has no date yet as its
period approaches, its facilitator gets one alert (once per market or donneur and period, under a
unique key, like every scheduled sending):

* **launch meeting**, every market: from its notification (or 30 days before its start) until
  30 days after its start;
* for **reserved and insertion markets** (the seed's SIAE follow-up): the collective meeting at
  the start (same window), the individual mid-year meeting of each calendar year the market runs
  through 30 June (prompted from 15 May to 31 July), the collective year-end meeting of each year
  it runs through 1 December (prompted from 1 November to 20 December);
* the **annual partnership meeting** with each donneur whose convention runs, once per calendar
  year, prompted from 1 February (after the annual bilan) until 30 November.

A meeting of the right kind in the period's window satisfies the prompt; for the SIAE meetings an
agency-wide one (no market: every SIAE of the territory is invited) counts for every market.
Computed with one query per kind, whatever the number of markets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Exists, exists, func, or_, select
from sqlalchemy.orm import Session

from clauses.alerts import AlertSpec, raise_alert, raise_alerts
from clauses.clock import PARIS
from clauses.context import Context
from clauses.counting import add_months
from clauses.due import sent_days
from clauses.formatting import fr_date
from clauses.meetings import KIND_WORDS, MEETING_LABELS_FR
from clauses.reminders import claim, claim_many
from storage.models import (
    AlertKind,
    Convention,
    Donneur,
    Market,
    MarketKind,
    MarketStatus,
    Meeting,
    MeetingKind,
)

SIAE_MARKETS = (MarketKind.MARCHE_RESERVE, MarketKind.MARCHE_INSERTION)
AGENCY_WIDE = frozenset({MeetingKind.SIAE_DEBUT, MeetingKind.SIAE_MI_ANNEE,
                         MeetingKind.SIAE_FIN_ANNEE})
"""Kinds that may be held for all the SIAE of the territory at once (no market)."""
START_LEAD = dt.timedelta(days=30)
START_GRACE = dt.timedelta(days=30)


@dataclass(frozen=True)
class MeetingToPlan:
    key: str
    kind: MeetingKind
    before: dt.date
    """The meeting should take place by this day."""
    facilitator_id: int | None
    market_id: int | None = None
    market_reference: str | None = None
    market_title: str | None = None
    donneur_id: int | None = None
    donneur_name: str | None = None


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=PARIS).astimezone(dt.UTC)


def _has_meeting(kind: MeetingKind, since: dt.date, until: dt.date, *, market: bool) -> Exists:
    """A meeting of ``kind`` for the outer query's market (or donneur) between the two days."""
    if not market:
        owner = Meeting.donneur_id == Donneur.id
    elif kind in AGENCY_WIDE:
        owner = (Meeting.market_id == Market.id) | Meeting.market_id.is_(None)
    else:
        owner = Meeting.market_id == Market.id
    return exists().where(owner, Meeting.kind == kind, Meeting.scheduled_at >= _utc(since),
                          Meeting.scheduled_at < _utc(until + dt.timedelta(days=1)))


def _start_meetings(session: Session, today: dt.date) -> list[MeetingToPlan]:
    """Launch meetings (every market) and SIAE start meetings (reserved/insertion markets)."""
    opens = func.coalesce(Market.notified_on, Market.start_date)
    items: list[MeetingToPlan] = []
    for kind, only_siae in ((MeetingKind.LANCEMENT, False), (MeetingKind.SIAE_DEBUT, True)):
        q = select(Market.id, Market.reference, Market.title, Market.facilitator_id,
                   Market.start_date).where(
            Market.status != MarketStatus.CLOS,
            Market.start_date >= today - START_GRACE,
            (opens <= today) | (Market.start_date <= today + START_LEAD),
        )
        if kind in AGENCY_WIDE:  # a collective meeting around the market's start covers it
            q = q.where(~_has_meeting(kind, today - START_LEAD - START_GRACE,
                                      today + START_LEAD + START_GRACE, market=True))
        else:
            q = q.where(~exists().where(Meeting.market_id == Market.id, Meeting.kind == kind))
        if only_siae:
            q = q.where(Market.kind.in_(SIAE_MARKETS))
        for mid, ref, title, fac, start in session.execute(q.order_by(Market.id)):
            items.append(MeetingToPlan(
                key=f"planifier:{kind.value}:market:{mid}", kind=kind,
                before=start + dt.timedelta(days=15), facilitator_id=fac, market_id=mid,
                market_reference=ref, market_title=title))
    return items


def _yearly_siae_meetings(session: Session, today: dt.date) -> list[MeetingToPlan]:
    year = today.year
    windows = (
        # kind, prompt from, prompt until, the market must run on, the meeting's window
        (MeetingKind.SIAE_MI_ANNEE, dt.date(year, 5, 15), dt.date(year, 7, 31),
         dt.date(year, 6, 30), (dt.date(year, 1, 1), dt.date(year, 9, 30))),
        (MeetingKind.SIAE_FIN_ANNEE, dt.date(year, 11, 1), dt.date(year, 12, 20),
         dt.date(year, 12, 1), (dt.date(year, 10, 1), dt.date(year, 12, 31))),
    )
    items: list[MeetingToPlan] = []
    for kind, prompt_from, prompt_until, running_on, (since, until) in windows:
        if not prompt_from <= today <= prompt_until:
            continue
        q = select(Market.id, Market.reference, Market.title, Market.facilitator_id).where(
            Market.kind.in_(SIAE_MARKETS), Market.status != MarketStatus.CLOS,
            Market.start_date <= running_on, Market.end_date >= running_on,
            ~_has_meeting(kind, since, until, market=True),
        ).order_by(Market.id)
        for mid, ref, title, fac in session.execute(q):
            items.append(MeetingToPlan(
                key=f"planifier:{kind.value}:market:{mid}:{year}", kind=kind, before=until,
                facilitator_id=fac, market_id=mid, market_reference=ref, market_title=title))
    return items


def _partnership_meetings(session: Session, today: dt.date) -> list[MeetingToPlan]:
    year = today.year
    if not dt.date(year, 2, 1) <= today <= dt.date(year, 11, 30):
        return []
    # a convention runs today: start <= today < start + duration (months), computed per row
    conventions = session.execute(
        select(Convention.donneur_id, Convention.start_date, Convention.duration_months)
        .where(Convention.start_date <= today,
               or_(Convention.ended_on.is_(None), Convention.ended_on >= today))
    ).all()
    running = sorted({d for d, start, months in conventions if add_months(start, months) > today})
    if not running:
        return []
    since, until = dt.date(year, 1, 1), dt.date(year, 12, 31)
    kind = MeetingKind.PARTENARIAT_ANNUEL
    # the facilitator who follows most of the donneur's markets gets the prompt
    followed = (
        select(Market.facilitator_id).where(Market.donneur_id == Donneur.id,
                                            Market.facilitator_id.is_not(None))
        .group_by(Market.facilitator_id).order_by(func.count().desc(), Market.facilitator_id)
        .limit(1).scalar_subquery()
    )
    q = select(Donneur.id, Donneur.name, followed).where(
        Donneur.id.in_(running), ~_has_meeting(kind, since, until, market=False),
    ).order_by(Donneur.id)
    return [MeetingToPlan(key=f"planifier:{kind.value}:donneur:{did}:{year}", kind=kind,
                          before=dt.date(year, 12, 31), facilitator_id=fac, donneur_id=did,
                          donneur_name=name)
            for did, name, fac in session.execute(q)]


def meetings_to_plan(session: Session, today: dt.date) -> list[MeetingToPlan]:
    """Every meeting of the calendar that is due for planning today and has no date yet."""
    return [*_start_meetings(session, today), *_yearly_siae_meetings(session, today),
            *_partnership_meetings(session, today)]


def _how_to(item: MeetingToPlan) -> str:
    word = next(w for w, k in KIND_WORDS.items() if k == item.kind)
    if item.market_reference:
        chat, cli = f" {item.market_reference}", f" --marche {item.market_reference}"
    elif item.donneur_name:
        chat, cli = f" {item.donneur_name}", f" --donneur \"{item.donneur_name}\""
    else:
        chat = cli = ""
    return (f"Pour l'enregistrer : /reunion {word}{chat} JJ/MM/AAAA HHhMM dans le chat, ou "
            f"« clausebot reunion create --type {word}{cli} --date \"JJ/MM/AAAA HH:MM\" ».")


def meetings_to_prompt(session: Session, today: dt.date) -> list[MeetingToPlan]:
    """:func:`meetings_to_plan` less those already prompted (their key is in the ledger).

    A meeting stays "to plan" every day of its window until someone enters it, but its
    facilitator is prompted once: at national size 2,489 are to plan on a given day and a
    handful new. The daily job asks for these only (the ledger read in one query per slice),
    instead of opening a transaction for each one to find it claimed."""
    items = meetings_to_plan(session, today)
    sent = sent_days(session, [i.key for i in items])
    return [i for i in items if i.key not in sent]


def _prompt(item: MeetingToPlan) -> AlertSpec:
    """The facilitator's alert of a meeting to plan (one wording for both writers)."""
    label = MEETING_LABELS_FR.get(item.kind, "réunion")
    about = (f" du marché {item.market_reference} « {item.market_title} »" if item.market_reference
             else f" avec {item.donneur_name}" if item.donneur_name else "")
    message = (f"À planifier : {label}{about}, à tenir avant le {fr_date(item.before)}. "
               f"Aucune date n'est encore enregistrée.\n{_how_to(item)}")
    return AlertSpec(kind=AlertKind.REUNION, facilitator_id=item.facilitator_id,
                     subject_type="market" if item.market_id else "donneur",
                     subject_id=item.market_id or item.donneur_id, dedup_key=item.key,
                     message=message)


def prompt_meeting_planning(ctx: Context, session: Session, item: MeetingToPlan) -> bool:
    """One alert per meeting to plan, never twice (claimed under the item's key)."""
    if not claim(session, item.key, ctx.clock.today(), ctx.clock.now(),
                 market_id=item.market_id, donneur_id=item.donneur_id):
        return False
    spec = _prompt(item)
    raise_alert(session, kind=spec.kind, facilitator_id=spec.facilitator_id,
                subject_type=spec.subject_type, subject_id=spec.subject_id,
                dedup_key=spec.dedup_key, message=spec.message)
    return True


def prompt_meeting_plannings(ctx: Context, session: Session,
                             items: Sequence[MeetingToPlan]) -> int:
    """:func:`prompt_meeting_planning` for a chunk, set-based; how many were prompted: the
    claims in one executemany (:func:`clauses.reminders.claim_many`), the alerts through
    :func:`clauses.alerts.raise_alerts`. A concurrent run's row fails the chunk whole; the job
    then goes one by one, where each claim answers "already"."""
    claimed = claim_many(session, [(i.key, {"market_id": i.market_id, "donneur_id": i.donneur_id})
                                   for i in items], ctx.clock.today(), ctx.clock.now())
    todo = {i.key: i for i in items if i.key in claimed}
    raise_alerts(session, [_prompt(i) for i in todo.values()])
    return len(todo)

