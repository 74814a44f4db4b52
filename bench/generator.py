"""A seeded, synthetic territory with realistic distributions, bulk-loaded into a database.

Model (a stationary flow, see :mod:`bench.sizes`):

* Each *territory* has its donneurs (one Métropole buying ~30 % of the markets, social landlords,
  cities on a Zipf curve), ~1,000 companies (82 % ordinary firms, the rest SIAE, GEIQ, EA), its
  facilitators and prescribers. ``national`` is twenty territories.
* Markets arrive every month (Poisson-like), last 6 to 30 months, have 1 to 8 lots whose hours
  owed come from the real chiffrage (:func:`clauses.chiffrage.compute_lot_hours`); each lot is
  held by one company (two for 8 %), big firms winning more often.
* Persons arrive every month; each follows a path of one to five contracts within the 24 months
  of clause eligibility, on engagements open at that date (weighted by hours owed); a third of
  the next contracts overlap the previous one (pooled hours across markets). The contract type
  follows the engagement's means (ETTI -> intérim, AI/GEIQ -> mise à disposition...).
* Each contract declares every month it runs, with part-time-heavy hours (the mean declaration
  is ~33 h, as 800,000 h / 24,000 declarations), training hours for apprentices and a few
  others; the last month is still 35 % undeclared (what the reminders chase), older months have
  a few gaps, 4 % of declarations were corrected once (two revisions).
* ``counted_hours`` is computed with the rulebook's rule, in integer hundredths per contract type
  (:class:`CountingRule`), and checked against :func:`clauses.counting.count_month` on a sample
  at every generation (the smoke test checks every row at the tiny size).

Every random draw comes from a generator seeded by (seed, territory, stream, month of arrival),
so the recent months of a database are identical whatever the length of its history: the
scheduler measurement relies on it to compare "ten times more data, the same due items".
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from bench import names
from bench.loader import Loader
from bench.sizes import Size
from clauses.chiffrage import compute_lot_hours
from clauses.counting import add_months, count_month
from clauses.eligibility import clause_eligibility_end
from clauses.rulebook import Rulebook

GENERATOR_VERSION = 7
"""Bump when the generated data change, so cached SQLite files are rebuilt."""

UTC = dt.UTC


def mo(day: dt.date) -> int:
    """Month ordinal: months since year 0, so month arithmetic is integer arithmetic."""
    return day.year * 12 + day.month - 1


def month_date(ordinal: int) -> dt.date:
    return dt.date(ordinal // 12, ordinal % 12 + 1, 1)


def days_in(ordinal: int) -> int:
    return (month_date(ordinal + 1) - month_date(ordinal)).days


def hours_text(cents: int) -> str:
    """Hundredths of an hour as the exact decimal text stored in Numeric(10, 2)."""
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class Timeline:
    """Where "now" is and how much history the database holds."""

    today: dt.date
    history_years: int

    @property
    def today_mo(self) -> int:
        return mo(self.today)

    @property
    def last_mo(self) -> int:
        """The last complete month (declared in the current month, 35 % still missing)."""
        return self.today_mo - 1

    @property
    def first_mo(self) -> int:
        return self.last_mo - 12 * self.history_years + 1

    @property
    def bilan_year(self) -> int:
        """The last complete calendar year: what the annual bilans of the benchmark cover."""
        last = month_date(self.last_mo)
        return last.year if last.month == 12 else last.year - 1


@dataclass(frozen=True)
class CountingRule:
    """One contract type's counting rule, in integer hundredths of an hour."""

    work_counts: bool
    training_counts: bool
    share: Fraction
    cap_months: int | None

    @classmethod
    def of(cls, rulebook: Rulebook, key: str) -> CountingRule:
        kind = rulebook.contract_type(key)
        return cls(kind.work_hours_count, kind.training_hours_count,
                   Fraction(kind.training_share_cap), kind.counted_months_cap)

    def counted(self, months_since_start: int, eligible: bool, work: int, training: int) -> int:
        """Counted hundredths for one month (the rule of :func:`clauses.counting.count_month`)."""
        if not eligible:
            return 0
        if self.cap_months is not None and months_since_start >= self.cap_months:
            return 0
        counted_work = work if self.work_counts else 0
        counted_training = training if self.training_counts else 0
        if counted_training > 0 and self.share < 1:
            if self.share <= 0:
                counted_training = 0
            else:
                p, q = self.share.numerator, self.share.denominator
                cap = (p * counted_work) // (q - p)  # floor(s*w/(1-s)), exact
                counted_training = min(counted_training, cap)
        return counted_work + counted_training


# --- distributions ------------------------------------------------------------------------------

MARKET_KINDS = (("clause_execution", 0.70), ("critere_attribution", 0.12),
                ("marche_reserve", 0.10), ("marche_insertion", 0.08))
DURATIONS = (6, 9, 12, 15, 18, 18, 24, 24, 30)
MAX_DURATION = max(DURATIONS)
PERSON_WARMUP = 26
"""Persons (markets: 30 months more) start arriving before the first declared month, so that the
first years are in steady state. Why these lengths: a person who arrives at month ``a`` chooses
among the engagements open then (markets of ``a - 30`` onwards) and is active until ``a + 54`` at
most (a last contract started 24 months in, on a lot lasting up to 30), so the recent months of
the database depend only on arrivals the shortest history already holds (scheduler measure)."""
BUILDING_TRADES = ("gros_oeuvre", "maconnerie", "peinture_interieure", "peinture_exterieure",
                   "platrerie", "electricite", "plomberie", "menuiserie_interieure",
                   "menuiserie_exterieure", "couverture", "etancheite", "carrelage", "sols_souples",
                   "serrurerie", "vrd", "demolition", "charpente_bois", "charpente_metallique")
SERVICE_TRADES = ("nettoyage", "espaces_verts", "collecte_dechets")
COMPANY_KINDS = (("ordinaire", 0.82), ("ETTI", 0.04), ("EI", 0.04), ("ACI", 0.03), ("AI", 0.02),
                 ("GEIQ", 0.03), ("EA", 0.02))
MEANS = (("embauche_directe", 0.60), ("etti", 0.20), ("ai", 0.08), ("geiq", 0.07),
         ("sous_traitance_siae", 0.05))
MEANS_EMPLOYER = {"etti": ("ETTI",), "ai": ("AI",), "geiq": ("GEIQ",),
                  "sous_traitance_siae": ("EI", "ACI")}
DIRECT_TYPES = (("cdd", 0.34), ("cddi", 0.05), ("cdi", 0.10), ("apprentissage", 0.14),
                ("professionnalisation", 0.10), ("interim", 0.17), ("pec", 0.05),
                ("formation", 0.05))
MEANS_TYPES = {"etti": (("interim", 1.0),), "ai": (("mad_ai", 1.0),),
               "geiq": (("mad_geiq", 0.7), ("professionnalisation", 0.3)),
               "sous_traitance_siae": (("cddi", 1.0),)}
TYPE_MONTHS = {"interim": (1, 6), "cdd": (3, 12), "cddi": (4, 12), "cdi": (12, 18),
               "apprentissage": (12, 24), "professionnalisation": (6, 12), "mad_ai": (1, 6),
               "mad_geiq": (6, 18), "pec": (6, 12), "formation": (1, 3)}
FULL_TIME_P = {"cdi": 0.25, "cdd": 0.10, "cddi": 0.05, "apprentissage": 0.30,
               "professionnalisation": 0.25, "interim": 0.03, "mad_ai": 0.01, "mad_geiq": 0.15,
               "pec": 0.05, "formation": 0.0}
FULL_TIME = 15167
PATH_MONTHS = (8, 24)
TRACKS = (("1", 0.50), ("2", 0.33), ("3", 0.17))
STATUSES_YOUNG = (("jeune_sans_qualification", 0.6), ("deld", 0.15), ("rsa", 0.10),
                  ("qpv", 0.08), ("spip", 0.03), ("avis_prescripteur", 0.04))
STATUSES_ADULT = (("deld", 0.32), ("rsa", 0.26), ("ass", 0.05), ("aah", 0.03), ("rqth", 0.06),
                  ("spip", 0.02), ("salarie_siae", 0.08), ("salarie_geiq", 0.03), ("qpv", 0.06),
                  ("ier", 0.03), ("avis_prescripteur", 0.06))
STATUSES_SENIOR = (("senior", 0.5), ("deld", 0.25), ("rsa", 0.12), ("rqth", 0.08),
                   ("aah", 0.05))
EXITS = (("cdi", 0.10), ("cdd_6_mois_plus", 0.08), ("interim_6_mois_plus", 0.05),
         ("fonction_publique", 0.01), ("creation_entreprise", 0.01), ("cdd_moins_6_mois", 0.12),
         ("interim_moins_6_mois", 0.12), ("contrat_aide", 0.05), ("formation_qualifiante", 0.10),
         ("embauche_autre_siae", 0.06), ("recherche_emploi", 0.18), ("inactivite", 0.04),
         ("demenagement", 0.02), ("sans_nouvelles", 0.06))
ESCALATION_OPEN = (("ouvert", 0.25), ("contacte", 0.25), ("relance_ecrite", 0.2),
                   ("courrier_envoye", 0.15), ("donneur_alerte", 0.08),
                   ("defaillance_notifiee", 0.05), ("penalites_calculees", 0.02))
PRESCRIBER_KINDS = (("france_travail", "France Travail"), ("mission_locale", "Mission Locale"),
                    ("plie", "PLIE"), ("cap_emploi", "Cap Emploi"), ("spip", "SPIP"),
                    ("siae", "Plateforme SIAE"))
SOURCES = (("email", 0.45), ("telegram", 0.40), ("cli", 0.15))


def pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    x = rng.random() * sum(w for _, w in weighted)
    for value, weight in weighted:
        x -= weight
        if x <= 0:
            return value
    return weighted[-1][0]


def arrivals(rng: random.Random, rate: float) -> int:
    """A Poisson-like count (normal approximation above 30, exact below)."""
    if rate <= 0:
        return 0
    if rate > 30:
        return max(0, round(rng.gauss(rate, math.sqrt(rate))))
    limit, k, p = math.exp(-rate), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def luhn_siret(n: int) -> str:
    from stdnum import luhn

    prefix = f"{3_100_000_000_000 + n:013d}"
    return prefix + luhn.calc_check_digit(prefix)


def at_utc(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


# --- in-memory records ----------------------------------------------------------------------------


@dataclass
class Engagement:
    id: int
    company_id: int
    means: str
    hours_owed: int
    start: dt.date
    end: dt.date
    market_id: int
    market_reference: str
    lot_number: int
    weight: float


@dataclass
class ContractPlan:
    id: int
    participant_id: int
    engagement: Engagement
    employer_id: int
    contract_type: str
    start: dt.date
    end: dt.date | None
    declare_until_mo: int
    elig_end: dt.date
    key: str


@dataclass
class Territory:
    index: int
    scale: float
    facilitators: list[int] = field(default_factory=list)
    donneurs: list[int] = field(default_factory=list)
    donneur_weights: list[float] = field(default_factory=list)
    prescribers: list[int] = field(default_factory=list)
    companies_by_kind: dict[str, list[int]] = field(default_factory=dict)
    ordinary_cum: list[float] = field(default_factory=list)
    active: dict[int, tuple[list[Engagement], list[float]]] = field(default_factory=dict)

    def suffix(self) -> str:
        return "" if self.index == 0 else f" (territoire {self.index + 1})"


@dataclass
class GenerationReport:
    """What was generated, and the steady-state figures of the bilan year (for calibration)."""

    size: str
    seed: int
    today: dt.date
    history_years: int
    rows: dict[str, int]
    seconds: float
    year: int = 0
    year_declarations: int = 0
    year_hours: Decimal = Decimal(0)
    year_persons: int = 0
    year_markets: int = 0
    companies: int = 0
    checked_rows: int = 0

    def lines(self) -> list[str]:
        total = sum(self.rows.values())
        return [
            f"generated {self.size} (seed {self.seed}, today {self.today}, "
            f"{self.history_years} years of history): {total:,} rows in {self.seconds:.1f}s",
            f"  declarations {self.rows.get('hour_declarations', 0):,}, contracts "
            f"{self.rows.get('contracts', 0):,}, persons {self.rows.get('participants', 0):,}, "
            f"markets {self.rows.get('markets', 0):,}, companies {self.companies:,}",
            f"  year {self.year}: {self.year_declarations:,} declarations, "
            f"{self.year_hours:,.0f} counted hours, {self.year_persons:,} persons, "
            f"{self.year_markets:,} markets in scope",
        ]


CHUNK = 200_000
"""Declarations generated and loaded per chunk."""


class YearTally:
    """Counts of the bilan year, accumulated while the declarations stream by."""

    def __init__(self, year: int, contracts: list[ContractPlan]) -> None:
        self.year = year
        self.first, self.last = dt.date(year, 1, 1), dt.date(year, 12, 1)
        self.person_of = {c.id: c.participant_id for c in contracts}
        self.persons: set[int] = set()
        self.count = 0
        self.cents = 0

    def add(self, row: tuple) -> None:
        if self.first <= row[2] <= self.last:
            self.count += 1
            whole, cents = row[5].split(".")
            self.cents += int(whole) * 100 + int(cents)
            self.persons.add(self.person_of[row[1]])

    def report(self, report: GenerationReport, markets: int) -> None:
        report.year = self.year
        report.year_declarations = self.count
        report.year_hours = Decimal(self.cents) / 100
        report.year_persons = len(self.persons)
        report.year_markets = markets


# --- the generator --------------------------------------------------------------------------------


class Generator:
    """Builds the rows of one synthetic database and hands them to a :class:`Loader`."""

    def __init__(self, size: Size, rulebook: Rulebook, *, seed: int = 20250101,
                 today: dt.date, check_sample: int = 2000) -> None:
        self.size = size
        self.rulebook = rulebook
        self.seed = seed
        self.timeline = Timeline(today, size.history_years)
        self.check_sample = check_sample
        self.ids: dict[str, itertools.count[int]] = {}
        self.rows: dict[str, list[tuple]] = {}
        self.rules = {key: CountingRule.of(rulebook, key) for key in rulebook.contract_types}
        n = max(1, math.floor(size.scale))
        self.territories = [Territory(i, size.scale / n) for i in range(n)]
        self.engagements: list[Engagement] = []
        self.contracts: list[ContractPlan] = []
        self.company_contact: dict[int, str] = {}
        self.company_user: dict[int, int] = {}
        self.person_count = 0
        self.checked = 0
        self.generated_at = at_utc(today, 3)

    # -- helpers --------------------------------------------------------------------------------

    def next_id(self, table: str) -> int:
        counter = self.ids.setdefault(table, itertools.count(1))
        return next(counter)

    def add(self, table: str, row: tuple) -> None:
        self.rows.setdefault(table, []).append(row)

    def rng(self, territory: int, stream: str, ordinal: int | str) -> random.Random:
        return random.Random(f"{self.seed}:{territory}:{stream}:{ordinal}")

    # -- pools ----------------------------------------------------------------------------------

    def _pools(self) -> None:
        self.add("users", (self.next_id("users"), "admin", "Administrateur·rice", "admin@agence.test",
                           None, None, None, None, "fr", True, self.generated_at))
        for terr in self.territories:
            rng = self.rng(terr.index, "pools", 0)
            for k in range(max(2, round(self.size.facilitators * terr.scale))):
                uid = self.next_id("users")
                terr.facilitators.append(uid)
                first = names.FIRST_NAMES_F[k % 40] if k % 2 else names.FIRST_NAMES_M[k % 50]
                self.add("users", (uid, "facilitateur", f"{first} {names.SURNAMES[k * 7 % 217]}",
                                   f"facilitateur{uid}@agence.test", 60_000_000 + uid, None, None,
                                   None, "fr", True, self.generated_at))
                self.add("chat_links", (self.next_id("chat_links"), uid, 60_000_000 + uid,
                                        self.generated_at, None))
            self._donneurs(terr, rng)
            self._prescribers(terr, rng)
            self._companies(terr, rng)

    def _donneurs(self, terr: Territory, rng: random.Random) -> None:
        count = max(3, round(self.size.donneurs * terr.scale))
        labels: list[tuple[str, str, float]] = [("Métropole de Lyon", "metropole", 0.30)]
        bailleurs = max(1, count // 5)
        labels += [(names.BAILLEURS[i % len(names.BAILLEURS)] + ("" if i < 6 else f" {i}"),
                    "bailleur_social", 0.2 / bailleurs) for i in range(bailleurs)]
        if count > 8:
            labels.append(("Préfecture du Rhône (État)", "etat", 0.02))
        cities = count - len(labels)
        zipf = [1 / (i + 1) ** 0.9 for i in range(cities)]
        for i in range(cities):
            city = names.DONNEUR_CITIES[i % len(names.DONNEUR_CITIES)]
            labels.append((f"Ville de {city}" + ("" if i < len(names.DONNEUR_CITIES) else f" {i}"),
                           "ville", 0.48 * zipf[i] / sum(zipf)))
        for name, kind, weight in labels:
            did = self.next_id("donneurs")
            terr.donneurs.append(did)
            terr.donneur_weights.append(weight)
            self.add("donneurs", (did, name + terr.suffix(), kind, None, self.generated_at))
            start = dt.date(self.timeline.today.year - 4, 1, 1)
            self.add("conventions", (self.next_id("conventions"), did, f"CONV-{did:05d}", start, 72,
                                     3, Decimal(rng.randrange(20, 400) * 1000), Decimal("0.50"),
                                     None))
            uid = self.next_id("users")
            email = f"referent{did}@donneur{did}.test"
            self.add("users", (uid, "referent", f"Référent·e {name}", email, None, None, did, None,
                               "fr", True, self.generated_at))
            self.add("contacts", (self.next_id("contacts"), "referent", did, None, None,
                                  f"Référent·e {name}", email, None, "Responsable achats", True))

    def _prescribers(self, terr: Territory, rng: random.Random) -> None:
        count = max(3, round(self.size.prescribers * terr.scale))
        for i in range(count):
            kind, label = PRESCRIBER_KINDS[i % len(PRESCRIBER_KINDS)]
            commune = names.COMMUNES[i // len(PRESCRIBER_KINDS) % len(names.COMMUNES)][0]
            pid = self.next_id("prescribers")
            terr.prescribers.append(pid)
            self.add("prescribers", (pid, f"{label} {commune}{terr.suffix()}", kind, True))
            self.add("contacts", (self.next_id("contacts"), "prescripteur", None, None, pid,
                                  f"Conseiller·e {label}", f"conseil{pid}@prescripteur{pid}.test",
                                  None, None, True))

    def _companies(self, terr: Territory, rng: random.Random) -> None:
        count = max(12, round(self.size.companies * terr.scale))
        ordinary_weights: list[float] = []
        for i in range(count):
            kind = pick(rng, COMPANY_KINDS) if i >= 7 else COMPANY_KINDS[i][0]
            cid = self.next_id("companies")
            if kind == "ordinaire":
                name = (f"{rng.choice(names.COMPANY_PREFIXES)} {rng.choice(names.SURNAMES)} "
                        f"{rng.choice(names.COMPANY_SUFFIXES)}").strip()
                ordinary_weights.append(1 / (len(ordinary_weights) + 4) ** 0.9)
            else:
                name = f"{names.INSERTION_PREFIXES[kind]} {rng.choice(names.COMMUNES)[0]}"
            terr.companies_by_kind.setdefault(kind, []).append(cid)
            self.add("companies", (cid, f"{name} {cid}", luhn_siret(cid), kind,
                                   rng.choice(terr.facilitators), self.generated_at, True))
            email = f"contact{cid}@entreprise{cid}.test"
            self.company_contact[cid] = email
            self.add("contacts", (self.next_id("contacts"), "entreprise", None, cid, None,
                                  f"Contact {name}", email, None, "Conducteur·rice de travaux", True))
            if rng.random() < 0.4:
                uid = self.next_id("users")
                self.company_user[cid] = uid
                self.add("users", (uid, "entreprise", f"Chef·fe de chantier {cid}", email,
                                   50_000_000 + uid, cid, None, None, "fr", True,
                                   self.generated_at))
                self.add("chat_links", (self.next_id("chat_links"), uid, 50_000_000 + uid,
                                        self.generated_at, None))
        terr.ordinary_cum = list(itertools.accumulate(ordinary_weights))

    # -- markets --------------------------------------------------------------------------------

    def _markets(self) -> None:
        tl = self.timeline
        for terr in self.territories:
            for month in range(tl.first_mo - PERSON_WARMUP - MAX_DURATION, tl.today_mo + 4):
                rng = self.rng(terr.index, "m", month)
                for i in range(arrivals(rng, self.size.markets_per_month * terr.scale)):
                    self._market(terr, rng, month, i)
            self._index_active(terr)

    def _market(self, terr: Territory, rng: random.Random, month: int, i: int) -> None:
        tl = self.timeline
        start = month_date(month) + dt.timedelta(days=rng.randrange(28))
        end = add_months(start, rng.choice(DURATIONS)) - dt.timedelta(days=1)
        status = "clos" if end < tl.today else "prevu" if start > tl.today else "en_cours"
        if status == "clos" and (tl.today - end).days < 60 and rng.random() < 0.5:
            status = "en_cours"  # ended, final bilan still to be made (what market_ends finds)
        donneur = rng.choices(terr.donneurs, terr.donneur_weights)[0]
        kind = pick(rng, MARKET_KINDS)
        service = rng.random() < 0.18
        amount = min(30_000_000, max(40_000, round(rng.lognormvariate(math.log(1_300_000), 1.1),
                                                   -3)))
        n_lots = 1 if service else min(8, 1 + arrivals(rng, 1.3))
        market_id = self.next_id("markets")
        reference = f"{start.year}-{terr.index + 1:02d}{start.month:02d}-{i + 1:03d}"
        place = rng.choice(names.COMMUNES)[0]
        title = rng.choice(names.MARKET_TITLES).format(place=place)
        self.add("markets", (market_id, donneur, reference, title, kind,
                             "MAPA" if amount < 5_500_000 else "appel d'offres ouvert",
                             Decimal(amount), start - dt.timedelta(days=rng.randrange(15, 60)),
                             start, end, status, rng.choice(terr.facilitators),
                             at_utc(start - dt.timedelta(days=60), 9)))
        shares = [rng.random() + 0.3 for _ in range(n_lots)]
        total_share = sum(shares)
        for number in range(1, n_lots + 1):
            trade = rng.choice(SERVICE_TRADES if service else BUILDING_TRADES)
            lot_amount = max(10_000, round(amount * shares[number - 1] / total_share, -2))
            hours = compute_lot_hours(lot_amount, rulebook=self.rulebook, trade=trade).hours
            if kind == "marche_insertion":
                hours = round(hours * 1.5)
            lot_start, lot_end = None, None
            if n_lots > 1 and rng.random() < 0.2:
                lot_start = start + dt.timedelta(days=rng.randrange(0, 90))
                lot_end = max(lot_start + dt.timedelta(days=90),
                              end - dt.timedelta(days=rng.randrange(0, 90)))
                lot_end = min(lot_end, end)
            lot_id = self.next_id("lots")
            penalties = (Decimal(60), Decimal(100), Decimal("0.20")) if kind == "clause_execution" \
                else (None, None, None)
            self.add("lots", (lot_id, market_id, number, names.LOT_LABELS[trade], trade,
                              Decimal(lot_amount), Decimal(hours), *penalties, lot_start, lot_end))
            holders = 2 if rng.random() < 0.08 else 1
            chosen: set[int] = set()
            for _h in range(holders):
                company = self._holder(terr, rng, kind)
                if company in chosen:
                    continue
                chosen.add(company)
                means = "embauche_directe" if kind in ("marche_reserve", "marche_insertion") \
                    else pick(rng, MEANS)
                owed = hours // holders
                eid = self.next_id("engagements")
                self.add("engagements", (eid, lot_id, company, Decimal(owed), means,
                                         at_utc(start, 8), None))
                self.engagements.append(Engagement(
                    eid, company, means, owed, lot_start or start, lot_end or end, market_id,
                    reference, number, max(owed, 1)))
        self._escalation(terr, rng, start, end)

    def _holder(self, terr: Territory, rng: random.Random, kind: str) -> int:
        if kind == "marche_reserve":
            pool = [c for k in ("EI", "ACI", "EA", "AI", "ETTI") for c in terr.companies_by_kind.get(k, [])]
            return rng.choice(pool)
        if kind == "marche_insertion":
            pool = [c for k in ("ACI", "EI") for c in terr.companies_by_kind.get(k, [])]
            return rng.choice(pool)
        ordinary = terr.companies_by_kind["ordinaire"]
        x = rng.random() * terr.ordinary_cum[-1]
        return ordinary[bisect.bisect_left(terr.ordinary_cum, x)]

    def _escalation(self, terr: Territory, rng: random.Random, start: dt.date, end: dt.date) -> None:
        """A few engagements of this market went to escalation (state depends on dates)."""
        tl = self.timeline
        if start > tl.today - dt.timedelta(days=120) or rng.random() > 0.06:
            return
        engagement = self.engagements[-1]
        span = (min(end, tl.today) - start).days
        opened = start + dt.timedelta(days=rng.randrange(90, max(91, span)))
        opened = min(opened, tl.today - dt.timedelta(days=1))
        case_id = self.next_id("escalation_cases")
        letter_on = deadline = None
        penalty = outcome = closed = None
        if end < tl.today:
            state = "clos"
            outcome = "penalise" if rng.random() < 0.3 else "regularise"
            penalty = Decimal(rng.randrange(10, 400) * 60) if outcome == "penalise" else None
            closed = at_utc(min(tl.today, end + dt.timedelta(days=30)), 10)
        else:
            state = pick(rng, ESCALATION_OPEN)
            if state in ("courrier_envoye", "donneur_alerte", "defaillance_notifiee",
                         "penalites_calculees"):
                letter_on = min(tl.today, opened + dt.timedelta(days=rng.randrange(10, 40)))
                deadline = letter_on + dt.timedelta(days=15)
        self.add("escalation_cases", (case_id, engagement.id, state, at_utc(opened, 9),
                                      rng.choice(terr.facilitators), None, None, letter_on,
                                      deadline, None, penalty, None, outcome, closed))
        self.add("escalation_steps", (self.next_id("escalation_steps"), case_id, None, "ouvert",
                                      "ouverture", at_utc(opened, 9), None, None))

    def _index_active(self, terr: Territory) -> None:
        """Per month, the engagements of this territory open to a new contract, with weights."""
        mine = [e for e in self.engagements if e.market_id in self._territory_markets(terr)]
        by_month: dict[int, list[Engagement]] = {}
        for e in mine:
            for month in range(mo(e.start), mo(e.end)):
                by_month.setdefault(month, []).append(e)
        terr.active = {m: (es, list(itertools.accumulate(e.weight for e in es)))
                       for m, es in by_month.items()}

    def _territory_markets(self, terr: Territory) -> set[int]:
        if not hasattr(self, "_market_territory"):
            self._market_territory: dict[int, set[int]] = {}
        if terr.index not in self._market_territory:
            donneurs = set(terr.donneurs)
            self._market_territory[terr.index] = {
                row[0] for row in self.rows.get("markets", []) if row[1] in donneurs}
        return self._market_territory[terr.index]

    # -- persons and contracts ------------------------------------------------------------------

    def _persons(self) -> None:
        tl = self.timeline
        for terr in self.territories:
            for month in range(tl.first_mo - PERSON_WARMUP, tl.today_mo + 1):
                rng = self.rng(terr.index, "p", month)
                for i in range(arrivals(rng, self.size.persons_per_month * terr.scale)):
                    self._person(terr, rng, month, i)
            self._candidates(terr)

    def _person(self, terr: Territory, rng: random.Random, month: int, i: int) -> None:
        tl = self.timeline
        first_start = min(tl.today, month_date(month) + dt.timedelta(days=rng.randrange(28)))
        first_engagement = self._active_engagement(terr, rng, first_start, set())
        if first_engagement is None:
            return
        pid = self.next_id("participants")
        gender = "M" if rng.random() < 0.7 else "F" if rng.random() < 0.94 else "X"
        last, first = names.person_name(self.person_count, "F" if gender == "F" else "M")
        self.person_count += 1
        band = rng.random()
        age = rng.randrange(18, 26) if band < 0.3 else rng.randrange(26, 50) if band < 0.86 \
            else rng.randrange(50, 63)
        birth = first_start - dt.timedelta(days=age * 365 + rng.randrange(365))
        commune, has_qpv = names.COMMUNES[min(len(names.COMMUNES) - 1,
                                              int(rng.paretovariate(1.2)) - 1)]
        qpv = rng.random() < (0.45 if has_qpv else 0.03)
        status = pick(rng, STATUSES_YOUNG if age < 26 else STATUSES_SENIOR if age >= 50
                      else STATUSES_ADULT)
        prescriber = rng.choice(terr.prescribers)
        elig_end = clause_eligibility_end(first_start, self.rulebook)

        plans: list[ContractPlan] = []
        used: set[int] = set()
        # A path spans 8 to 24 months of eligibility and runs on one to three parallel tracks
        # (hours pooled across markets); each track chains contracts on distinct engagements.
        path_end = min(elig_end, add_months(first_start, rng.randint(PATH_MONTHS[0], PATH_MONTHS[1])))
        tracks = pick(rng, TRACKS)
        serial = itertools.count()
        for track in range(int(tracks)):
            start = first_start + dt.timedelta(days=0 if track == 0 else rng.randrange(0, 90))
            engagement = first_engagement if track == 0 else None
            while start <= path_end and start <= tl.today:
                if engagement is None:
                    engagement = self._active_engagement(terr, rng, start, used)
                    if engagement is None:
                        break
                used.add(engagement.id)
                plan = self._contract(terr, rng, pid, engagement, start, path_end, elig_end,
                                      f"{terr.index}:{month}:{i}:{next(serial)}")
                plans.append(plan)
                stop = plan.end or month_date(plan.declare_until_mo + 1)
                start = stop + dt.timedelta(days=rng.randrange(1, 45))
                engagement = None
        if not plans:
            return

        last_end = max((p.end for p in plans if p.end is not None), default=None)
        ended = all(p.end is not None for p in plans) and last_end is not None and \
            last_end < tl.today - dt.timedelta(days=30)
        exit_situation = exit_date = None
        if ended and last_end is not None and rng.random() < 0.8:
            exit_situation = pick(rng, EXITS)
            exit_date = last_end + dt.timedelta(days=rng.randrange(0, 20))
        created = at_utc(first_start - dt.timedelta(days=rng.randrange(20, 60)), 10)
        self.add("participants", (pid, last, first, birth, gender, commune, qpv, status,
                                  prescriber, None, None, None, first_start, exit_situation,
                                  exit_date, created, None, created))
        fac = rng.choice(terr.facilitators)
        proof = first_start - dt.timedelta(days=rng.randrange(10, 60))
        self.add("eligibilities", (self.next_id("eligibilities"), pid, status, proof, fac,
                                   at_utc(proof + dt.timedelta(days=2), 14), None, None))
        cand = self.next_id("candidatures")
        self.add("candidatures", (cand, pid, first_engagement.company_id, None, None, prescriber,
                                  "email", None, f"conseil{prescriber}@prescripteur{prescriber}.test",
                                  [status], None, None, "embauchee", fac,
                                  at_utc(proof + dt.timedelta(days=3), 15), None, None,
                                  at_utc(proof, 9)))
        for plan in plans:
            title = names.JOB_TITLES[plan.id % len(names.JOB_TITLES)]
            self.add("contracts", (plan.id, pid, plan.engagement.id, plan.employer_id,
                                   plan.contract_type, plan.start, plan.end, title,
                                   cand if plan is plans[0] else None, at_utc(plan.start, 8)))
            self.contracts.append(plan)

    def _contract(self, terr: Territory, rng: random.Random, pid: int, engagement: Engagement,
                  start: dt.date, path_end: dt.date, elig_end: dt.date, key: str) -> ContractPlan:
        ctype = pick(rng, MEANS_TYPES.get(engagement.means, DIRECT_TYPES))
        employer = engagement.company_id
        if engagement.means in MEANS_EMPLOYER:
            pool = [c for k in MEANS_EMPLOYER[engagement.means]
                    for c in terr.companies_by_kind.get(k, [])]
            employer = rng.choice(pool) if pool else employer
        low, high = TYPE_MONTHS[ctype]
        planned_end = add_months(start, rng.randint(low, high)) - \
            dt.timedelta(days=rng.choice((1, 1, 1, 9)))
        end: dt.date | None = min(planned_end, engagement.end)
        if ctype == "cdi":
            declare_until = min(mo(engagement.end), mo(start) + rng.randint(12, 18))
            end = None
        else:
            assert end is not None
            if rng.random() > 0.1:  # one contract in ten runs past the path (counted 0 after)
                end = max(start, min(end, path_end))
            declare_until = mo(end)
        return ContractPlan(self.next_id("contracts"), pid, engagement, employer, ctype, start,
                            end, declare_until, elig_end, key)

    def _active_engagement(self, terr: Territory, rng: random.Random, day: dt.date,
                           used: set[int]) -> Engagement | None:
        entry = terr.active.get(mo(day))
        if not entry:
            return None
        engagements, cum = entry
        for _attempt in range(4):
            e = engagements[bisect.bisect_left(cum, rng.random() * cum[-1])]
            if e.id not in used and e.start <= day:
                return e
        return None

    def _candidates(self, terr: Territory) -> None:
        """Candidatures waiting for the facilitator's validation (the last six weeks)."""
        tl = self.timeline
        rng = self.rng(terr.index, "cand", tl.today_mo)
        for _ in range(max(2, round(12 * terr.scale))):
            pid = self.next_id("participants")
            gender = "M" if rng.random() < 0.7 else "F"
            last, first = names.person_name(self.person_count, gender)
            self.person_count += 1
            received = tl.today - dt.timedelta(days=rng.randrange(1, 45))
            created = at_utc(received, 9)
            prescriber = rng.choice(terr.prescribers)
            self.add("participants", (pid, last, first, received - dt.timedelta(days=9000 + rng.randrange(6000)),
                                      gender, rng.choice(names.COMMUNES)[0], False, "deld",
                                      prescriber, None, None, None, None, None, None, created, None,
                                      created))
            company = rng.choice(terr.companies_by_kind["ordinaire"])
            self.add("candidatures", (self.next_id("candidatures"), pid, company, None, None,
                                      prescriber, "email", None,
                                      f"conseil{prescriber}@prescripteur{prescriber}.test",
                                      ["deld"], "Candidature spontanée", None, "a_valider", None, None,
                                      None, None, created))

    # -- declarations ---------------------------------------------------------------------------

    def _declarations(self) -> Iterator[tuple[str, tuple]]:
        """(table, row) for every declaration and revision, contract by contract."""
        tl = self.timeline
        check_every = max(1, len(self.contracts) // max(1, self.check_sample))
        for n, plan in enumerate(self.contracts):
            rng = random.Random(f"{self.seed}:d:{plan.key}")
            rule = self.rules[plan.contract_type]
            first, last = max(mo(plan.start), tl.first_mo), min(plan.declare_until_mo, tl.last_mo)
            if first > last:
                continue
            full_time = rng.random() < FULL_TIME_P[plan.contract_type]
            base = FULL_TIME if full_time else \
                min(13000, max(400, round(rng.lognormvariate(math.log(1500), 0.75) / 25) * 25))
            start_mo = mo(plan.start)
            end_mo = mo(plan.end) if plan.end else None
            company_user = self.company_user.get(plan.engagement.company_id)
            email = self.company_contact.get(plan.engagement.company_id)
            for month in range(first, last + 1):
                gap = 0.35 if month == tl.last_mo else 0.06 if month == tl.last_mo - 1 else 0.015
                if rng.random() < gap:
                    continue
                work, training = self._hours(rng, plan, base, full_time, month, start_mo, end_mo)
                if work == 0 and training == 0:
                    continue
                day = month_date(month)
                counted = rule.counted(month - start_mo, day <= plan.elig_end, work, training)
                if n % check_every == 0 and month == first:
                    self._check(plan, day, work, training, counted)
                source = pick(rng, SOURCES)
                created = at_utc(month_date(month + 1) + dt.timedelta(days=rng.randrange(2, 25)),
                                 rng.randrange(7, 18), rng.randrange(60))
                status = "validee" if month <= tl.last_mo - 3 and rng.random() < 0.85 else \
                    "contestee" if rng.random() < 0.01 else "enregistree"
                user = company_user if source == "telegram" else None
                mail = email if source == "email" else None
                did = self.next_id("hour_declarations")
                corrected = rng.random() < 0.04
                revision = 2 if corrected else 1
                updated = created + dt.timedelta(days=rng.randrange(1, 20)) if corrected else created
                yield "hour_declarations", (did, plan.id, day, hours_text(work),
                                            hours_text(training), hours_text(counted), revision,
                                            status, source, user, mail, None, created, updated)
                if corrected:
                    before = max(0, work - 700)
                    before_counted = rule.counted(month - start_mo, day <= plan.elig_end, before,
                                                  training)
                    yield "declaration_revisions", (
                        self.next_id("declaration_revisions"), did, 1, hours_text(before),
                        hours_text(training), hours_text(before_counted), source, user, mail, None,
                        None, created)
                yield "declaration_revisions", (
                    self.next_id("declaration_revisions"), did, revision, hours_text(work),
                    hours_text(training), hours_text(counted), source, user, mail,
                    "Heures corrigées après contrôle des relevés" if corrected else None, None,
                    updated)

    @staticmethod
    def _hours(rng: random.Random, plan: ContractPlan, base: int, full_time: bool, month: int,
               start_mo: int, end_mo: int | None) -> tuple[int, int]:
        """(work, training) hundredths of one month, prorated in the first and last month."""
        ctype = plan.contract_type
        if ctype == "formation":
            return 0, rng.randrange(35, 140) * 100
        if full_time and rng.random() < 0.8:
            work = FULL_TIME
        else:
            work = round(base * rng.uniform(0.7, 1.08) / 25) * 25
        if month == start_mo and plan.start.day > 1:
            remaining = days_in(month) - plan.start.day + 1
            work = round(work * remaining / days_in(month) / 25) * 25
        if end_mo is not None and month == end_mo and plan.end is not None:
            work = round(work * plan.end.day / days_in(month) / 25) * 25
        training = 0
        if ctype in ("apprentissage", "professionnalisation"):
            training = rng.randrange(20, 46) * 100
        elif rng.random() < 0.04:
            training = rng.randrange(7, 22) * 100
        return max(0, work), training

    def _check(self, plan: ContractPlan, day: dt.date, work: int, training: int,
               counted: int) -> None:
        """The vectorised rule must give what the domain's own rule gives."""
        expected = count_month(plan.contract_type, plan.start, day, Decimal(work) / 100,
                               Decimal(training) / 100, plan.elig_end, self.rulebook)
        got = Decimal(counted) / 100
        if expected.total != got:
            raise AssertionError(
                f"counting rule mismatch for {plan.contract_type} {plan.start} {day}: "
                f"generator {got}, domain {expected.total}")
        self.checked += 1

    # -- notes ----------------------------------------------------------------------------------

    def _notes(self) -> None:
        tl = self.timeline
        for row in self.rows.get("markets", []):
            market_id, donneur, start, end = row[0], row[1], row[8], row[9]
            rng = random.Random(f"{self.seed}:note:{row[2]}")
            if rng.random() < 0.25 and start < tl.today:
                written = start + dt.timedelta(days=rng.randrange(max(1, (min(end, tl.today) - start).days)))
                self.add("qualitative_notes", (self.next_id("qualitative_notes"), market_id, None,
                                               donneur, row[11], written,
                                               "Bonne dynamique de recrutement ; deux sorties en "
                                               "emploi durable à signaler."))

    # -- the whole run --------------------------------------------------------------------------

    COLUMNS: dict[str, tuple[str, ...]] = {  # noqa: RUF012
        "users": ("id", "role", "display_name", "email", "telegram_user_id", "company_id",
                  "donneur_id", "prescriber_id", "language", "active", "created_at"),
        "donneurs": ("id", "name", "kind", "siret", "created_at"),
        "conventions": ("id", "donneur_id", "reference", "start_date", "duration_months",
                        "notice_months", "fee_amount", "fee_start_share", "ended_on"),
        "prescribers": ("id", "name", "kind", "active"),
        "companies": ("id", "name", "siret", "kind", "facilitator_id", "created_at", "active"),
        "contacts": ("id", "kind", "donneur_id", "company_id", "prescriber_id", "name", "email",
                     "phone", "position", "active"),
        "chat_links": ("id", "user_id", "chat_id", "linked_at", "note"),
        "markets": ("id", "donneur_id", "reference", "title", "kind", "procedure", "amount_ht",
                    "notified_on", "start_date", "end_date", "status", "facilitator_id",
                    "created_at"),
        "lots": ("id", "market_id", "number", "label", "trade", "amount_ht", "hours_owed",
                 "penalty_per_hour", "penalty_per_day_late", "penalty_cap_share", "start_date",
                 "end_date"),
        "engagements": ("id", "lot_id", "company_id", "hours_owed", "means", "created_at",
                        "last_progress_status"),
        "escalation_cases": ("id", "engagement_id", "state", "opened_at", "opened_by_id",
                             "buyer_consent_at", "buyer_consent_note", "letter_sent_on",
                             "letter_deadline", "formal_notice_on", "penalty_amount",
                             "penalty_explanation", "outcome", "closed_at"),
        "escalation_steps": ("id", "case_id", "from_state", "to_state", "event", "at",
                             "by_user_id", "note"),
        "participants": ("id", "last_name", "first_name", "birth_date", "gender", "commune", "qpv",
                         "status_at_entry", "prescriber_id", "email", "phone", "pool_consent_at",
                         "first_entry_date", "exit_situation", "exit_date", "last_activity_at",
                         "anonymised_at", "created_at"),
        "eligibilities": ("id", "participant_id", "criterion", "proof_date", "validated_by_id",
                          "validated_at", "proof_document_id", "revoked_at"),
        "candidatures": ("id", "participant_id", "company_id", "lot_id", "job_offer_id",
                         "prescriber_id", "source", "submitted_by_user_id", "submitted_by_email",
                         "criteria_claimed", "message", "cv_document_id", "status",
                         "decided_by_id", "decided_at", "refusal_reason", "idempotency_key",
                         "created_at"),
        "contracts": ("id", "participant_id", "engagement_id", "employer_id", "contract_type",
                      "start_date", "end_date", "job_title", "candidature_id", "created_at"),
        "hour_declarations": ("id", "contract_id", "month", "work_hours", "training_hours",
                              "counted_hours", "revision", "status", "source",
                              "declared_by_user_id", "declared_by_email", "proof_document_id",
                              "created_at", "updated_at"),
        "declaration_revisions": ("id", "declaration_id", "revision", "work_hours",
                                  "training_hours", "counted_hours", "source",
                                  "declared_by_user_id", "declared_by_email", "reason",
                                  "idempotency_key", "created_at"),
        "qualitative_notes": ("id", "market_id", "company_id", "donneur_id", "author_id",
                              "written_on", "body"),
    }
    ORDER_BEFORE = ("users", "donneurs", "conventions", "prescribers", "companies", "contacts",
                    "chat_links", "markets", "lots", "engagements", "escalation_cases",
                    "escalation_steps", "qualitative_notes")
    ORDER_PEOPLE = ("participants", "eligibilities", "candidatures", "contracts")

    def run(self, loader: Loader, log: Any = None) -> GenerationReport:
        began = time.monotonic()
        say = log or (lambda _msg: None)
        self._pools()
        self._markets()
        self._notes()
        say(f"  markets {len(self.rows.get('markets', [])):,}, engagements "
            f"{len(self.engagements):,} ({time.monotonic() - began:.1f}s)")
        self._persons()
        say(f"  persons {len(self.rows.get('participants', [])):,}, contracts "
            f"{len(self.contracts):,} ({time.monotonic() - began:.1f}s)")
        # users reference companies and companies reference users: facilitators come first
        users = self.rows.pop("users")
        staff = [u for u in users if u[5] is None and u[6] is None]
        loader.load("users", self.COLUMNS["users"], staff)
        for table in self.ORDER_BEFORE[1:]:
            loader.load(table, self.COLUMNS[table], self.rows.pop(table, []))
            if table == "companies":  # référents and company users point to both
                loader.load("users", self.COLUMNS["users"],
                            [u for u in users if u[5] is not None or u[6] is not None])
        # last activity: the person's last declared month, declared mid-next-month
        last_declared: dict[int, int] = {}
        for plan in self.contracts:
            until = min(plan.declare_until_mo, self.timeline.last_mo)
            if until >= mo(plan.start):
                last_declared[plan.participant_id] = max(
                    until, last_declared.get(plan.participant_id, 0))
        def active(row: tuple) -> dt.datetime:
            if row[0] not in last_declared:
                return row[15]
            return at_utc(month_date(last_declared[row[0]] + 1) + dt.timedelta(days=12), 10)

        self.rows["participants"] = [(*row[:15], active(row), *row[16:])
                                     for row in self.rows["participants"]]
        for table in self.ORDER_PEOPLE:
            loader.load(table, self.COLUMNS[table], self.rows.pop(table, []))
        report = GenerationReport(self.size.name, self.seed, self.timeline.today,
                                  self.size.history_years, {}, 0.0)
        # declarations are streamed in chunks (five million rows do not need to sit in memory)
        year = YearTally(self.timeline.bilan_year, self.contracts)
        declarations: list[tuple] = []
        revisions: list[tuple] = []
        for table, row in self._declarations():
            if table == "hour_declarations":
                declarations.append(row)
                year.add(row)
            else:
                revisions.append(row)
            if len(declarations) >= CHUNK:
                loader.load("hour_declarations", self.COLUMNS["hour_declarations"], declarations)
                loader.load("declaration_revisions", self.COLUMNS["declaration_revisions"],
                            revisions)
                declarations, revisions = [], []
                say(f"  declarations {loader.rows_written['hour_declarations']:,} "
                    f"({time.monotonic() - began:.1f}s)")
        loader.load("hour_declarations", self.COLUMNS["hour_declarations"], declarations)
        loader.load("declaration_revisions", self.COLUMNS["declaration_revisions"], revisions)
        year.report(report, len(self.market_ids_in_year(year.year)))
        say(f"  loaded ({time.monotonic() - began:.1f}s), finishing")
        loader.finish()
        report.rows = dict(loader.rows_written)
        report.seconds = time.monotonic() - began
        report.checked_rows = self.checked
        report.companies = sum(len(v) for t in self.territories for v in t.companies_by_kind.values())
        return report

    def market_ids_in_year(self, year: int) -> set[int]:
        first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
        out = set()
        for e in self.engagements:
            if e.start <= last and e.end >= first:
                out.add(e.market_id)
        return out


def generate(db: Any, size: Size, rulebook: Rulebook, *, seed: int, today: dt.date,
             log: Any = None, stamp: bool = True) -> GenerationReport:
    """Create the schema in ``db`` (a :class:`storage.db.Database`) and fill it.

    ``stamp``: mark the schema as migrated to the Alembic head (what the running service
    expects); the tests' shared schema is left alone.
    """
    from bench.loader import loader_for
    from storage.models import Base

    Base.metadata.create_all(db.engine)
    generator = Generator(size, rulebook, seed=seed, today=today)
    loader = loader_for(db, generator.generated_at)
    try:
        report = generator.run(loader, log)
    finally:
        loader.close()
    if stamp:
        stamp_head(db)
    return report


def stamp_head(db: Any) -> None:
    """Mark the schema as migrated (it was created from the models), so that the service's
    start-up ``migrate.upgrade`` finds nothing to do, as on a production database."""
    from alembic import command
    from alembic.config import Config

    from storage.migrate import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.stamp(cfg, "head")
