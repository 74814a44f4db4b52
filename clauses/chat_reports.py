"""Chat reports prepared off the update path: the request, its hand-over to the chat sender.

Why: an annual bilan of a big donneur takes seconds to compute; computed inside a chat update
it holds that person's lane and one of the adapter's worker slots, and the person stares at a
silent chat. So a big request is *recorded* in the update's own transaction (an ``outbox``
chat row without a chat yet, ``to_chat_id`` NULL, whose one attachment is the render request
plus the chat to answer) and the update answers at once. A worker (:mod:`bot.chat_reports`)
claims such rows with the usual outbox discipline (lease, backoff, dead letter), computes the
report outside any write transaction, then :func:`hand_over` turns the row into an ordinary
pending chat message in one conditional UPDATE; the chat sender delivers it.

Exactly once: the request is keyed by the update (a re-delivered update is dropped by the
update claim, and the key would make a second insert a no-op anyway); a crash while computing
leaves the row claimed, due again after its lease, and a late result of the dead attempt is
refused by the attempt check; once handed over it is a normal outbox row (sent once, with the
chat sender's documented crash-between-send-and-mark caveat).

No chat row is ever queued without a chat otherwise (:func:`clauses.outbox.enqueue_chat`
returns None then), which is what makes ``to_chat_id IS NULL`` an unambiguous marker, and keeps
the chat senders (``to_chat_id > 0`` / ``< 0``) away from rows not ready yet.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from clauses.outbox import queue_once
from storage.db import rowcount
from storage.models import Market, OutboxChannel, OutboxMessage, OutboxStatus, utcnow

DEFER_FROM_MARKETS = 20
"""An annual bilan over at least this many markets is prepared off the update path.

Smaller ones (a commune, a bailleur: a handful of markets, well under 100 ms) are answered in
the turn as before, so the person reads the figures in the same exchange."""

PENDING_TEXT = "(bilan en préparation)"
"""The row's body until the worker fills it; never sent (no chat sender claims such a row)."""

REQUEST_KEY = "render"
CHAT_KEY = "chat_id"


def awaiting_preparation() -> ColumnElement[bool]:
    """The rows a chat report worker claims (and that no chat sender does)."""
    return OutboxMessage.to_chat_id.is_(None)


def annual_scope_markets(session: Session, donneur_id: int, start: dt.date, end: dt.date) -> int:
    """How many of the donneur's markets run during [start, end]: what the bilan's cost grows with."""
    return session.scalar(
        select(func.count()).select_from(Market).where(
            Market.donneur_id == donneur_id, Market.start_date <= end, Market.end_date >= start)
    ) or 0


def request_report(
    session: Session, *, key: str, chat_id: int, user_id: int | None, spec: dict[str, Any]
) -> bool:
    """Record a report to prepare and send to ``chat_id``; False when ``key`` was queued already.

    ``spec`` is the render request (:class:`reports.queued.ReportSpec` as JSON); ``user_id`` the
    application user (for the outbox's scrubbing and audit trails)."""
    _, created = queue_once(session, OutboxChannel.CHAT, key, to_chat_id=None, to_user_id=user_id,
                            body_text=PENDING_TEXT,
                            attachments=[{REQUEST_KEY: spec, CHAT_KEY: chat_id}])
    return created


def pending_request(row: OutboxMessage) -> tuple[dict[str, Any], int] | None:
    """(render request, chat) of a row awaiting preparation; None for anything else."""
    if row.to_chat_id is not None:
        return None
    for item in row.attachments or []:
        if (isinstance(item, dict) and isinstance(item.get(REQUEST_KEY), dict)
                and isinstance(item.get(CHAT_KEY), int)):
            return item[REQUEST_KEY], item[CHAT_KEY]
    return None


def hand_over(session: Session, row_id: int, attempts: int, chat_id: int, text: str,
              *, now: dt.datetime | None = None) -> bool:
    """Make the claimed row an ordinary chat message, due now; False when it is no longer ours
    (its lease ran out and another worker took it): then nothing is written."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.status == OutboxStatus.SENDING,
               OutboxMessage.attempts == attempts, awaiting_preparation())
        .values(to_chat_id=chat_id, body_text=text, attachments=[], attempts=0,
                status=OutboxStatus.PENDING, next_attempt_at=now or utcnow(), last_error=None)
        .execution_options(synchronize_session=False))
    return rowcount(result) == 1
