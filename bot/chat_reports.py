"""The worker that prepares the chat reports recorded by :mod:`clauses.chat_reports`.

It runs beside the chat sender in the chat service: claims the requests (outbox discipline:
lease renewed while this process lives, backoff, dead letter), computes the figures in a
read-only session and renders the chat text in a worker thread — never on an update's path —
then hands the row over to the chat sender and wakes it. One report at a time by default: the
machine's cores are better spent on the conversations than on two big bilans at once.

A report that cannot be established (the donneur was deleted meanwhile) or fails at every
attempt is dead-lettered, and the person is told so in the chat instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from clauses import chat_reports
from clauses.bilan import BilanError
from clauses.context import Context
from clauses.outbox import enqueue_chat
from clauses.outbox_runner import DEFAULT_LEASE, OutboxRunner, exponential
from storage.models import OutboxChannel, OutboxMessage, ServiceEvent

log = logging.getLogger(__name__)

FAILED_TEXT = ("Désolé, le bilan demandé n'a pas pu être préparé ({reason}). Réessayez plus "
               "tard ou demandez-le à l'équipe clauses.")


def _tell_failure(session: Session, row: OutboxMessage, reason: str) -> None:
    """Dead-letter hook: the person learns their bilan will not come, and the team sees why."""
    request = chat_reports.pending_request(row)
    if request is not None:
        enqueue_chat(session, dedup_key=f"{row.dedup_key}:echec", chat_id=request[1],
                     user_id=row.to_user_id, text=FAILED_TEXT.format(reason=reason[:200]))
    session.add(ServiceEvent(component="chat", level="error",
                             message=f"Bilan de chat n° {row.id} abandonné : {reason}",
                             detail={"outbox_id": row.id}))


class ChatReportWorker:
    """Claim, compute, hand over; see the module docstring."""

    def __init__(self, ctx: Context, *, wake: Callable[[], None] | None = None,
                 lease: dt.timedelta = DEFAULT_LEASE, max_attempts: int = 3) -> None:
        self.ctx = ctx
        self.wake = wake
        self.runner = OutboxRunner(
            ctx.db, OutboxChannel.CHAT, lease=lease, max_attempts=max_attempts,
            backoff=exponential(10, 600), row_filter=chat_reports.awaiting_preparation(),
            on_dead=_tell_failure)

    def claim(self) -> tuple[int, int] | None:
        """The next request (row id, attempt), claimed; None when there is none."""
        claimed = self.runner.claim(None, lambda _, row: (row.id, row.attempts), limit=1)
        return claimed[0] if claimed else None

    def render(self, row_id: int) -> tuple[int, str] | None:
        """(chat, text) of the request, computed in a read-only session; None if it is gone."""
        from reports import render_chat
        from reports.queued import ReportPreparer, ReportSpec

        with self.ctx.db.read_session() as s:
            row = s.get(OutboxMessage, row_id)
            request = chat_reports.pending_request(row) if row is not None else None
            if request is None:
                return None
            spec = ReportSpec.from_json(request[0])
            figures = ReportPreparer(self.ctx).figures(s, spec)
        text = render_chat(figures, spec.audience,
                           small_cell_threshold=self.ctx.policy.small_cell_threshold)
        return request[1], text

    def prepare_one(self) -> str:
        """Claim and prepare one request: "none" (nothing due), "handed" (ready for the chat
        sender) or "done" (retried, dead-lettered or dropped). Blocking (a worker thread)."""
        claimed = self.claim()
        if claimed is None:
            return "none"
        row_id, attempts = claimed
        try:
            rendered = self.render(row_id)
        except (BilanError, ValueError) as exc:  # no retry will bring a deleted donneur back
            reason = exc.message_fr if isinstance(exc, BilanError) else str(exc)
            self.runner.dead(row_id, attempts, f"bilan impossible à établir : {reason}")
            return "done"
        except Exception as exc:
            log.exception("chat report %s failed", row_id)
            self.runner.retry(row_id, attempts, f"préparation du bilan impossible : {exc!r}")
            return "done"
        if rendered is None:
            self.runner.release(row_id)
            return "done"
        with self.ctx.db.session() as s:
            handed = chat_reports.hand_over(s, row_id, attempts, rendered[0], rendered[1])
        self.runner.release(row_id)
        if not handed:
            log.warning("chat report %s was taken over while it was computed; result dropped", row_id)
            return "done"
        return "handed"

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Prepare what is due, then look again every ``interval`` seconds, until ``stop``."""
        self.runner.start_keeper()
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
            self.runner.stop_keeper()
