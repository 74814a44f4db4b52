"""Hours under the facilitator's contest in a bilan's scope (« dont X h contestées »).

Kept apart from :mod:`clauses.bilan.queries` (one extra grouped statement, run only by the
assembly): contested hours stay in the bilan's totals — a contest asks the company for a proof
or a correction, it does not decide that the hours were not worked — and are shown beside them
so that a reader never takes them for checked figures (docs/domain.md, « Control of declared
hours »).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from clauses.bilan.queries import Scope
from clauses.declaration_control import contested_hours
from storage.models import Engagement, Lot, Market


def _engagements_of(scope: Scope) -> ColumnElement[bool]:
    if scope.market_id is not None:
        return Engagement.lot_id.in_(select(Lot.id).where(Lot.market_id == scope.market_id))
    if scope.donneur_id is not None:
        return Engagement.lot_id.in_(select(Lot.id).join(Market, Market.id == Lot.market_id)
                                     .where(Market.donneur_id == scope.donneur_id))
    return Engagement.id.is_not(None)


def contested_by_engagement(session: Session, scope: Scope) -> dict[int, Decimal]:
    """Counted hours under contest per engagement, for the months the bilan's hours cover
    (from the period's first month through the cutoff, as ``hours_counted``)."""
    return contested_hours(session, _engagements_of(scope), start=scope.period.month_start,
                           end=scope.cutoff)
