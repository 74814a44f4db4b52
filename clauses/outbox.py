"""Queue outgoing messages in the caller's transaction; the senders deliver them later.

The dedup key names the sending (kind:subject:period); queuing the same key twice is a no-op,
which is what makes reminders, alerts and bilans go out exactly once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from clauses.idempotent import insert_once
from storage.models import ChatLink, OutboxChannel, OutboxMessage
from storage.models.base import table_of
from storage.models.ops import OUTBOX_ANSWER, OUTBOX_BULK

ANSWER = OUTBOX_ANSWER
"""Priority of a person's answer (chat bilan hand-over, reply to an e-mail or a chat command):
the outbox runner claims it before any bulk row."""
BULK = OUTBOX_BULK
"""Priority of scheduler alerts, reminders and other notifications (the default)."""


def queue_once(
    session: Session, channel: OutboxChannel, dedup_key: str, *, priority: int = BULK, **fields: Any
) -> tuple[OutboxMessage, bool]:
    """One outbox row per dedup key (cut to the column's 250 characters): (row, created). The one
    place that rule lives, for e-mails, chat messages and queued chat reports alike."""
    row = OutboxMessage(channel=channel, dedup_key=dedup_key[:250], priority=priority, **fields)
    return insert_once(session, row, OutboxMessage.dedup_key, row.dedup_key, written=written(session))


def enqueue_email(
    session: Session,
    *,
    dedup_key: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    priority: int = BULK,
    user_id: int | None = None,
) -> tuple[OutboxMessage, bool]:
    """`attachments`: [{"document_id": 3}] or [{"cid": "chart1", "document_id": 4, "inline": True}].
    `priority`: :data:`ANSWER` for a reply to a person's own request, else :data:`BULK`.
    `user_id`: the clausebot user it goes to, when it is one (alert pushes: the digest rule
    counts and takes back a person's waiting pushes by it, chat or e-mail)."""
    row = email_message(dedup_key=dedup_key, to=to, subject=subject, text=text, html=html,
                        attachments=attachments, headers=headers, priority=priority,
                        user_id=user_id)
    return insert_once(session, row, OutboxMessage.dedup_key, row.dedup_key, written=written(session))


def email_message(*, dedup_key: str, to: str, subject: str, text: str, html: str | None = None,
                  attachments: list[dict[str, Any]] | None = None,
                  headers: dict[str, str] | None = None, priority: int = BULK,
                  user_id: int | None = None) -> OutboxMessage:
    """The row :func:`enqueue_email` queues (for :func:`queue_many`)."""
    return OutboxMessage(channel=OutboxChannel.EMAIL, dedup_key=dedup_key[:250], to_address=to,
                         to_user_id=user_id,
                         subject=subject[:300], body_text=text, body_html=html,
                         attachments=attachments or [], headers=headers or {}, priority=priority)


def chat_message(*, dedup_key: str, chat_id: int, text: str, user_id: int | None = None,
                 reply_markup: dict[str, Any] | None = None, priority: int = BULK) -> OutboxMessage:
    """The row :func:`enqueue_chat` queues to a known chat (for :func:`queue_many`)."""
    return OutboxMessage(channel=OutboxChannel.CHAT, dedup_key=dedup_key[:250], to_chat_id=chat_id,
                         to_user_id=user_id, body_text=text, reply_markup=reply_markup,
                         priority=priority)


def enqueue_chat(
    session: Session,
    *,
    dedup_key: str,
    text: str,
    user_id: int | None = None,
    chat_id: int | None = None,
    reply_markup: dict[str, Any] | None = None,
    priority: int = BULK,
) -> tuple[OutboxMessage, bool] | None:
    """Queue a chat message to a user (resolved to their chat) or a chat id.

    Returns None when the user has no chat link: the caller then falls back to e-mail.
    """
    if chat_id is None and user_id is not None:
        link = session.query(ChatLink).filter_by(user_id=user_id).one_or_none()
        if link is None:
            return None
        chat_id = link.chat_id
    if chat_id is None:
        return None
    row = chat_message(dedup_key=dedup_key, chat_id=chat_id, user_id=user_id, text=text,
                       reply_markup=reply_markup, priority=priority)
    return insert_once(session, row, OutboxMessage.dedup_key, row.dedup_key, written=written(session))


QUEUE_MANY_SLICE = 1000
"""Dedup keys looked up per query by :func:`queue_many` (well under SQLite's bound-parameter
limit)."""


def queue_many(session: Session, rows: list[OutboxMessage], *,
               priority: int = BULK) -> list[OutboxMessage]:
    """The bulk twin of :func:`queue_once`, for set-based jobs: the rows whose dedup key is not
    queued yet, in one lookup per slice and one insert instead of a lookup, a savepoint and an
    insert each. Keys are cut to 250 characters as :func:`queue_once` does. A row queued
    concurrently makes the insert fail as a whole (unique key): the caller's transaction is then
    lost and it takes its items one by one (:func:`queue_once` answers "already there").
    The rows are inserted with one executemany (the ORM inserts one row per statement on
    SQLite when it must read the ids back). Every row is queued with `priority` (the
    set-based jobs queue bulk notifications: :data:`BULK`)."""
    fresh: dict[str, OutboxMessage] = {}
    for row in rows:
        row.dedup_key = row.dedup_key[:250]
        fresh.setdefault(row.dedup_key, row)
    keys = list(fresh)
    for low in range(0, len(keys), QUEUE_MANY_SLICE):
        for key in session.scalars(select(OutboxMessage.dedup_key).where(
                OutboxMessage.dedup_key.in_(keys[low:low + QUEUE_MANY_SLICE]))):
            fresh.pop(key, None)
    added = list(fresh.values())
    if added:
        session.execute(insert(table_of(OutboxMessage)), [{
            "channel": r.channel, "dedup_key": r.dedup_key, "to_address": r.to_address,
            "to_chat_id": r.to_chat_id, "to_user_id": r.to_user_id, "subject": r.subject,
            "body_text": r.body_text, "body_html": r.body_html,
            "attachments": r.attachments if r.attachments is not None else [],
            "headers": r.headers if r.headers is not None else {},
            "reply_markup": r.reply_markup,
            "priority": priority} for r in added])
        written(session).extend(added)
    return added


QUEUED = "clausebot.queued"
"""``session.info`` key of the rows the bulk writers inserted without the ORM."""


def written(session: Session) -> list[Any]:
    """The outbox rows and alerts :func:`queue_many` and :func:`clauses.alerts.raise_alerts`
    wrote in this session (plain INSERTs: the ORM's flush events never see them), for the
    scheduler's counts and dry-run listings, which pop them."""
    out: list[Any] = session.info.setdefault(QUEUED, [])
    return out
