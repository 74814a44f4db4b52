"""The figures of a bilan, as plain frozen dataclasses.

They are the contract between the domain (which computes them with SQL aggregates, see
:mod:`clauses.bilan.queries`) and every consumer: the renderers in ``reports/``, the bot's chat
answers, the scheduler's e-mails. They hold keys *and* French labels for everything that comes from
the rulebook (contract types, exit situations), because renderers do not get the rulebook; fixed
vocabularies (market kinds, genders, age bands, statuses) keep their keys and are labelled by the
renderers.

Hours are ``Decimal`` (two decimals, exact); counts are ``int``. Nothing here is masked: small-cell
masking is a rendering decision (the same figures serve internal and external audiences).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal("0.00")


class BilanKind(StrEnum):
    """Which report the figures feed (seed art. 5 and annex §2B)."""

    ANNUEL = "annuel"
    """Annual bilan of one donneur d'ordre over a period."""
    POINT_ETAPE = "point_etape"
    """Point d'étape of one market at a date."""
    FINAL = "final"
    """Bilan final synthétique of one market at (or after) its close."""
    TERRITOIRE = "territoire"
    """Every donneur of the territory over a period."""


class RelationStatus(StrEnum):
    """State of the relationship with a company (seed annex §2B, "relation entreprise").

    Ordered from best to worst; a company's status is the worst of its engagements'.
    """

    A_JOUR = "a_jour"
    EN_RETARD = "en_retard"
    SOUS_PROCEDURE = "sous_procedure"
    DEFAILLANTE = "defaillante"

    @property
    def severity(self) -> int:
        return _RELATION_ORDER.index(self)


_RELATION_ORDER = [
    RelationStatus.A_JOUR,
    RelationStatus.EN_RETARD,
    RelationStatus.SOUS_PROCEDURE,
    RelationStatus.DEFAILLANTE,
]

AGE_BANDS: tuple[str, ...] = ("moins_26", "26_49", "50_plus", "non_renseigne")
"""Age band keys, in display order (age at the person's first contract counted)."""

NOT_STATED = "non_renseigne"
"""Key used for a missing value in every typology (gender, commune, status...)."""


@dataclass(frozen=True)
class Period:
    """An inclusive date range. Hours are monthly, so a month counts if its first day is in
    ``[month_start, end]`` (see :attr:`month_start`)."""

    start: dt.date
    end: dt.date

    @property
    def month_start(self) -> dt.date:
        """First day of the start's month: declarations are per month, never per day."""
        return self.start.replace(day=1)

    @property
    def is_calendar_year(self) -> bool:
        return (
            self.start.year == self.end.year
            and (self.start.month, self.start.day) == (1, 1)
            and (self.end.month, self.end.day) == (12, 31)
        )

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(dt.date(year, 1, 1), dt.date(year, 12, 31))


@dataclass(frozen=True)
class CountRow:
    """One cell line of a typology: a key, its French label and a number of persons/items."""

    key: str
    label: str
    count: int
    sensitive: bool = False
    """Health or justice data (RGPD art. 9/10): merged into one row in external reports."""


@dataclass(frozen=True)
class Typology:
    """Beneficiaries counted once each (seed annex §2B: âges / genre / lieu de résidence /
    statut à l'entrée)."""

    age_bands: list[CountRow]
    genders: list[CountRow]
    communes: list[CountRow]
    qpv: list[CountRow]
    status_at_entry: list[CountRow]


@dataclass(frozen=True)
class MarketCounts:
    """Markets (and operations) in scope, by kind (seed art. 5, first three indicators)."""

    total: int
    by_kind: dict[str, int]
    """Storage ``MarketKind`` value -> number of markets (every kind present, zeros included)."""

    @property
    def with_clause(self) -> int:
        """Markets with an execution clause (with or without an award criterion)."""
        return self.by_kind.get("clause_execution", 0) + self.by_kind.get("critere_attribution", 0)

    @property
    def reserved(self) -> int:
        return self.by_kind.get("marche_reserve", 0)

    @property
    def insertion(self) -> int:
        return self.by_kind.get("marche_insertion", 0)


@dataclass(frozen=True)
class MonthHours:
    month: dt.date
    counted_hours: Decimal
    work_hours: Decimal
    training_hours: Decimal


@dataclass(frozen=True)
class ContractTypeRow:
    """Contract typology: contracts of one rulebook type, the persons holding them, their hours."""

    key: str
    label: str
    durable: bool
    contracts: int
    persons: int
    counted_hours: Decimal


@dataclass(frozen=True)
class ExitCategoryRow:
    """Persons who left during the period, by the rulebook's exit category."""

    key: str
    label: str
    persons: int
    situations: list[CountRow]


@dataclass(frozen=True)
class EngagementLine:
    """One company on one lot: what it owes, what it did, and how it stands."""

    engagement_id: int
    market_id: int
    market_reference: str
    lot_number: int
    lot_label: str
    company_id: int
    company_name: str
    means: str
    """How the company meets the clause (storage ``EngagementMeans`` value)."""
    hours_owed: Decimal
    hours_period: Decimal
    """Counted hours of the months in the period."""
    hours_to_date: Decimal
    """Counted hours since the start, through the reference date."""
    hours_at_cutoff: Decimal
    """Counted hours through the last complete month (what the progress compares)."""
    hours_expected: Decimal
    """Pro rata temporis expectation at the progress cutoff."""
    contracts: int
    persons: int
    progress: str
    """Progress status key of :mod:`clauses.progress` (a_jour, a_risque, en_retard, solde)."""
    progress_label: str
    relation: RelationStatus
    market_kind: str = "clause_execution"

    @property
    def rate(self) -> Decimal | None:
        """Hours done (through the cutoff) over hours owed; above 1 when over-achieved."""
        return _share(self.hours_to_date, self.hours_owed)

    @property
    def hours_credited(self) -> Decimal:
        """Done hours that meet this engagement's obligation: never more than it owes."""
        return min(self.hours_to_date, self.hours_owed)

    @property
    def hours_over(self) -> Decimal:
        """Hours beyond the obligation: reported, never offsetting another engagement."""
        return max(self.hours_to_date - self.hours_owed, ZERO)

    @property
    def hours_short(self) -> Decimal:
        return max(self.hours_owed - self.hours_to_date, ZERO)


HOUR_OBLIGATION_KINDS: tuple[str, ...] = ("clause_execution", "critere_attribution")
"""Market kinds whose obligation is a number of insertion hours (the bilan's headline)."""
APART_KINDS: tuple[str, ...] = ("marche_reserve", "marche_insertion")
"""Reserved and insertion markets: the whole market is the obligation, reported apart."""


@dataclass(frozen=True)
class Headline:
    """The hours headline of the markets whose obligation is in hours, as of the cutoff.

    ``credited`` sums, per engagement, the done hours up to what that engagement owes, so one
    company's over-achievement never hides another's shortfall; the surplus is ``over``.
    """

    engagements: int
    owed: Decimal
    done: Decimal
    credited: Decimal
    over: Decimal
    short: Decimal
    engagements_short: int
    engagements_over: int

    @property
    def rate(self) -> Decimal | None:
        return _share(self.credited, self.owed)


@dataclass(frozen=True)
class ApartLine:
    """Reserved or insertion markets of the scope, with their own indicators."""

    kind: str
    markets: int
    engagements: int
    hours_planned: Decimal
    """Hours written in their engagements (an estimate: the obligation is the market itself)."""
    hours_period: Decimal
    hours_to_date: Decimal
    contracts: int
    persons: int


@dataclass(frozen=True)
class RelationEventLine:
    """A procedure step or a meeting, dated, for the company relationship section."""

    day: dt.date
    source: str
    """``etape`` or ``reunion``."""
    label: str
    company_name: str | None
    market_reference: str | None
    state_label: str | None
    note: str | None


@dataclass(frozen=True)
class MeansRow:
    """Modalités d'application de la clause (seed art. 5): engagements by the way they are met."""

    key: str
    engagements: int
    hours_owed: Decimal
    hours_period: Decimal


@dataclass(frozen=True)
class CompanyLine:
    """Per-company table of the bilan (hours owed/done, contracts, persons, relationship)."""

    company_id: int
    name: str
    kind: str
    engagements: int
    hours_owed: Decimal
    hours_period: Decimal
    hours_to_date: Decimal
    hours_expected: Decimal
    contracts: int
    persons: int
    relation: RelationStatus


@dataclass(frozen=True)
class MarketLine:
    market_id: int
    reference: str
    title: str
    kind: str
    status: str
    start_date: dt.date
    end_date: dt.date
    donneur_name: str
    hours_owed: Decimal
    hours_period: Decimal
    hours_to_date: Decimal
    contracts: int
    persons: int

    @property
    def completion(self) -> Decimal | None:
        """Share of the owed hours done to date (None when nothing is owed)."""
        return _share(self.hours_to_date, self.hours_owed)


@dataclass(frozen=True)
class DonneurLine:
    """Territory bilan: one line per donneur d'ordre with markets in the period."""

    donneur_id: int
    name: str
    markets: int
    hours_owed: Decimal
    hours_period: Decimal
    contracts: int
    persons: int


@dataclass(frozen=True)
class Note:
    """A facilitator's qualitative note quoted in the bilan."""

    written_on: dt.date
    about: str
    body: str


@dataclass(frozen=True)
class QpvHours:
    """Hours done by residents of priority neighbourhoods (QPV) on one market, to date.

    ANRU renewal operations require a share of the insertion hours (5 % or more) to go to QPV
    residents; the points d'étape and the final bilan show where the market stands.
    """

    hours: Decimal
    of_hours: Decimal
    """All the hours done on the market to date (the share's denominator)."""
    required_share: Decimal | None
    """The market's target (``markets.qpv_hours_share_min``), None when it sets none."""
    persons: int = 0
    """Distinct QPV residents behind ``hours``: below the small-cell threshold the hours are a
    person's own, so outputs leaving the agency mask hours and share."""

    @property
    def share(self) -> Decimal | None:
        return _share(self.hours, self.of_hours)

    @property
    def met(self) -> bool | None:
        if self.required_share is None:
            return None
        return self.hours >= self.required_share * self.of_hours


@dataclass(frozen=True)
class BilanFigures:
    """Everything a bilan reports, computed once, rendered many ways."""

    kind: BilanKind
    period: Period
    at: dt.date
    """Reference date: the period's end (annual) or the date of the point d'étape."""
    progress_cutoff: dt.date
    """Last day of the last complete month at ``at``: expected vs done are compared there."""
    donneur_id: int | None
    donneur_name: str | None
    market_id: int | None
    market_reference: str | None
    market_title: str | None
    markets: MarketCounts
    hours_counted: Decimal
    """Hours done in the period, as the rulebook counts them (the headline figure)."""
    hours_work: Decimal
    hours_training: Decimal
    hours_owed: Decimal
    """Hours owed by every engagement in scope (whole markets, not pro rata)."""
    hours_to_date: Decimal
    """Hours done since the markets' start, through ``at``."""
    contracts: int
    persons: int
    """Distinct persons: one person with several contracts or markets counts once."""
    hours_by_month: list[MonthHours]
    typology: Typology
    contract_types: list[ContractTypeRow]
    exits: list[ExitCategoryRow]
    persons_exited: int
    companies: list[CompanyLine]
    engagements: list[EngagementLine]
    market_lines: list[MarketLine]
    means: list[MeansRow] = field(default_factory=list)
    donneurs: list[DonneurLine] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    progress_method: str = ""
    """Which code computed the progress (for the record in internal reports)."""
    qpv: QpvHours | None = None
    """Market bilans only: hours done by QPV residents against the market's target."""
    headline: Headline | None = None
    apart: list[ApartLine] = field(default_factory=list)
    hours_contested: Decimal = ZERO
    """Part of ``hours_counted`` that the facilitator contests (awaiting a proof or a
    correction): counted, and shown apart (summed in :func:`clauses.bilan.queries.engagement_rows`)."""
    contested_by_company: dict[int, Decimal] = field(default_factory=dict)
    """The same, per company id (companies with contested hours only)."""
    persons_entered: int = 0
    """Persons whose first contract on these markets starts in the period."""
    persons_in_paths: int = 0
    """Persons of the period with several successive contracts (« parcours »)."""
    relation_events: list[RelationEventLine] = field(default_factory=list)
    followups: list[CountRow] | None = None
    """Situation six months after exit, by situation; None when no follow-up data exist."""
    synthesis: list[Note] = field(default_factory=list)
    """The annual synthesis of the partnership: the donneur's own notes of the period."""
    market_status: str | None = None
    """Market bilans: ``prevu``, ``en_cours``, ``termine`` (past its end, not closed) or
    ``clos``."""

    @property
    def completion(self) -> Decimal | None:
        """Share of the owed hours done to date: the final bilan's headline."""
        return _share(self.hours_to_date, self.hours_owed)

    @property
    def persons_without_exit(self) -> int:
        return self.persons - self.persons_exited

    @property
    def durable_contracts(self) -> int:
        return sum(row.contracts for row in self.contract_types if row.durable)

    @property
    def pooled_persons_note(self) -> bool:
        """True when persons summed over companies exceed distinct persons (pooled paths)."""
        return sum(c.persons for c in self.companies) > self.persons


def _share(done: Decimal, owed: Decimal) -> Decimal | None:
    if not owed:
        return None
    return (done / owed).quantize(Decimal("0.0001"))
