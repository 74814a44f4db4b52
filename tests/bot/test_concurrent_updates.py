"""Journeys: several people chat at once through the local Bot API server, 50 ms away.

Why: Telegram is a network hop away; an adapter that finishes one update before fetching the
next makes everyone wait for the slowest conversation. Each test starts from an empty database
(people who are not invited yet: the bot's polite refusal) and drives the real PTB HTTP stack.
"""

from __future__ import annotations

import asyncio
import threading
import time

from sqlalchemy import func, select

from bot import texts
from bot.flows import onboarding
from storage.models import ChatUpdate

LATENCY = 0.05


def _sends_to(api, chat_id: int) -> list:
    return [c for c in api.calls("sendMessage") if int(c.params.get("chat_id", 0)) == chat_id]


def _claimed(ctx) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(ChatUpdate)) or 0


async def test_a_slow_conversation_does_not_hold_up_another(ctx, tg):
    """Anne's answers take 1.5 s to reach her; Bruno, who writes just after, is answered first,
    and at once. Each gets one answer, each update is confirmed once handled."""
    api = tg.api
    api.latency = LATENCY
    anne, bruno = api.user(first_name="Anne"), api.user(first_name="Bruno")
    api.chat_latency[anne.id] = 1.5

    began = time.monotonic()
    first = api.send_text(anne, "bonjour")
    await asyncio.sleep(0.2)
    second = api.send_text(bruno, "bonjour")
    (to_bruno,) = await api.wait_for_messages_async(bruno, 1, timeout=10)
    bruno_answered = time.monotonic() - began
    (to_anne,) = await api.wait_for_messages_async(anne, 1, timeout=10)

    # Bruno's answer left before Anne's reached her: he did not wait behind her 1.5 s (the
    # order, not a wall-clock bound, which a loaded machine would break).
    assert _sends_to(api, bruno.id)[0].at < _sends_to(api, anne.id)[0].at, (
        f"Bruno waited {bruno_answered:.2f} s behind Anne")
    assert to_anne.text == to_bruno.text == texts.STRANGER
    await api.wait_until_confirmed_async(first, timeout=10)
    await api.wait_until_confirmed_async(second, timeout=10)
    assert _claimed(ctx) == 2
    assert len(api.sent_messages(anne)) == len(api.sent_messages(bruno)) == 1


async def test_one_persons_messages_are_handled_in_order(ctx, tg, monkeypatch, backend):
    """Claire's first message is slow to handle; her next two wait for it, in the order she
    typed them. On PostgreSQL, David (another person) is not held up meanwhile; on SQLite the
    slow update holds the database's single write lock, so he waits for the commit (the
    deployment at national size runs PostgreSQL: docs/scaling.md)."""
    api = tg.api
    api.latency = LATENCY
    claire, david = api.user(first_name="Claire"), api.user(first_name="David")
    handled: list[tuple[int, str]] = []
    original = onboarding.stranger

    david_handled = threading.Event()

    def slow_stranger(t, text):
        if text == "lent":
            if backend == "postgres":  # held until David is handled (10 s at most: then he waited)
                david_handled.wait(10)
            else:
                time.sleep(1.0)
        handled.append((t.incoming.user_id, text or ""))
        if text == "salut":
            david_handled.set()
        original(t, text)

    monkeypatch.setattr(onboarding, "stranger", slow_stranger)
    ids = [api.send_text(claire, "lent")]
    await asyncio.sleep(0.2)
    ids += [api.send_text(claire, "un"), api.send_text(david, "salut"),
            api.send_text(claire, "deux")]
    await api.wait_for_messages_async(claire, 3, timeout=15)
    await api.wait_for_messages_async(david, 1, timeout=15)
    for update_id in ids:
        await api.wait_until_confirmed_async(update_id, timeout=10)

    assert [text for who, text in handled if who == claire.id] == ["lent", "un", "deux"]
    assert len(api.sent_messages(claire)) == 3 and len(api.sent_messages(david)) == 1
    assert _claimed(ctx) == 4
    david_rank = [text for _, text in handled].index("salut")
    if backend == "postgres":
        assert david_rank == 0, handled  # handled while Claire's first one was still running
    else:
        assert david_rank >= 1, handled


async def test_stopping_finishes_what_was_fetched(ctx, tg):
    """The service is stopped while an answer is on its way: the answer is still delivered and
    the update confirmed, so a restart neither loses nor repeats it."""
    api = tg.api
    api.latency = LATENCY
    emma = api.user(first_name="Emma")
    api.chat_latency[emma.id] = 1.0
    update_id = api.send_text(emma, "bonjour")
    deadline = time.monotonic() + 10
    while _claimed(ctx) == 0 and time.monotonic() < deadline:  # handled, answer in flight
        await asyncio.sleep(0.02)
    assert _claimed(ctx) == 1
    await tg.stop()
    assert [m.text for m in api.sent_messages(emma)] == [texts.STRANGER]
    assert api.is_confirmed(update_id)


async def test_an_update_is_confirmed_while_its_answer_is_on_its_way(ctx, tg):
    """Fanny's answer takes 1.5 s to reach her: Telegram is told to forget her update as soon as
    it is committed with its answer journaled, without waiting for that delivery (a restart
    meanwhile would hand the answer to the outbox, not replay the update). She still gets it
    once, and it is then recorded as delivered."""
    from storage.models import OutboxMessage, OutboxStatus

    api = tg.api
    api.latency = LATENCY
    fanny = api.user(first_name="Fanny")
    api.chat_latency[fanny.id] = 1.5
    update_id = api.send_text(fanny, "bonjour")
    await api.wait_until_confirmed_async(update_id, timeout=10)
    assert api.sent_messages(fanny) == []  # confirmed while the answer is still on its way
    assert _claimed(ctx) == 1
    with ctx.db.session() as s:
        assert list(s.scalars(select(OutboxMessage.status))) == [OutboxStatus.SENDING]

    (answer,) = await api.wait_for_messages_async(fanny, 1, timeout=10)
    await tg.delivered()
    assert answer.text == texts.STRANGER
    with ctx.db.session() as s:
        assert list(s.scalars(select(OutboxMessage.status))) == [OutboxStatus.SENT]
    assert len(api.sent_messages(fanny)) == 1
