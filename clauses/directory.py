"""Reads the chat and e-mail adapters need about companies, markets and lots, in one place.

The adapters used to run these queries themselves (`mail/handlers.py`, `bot/flows/staff.py`),
each with its own idea of who may see what. Here every read is scoped by :mod:`clauses.authz`,
so a référent asking for a « point d'étape » by e-mail meets the same rule as in the chat.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clauses.actors import Actor
from clauses.authz import (
    Action,
    Scope,
    authorize,
    scope_companies,
    scope_donneurs,
    scope_engagements,
    scope_for,
    scope_markets,
)
from clauses.siret import looks_like_siret, normalize_siret
from storage.models import (
    Candidature,
    CandidatureStatus,
    Company,
    Contact,
    Donneur,
    Engagement,
    EscalationCase,
    EscalationState,
    Lot,
    Market,
    MarketStatus,
    Prescriber,
    User,
)


def like_pattern(text: str) -> str:
    """A case-insensitive LIKE pattern matching `text` anywhere, wildcards escaped (`\\`)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- companies ---------------------------------------------------------------------------------


def search_companies(session: Session, actor: Actor, query: str, *, limit: int = 11) -> list[Company]:
    """Companies the actor may see whose SIRET is `query` or whose name contains it."""
    q = select(Company).where(scope_companies(actor))
    if looks_like_siret(query):
        q = q.where(Company.siret == normalize_siret(query))
    else:
        q = q.where(func.lower(Company.name).like(like_pattern(query), escape="\\"))
    return list(session.scalars(q.order_by(Company.name).limit(limit)))


@dataclass(frozen=True)
class CompanyCard:
    """What the chat shows of a company besides its own row."""

    facilitator_name: str | None
    engagement_ids: frozenset[int]
    pending_candidatures: int
    open_cases: int


def company_card(session: Session, actor: Actor, company: Company) -> CompanyCard:
    """The facilitator, engagements, candidatures waiting and open escalations of `company`."""
    authorize(session, actor, Action.ENGAGEMENT_READ, "company", company.id)
    facilitator = (
        session.scalar(select(User.display_name).where(User.id == company.facilitator_id))
        if company.facilitator_id else None
    )
    engagement_ids = frozenset(
        session.scalars(select(Engagement.id).where(Engagement.company_id == company.id))
    )
    pending = session.scalar(
        select(func.count(Candidature.id)).where(
            Candidature.company_id == company.id, Candidature.status == CandidatureStatus.A_VALIDER
        )
    ) or 0
    open_cases = session.scalar(
        select(func.count(EscalationCase.id))
        .join(Engagement, Engagement.id == EscalationCase.engagement_id)
        .where(Engagement.company_id == company.id, EscalationCase.state != EscalationState.CLOS)
    ) or 0
    return CompanyCard(facilitator, engagement_ids, pending, open_cases)


def company_facilitator(session: Session, company_id: int | None) -> int | None:
    """The facilitator following company `company_id` (routing of alerts), if any."""
    if company_id is None:
        return None
    return session.scalar(select(Company.facilitator_id).where(Company.id == company_id))


def company_named(session: Session, name: str) -> int | None:
    """The one company called exactly `name` (case ignored); None when none or several."""
    matches = list(session.scalars(
        select(Company.id).where(func.lower(Company.name) == name.strip().lower()).limit(2)))
    return matches[0] if len(matches) == 1 else None


def organisation_name(session: Session, *, company_id: int | None = None,
                      donneur_id: int | None = None, prescriber_id: int | None = None) -> str | None:
    """The name of the first organisation given (company, donneur, prescriber), to say who
    someone writes for; None when none is given or known."""
    for model, key in ((Company, company_id), (Donneur, donneur_id), (Prescriber, prescriber_id)):
        if key is not None:
            return session.scalar(select(model.name).where(model.id == key))
    return None


def candidature_with_key(session: Session, idempotency_key: str) -> int | None:
    """The candidature already submitted under this key (a button pressed twice), if any."""
    return session.scalar(select(Candidature.id).where(Candidature.idempotency_key == idempotency_key))


def candidature_awaits_decision(session: Session, candidature_id: int) -> bool:
    """True while the candidature is still « à valider » (its alert keeps its buttons)."""
    status = session.scalar(select(Candidature.status).where(Candidature.id == candidature_id))
    return status == CandidatureStatus.A_VALIDER


def territory_facilitators(session: Session, *, donneur_id: int | None = None,
                           email_domain: str | None = None, limit: int = 10) -> list[int]:
    """Facilitators of the companies engaged on a donneur's markets, or of the companies with a
    contact at `email_domain`; empty when none, or when more than `limit` (a webmail domain, a
    huge donneur: that is not a territory any more, and the alert goes to the shared inbox)."""
    if donneur_id is not None:
        q = (select(Company.facilitator_id).join(Engagement, Engagement.company_id == Company.id)
             .join(Lot, Lot.id == Engagement.lot_id).join(Market, Market.id == Lot.market_id)
             .where(Market.donneur_id == donneur_id))
    elif email_domain:
        # Addresses are stored lower-cased: no lower() per row (on SQLite a Python call for
        # each of the contacts, 70 ms an unknown sender at national size).
        q = (select(Company.facilitator_id).join(Contact, Contact.company_id == Company.id)
             .where(Contact.email.endswith(f"@{email_domain.lower()}", autoescape=True)))
    else:
        return []
    ids = [i for i in session.scalars(q.where(Company.facilitator_id.is_not(None)).distinct()
                                      .limit(limit + 1)) if i is not None]
    return [] if len(ids) > limit else sorted(ids)


# -- markets and lots --------------------------------------------------------------------------


def readable_market(session: Session, actor: Actor, reference: str) -> Market | None:
    """The market `reference` (case ignored) when the actor may read it, else None: a refusal
    and an unknown reference look the same (see :mod:`clauses.authz`). The reference as
    written first (its unique index), then case-insensitively (a scan, for « 2025-017a »)."""
    reference = reference.strip()
    return (session.scalar(select(Market).where(Market.reference == reference, scope_markets(actor)))
            or session.scalar(select(Market).where(
                func.lower(Market.reference) == reference.lower(), scope_markets(actor))))


def open_markets(session: Session, actor: Actor, *, limit: int = 50) -> tuple[bool, list[Market]]:
    """(portfolio, markets): the open markets the actor follows as facilitator, else (False)
    the first `limit` open markets it may read, by reference."""
    q = select(Market).where(scope_markets(actor), Market.status != MarketStatus.CLOS)
    mine = list(session.scalars(q.where(Market.facilitator_id == actor.user_id).order_by(Market.reference)))
    if mine:
        return True, mine
    return False, list(session.scalars(q.order_by(Market.reference).limit(limit)))


def company_open_lots(session: Session, actor: Actor) -> list[tuple[int, int, str, str]]:
    """(lot id, number, label, market reference) of the open markets' lots a company holds."""
    if actor.company_id is None:
        return []
    rows = session.execute(
        select(Lot.id, Lot.number, Lot.label, Market.reference)
        .join(Engagement, Engagement.lot_id == Lot.id)
        .join(Market, Market.id == Lot.market_id)
        .where(scope_engagements(actor), Market.status != MarketStatus.CLOS)
        .order_by(Market.reference, Lot.number)
    ).all()
    return [(lot_id, number, label, reference) for lot_id, number, label, reference in rows]


def candidature_lot(session: Session, actor: Actor, reference: str | None,
                    number: int | None) -> tuple[int | None, int | None]:
    """(lot_id, company_id) a candidature names by market reference and lot number, each only
    when unambiguous: one lot, and one company engaged on it. Nothing for who may not submit."""
    if not reference or scope_for(actor, Action.CANDIDATURE_SUBMIT) is Scope.NONE:
        return None, None
    q = select(Lot.id).join(Market, Market.id == Lot.market_id).where(
        func.lower(Market.reference) == reference.strip().lower())
    if number is not None:
        q = q.where(Lot.number == number)
    lots = list(session.scalars(q.limit(2)))
    if len(lots) != 1:
        return None, None
    companies = list(session.scalars(select(Engagement.company_id).where(Engagement.lot_id == lots[0]).limit(2)))
    return lots[0], companies[0] if len(companies) == 1 else None


# -- donneurs ----------------------------------------------------------------------------------


def readable_donneur_names(session: Session, actor: Actor, *, limit: int = 20) -> list[str]:
    """The names of the first `limit` donneurs the actor may read, by name (a hint to type)."""
    return list(session.scalars(select(Donneur.name).where(scope_donneurs(actor))
                                .order_by(Donneur.name).limit(limit)))
