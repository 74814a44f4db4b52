"""The chat delivery step of the outbox runner (:mod:`clauses.outbox_runner`).

Every chat message the domain wants to send (alerts with their buttons, reminders, decisions)
was written as an `outbox` row in the transaction that caused it. The runner owns the queue
discipline, shared with e-mail: *claim* due rows (`channel=chat`) in one short transaction
(PostgreSQL skips rows another sender has locked, `FOR UPDATE SKIP LOCKED`; SQLite
serialises writers) with a short lease renewed while this process lives; *mark* each result
at once, only if the row is still ours (same attempt number): `sent` with the message id, back
to `pending` after a backoff on a temporary failure, `dead` after `max_attempts` or on a
permanent refusal (blocked bot), recorded as a service event.

This module is only the delivery: concurrently, through the transport; with Telegram the
bot's :class:`bot.ratelimit.FloodLimiter` paces them (30/s overall, 1/s per chat) and retries
429s. A crash between a send and its mark sends that message again once the lease runs out
(seconds, not minutes): Telegram offers no idempotency key, so this is the one case of a
possible duplicate, chosen over a possible loss.

Outbox timing uses the wall clock (`utcnow`), not the domain clock: it is operational
scheduling, and a simulated date in tests must not delay real deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from bot.flows.escalation import encode_markup
from bot.transport import ChatTransport, SendDeferred, SendRefused
from clauses.outbox_runner import DEFAULT_LEASE, OutboxRunner
from storage.db import Database
from storage.models import OutboxChannel, OutboxMessage, ServiceEvent, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    id: int
    chat_id: int | None
    text: str
    reply_markup: dict[str, Any] | None
    attempts: int


@dataclass
class DrainReport:
    sent: int = 0
    deferred: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DrainReport) -> None:
        self.sent += other.sent
        self.deferred += other.deferred
        self.dead += other.dead
        self.errors += other.errors


def _dead_letter(session: Session, row: OutboxMessage, reason: str) -> None:
    """Dead-letter hook: a service event (the person is unreachable by chat)."""
    session.add(ServiceEvent(component="chat", level="error",
                             message=f"Message de chat n° {row.id} abandonné : {reason}",
                             detail={"outbox_id": row.id}))


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 2 min, 4.5 min... capped at one hour."""
    return dt.timedelta(seconds=min(3600, 30 * attempts * attempts))


class ChatOutboxSender:
    def __init__(
        self,
        db: Database,
        transport: ChatTransport,
        *,
        chat_filter: ColumnElement[bool] | None = None,
        max_attempts: int = 8,
        batch_size: int = 200,
        concurrency: int = 60,
        lease: dt.timedelta = DEFAULT_LEASE,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.db = db
        self.transport = transport
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.wakeup = asyncio.Event()
        """Set it to send at once (e.g. after the bot queued a reply fallback)."""
        self.runner = OutboxRunner(db, OutboxChannel.CHAT, lease=lease, max_attempts=max_attempts,
                                   backoff=backoff, row_filter=chat_filter, on_dead=_dead_letter,
                                   now=now)

    # -- database steps (synchronous, run in a worker thread) ---------------------------------
    def claim(self) -> list[Claimed]:
        return self.runner.claim(None, lambda _, row: Claimed(
            row.id, row.to_chat_id, row.body_text, encode_markup(row.reply_markup), row.attempts), limit=self.batch_size)

    # -- sending ------------------------------------------------------------------------------
    async def _send_one(self, item: Claimed, gate: asyncio.Semaphore) -> DrainReport:
        report = DrainReport()
        async with gate:
            try:
                if item.chat_id is None:
                    raise SendRefused("aucun chat destinataire")
                message_id = await self.transport.send(item.chat_id, item.text, item.reply_markup)
            except SendRefused as refused:
                await asyncio.to_thread(self.runner.dead, item.id, item.attempts, refused.reason)
                report.dead += 1
                report.errors.append(refused.reason)
                return report
            except (SendDeferred, OSError, TimeoutError) as deferred:
                reason = getattr(deferred, "reason", None) or repr(deferred)
                delay = getattr(deferred, "retry_after", None)
                wait = dt.timedelta(seconds=delay) if delay else None
                if await asyncio.to_thread(self.runner.retry, item.id, item.attempts,
                                           f"{reason} ({item.attempts} essais)", delay=wait):
                    report.dead += 1
                else:
                    report.deferred += 1
                report.errors.append(reason)
                return report
            except Exception as exc:  # a bug must not stop the other sends
                log.exception("outbox chat row %s failed", item.id)
                if await asyncio.to_thread(self.runner.retry, item.id, item.attempts, repr(exc)):
                    report.dead += 1
                else:
                    report.deferred += 1
                report.errors.append(repr(exc))
                return report
            # Its own commit, right after Telegram's acceptance.
            await asyncio.to_thread(self.runner.sent, item.id, item.attempts,
                                    message_id=str(message_id)[:250])
            report.sent += 1
            return report

    async def drain_once(self) -> DrainReport:
        claimed = await asyncio.to_thread(self.claim)
        report = DrainReport()
        if not claimed:
            return report
        gate = asyncio.Semaphore(self.concurrency)
        for part in await asyncio.gather(*(self._send_one(c, gate) for c in claimed)):
            report.add(part)
        return report

    async def drain(self) -> DrainReport:
        """Send everything due now (several batches if needed)."""
        total = DrainReport()
        while True:
            report = await self.drain_once()
            total.add(report)
            if report.sent + report.deferred + report.dead < self.batch_size:
                return total

    async def run(self, stop: asyncio.Event, interval: float = 2.0) -> None:
        """Drain, then sleep `interval` seconds (or until woken), until `stop` is set; the
        runner's lease keeper renews the rows in flight meanwhile."""
        self.runner.start_keeper()
        try:
            await self._loop(stop, interval)
        finally:
            self.runner.stop_keeper()

    async def _loop(self, stop: asyncio.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                await self.drain()
            except Exception:
                log.exception("chat outbox drain failed")
            self.wakeup.clear()
            stop_wait = asyncio.ensure_future(stop.wait())
            wake_wait = asyncio.ensure_future(self.wakeup.wait())
            await asyncio.wait({stop_wait, wake_wait}, timeout=interval,
                                            return_when=asyncio.FIRST_COMPLETED)
            for task in (stop_wait, wake_wait):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
