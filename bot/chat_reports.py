"""The worker that prepares the chat reports recorded by :mod:`clauses.chat_reports`.

It runs beside the chat sender in the chat service: claims the requests (a lease renewed by a
keeper thread while this process lives, backoff, a last attempt), computes the figures in a
read-only session and renders the chat text in a worker thread — never on an update's path —
then hands the text over to the chat sender and wakes it. One report at a time by default: the
machine's cores are better spent on the conversations than on two big bilans at once.

A report that cannot be established (the donneur was deleted meanwhile) or fails at every
attempt is given up, and the person is told so in the chat instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable

from clauses import chat_reports
from clauses.bilan import BilanError
from clauses.chat_reports import FAILED_TEXT
from clauses.context import Context
from clauses.outbox_runner import DEFAULT_LEASE, exponential
from storage.models import ChatReportRequest

log = logging.getLogger(__name__)

__all__ = ["FAILED_TEXT", "ChatReportWorker"]


class ChatReportWorker:
    """Claim, compute, hand over; see the module docstring."""

    def __init__(self, ctx: Context, *, wake: Callable[[], None] | None = None,
                 lease: dt.timedelta = DEFAULT_LEASE, max_attempts: int = 3) -> None:
        self.ctx = ctx
        self.wake = wake
        self.lease = lease
        self.max_attempts = max_attempts
        self.backoff = exponential(10, 600)
        self._held: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop_keeper = threading.Event()
        self._keeper: threading.Thread | None = None

    def claim(self) -> tuple[int, int] | None:
        """The next request (request id, attempt), claimed; None when there is none."""
        with self.ctx.db.session() as s:
            claimed = chat_reports.claim_next(s, self.lease)
        if claimed is not None:
            with self._lock:
                self._held[claimed[0]] = claimed[1]
        return claimed

    def _release(self, request_id: int) -> None:
        with self._lock:
            self._held.pop(request_id, None)

    def render(self, request_id: int) -> tuple[int, str] | None:
        """(chat, text) of the request, computed in a read-only session; None if it is gone."""
        from reports import render_chat
        from reports.queued import ReportPreparer, ReportSpec

        with self.ctx.db.read_session() as s:
            request = s.get(ChatReportRequest, request_id)
            if request is None:
                return None
            chat_id = request.chat_id
            spec = ReportSpec.from_json(request.scope)
            figures = ReportPreparer(self.ctx).figures(s, spec)
        text = render_chat(figures, spec.audience,
                           small_cell_threshold=self.ctx.policy.small_cell_threshold)
        return chat_id, text

    def prepare_one(self) -> str:
        """Claim and prepare one request: "none" (nothing due), "handed" (ready for the chat
        sender) or "done" (retried, given up or gone). Blocking (a worker thread)."""
        claimed = self.claim()
        if claimed is None:
            return "none"
        request_id, attempts = claimed
        try:
            rendered = self.render(request_id)
        except (BilanError, ValueError) as exc:  # no retry will bring a deleted donneur back
            reason = exc.message_fr if isinstance(exc, BilanError) else str(exc)
            self._release(request_id)
            with self.ctx.db.session() as s:
                chat_reports.fail(s, request_id, attempts, f"bilan impossible à établir : {reason}")
            return "done"
        except Exception as exc:
            log.exception("chat report %s failed", request_id)
            self._release(request_id)
            with self.ctx.db.session() as s:
                chat_reports.retry(s, request_id, attempts,
                                   f"préparation du bilan impossible : {exc!r}",
                                   max_attempts=self.max_attempts, backoff=self.backoff)
            return "done"
        self._release(request_id)
        if rendered is None:
            return "done"
        with self.ctx.db.session() as s:
            handed = chat_reports.hand_over(s, request_id, attempts, rendered[0], rendered[1])
        if not handed:
            log.warning("chat report %s was taken over while it was computed; result dropped",
                        request_id)
            return "done"
        return "handed"

    # -- the lease keeper ---------------------------------------------------------------------
    def renew(self) -> int:
        """Extend the leases of the requests this worker is preparing; how many."""
        with self._lock:
            held = dict(self._held)
        if not held:
            return 0
        with self.ctx.db.session() as s:
            return chat_reports.renew(s, held, self.lease)

    def start_keeper(self) -> None:
        """Renew our leases every third of the lease (a thread: a long computation may hold
        the GIL-bound event loop, not this), until :meth:`stop_keeper`."""
        if self._keeper is not None and self._keeper.is_alive():
            return
        self._stop_keeper.clear()
        interval = max(self.lease.total_seconds() / 3, 0.05)

        def keep() -> None:
            while not self._stop_keeper.wait(interval):
                try:
                    self.renew()
                except Exception:
                    log.exception("chat reports: lease renewal failed")

        self._keeper = threading.Thread(target=keep, name="chat-report-lease", daemon=True)
        self._keeper.start()

    def stop_keeper(self) -> None:
        self._stop_keeper.set()
        if self._keeper is not None:
            self._keeper.join(timeout=5)
            self._keeper = None

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Prepare what is due, then look again every ``interval`` seconds, until ``stop``."""
        self.start_keeper()
        try:
            while not stop.is_set():
                try:
                    while not stop.is_set():
                        outcome = await asyncio.to_thread(self.prepare_one)
                        if outcome == "none":
                            break
                        if outcome == "handed" and self.wake is not None:
                            self.wake()  # on the loop's thread: the sender's event is asyncio's
                except Exception:
                    log.exception("chat report worker failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
        finally:
            self.stop_keeper()
