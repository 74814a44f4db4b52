"""Shared fixtures: every test that touches the database runs on SQLite AND on PostgreSQL.

PostgreSQL is a real server started once per test session in a temp dir (tests/servers); its
schema is created once and emptied with TRUNCATE between tests, which is much faster than a
database per test.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from clauses.clock import FixedClock
from clauses.context import Context, Policy
from storage.db import Database
from storage.documents import DocumentStore
from storage.models import Base

pytest_plugins = ["tests.servers.fixtures"]

BACKENDS = ["sqlite", "postgres"]
_fresh_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_schema_url(postgres_server) -> Iterator[str]:
    """A PostgreSQL database with the full schema, shared by the session's tests."""
    name = "clausebot_tests"
    postgres_server.create_database(name)
    url = postgres_server.url(name)
    db = Database(url)
    Base.metadata.create_all(db.engine)
    db.dispose()
    yield url


def _truncate_all(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db(backend: str, tmp_path: Path, request) -> Iterator[Database]:
    """An empty database with the current schema, on the parametrised backend."""
    if backend == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'test.sqlite3'}")
        Base.metadata.create_all(database.engine)
    else:
        url = request.getfixturevalue("pg_schema_url")
        database = Database(url)
        _truncate_all(database)
    yield database
    database.dispose()


@pytest.fixture
def empty_db_url(backend: str, tmp_path: Path, request) -> str:
    """A brand-new database with no tables at all (for migration tests)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    server = request.getfixturevalue("postgres_server")
    name = f"clausebot_fresh_{next(_fresh_counter)}"
    server.create_database(name)
    return server.url(name)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2025, 6, 16, 10, 0))


@pytest.fixture
def rulebook():
    from clauses.rulebook import load_rulebook

    return load_rulebook("default")


@pytest.fixture
def ctx(db: Database, tmp_path: Path, clock: FixedClock, rulebook) -> Context:
    return Context(
        db=db,
        documents=DocumentStore(tmp_path / "documents"),
        rulebook=rulebook,
        clock=clock,
        policy=Policy(),
    )
