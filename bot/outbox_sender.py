"""The chat side of the outbox: claim pending chat rows, send them, mark them sent.

Every chat message the domain wants to send (alerts with their buttons, reminders, decisions)
was written as an `outbox` row in the transaction that caused it. This sender delivers them:

1. *claim* — in one short transaction, due rows (`channel=chat`, `status=pending`,
   `next_attempt_at <= now`) move to `sending` with a lease (`next_attempt_at = now + lease`);
   PostgreSQL skips rows another sender has locked (`FOR UPDATE SKIP LOCKED`), SQLite
   serialises writers. A row is therefore handed to exactly one send;
2. *send* — concurrently, through the transport; with Telegram the bot's
   :class:`bot.ratelimit.FloodLimiter` paces them (30/s overall, 1/s per chat) and retries 429s;
3. *mark* — each result at once, only if the row is still ours (`status=sending`): `sent`
   with the message id; back to `pending` with a delay on a temporary failure; `dead` after
   `max_attempts` or on a permanent refusal (blocked bot), recorded as a service event.

A crash between a send and its mark leaves the row `sending`; when its lease expires it is
sent again. Telegram offers no idempotency key, so this is the one case of a possible
duplicate, chosen over a possible loss; the window is a few milliseconds per message.

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

from sqlalchemy import select, update
from sqlalchemy.sql import ColumnElement

from bot.flows.escalation import encode_markup
from bot.transport import ChatTransport, SendDeferred, SendRefused
from storage.db import Database
from storage.models import OutboxChannel, OutboxMessage, OutboxStatus, ServiceEvent, utcnow

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
        lease: dt.timedelta = dt.timedelta(minutes=5),
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.db = db
        self.transport = transport
        self.chat_filter = chat_filter
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.lease = lease
        self.now = now
        self.wakeup = asyncio.Event()
        """Set it to send at once (e.g. after the bot queued a reply fallback)."""

    # -- database steps (synchronous, run in a worker thread) ---------------------------------
    def claim(self) -> list[Claimed]:
        with self.db.session() as s:
            now = self.now()
            base = [OutboxMessage.channel == OutboxChannel.CHAT]
            if self.chat_filter is not None:
                base.append(self.chat_filter)
            # Leases that expired: the sender that held them died mid-send.
            s.execute(
                update(OutboxMessage)
                .where(*base, OutboxMessage.status == OutboxStatus.SENDING,
                       OutboxMessage.next_attempt_at <= now)
                .values(status=OutboxStatus.PENDING)
                .execution_options(synchronize_session=False)
            )
            rows = list(s.scalars(
                select(OutboxMessage)
                .where(*base, OutboxMessage.status == OutboxStatus.PENDING,
                       OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ))
            claimed = []
            for row in rows:
                row.status = OutboxStatus.SENDING
                row.attempts += 1
                row.next_attempt_at = now + self.lease
                claimed.append(Claimed(row.id, row.to_chat_id, row.body_text,
                                       encode_markup(row.reply_markup), row.attempts))
            return claimed

    def _mark(self, row_id: int, **values: Any) -> bool:
        with self.db.session() as s:
            result = s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.status == OutboxStatus.SENDING)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if values.get("status") == OutboxStatus.DEAD and result.rowcount:
                s.add(ServiceEvent(component="chat", level="error",
                                   message=f"Message de chat n° {row_id} abandonné : "
                                           f"{values.get('last_error')}",
                                   detail={"outbox_id": row_id}))
            return bool(result.rowcount)

    # -- sending ------------------------------------------------------------------------------
    async def _send_one(self, item: Claimed, gate: asyncio.Semaphore) -> DrainReport:
        report = DrainReport()
        async with gate:
            try:
                if item.chat_id is None:
                    raise SendRefused("aucun chat destinataire")
                message_id = await self.transport.send(item.chat_id, item.text, item.reply_markup)
            except SendRefused as refused:
                await asyncio.to_thread(self._mark, item.id, status=OutboxStatus.DEAD,
                                        last_error=refused.reason[:1000])
                report.dead += 1
                report.errors.append(refused.reason)
                return report
            except (SendDeferred, OSError, TimeoutError) as deferred:
                reason = getattr(deferred, "reason", None) or repr(deferred)
                delay = getattr(deferred, "retry_after", None)
                if item.attempts >= self.max_attempts:
                    await asyncio.to_thread(self._mark, item.id, status=OutboxStatus.DEAD,
                                            last_error=f"{reason} ({item.attempts} essais)"[:1000])
                    report.dead += 1
                else:
                    wait = dt.timedelta(seconds=delay) if delay else backoff(item.attempts)
                    await asyncio.to_thread(self._mark, item.id, status=OutboxStatus.PENDING,
                                            next_attempt_at=self.now() + wait,
                                            last_error=reason[:1000])
                    report.deferred += 1
                report.errors.append(reason)
                return report
            except Exception as exc:  # a bug must not stop the other sends
                log.exception("outbox chat row %s failed", item.id)
                await asyncio.to_thread(self._mark, item.id, status=OutboxStatus.PENDING,
                                        next_attempt_at=self.now() + backoff(item.attempts),
                                        last_error=repr(exc)[:1000])
                report.deferred += 1
                report.errors.append(repr(exc))
                return report
            await asyncio.to_thread(self._mark, item.id, status=OutboxStatus.SENT,
                                    sent_at=self.now(), message_id=str(message_id)[:250],
                                    last_error=None)
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
        """Drain, then sleep `interval` seconds (or until woken), until `stop` is set."""
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
