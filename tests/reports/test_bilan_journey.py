"""Journey: from an empty database to bilans a buyer can file as they are (issue 16).

The territory comes in by the CLI import (names beginning with ``=``, ``+``, ``-``, ``@`` as a
careless CSV would carry them); hours are declared through the declaration use case the chat and
e-mail channels share, and one month through the chat's guided ``/declarer``; the persons and
their contracts are set up with factories (hiring is another feature's channel). The bilans are
then asked for as people do — ``clausebot bilan`` / ``clausebot point`` (HTML, XLSX, PDF read
back with BeautifulSoup, openpyxl, pypdf) and ``/bilan`` / ``/point`` in the chat — on
06/12/2026, a date inside the year, to check every « as of ».
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from bot.core import ChatCore
from bot.messages import Incoming
from clausebot.cli import main
from clauses.actors import Actor
from clauses.clock import PARIS, Clock, FixedClock
from clauses.context import Context
from clauses.declarations import record_declaration
from storage.models import (
    Channel,
    Company,
    Contract,
    ConversationState,
    Donneur,
    Engagement,
    EscalationCase,
    EscalationState,
    EscalationStep,
    HourDeclaration,
    Market,
    Meeting,
    MeetingKind,
    Participant,
    QualitativeNote,
    Role,
)
from tests import factories as f
from tests.bot.conftest import link

NOW = dt.datetime(2026, 12, 6, 10, 0, tzinfo=PARIS)
HEADER = ("donneur;type_donneur;marche_ref;marche_intitule;type_marche;date_debut;date_fin;"
          "lot_numero;lot_intitule;heures_insertion;entreprise;siret;type_entreprise;"
          "heures_engagement;moyen")


def _csv() -> str:
    sirets = [f.make_siret(n) for n in range(7100, 7105)]
    lines = [
        HEADER,
        # a market title and companies that would be formulas in a careless spreadsheet
        f"Ville de Saint-Clair;ville;2026-001;=1+1 Groupe scolaire;clause_execution;"
        f"01/01/2026;31/12/2026;1;Gros œuvre;100;+Bâtiment Plus;{sirets[0]};ordinaire;100;"
        "embauche_directe",
        f"Ville de Saint-Clair;;2026-001;;;;;2;Maçonnerie;300;Maçonnerie Sud;{sirets[1]};"
        "ordinaire;300;embauche_directe",
        f"Ville de Saint-Clair;;2026-002;Entretien des espaces verts;marche_reserve;01/01/2026;"
        f"31/12/2026;1;Espaces verts;20;@Jardins Solidaires;{sirets[2]};EI;20;"
        "sous_traitance_siae",
        # ended on 30/11/2026, nobody closed it: « terminé » on 06/12
        f"Ville de Saint-Clair;;2026-003;Voirie rue Haute;clause_execution;01/03/2026;"
        f"30/11/2026;1;Voirie;50;-Démolition Moins;{sirets[3]};ordinaire;50;embauche_directe",
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW.replace(tzinfo=None))


@pytest.fixture
def cli(db, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CLAUSEBOT_DATABASE_URL", db.url)
    monkeypatch.setenv("CLAUSEBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CLAUSEBOT_AGENCY__ADDRESS", "12 rue des Métiers; 69000 Lyon")
    monkeypatch.setenv("CLAUSEBOT_AGENCY__CONVENTION_REFERENCE",
                       "Convention AMO Insertion n° 2026-07 du 15/01/2026")
    monkeypatch.setenv("CLAUSEBOT_AGENCY__SIGNATURE", "Le service Clauses sociales")
    monkeypatch.setenv("CLAUSEBOT_AGENCY_NAME", "Maison de l'Emploi Test")
    monkeypatch.delenv("CLAUSEBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(Clock, "now", lambda self: NOW.astimezone(dt.UTC))

    def run(*args: str):
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    return run


def _ids(s, model, column, value) -> int:
    return s.scalar(select(model.id).where(column == value))


@pytest.fixture
def journey(ctx: Context, cli, tmp_path: Path) -> dict:
    """The territory imported, persons hired, hours declared; returns the useful ids."""
    csv = tmp_path / "territoire.csv"
    csv.write_text(_csv(), encoding="utf-8")
    cli("import", str(csv))
    with ctx.db.session() as s:
        fac = f.user(s, Role.FACILITATEUR, display_name="Fanny Facil")
        eng = {name: s.scalar(select(Engagement.id).join(Company).where(Company.name == name))
               for name in ("+Bâtiment Plus", "Maçonnerie Sud", "@Jardins Solidaires",
                            "-Démolition Moins")}
        people = {}
        for key, (last, first, e, start) in {
            "ali": ("Ali", "Samir", "+Bâtiment Plus", dt.date(2025, 10, 1)),
            "bea": ("Bert", "Béa", "Maçonnerie Sud", dt.date(2026, 2, 2)),
            "cyd": ("Cyd", "Léa", "@Jardins Solidaires", dt.date(2026, 1, 5)),
            "dan": ("Dan", "Tom", "-Démolition Moins", dt.date(2026, 3, 2)),
        }.items():
            p = f.participant(s, last, first, validated_by=fac, proof_date=start)
            people[key] = f.contract(s, p, s.get(Engagement, eng[e]), start=start,
                                     end=None if key != "dan" else dt.date(2026, 11, 30)).id
        # Dan left for a CDI at the end of the market
        dan = s.get(Participant, s.get(Contract, people["dan"]).participant_id)
        dan.exit_situation = "cdi"
        dan.exit_date = dt.date(2026, 11, 30)
        boss = f.user(s, Role.ENTREPRISE, display_name="Cheffe Bâtiment",
                      company_id=s.get(Engagement, eng["+Bâtiment Plus"]).company_id)
        link(s, boss, 880_001)
        donneur_id = _ids(s, Donneur, Donneur.name, "Ville de Saint-Clair")
        referent = f.user(s, Role.REFERENT, display_name="Rita Référente", donneur_id=donneur_id)
        link(s, referent, 880_002)
        link(s, fac, 880_003)
        # the relationship: a procedure on Maçonnerie Sud, a launch meeting, the year's synthesis
        case = EscalationCase(engagement_id=eng["Maçonnerie Sud"],
                              state=EscalationState.RELANCE_ECRITE,
                              opened_at=dt.datetime(2026, 9, 1, 9, tzinfo=PARIS))
        s.add(case)
        s.flush()
        s.add_all([
            EscalationStep(case_id=case.id, from_state=None, to_state=EscalationState.OUVERT,
                           event="ouverture", at=dt.datetime(2026, 9, 1, 9, tzinfo=PARIS)),
            EscalationStep(case_id=case.id, from_state=EscalationState.OUVERT,
                           to_state=EscalationState.CONTACTE, event="contact",
                           at=dt.datetime(2026, 9, 8, 9, tzinfo=PARIS), note="appel du gérant"),
            Meeting(kind=MeetingKind.LANCEMENT,
                    market_id=_ids(s, Market, Market.reference, "2026-001"),
                    scheduled_at=dt.datetime(2026, 1, 20, 14, 30, tzinfo=PARIS),
                    location="Mairie"),
            QualitativeNote(donneur_id=donneur_id, written_on=dt.date(2026, 11, 20),
                            body="Partenariat solide ; deux embauches durables."),
        ])
        staff = Actor.from_user(fac, Channel.EMAIL)
    # hours, as the e-mail and chat channels record them (use case shared by both)
    months = {"ali": (dt.date(2026, 1, 1), 11, Decimal(20)),   # 220 h on a 100 h lot
              "bea": (dt.date(2026, 2, 1), 9, Decimal(10)),    # 90 h on a 300 h lot
              "cyd": (dt.date(2026, 1, 1), 10, Decimal(50)),   # 500 h on the reserved market
              "dan": (dt.date(2026, 3, 1), 8, Decimal(5))}     # 40 h on a 50 h lot, ended
    for key, (first, count, hours) in months.items():
        month = first
        for _ in range(count):
            if key == "ali" and month == dt.date(2026, 11, 1):
                break  # November comes through the chat below
            with ctx.db.session() as s:
                record_declaration(ctx, s, staff, contract_id=people[key], month=month,
                                   work_hours=hours, source=Channel.EMAIL)
            month = (month + dt.timedelta(days=32)).replace(day=1)
    _declare_in_chat(ctx, people["ali"], "2026-11", "20")
    with ctx.db.session() as s:
        # December is not over on 06/12: hours already written for it must not count yet
        s.add(HourDeclaration(contract_id=people["ali"], month=dt.date(2026, 12, 1),
                              work_hours=Decimal(7), training_hours=Decimal(0),
                              counted_hours=Decimal(7), source=Channel.EMAIL))
    return {"people": people, "eng": eng}


def _declare_in_chat(ctx: Context, contract_id: int, month: str, hours: str) -> None:
    core = ChatCore(ctx)
    ids = itertools.count(5000)

    def send(text=None, data=None):
        return core.handle(Incoming(Channel.TELEGRAM, chat_id=880_001, user_id=880_001,
                                    update_id=next(ids), text=text, callback_data=data))

    send("/declarer")
    send(data=f"d:ct:{contract_id}")
    send(data=f"d:m:{month}")
    send(hours)
    send("0")
    send(data="d:skip")
    with ctx.db.session() as s:
        token = s.scalar(select(ConversationState.data))["token"]
    out = send(data=f"d:ok:{token}")
    assert "Déclaration enregistrée" in "\n".join(r.text for r in out.replies)


def _chat(ctx: Context, user: int, text: str) -> str:
    out = ChatCore(ctx).handle(Incoming(Channel.TELEGRAM, chat_id=user, user_id=user,
                                        update_id=int(dt.datetime.now().timestamp() * 1e6) % 10**9,
                                        text=text))
    return "\n".join(r.text for r in out.replies)


def test_annual_bilan_of_the_current_year_as_a_buyer_reads_it(ctx, journey, cli, tmp_path):
    out = tmp_path / "bilans"
    cli("bilan", "--donneur", "Saint-Clair", "--annee", "2026", "--format", "html,xlsx,pdf",
        "--out", str(out))
    stem = "bilan-annuel-2026-ville-de-saint-clair"

    # --- HTML: one « as of », the headline per engagement, the reserved market apart
    soup = BeautifulSoup((out / f"{stem}.html").read_text(encoding="utf-8"), "html.parser")
    text = " ".join(soup.body.get_text(" ").split())
    assert text.count("Bilan annuel 2026") == 1  # the title is printed once
    assert "Chiffres au 30/11/2026 : dernier mois complet au 06/12/2026" in text
    assert "31/12/2026" not in text.replace("Fin 31/12/2026", "")  # no « as of » in the future
    figures = {tr.find_all("td")[0].get_text(" ", strip=True): tr.find_all("td")[1].get_text(
        strip=True) for tr in soup.find("h2", string="Chiffres clés").find_next("table")("tr")}
    # the year's months complete on 06/12: January to November, December's 7 h left out
    assert figures["Heures réalisées du 01/01/2026 au 30/11/2026"] == "850 h"
    # 100 (220 capped) + 90 + 40 = 230 h of 450 h owed; the 120 h beyond +Bâtiment Plus's
    # lot hide nothing
    assert figures["Heures dues (marchés avec clause)"] == "450 h"
    assert figures["Heures réalisées au 30/11/2026 depuis le début des marchés, dans la limite "
                   "de chaque engagement"] == "230 h"
    assert figures["Taux de réalisation des engagements au 30/11/2026"] == "51,1 %"
    assert figures["Heures restant dues (2 engagements non soldés)"] == "220 h"
    assert figures["Heures au-delà des engagements (1 engagement, non compensées)"] == "120 h"
    assert figures["Marchés réservés : heures réalisées au 30/11/2026 (suivies à part)"] == "500 h"
    assert figures["dont personnes entrées sur la période"] == "3"  # Ali started in 2025
    # identity of the agency from the settings
    assert "Maison de l'Emploi Test" in text and "69000 Lyon" in text
    assert "Convention AMO Insertion n° 2026-07 du 15/01/2026" in text
    assert "Le service Clauses sociales" in text
    # the company relationship, the results for persons, the synthesis
    assert "Relation avec les entreprises : réunions et démarches" in text
    assert "Réunion de lancement" in text and "Contact (téléphone, rencontre)" in text
    assert "appel du gérant" not in text  # the step's note stays inside the agency
    assert "Résultats et bénéfices pour les personnes" in text
    assert "Synthèse annuelle du partenariat" in text
    assert "Partenariat solide ; deux embauches durables." in text
    # --- XLSX: every text cell inert, per-engagement hours and rate, native charts
    wb = load_workbook(out / f"{stem}.xlsx")
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not cell.value.lstrip(" ").startswith(("=", "+", "-", "@")), (
                        ws.title, cell.coordinate, cell.value)
    status = {r[0].value: r[3].value for r in wb["Marchés"].iter_rows(min_row=5) if r[0].value}
    assert status["2026-003"] == "Terminé" and status["2026-001"] == "En cours"
    lots = wb["Lots"]
    header = [c.value for c in lots[4]]
    rows = {r[2].value.strip(): r for r in lots.iter_rows(min_row=5) if r[2].value}
    plus = rows["'+Bâtiment Plus"]
    assert plus[header.index("Réalisées du 01/01/2026 au 30/11/2026")].value == 220
    assert plus[header.index("Taux")].value == pytest.approx(2.2)
    assert plus[header.index("Au-delà")].value == 120
    assert rows["'-Démolition Moins"][header.index("Taux")].value == pytest.approx(0.8)
    assert lots._charts and wb["Heures par mois"]._charts and wb["Âge"]._charts

    # --- PDF: read back; the agency on page 1, no table header left alone at a page's foot
    reader = PdfReader(out / f"{stem}.pdf")
    pages = [" ".join(p.extract_text().split()) for p in reader.pages]
    assert "Maison de l'Emploi Test" in pages[0] and "Bilan annuel 2026" in pages[0]
    assert sum(p.count("Chiffres au 30/11/2026") for p in pages) == 1
    assert reader.pages[0].images  # the typology and hours charts are pictures


def test_chat_bilan_and_point_d_etape_say_each_date_once(ctx, journey):
    bilan = _chat(ctx, 880_002, "/bilan 2026")
    assert bilan.count("Bilan annuel 2026") == 1
    assert "Chiffres au 30/11/2026 : dernier mois complet au 06/12/2026" in bilan
    assert "Heures réalisées du 01/01/2026 au 30/11/2026 : 850 h" in bilan
    assert "230 h sur 450 h dues, dans la limite de chaque engagement" in bilan
    assert "Au-delà des engagements : 120 h (non compensées)" in bilan
    assert "Marché réservé (1 marché) : 500 h réalisées, suivies à part" in bilan
    assert "1 144" not in bilan and "156" not in bilan

    point = _chat(ctx, 880_002, "/point 2026-001")
    assert point.count("Point d'étape au 06/12/2026") == 1
    assert "Chiffres au 30/11/2026" in point
    assert "Statut du marché : en cours" in point
    # a market past its end date is « terminé »: its bilan is the final one, as of its end
    ended = _chat(ctx, 880_003, "/point 2026-003")
    assert ended.startswith("Bilan final synthétique — marché 2026-003")
    assert "Statut du marché : terminé" in ended
    assert "40 h sur 50 h dues" in ended


def test_point_d_etape_counts_only_months_before_its_date(ctx, journey, cli, tmp_path):
    # a point on 01/12 (a period ending on the 1st): November is complete, December is not
    result = cli("point", "--marche", "2026-001", "--date", "01/12/2026")
    assert "Chiffres au 30/11/2026 : dernier mois complet au 01/12/2026" in result.output
    assert "310 h" in result.output  # 220 + 90, not the 7 h of December
    # on the last day of a month, that month counts
    result = cli("point", "--marche", "2026-001", "--date", "30/11/2026")
    assert "Chiffres au 30/11/2026." in result.output and "310 h" in result.output
    # on 29/11, November is not over: October is the last month counted
    result = cli("point", "--marche", "2026-001", "--date", "29/11/2026")
    assert "Chiffres au 31/10/2026 : dernier mois complet au 29/11/2026" in result.output
    assert "290 h" in result.output  # 200 (January to October) + 90


def test_annual_bilan_of_a_past_year_is_as_of_its_31_december(ctx, journey, cli):
    result = cli("bilan", "--donneur", "Saint-Clair", "--annee", "2025")
    assert "Chiffres au 31/12/2025." in result.output
    assert "06/12/2026" not in result.output


def test_a_bilan_of_a_year_to_come_is_refused_in_french(ctx, journey, cli):
    result = CliRunner().invoke(main, ["bilan", "--donneur", "Saint-Clair", "--annee", "2027"])
    assert result.exit_code == 1
    assert "Période à venir" in result.output and "choisissez une période passée" in result.output


def test_chat_bilan_without_a_donneur_lists_the_donneurs_to_type(ctx, journey):
    # the facilitator did not say whose bilan: the chat names the donneurs it may read
    answer = _chat(ctx, 880_003, "/bilan 2026")
    assert answer == ("Précisez le donneur d'ordre : /bilan 2026 <nom>. "
                      "Donneurs : Ville de Saint-Clair.")
    # an unknown market reference for /point is refused, not guessed
    assert "2026-999" in _chat(ctx, 880_003, "/point 2026-999")
