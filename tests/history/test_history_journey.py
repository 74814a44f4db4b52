"""An agency's history loaded on an EMPTY database through the CLI only, then its bilan.

The territory, the registries and a facilitator come from examples/ and the CLI; the history
file is examples/agence/historique.csv. The bilan's figures are recomputed here from the CSV
with the csv module, independently of the importer.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select

from clauses.formatting import fr_hours
from storage.db import Database
from storage.models import (
    AuditEntry,
    Candidature,
    Contract,
    DeclarationRevision,
    Eligibility,
    HourDeclaration,
    Participant,
)
from tests.cli.conftest import EXAMPLES, Run

HISTORY = EXAMPLES / "agence" / "historique.csv"


def load_territory(cli: Run) -> None:
    """The README's commands before the history: territory, registries, the facilitator."""
    assert cli("import", str(EXAMPLES / "import_exemple.csv")).exit_code == 0
    assert cli("registres", "charger", str(EXAMPLES / "agence" / "registres.toml")).exit_code == 0
    assert cli("facilitateur", "create", "--nom", "Fanny Morel",
               "--email", "fanny.morel@agence.example").exit_code == 0


def counts(db: Database) -> dict[str, int]:
    with db.session() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
                for m in (Participant, Eligibility, Candidature, Contract, HourDeclaration,
                          DeclarationRevision, AuditEntry)}


def expected_from_file() -> tuple[Decimal, int, int, int]:
    """(hours, contracts, persons, exits) of 2025, from the file itself."""
    with HISTORY.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    hours = Decimal(0)
    contracts, persons, exits = set(), set(), set()
    per_contract: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in rows:
        person = (r["nom"], r["prénom"], r["date de naissance"])
        persons.add(person)
        contracts.add((*person, r["marché"], r["lot"], r["début"]))
        if r["mois"].endswith("/2025"):
            month_hours = Decimal(r["heures travail"] or 0) + Decimal(r["heures formation"] or 0)
            hours += month_hours
            per_contract[(r["nom"], r["début"])] += month_hours
        if r["sortie"]:
            exits.add(person)
    return hours, len(contracts), len(persons), len(exits)


def test_history_from_empty_database_gives_the_bilan_the_file_implies(cli: Run, db: Database) -> None:
    load_territory(cli)
    before = counts(db)

    dry = cli("historique", "importer", str(HISTORY), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "rien n'a été écrit" in dry.output
    assert counts(db) == before  # the dry run wrote nothing

    first = cli("historique", "importer", str(HISTORY))
    assert first.exit_code == 0, first.output
    hours, n_contracts, n_persons, n_exits = expected_from_file()
    after = counts(db)
    assert after["participants"] == n_persons == 4
    assert after["contracts"] == n_contracts == 4
    assert after["hour_declarations"] == 26
    assert after["eligibilities"] == 4

    again = cli("historique", "importer", str(HISTORY))
    assert again.exit_code == 0, again.output
    assert counts(db) == after  # re-import: nothing, not even an audit line

    bilan = cli("bilan", "--donneur", "Ville d'Oullins", "--annee", "2025")
    assert bilan.exit_code == 0, bilan.output
    assert f"Heures réalisées en 2025 : {fr_hours(hours)}" in bilan.output
    assert hours == Decimal(3441)
    assert f"{n_contracts} contrats · {n_persons} personnes (dont {n_persons} entrées" in bilan.output
    assert f"{n_exits} sorties" in bilan.output

    with db.session() as s:
        julie = s.scalar(select(Participant).where(Participant.first_name == "Julie"))
        assert julie is not None
        assert (julie.exit_situation, julie.exit_date) == ("recherche_emploi", dt.date(2025, 8, 31))
        assert julie.first_entry_date == dt.date(2025, 3, 3)
        assert julie.qpv is True
        kevin = s.scalar(select(Participant).where(Participant.last_name == "ROUX"))
        assert kevin is not None and kevin.first_name == "Kévin"
        contract = s.scalar(select(Contract).where(Contract.participant_id == kevin.id))
        assert contract is not None and contract.contract_type == "interim"
        cand = s.get(Candidature, contract.candidature_id)
        assert cand is not None and cand.status.value == "embauchee"
