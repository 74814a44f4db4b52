"""The journal of chat replies: what a handled update must still say, kept in the outbox.

Why: a chat update is committed (its id recorded, its effects written) before its answer is
sent. If the process dies between the two — a reply waiting on Telegram's 429 « retry after »,
say — Telegram delivers the update again after the restart, the update key drops it as a
replay, and the user never gets an answer. So the replies of an update are written to the
outbox in the same transaction as the update claim, already *leased* to the adapter that sends
them at once (status ``sending``, ``next_attempt_at`` = end of the lease): the outbox sender
leaves them alone while the adapter works, the adapter marks each one sent (or hands it back
on a transient failure), and whatever a crash left is released at the next start (only one
``clausebot run`` works at a time, so a ``sending`` reply then belongs to nobody) and
delivered by the outbox sender: exactly once, except the few milliseconds between a send and
its mark, the same window as every outbox row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from storage.db import rowcount
from storage.models import OutboxChannel, OutboxMessage, OutboxStatus, utcnow
from storage.models.base import table_of
from storage.models.ops import OUTBOX_ANSWER

KEY_PREFIX = "reply:"
LEASE = dt.timedelta(minutes=15)
"""Longer than the adapter ever waits on flood limits: the sender never races the adapter."""

_OUTBOX = table_of(OutboxMessage)
_JOURNAL = insert(_OUTBOX)
"""Core statements on the table, built once (why: they run for every chat update and every
delivered reply; the ORM's bulk path and a statement built per call cost more than the row)."""
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.dedup_key == bindparam("key"), _OUTBOX.c.status == OutboxStatus.SENDING)
    .values(status=OutboxStatus.SENT, sent_at=bindparam("now"), body_text="", reply_markup=None,
            message_id=bindparam("message_id"), last_error=None)
)


def reply_key(update_id: int, part: str) -> str:
    """The outbox key of one part of one update's answer (« 0.1 »: reply 0, chunk 1)."""
    return f"{KEY_PREFIX}{update_id}:{part}"


def journal(session: Session, *, chat_id: int,
            parts: Iterable[tuple[str, str, dict[str, Any] | None]]) -> int:
    """Write the parts (key, text, Bot API reply_markup) leased to the caller; their count.

    One INSERT in the caller's transaction (the update's), the same transaction as the
    update's claim and its conversation state. Keys are unique: an update is handled once, so a
    key is never written twice.
    """
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {"channel": OutboxChannel.CHAT, "dedup_key": key[:250], "to_chat_id": chat_id,
         "body_text": text, "reply_markup": markup, "status": OutboxStatus.SENDING,
         "attempts": 1, "next_attempt_at": now + LEASE, "created_at": now,
         "attachments": [], "headers": {}, "priority": OUTBOX_ANSWER}
        for key, text, markup in parts
    ]
    if rows:
        session.execute(_JOURNAL, rows)
    return len(rows)


def _set(session: Session, key: str, **values: Any) -> bool:
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.dedup_key == key, OutboxMessage.status == OutboxStatus.SENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(result))


def mark_sent(session: Session, key: str, message_id: str = "") -> bool:
    """The adapter delivered this part: the sender must never send it. Its text is dropped
    (data minimisation: an answer may name a participant, and once delivered the row only
    proves the delivery)."""
    return _set(session, key, status=OutboxStatus.SENT, sent_at=utcnow(), body_text="",
                reply_markup=None, message_id=message_id[:250] or None, last_error=None)


def mark_all_sent(session: Session, marks: list[tuple[str, str]]) -> None:
    """:func:`mark_sent` for many (key, message id) parts at once: one prebuilt UPDATE run
    with every part's parameters (the adapter's group commit of the replies delivered
    meanwhile)."""
    if not marks:
        return
    now = utcnow()
    session.execute(_MARK_SENT, [{"key": key, "now": now, "message_id": message_id[:250] or None}
                                 for key, message_id in marks])


def hand_over(session: Session, key: str, reason: str, retry_after: float | None = None, *,
              chat_id: int | None = None, text: str = "",
              markup: dict[str, Any] | None = None) -> bool:
    """The adapter could not deliver it now (transient): the outbox sender retries it. A reply
    that was never journaled (the « erreur interne » answer of a failed update) is queued."""
    when = utcnow() + dt.timedelta(seconds=retry_after or 0)
    if _set(session, key, status=OutboxStatus.PENDING, next_attempt_at=when,
            last_error=reason[:1000]):
        return True
    if chat_id is None:
        return False
    from clauses.outbox import ANSWER, enqueue_chat

    enqueue_chat(session, dedup_key=key, chat_id=chat_id, text=text, reply_markup=markup,
                 priority=ANSWER)
    return True


def give_up(session: Session, key: str, reason: str) -> bool:
    """Telegram refused it for good (bot blocked, chat gone): nobody should retry it."""
    return _set(session, key, status=OutboxStatus.DEAD, last_error=reason[:1000])


def release_orphans(session: Session) -> int:
    """At start: replies a dead process was still sending go to the outbox sender now."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.channel == OutboxChannel.CHAT,
               OutboxMessage.status == OutboxStatus.SENDING,
               OutboxMessage.dedup_key.like(f"{KEY_PREFIX}%"))
        .values(status=OutboxStatus.PENDING, next_attempt_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(rowcount(result) or 0)
