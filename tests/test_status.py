"""`clausebot status` reads the service's traces from the database."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner

from clausebot.cli import main
from clausebot.status import collect_status, format_status
from clauses.outbox import enqueue_email
from storage.models import MailboxState, OutboxMessage, OutboxStatus, ServiceEvent


def test_status_shows_poll_backlog_failures_and_errors(ctx):
    with ctx.db.session() as s:
        s.add(MailboxState(account="bot@agence.test", folder="INBOX", uidvalidity=1, last_uid=9,
                           last_poll_at=dt.datetime(2025, 6, 16, 8, 30, tzinfo=dt.UTC)))
        enqueue_email(s, dedup_key="a", to="x@y.test", subject="s", text="t")
        dead, _ = enqueue_email(s, dedup_key="b", to="x@y.test", subject="s", text="t")
        dead.status = OutboxStatus.DEAD
        dead.last_error = "550 mailbox unavailable"
        s.add(ServiceEvent(component="mail", level="WARNING", message="UIDVALIDITY changée"))
    st = collect_status(ctx)
    text = format_status(st)
    assert "Dernière relève du courrier : 16/06/2025 10:30" in text
    assert "1 en attente, 0 envoyés, 1 en échec définitif" in text
    assert "550 mailbox unavailable" in text
    assert "[mail] UIDVALIDITY changée" in text
    assert any(name == "declaration_reminders" for name, _ in st.next_jobs)
    with ctx.db.session() as s:
        assert s.query(OutboxMessage).count() == 2


def test_status_command_on_a_fresh_database(db, monkeypatch, tmp_path):
    monkeypatch.setenv("CLAUSEBOT_DATABASE_URL", db.url)
    monkeypatch.setenv("CLAUSEBOT_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 0, result.output
    assert "Dernière relève du courrier : jamais" in result.output
    assert "Erreurs récentes : aucune" in result.output
