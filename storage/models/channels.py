"""State of the inbound channels: IMAP bookkeeping, received mail, chat updates and conversations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow
from storage.models.enums import MailStatus, enum_type


class MailboxState(Base):
    """Where the intake stands in one IMAP folder: a UIDVALIDITY change means a rescan."""

    __tablename__ = "mailbox_states"
    __table_args__ = (UniqueConstraint("account", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(254))
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_poll_at: Mapped[dt.datetime | None]


class InboundMail(Base):
    """A received e-mail and what was made of it, stored before the message is moved."""

    __tablename__ = "inbound_mail"
    __table_args__ = (UniqueConstraint("account", "folder", "uidvalidity", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(254))
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(250), index=True)
    from_address: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(default=0)
    raw_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    status: Mapped[MailStatus] = mapped_column(enum_type(MailStatus))
    kind: Mapped[str | None] = mapped_column(String(40))
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    moved_at: Mapped[dt.datetime | None]
    purged_at: Mapped[dt.datetime | None]


class ChatUpdate(Base):
    """Telegram update ids already handled: a replayed update is dropped, not counted twice."""

    __tablename__ = "chat_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConversationState(Base):
    """A chat conversation in progress, in the database so it survives a restart."""

    __tablename__ = "conversation_states"
    __table_args__ = (UniqueConstraint("conversation", "chat_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation: Mapped[str] = mapped_column(String(60))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str | None] = mapped_column(String(60))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ServiceEvent(Base):
    """Operational facts for `clausebot status`: last poll, last error, job runs."""

    __tablename__ = "service_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    component: Mapped[str] = mapped_column(String(40), index=True)
    level: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    detail: Mapped[dict | None] = mapped_column(JSON)


class KeyValue(Base):
    """Small persistent facts (last IMAP poll, schema flags) that need no table of their own."""

    __tablename__ = "key_values"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ChatLink(Base):
    """A chat id to reach a user (Telegram chat id, or the console's id)."""

    __tablename__ = "chat_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    linked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
