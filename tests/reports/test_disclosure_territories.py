"""Small territories (1, 2, 3, 5 persons): nothing a référent receives gives a masked cell away.

The territory comes from the CLI import of a buyer's spreadsheet (donneur, market, lots,
companies); the persons, contracts and hours are added with factories. Then the référent's
outputs are rendered — the spreadsheet (typed cells), the HTML e-mail and the chat summary — and
an attacker works only from them: every typology table is solved against its exact total
(every value each masked cell can take), contract-type hours, per-company counts and the QPV
line are matched against the other tables. None of the persons' attributes can be recovered;
the internal (facilitator) outputs carry the exact figures.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select

from clausebot.cli import main
from clauses.bilan import annual_figures, market_figures
from clauses.formatting import fr_hours
from reports import render_chat, render_html, render_xlsx
from reports.disclosure import SECONDARY_TEXT, WITHHELD_TEXT
from storage.models import Donneur, Engagement, Lot, Market, Role, User
from tests import factories as f
from tests.privacy._world import declaration
from tests.reports.attack import possible_values

SIRETS = [f.make_siret(n) for n in (8101, 8102)]
CSV = (
    "donneur;type_donneur;marche_ref;marche_intitule;type_marche;date_debut;date_fin;"
    "lot_numero;lot_intitule;heures_insertion;entreprise;siret;type_entreprise;"
    "heures_engagement;moyen\n"
    f"Ville de Petiteville;ville;2025-090;École du bourg;clause_execution;01/01/2025;31/12/2025;"
    f"1;Gros œuvre;400;Bâti Alpha;{SIRETS[0]};ordinaire;400;embauche_directe\n"
    f"Ville de Petiteville;;2025-090;;;;;2;Peinture;300;Couleurs Beta;{SIRETS[1]};ordinaire;300;"
    "embauche_directe\n"
)
PERSONS = [  # last name, gender, commune, qpv, status, birth, contract type, lot, monthly hours
    ("Alpha", "F", "Oullins", True, "deld", dt.date(2002, 4, 1), "cdd", 1, 30),
    ("Bravo", "M", "Givors", False, "rsa", dt.date(1980, 6, 1), "interim", 2, 35),
    ("Charlie", "F", "Oullins", False, "deld", dt.date(1990, 1, 1), "cdi", 1, 40),
    ("Delta", "M", "Grigny", True, "rsa", dt.date(1965, 2, 1), "cdd", 2, 15),
    ("Echo", "F", "Oullins", False, "deld", dt.date(1995, 3, 1), "cdd", 1, 20),
]
TYPOLOGY = ("Âge", "Genre", "Commune", "QPV", "Statut à l'entrée")
AT = dt.date(2025, 6, 30)


@pytest.fixture
def cli(db, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CLAUSEBOT_DATABASE_URL", db.url)
    monkeypatch.setenv("CLAUSEBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CLAUSEBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return run


def _territory(db, cli, tmp_path: Path, rulebook, persons: int):
    (tmp_path / "import.csv").write_text(CSV, encoding="utf-8")
    cli("import", str(tmp_path / "import.csv"))
    with db.session() as s:
        market = s.scalar(select(Market).where(Market.reference == "2025-090"))
        engagements = {lot: s.scalar(select(Engagement).join(Lot).where(
            Lot.market_id == market.id, Lot.number == lot)) for lot in (1, 2)}
        market.qpv_hours_share_min = Decimal("0.05")  # an ANRU operation (not in the import)
        fac = User(display_name="Fanny", role=Role.FACILITATEUR)
        s.add(fac)
        s.flush()
        for last, gender, commune, qpv, status, birth, kind, lot, hours in PERSONS[:persons]:
            p = f.participant(s, last, "Test", birth=birth, validated_by=fac, gender=gender,
                              commune=commune, qpv=qpv, criterion=status)
            k = f.contract(s, p, engagements[lot], contract_type=kind,
                           start=dt.date(2025, 1, 6))
            for month in (1, 2, 3):
                declaration(s, k, dt.date(2025, month, 1), hours)
        s.commit()
        donneur = s.scalar(select(Donneur.id).where(Donneur.name == "Ville de Petiteville"))
        return (market_figures(s, market.id, AT, rulebook),
                annual_figures(s, donneur, dt.date(2025, 1, 1), dt.date(2025, 12, 31),
                               rulebook))


def _sheets(xlsx: bytes) -> dict[str, list[tuple]]:
    """What the référent's spreadsheet says: sheet -> its rows of cell values."""
    wb = load_workbook(io.BytesIO(xlsx))
    return {ws.title: [r for r in ws.iter_rows(values_only=True) if r[0]]
            for ws in wb.worksheets}


def _table(rows: list[tuple], header: str) -> tuple[dict[str, list], list | None]:
    """The body (label -> values) between the header row and the « Total » row, and the total."""
    start = next(i for i, r in enumerate(rows)
                 if r[0] == header and len(r) > 1 and isinstance(r[1], str)) + 1
    body: dict[str, list] = {}
    for r in rows[start:]:
        if r[0] == "Total":
            return body, list(r[1:])
        body[str(r[0])] = list(r[1:])
    return body, None


def _attack(sheets: dict[str, list[tuple]], persons: int) -> None:
    for key in TYPOLOGY:
        body, total_row = _table(sheets[key], TYPOLOGY_HEADERS[key])
        total = total_row[0]
        assert total == persons  # the total stays exact
        categories = {label: v[0] for label, v in body.items()}
        if WITHHELD_TEXT in categories:  # no category named, no figure: nothing to solve
            assert len(categories) == 1, (key, categories)
            continue
        cells = list(categories.values())
        assert all(isinstance(c, str) or c >= 3 or c == 0 for c in cells), (key, categories)
        for values in possible_values(cells, total).values():
            assert len(values) >= 2, (key, categories)
    # contract types: a row with masked counts has masked hours, and never alone
    types = _table(sheets["Types de contrat"], "Type de contrat")[0]
    masked_rows = [v for v in types.values() if isinstance(v[0], str) or isinstance(v[1], str)]
    assert all(isinstance(v[2], str) for v in masked_rows), types
    assert len(masked_rows) != 1 or WITHHELD_TEXT in types
    # per company: no exact count of 1 or 2 persons beside the company's hours
    companies = _table(sheets["Entreprises"], "Entreprise")[0]
    for name, v in companies.items():
        assert isinstance(v[8], str) or v[8] == 0 or v[8] >= 3, (name, v)


TYPOLOGY_HEADERS = {"Âge": "Tranche d'âge", "Genre": "Genre", "Commune": "Commune",
                    "QPV": "Résidence", "Statut à l'entrée": "Statut"}


@pytest.mark.parametrize("persons", [1, 2, 3, 5])
def test_nothing_a_referent_receives_gives_a_small_cell_away(db, cli, tmp_path, rulebook,
                                                             persons):
    point, annual = _territory(db, cli, tmp_path, rulebook, persons)
    qpv_persons = sum(1 for p in PERSONS[:persons] if p[3])
    assert point.persons == annual.persons == persons and point.qpv.persons == qpv_persons
    for fig in (point, annual):
        sheets = _sheets(render_xlsx(fig, "externe"))
        _attack(sheets, persons)
        # the facilitator's copy is exact: every person is where she is
        internal = _sheets(render_xlsx(fig, "interne"))
        genders, _ = _table(internal["Genre"], "Genre")
        assert sum(v[0] for v in genders.values()) == persons
        assert all(isinstance(v[0], int) for v in genders.values())
        assert SECONDARY_TEXT not in str(internal) and "< 3" not in str(internal)
    # QPV hours of the point d'étape: one or two residents' own hours are not shown anywhere
    hours = fr_hours(point.qpv.hours)
    mail = render_html(point, "externe")
    chat = render_chat(point, "externe")
    qpv_line = next(line for line in chat.splitlines() if "QPV" in line)
    key_line = next(line for line in mail.text.splitlines()
                    if line.strip().startswith("dont réalisées par des résident·es QPV"))
    if 0 < qpv_persons < 3 or persons < 3:
        assert hours not in key_line and "non diffusé" in key_line, key_line
        assert hours not in qpv_line
    else:
        assert hours in key_line and hours in qpv_line
    if persons < 3:  # whether 1 or 2 persons live in a QPV: not even the verdict
        assert "atteint" not in qpv_line
    else:
        assert "atteint" in qpv_line
    assert hours in render_html(point, "interne").text
    # no person's attribute label of a withheld table reaches the e-mail either
    if persons <= 2:
        for label in ("Moins de 26 ans", "Givors", "Grigny", "Résident QPV"):
            assert label not in mail.text and label not in chat
