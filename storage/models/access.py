"""Users, invitation codes and the audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow
from storage.models.enums import Channel, Role, enum_type


class User(Base):
    """Someone who talks to the bot or is named as a facilitator.

    The scope is the organisation the role applies to: a company for `entreprise`, a donneur for
    `referent`, a prescriber for `prescripteur`; a facilitator's portfolio is the markets and
    companies whose `facilitator_id` is theirs; admins have no scope.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[Role] = mapped_column(enum_type(Role))
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    donneur_id: Mapped[int | None] = mapped_column(ForeignKey("donneurs.id"), index=True)
    prescriber_id: Mapped[int | None] = mapped_column(ForeignKey("prescribers.id"), index=True)
    language: Mapped[str] = mapped_column(String(5), default="fr")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Invitation(Base):
    """A single-use, expiring, revocable code that links a chat account to a role and scope.

    Only a hash of the code is stored, so a database leak does not leak usable codes.
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(enum_type(Role))
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"))
    donneur_id: Mapped[int | None] = mapped_column(ForeignKey("donneurs.id"))
    prescriber_id: Mapped[int | None] = mapped_column(ForeignKey("prescribers.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    used_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[dt.datetime | None]


class AuditEntry(Base):
    """Who read or wrote personal data, when, through which channel, and what."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor_label: Mapped[str] = mapped_column(String(254))
    channel: Mapped[Channel] = mapped_column(enum_type(Channel))
    action: Mapped[str] = mapped_column(String(60), index=True)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int | None] = mapped_column(index=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
