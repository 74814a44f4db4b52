"""The guided /declarer flow driven through the core: what is offered, what is refused, what
is logged, now that the contracts are listed once per flow and kept in the conversation state.

Why these tests: the flow no longer re-reads the company's contracts at each step; the ids
kept in the state are the authorisation of the buttons. They check that the state cannot be
used to reach anything the listing did not offer, that the listing is still audit-logged (once
per flow), and that a replayed update changes nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.core import ChatCore
from bot.messages import Incoming, Outcome
from clauses.authz import DENIED_FR
from clauses.context import Context
from storage.models import (
    AuditEntry,
    Channel,
    Company,
    Contract,
    ConversationState,
    Engagement,
    HourDeclaration,
    Market,
)
from tests import factories as f
from tests.bot.conftest import World, link_user

BOSS = 990_001


class Driver:
    """Sends updates to the core for one linked user, with fresh update ids."""

    def __init__(self, core: ChatCore, user_id: int = BOSS) -> None:
        self.core = core
        self.user_id = user_id
        self.ids = itertools.count(1000)
        self.last_id = 0

    def send(self, text: str | None = None, data: str | None = None,
             update_id: int | None = None) -> Outcome:
        self.last_id = update_id if update_id is not None else next(self.ids)
        return self.core.handle(Incoming(Channel.TELEGRAM, chat_id=self.user_id,
                                         user_id=self.user_id, update_id=self.last_id,
                                         text=text, callback_data=data))


def _texts(outcome: Outcome) -> str:
    return "\n".join(r.text for r in outcome.replies)


def _buttons(outcome: Outcome) -> list[tuple[str, str]]:
    return [b for r in outcome.replies for row in r.buttons for b in row]


def _listings(ctx: Context) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "contracts.list")) or 0


@pytest.fixture
def ended_contract(ctx: Context, world: World) -> int:
    """A contract of the company that ended before the months the flow offers (April, May)."""
    with ctx.db.session() as s:
        e = s.get(Engagement, world["engagement"])
        p = f.participant(s, "Ancien", "Jean", validated_by=None)
        return f.contract(s, p, e, start=dt.date(2025, 1, 6), end=dt.date(2025, 3, 14)).id


def test_only_contracts_running_in_the_offered_months_are_listed_once(ctx, world, core,
                                                                        ended_contract):
    link_user(ctx, world["company_user"], BOSS)
    bot = Driver(core)
    out = bot.send("/declarer")
    names = [label for label, data in _buttons(out) if data.startswith("d:ct:")]
    assert names == ["DUPONT Marie", "DUPONT Luc", "MARTIN Paul"]  # not ANCIEN Jean
    # A button for the ended contract (a tampered client) is refused like a foreign one.
    out = bot.send(data=f"d:ct:{ended_contract}")
    assert _texts(out) == DENIED_FR
    out = bot.send(data=f"d:ct:{world['contract_marie']}")
    assert "Pour quel mois" in _texts(out)
    bot.send(data="d:m:2025-05")
    bot.send("35")
    bot.send("0")
    bot.send(data="d:skip")
    out = bot.send(data=_confirm_data(ctx))
    assert "Déclaration enregistrée : mai 2025" in _texts(out)
    assert _listings(ctx) == 1  # one audit row for the whole flow


def _confirm_data(ctx: Context) -> str:
    with ctx.db.session() as s:
        data = s.scalar(select(ConversationState.data))
    return f"d:ok:{data['token']}"


def test_tampered_buttons_are_refused_without_saying_whether_the_id_exists(ctx, world, core):
    link_user(ctx, world["company_user"], BOSS)
    bot = Driver(core)
    bot.send("/declarer")
    for data in (f"d:ct:{world['other_contract']}", "d:ct:999999", "d:ct:abc"):
        out = bot.send(data=data)
        assert _texts(out) == DENIED_FR, data
    with ctx.db.session() as s:
        state = s.scalar(select(ConversationState))
        assert state.state == "declarer:contract"  # still waiting for a person
        offered = {row[0] for row in state.data["offer"]}
        assert world["other_contract"] not in offered
    # Two lots for this company: the lot step is asked, and a foreign lot is refused.
    with ctx.db.session() as s:
        lot4 = f.lot(s, s.get(Market, world["market"]), 4, hours=100, label="Plomberie")
        e = f.engagement(s, lot4, s.get(Company, world["company"]))
        f.contract(s, f.participant(s, "Petit", "Jean"), e)
    out = bot.send("/declarer")
    assert "Pour quel marché et quel lot" in _texts(out)
    for data in (f"d:lot:{world['lot3']}", "d:lot:999999"):
        assert _texts(bot.send(data=data)) == DENIED_FR, data
    out = bot.send(data=f"d:lot:{world['lot']}")
    assert "Pour quelle personne" in _texts(out)
    assert _count(ctx) == 0


def _count(ctx: Context) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(HourDeclaration)) or 0


def test_replayed_update_is_processed_once_and_unchanged_state_is_not_rewritten(ctx, world,
                                                                                core):
    link_user(ctx, world["company_user"], BOSS)
    bot = Driver(core)
    bot.send("/declarer")
    bot.send(data=f"d:ct:{world['contract_marie']}")
    out = bot.send(data="d:m:2025-05")
    assert "heures de travail" in _texts(out)
    first = bot.last_id
    assert bot.send(data="d:m:2025-04", update_id=first).duplicate  # a replay: dropped
    with ctx.db.session() as s:
        before = s.scalar(select(ConversationState))
        assert before.data["month"] == "2025-05-01"
        stamp = before.updated_at
    ctx.clock.advance(minutes=5)
    out = bot.send("/aide")  # help changes nothing: the state row is left as it was
    assert _texts(out).startswith("En cours : déclaration d'heures.")
    with ctx.db.session() as s:
        assert s.scalar(select(ConversationState.updated_at)) == stamp
    bot.send("12,5")
    bot.send("0")
    bot.send(data="d:skip")
    out = bot.send(data=_confirm_data(ctx))
    assert "Déclaration enregistrée : mai 2025" in _texts(out)
    with ctx.db.session() as s:
        (decl,) = s.scalars(select(HourDeclaration))
        assert (decl.contract_id, decl.month, decl.work_hours) == (
            world["contract_marie"], dt.date(2025, 5, 1), Decimal("12.5"))


def test_a_company_without_running_contracts_is_told_which_months(ctx, world, core):
    link_user(ctx, world["other_user"], BOSS)
    with ctx.db.session() as s:
        s.get(Contract, world["other_contract"]).end_date = dt.date(2025, 2, 28)
    out = Driver(core).send("/declarer")
    assert "en cours en avril 2025 ou mai 2025" in _texts(out)
    assert _listings(ctx) == 1
