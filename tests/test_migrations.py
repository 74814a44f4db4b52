"""Migrations go from empty to head and back, and the head matches the models exactly."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import inspect

from clausebot.cli import main
from storage import migrate
from storage.db import Database
from storage.models import Base


def test_upgrade_to_head_then_downgrade_to_base(empty_db_url):
    db = Database(empty_db_url)
    try:
        migrate.upgrade(db)
        assert migrate.current_revision(db) == migrate.head_revision()
        tables = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert migrate.pending_differences(db) == []
        migrate.downgrade(db, "base")
        left = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert left == set()
        migrate.upgrade(db)  # and up again: the downgrade left nothing behind
        assert migrate.current_revision(db) == migrate.head_revision()
    finally:
        db.dispose()


def test_cli_db_upgrade_is_idempotent(empty_db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("CLAUSEBOT_DATABASE_URL", empty_db_url)
    monkeypatch.setenv("CLAUSEBOT_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert "Base à jour" in first.output
    second = runner.invoke(main, ["db", "upgrade"])
    assert second.exit_code == 0
    current = runner.invoke(main, ["db", "current"])
    assert migrate.head_revision() in current.output


def test_a_migrated_sqlite_database_never_reuses_meeting_ids(tmp_path):
    """Meeting reminders are keyed by meeting id: the migrated table has AUTOINCREMENT too."""
    from sqlalchemy import text

    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    try:
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'meetings'")).scalar()
        assert "AUTOINCREMENT" in ddl
        assert migrate.pending_differences(db) == []
    finally:
        db.dispose()


def test_the_service_start_check_agrees_with_alembic_on_the_head(empty_db_url, tmp_path):
    """`clausebot run` skips Alembic when the schema is at the head (storage.schema_version):
    its head must be Alembic's, an older revision or a new database must upgrade."""
    from storage import schema_version

    assert schema_version.heads() == {migrate.head_revision()}
    db = Database(empty_db_url)
    try:
        assert schema_version.current(db) == frozenset()
        assert schema_version.upgrade_if_needed(db) is True  # a new database is created
        assert migrate.current_revision(db) == migrate.head_revision()
        assert schema_version.at_head(db)
        assert schema_version.upgrade_if_needed(db) is False  # nothing to do: Alembic untouched
        migrate.downgrade(db, "0008")
        assert not schema_version.at_head(db)
        assert schema_version.upgrade_if_needed(db) is True  # one revision behind: upgraded
        assert migrate.current_revision(db) == migrate.head_revision()
        assert migrate.pending_differences(db) == []
    finally:
        db.dispose()
    # a branched history (two files revising the same parent) has two heads
    versions = tmp_path / "versions"
    versions.mkdir()
    for rev, down in (("a1", None), ("b2", "a1"), ("c3", "a1"), ("d4", ("b2", "c3")), ("e5", "a1")):
        (versions / f"{rev}.py").write_text(f"revision = {rev!r}\ndown_revision = {down!r}\n")
    assert schema_version.heads(versions) == {"d4", "e5"}
