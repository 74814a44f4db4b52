"""A lot's penalty terms, as its contract states them (per missing hour, per day late after
formal notice, cap as a share of the lot amount). The rulebook's values are only the defaults
people are shown: penalties are computed on a lot whose terms were entered, never guessed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, authorize
from clauses.bilan.lookup import find_market
from clauses.errors import DomainError
from clauses.importing.values import ValueProblem, parse_amount, parse_cap_share
from storage.models import Lot


@dataclass(frozen=True)
class LotTerms:
    market_reference: str
    lot_number: int
    per_hour: Decimal | None
    per_day: Decimal | None
    cap_share: Decimal | None
    default_per_hour: Decimal
    default_per_day: Decimal
    default_cap_share: Decimal


def set_lot_terms(session: Session, actor: Actor, rulebook: object, market_reference: str,
                  lot_number: int, *, per_hour: str | None, per_day: str | None,
                  cap: str | None) -> LotTerms:
    """Enter the terms (French numbers: "60", "1 000,50", "20 %"); an omitted one takes the
    rulebook's default, and the answer shows which."""
    authorize(session, actor, Action.ADMIN_WRITE)
    market = find_market(session, market_reference)
    lot = session.scalar(select(Lot).where(Lot.market_id == market.id, Lot.number == lot_number))
    if lot is None:
        numbers = ", ".join(str(n) for n in session.scalars(
            select(Lot.number).where(Lot.market_id == market.id).order_by(Lot.number))) or "aucun"
        raise DomainError(f"Pas de lot {lot_number} sur le marché {market.reference} (lots : "
                          f"{numbers}).", "No such lot.")
    rules = rulebook.penalties  # type: ignore[attr-defined]
    try:
        values = (parse_amount(per_hour) if per_hour else rules.per_missing_hour,
                  parse_amount(per_day) if per_day else rules.per_day_late,
                  parse_cap_share(cap) if cap else rules.cap_share)
    except ValueProblem as exc:
        raise DomainError(f"{exc} Rien n'a été enregistré.", "Bad penalty term.") from exc
    lot.penalty_per_hour, lot.penalty_per_day_late, lot.penalty_cap_share = values
    audit.record(session, actor, "lot.penalty_terms", "lot", lot.id,
                 per_hour=str(values[0]), per_day=str(values[1]), cap_share=str(values[2]))
    session.flush()
    return LotTerms(market.reference, lot.number, *values, rules.per_missing_hour,
                    rules.per_day_late, rules.cap_share)
