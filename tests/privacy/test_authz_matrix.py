"""The authorization matrix, exercised for every role x action against the other side's rows.

Company A must not reach company B's engagement, contract, declaration, participant or
candidature; the référent of donneur X not Y's markets; prescriber P1 not P2's candidates; a
stranger (no role) nothing. And a refusal must read exactly like "not found": the same exception,
message and details whether the target exists or not, so nobody can probe what exists.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from clauses.actors import Actor
from clauses.authz import (
    DENIED_FR,
    MATRIX,
    Action,
    NotAllowed,
    Scope,
    authorize,
    is_allowed,
    scope_companies,
    scope_contracts,
    scope_donneurs,
    scope_engagements,
    scope_for,
    scope_markets,
)
from clauses.candidatures import decide_candidature
from clauses.declarations import record_declaration
from clauses.rgpd import erasure_plan, export_participant
from storage.models import (
    Channel,
    Company,
    Contract,
    Donneur,
    Engagement,
    Market,
    Role,
)
from tests.privacy._world import MISSING_ID, actor_for, build, targets

ROLES: list[Role | None] = [*Role, None]
NEUTRAL = (NotAllowed, DENIED_FR, "Access denied or not found.", "not_allowed", {})

OWN_KINDS = {
    Scope.OWN_COMPANY: ["company", "engagement", "contract", "declaration", "participant",
                        "candidature", "market", "lot"],
    Scope.OWN_DONNEUR: ["donneur", "market", "lot", "engagement"],
    Scope.OWN_PRESCRIBER: ["participant", "candidature"],
}


def _refusal(session, actor: Actor, action: Action, kind: str | None, target_id: int | None):
    # A SAVEPOINT per check: on PostgreSQL one failing query must not abort the others.
    with session.begin_nested(), pytest.raises(NotAllowed) as info:
        authorize(session, actor, action, kind, target_id)
    err = info.value
    return type(err), str(err), err.message_en, err.code, err.details


def _role_id(role: Role | None) -> str:
    return role.value if role else "stranger"


@pytest.mark.parametrize("role", ROLES, ids=_role_id)
def test_every_action_on_another_scope_is_refused_like_a_missing_target(db, role, subtests):
    with db.session() as s:
        world = build(s)
        actor = actor_for(world, role)
        foreign = targets(world["b"])
        checked = 0
        for action in Action:
            expected = MATRIX[action][role] if role is not None else Scope.NONE
            assert scope_for(actor, action) is expected
            for kind, target_id in foreign.items():
                with subtests.test(action=action.value, kind=kind):
                    if expected is Scope.ALL:
                        with s.begin_nested():
                            assert is_allowed(s, actor, action, kind, target_id)
                        continue
                    existing = _refusal(s, actor, action, kind, target_id)
                    missing = _refusal(s, actor, action, kind, MISSING_ID)
                    assert existing == missing == NEUTRAL
                    checked += 1
            if expected is Scope.NONE:
                with subtests.test(action=action.value, kind="listing"):
                    assert _refusal(s, actor, action, None, None) == NEUTRAL
        staff = role in (Role.ADMIN, Role.FACILITATEUR)
        assert checked > 0 or staff
        if role is None:
            assert checked == len(Action) * len(foreign)


@pytest.mark.parametrize("role", [Role.ENTREPRISE, Role.REFERENT, Role.PRESCRIPTEUR],
                         ids=_role_id)
def test_own_scope_is_allowed_so_the_refusals_are_not_vacuous(db, role, subtests):
    with db.session() as s:
        world = build(s)
        actor = actor_for(world, role)
        own = targets(world["a"])
        allowed = 0
        for action in Action:
            scope = MATRIX[action][role]
            for kind in OWN_KINDS.get(scope, []):
                with subtests.test(action=action.value, kind=kind), s.begin_nested():
                    assert is_allowed(s, actor, action, kind, own[kind])
                    allowed += 1
        assert allowed >= 4


@pytest.mark.parametrize("role", [Role.ENTREPRISE, Role.REFERENT, Role.PRESCRIPTEUR],
                         ids=_role_id)
def test_role_without_its_organisation_is_refused_everywhere_but_listings(db, role):
    """An account whose scope id was never set (broken invitation) reaches no row."""
    with db.session() as s:
        world = build(s)
        actor = Actor(role=role, channel=Channel.EMAIL, label="sans périmètre")
        for action in Action:
            for kind, target_id in targets(world["a"]).items():
                if MATRIX[action][role] is Scope.ALL:
                    continue
                assert _refusal(s, actor, action, kind, target_id) == NEUTRAL


def test_listing_filters_only_show_the_own_side(db):
    with db.session() as s:
        world = build(s)
        a, b = world["a"], world["b"]
        company = actor_for(world, Role.ENTREPRISE)
        referent = actor_for(world, Role.REFERENT)
        stranger = actor_for(world, None)
        assert set(s.scalars(select(Engagement.id).where(scope_engagements(company)))) == {
            a["engagement"].id}
        assert set(s.scalars(select(Engagement.id).where(scope_engagements(referent)))) == {
            a["engagement"].id}
        assert set(s.scalars(select(Market.id).where(scope_markets(company)))) == {a["market"].id}
        assert set(s.scalars(select(Market.id).where(scope_markets(referent)))) == {a["market"].id}
        assert set(s.scalars(select(Donneur.id).where(scope_donneurs(referent)))) == {
            a["donneur"].id}
        assert set(s.scalars(select(Company.id).where(scope_companies(company)))) == {
            a["company"].id}
        visible_contracts = set(s.scalars(
            select(Contract.id).join(Engagement, Engagement.id == Contract.engagement_id)
            .where(scope_contracts(company))))
        assert visible_contracts == {a["contract"].id}
        assert b["contract"].id not in visible_contracts
        assert list(s.scalars(select(Engagement.id).where(scope_engagements(stranger)))) == []
        assert list(s.scalars(select(Market.id).where(scope_markets(stranger)))) == []
        assert list(s.scalars(select(Donneur.id).where(scope_donneurs(stranger)))) == []
        assert list(s.scalars(select(Company.id).where(scope_companies(stranger)))) == []


def test_use_cases_answer_foreign_and_missing_targets_identically(ctx):
    """Through the services, not only `authorize`: same message for "theirs" and "nowhere"."""
    with ctx.db.session() as s:
        world = build(s)
        company = actor_for(world, Role.ENTREPRISE)
        facilitator = actor_for(world, Role.FACILITATEUR)
        referent = actor_for(world, Role.REFERENT)
        messages = set()
        for contract_id in (world["b"]["contract"].id, MISSING_ID):
            with pytest.raises(NotAllowed) as info:
                record_declaration(ctx, s, company, contract_id=contract_id,
                                   month=dt.date(2025, 4, 1), work_hours=Decimal(10),
                                   source=Channel.TELEGRAM)
            messages.add(str(info.value))
        for actor in (company, referent, facilitator):
            for pid in (world["b"]["participant"].id, MISSING_ID):
                for call in (export_participant, erasure_plan):
                    with pytest.raises(NotAllowed) as info:
                        call(ctx, s, actor, pid)
                    messages.add(str(info.value))
        for cand_id in (world["b"]["candidature"].id, MISSING_ID):
            with pytest.raises(NotAllowed) as info:
                decide_candidature(ctx, s, company, cand_id, accept=True)
            messages.add(str(info.value))
        # Staff may act everywhere: a missing target must still read the same.
        with pytest.raises(NotAllowed) as info:
            decide_candidature(ctx, s, facilitator, MISSING_ID, accept=True)
        messages.add(str(info.value))
        admin = actor_for(world, Role.ADMIN)
        with pytest.raises(NotAllowed) as info:
            export_participant(ctx, s, admin, MISSING_ID)
        messages.add(str(info.value))
        assert messages == {DENIED_FR}
