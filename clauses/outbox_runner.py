"""The one outbox runner: claim, lease, backoff and dead letter, for every channel.

`clauses.outbox` queues rows in the transaction that causes them; this module hands each due
row to exactly one delivery, in the spirit of Mailman 3's ``core/runner.py``: the runner owns
the queue discipline, each channel supplies only its *delivery step* (SMTP or Maildir for
e-mail in :mod:`mail.outbox_sender`, Telegram or the console in :mod:`bot.outbox_sender`).

Life of a row: ``pending`` (due at ``next_attempt_at``) → *claimed*: ``sending``, ``attempts``
+ 1, ``next_attempt_at`` = now + lease → ``sent`` in its own commit right after the server
accepted it; or back to ``pending`` after a backoff; or ``dead`` (permanent refusal, or
``max_attempts``) with the channel's dead-letter hook (an alert, a service event).

Why a short lease renewed while alive, instead of a long one: a crashed sender's rows must be
retried within seconds (a lease of 10 minutes made every mail caught by a crash wait 10
minutes), while a live sender slow on one big message must never see its rows taken. A
keeper thread (not the event loop, which a long synchronous step could block) extends the
leases of the rows held every third of the lease; when the process dies, the renewals stop and
the rows are due again one lease later.

Why ``attempts`` is the fencing token: every claim increments it, so a mark (``sent``,
``pending``, ``dead``) applies only if the row is still ``sending`` *with the attempt number of
this claim*. A sender that lost its lease (it stalled longer than the lease) can neither
mark sent a row another sender is delivering, nor put it back.

At most one duplicate per crash: rows are claimed one at a time (e-mail) or per small batch
(chat), marked one by one right after the acceptance; a crash between the server's acceptance
and the commit sends that one row again, with the same Message-ID (see
:func:`mail.outbox_sender.stable_message_id`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from storage.db import Database, rowcount
from storage.models import OutboxChannel, OutboxMessage, OutboxStatus, utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_LEASE = dt.timedelta(seconds=15)
"""A crashed sender's rows are due again this long after its last renewal (plus one poll)."""


@dataclass(eq=False)
class OutboxRunner:
    """Queue discipline for one channel's rows; thread-safe (database calls are blocking)."""

    db: Database
    channel: OutboxChannel
    _: KW_ONLY
    backoff: Callable[[int], dt.timedelta]
    lease: dt.timedelta = DEFAULT_LEASE
    max_attempts: int = 8
    row_filter: ColumnElement[bool] | None = None
    on_dead: Callable[[Session, OutboxMessage, str], None] | None = None
    now: Callable[[], dt.datetime] = utcnow
    _held: dict[int, int] = field(default_factory=dict, init=False, repr=False)
    """row id -> attempt number of our claim, while we hold it (renewed by the keeper)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _keeper: threading.Thread | None = field(default=None, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    # -- selection ---------------------------------------------------------------------------
    def _base(self) -> list[ColumnElement[bool]]:
        where = [OutboxMessage.channel == self.channel]
        if self.row_filter is not None:
            where.append(self.row_filter)
        return where

    def _due(self, now: dt.datetime) -> ColumnElement[bool]:
        """Pending and due, or sending with an expired lease (its sender died)."""
        return (OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])
                & (OutboxMessage.next_attempt_at <= now))

    def due_ids(self, limit: int) -> list[int]:
        """The first `limit` due rows: a person's answer (priority 0) before any bulk row, then
        oldest first."""
        with self.db.session() as s:
            return list(s.scalars(
                select(OutboxMessage.id).where(*self._base(), self._due(self.now()))
                .order_by(OutboxMessage.priority, OutboxMessage.id).limit(limit)))

    # -- claiming ------------------------------------------------------------------------------
    def claim(self, ids: Iterable[int] | None, build: Callable[[Session, OutboxMessage], T],
              *, limit: int = 200) -> list[T]:
        """Claim the due rows among `ids` (or the first `limit` due rows) in one transaction;
        `build` turns each claimed row into what the delivery step needs (same transaction,
        so it may also stamp the row, e.g. its Message-ID)."""
        now = self.now()
        with self.db.session() as s:
            q = (select(OutboxMessage).where(*self._base(), self._due(now))
                 .order_by(OutboxMessage.priority, OutboxMessage.id))
            q = q.where(OutboxMessage.id.in_(list(ids))) if ids is not None else q.limit(limit)
            rows = list(s.scalars(q.with_for_update(skip_locked=True)))
            out: list[T] = []
            for row in rows:
                row.status = OutboxStatus.SENDING
                row.attempts += 1
                row.next_attempt_at = now + self.lease
                out.append(build(s, row))
            s.flush()
            claimed = {row.id: row.attempts for row in rows}
        with self._lock:
            self._held.update(claimed)
        return out

    def claim_one(self, row_id: int, build: Callable[[Session, OutboxMessage], T]) -> T | None:
        """Claim one row with a conditional UPDATE (nobody else can hold it afterwards)."""
        now = self.now()
        with self.db.session() as s:
            result = s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, *self._base(), self._due(now))
                .values(status=OutboxStatus.SENDING, attempts=OutboxMessage.attempts + 1,
                        next_attempt_at=now + self.lease)
                .execution_options(synchronize_session=False))
            if rowcount(result) != 1:
                return None
            row = s.get(OutboxMessage, row_id, populate_existing=True)
            assert row is not None
            built = build(s, row)
            attempts = row.attempts
        with self._lock:
            self._held[row_id] = attempts
        return built

    # -- marking ---------------------------------------------------------------------------
    def _update_ours(self, s: Session, row_id: int, attempts: int, **values: Any) -> bool:
        """Stop renewing the row and apply `values` if it is still ours (sending, this attempt):
        a sender whose lease ran out must not overwrite what another sender did since."""
        self.release(row_id)
        result = s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.status == OutboxStatus.SENDING,
                   OutboxMessage.attempts == attempts)
            .values(**values).execution_options(synchronize_session=False))
        return rowcount(result) == 1

    def _mark(self, row_id: int, attempts: int, **values: Any) -> OutboxMessage | None:
        """Apply `values` if the row is still ours; its own commit. None when it is not."""
        with self.db.session() as s:
            if not self._update_ours(s, row_id, attempts, **values):
                log.warning("outbox %s: no longer ours (attempt %s), left as it is", row_id, attempts)
                return None
            return s.get(OutboxMessage, row_id)

    def sent(self, row_id: int, attempts: int, **values: Any) -> bool:
        """Mark sent, right after the server's acceptance (its own commit)."""
        return self._mark(row_id, attempts, status=OutboxStatus.SENT, sent_at=self.now(),
                          last_error=None, **values) is not None

    def retry(self, row_id: int, attempts: int, error: str, *,
              delay: dt.timedelta | None = None, count: bool = True) -> bool:
        """Back to pending after a backoff (or `delay`); dead after the last attempt.
        True when the row died. `count=False` (connection lost before anything was sent)
        gives the attempt back, so an outage never kills a row."""
        if count and attempts >= self.max_attempts:
            self.dead(row_id, attempts, f"{attempts} tentatives sans succès ; dernière erreur : {error[:300]}",
                      last_error=error)
            return True
        values: dict[str, Any] = {
            "status": OutboxStatus.PENDING, "last_error": error[:1000],
            "next_attempt_at": self.now() + (delay if delay is not None else self.backoff(attempts)),
        }
        if not count:
            values["attempts"] = OutboxMessage.attempts - 1
        self._mark(row_id, attempts, **values)
        return False

    def dead(self, row_id: int, attempts: int, reason: str, *, last_error: str | None = None) -> None:
        """Dead letter: never retried; the channel's hook tells a person."""
        with self.db.session() as s:
            dead = self._update_ours(s, row_id, attempts, status=OutboxStatus.DEAD,
                                     last_error=(last_error or reason)[:1000])
            if dead and self.on_dead is not None:
                row = s.get(OutboxMessage, row_id)
                assert row is not None
                self.on_dead(s, row, reason[:300])

    def release(self, row_id: int) -> None:
        """Stop renewing a row's lease without marking it (it will be retried after the lease)."""
        with self._lock:
            self._held.pop(row_id, None)

    # -- the lease keeper ---------------------------------------------------------------------
    def renew(self) -> int:
        """Extend the leases of the rows we hold; the number renewed."""
        with self._lock:
            held = dict(self._held)
        if not held:
            return 0
        renewed = 0
        with self.db.session() as s:
            until = self.now() + self.lease
            for row_id, attempts in held.items():
                result = s.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row_id, OutboxMessage.status == OutboxStatus.SENDING,
                           OutboxMessage.attempts == attempts)
                    .values(next_attempt_at=until).execution_options(synchronize_session=False))
                renewed += rowcount(result)
        return renewed

    def start_keeper(self) -> None:
        """Renew our leases every third of the lease, in a daemon thread, until `stop_keeper`."""
        if self._keeper is not None and self._keeper.is_alive():
            return
        self._stop.clear()
        interval = max(self.lease.total_seconds() / 3, 0.05)

        def keep() -> None:
            while not self._stop.wait(interval):
                try:
                    self.renew()
                except Exception:
                    log.exception("outbox: lease renewal failed")

        self._keeper = threading.Thread(target=keep, name=f"outbox-lease-{self.channel.value}", daemon=True)
        self._keeper.start()

    def stop_keeper(self) -> None:
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=5)
            self._keeper = None


def exponential(base_seconds: float, max_seconds: float, *, jitter: float = 0.0
                ) -> Callable[[int], dt.timedelta]:
    """base, 2·base, 4·base… capped; with a random extra of up to `jitter` (a fraction)."""
    import random

    def delay(attempts: int) -> dt.timedelta:
        seconds = min(base_seconds * 2 ** max(attempts - 1, 0), max_seconds)
        return dt.timedelta(seconds=seconds * (1 + random.random() * jitter))

    return delay


__all__ = ["DEFAULT_LEASE", "OutboxRunner", "exponential"]
