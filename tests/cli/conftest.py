"""Fixtures of the admin CLI tests: the real `clausebot` group run against the `db` fixture.

Each invocation goes through click's CliRunner with CLAUSEBOT_DATABASE_URL set to the test
database (SQLite or PostgreSQL), exactly as an operator would run it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from storage.db import Database
from storage.models import AuditEntry, Company, Contact, Donneur, Engagement, Lot, Market

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Run = Callable[..., Result]


@pytest.fixture
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """`cli("marche", "list")` runs `clausebot marche list` on the test database."""
    from clausebot.cli import main

    monkeypatch.chdir(tmp_path)  # no stray ./clausebot.toml is picked up
    monkeypatch.delenv("CLAUSEBOT_CONFIG", raising=False)
    env = {
        "CLAUSEBOT_DATABASE_URL": db.url,
        "CLAUSEBOT_DATA_DIR": str(tmp_path / "data"),
        "CLAUSEBOT_RULEBOOK": "default",
    }
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return run


def table_counts(db: Database) -> dict[str, int]:
    """Row counts of every table an import or a create command may write."""
    with db.session() as s:
        return {model.__tablename__: s.scalar(select(func.count()).select_from(model)) or 0
                for model in (Donneur, Market, Lot, Company, Contact, Engagement, AuditEntry)}
