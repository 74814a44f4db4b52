"""Concurrent handling of chat updates: different users at once, one user's in order.

Why: with Telegram ~50 ms away, an adapter that awaits each update before the next caps the
whole service at about 17 updates/s, and one slow command (a big /bilan) stalls every
conversation. Here each user has a queue worked by one task (their updates stay in order, and
the core's per-user database lock keeps them serialised across processes too), and a semaphore
bounds how many users are served at once.

Telegram's offset confirms every update below it, so the offset handed back may only move past
an update once it and all before it are handled and committed (:attr:`offset`, the low-water
mark): a crash still loses nothing. Updates fetched again because they are above the mark are
recognised (:meth:`seen`) and not handled twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 64
"""Updates in flight at once. Most of an update's time is waiting on Telegram (~50 ms a call,
one to three calls), not working: measured with 40 users at 50 ms, 16 slots capped the service
below what the HTTP side could carry. The database work is bounded separately (:data:`DB_THREADS`)."""

DB_THREADS = 16
"""Threads for the updates' database work on PostgreSQL (at most this many transactions at
once, well inside the pool of 10 + 20 connections)."""


def db_threads(dialect: str, concurrency: int) -> int:
    """How many threads run the updates' transactions.

    SQLite: one. Every update's transaction writes (the update claim) and SQLite has one write
    lock; with several threads the losers wait in SQLite's busy handler, which sleeps 1, 2, 5...
    up to 100 ms between tries instead of waking when the lock is free. Measured with 40 users
    at 50 ms latency: ``ChatCore.handle`` took 133 ms of wall time for 3 ms of CPU with 16
    threads. One thread runs the same transactions back to back, without the sleeps."""
    return 1 if dialect == "sqlite" else max(1, min(concurrency, DB_THREADS))


def update_key(update: Any) -> int:
    """Whose update it is: the sender (or the chat); 0 for anything else (handled in order)."""
    user = getattr(update, "effective_user", None)
    if user is not None:
        return int(user.id)
    chat = getattr(update, "effective_chat", None)
    return int(chat.id) if chat is not None else 0


class UpdateDispatcher:
    """Per-user FIFO queues, at most ``concurrency`` updates in flight, a safe offset."""

    def __init__(self, handle: Callable[[Any], Awaitable[None]], *,
                 concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self._handle = handle
        self._slots = asyncio.Semaphore(concurrency)
        self._queues: dict[int, deque[Any]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._pending: set[int] = set()
        """Update ids queued or being handled, not yet settled (:meth:`settle`)."""
        self._done: set[int] = set()
        """Settled or handled ids above the low-water mark (Telegram may hand them over
        again)."""
        self._next = 0
        """One past the highest update id ever submitted."""
        self._progress = asyncio.Event()

    @property
    def offset(self) -> int | None:
        """The getUpdates offset that confirms only what is settled or handled (None: nothing
        seen yet)."""
        if self._pending:
            return min(self._pending)
        return self._next or None

    @property
    def busy(self) -> bool:
        """Updates not yet settled (the next getUpdates would hand them back)."""
        return bool(self._pending)

    @property
    def handling(self) -> bool:
        """Updates still queued or being handled, settled ones whose replies are on their way
        included."""
        return bool(self._workers)

    def resume_at(self, offset: int) -> None:
        """Continue after an earlier run confirmed everything below ``offset``."""
        self._next = max(self._next, offset)

    def seen(self, update_id: int) -> bool:
        """Queued, in flight, or handled already (a re-delivery above the low-water mark)."""
        low = self.offset or 0
        return update_id < low or update_id in self._pending or update_id in self._done

    def submit(self, update: Any) -> bool:
        """Queue an update behind its user's earlier ones; False when it was seen already."""
        update_id = int(update.update_id)
        if self.seen(update_id):
            return False
        self._pending.add(update_id)
        self._next = max(self._next, update_id + 1)
        key = update_key(update)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            self._workers[key] = asyncio.create_task(self._work(key, queue),
                                                     name=f"chat-user-{key}")
        queue.append(update)
        return True

    async def _work(self, key: int, queue: deque[Any]) -> None:
        """Handle one user's updates in arrival order, each inside a concurrency slot."""
        while queue:
            update = queue[0]
            try:
                async with self._slots:
                    await self._handle(update)
            except Exception:  # the handler logs its own; a failure must not stop the queue
                log.exception("chat update %s failed", getattr(update, "update_id", "?"))
            finally:
                queue.popleft()
                self._finished(int(update.update_id))
        # no await between the emptiness check and removal: submit() cannot slip in between
        del self._queues[key]
        del self._workers[key]

    def settle(self, update_id: int) -> None:
        """The handler committed the update and journaled its replies: Telegram may forget it
        now, while its replies are still being sent (the user's next update still waits for
        the handler to finish).

        Why: confirming only at the end put the replies' delivery and its bookkeeping on the
        path of the next getUpdates — one more Bot API round trip (~50 ms) plus a write after
        every reply before a batch could be confirmed. A settled update is never handled
        again: it is below the offset or remembered as done."""
        if update_id in self._pending:
            self._finished(update_id)

    def _finished(self, update_id: int) -> None:
        self._pending.discard(update_id)
        self._done.add(update_id)
        low = self.offset or 0
        self._done = {i for i in self._done if i >= low}
        self._progress.set()

    async def wait_idle(self, stop: asyncio.Event, timeout: float) -> None:
        """Return when nothing unsettled is in flight any more, ``stop`` is set, or ``timeout``
        passed.

        Why not at each finished update: every getUpdates while updates are in flight hands
        them all back (they are not confirmed), and parsing them again at each completion
        would cost more than the updates themselves; new updates wait at most ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._pending and not stop.is_set():
            left = deadline - loop.time()
            if left <= 0:
                return
            self._progress.clear()
            waiter = asyncio.ensure_future(self._progress.wait())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({waiter, stopper}, timeout=left,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                stopper.cancel()

    async def drain(self) -> None:
        """Wait for every queued update to be handled (graceful stop)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)
