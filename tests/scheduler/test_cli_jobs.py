"""`clausebot jobs`: the list with next runs, dry runs that say what and to whom, real runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Alert, Donneur, KeyValue, OutboxMessage
from tests import factories as f
from tests.cli_runner import Run, cli_runner
from tests.queries import count_rows


@pytest.fixture
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    return cli_runner(db, tmp_path, monkeypatch)


def test_jobs_lists_every_job_with_its_next_run(cli):
    result = cli("jobs")
    assert result.exit_code == 0, result.output
    assert "Tâches planifiées (fuseau Europe/Paris)" in result.output
    for job_id in ("declaration_reminders", "lateness", "escalation_deadlines", "meetings",
                   "conventions", "market_ends", "annual_bilans", "outbox"):
        line = next(x for x in result.output.splitlines() if x.strip().startswith(job_id))
        assert "prochaine : " in line and "/20" in line  # a dd/mm/yyyy hh:mm date
    assert "Rappels de déclaration mensuelle" in result.output


def test_dry_run_shows_what_and_to_whom_and_writes_nothing(cli, db):
    with db.session() as s:
        f.territory(s)
    result = cli("jobs", "run", "declaration_reminders", "--dry-run", "--date", "2025-06-16")
    assert result.exit_code == 0, result.output
    assert "Simulation au 16/06/2025 (rien n'est envoyé ni enregistré)" in result.output
    assert ("e-mail  → chef@btp-rhone.test : Rappel : déclaration des heures d'insertion de "
            "mai 2025 — BTP Rhône") in result.output
    assert "Rappel : déclaration des heures d'insertion d'avril 2025" in result.output
    assert "2 seraient traités" in result.output
    assert count_rows(db, OutboxMessage) == 0 and count_rows(db, KeyValue) == 0

    lateness = cli("jobs", "run", "lateness", "--dry-run", "--date", "2025-06-16")
    assert "alerte  → Fanny Facilitatrice : BTP Rhône est en retard" in lateness.output
    assert count_rows(db, OutboxMessage) == 0


def test_a_real_run_sends_once(cli, db):
    with db.session() as s:
        f.territory(s)  # the market ended on 2025-12-31 with hours owed: late (real clock)
    first = cli("jobs", "run", "lateness")
    assert first.exit_code == 0, first.output
    assert "alerte  → Fanny Facilitatrice : BTP Rhône est en retard" in first.output
    assert "e-mail  → fanny@agence.test" in first.output
    second = cli("jobs", "run", "lateness")
    assert "rien à envoyer" in second.output
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 1
        assert s.get(KeyValue, "job_last_run:lateness") is not None


def test_refusals_are_in_french(cli):
    unknown = cli("jobs", "run", "rappels")
    assert unknown.exit_code == 1
    assert "Tâche inconnue : « rappels »" in unknown.output
    dated = cli("jobs", "run", "meetings", "--date", "2025-06-16")
    assert dated.exit_code == 1 and "--date ne s'utilise qu'avec --dry-run" in dated.output
    outbox = cli("jobs", "run", "outbox")
    assert outbox.exit_code == 1 and "assuré par le service" in outbox.output


def test_approve_bilan_from_the_cli(cli, db):
    with db.session() as s:
        donneur_id = f.donneur(s, "Ville d'Oullins").id
    first = cli("jobs", "approve-bilan", str(donneur_id), "2025")
    assert first.exit_code == 0 and "Bilan annuel 2025 approuvé" in first.output
    again = cli("jobs", "approve-bilan", str(donneur_id), "2025")
    assert "déjà approuvé" in again.output
    missing = cli("jobs", "approve-bilan", "999", "2025")
    assert missing.exit_code == 1 and "Donneur d'ordre introuvable" in missing.output
    with db.session() as s:
        assert s.get(Donneur, donneur_id) is not None
        assert s.get(KeyValue, f"bilan_annuel_ok:{donneur_id}:2025") is not None
