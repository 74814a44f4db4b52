"""Chat reports prepared off the update path: the request, its claim, its hand-over.

Why: an annual bilan of a big donneur takes seconds to compute; computed inside a chat update
it holds that person's lane and one of the adapter's worker slots, and the person stares at a
silent chat. So a big request is *recorded* in the update's own transaction (a
:class:`storage.models.ChatReportRequest`: requester, chat, scope) and the update answers at
once. A worker (:mod:`bot.chat_reports`) claims due requests (a lease renewed while it lives,
backoff, a last attempt), computes the report outside any write transaction, then
:func:`hand_over` queues the text as an ordinary outbox chat row and marks the request handed
over, in one transaction; the chat sender delivers it.

Exactly once: the request is keyed by the chat and the update (a re-delivered update is dropped
by the update claim, and the unique key makes a second insert a no-op anyway); a crash while
computing leaves the request claimed, due again when its lease runs out, and a late result of
the dead attempt is refused (``attempts`` is the claim's fencing token); once handed over the
message is a normal outbox row (sent once, with the chat sender's documented
crash-between-send-and-mark caveat), keyed like the request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from clauses.outbox import ANSWER, enqueue_chat
from storage.db import rowcount
from storage.models import ChatReportRequest, ChatReportStatus, Market, ServiceEvent, utcnow

DEFER_FROM_MARKETS = 20
"""An annual bilan over at least this many markets is prepared off the update path.

Smaller ones (a commune, a bailleur: a handful of markets, well under 100 ms) are answered in
the turn as before, so the person reads the figures in the same exchange."""

FAILED_TEXT = ("Désolé, le bilan demandé n'a pas pu être préparé ({reason}). Réessayez plus "
               "tard ou demandez-le à l'équipe clauses.")


def annual_scope_markets(session: Session, donneur_id: int, start: dt.date, end: dt.date) -> int:
    """How many of the donneur's markets run during [start, end]: what the bilan's cost grows with."""
    return session.scalar(
        select(func.count()).select_from(Market).where(
            Market.donneur_id == donneur_id, Market.start_date <= end, Market.end_date >= start)
    ) or 0


def request_report(
    session: Session, *, key: str, chat_id: int, user_id: int | None, spec: dict[str, Any]
) -> bool:
    """Record a report to prepare and send to ``chat_id``; False when ``key`` was recorded already.

    ``spec`` is the render request (:class:`reports.queued.ReportSpec` as JSON); ``user_id`` the
    application user who asked."""
    if session.scalar(select(ChatReportRequest.id).where(ChatReportRequest.dedup_key == key)):
        return False
    session.add(ChatReportRequest(dedup_key=key, requester_user_id=user_id, chat_id=chat_id,
                                  scope=spec))
    session.flush()
    return True


def _due(now: dt.datetime) -> Any:
    """Pending and due, or being prepared by a worker whose lease ran out (it died)."""
    return (ChatReportRequest.status.in_([ChatReportStatus.PENDING, ChatReportStatus.PREPARING])
            & (ChatReportRequest.due_at <= now))


def claim_next(session: Session, lease: dt.timedelta, *, now: dt.datetime | None = None
               ) -> tuple[int, int] | None:
    """Claim the oldest due request for ``lease``: (request id, attempt), or None.

    The conditional UPDATE (still due when written) makes two workers' claims exclusive on
    both backends; the attempt number fences a worker that lost its lease."""
    now = now or utcnow()
    while True:
        request_id = session.scalar(select(ChatReportRequest.id).where(_due(now))
                                    .order_by(ChatReportRequest.id).limit(1))
        if request_id is None:
            return None
        result = session.execute(
            update(ChatReportRequest)
            .where(ChatReportRequest.id == request_id, _due(now))
            .values(status=ChatReportStatus.PREPARING, attempts=ChatReportRequest.attempts + 1,
                    claimed_at=now, due_at=now + lease)
            .execution_options(synchronize_session=False))
        if rowcount(result) == 1:
            attempts = session.scalar(select(ChatReportRequest.attempts)
                                      .where(ChatReportRequest.id == request_id))
            return request_id, int(attempts or 0)
        # another worker took it between the two statements: look again


def _ours(request_id: int, attempts: int) -> Any:
    return ((ChatReportRequest.id == request_id)
            & (ChatReportRequest.status == ChatReportStatus.PREPARING)
            & (ChatReportRequest.attempts == attempts))


def renew(session: Session, held: dict[int, int], lease: dt.timedelta,
          *, now: dt.datetime | None = None) -> int:
    """Extend the leases of the requests a live worker holds (id -> attempt); how many."""
    until = (now or utcnow()) + lease
    renewed = 0
    for request_id, attempts in held.items():
        renewed += rowcount(session.execute(
            update(ChatReportRequest).where(_ours(request_id, attempts)).values(due_at=until)
            .execution_options(synchronize_session=False)))
    return renewed


def hand_over(session: Session, request_id: int, attempts: int, chat_id: int, text: str,
              *, now: dt.datetime | None = None) -> bool:
    """Queue the prepared text for the chat sender and mark the request handed over, in the
    caller's transaction; False when the claim is no longer ours (its lease ran out and another
    worker took it): then nothing is written."""
    result = session.execute(
        update(ChatReportRequest).where(_ours(request_id, attempts))
        .values(status=ChatReportStatus.HANDED_OVER, due_at=now or utcnow(), error=None)
        .execution_options(synchronize_session=False))
    if rowcount(result) != 1:
        return False
    request = session.get(ChatReportRequest, request_id, populate_existing=True)
    assert request is not None
    queued = enqueue_chat(session, dedup_key=request.dedup_key, chat_id=chat_id,
                          user_id=request.requester_user_id, text=text, priority=ANSWER)
    request.outbox_id = queued[0].id if queued is not None else None
    session.flush()
    return True


def retry(session: Session, request_id: int, attempts: int, error: str, *, max_attempts: int,
          backoff: Callable[[int], dt.timedelta], now: dt.datetime | None = None) -> bool:
    """Back to pending after ``backoff(attempts)``; failed (and told) after the last attempt.
    True when it failed for good."""
    if attempts >= max_attempts:
        return fail(session, request_id, attempts,
                    f"{attempts} tentatives sans succès ; dernière erreur : {error[:300]}")
    session.execute(
        update(ChatReportRequest).where(_ours(request_id, attempts))
        .values(status=ChatReportStatus.PENDING, error=error[:1000],
                due_at=(now or utcnow()) + backoff(attempts))
        .execution_options(synchronize_session=False))
    return False


def fail(session: Session, request_id: int, attempts: int, reason: str) -> bool:
    """Give up: the person learns their bilan will not come, and the team sees why. False when
    the claim is no longer ours (nothing written)."""
    result = session.execute(
        update(ChatReportRequest).where(_ours(request_id, attempts))
        .values(status=ChatReportStatus.FAILED, error=reason[:1000])
        .execution_options(synchronize_session=False))
    if rowcount(result) != 1:
        return False
    request = session.get(ChatReportRequest, request_id)
    assert request is not None
    enqueue_chat(session, dedup_key=f"{request.dedup_key}:echec", chat_id=request.chat_id,
                 user_id=request.requester_user_id, text=FAILED_TEXT.format(reason=reason[:200]),
                 priority=ANSWER)
    session.add(ServiceEvent(component="chat", level="error",
                             message=f"Bilan de chat n° {request_id} abandonné : {reason[:300]}",
                             detail={"chat_report_request_id": request_id}))
    return True
