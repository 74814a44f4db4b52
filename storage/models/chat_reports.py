"""Chat reports asked in a conversation and prepared off the update path (issue 20).

Why a table of its own (it used to be an outbox chat row without a chat): a request is not a
message yet — it has a requester, a scope to compute and a life (pending, being prepared by one
worker, handed to the chat sender, failed) that the outbox's columns only approximated (the
chat to answer hidden in ``attachments``, ``to_chat_id IS NULL`` as the marker every chat sender
had to filter out). The message it becomes is an ordinary outbox row (``outbox_id``).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow
from storage.models.enums import enum_type


class ChatReportStatus(StrEnum):
    PENDING = "pending"
    """Recorded, waiting for a worker (or for its retry time after a failed attempt)."""
    PREPARING = "preparing"
    """Claimed by a worker until ``due_at`` (its lease, renewed while it lives)."""
    HANDED_OVER = "handed_over"
    """The text is computed and queued as the outbox chat row ``outbox_id``."""
    FAILED = "failed"
    """Given up (``error`` says why); the person was told in the chat."""


class ChatReportRequest(Base):
    """One report asked in the chat; ``dedup_key`` (per chat and update) makes it once."""

    __tablename__ = "chat_report_requests"
    __table_args__ = (Index("ix_chat_report_requests_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(250), unique=True)
    requester_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    """Where the report is answered (the chat it was asked in)."""
    scope: Mapped[dict] = mapped_column(JSON)
    """The render request (:class:`reports.queued.ReportSpec` as JSON): what, whose, which period."""
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[ChatReportStatus] = mapped_column(enum_type(ChatReportStatus),
                                                     default=ChatReportStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    """Claims so far; also the fencing token of a claim (a late worker's result is refused)."""
    due_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    """When a worker may claim it: now, the end of the current lease, or after a backoff."""
    claimed_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), unique=True)
    """The chat message that delivers it, once handed over."""
