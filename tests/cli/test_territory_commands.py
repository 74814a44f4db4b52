"""The create/list commands of donneurs, markets, lots, companies, engagements, facilitators."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from storage.db import Database
from storage.models import (
    AuditEntry,
    Company,
    CompanyKind,
    Contact,
    Donneur,
    DonneurKind,
    Engagement,
    Lot,
    Market,
    Role,
    User,
)
from tests.cli.conftest import Run, table_counts


def _territory(cli: Run) -> None:
    """Donneur, facilitator, market, lot and company created through the commands."""
    steps = [
        ("donneur", "create", "--nom", "Ville d'Oullins", "--type", "ville",
         "--siret", "216 901 496 00010"),
        ("facilitateur", "create", "--nom", "Fanny Morel", "--email", "fanny.morel@agence.example"),
        ("marche", "create", "--donneur", "ville d’oullins", "--ref", "2025-017",
         "--intitule", "Réhabilitation groupe scolaire", "--type", "clause_execution",
         "--montant", "1 000 000,50", "--notification", "15/01/2025", "--debut", "03/02/2025",
         "--fin", "2026-06-30", "--facilitateur", "fanny.morel@agence.example"),
        ("lot", "create", "--marche", "2025-017", "--numero", "2", "--corps-etat", "Maçonnerie",
         "--montant", "1 000 000"),
        ("entreprise", "create", "--nom", "BTP Rhône-Confluent", "--siret", "821 953 452 00413",
         "--email", "RH@btp-rhone-confluent.example", "--contact", "Sophie MARTIN",
         "--facilitateur", "fanny.morel@agence.example"),
    ]
    for args in steps:
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)


def test_create_commands_build_a_territory(cli: Run, db: Database) -> None:
    _territory(cli)
    result = cli("engagement", "create", "--marche", "2025-017", "--lot", "2",
                 "--entreprise", "btp rhone-confluent", "--heures", "633,5", "--moyen", "geiq")
    assert result.exit_code == 0, result.output
    assert "BTP Rhône-Confluent doit 633,5 h sur le lot 2 du marché 2025-017" in result.output
    with db.session() as s:
        donneur = s.scalar(select(Donneur))
        assert donneur is not None
        assert (donneur.kind, donneur.siret) == (DonneurKind.VILLE, "21690149600010")
        market = s.scalar(select(Market))
        assert market is not None and market.amount_ht == Decimal("1000000.50")
        fac = s.scalar(select(User).where(User.role == Role.FACILITATEUR))
        assert fac is not None and market.facilitator_id == fac.id
        lot = s.scalar(select(Lot))
        assert lot is not None
        assert (lot.trade, lot.hours_owed, lot.label) == ("maconnerie", Decimal(833), "Maçonnerie")
        company = s.scalar(select(Company))
        assert company is not None
        assert (company.siret, company.kind, company.facilitator_id) == (
            "82195345200413", CompanyKind.ORDINAIRE, fac.id)
        contact = s.scalar(select(Contact))
        assert contact is not None and contact.email == "rh@btp-rhone-confluent.example"
        eng = s.scalar(select(Engagement))
        assert eng is not None and eng.hours_owed == Decimal("633.5")
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "facilitateur_cree"))

    lots_out = cli("marche", "list").output
    assert "Réhabilitation groupe scolaire" in lots_out and "facilitateur·rice : Fanny Morel" \
        in lots_out and "maçonnerie" in lots_out and "833 h" in lots_out
    fac_out = cli("facilitateur", "list").output
    assert next(ln for ln in fac_out.splitlines() if "Fanny" in ln).split()[-2:] == ["1", "1"]
    eng_out = cli("engagement", "list").output
    assert "633,5 h" in eng_out and "geiq" in eng_out


def test_lot_create_reports_the_chiffrage(cli: Run) -> None:
    _territory(cli)
    result = cli("lot", "create", "--marche", "2025-017", "--numero", "3",
                 "--corps-etat", "peinture_interieure", "--montant", "180 000")
    assert result.exit_code == 0, result.output
    # 180 000 × 70 % × 5 % ÷ 30 = 210 h
    assert "210 h d'insertion dues" in result.output
    assert "Chiffrage : 180 000,00 € HT × 70 %" in result.output


def test_create_commands_refuse_bad_values_and_duplicates(cli: Run, db: Database) -> None:
    _territory(cli)
    before = table_counts(db)
    cases = [
        (("entreprise", "create", "--nom", "X", "--siret", "821 953 452 00414"),
         "--siret : SIRET invalide « 821 953 452 00414 » : la clé de contrôle"),
        (("entreprise", "create", "--nom", "X", "--siret", "8219534520041"),
         "il a 13 chiffre(s) au lieu de 14"),
        (("entreprise", "create", "--nom", "Autre", "--siret", "82195345200413"),
         "Une entreprise a déjà le SIRET 821 953 452 00413"),
        (("donneur", "create", "--nom", "VILLE D'OULLINS"), "existe déjà"),
        (("donneur", "create", "--nom", "Ville de Lyon", "--type", "commune"),
         "--type : type de donneur inconnu « commune »"),
        (("marche", "create", "--donneur", "Ville d'Oullins", "--ref", "2025-099",
          "--intitule", "Gymnase", "--type", "clause_sociale", "--montant", "-12",
          "--debut", "31/02/2025", "--fin", "01/01/2025"),
         "--type : type de marché inconnu « clause_sociale »"),
        (("marche", "create", "--donneur", "Ville d'Oullins", "--ref", "2025-099",
          "--intitule", "Gymnase", "--type", "clause_execution", "--debut", "01/09/2025",
          "--fin", "01/01/2025"), "--fin : la fin (01/01/2025) est avant le début (01/09/2025)"),
        (("marche", "create", "--donneur", "Ville de Lyon", "--ref", "2025-099",
          "--intitule", "Gymnase", "--type", "clause_execution", "--debut", "01/01/2025",
          "--fin", "01/09/2025"), "Donneur d'ordre inconnu « Ville de Lyon »"),
        (("marche", "create", "--donneur", "Ville d'Oullins", "--ref", "2025-017",
          "--intitule", "Gymnase", "--type", "clause_execution", "--debut", "01/01/2025",
          "--fin", "01/09/2025"), "Le marché 2025-017 existe déjà"),
        (("lot", "create", "--marche", "2025-017", "--numero", "4"),
         "indiquez les heures d'insertion dues"),
        (("lot", "create", "--marche", "2025-017", "--numero", "4", "--corps-etat", "jardinage",
          "--montant", "1000"), "--corps-etat : corps d'état inconnu « jardinage »"),
        (("lot", "create", "--marche", "2025-017", "--numero", "2", "--heures", "10"),
         "Le lot 2 du marché 2025-017 existe déjà"),
        (("engagement", "create", "--marche", "2025-017", "--lot", "9", "--entreprise",
          "82195345200413"), "Lot « 9 » inconnu"),
        (("engagement", "create", "--marche", "2025-017", "--lot", "2", "--entreprise",
          "82195345200413", "--heures", "1.500"), "--heures : Nombre d'heures ambigu"),
        (("engagement", "create", "--marche", "2025-017", "--lot", "2", "--entreprise",
          "Inconnue SA"), "Entreprise inconnue « Inconnue SA »"),
        (("facilitateur", "create", "--nom", "Autre", "--email", "fanny.morel@agence.example"),
         "a déjà l'e-mail"),
        (("facilitateur", "create", "--nom", "Autre", "--email", "pas-une-adresse"),
         "adresse e-mail invalide"),
    ]
    for args, expected in cases:
        result = cli(*args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("Erreur : "), result.stderr
        assert expected in result.stderr, (args, result.stderr)
    assert table_counts(db) == before


def test_lists_on_an_empty_database(cli: Run) -> None:
    assert "Aucun donneur d'ordre." in cli("donneur", "list").output
    assert "Aucun marché." in cli("marche", "list").output
    assert "Aucune entreprise." in cli("entreprise", "list").output
    assert "Aucun engagement." in cli("engagement", "list").output
    assert "Aucun·e facilitateur·rice." in cli("facilitateur", "list").output


def test_uninitialised_database_gets_a_french_hint(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from clausebot.cli import main

    monkeypatch.chdir(tmp_path)
    env = {"CLAUSEBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'vide.sqlite3'}",
           "CLAUSEBOT_DATA_DIR": str(tmp_path / "data"), "CLAUSEBOT_RULEBOOK": "default"}
    result = CliRunner().invoke(main, ["donneur", "list"], env=env)
    assert result.exit_code == 1
    assert "pas initialisée : lancez « clausebot db upgrade »" in result.stderr


def test_an_anru_market_takes_its_qpv_share_in_any_usual_spelling(cli: Run, db: Database) -> None:
    _territory(cli)
    for ref, typed, expected in (("A-1", "5 %", "0.0500"), ("A-2", "0,05", "0.0500"),
                                 ("A-3", "12,5", "0.1250")):
        result = cli("marche", "create", "--donneur", "Ville d'Oullins", "--ref", ref,
                     "--intitule", "Renouvellement urbain", "--type", "clause_execution",
                     "--debut", "03/02/2025", "--fin", "30/06/2026", "--part-qpv", typed)
        assert result.exit_code == 0, result.output
        with db.session() as s:
            share = s.scalar(select(Market.qpv_hours_share_min).where(Market.reference == ref))
        assert share == Decimal(expected), (typed, share)
    refused = cli("marche", "create", "--donneur", "Ville d'Oullins", "--ref", "A-4",
                  "--intitule", "x", "--type", "clause_execution", "--debut", "03/02/2025",
                  "--fin", "30/06/2026", "--part-qpv", "150 %")
    assert refused.exit_code == 1 and "--part-qpv" in refused.output and "Part" in refused.output
