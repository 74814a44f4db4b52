"""Two updates of one user handled at the same time: the second sees what the first committed.

Why: the core reads the user and their conversation state in one statement. On PostgreSQL, in
READ COMMITTED, a row lock taken by that SELECT would not be enough: after waiting for the
lock, the joined state row would still come from the snapshot taken before the wait, and the
second update would act on (and overwrite) the stale step. The claim of the update id takes the
user's lock first, so the second update's reads start after the first one's commit.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from decimal import Decimal

from sqlalchemy import select

from bot import core as chat_core
from bot.core import ChatCore
from bot.flows import declare
from bot.messages import Incoming
from clauses.context import Context
from storage.models import Channel, ConversationState
from tests.bot.conftest import World, link_user

BOSS = 990_077


def _send(core: ChatCore, update_id: int, text: str | None = None, data: str | None = None):
    return core.handle(Incoming(Channel.TELEGRAM, chat_id=BOSS, user_id=BOSS, update_id=update_id,
                                text=text, callback_data=data))


def test_concurrent_updates_of_one_user_are_serialised(ctx: Context, world: World,
                                                       core: ChatCore, monkeypatch) -> None:
    link_user(ctx, world["company_user"], BOSS)
    _send(core, 1, "/declarer")
    _send(core, 2, data=f"d:ct:{world['contract_marie']}")
    _send(core, 3, data="d:m:2025-05")  # now at the "work" step

    slow_started = threading.Event()
    original = declare.on_text

    def slow_on_text(t, text):  # the first update holds its transaction a while
        if text == "35":
            slow_started.set()
            time.sleep(0.5)
        original(t, text)

    monkeypatch.setitem(chat_core.FLOWS, declare.FLOW,
                        dataclasses.replace(declare.FLOW_DEF, on_text=slow_on_text))
    first = threading.Thread(target=_send, args=(core, 4, "35"))
    first.start()
    assert slow_started.wait(10)
    _send(core, 5, "7")  # typed while the first is being handled: it is the training hours
    first.join(10)

    with ctx.db.session() as s:
        state = s.scalar(select(ConversationState))
        assert state.state == "declarer:proof"
        assert (Decimal(state.data["work"]), Decimal(state.data["training"])) == (35, 7)
