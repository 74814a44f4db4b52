"""History files a facilitator really sends: other shapes, other encodings, and mistakes.

Each file goes through `clausebot historique importer` on a territory loaded by the CLI; a
refused file writes nothing and names every bad line with its reason.
"""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import select

from storage.db import Database
from storage.models import Contract, HourDeclaration, Participant
from tests.cli.conftest import Run
from tests.history.test_history_journey import counts, load_territory

HEADER = ("nom;prénom;date de naissance;genre;commune;qpv;critère;date du justificatif;"
          "validé par;marché;lot;entreprise;type de contrat;début;fin;mois;heures travail;"
          "heures formation;sortie;date de sortie")
FANNY = "fanny.morel@agence.example"


def line(last: str = "MARTIN", first: str = "Julie", birth: str = "12/03/1998", *,
         market: str = "2025-017", lot: str = "1", company: str = "Démolition Lyonnaise Sud",
         kind: str = "CDD", start: str = "03/03/2025", end: str = "15/06/2025",
         month: str = "03/2025", work: str = "140", exit_: str = "", exit_date: str = "") -> str:
    return ";".join([last, first, birth, "F", "Oullins", "oui", "deld", "15/01/2025", FANNY,
                     market, lot, company, kind, start, end, month, work, "", exit_, exit_date])


def write(tmp_path: Path, name: str, *lines: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(("\n".join((HEADER, *lines)) + "\n").encode(encoding))
    return str(path)


def test_two_birth_dates_for_one_name_and_contract_are_refused_and_nothing_written(
        cli: Run, db: Database, tmp_path: Path) -> None:
    load_territory(cli)
    before = counts(db)
    path = write(tmp_path, "h.csv", line(month="03/2025"), line(birth="13/03/1998", month="04/2025"),
                 line("DIALLO", "Moussa", "05/07/1990", lot="2", company="BTP Rhône-Confluent",
                      kind="CDI", start="01/04/2025", end="", month="04/2025"))
    result = cli("historique", "importer", path)
    assert result.exit_code != 0
    assert "ligne 3 : MARTIN Julie a deux dates de naissance pour le même contrat" in result.output
    assert "12/03/1998 ligne 2, 13/03/1998 ici" in result.output
    assert "Rien n'a été importé" in result.output
    assert counts(db) == before  # DIALLO's good line was not written either


def test_hours_outside_a_contract_ending_mid_month_are_refused_by_line(
        cli: Run, db: Database, tmp_path: Path) -> None:
    """Contract 03/03–15/06: March (starts on the 3rd) and June (ends on the 15th) are in it,
    February and July are not."""
    load_territory(cli)
    before = counts(db)
    path = write(tmp_path, "h.csv", line(month="02/2025"), line(month="03/2025"),
                 line(month="06/2025"), line(month="07/2025"))
    result = cli("historique", "importer", path)
    assert result.exit_code != 0
    assert "ligne 2 : Heures de 02/2025 hors du contrat (du 03/03/2025 au 15/06/2025)" in result.output
    assert counts(db) == before
    ok = write(tmp_path, "ok.csv", line(month="03/2025"), line(month="06/2025", work="70"),
               line(month="06/2025", work="70", exit_="recherche_emploi", exit_date="15/06/2025"))
    result = cli("historique", "importer", ok)
    assert result.exit_code == 0, result.output
    with db.session() as s:
        assert s.scalars(select(HourDeclaration.work_hours).order_by(HourDeclaration.month)).all() == [140, 70]
        julie = s.scalar(select(Participant))
        assert julie is not None and julie.exit_date is not None and julie.exit_date.day == 15


def test_refusals_of_the_live_rules_are_reported_with_their_line(
        cli: Run, db: Database, tmp_path: Path) -> None:
    load_territory(cli)
    before = counts(db)
    path = write(
        tmp_path, "h.csv",
        line(company="Peintures du Pilat"),                       # not on lot 1
        line("A", "B", "01/01/1990", start="01/01/2025", end="31/03/2025"),  # before the market
        line("C", "D", "01/01/1991", kind="CDI", end="31/12/2025"),  # a CDI with an end
        line("E", "F", "01/01/1992", month="05/2025", work="250"),  # above the legal maximum
        line("G", "H", "01/01/1993", exit_="cdi", exit_date="10/05/2025"),  # still under contract
        line("I", "J", "31/02/1990"),
    )
    result = cli("historique", "importer", path)
    assert result.exit_code != 0
    out = result.output
    assert "ligne 2 : Entreprise « Peintures du Pilat » sans engagement sur le marché 2025-017 lot 1" in out
    assert "ligne 3 : Les dates doivent être dans l'exécution du marché 2025-017 lot 1" in out
    assert "ligne 4 : Un CDI n'a pas de date de fin prévue" in out
    assert "ligne 5 : 250 h en mai 2025 dépasse le maximum légal" in out
    assert "ligne 6 : G H est encore sous contrat le 10/05/2025" in out
    assert "ligne 7 : Date de naissance : date inexistante « 31/02/1990 »" in out
    assert "6 erreur(s) sur 6 ligne(s)" in out
    assert counts(db) == before


def test_windows_1252_file_is_read_with_its_accents(cli: Run, db: Database, tmp_path: Path) -> None:
    load_territory(cli)
    path = write(tmp_path, "excel.csv", line("LÉGER", "Anaïs", "02/02/2000"), encoding="cp1252")
    result = cli("historique", "importer", path)
    assert result.exit_code == 0, result.output
    with db.session() as s:
        person = s.scalar(select(Participant))
        assert person is not None and (person.last_name, person.first_name) == ("LÉGER", "Anaïs")


def test_months_as_columns_in_xlsx_then_a_csv_extending_it_adds_only_the_new_month(
        cli: Run, db: Database, tmp_path: Path) -> None:
    load_territory(cli)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    columns = [*HEADER.split(";")[:15], "janv. 2025", "02/2025", "mars 2025", "04/2025"]
    sheet.append(columns)
    sheet.append(["MARTIN", "Julie", "12/03/1998", "F", "Oullins", "oui", "deld", "15/01/2025",
                  FANNY, "2025-017", 1, "Démolition Lyonnaise Sud", "CDD", "03/02/2025",
                  "30/04/2025", None, 120, 130.5, 140])
    data = io.BytesIO()
    book.save(data)
    xlsx = tmp_path / "grille.xlsx"
    xlsx.write_bytes(data.getvalue())
    result = cli("historique", "importer", str(xlsx))
    assert result.exit_code == 0, result.output
    with db.session() as s:
        stored = s.execute(select(HourDeclaration.month, HourDeclaration.work_hours)
                           .order_by(HourDeclaration.month)).all()
        assert [(m.month, float(h)) for m, h in stored] == [(2, 120.0), (3, 130.5), (4, 140.0)]
    before = counts(db)
    extension = write(tmp_path, "suite.csv",
                      line(start="03/02/2025", end="30/04/2025", month="04/2025", work="140"),
                      line("DIALLO", "Moussa", "05/07/1990", lot="2", company="BTP Rhône-Confluent",
                           kind="CDI", start="01/04/2025", end="", month="04/2025"))
    result = cli("historique", "importer", extension)
    assert result.exit_code == 0, result.output
    after = counts(db)
    assert after["participants"] == before["participants"] + 1
    assert after["contracts"] == before["contracts"] + 1
    assert after["hour_declarations"] == before["hour_declarations"] + 1
    with db.session() as s:
        assert s.scalar(select(Contract.id).where(Contract.end_date.is_(None))) is not None


def test_changed_hours_for_an_imported_month_are_refused_not_overwritten(
        cli: Run, db: Database, tmp_path: Path) -> None:
    load_territory(cli)
    assert cli("historique", "importer", write(tmp_path, "a.csv", line())).exit_code == 0
    before = counts(db)
    result = cli("historique", "importer", write(tmp_path, "b.csv", line(work="150")))
    assert result.exit_code != 0
    assert "ligne 2 :" in result.output and "déjà" in result.output
    assert counts(db) == before


def test_unreadable_header_is_refused_with_the_expected_columns(cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("nom;prenom;naissance\nA;B;01/01/1990\n", encoding="utf-8")
    result = cli("historique", "importer", str(path))
    assert result.exit_code != 0
    assert "Colonne(s) inconnue(s) : « naissance »" in result.output
