"""`clausebot import`: the example territory, bad files, idempotence, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from storage.db import Database
from storage.models import (
    AuditEntry,
    Company,
    CompanyKind,
    Contact,
    Donneur,
    Engagement,
    EngagementMeans,
    Lot,
    Market,
    MarketKind,
)
from tests.cli.conftest import EXAMPLES, Run, table_counts

EXAMPLE = EXAMPLES / "import_exemple.csv"


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_example_import_then_lists_show_the_territory(cli: Run, db: Database) -> None:
    result = cli("import", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert "Import terminé. 7 ligne(s) lue(s)" in result.output

    with db.session() as s:
        donneur = s.scalar(select(Donneur))
        assert donneur is not None and donneur.name == "Ville d'Oullins"
        markets = {m.reference: m for m in s.scalars(select(Market))}
        assert set(markets) == {"2025-017", "2025-031", "2025-044"}
        assert markets["2025-031"].kind == MarketKind.CRITERE_ATTRIBUTION
        assert markets["2025-017"].amount_ht == Decimal("2400000")
        lots = {(lt.market.reference, lt.number): lt for lt in s.scalars(select(Lot))}
        # Lot 2 is the public worked example: 1 000 000 € × 50 % × 5 % ÷ 30 €/h = 833 h.
        assert lots[("2025-017", 2)].hours_owed == Decimal(833)
        assert lots[("2025-017", 2)].trade == "maconnerie"
        assert lots[("2025-017", 5)].hours_owed == Decimal(210)  # given in the file
        assert lots[("2025-044", 1)].hours_owed == Decimal(0)  # reserved market, no trade
        companies = {c.siret: c for c in s.scalars(select(Company))}
        assert len(companies) == 7
        assert companies["82195345200413"].name == "BTP Rhône-Confluent"  # typed with spaces
        assert companies["84244774000775"].kind == CompanyKind.ETTI
        engagements = {(e.lot.number, e.company.siret): e for e in s.scalars(select(Engagement))}
        assert len(engagements) == 6
        assert engagements[(2, "82195345200413")].hours_owed == Decimal(633)
        assert engagements[(2, "84944656200837")].means == EngagementMeans.ETTI
        assert engagements[(1, "87747513700577")].hours_owed == Decimal(293)  # = lot's hours
        contact = s.scalar(select(Contact).where(Contact.email == "rh@btp-rhone-confluent.example"))
        assert contact is not None and contact.name == "Sophie MARTIN"
        audit = s.scalar(select(AuditEntry).where(AuditEntry.action == "import_csv"))
        assert audit is not None and audit.detail["fichier"] == "import_exemple.csv"

    markets_out = cli("marche", "list").output
    for text in ("2025-017", "Réhabilitation du groupe scolaire Jules Ferry", "833 h",
                 "BTP Rhône-Confluent, Maçonnerie Saint-Genis", "2025-044", "marché réservé",
                 "Total : 1 336 h"):
        assert text in markets_out
    companies_out = cli("entreprise", "list").output
    assert "821 953 452 00413" in companies_out and "Tremplin Intérim Insertion" in companies_out
    donneurs_out = cli("donneur", "list").output
    assert "Ville d'Oullins" in donneurs_out
    engagements_out = cli("engagement", "list", "--marche", "2025-017").output
    assert "633 h" in engagements_out and "Paysages de la Saulaie" not in engagements_out
    by_company = cli("engagement", "list", "--entreprise", "821 953 452 00413").output
    assert "BTP Rhône-Confluent" in by_company and "Peintures du Pilat" not in by_company


def test_reimport_is_idempotent(cli: Run, db: Database) -> None:
    assert cli("import", str(EXAMPLE)).exit_code == 0
    before = table_counts(db)
    second = cli("import", str(EXAMPLE))
    assert second.exit_code == 0, second.output
    after = table_counts(db)
    assert after.pop("audit_log") == before.pop("audit_log") + 1  # the import itself is logged
    assert after == before
    # Every entity reported unchanged: 0 created, 0 modified.
    for label, n in (("donneurs d'ordre", 1), ("marchés", 3), ("lots", 5), ("entreprises", 7),
                     ("engagements", 6)):
        line = next(ln for ln in second.output.splitlines() if ln.startswith(label))
        assert line.split()[-3:] == ["0", "0", str(n)], line


def test_dry_run_validates_and_writes_nothing(cli: Run, db: Database) -> None:
    before = table_counts(db)
    result = cli("import", str(EXAMPLE), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "rien n'a été écrit" in result.output
    assert next(ln for ln in result.output.splitlines() if ln.startswith("marchés")).split() \
        == ["marchés", "3", "0", "0"]
    assert table_counts(db) == before


def test_reimport_updates_changed_values_and_empty_cells_erase_nothing(
        cli: Run, db: Database, tmp_path: Path) -> None:
    assert cli("import", str(EXAMPLE)).exit_code == 0
    path = _write(tmp_path, "maj.csv",
                  "donneur;marche_ref;marche_intitule;date_fin;lot_numero;siret;heures_engagement\n"
                  "ville d’oullins;2025-031;Espaces verts (avenant 1);31/12/2027;1;"
                  "880 585 179 00703;500\n")
    result = cli("import", str(path))
    assert result.exit_code == 0, result.output
    assert "Attention : Lot 1 du marché 2025-031" in result.output  # 500 h > 450 h owed
    with db.session() as s:
        market = s.scalar(select(Market).where(Market.reference == "2025-031"))
        assert market is not None
        assert market.title == "Espaces verts (avenant 1)"
        assert market.end_date.year == 2027
        assert market.amount_ht == Decimal("450000")  # empty cell: unchanged
        assert market.procedure == "MAPA"
        eng = s.scalar(select(Engagement).join(Company).where(Company.siret == "88058517900703"))
        assert eng is not None and eng.hours_owed == Decimal(500)
        assert s.scalar(select(Lot).where(Lot.market_id == market.id)).hours_owed == Decimal(450)


BAD_FILE = """\
donneur,type_donneur,marche_ref,marche_intitule,type_marche,date_debut,date_fin,lot_numero,montant_lot_ht,heures_insertion,entreprise,siret
Ville de Pierre-Bénite,ville,P-001,Voirie,clause_execution,01/03/2025,31/12/2025,1,"120 000,00",150,Routes du Sud,821 953 452 00414
Ville de Pierre-Bénite,,P-002,Écoles,clause_execution,01/03/2025,31/12/2025,1,"-5 000",100,,
Ville de Pierre Benit,,P-003,Gymnase,clause_execution,01/03/2025,31/12/2025,1,,100,,
Ville de Pierre-Bénite,,P-004,Crèche,clause_execution,le 3 mars,31/12/2025,1,,100,,
Ville de Pierre-Bénite,,P-005,Piscine,clause_execution,01/09/2025,01/03/2025,1,,100,,
Ville de Pierre-Bénite,,P-006,Mairie,clause_sociale,01/03/2025,31/12/2025,1,,100,,
Ville de Pierre-Bénite,,P-007,Médiathèque,clause_execution,01/03/2025,31/12/2025,1,,120,Bâti Sud,849 446 562 00837
"""

EXPECTED_ERRORS = {
    2: ("siret", "SIRET invalide « 821 953 452 00414 »"),
    3: ("montant_lot_ht", "Montant négatif « -5 000 »"),
    4: ("donneur", "donneur d'ordre inconnu « Ville de Pierre Benit »"),
    5: ("date_debut", "date illisible « le 3 mars »"),
    6: ("date_fin", "la fin (01/03/2025) est avant le début (01/09/2025)"),
    7: ("type_marche", "type de marché inconnu « clause_sociale »"),
}


def test_bad_file_reports_every_line_and_writes_nothing(
        cli: Run, db: Database, tmp_path: Path) -> None:
    assert cli("import", str(EXAMPLE)).exit_code == 0
    before = table_counts(db)
    path = _write(tmp_path, "erreurs.csv", BAD_FILE)
    result = cli("import", str(path))
    assert result.exit_code == 1
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Ligne ")]
    assert len(errors) == len(EXPECTED_ERRORS), result.stderr
    for line_no, (column, reason) in EXPECTED_ERRORS.items():
        assert any(e.startswith(f"Ligne {line_no} [{column}] : ") and reason in e
                   for e in errors), (line_no, errors)
    assert "6 erreur(s) sur 6 ligne(s). Rien n'a été importé" in result.stderr
    assert table_counts(db) == before  # line 8 was valid, but nothing at all is written
    with db.session() as s:
        assert s.scalar(select(Market).where(Market.reference == "P-007")) is None
        assert s.scalar(select(Donneur).where(Donneur.name == "Ville de Pierre-Bénite")) is None


def test_dry_run_of_a_bad_file_reports_the_same_errors(
        cli: Run, db: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, "erreurs.csv", BAD_FILE)
    result = cli("import", str(path), "--dry-run")
    assert result.exit_code == 1
    assert sum(ln.startswith("Ligne ") for ln in result.stderr.splitlines()) == 6
    assert table_counts(db)["donneurs"] == 0


def test_windows_1252_file_is_refused_with_how_to_resave(
        cli: Run, db: Database, tmp_path: Path) -> None:
    text = EXAMPLE.read_bytes().decode("utf-8-sig")
    path = tmp_path / "excel_ansi.csv"
    path.write_bytes(text.encode("cp1252"))
    before = table_counts(db)
    result = cli("import", str(path))
    assert result.exit_code == 1
    message = result.stderr
    assert "n'est pas encodé en UTF-8" in message
    assert "à la ligne 2" in message  # "Réhabilitation" on the first data line
    assert "windows-1252" in message
    assert "Enregistrer sous" in message and "CSV UTF-8" in message
    assert "Rien n'a été importé" in message
    assert table_counts(db) == before


def test_comma_file_without_bom_and_other_line_problems(
        cli: Run, db: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, "virgules.csv",
                  "Donneur,Type donneur,Marché ref,Marché intitulé,Type marché,Date début,"
                  "Date fin,Lot numéro,Heures insertion,SIRET,Entreprise\n"
                  "Ville de Saint-Genis-Laval,ville,SGL-1,Stade,marche_insertion,2025-01-01,"
                  "2025-12-31,1,,,\n"
                  "\n"
                  "Ville de Saint-Genis-Laval,,SGL-1,Stade couvert,,,,,,,\n"
                  "Ville de Saint-Genis-Laval,,SGL-2,Gymnase,clause_execution,01/01/2025,"
                  "31/12/2025,1,,,\n"
                  ",,,,,,,,,82195345200413,\n"
                  "Ville de Saint-Genis-Laval,,SGL-1,,,,,1,,,,en trop\n")
    result = cli("import", str(path))
    assert result.exit_code == 1
    err = result.stderr
    assert "Ligne 4 [marche_intitule] : « Stade couvert » contredit « Stade » donné ligne 2" in err
    assert "Ligne 5 [heures_insertion] : lot 1 du marché SGL-2" in err
    assert "Ligne 6 [entreprise] : entreprise 82195345200413 inconnue" in err
    assert "Ligne 7 : 12 valeurs pour 11 colonnes" in err
    assert table_counts(db)["markets"] == 0


def test_unknown_column_and_spreadsheet_file_are_refused(
        cli: Run, db: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, "colonnes.csv", "donneur;heure_insertion\nVille;12\n")
    result = cli("import", str(path))
    assert result.exit_code == 1
    assert "Colonne(s) inconnue(s) dans l'en-tête : « heure_insertion »" in result.stderr
    xlsx = tmp_path / "classeur.csv"
    xlsx.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    result = cli("import", str(xlsx))
    assert result.exit_code == 1 and "classeur (XLSX/ODS)" in result.stderr
    assert table_counts(db)["donneurs"] == 0


def test_facilitator_column_assigns_market_and_company(
        cli: Run, db: Database, tmp_path: Path) -> None:
    assert cli("facilitateur", "create", "--nom", "Fanny Morel",
               "--email", "fanny.morel@agence.example").exit_code == 0
    path = _write(tmp_path, "fac.csv",
                  "donneur;type_donneur;marche_ref;marche_intitule;type_marche;date_debut;"
                  "date_fin;facilitateur;lot_numero;heures_insertion;entreprise;siret\n"
                  "Ville d'Irigny;ville;IR-1;Voirie;clause_execution;01/01/2025;31/12/2025;"
                  "Fanny.Morel@agence.example;1;300;Routes du Sud;820 550 044 00755\n"
                  "Ville d'Irigny;;IR-2;Parc;clause_execution;01/01/2025;31/12/2025;"
                  "inconnu@agence.example;1;100;;\n")
    result = cli("import", str(path))
    assert result.exit_code == 1
    assert "Ligne 3 [facilitateur] : aucun·e facilitateur·rice avec l'e-mail" in result.stderr
    path.write_text(path.read_text().splitlines()[0] + "\n" + path.read_text().splitlines()[1]
                    + "\n")
    assert cli("import", str(path)).exit_code == 0
    listing = cli("facilitateur", "list").output
    row = next(ln for ln in listing.splitlines() if "Fanny Morel" in ln)
    assert row.split()[-2:] == ["1", "1"]  # one market, one company in her portfolio


def test_every_line_naming_an_unknown_donneur_is_reported(db: Database) -> None:
    from clauses.importing import import_csv
    from clauses.rulebook import load_rulebook

    data = (b"donneur;marche_ref;marche_intitule;type_marche;date_debut;date_fin\n"
            b"Ville d'Oulins;A-1;Voirie;marche_insertion;01/01/2025;31/12/2025\n"
            b"Ville d'Oulins;A-2;Parc;marche_insertion;01/01/2025;31/12/2025\n")
    with db.session() as s:
        result = import_csv(s, data, rulebook=load_rulebook("default"))
    assert not result.ok and not result.counts
    assert [(e.line, e.column) for e in result.errors] == [(2, "donneur"), (3, "donneur")]
    assert all("donneur d'ordre inconnu « Ville d'Oulins »" in e.message for e in result.errors)
    assert table_counts(db)["markets"] == 0


def test_an_import_sets_a_market_qpv_share_and_refuses_a_wrong_one(
        cli: Run, db: Database, tmp_path: Path) -> None:
    assert cli("import", str(EXAMPLE)).exit_code == 0
    ok = _write(tmp_path, "anru.csv", "donneur;marche_ref;part_heures_qpv\n"
                                      "Ville d'Oullins;2025-031;5 %\n")
    result = cli("import", str(ok))
    assert result.exit_code == 0, result.output
    bad = _write(tmp_path, "anru-faux.csv", "donneur;marche_ref;part_heures_qpv\n"
                                            "Ville d'Oullins;2025-017;cinq pour cent\n")
    refused = cli("import", str(bad))
    assert refused.exit_code == 1 and "part_heures_qpv" in refused.output, refused.output
    with db.session() as s:
        shares = dict(s.execute(select(Market.reference, Market.qpv_hours_share_min)).all())
    assert shares["2025-031"] == Decimal("0.0500") and shares["2025-017"] is None
