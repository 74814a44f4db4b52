"""The chat outbox sender against the local Bot API server: flood limits, 429s, failures, once."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import defaultdict

import pytest
from sqlalchemy import func, select

from bot.core import ChatCore
from bot.outbox_sender import ChatOutboxSender
from bot.ratelimit import FloodLimiter
from bot.telegram_adapter import TelegramBot
from clauses.outbox import enqueue_chat
from storage.models import OutboxMessage, OutboxStatus, ServiceEvent, utcnow


@pytest.fixture
async def telegram(ctx, bot_api):
    bot = TelegramBot(ChatCore(ctx), bot_api.token, base_url=bot_api.bot_base_url,
                      base_file_url=bot_api.file_base_url, limiter=FloodLimiter(global_rate=30))
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


def _queue(ctx, messages: list[tuple[int, str]], markup=None) -> None:
    with ctx.db.session() as s:
        for n, (chat_id, text) in enumerate(messages):
            enqueue_chat(s, dedup_key=f"test:{n}", chat_id=chat_id, text=text, reply_markup=markup)


def _statuses(ctx) -> dict[OutboxStatus, int]:
    with ctx.db.session() as s:
        rows = s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
        return dict(rows.all())


def _watch_limiter(limiter: FloodLimiter) -> tuple[list[float], list[float]]:
    """Record, on the limiter's clock, when it admits a request and when it is told to pause."""
    admitted: list[float] = []
    paused: list[float] = []
    acquire, pause = limiter.acquire, limiter.pause

    async def watched_acquire(chat_id, *, bulk=False):
        slot = await acquire(chat_id, bulk=bulk)
        admitted.append(time.monotonic())
        return slot

    def watched_pause(seconds: float) -> None:
        paused.append(time.monotonic())
        pause(seconds)

    limiter.acquire = watched_acquire  # type: ignore[method-assign]
    limiter.pause = watched_pause  # type: ignore[method-assign]
    return admitted, paused


def _max_in_window(times: list[float], width: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_broadcast_respects_flood_limits_and_retries_after_429(ctx, bot_api, telegram):
    users = [bot_api.user(first_name=f"U{n}") for n in range(45)]
    messages = [(u.id, f"Rappel {k} pour {u.first_name}") for k in (1, 2) for u in users]
    _queue(ctx, messages)
    bot_api.flood_next(2, retry_after=1, methods=["sendMessage"])
    sender = ChatOutboxSender(ctx.db, telegram.transport)
    admitted, paused = _watch_limiter(telegram.limiter)

    report = await sender.drain()

    assert (report.sent, report.deferred, report.dead) == (90, 0, 0)
    assert _statuses(ctx) == {OutboxStatus.SENT: 90}
    calls = bot_api.calls("sendMessage")
    ok = [c for c in calls if c.ok]
    refused = [c for c in calls if not c.ok]
    assert len(refused) == 2 and all("Too Many Requests" in (c.error or "") for c in refused)
    assert telegram.limiter.flood_errors == 2
    # Each row delivered exactly once, in its chat.
    per_chat: dict[int, list] = defaultdict(list)
    for call in ok:
        per_chat[int(call.params["chat_id"])].append(call)
    assert {cid: sorted(c.params["text"] for c in cs) for cid, cs in per_chat.items()} == {
        u.id: [f"Rappel 1 pour {u.first_name}", f"Rappel 2 pour {u.first_name}"] for u in users}
    # Global limit: never more than 30 sends within a second (0.95 s absorbs network jitter).
    assert _max_in_window([c.at for c in calls], 0.95) <= 30
    # Per chat: one message per second.
    for chat_calls in per_chat.values():
        first, second = sorted(c.at for c in chat_calls)
        assert second - first >= 0.9
    # After "retry after 1", everybody waited: once the 429 was read, the limiter admitted no
    # request for a second. Judged on the client's own clock, so that requests already on the
    # wire (late to arrive on a loaded machine) are not mistaken for ones sent too early.
    assert len(paused) == 2
    for pause_at in paused:
        assert not [at for at in admitted if pause_at < at < pause_at + 0.99]
    assert max(c.at for c in ok) - min(c.at for c in calls) >= 2.0  # 90 messages at 30/s


async def test_each_row_sent_once_with_two_senders(ctx, bot_api, telegram):
    users = [bot_api.user() for _ in range(30)]
    _queue(ctx, [(u.id, "Alerte") for u in users])
    a = ChatOutboxSender(ctx.db, telegram.transport, batch_size=7)
    b = ChatOutboxSender(ctx.db, telegram.transport, batch_size=7)

    reports = await asyncio.gather(a.drain(), b.drain())

    assert sum(r.sent for r in reports) == 30
    assert len([c for c in bot_api.calls("sendMessage") if c.ok]) == 30
    assert sorted(int(c.params["chat_id"]) for c in bot_api.calls("sendMessage")) == sorted(
        u.id for u in users)
    assert await a.drain() == await b.drain()  # nothing left: both empty reports


async def test_buttons_blocked_users_and_network_failures(ctx, bot_api, telegram):
    ok_user, blocked, flaky = bot_api.user(), bot_api.user(), bot_api.user()
    bot_api.block(blocked)
    markup = {"inline_keyboard": [[{"text": "✅ Valider", "callback_data": "cand:ok:7"}]]}
    _queue(ctx, [(ok_user.id, "Candidature à valider")], markup)
    with ctx.db.session() as s:
        enqueue_chat(s, dedup_key="blocked", chat_id=blocked.id, text="Rappel")
    sender = ChatOutboxSender(ctx.db, telegram.transport, concurrency=1)
    report = await sender.drain()
    assert (report.sent, report.dead) == (1, 1)
    (delivered,) = bot_api.sent_messages(ok_user)
    assert delivered.callback_data() == ["cand:ok:7"]
    with ctx.db.session() as s:
        dead = s.scalar(select(OutboxMessage).where(OutboxMessage.to_chat_id == blocked.id))
        assert dead.status == OutboxStatus.DEAD and "blocked" in dead.last_error
        assert s.scalar(select(ServiceEvent.message).where(ServiceEvent.component == "chat"))

    # A server error defers the row (with a backoff), then it goes out.
    with ctx.db.session() as s:
        enqueue_chat(s, dedup_key="flaky", chat_id=flaky.id, text="Relance")
    bot_api.fail_next(1, error_code=500, description="Internal Server Error", methods=["sendMessage"])
    assert (await sender.drain()).deferred == 1
    with ctx.db.session() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == "flaky"))
        assert row.status == OutboxStatus.PENDING and row.attempts == 1
        assert row.next_attempt_at > utcnow() + dt.timedelta(seconds=20)
    later = ChatOutboxSender(ctx.db, telegram.transport,
                             now=lambda: utcnow() + dt.timedelta(minutes=1))
    assert (await later.drain()).sent == 1
    assert [m.text for m in bot_api.sent_messages(flaky)] == ["Relance"]


async def test_lost_lease_is_sent_again_and_attempts_are_capped(ctx, bot_api, telegram):
    user = bot_api.user()
    _queue(ctx, [(user.id, "Bonjour")])
    sender = ChatOutboxSender(ctx.db, telegram.transport, max_attempts=2)
    claimed = sender.claim()  # a sender that died right after claiming
    assert len(claimed) == 1 and sender.claim() == []
    assert (await sender.drain()).sent == 0  # its lease still holds
    after_lease = ChatOutboxSender(ctx.db, telegram.transport, max_attempts=2,
                                   now=lambda: utcnow() + dt.timedelta(minutes=6))
    assert (await after_lease.drain()).sent == 1

    other = bot_api.user()
    with ctx.db.session() as s:
        enqueue_chat(s, dedup_key="x", chat_id=other.id, text="Encore")
    bot_api.fail_next(5, error_code=502, description="Bad Gateway", methods=["sendMessage"])
    far = [0]

    def clock() -> dt.datetime:
        far[0] += 1
        return utcnow() + dt.timedelta(hours=far[0])

    patient = ChatOutboxSender(ctx.db, telegram.transport, max_attempts=2, now=clock)
    await patient.drain()
    await patient.drain()
    with ctx.db.session() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == "x"))
        assert row.status == OutboxStatus.DEAD and row.attempts == 2


async def test_service_starts_and_stops_cleanly_while_telegram_is_unreachable(ctx):
    from types import SimpleNamespace

    from bot.service import ChatService
    from tests.servers._util import free_port

    port = free_port()
    settings = SimpleNamespace(telegram_token="123:unreachable",
                               telegram_base_url=f"http://127.0.0.1:{port}/bot",
                               telegram_base_file_url=f"http://127.0.0.1:{port}/file/bot")
    service = ChatService(ctx, settings)
    await service.start()
    await asyncio.sleep(0.3)
    assert service.backend == "telegram" and not service.telegram.connected
    await asyncio.wait_for(service.stop(), timeout=10)
