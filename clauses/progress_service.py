"""Progress of engagements at a date, for chat answers, lateness alerts and bilans.

Done hours come from one grouped SQL query over the stored counted hours; only the pro-rata
arithmetic (a few operations per engagement) runs in Python.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clauses.actors import Actor
from clauses.authz import Action, scope_engagements
from clauses.context import Context
from clauses.progress import engagement_progress
from storage.models import Company, Contract, Engagement, HourDeclaration, Lot, Market


@dataclass(frozen=True)
class EngagementProgressView:
    engagement_id: int
    market_id: int
    market_reference: str
    market_title: str
    lot_number: int
    lot_label: str
    company_id: int
    company_name: str
    owed: Decimal
    done: Decimal
    expected: Decimal
    status: str
    status_label: str


def done_hours_by_engagement(session: Session, at: dt.date, engagement_filter=None):
    """Subquery: engagement_id -> counted hours declared for months up to `at`."""
    q = (
        select(Contract.engagement_id.label("engagement_id"),
               func.coalesce(func.sum(HourDeclaration.counted_hours), 0).label("done"))
        .join(HourDeclaration, HourDeclaration.contract_id == Contract.id)
        .where(HourDeclaration.month <= at)
        .group_by(Contract.engagement_id)
    )
    return q.subquery()


def progress_rows(ctx: Context, session: Session, where, at: dt.date) -> list[EngagementProgressView]:
    done = done_hours_by_engagement(session, at)
    q = (
        select(Engagement, Lot, Market, Company, func.coalesce(done.c.done, 0))
        .join(Lot, Lot.id == Engagement.lot_id)
        .join(Market, Market.id == Lot.market_id)
        .join(Company, Company.id == Engagement.company_id)
        .outerjoin(done, done.c.engagement_id == Engagement.id)
        .where(where)
        .order_by(Market.reference, Lot.number, Company.name)
    )
    views = []
    for eng, lot, market, company, done_hours in session.execute(q):
        p = engagement_progress(
            eng.hours_owed, Decimal(done_hours),
            lot.start_date or market.start_date, lot.end_date or market.end_date, at, ctx.rulebook,
        )
        views.append(EngagementProgressView(
            engagement_id=eng.id, market_id=market.id, market_reference=market.reference,
            market_title=market.title, lot_number=lot.number, lot_label=lot.label,
            company_id=company.id, company_name=company.name, owed=p.owed, done=p.done,
            expected=p.expected, status=p.status.value, status_label=p.status.label_fr,
        ))
    return views


def progress_for_actor(ctx: Context, session: Session, actor: Actor, at: dt.date) -> list[EngagementProgressView]:
    return progress_rows(ctx, session, scope_engagements(actor, Action.ENGAGEMENT_READ), at)
