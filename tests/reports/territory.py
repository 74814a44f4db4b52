"""A fixture territory for the bilans, described as plain data, plus an independent calculator.

The territory (built in the database by :func:`build`) has three donneurs, markets of every kind
(one outside the period on each side), four companies, eight persons with pooled hours across
markets and across donneurs, a correction (two revisions of one month: only the current row
counts), exits in and out of the period (one with a situation the rulebook does not know), an open
escalation, a closed penalised one, a closed resolved one and one opened after the period.

:class:`Expected` recomputes the figures from the same plain data with straightforward Python
loops (no SQL), so the tests compare two independent computations.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.orm import Session

from storage.models import (
    Channel,
    Company,
    CompanyKind,
    Contact,
    ContactKind,
    Contract,
    DeclarationRevision,
    Donneur,
    DonneurKind,
    Engagement,
    EngagementMeans,
    EscalationCase,
    EscalationState,
    HourDeclaration,
    Lot,
    Market,
    MarketKind,
    MarketStatus,
    Participant,
    QualitativeNote,
)
from tests.factories import make_siret

D = dt.date
H = Decimal


@dataclass(frozen=True)
class LotSpec:
    market: str
    number: int
    engagements: tuple[tuple[str, str, Decimal], ...]
    """(engagement key, company key, hours owed)."""
    start: dt.date | None = None
    end: dt.date | None = None


@dataclass(frozen=True)
class MarketSpec:
    ref: str
    donneur: str
    kind: MarketKind
    start: dt.date
    end: dt.date
    status: MarketStatus = MarketStatus.EN_COURS


@dataclass(frozen=True)
class PersonSpec:
    key: str
    birth: dt.date | None
    gender: str | None
    commune: str | None
    qpv: bool
    status: str | None
    exit_situation: str | None = None
    exit_date: dt.date | None = None


@dataclass(frozen=True)
class ContractSpec:
    key: str
    person: str
    engagement: str
    type: str
    start: dt.date
    end: dt.date | None
    declarations: tuple[tuple[dt.date, Decimal, Decimal, Decimal], ...]
    """(month, work, training, counted): the CURRENT figures of each month."""
    employer: str | None = None
    earlier_revisions: dict[dt.date, tuple[Decimal, Decimal, Decimal]] = field(
        default_factory=dict)
    """month -> (work, training, counted) of a superseded first revision."""


@dataclass(frozen=True)
class EscalationSpec:
    engagement: str
    state: EscalationState
    opened: dt.date
    outcome: str | None = None
    penalty: Decimal | None = None


@dataclass(frozen=True)
class NoteSpec:
    written_on: dt.date
    body: str
    donneur: str | None = None
    market: str | None = None
    company: str | None = None


DONNEURS = {
    "givors": ("Ville de Givors", DonneurKind.VILLE),
    "metro": ("Métropole de Lyon", DonneurKind.METROPOLE),
    "lmh": ("Lyon Métropole Habitat", DonneurKind.BAILLEUR),
}
COMPANIES = {
    "alpha": ("BTP Alpha", CompanyKind.ORDINAIRE),
    "bati": ("Bâti Sud", CompanyKind.ORDINAIRE),
    "regie": ("Régie Quartiers EI", CompanyKind.EI),
    "facades": ("Pro Façades", CompanyKind.ORDINAIRE),
}
MARKETS = [
    MarketSpec("GIV-2025-01", "givors", MarketKind.CLAUSE_EXECUTION, D(2025, 1, 1), D(2025, 12, 31)),
    MarketSpec("GIV-2025-02", "givors", MarketKind.CRITERE_ATTRIBUTION, D(2025, 3, 1),
               D(2026, 2, 28)),
    MarketSpec("GIV-2025-03", "givors", MarketKind.MARCHE_RESERVE, D(2025, 1, 1), D(2025, 6, 30),
               MarketStatus.CLOS),
    MarketSpec("GIV-2025-04", "givors", MarketKind.MARCHE_INSERTION, D(2025, 5, 1),
               D(2025, 12, 31)),
    MarketSpec("GIV-2024-09", "givors", MarketKind.CLAUSE_EXECUTION, D(2024, 1, 1),
               D(2024, 12, 31), MarketStatus.CLOS),
    MarketSpec("MET-2025-01", "metro", MarketKind.CLAUSE_EXECUTION, D(2025, 2, 1), D(2025, 11, 30)),
    MarketSpec("LMH-2026-01", "lmh", MarketKind.CLAUSE_EXECUTION, D(2026, 1, 1), D(2026, 12, 31),
               MarketStatus.PREVU),
]
LOTS = [
    LotSpec("GIV-2025-01", 1, (("e1", "alpha", H(400)),)),
    LotSpec("GIV-2025-01", 2, (("e2", "bati", H(800)),)),
    LotSpec("GIV-2025-02", 1, (("e3", "alpha", H(600)),), D(2025, 4, 1), D(2026, 1, 31)),
    LotSpec("GIV-2025-03", 1, (("e4", "regie", H(200)),)),
    LotSpec("GIV-2024-09", 1, (("e9", "alpha", H(300)),)),
    LotSpec("MET-2025-01", 1, (("e5", "bati", H(500)),)),
    LotSpec("MET-2025-01", 2, (("e6", "facades", H(250)),)),
    LotSpec("LMH-2026-01", 1, (("e7", "alpha", H(900)),)),
]
MEANS = {"e2": EngagementMeans.SOUS_TRAITANCE_SIAE, "e5": EngagementMeans.ETTI}
"""How the clause is met, when not by direct hiring."""

PERSONS = [
    PersonSpec("p1", D(2001, 3, 15), "F", "Givors", True, "rsa", "cdi", D(2025, 11, 30)),
    PersonSpec("p2", D(1970, 6, 1), "M", "Grigny", False, "senior"),
    # exactly 26 on the day of the first contract: the 26-49 band
    PersonSpec("p3", D(1999, 3, 1), "M", "Givors", True, "deld", "formation_qualifiante",
               D(2025, 10, 15)),
    # nothing known; a sensitive status (health data); leaves after the period
    PersonSpec("p4", None, None, None, False, "rqth", "sans_nouvelles", D(2026, 1, 15)),
    # last day of the period counts; justice data
    PersonSpec("p5", D(1985, 1, 1), "X", "Vénissieux", False, "spip", "cdd_moins_6_mois",
               D(2025, 12, 31)),
    PersonSpec("p6", D(1990, 2, 2), "F", "Givors", False, "deld", "cdi", D(2024, 11, 30)),
    PersonSpec("p7", D(1995, 8, 8), "F", "Grigny", False, "rsa"),
    # a situation key the rulebook does not know: reported under "autres sorties"
    PersonSpec("p8", D(2005, 5, 5), "M", "Vénissieux", True, None, "demenagement_etranger",
               D(2025, 9, 1)),
]
CONTRACTS = [
    ContractSpec(
        "k1", "p1", "e1", "cdd", D(2025, 1, 15), D(2025, 6, 30),
        ((D(2025, 1, 1), H(80), H(10), H(90)),
         (D(2025, 2, 1), H(140), H(0), H(140)),
         (D(2025, 3, 1), H(120), H(5), H(125)),
         (D(2025, 4, 1), H("151.67"), H(0), H("151.67")),
         (D(2025, 5, 1), H("100.25"), H(20), H("110.25")),
         (D(2025, 6, 1), H("60.5"), H(0), H("60.5"))),
        earlier_revisions={D(2025, 3, 1): (H(150), H(0), H(150))},
    ),
    ContractSpec(
        "k2", "p1", "e3", "cdi", D(2025, 7, 1), None,
        ((D(2025, 7, 1), H("151.67"), H(0), H("151.67")),
         (D(2025, 8, 1), H(100), H(0), H(100)),
         (D(2025, 12, 1), H(140), H(10), H(150))),
    ),
    # the same person on another donneur's market: pooled hours
    ContractSpec("k3", "p1", "e5", "interim", D(2025, 3, 1), D(2025, 4, 30),
                 ((D(2025, 3, 1), H(35), H(0), H(35)), (D(2025, 4, 1), H(70), H(0), H(70)))),
    # carried by the insertion company (employer differs from the engagement's company)
    ContractSpec(
        "k4", "p2", "e2", "cddi", D(2025, 2, 1), D(2025, 9, 30),
        ((D(2025, 2, 1), H(100), H(20), H(120)),
         (D(2025, 6, 1), H(130), H(0), H(130)),
         (D(2025, 9, 1), H("90.75"), H(0), H("90.75"))),
        employer="regie",
    ),
    ContractSpec("k5", "p3", "e4", "cddi", D(2025, 3, 1), D(2025, 6, 30),
                 ((D(2025, 3, 1), H(120), H(0), H(120)), (D(2025, 4, 1), H(110), H(10), H(118)))),
    ContractSpec("k6", "p4", "e1", "interim", D(2025, 9, 1), D(2025, 12, 31),
                 ((D(2025, 9, 1), H(80), H(0), H(80)), (D(2025, 12, 1), H(90), H(0), H(90)))),
    ContractSpec("k7", "p5", "e6", "cdd", D(2025, 2, 1), D(2025, 7, 31),
                 ((D(2025, 2, 1), H(100), H(0), H(100)), (D(2025, 7, 1), H(50), H(0), H(50)))),
    ContractSpec("k8", "p6", "e9", "cdd", D(2024, 3, 1), D(2024, 10, 31),
                 ((D(2024, 5, 1), H(100), H(0), H(100)),)),
    # starts after the period: neither its contract nor its hours belong to 2025
    ContractSpec("k9", "p7", "e3", "cdd", D(2026, 1, 10), D(2026, 1, 31),
                 ((D(2026, 1, 1), H(60), H(0), H(60)),)),
    ContractSpec("k10", "p8", "e5", "apprentissage", D(2025, 6, 1), D(2025, 8, 31),
                 ((D(2025, 6, 1), H(40), H(0), H(40)), (D(2025, 8, 1), H("45.5"), H(0),
                                                          H("45.5")))),
]
ESCALATIONS = [
    EscalationSpec("e2", EscalationState.COURRIER_ENVOYE, D(2025, 10, 1)),
    EscalationSpec("e6", EscalationState.CLOS, D(2025, 6, 1), outcome="penalise",
                   penalty=H(1500)),
    EscalationSpec("e4", EscalationState.CLOS, D(2025, 4, 1), outcome="resolu"),
    EscalationSpec("e3", EscalationState.OUVERT, D(2026, 1, 20)),
]
NOTES = [
    NoteSpec(D(2025, 6, 30), "Partenariat constructif avec la Ville.", donneur="givors"),
    NoteSpec(D(2025, 9, 10), "Chantier retardé par les intempéries.\nReprise en octobre.",
             market="GIV-2025-01"),
    NoteSpec(D(2025, 4, 1), "Bâti Sud a recruté deux personnes via le PLIE.", company="bati"),
    NoteSpec(D(2025, 5, 2), "Pro Façades ne répond plus.", company="facades"),
    NoteSpec(D(2025, 7, 7), "Réunion de lancement Métropole.", market="MET-2025-01",
             company="bati"),
    NoteSpec(D(2024, 12, 15), "Note de l'an passé.", donneur="givors"),
]


@dataclass
class Built:
    donneurs: dict[str, int]
    markets: dict[str, int]
    companies: dict[str, int]
    engagements: dict[str, int]
    persons: dict[str, int]


def build(s: Session) -> Built:
    """Write the whole territory; returns the database ids by spec key."""
    donneurs = {}
    for key, (name, kind) in DONNEURS.items():
        d = Donneur(name=name, kind=kind)
        s.add(d)
        s.flush()
        donneurs[key] = d.id
        s.add(Contact(kind=ContactKind.REFERENT, donneur_id=d.id, name=f"Référent {name}",
                      email=f"referent.{key}@donneur.test"))
    companies = {}
    for i, (key, (name, kind)) in enumerate(COMPANIES.items(), start=1):
        c = Company(name=name, siret=make_siret(900 + i), kind=kind)
        s.add(c)
        s.flush()
        companies[key] = c.id
    markets = {}
    for m in MARKETS:
        row = Market(donneur_id=donneurs[m.donneur], reference=m.ref, title=f"Travaux {m.ref}",
                     kind=m.kind, start_date=m.start, end_date=m.end, status=m.status)
        s.add(row)
        s.flush()
        markets[m.ref] = row.id
    engagements = {}
    for lot in LOTS:
        owed = sum((h for _, _, h in lot.engagements), Decimal(0))
        lot_row = Lot(market_id=markets[lot.market], number=lot.number,
                      label=f"Lot {lot.number}", hours_owed=owed, start_date=lot.start,
                      end_date=lot.end)
        s.add(lot_row)
        s.flush()
        for key, company, hours in lot.engagements:
            e = Engagement(lot_id=lot_row.id, company_id=companies[company], hours_owed=hours,
                           means=MEANS.get(key, EngagementMeans.EMBAUCHE_DIRECTE))
            s.add(e)
            s.flush()
            engagements[key] = e.id
    persons = {}
    for p in PERSONS:
        row = Participant(last_name=f"Nom{p.key}", first_name=f"Prénom{p.key}",
                          birth_date=p.birth, gender=p.gender, commune=p.commune, qpv=p.qpv,
                          status_at_entry=p.status, exit_situation=p.exit_situation,
                          exit_date=p.exit_date)
        s.add(row)
        s.flush()
        persons[p.key] = row.id
    for k in CONTRACTS:
        engagement = s.get(Engagement, engagements[k.engagement])
        assert engagement is not None
        contract = Contract(participant_id=persons[k.person], engagement_id=engagement.id,
                            employer_id=companies[k.employer] if k.employer
                            else engagement.company_id,
                            contract_type=k.type, start_date=k.start, end_date=k.end)
        s.add(contract)
        s.flush()
        for month, work, training, counted in k.declarations:
            earlier = k.earlier_revisions.get(month)
            decl = HourDeclaration(contract_id=contract.id, month=month, work_hours=work,
                                   training_hours=training, counted_hours=counted,
                                   revision=2 if earlier else 1, source=Channel.CLI)
            s.add(decl)
            s.flush()
            revisions = [earlier, (work, training, counted)] if earlier else [
                (work, training, counted)]
            for n, (w, t, c) in enumerate(revisions, start=1):
                s.add(DeclarationRevision(declaration_id=decl.id, revision=n, work_hours=w,
                                          training_hours=t, counted_hours=c, source=Channel.CLI,
                                          reason="correction" if n > 1 else None))
    for esc in ESCALATIONS:
        opened = dt.datetime.combine(esc.opened, dt.time(9, 0), tzinfo=dt.UTC)
        s.add(EscalationCase(engagement_id=engagements[esc.engagement], state=esc.state,
                             opened_at=opened, outcome=esc.outcome, penalty_amount=esc.penalty,
                             closed_at=opened + dt.timedelta(days=60)
                             if esc.state is EscalationState.CLOS else None))
    for note in NOTES:
        s.add(QualitativeNote(donneur_id=donneurs[note.donneur] if note.donneur else None,
                              market_id=markets[note.market] if note.market else None,
                              company_id=companies[note.company] if note.company else None,
                              written_on=note.written_on, body=note.body))
    s.flush()
    return Built(donneurs, markets, companies, engagements, persons)


# --- the independent calculator ----------------------------------------------------------------

EXIT_CATEGORY_OF = {
    "cdi": "emploi_durable", "cdd_6_mois_plus": "emploi_durable",
    "interim_6_mois_plus": "emploi_durable", "fonction_publique": "emploi_durable",
    "creation_entreprise": "emploi_durable", "cdd_moins_6_mois": "emploi_transition",
    "interim_moins_6_mois": "emploi_transition", "contrat_aide": "emploi_transition",
    "formation_qualifiante": "sortie_positive", "embauche_autre_siae": "sortie_positive",
}
"""The default rulebook's mapping, written out by hand; anything else is "autre"."""


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


class Expected:
    """Figures recomputed from the plain data above, for a donneur (or all) and a period."""

    def __init__(self, start: dt.date, end: dt.date, *, donneur: str | None = None,
                 market: str | None = None, at: dt.date | None = None) -> None:
        self.start, self.end, self.at = start, end, at or end
        self.month_start = start.replace(day=1)
        # only complete months count: the last one ends on or before the reference date
        after = self.at + dt.timedelta(days=1)
        self.cutoff = self.at if after.day == 1 else self.at.replace(day=1) - dt.timedelta(days=1)
        if market is not None:
            self.markets = [m for m in MARKETS if m.ref == market]
        else:
            self.markets = [m for m in MARKETS
                            if (donneur is None or m.donneur == donneur)
                            and m.start <= end and m.end >= self.month_start]
        refs = {m.ref for m in self.markets}
        self.lots = [lot for lot in LOTS if lot.market in refs]
        self.engagements = {key: (lot, company, owed)
                            for lot in self.lots for key, company, owed in lot.engagements}
        self.contracts = [k for k in CONTRACTS if k.engagement in self.engagements
                          and k.start <= end and (k.end is None or k.end >= self.month_start)]
        self.person_keys = sorted({k.person for k in self.contracts})
        self.persons = [p for p in PERSONS if p.key in self.person_keys]

    def _decls(self, *, to_date: bool = False, cutoff: dt.date | None = None):
        for k in CONTRACTS:
            if k.engagement not in self.engagements:
                continue
            for month, work, training, counted in k.declarations:
                if cutoff is not None:
                    keep = month <= cutoff
                elif to_date:
                    keep = month <= self.cutoff
                else:
                    keep = self.month_start <= month <= self.cutoff
                if keep:
                    yield k, month, work, training, counted

    @property
    def market_kinds(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.markets:
            out[m.kind.value] = out.get(m.kind.value, 0) + 1
        return out

    @property
    def hours_counted(self) -> Decimal:
        return sum((c for *_, c in self._decls()), Decimal(0))

    @property
    def hours_work(self) -> Decimal:
        return sum((w for _, _, w, _, _ in self._decls()), Decimal(0))

    @property
    def hours_training(self) -> Decimal:
        return sum((t for _, _, _, t, _ in self._decls()), Decimal(0))

    @property
    def hours_to_date(self) -> Decimal:
        return sum((c for *_, c in self._decls(to_date=True)), Decimal(0))

    @property
    def hours_owed(self) -> Decimal:
        return sum((owed for _, _, owed in self.engagements.values()), Decimal(0))

    def by_month(self) -> dict[dt.date, Decimal]:
        out: dict[dt.date, Decimal] = {}
        for _, month, _, _, counted in self._decls():
            out[month] = out.get(month, Decimal(0)) + counted
        return out

    def first_start(self, person: str) -> dt.date:
        return min(k.start for k in self.contracts if k.person == person)

    def age_bands(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.persons:
            if p.birth is None:
                band = "non_renseigne"
            else:
                age = _age(p.birth, self.first_start(p.key))
                band = "moins_26" if age < 26 else "26_49" if age < 50 else "50_plus"
            out[band] = out.get(band, 0) + 1
        return out

    def count_by(self, attribute: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.persons:
            value = getattr(p, attribute)
            if attribute == "qpv":
                key = "qpv" if value else "hors_qpv"
            else:
                key = value if value is not None else "non_renseigne"
            out[key] = out.get(key, 0) + 1
        return out

    def contract_types(self) -> dict[str, tuple[int, int, Decimal]]:
        out: dict[str, tuple[int, int, Decimal]] = {}
        for t in sorted({k.type for k in self.contracts}):
            ks = [k for k in self.contracts if k.type == t]
            hours = sum((c for k, *_, c in self._decls() if k.type == t and k in ks),
                        Decimal(0))
            out[t] = (len(ks), len({k.person for k in ks}), hours)
        return out

    def exits(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for p in self.persons:
            if p.exit_situation is None:
                continue
            if p.exit_date is not None and not self.start <= p.exit_date <= self.end:
                continue
            category = EXIT_CATEGORY_OF.get(p.exit_situation, "autre")
            out.setdefault(category, {})
            out[category][p.exit_situation] = out[category].get(p.exit_situation, 0) + 1
        return out

    def company(self, key: str) -> dict:
        engagements = [e for e, (_, c, _) in self.engagements.items() if c == key]
        ks = [k for k in self.contracts if k.engagement in engagements]
        return {
            "owed": sum((self.engagements[e][2] for e in engagements), Decimal(0)),
            "period": sum((c for k, *_, c in self._decls() if k.engagement in engagements),
                          Decimal(0)),
            "contracts": len(ks),
            "persons": len({k.person for k in ks}),
        }

    def market(self, ref: str) -> dict:
        engagements = [e for e, (lot, _, _) in self.engagements.items() if lot.market == ref]
        ks = [k for k in self.contracts if k.engagement in engagements]
        return {
            "owed": sum((self.engagements[e][2] for e in engagements), Decimal(0)),
            "period": sum((c for k, *_, c in self._decls() if k.engagement in engagements),
                          Decimal(0)),
            "contracts": len(ks),
            "persons": len({k.person for k in ks}),
        }

    def means(self) -> dict[str, tuple[int, Decimal, Decimal]]:
        out: dict[str, tuple[int, Decimal, Decimal]] = {}
        for key, (_, _, owed) in self.engagements.items():
            means = MEANS.get(key, EngagementMeans.EMBAUCHE_DIRECTE).value
            done = sum((c for k, *_, c in self._decls() if k.engagement == key), Decimal(0))
            n, o, d = out.get(means, (0, Decimal(0), Decimal(0)))
            out[means] = (n + 1, o + owed, d + done)
        return out

    def engagement_done(self, key: str, cutoff: dt.date) -> Decimal:
        return sum((c for k, *_, c in self._decls(cutoff=cutoff) if k.engagement == key),
                   Decimal(0))
