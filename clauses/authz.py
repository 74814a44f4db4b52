"""The authorization matrix: role x action -> scope, in one place for chat, e-mail and CLI.

Every use case calls `authorize` (or filters its query with the `scope_*` helpers) before it
reads or writes. A refusal and a missing target produce the same message, so nobody can probe
whether another company's market or person exists.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import ColumnElement

from clauses.actors import Actor
from clauses.errors import DomainError
from storage.models import (
    Candidature,
    Company,
    Contract,
    Donneur,
    Engagement,
    HourDeclaration,
    Lot,
    Market,
    Participant,
    Role,
)


class Scope(StrEnum):
    ALL = "all"
    OWN_COMPANY = "own_company"
    OWN_DONNEUR = "own_donneur"
    OWN_PRESCRIBER = "own_prescriber"
    NONE = "none"


class Action(StrEnum):
    MARKET_READ = "market.read"
    ENGAGEMENT_READ = "engagement.read"
    DECLARATION_READ = "declaration.read"
    DECLARATION_WRITE = "declaration.write"
    DECLARATION_CONTROL = "declaration.control"
    CONTRACT_WRITE = "contract.write"
    PARTICIPANT_IDENTITY = "participant.identity"
    PARTICIPANT_SENSITIVE = "participant.sensitive"
    CANDIDATURE_SUBMIT = "candidature.submit"
    CANDIDATURE_READ = "candidature.read"
    CANDIDATURE_DECIDE = "candidature.decide"
    BILAN_READ = "bilan.read"
    ALERT_HANDLE = "alert.handle"
    ESCALATION_ACT = "escalation.act"
    ADMIN_WRITE = "admin.write"
    RGPD = "rgpd"
    AUDIT_READ = "audit.read"


_A, _C, _D, _P, _N = Scope.ALL, Scope.OWN_COMPANY, Scope.OWN_DONNEUR, Scope.OWN_PRESCRIBER, Scope.NONE

#: The matrix. Facilitators act on the whole agency (they cover for each other); their
#: portfolio only routes alerts. Référents see their own donneur's aggregates, never a person.
MATRIX: dict[Action, dict[Role, Scope]] = {
    Action.MARKET_READ:           {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _C, Role.REFERENT: _D, Role.PRESCRIPTEUR: _N},
    Action.ENGAGEMENT_READ:       {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _C, Role.REFERENT: _D, Role.PRESCRIPTEUR: _N},
    Action.DECLARATION_READ:      {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _C, Role.REFERENT: _N, Role.PRESCRIPTEUR: _N},
    Action.DECLARATION_WRITE:     {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _C, Role.REFERENT: _N, Role.PRESCRIPTEUR: _N},
    Action.DECLARATION_CONTROL:   {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _N, Role.REFERENT: _N, Role.PRESCRIPTEUR: _N},
    Action.CONTRACT_WRITE:        {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _C, Role.REFERENT: _N, Role.PRESCRIPTEUR: _N},
    Action.PARTICIPANT_IDENTITY:  {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _C, Role.REFERENT: _N, Role.PRESCRIPTEUR: _P},
    Action.PARTICIPANT_SENSITIVE: {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _N, Role.REFERENT: _N, Role.PRESCRIPTEUR: _N},
    Action.CANDIDATURE_SUBMIT:    {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _C, Role.REFERENT: _N, Role.PRESCRIPTEUR: _P},
    Action.CANDIDATURE_READ:      {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _C, Role.REFERENT: _N, Role.PRESCRIPTEUR: _P},
    Action.CANDIDATURE_DECIDE:    {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _N, Role.REFERENT: _N, Role.PRESCRIPTEUR: _N},
    Action.BILAN_READ:            {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _N, Role.REFERENT: _D, Role.PRESCRIPTEUR: _N},
    Action.ALERT_HANDLE:          {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _N, Role.REFERENT: _N, Role.PRESCRIPTEUR: _N},
    Action.ESCALATION_ACT:        {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _N, Role.REFERENT: _N, Role.PRESCRIPTEUR: _N},
    Action.ADMIN_WRITE:           {Role.ADMIN: _A, Role.FACILITATEUR: _A, Role.ENTREPRISE: _N, Role.REFERENT: _N, Role.PRESCRIPTEUR: _N},
    Action.RGPD:                  {Role.ADMIN: _A, Role.FACILITATEUR: _N, Role.ENTREPRISE: _N, Role.REFERENT: _N, Role.PRESCRIPTEUR: _N},
    Action.AUDIT_READ:            {Role.ADMIN: _A, Role.FACILITATEUR: _N, Role.ENTREPRISE: _N, Role.REFERENT: _N, Role.PRESCRIPTEUR: _N},
}  # fmt: skip

DENIED_FR = "Accès refusé ou élément introuvable."


class NotAllowed(DomainError):
    """Refused or not found: deliberately indistinguishable."""

    code = "not_allowed"

    def __init__(self) -> None:
        super().__init__(DENIED_FR, "Access denied or not found.")


def may_enter(role: Role | None, allowed: Collection[Role]) -> bool:
    """The one role check of a chat entry point, shared by a command and the buttons that act
    like it: a company pressing `ent:<id>` is refused exactly as `/entreprise` refuses it.
    A stranger (no role) enters nothing gated."""
    return role is not None and role in allowed


def scope_for(actor: Actor, action: Action) -> Scope:
    if actor.role is None:
        return Scope.NONE
    return MATRIX[action].get(actor.role, Scope.NONE)


# -- ownership of targets: one small query each, never a loop over rows --------------------


def _companies_of(session: Session, kind: str, target_id: int) -> set[int]:
    if kind == "company":
        return {target_id}
    if kind == "engagement":
        cid = session.scalar(select(Engagement.company_id).where(Engagement.id == target_id))
        return {cid} if cid else set()
    if kind == "contract":
        row = session.execute(
            select(Engagement.company_id, Contract.employer_id)
            .join(Engagement, Engagement.id == Contract.engagement_id)
            .where(Contract.id == target_id)
        ).first()
        return set(row) if row else set()
    if kind == "declaration":
        row = session.execute(
            select(Engagement.company_id, Contract.employer_id)
            .select_from(HourDeclaration)
            .join(Contract, Contract.id == HourDeclaration.contract_id)
            .join(Engagement, Engagement.id == Contract.engagement_id)
            .where(HourDeclaration.id == target_id)
        ).first()
        return set(row) if row else set()
    if kind in ("market", "lot"):
        q = select(Engagement.company_id).join(Lot, Lot.id == Engagement.lot_id)
        q = q.where(Lot.market_id == target_id) if kind == "market" else q.where(Lot.id == target_id)
        return set(session.scalars(q))
    if kind == "candidature":
        cid = session.scalar(select(Candidature.company_id).where(Candidature.id == target_id))
        return {cid} if cid else set()
    if kind == "participant":
        via_contracts = select(Engagement.company_id).join(
            Contract, Contract.engagement_id == Engagement.id
        ).where(Contract.participant_id == target_id)
        via_employer = select(Contract.employer_id).where(Contract.participant_id == target_id)
        via_cand = select(Candidature.company_id).where(Candidature.participant_id == target_id)
        return {c for c in session.scalars(via_contracts.union(via_employer, via_cand)) if c}
    return set()


def _donneur_of(session: Session, kind: str, target_id: int) -> int | None:
    if kind == "donneur":
        return target_id
    if kind == "market":
        return session.scalar(select(Market.donneur_id).where(Market.id == target_id))
    if kind == "lot":
        return session.scalar(
            select(Market.donneur_id).join(Lot, Lot.market_id == Market.id).where(Lot.id == target_id)
        )
    if kind == "engagement":
        return session.scalar(
            select(Market.donneur_id)
            .join(Lot, Lot.market_id == Market.id)
            .join(Engagement, Engagement.lot_id == Lot.id)
            .where(Engagement.id == target_id)
        )
    return None


def _prescriber_of(session: Session, kind: str, target_id: int) -> set[int]:
    if kind == "participant":
        return {
            p
            for p in session.execute(
                select(Participant.prescriber_id).where(Participant.id == target_id).union(
                    select(Candidature.prescriber_id).where(Candidature.participant_id == target_id)
                )
            ).scalars()
            if p
        }
    if kind == "candidature":
        p = session.scalar(select(Candidature.prescriber_id).where(Candidature.id == target_id))
        return {p} if p else set()
    return set()


def is_allowed(session: Session, actor: Actor, action: Action, kind: str | None = None,
               target_id: int | None = None) -> bool:
    scope = scope_for(actor, action)
    if scope is Scope.NONE:
        return False
    if scope is Scope.ALL:
        return True
    if kind is None or target_id is None:
        return True  # a listing: the caller filters with the scope_* helpers
    if scope is Scope.OWN_COMPANY:
        return actor.company_id is not None and actor.company_id in _companies_of(session, kind, target_id)
    if scope is Scope.OWN_DONNEUR:
        return actor.donneur_id is not None and actor.donneur_id == _donneur_of(session, kind, target_id)
    if scope is Scope.OWN_PRESCRIBER:
        return actor.prescriber_id is not None and actor.prescriber_id in _prescriber_of(session, kind, target_id)
    return False


def authorize(session: Session, actor: Actor, action: Action, kind: str | None = None,
              target_id: int | None = None) -> None:
    if not is_allowed(session, actor, action, kind, target_id):
        raise NotAllowed()


def _scoped(actor: Actor, action: Action, row_id: InstrumentedAttribute[int], *,
            company: Callable[[int], ColumnElement[bool]] | None = None,
            donneur: Callable[[int], ColumnElement[bool]] | None = None) -> ColumnElement[bool]:
    """The one shape of every scope filter: all rows, the actor's own (by its company or its
    donneur, when the matrix grants that and the actor has one), or none."""
    scope = scope_for(actor, action)
    if scope is Scope.ALL:
        return row_id.is_not(None)
    if scope is Scope.OWN_COMPANY and actor.company_id is not None and company is not None:
        return company(actor.company_id)
    if scope is Scope.OWN_DONNEUR and actor.donneur_id is not None and donneur is not None:
        return donneur(actor.donneur_id)
    return row_id.is_(None)


def scope_engagements(actor: Actor, action: Action = Action.ENGAGEMENT_READ) -> ColumnElement[bool]:
    """A WHERE clause limiting an Engagement query to what `actor` may see."""
    return _scoped(
        actor, action, Engagement.id,
        company=lambda company_id: Engagement.company_id == company_id,
        donneur=lambda donneur_id: Engagement.lot_id.in_(
            select(Lot.id).join(Market, Market.id == Lot.market_id)
            .where(Market.donneur_id == donneur_id).correlate(None)),
    )


def scope_markets(actor: Actor) -> ColumnElement[bool]:
    return _scoped(
        actor, Action.MARKET_READ, Market.id,
        donneur=lambda donneur_id: Market.donneur_id == donneur_id,
        company=lambda company_id: Market.id.in_(
            select(Lot.market_id).join(Engagement, Engagement.lot_id == Lot.id)
            .where(Engagement.company_id == company_id).correlate(None)),
    )


def scope_donneurs(actor: Actor) -> ColumnElement[bool]:
    return _scoped(actor, Action.BILAN_READ, Donneur.id,
                   donneur=lambda donneur_id: Donneur.id == donneur_id)


def scope_companies(actor: Actor) -> ColumnElement[bool]:
    return _scoped(actor, Action.ENGAGEMENT_READ, Company.id,
                   company=lambda company_id: Company.id == company_id)


def scope_contracts(actor: Actor, action: Action = Action.DECLARATION_READ, *,
                    company: Any = None):
    """Contracts visible to `actor`: a company sees those of its engagements and those it
    carries as employer (SIAE, GEIQ, ETTI). Use on a query joining Contract and Engagement.

    ``company``: what the company id is compared with, when not the actor's own value — a
    bound parameter, for a statement built once per kind of scope and run for many actors
    (the chat's declaration check)."""
    scope = scope_for(actor, action)
    company = actor.company_id if company is None else company
    if scope is Scope.ALL:
        return Contract.id.is_not(None)
    if scope is Scope.OWN_COMPANY and actor.company_id is not None:
        # Two indexed lookups united, rather than an OR across two joined tables, which the
        # planners answer with a scan of every contract (measured: 3.5 updates/s at national size).
        via_engagement = (
            select(Contract.id)
            .join(Engagement, Engagement.id == Contract.engagement_id)
            .where(Engagement.company_id == company)
            .correlate(None)
        )
        as_employer = (
            select(Contract.id).where(Contract.employer_id == company).correlate(None)
        )
        return Contract.id.in_(via_engagement.union(as_employer))
    return Contract.id.is_(None)
