"""Contracts and the monthly hour declarations made against them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, Hours, utcnow
from storage.models.enums import Channel, DeclarationStatus, enum_type


class Contract(Base):
    """A participant's work contract counted for one engagement (lot x company).

    `employer_id` is who employs the person (the company itself, or the SIAE/GEIQ/ETTI carrying
    the contract, also in `companies`). Pooled hours are simply several contracts of one person
    on several engagements.
    """

    __tablename__ = "contracts"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagements.id"), index=True)
    employer_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    contract_type: Mapped[str] = mapped_column(String(40))
    start_date: Mapped[dt.date]
    end_date: Mapped[dt.date | None] = mapped_column(index=True)
    """Indexed: the daily exits and paths look up a window of end days."""
    job_title: Mapped[str | None] = mapped_column(String(200))
    # One contract per candidature: a hire pressed twice finds the first one (clauses.hiring).
    candidature_id: Mapped[int | None] = mapped_column(
        ForeignKey("candidatures.id"), unique=True, index=True
    )
    end_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    declarations: Mapped[list[HourDeclaration]] = relationship(back_populates="contract")


class HourDeclaration(Base):
    """The current figures for one contract and one month.

    One row per (contract, month), enforced by a unique key, so a replayed message can never
    count twice. Every change (first entry or correction) is also appended to
    `declaration_revisions`, so a correction never overwrites silently. `counted_hours` is what
    the rulebook lets count, computed by the domain when the row is written, so that every
    aggregate is a plain SQL SUM.
    """

    __tablename__ = "hour_declarations"
    __table_args__ = (
        UniqueConstraint("contract_id", "month"),
        CheckConstraint("work_hours >= 0 AND training_hours >= 0", name="hours_positive"),
        CheckConstraint("counted_hours <= work_hours + training_hours", name="counted_le_declared"),
        # The control's figures read the few contested (or pending) rows of a period, not
        # every declaration of it (a territory bilan: 180 ms -> 5 ms on SQLite).
        Index("ix_hour_declarations_status_month", "status", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    month: Mapped[dt.date] = mapped_column(index=True)
    work_hours: Mapped[Decimal] = mapped_column(Hours)
    training_hours: Mapped[Decimal] = mapped_column(Hours, default=Decimal(0))
    counted_hours: Mapped[Decimal] = mapped_column(Hours)
    revision: Mapped[int] = mapped_column(default=1)
    status: Mapped[DeclarationStatus] = mapped_column(
        enum_type(DeclarationStatus), default=DeclarationStatus.ENREGISTREE
    )
    source: Mapped[Channel] = mapped_column(enum_type(Channel))
    declared_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    declared_by_email: Mapped[str | None] = mapped_column(String(254))
    proof_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    controlled_at: Mapped[dt.datetime | None]
    """When the facilitator last validated or contested it (None: awaiting control)."""
    control_reason: Mapped[str | None] = mapped_column(Text)
    """The facilitator's reason while the status is CONTESTEE (told to the company)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    contract: Mapped[Contract] = relationship(back_populates="declarations")
    revisions: Mapped[list[DeclarationRevision]] = relationship(
        back_populates="declaration", order_by="DeclarationRevision.revision"
    )


class DeclarationRevision(Base):
    """Append-only history of a declaration's figures (revision 1 is the first entry)."""

    __tablename__ = "declaration_revisions"
    __table_args__ = (UniqueConstraint("declaration_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("hour_declarations.id"), index=True)
    revision: Mapped[int]
    work_hours: Mapped[Decimal] = mapped_column(Hours)
    training_hours: Mapped[Decimal] = mapped_column(Hours)
    counted_hours: Mapped[Decimal] = mapped_column(Hours)
    source: Mapped[Channel] = mapped_column(enum_type(Channel))
    declared_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    declared_by_email: Mapped[str | None] = mapped_column(String(254))
    reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    declaration: Mapped[HourDeclaration] = relationship(back_populates="revisions")


class Document(Base):
    """A stored file (CV, payslip, certificate, raw e-mail), named on disk by its SHA-256.

    The sender's file name is never used as a path; only a cleaned display name is kept.
    """

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    mime_type: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str | None] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(30))
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delete_after: Mapped[dt.date | None]
