"""The buyers' side: donneurs d'ordre, conventions, markets, lots, companies and engagements."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, Hours, Money, utcnow
from storage.models.enums import (
    CompanyKind,
    ContactKind,
    DonneurKind,
    EngagementMeans,
    MarketKind,
    MarketStatus,
    PrescriberKind,
    enum_type,
)


class Donneur(Base):
    """A public buyer (donneur d'ordre / maître d'ouvrage)."""

    __tablename__ = "donneurs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[DonneurKind] = mapped_column(enum_type(DonneurKind), default=DonneurKind.VILLE)
    siret: Mapped[str | None] = mapped_column(String(14))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    markets: Mapped[list[Market]] = relationship(back_populates="donneur")
    conventions: Mapped[list[Convention]] = relationship(back_populates="donneur")


class Prescriber(Base):
    """An employment or insertion intermediary that sends candidatures (France Travail, PLIE...)."""

    __tablename__ = "prescribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[PrescriberKind] = mapped_column(enum_type(PrescriberKind))
    active: Mapped[bool] = mapped_column(default=True)

    domains: Mapped[list[PrescriberDomain]] = relationship(order_by="PrescriberDomain.domain")


class PrescriberDomain(Base):
    """An e-mail domain whose senders write for one prescriber (francetravail.fr...).

    Unique: a domain claimed by two organisations would make a candidature's origin a guess.
    """

    __tablename__ = "prescriber_domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    prescriber_id: Mapped[int] = mapped_column(ForeignKey("prescribers.id"), index=True)
    domain: Mapped[str] = mapped_column(String(254), unique=True)


class Company(Base):
    """A company holding a lot, or an insertion employer (SIAE, GEIQ, EA) carrying contracts."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    siret: Mapped[str] = mapped_column(String(14), unique=True)
    kind: Mapped[CompanyKind] = mapped_column(enum_type(CompanyKind), default=CompanyKind.ORDINAIRE)
    active: Mapped[bool] = mapped_column(default=True)
    """False once deactivated (closed down, left the territory): no reminder, no lateness."""
    # users.company_id points back here: the cycle is broken by adding this key after both tables.
    facilitator_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", use_alter=True), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    engagements: Mapped[list[Engagement]] = relationship(back_populates="company")


class Contact(Base):
    """A person to write to: a donneur's référent, a company's or a prescriber's contact.

    Exactly one owner is set. E-mail addresses are how incoming mail is attributed, so they are
    stored lower-cased.
    """

    __tablename__ = "contacts"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN donneur_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN company_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN prescriber_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_owner",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ContactKind] = mapped_column(enum_type(ContactKind))
    donneur_id: Mapped[int | None] = mapped_column(ForeignKey("donneurs.id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    prescriber_id: Mapped[int | None] = mapped_column(ForeignKey("prescribers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    position: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    """False once ended: no more mail to this address, and its mail is no longer recognised."""


class Convention(Base):
    """The partnership convention between a donneur and the agency (AMOI)."""

    __tablename__ = "conventions"

    id: Mapped[int] = mapped_column(primary_key=True)
    donneur_id: Mapped[int] = mapped_column(ForeignKey("donneurs.id"), index=True)
    reference: Mapped[str] = mapped_column(String(60), unique=True)
    start_date: Mapped[dt.date]
    duration_months: Mapped[int]
    notice_months: Mapped[int] = mapped_column(default=3)
    fee_amount: Mapped[Decimal | None] = mapped_column(Money)
    fee_start_share: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.50"))
    ended_on: Mapped[dt.date | None]
    """Set when the convention was ended before its term (or not renewed): no renewal reminder."""

    donneur: Mapped[Donneur] = relationship(back_populates="conventions")


class Market(Base):
    """A market or operation (marché / opération) with a social clause or an insertion action."""

    __tablename__ = "markets"

    id: Mapped[int] = mapped_column(primary_key=True)
    donneur_id: Mapped[int] = mapped_column(ForeignKey("donneurs.id"), index=True)
    reference: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[MarketKind] = mapped_column(enum_type(MarketKind))
    procedure: Mapped[str | None] = mapped_column(String(60))
    amount_ht: Mapped[Decimal | None] = mapped_column(Money)
    notified_on: Mapped[dt.date | None]
    qpv_hours_share_min: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    """Share of the insertion hours to be done by residents of priority neighbourhoods (QPV),
    e.g. 0.05 on ANRU renewal operations; None when the market sets no such target."""
    start_date: Mapped[dt.date]
    end_date: Mapped[dt.date]
    status: Mapped[MarketStatus] = mapped_column(enum_type(MarketStatus), default=MarketStatus.EN_COURS)
    facilitator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_on: Mapped[dt.date | None]
    """Day the market was closed with its final bilan (status clos)."""

    donneur: Mapped[Donneur] = relationship(back_populates="markets")
    lots: Mapped[list[Lot]] = relationship(back_populates="market", order_by="Lot.number")

    __table_args__ = (CheckConstraint("end_date >= start_date", name="dates_ordered"),)


class Lot(Base):
    """A lot of a market, with the insertion hours computed at chiffrage and its penalty terms."""

    __tablename__ = "lots"
    __table_args__ = (
        UniqueConstraint("market_id", "number"),
        CheckConstraint("hours_owed >= 0", name="hours_owed_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    market_id: Mapped[int] = mapped_column(ForeignKey("markets.id"), index=True)
    number: Mapped[int]
    label: Mapped[str] = mapped_column(String(300))
    trade: Mapped[str | None] = mapped_column(String(60))
    amount_ht: Mapped[Decimal | None] = mapped_column(Money)
    hours_owed: Mapped[Decimal] = mapped_column(Hours, default=Decimal(0))
    penalty_per_hour: Mapped[Decimal | None] = mapped_column(Money)
    penalty_per_day_late: Mapped[Decimal | None] = mapped_column(Money)
    penalty_cap_share: Mapped[Decimal | None] = mapped_column(Money)
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]

    market: Mapped[Market] = relationship(back_populates="lots")
    engagements: Mapped[list[Engagement]] = relationship(back_populates="lot")


class Engagement(Base):
    """What a company owes on a lot: the unit that is followed, chased and reported."""

    __tablename__ = "engagements"
    __table_args__ = (
        UniqueConstraint("lot_id", "company_id"),
        CheckConstraint("hours_owed >= 0", name="hours_owed_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    hours_owed: Mapped[Decimal] = mapped_column(Hours)
    means: Mapped[EngagementMeans] = mapped_column(
        enum_type(EngagementMeans), default=EngagementMeans.EMBAUCHE_DIRECTE
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_progress_status: Mapped[str | None] = mapped_column(String(20))
    ended_on: Mapped[dt.date | None]
    """Last day the engagement runs (a company replaced, a lot cancelled): no reminder after it."""

    lot: Mapped[Lot] = relationship(back_populates="engagements")
    company: Mapped[Company] = relationship(back_populates="engagements")


class FeeMilestone(Base):
    """One of the two payments of the agency's fee for a market (seed art. 7).

    « démarrage » is reached when the market's clause starts, « bilan final » when its final
    bilan is delivered (the market is closed). The amount is taken from the convention in force
    when it is reached, so a later change of terms does not rewrite what was due.
    """

    __tablename__ = "fee_milestones"
    __table_args__ = (UniqueConstraint("market_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    market_id: Mapped[int] = mapped_column(ForeignKey("markets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    convention_id: Mapped[int | None] = mapped_column(ForeignKey("conventions.id"), index=True)
    reached_on: Mapped[dt.date]
    amount: Mapped[Decimal | None] = mapped_column(Money)
    invoiced_on: Mapped[dt.date | None]
    invoice_reference: Mapped[str | None] = mapped_column(String(60))


class QualitativeNote(Base):
    """A facilitator's note on a market or a company, quoted in bilans."""

    __tablename__ = "qualitative_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    market_id: Mapped[int | None] = mapped_column(ForeignKey("markets.id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    donneur_id: Mapped[int | None] = mapped_column(ForeignKey("donneurs.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    written_on: Mapped[dt.date]
    body: Mapped[str] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(30))
    """The « grille de suivi » heading: formation, tutorat, visite, autre (clauses.notes)."""
