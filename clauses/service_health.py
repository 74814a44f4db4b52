"""The health figures `clausebot status` shows: mail polls, outbox backlog, dead messages, errors.

Read here rather than in the CLI adapter so that the status command runs no SQL of its own; the
caller opens a read-only session (the status must never hold the running service's write lock).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import MailboxState, OutboxMessage, OutboxStatus, ServiceEvent


@dataclass(frozen=True)
class ServiceHealth:
    """Raw figures; formatting them in French is the adapter's job."""

    mailboxes: list[tuple[str, str, dt.datetime | None]]  # account, folder, last poll
    outbox: dict[tuple[str, str], int]  # (channel, status) -> count
    dead: list[tuple[int, str, str | None]]  # 5 newest: id, dedup key, last error
    errors: list[tuple[dt.datetime, str, str]]  # 10 newest errors and warnings


def service_health(session: Session) -> ServiceHealth:
    """Mailbox polls, outbox counts by channel and status, the last dead messages and errors."""
    boxes = [(m.account, m.folder, m.last_poll_at)
             for m in session.scalars(select(MailboxState))]
    backlog = {
        (str(ch), str(st)): n
        for ch, st, n in session.execute(
            select(OutboxMessage.channel, OutboxMessage.status, func.count())
            .group_by(OutboxMessage.channel, OutboxMessage.status)
        )
    }
    dead = [
        (o.id, o.dedup_key, o.last_error)
        for o in session.scalars(
            select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.DEAD)
            .order_by(OutboxMessage.id.desc()).limit(5)
        )
    ]
    errors = [
        (e.at, e.component, e.message)
        for e in session.scalars(
            select(ServiceEvent).where(func.lower(ServiceEvent.level).in_(["error", "warning"]))
            .order_by(ServiceEvent.at.desc()).limit(10)
        )
    ]
    return ServiceHealth(mailboxes=boxes, outbox=backlog, dead=dead, errors=errors)
