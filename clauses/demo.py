"""A sample territory, so that a new user sees reminders, alerts and a bilan at once.

Dates are relative to the clock's today: the markets started a year ago, declarations cover the
past months with a gap for last month (so the reminder job has something to do), one company is
behind and under escalation, and a candidature waits for validation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clauses.actors import Actor
from clauses.candidatures import CandidateInput, submit_candidature
from clauses.chiffrage import compute_lot_hours
from clauses.context import Context
from clauses.counting import add_months, month_start
from clauses.declarations import record_declaration
from clauses.invitations import issue_invitation
from storage.models import (
    Channel,
    Company,
    CompanyKind,
    Contact,
    ContactKind,
    Contract,
    Convention,
    Donneur,
    DonneurKind,
    Eligibility,
    Engagement,
    Lot,
    Market,
    MarketKind,
    Meeting,
    MeetingKind,
    Participant,
    Prescriber,
    PrescriberKind,
    QualitativeNote,
    Role,
    User,
)


@dataclass
class DemoResult:
    created: bool
    invitations: dict[str, str] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)


PEOPLE = [
    # last, first, birth, gender, commune, qpv, criterion, contract type, market idx, lot idx, monthly hours
    ("Dupont", "Marie", dt.date(1990, 5, 17), "F", "Oullins", True, "deld", "cdd", 0, 0, 60),
    ("Benali", "Yacine", dt.date(2003, 9, 2), "M", "Oullins", True, "jeune_sans_qualification", "apprentissage", 0, 0, 50),
    ("Martin", "Paul", dt.date(1968, 1, 30), "M", "Pierre-Bénite", False, "senior", "interim", 0, 1, 30),
    ("Nguyen", "Linh", dt.date(1985, 11, 11), "F", "Lyon 7e", False, "rsa", "cddi", 1, 0, 100),
    ("Moreau", "Julie", dt.date(1979, 3, 8), "F", "Oullins", False, "rqth", "cddi", 1, 0, 80),
    ("Diallo", "Amadou", dt.date(1995, 7, 21), "M", "Vénissieux", True, "deld", "cdi", 2, 0, 130),
    ("Petit", "Sarah", dt.date(2001, 12, 1), "F", "Oullins", False, "jeune_sans_qualification", "professionnalisation", 2, 0, 110),
    ("Durand", "Marc", dt.date(1972, 4, 14), "M", "La Mulatière", False, "spip", "cdd", 0, 0, 40),
]


def seed_demo(ctx: Context, session: Session, *, only_if_empty: bool = True) -> DemoResult:
    """Create the demo territory; with `only_if_empty`, do nothing when data already exist."""
    if only_if_empty and session.scalar(select(func.count()).select_from(Donneur)):
        return DemoResult(created=False, summary=["Des données existent déjà : démo non créée."])
    rb = ctx.rulebook
    today = ctx.clock.today()
    start = add_months(month_start(today), -12)
    fac1 = User(role=Role.FACILITATEUR, display_name="Fanny Martin", email="fanny.martin@agence.demo")
    fac2 = User(role=Role.FACILITATEUR, display_name="Karim Benali", email="karim.benali@agence.demo")
    session.add_all([fac1, fac2])
    session.flush()
    ville = Donneur(name="Ville d'Oullins", kind=DonneurKind.VILLE, siret="21690149600010")
    bailleur = Donneur(name="Rhône Habitat Social", kind=DonneurKind.BAILLEUR)
    session.add_all([ville, bailleur])
    session.flush()
    session.add_all([
        Contact(kind=ContactKind.REFERENT, donneur_id=ville.id, name="Juliette REY",
                email="juliette.rey@oullins.demo", position="Responsable des achats"),
        Contact(kind=ContactKind.REFERENT, donneur_id=bailleur.id, name="Paul SIMON",
                email="paul.simon@rhone-habitat.demo"),
        Convention(donneur_id=ville.id, reference="CONV-OULLINS-2022", start_date=dt.date(2022, 7, 25),
                   duration_months=48, notice_months=3),
    ])
    pe = Prescriber(name="Mission Locale Sud-Ouest Lyonnais", kind=PrescriberKind.MISSION_LOCALE)
    session.add(pe)
    companies = [
        Company(name="BTP Rhône", siret="73282932000074", kind=CompanyKind.ORDINAIRE, facilitator_id=fac1.id),
        Company(name="Peintures Lyonnaises", siret="35600000000048", kind=CompanyKind.ORDINAIRE, facilitator_id=fac1.id),
        Company(name="Jardins du Rhône (ACI)", siret="44306184100047", kind=CompanyKind.ACI, facilitator_id=fac2.id),
        Company(name="Intérim Solidaire (ETTI)", siret="40483304800022", kind=CompanyKind.ETTI, facilitator_id=fac2.id),
    ]
    session.add_all(companies)
    session.flush()
    for c, mail in zip(companies, ["chef@btp-rhone.demo", "contact@peintures-lyonnaises.demo",
                                   "direction@jardins-rhone.demo", "agence@interim-solidaire.demo"], strict=True):
        session.add(Contact(kind=ContactKind.ENTREPRISE, company_id=c.id, name=f"Contact {c.name}", email=mail))
    end = add_months(start, 18) - dt.timedelta(days=1)
    markets = [
        Market(donneur_id=ville.id, reference=f"{start.year}-017", title="Réhabilitation du groupe scolaire Jean Macé",
               kind=MarketKind.CLAUSE_EXECUTION, procedure="appel d'offres ouvert", amount_ht=Decimal("2800000"),
               notified_on=start - dt.timedelta(days=20), start_date=start, end_date=end, facilitator_id=fac1.id),
        Market(donneur_id=ville.id, reference=f"{start.year}-021", title="Entretien des espaces verts",
               kind=MarketKind.MARCHE_RESERVE, procedure="marché réservé SIAE", amount_ht=Decimal("180000"),
               start_date=start, end_date=add_months(start, 12) - dt.timedelta(days=1), facilitator_id=fac2.id),
        Market(donneur_id=bailleur.id, reference=f"RHS-{start.year}-04", title="Résidentialisation Le Golf",
               kind=MarketKind.CRITERE_ATTRIBUTION, procedure="procédure adaptée", amount_ht=Decimal("650000"),
               start_date=start, end_date=end, facilitator_id=fac2.id,
               qpv_hours_share_min=Decimal("0.05")),  # an ANRU operation: 5 % for QPV residents
    ]
    session.add_all(markets)
    session.flush()
    lots_spec = [
        [(1, "Gros œuvre - maçonnerie", "maconnerie", Decimal("2500000"), 0),
         (2, "Peinture intérieure", "peinture_interieure", Decimal("300000"), 1)],
        [(1, "Entretien des espaces verts", "espaces_verts", Decimal("180000"), 2)],
        [(1, "VRD et aménagements", "vrd", Decimal("650000"), 3)],
    ]
    lots: list[list[Lot]] = []
    engagements: list[list[Engagement]] = []
    for market, spec in zip(markets, lots_spec, strict=True):
        mlots, mengs = [], []
        for number, label, trade, amount, company_idx in spec:
            hours = Decimal(compute_lot_hours(amount, rulebook=rb, trade=trade).hours)
            lot = Lot(market_id=market.id, number=number, label=label, trade=trade, amount_ht=amount, hours_owed=hours)
            session.add(lot)
            session.flush()
            eng = Engagement(lot_id=lot.id, company_id=companies[company_idx].id, hours_owed=hours)
            session.add(eng)
            session.flush()
            mlots.append(lot)
            mengs.append(eng)
        lots.append(mlots)
        engagements.append(mengs)
    staff = Actor.from_user(fac1, Channel.CLI)
    last_month = add_months(month_start(today), -1)
    for i, (last, first, birth, gender, commune, qpv, crit, ctype, mi, li, person_hours) in enumerate(PEOPLE):
        p = Participant(last_name=last, first_name=first, birth_date=birth, gender=gender, commune=commune,
                        qpv=qpv, status_at_entry=crit, prescriber_id=pe.id, first_entry_date=start)
        session.add(p)
        session.flush()
        session.add(Eligibility(participant_id=p.id, criterion=crit, proof_date=start - dt.timedelta(days=10),
                                validated_by_id=fac1.id, validated_at=ctx.clock.now()))
        eng = engagements[mi][li]
        employer = companies[3].id if ctype == "interim" else eng.company_id
        contract = Contract(participant_id=p.id, engagement_id=eng.id, employer_id=employer, contract_type=ctype,
                     start_date=start, end_date=None if ctype == "cdi" else end, job_title="Ouvrier·ère")
        session.add(contract)
        session.flush()
        month = start
        while month < last_month or (month == last_month and i % 3 != 0):
            # The painting lot (Martin) stops declaring after 4 months: it falls behind.
            if not (ctype == "interim" and month >= add_months(start, 4)):
                record_declaration(ctx, session, staff, contract_id=contract.id, month=month,
                                   work_hours=Decimal(person_hours), training_hours=Decimal(7 if ctype == "apprentissage" else 0),
                                   source=Channel.CLI)
            month = add_months(month, 1)
    session.add_all([
        QualitativeNote(market_id=markets[0].id, author_id=fac1.id, written_on=today,
                        body="Bonne dynamique sur le gros œuvre ; le lot peinture peine à recruter."),
        Meeting(kind=MeetingKind.PARTENARIAT_ANNUEL, donneur_id=ville.id,
                scheduled_at=dt.datetime.combine(today + dt.timedelta(days=20), dt.time(10, 0), tzinfo=dt.UTC),
                location="Hôtel de Ville d'Oullins"),
    ])
    result = DemoResult(created=True)
    from clauses import escalation_service as esc

    case = esc.open_case(ctx, session, staff, engagements[0][1].id)
    esc.transition(ctx, session, staff, case.id, "contact", note="Appel au conducteur de travaux, sans suite.")
    company_boss = Actor.from_user(fac1, Channel.CLI)
    submit_candidature(ctx, session, company_boss,
                       CandidateInput("Lopez", "Inès", birth_date=dt.date(1999, 6, 5), criteria_claimed=["rsa"]),
                       company_id=companies[0].id, source=Channel.CLI, idempotency_key="demo:candidature:1")
    invitations: list[tuple[str, Role, str, dict[str, Any]]] = [
        ("facilitatrice", Role.FACILITATEUR, fac1.display_name, {"facilitator_user_id": fac1.id}),
        ("entreprise", Role.ENTREPRISE, "Chef de chantier BTP Rhône", {"company_id": companies[0].id}),
        ("referent", Role.REFERENT, "Juliette REY", {"donneur_id": ville.id}),
    ]
    for key, role, name, kw in invitations:
        code, _ = issue_invitation(session, ctx.clock, role=role, display_name=name, valid_days=90, **kw)
        result.invitations[key] = code
    result.summary = [
        "Territoire de démonstration créé :",
        "  2 donneurs d'ordre (Ville d'Oullins, Rhône Habitat Social), 3 marchés, 4 lots, 4 entreprises,",
        f"  {len(PEOPLE)} participant·e·s avec contrats et un an de déclarations,",
        "  une procédure de relance en cours, une candidature à valider.",
    ]
    return result
