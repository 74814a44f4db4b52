"""Journey: ten people write at once; every answer's delivery is recorded, in few transactions.

Why: each delivered reply is marked in the journal (``clauses.chat_replies``) before its update's
handling finishes. One transaction per mark was a second write transaction per update; the adapter
now commits the marks of the updates delivered meanwhile together. The database step is slowed
down here so that deliveries pile up behind it, as they do under load.
"""

from __future__ import annotations

import time

from sqlalchemy import select

from bot import telegram_adapter, texts
from storage.models import OutboxMessage, OutboxStatus


async def test_marks_of_concurrent_answers_are_committed_together(ctx, tg, monkeypatch):
    api = tg.api
    api.latency = 0.05
    batches: list[int] = []
    original = telegram_adapter._mark_all_sent

    def slow_marks(session, marks):
        batches.append(len(marks))
        time.sleep(0.2)
        original(session, marks)

    monkeypatch.setattr(telegram_adapter, "_mark_all_sent", slow_marks)
    people = [api.user(first_name=f"P{n}") for n in range(10)]
    ids = [api.send_text(person, "bonjour") for person in people]
    for update_id in ids:
        await api.wait_until_confirmed_async(update_id, timeout=20)
    await tg.delivered(timeout=20)

    for person in people:  # each answered once
        assert [m.text for m in api.sent_messages(person)] == [texts.STRANGER]
    with ctx.db.session() as s:  # finished means recorded: every reply marked sent
        statuses = list(s.scalars(select(OutboxMessage.status)
                                  .where(OutboxMessage.dedup_key.like("reply:%"))))
    assert statuses == [OutboxStatus.SENT] * 10
    assert sum(batches) == 10
    assert len(batches) < 10, batches  # some marks shared a transaction
