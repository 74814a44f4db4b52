"""A person's answer is never queued behind bulk notifications (outbox priority).

Why: at national size the first scheduler catch-up queues ~71,000 chat alerts; the outbox was
claimed in id order and the chat sender paces bulk sends, so a facilitator's chat /bilan,
computed at once and handed over through the outbox, waited more than 40 minutes. Answers are
now queued with priority 0 (``ANSWER``) and claimed before bulk rows (``BULK``, 1).
"""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select

from clauses.outbox import ANSWER, BULK, chat_message, queue_many
from clauses.outbox_runner import OutboxRunner
from storage.models import OutboxChannel, OutboxMessage, OutboxStatus
from tests.bot.conftest import link_user

BULK_ROWS = 500
TITLE = "Bilan annuel 2025 — Ville d'Oullins"




def test_claim_order_is_priority_then_id(ctx):
    """The runner's claim: every answer first (oldest first), then bulk rows in id order."""
    with ctx.db.session() as s:
        queue_many(s, [chat_message(dedup_key=f"bulk:{n}", chat_id=1000 + n, text="Rappel")
                       for n in range(BULK_ROWS)])
        queue_many(s, [chat_message(dedup_key="answer:1", chat_id=1, text="Réponse")],
                   priority=ANSWER)
    runner = OutboxRunner(ctx.db, OutboxChannel.CHAT, backoff=lambda _: dt.timedelta(0))
    first = runner.claim(None, lambda _, row: (row.dedup_key, row.priority), limit=3)
    assert first == [("answer:1", ANSWER), ("bulk:0", BULK), ("bulk:1", BULK)]
    assert runner.due_ids(1) != []  # the rest is still due, in id order


async def test_chat_bilan_sent_before_earlier_bulk_rows(ctx, world, tg, big, gate):
    """500 bulk chat alerts are due before Fanny's bilan is handed over: the bilan still goes
    out in the sender's next claim, not after the 500 (30 messages/s: ~17 s of backlog)."""
    started, opened = gate
    api = tg.api
    fanny = api.user(first_name="Fanny")
    link_user(ctx, world["facilitator"], fanny.id)
    (_ack,) = await tg.text(fanny, "/bilan 2025 Ville d'Oullins")
    await asyncio.to_thread(started.wait, 10)  # the bilan is being computed

    others = [api.user() for _ in range(BULK_ROWS)]
    with ctx.db.session() as s:  # the scheduler's catch-up, queued before the bilan's row
        queue_many(s, [chat_message(dedup_key=f"alert:bulk:{n}", chat_id=u.id, text="🔔 Alerte")
                       for n, u in enumerate(others)])
    opened.set()

    _, bilan = await api.wait_for_messages_async(fanny, 2, timeout=30)
    assert bilan.text.startswith(TITLE)
    sends = [c for c in api.calls("sendMessage") if c.ok]
    position = next(i for i, c in enumerate(sends) if int(c.params["chat_id"]) == fanny.id
                    and str(c.params.get("text", "")).startswith(TITLE))
    bulk_before = sum(1 for c in sends[:position] if int(c.params["chat_id"]) != fanny.id)
    # At most the batch already claimed when the bilan was handed over (200) and the sends of
    # the claim in flight: never the whole backlog, as the id order made it.
    assert bulk_before < BULK_ROWS - 100, bulk_before
    with ctx.db.session() as s:
        row = s.scalars(select(OutboxMessage).where(
            OutboxMessage.dedup_key.like("chat-bilan:%"))).one()
        assert row.priority == ANSWER
        bulk = s.scalars(select(OutboxMessage.priority).where(
            OutboxMessage.dedup_key.like("alert:bulk:%"))).all()
        assert set(bulk) == {BULK}


async def test_chat_reply_journal_is_an_answer(ctx, world, tg):
    """A reply to a chat command journaled in the outbox carries the answer's priority."""
    fanny = tg.api.user(first_name="Fanny")
    link_user(ctx, world["facilitator"], fanny.id)
    await tg.text(fanny, "/aide")
    with ctx.db.session() as s:
        priorities = set(s.scalars(select(OutboxMessage.priority).where(
            OutboxMessage.dedup_key.like("reply:%"))))
        statuses = set(s.scalars(select(OutboxMessage.status).where(
            OutboxMessage.dedup_key.like("reply:%"))))
    assert priorities == {ANSWER} and statuses <= {OutboxStatus.SENT, OutboxStatus.SENDING}
