"""Follow-up work: escalation cases, alerts, meetings and the outbox."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, Money, utcnow
from storage.models.enums import (
    AlertKind,
    EscalationState,
    MeetingKind,
    OutboxChannel,
    OutboxStatus,
    enum_type,
)


class EscalationCase(Base):
    """The procedure against a defaulting company on one engagement (seed annex §2A)."""

    __tablename__ = "escalation_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagements.id"), index=True)
    state: Mapped[EscalationState] = mapped_column(enum_type(EscalationState), index=True)
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    buyer_consent_at: Mapped[dt.datetime | None]
    buyer_consent_note: Mapped[str | None] = mapped_column(Text)
    buyer_consent_by: Mapped[str | None] = mapped_column(String(254))
    consent_requested_at: Mapped[dt.datetime | None]
    letter_sent_on: Mapped[dt.date | None]
    letter_deadline: Mapped[dt.date | None]
    formal_notice_on: Mapped[dt.date | None]
    penalty_amount: Mapped[Decimal | None] = mapped_column(Money)
    penalty_explanation: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(20))
    closed_at: Mapped[dt.datetime | None]

    steps: Mapped[list[EscalationStep]] = relationship(
        back_populates="case", order_by="EscalationStep.id"
    )


class EscalationStep(Base):
    __tablename__ = "escalation_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("escalation_cases.id"), index=True)
    from_state: Mapped[EscalationState | None] = mapped_column(enum_type(EscalationState))
    to_state: Mapped[EscalationState] = mapped_column(enum_type(EscalationState))
    event: Mapped[str] = mapped_column(String(40))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(20))
    """How a contact was made (telephone, email, rencontre, courrier) or an answer came (chat)."""

    case: Mapped[EscalationCase] = relationship(back_populates="steps")


class Alert(Base):
    """Something a facilitator must look at; `dedup_key` makes raising it idempotent."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AlertKind] = mapped_column(enum_type(AlertKind), index=True)
    facilitator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[int | None]
    message: Mapped[str] = mapped_column(Text)
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    handled_at: Mapped[dt.datetime | None]
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Meeting(Base):
    __tablename__ = "meetings"
    # A meeting's reminders are keyed by its id: SQLite must never give a cancelled meeting's
    # id to the next one (it reuses the highest deleted rowid without AUTOINCREMENT).
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[MeetingKind] = mapped_column(enum_type(MeetingKind))
    market_id: Mapped[int | None] = mapped_column(ForeignKey("markets.id"), index=True)
    donneur_id: Mapped[int | None] = mapped_column(ForeignKey("donneurs.id"), index=True)
    scheduled_at: Mapped[dt.datetime] = mapped_column(index=True)
    location: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)


OUTBOX_ANSWER = 0
"""Outbox priority of a person's answer (a chat bilan handed over, a reply to an e-mail or a
chat command): claimed before any bulk row, so it never waits behind a scheduler catch-up."""
OUTBOX_BULK = 1
"""Outbox priority of everything else (scheduler alerts, reminders, notices): the default."""


class OutboxMessage(Base):
    """Every outgoing e-mail or chat message, written in the transaction that caused it.

    `dedup_key` (kind:subject:period) makes each sending happen once, whatever the retries,
    restarts or duplicate job runs. The sender claims rows, sends, and marks them sent.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "priority", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[OutboxChannel] = mapped_column(enum_type(OutboxChannel))
    dedup_key: Mapped[str] = mapped_column(String(250), unique=True)
    to_address: Mapped[str | None] = mapped_column(String(254))
    to_chat_id: Mapped[int | None]
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    subject: Mapped[str | None] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list] = mapped_column(JSON, default=list)
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    reply_markup: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[OutboxStatus] = mapped_column(enum_type(OutboxStatus), default=OutboxStatus.PENDING)
    priority: Mapped[int] = mapped_column(SmallInteger, default=OUTBOX_BULK,
                                          server_default=text(str(OUTBOX_BULK)))
    """:data:`OUTBOX_ANSWER` (0) before :data:`OUTBOX_BULK` (1): the claim's order is (priority, id)."""
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(250))
