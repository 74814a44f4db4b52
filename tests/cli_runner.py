"""The `clausebot` command group run as an operator would, against a test database.

Shared by the `cli` fixtures of the CLI, journey and scheduler tests: each invocation goes
through click's CliRunner with CLAUSEBOT_DATABASE_URL set to the test database (SQLite or
PostgreSQL), from an empty working directory so that no stray ./clausebot.toml is picked up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from storage.db import Database

Run = Callable[..., Result]


def cli_runner(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """`run("marche", "list")` runs `clausebot marche list` on `db`; exceptions propagate."""
    from clausebot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLAUSEBOT_CONFIG", raising=False)
    env = {"CLAUSEBOT_DATABASE_URL": db.url, "CLAUSEBOT_DATA_DIR": str(tmp_path / "data"),
           "CLAUSEBOT_RULEBOOK": "default"}
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return run
