"""`clausebot rgpd export|erase|matrice`, `clausebot purge` and `clausebot audit`, end to end.

The commands run through click against the test database (SQLite or PostgreSQL) with the real
clock, so dates are set relative to today.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from clausebot.cli import main
from clauses.authz import DENIED_FR
from clauses.rgpd import matrix_markdown
from storage.documents import DocumentStore
from storage.models import (
    AuditEntry,
    CandidatureStatus,
    Channel,
    Document,
    InboundMail,
    MailStatus,
    Participant,
    utcnow,
)
from tests import factories as f
from tests.privacy._world import candidature


@pytest.fixture
def cli(db, tmp_path: Path, monkeypatch):
    """Run `clausebot ...` on the test database; returns (invoke, document store)."""
    data_dir = tmp_path / "data"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLAUSEBOT_CONFIG", raising=False)
    env = {"CLAUSEBOT_DATABASE_URL": db.url, "CLAUSEBOT_DATA_DIR": str(data_dir)}
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke, DocumentStore(data_dir / "documents")


def _person(db, store: DocumentStore, *, running: bool) -> tuple[int, str]:
    today = dt.date.today()
    with db.session() as s:
        t = f.territory(s)
        k = t["contract"]
        k.start_date = today - dt.timedelta(days=200)
        k.end_date = None if running else today - dt.timedelta(days=10)
        cv = store.store(s, b"%PDF-1.4 cv", kind="cv", participant_id=t["participant"].id)
        return t["participant"].id, cv.sha256


def test_erase_shows_the_plan_and_needs_confirm(db, cli):
    invoke, store = cli
    pid, sha = _person(db, store, running=False)
    out = invoke("rgpd", "erase", str(pid))
    assert out.exit_code == 1
    assert "Ce qui sera effacé" in out.output and "DUPONT Marie" in out.output
    assert "Rien n'a été effacé" in out.output
    with db.session() as s:
        assert s.get(Participant, pid).last_name == "Dupont"
    out = invoke("rgpd", "erase", str(pid), "--confirm")
    assert out.exit_code == 0, out.output
    assert "effacée" in out.output
    with db.session() as s:
        assert s.get(Participant, pid).last_name == "EFFACÉ"
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "rgpd.erase"))
        assert entry.channel == Channel.CLI and entry.actor_label.startswith("cli:")
    assert not store.path_for(sha).exists()


def test_erase_with_a_running_contract_needs_force_with_a_reason(db, cli):
    invoke, store = cli
    pid, _ = _person(db, store, running=True)
    out = invoke("rgpd", "erase", str(pid), "--confirm")
    assert out.exit_code == 1
    assert "contrat(s) en cours" in out.output and "--force" in out.output
    out = invoke("rgpd", "erase", str(pid), "--confirm", "--force", " ")
    assert out.exit_code == 2
    with db.session() as s:
        assert s.get(Participant, pid).last_name == "Dupont"
    out = invoke("rgpd", "erase", str(pid), "--confirm", "--force", "demande de la personne")
    assert out.exit_code == 0, out.output
    with db.session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "rgpd.erase"))
        assert entry.detail["force_reason"] == "demande de la personne"


def test_unknown_person_gets_the_neutral_message(db, cli):
    invoke, _ = cli
    for args in (("rgpd", "erase", "4242", "--confirm"), ("rgpd", "export", "4242")):
        out = invoke(*args)
        assert out.exit_code == 1
        assert DENIED_FR in out.output


def test_export_writes_a_zip_with_json_and_documents(db, cli, tmp_path):
    invoke, store = cli
    pid, _ = _person(db, store, running=True)
    target = tmp_path / "export.zip"
    out = invoke("rgpd", "export", str(pid), "--sortie", str(target))
    assert out.exit_code == 0, out.output
    assert "1 document(s)" in out.output
    with zipfile.ZipFile(target) as zf:
        data = json.loads(zf.read(f"personne-{pid}.json"))
        assert data["personne"]["last_name"] == "Dupont"
        assert zf.read(data["documents"][0]["fichier"]) == b"%PDF-1.4 cv"
    out = invoke("rgpd", "export", str(pid))  # default name in the current directory
    assert out.exit_code == 0 and (tmp_path / f"export-personne-{pid}.zip").exists()


def test_purge_dry_run_then_real(db, cli):
    invoke, store = cli
    with db.session() as s:
        p = f.participant(s, "Refus", "Ana")
        candidature(s, p, status=CandidatureStatus.REFUSEE,
                    decided_at=utcnow() - dt.timedelta(days=200))
        raw = store.store(s, b"From: x@y.test\r\n\r\nhello", kind="raw_email",
                          mime_type="message/rfc822")
        s.add(InboundMail(account="a", folder="INBOX", uidvalidity=1, uid=1, raw_document_id=raw.id,
                          status=MailStatus.TRAITE, moved_at=utcnow() - dt.timedelta(days=120)))
        pid = p.id
    out = invoke("purge", "--dry-run")
    assert out.exit_code == 0, out.output
    assert "Simulation" in out.output and f"n° {pid}" in out.output
    assert "1 e-mail(s) brut(s) seraient supprimé(s)" in out.output
    with db.session() as s:
        assert s.get(Participant, pid) is not None
    out = invoke("purge", "--json")
    report = json.loads(out.output)
    assert report["rejected_participants"] == [pid] and len(report["raw_mails"]) == 1
    assert report["dry_run"] is False
    with db.session() as s:
        assert s.get(Participant, pid) is None
        assert s.scalar(select(Document.id)) is None
    assert "Rien à purger." in invoke("purge").output


def test_audit_command_filters_and_rejects_bad_dates(db, cli):
    invoke, store = cli
    pid, _ = _person(db, store, running=True)
    with db.session() as s:
        s.add(AuditEntry(actor_label="Fanny", channel=Channel.TELEGRAM, action="participant.read",
                         subject_type="participant", subject_id=pid,
                         at=dt.datetime(2024, 1, 5, 9, 0, tzinfo=dt.UTC)))
    invoke("rgpd", "export", str(pid))
    out = invoke("audit", "--participant", str(pid))
    assert out.exit_code == 0, out.output
    assert "rgpd.export" in out.output and "participant.read" in out.output
    assert "05/01/2024" in out.output and "2 entrée(s)." in out.output
    out = invoke("audit", "--participant", str(pid), "--depuis", "01/01/2025")
    assert "participant.read" not in out.output and "rgpd.export" in out.output
    out = invoke("audit", "--acteur", "fanny", "--json")
    lines = [json.loads(line) for line in out.output.splitlines()]
    assert [e["action"] for e in lines] == ["participant.read"]
    out = invoke("audit", "--depuis", "2025-01-01")
    assert out.exit_code == 2 and "JJ/MM/AAAA" in out.output


def test_matrix_command_prints_the_generated_table(cli):
    invoke, _ = cli
    out = invoke("rgpd", "matrice")
    assert out.output.strip() == matrix_markdown("fr")
