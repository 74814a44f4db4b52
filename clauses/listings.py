"""Territory reads of the admin CLI: lookups by natural key and the `... list` tables.

The admin commands (`clausebot donneur|marche|lot|entreprise|engagement|facilitateur`) used to
run these queries themselves. They live here so that the adapters only parse options and format
French output, and so that a lookup rule (a donneur's name folded for case and accents, a
facilitator found by e-mail) has one place. The CLI is the administrator's channel: these reads
are unscoped on purpose; chat and e-mail reads go through :mod:`clauses.directory`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from clauses.formatting import fold
from storage.models import (
    Alert,
    Company,
    Donneur,
    Engagement,
    Invitation,
    Lot,
    Market,
    Prescriber,
    Role,
    User,
)

# --- lookups by natural key ------------------------------------------------------------------


def donneur_named(session: Session, name: str) -> Donneur | None:
    """The donneur whose name matches ``name`` with case and accents ignored."""
    key = fold(name)
    for donneur in session.scalars(select(Donneur)):
        if fold(donneur.name) == key:
            return donneur
    return None


def market_by_reference(session: Session, reference: str) -> Market | None:
    """The market with this exact reference (surrounding spaces ignored)."""
    return session.scalar(select(Market).where(Market.reference == reference.strip()))


def company_by_siret(session: Session, siret: str) -> Company | None:
    """The company with this normalized 14-digit SIRET."""
    return session.scalar(select(Company).where(Company.siret == siret))


def companies_named(session: Session, name: str) -> list[Company]:
    """Every company whose name matches ``name`` with case and accents ignored, by name.

    A list, not one row: two companies may share a name, and the caller must ask for a SIRET
    rather than pick one silently.
    """
    key = fold(name)
    return [c for c in session.scalars(select(Company).order_by(Company.name))
            if fold(c.name) == key]


def facilitator_by_email(session: Session, email: str) -> User | None:
    """The facilitator account with this e-mail (spaces and case ignored)."""
    return session.scalar(select(User).where(
        User.role == Role.FACILITATEUR, User.email == email.strip().lower()))


def lot_by_number(session: Session, market_id: int, number: int) -> Lot | None:
    """Lot ``number`` of the market, if it exists."""
    return session.scalar(select(Lot).where(Lot.market_id == market_id, Lot.number == number))


def engagement_of(session: Session, lot_id: int, company_id: int) -> Engagement | None:
    """The engagement of a company on a lot (unique by lot and company), if any."""
    return session.scalar(select(Engagement).where(Engagement.lot_id == lot_id,
                                                   Engagement.company_id == company_id))


# --- listings --------------------------------------------------------------------------------


def donneurs_with_market_counts(session: Session) -> list[tuple[Donneur, int]]:
    """Every donneur with its number of markets, by name."""
    rows = session.execute(
        select(Donneur, func.count(Market.id))
        .outerjoin(Market, Market.donneur_id == Donneur.id)
        .group_by(Donneur.id).order_by(Donneur.name)
    ).all()
    return [(d, n) for d, n in rows]


@dataclass(frozen=True)
class MarketListing:
    """One market of `marche list`: its donneur, facilitator, lots and the companies per lot."""

    market: Market
    donneur_name: str
    facilitator_name: str | None
    lots: Sequence[Lot]
    holders: dict[int, list[str]]  # lot id -> company names, by name


def market_listings(session: Session, donneur_id: int | None = None) -> list[MarketListing]:
    """Markets by donneur name then reference, each with its lots and engaged companies.

    Three queries whatever the number of markets (markets, their lots, their engagements).
    """
    fac = aliased(User)
    query = (select(Market, Donneur.name, fac.display_name)
             .join(Donneur, Market.donneur_id == Donneur.id)
             .outerjoin(fac, Market.facilitator_id == fac.id)
             .order_by(Donneur.name, Market.reference))
    if donneur_id is not None:
        query = query.where(Market.donneur_id == donneur_id)
    markets = session.execute(query).all()
    if not markets:
        return []
    ids = [m.id for m, _, _ in markets]
    lots: dict[int, list[Lot]] = {}
    for lot in session.scalars(select(Lot).where(Lot.market_id.in_(ids))
                               .order_by(Lot.market_id, Lot.number)):
        lots.setdefault(lot.market_id, []).append(lot)
    holders: dict[int, list[str]] = {}
    for lot_id, name in session.execute(
            select(Engagement.lot_id, Company.name).join(Company)
            .join(Lot).where(Lot.market_id.in_(ids)).order_by(Company.name)):
        holders.setdefault(lot_id, []).append(name)
    return [MarketListing(market, donneur_name, fac_name, lots.get(market.id, []), holders)
            for market, donneur_name, fac_name in markets]


def companies_with_totals(session: Session) -> list[tuple[Company, int, Decimal, str | None]]:
    """Every company by name: its number of engagements, hours owed, facilitator's name."""
    fac = aliased(User)
    rows = session.execute(
        select(Company, func.count(Engagement.id), func.sum(Engagement.hours_owed),
               fac.display_name)
        .outerjoin(Engagement, Engagement.company_id == Company.id)
        .outerjoin(fac, Company.facilitator_id == fac.id)
        .group_by(Company.id, fac.display_name).order_by(Company.name)
    ).all()
    return [(c, n, h or Decimal(0), f) for c, n, h, f in rows]


def engagement_rows(session: Session, *, market_id: int | None = None,
                    company_id: int | None = None
                    ) -> list[tuple[Engagement, int, str, str, str]]:
    """Engagements with lot number, market reference, company name and SIRET, in that order.

    Sorted by market reference, lot number, company name; optionally one market or company.
    """
    query = (select(Engagement, Lot.number, Market.reference, Company.name, Company.siret)
             .join(Lot, Engagement.lot_id == Lot.id)
             .join(Market, Lot.market_id == Market.id)
             .join(Company, Engagement.company_id == Company.id)
             .order_by(Market.reference, Lot.number, Company.name))
    if market_id is not None:
        query = query.where(Market.id == market_id)
    if company_id is not None:
        query = query.where(Company.id == company_id)
    return [(e, n, ref, name, siret) for e, n, ref, name, siret in session.execute(query)]


@dataclass(frozen=True)
class FacilitatorPortfolio:
    """A facilitator account with the number of markets and companies it follows."""

    user: User
    markets: int
    companies: int


def facilitator_portfolios(session: Session) -> list[FacilitatorPortfolio]:
    """Every facilitator by display name, with the size of their portfolio."""
    users = list(session.scalars(select(User).where(User.role == Role.FACILITATEUR)
                                 .order_by(User.display_name)))
    markets = {fac_id: n for fac_id, n in session.execute(
        select(Market.facilitator_id, func.count(Market.id))
        .where(Market.facilitator_id.is_not(None)).group_by(Market.facilitator_id))}
    companies = {fac_id: n for fac_id, n in session.execute(
        select(Company.facilitator_id, func.count(Company.id))
        .where(Company.facilitator_id.is_not(None)).group_by(Company.facilitator_id))}
    return [FacilitatorPortfolio(u, markets.get(u.id, 0), companies.get(u.id, 0))
            for u in users]


# --- access: invitations and alerts ------------------------------------------------------------


def invitation_rows(session: Session
                    ) -> list[tuple[Invitation, str | None, str | None, str | None]]:
    """Every invitation, newest first, with its company, donneur and prescriber names."""
    rows = session.execute(
        select(Invitation, Company.name, Donneur.name, Prescriber.name)
        .outerjoin(Company, Invitation.company_id == Company.id)
        .outerjoin(Donneur, Invitation.donneur_id == Donneur.id)
        .outerjoin(Prescriber, Invitation.prescriber_id == Prescriber.id)
        .order_by(Invitation.id.desc())
    ).all()
    return [(inv, c, d, p) for inv, c, d, p in rows]


def alert_rows(session: Session, *, limit: int, include_handled: bool = False,
               facilitator_id: int | None = None) -> list[tuple[Alert, str | None]]:
    """The ``limit`` most recent alerts with their facilitator's name (None: for everyone).

    Without ``include_handled``, only the alerts still to handle.
    """
    fac = aliased(User)
    query = (select(Alert, fac.display_name)
             .outerjoin(fac, Alert.facilitator_id == fac.id)
             .order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit))
    if not include_handled:
        query = query.where(Alert.handled_at.is_(None))
    if facilitator_id is not None:
        query = query.where(Alert.facilitator_id == facilitator_id)
    return [(a, name) for a, name in session.execute(query)]


def engagement_on_lot(session: Session, market_id: int, lot_number: int,
                      company_id: int) -> Engagement | None:
    """The company's engagement on lot ``lot_number`` of the market, if any."""
    return session.scalar(select(Engagement).join(Lot, Lot.id == Engagement.lot_id).where(
        Lot.market_id == market_id, Lot.number == lot_number,
        Engagement.company_id == company_id))
