"""Fixtures of the admin CLI tests: the real `clausebot` group run against the `db` fixture.

Each invocation goes through click's CliRunner with CLAUSEBOT_DATABASE_URL set to the test
database (SQLite or PostgreSQL), exactly as an operator would run it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import AuditEntry, Company, Contact, Donneur, Engagement, Lot, Market
from tests.cli_runner import Run, cli_runner

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """`cli("marche", "list")` runs `clausebot marche list` on the test database."""
    return cli_runner(db, tmp_path, monkeypatch)


def table_counts(db: Database) -> dict[str, int]:
    """Row counts of every table an import or a create command may write."""
    with db.session() as s:
        return {model.__tablename__: s.scalar(select(func.count()).select_from(model)) or 0
                for model in (Donneur, Market, Lot, Company, Contact, Engagement, AuditEntry)}
