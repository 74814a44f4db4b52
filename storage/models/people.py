"""Participants (data subjects), their eligibility, candidatures and job offers.

Only the least identity that serves is kept: names, birth date (for age bands), gender, commune of
residence and the QPV flag. No address, no social security number, no free-text diagnosis.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, utcnow
from storage.models.enums import CandidatureStatus, Channel, Gender, JobOfferStatus, enum_type


def person_name(last_name: str, first_name: str) -> str:
    """How a person is named to staff and companies ("DUPONT Marie"), also from plain columns
    selected without the entity."""
    return f"{last_name.upper()} {first_name}"


class Participant(Base):
    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[dt.date | None]
    gender: Mapped[Gender | None] = mapped_column(enum_type(Gender))
    commune: Mapped[str | None] = mapped_column(String(120))
    qpv: Mapped[bool] = mapped_column(default=False)
    status_at_entry: Mapped[str | None] = mapped_column(String(60))
    prescriber_id: Mapped[int | None] = mapped_column(ForeignKey("prescribers.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    pool_consent_at: Mapped[dt.datetime | None]
    first_entry_date: Mapped[dt.date | None]
    exit_situation: Mapped[str | None] = mapped_column(String(60))
    exit_date: Mapped[dt.date | None] = mapped_column(index=True)
    """Indexed: the six-month follow-ups are looked up by a window of exit days."""
    last_activity_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    anonymised_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    eligibilities: Mapped[list[Eligibility]] = relationship(back_populates="participant")

    @property
    def display_name(self) -> str:
        return person_name(self.last_name, self.first_name)


class Eligibility(Base):
    """A criterion validated by a facilitator, with the proof's date: not the proof itself.

    Once validated, the underlying document is not needed (DOMAIN.md: store the criterion, who
    validated it and when).
    """

    __tablename__ = "eligibilities"
    __table_args__ = (UniqueConstraint("participant_id", "criterion", "proof_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    criterion: Mapped[str] = mapped_column(String(60))
    proof_date: Mapped[dt.date | None]
    validated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    validated_at: Mapped[dt.datetime | None]
    proof_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    revoked_at: Mapped[dt.datetime | None]

    participant: Mapped[Participant] = relationship(back_populates="eligibilities")


class JobOffer(Base):
    __tablename__ = "job_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    positions: Mapped[int] = mapped_column(default=1)
    status: Mapped[JobOfferStatus] = mapped_column(
        enum_type(JobOfferStatus), default=JobOfferStatus.OUVERTE
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    trade: Mapped[str | None] = mapped_column(String(60))
    place: Mapped[str | None] = mapped_column(String(120))
    start_date: Mapped[dt.date | None]
    duration_months: Mapped[int | None]
    hours_per_week: Mapped[int | None]
    approved_at: Mapped[dt.datetime | None]
    """Set when the facilitator approves: only then is it broadcast and may be quoted."""
    closed_at: Mapped[dt.datetime | None]


class Candidature(Base):
    """A person proposed for a job under a clause; validated by a facilitator before any hiring."""

    __tablename__ = "candidatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"))
    job_offer_id: Mapped[int | None] = mapped_column(ForeignKey("job_offers.id"))
    prescriber_id: Mapped[int | None] = mapped_column(ForeignKey("prescribers.id"))
    source: Mapped[Channel] = mapped_column(enum_type(Channel))
    submitted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_by_email: Mapped[str | None] = mapped_column(String(254))
    criteria_claimed: Mapped[list] = mapped_column(JSON, default=list)
    message: Mapped[str | None] = mapped_column(Text)
    cv_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    status: Mapped[CandidatureStatus] = mapped_column(
        enum_type(CandidatureStatus), default=CandidatureStatus.A_VALIDER, index=True
    )
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None]
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    chosen_at: Mapped[dt.datetime | None]
    """When the company chose this person from an offer's pre-selection (clauses.job_offers)."""

    participant: Mapped[Participant] = relationship()
