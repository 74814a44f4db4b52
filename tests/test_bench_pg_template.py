"""The bench's PostgreSQL cache (issue 20): a template database per cache key, built once by
copying the cached SQLite file, then copied per run.

Real PostgreSQL (the tests' session server, handed to :class:`bench.databases.Backends`), the
``tiny`` size. The check that matters: the copy holds the same rows as the SQLite file AND as a
generation of the same seed straight on PostgreSQL, so a national PostgreSQL row measured on the
copy measures the territory the generator describes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from bench.databases import Backends, template_name
from bench.generator import generate
from bench.loader import fingerprint
from bench.sizes import TINY
from bench.sql import RawSQL, raw
from storage.db import Database

TODAY = dt.date(2026, 11, 24)
SEED = 11


def _templates(server: Any) -> dict[str, bool]:
    with server._connect() as conn:
        rows = conn.execute("SELECT datname, datistemplate FROM pg_database "
                            "WHERE datname LIKE 'tpl\\_%'").fetchall()
    return {name: is_template for name, is_template in rows}


@pytest.fixture
def clean_templates(postgres_server) -> Iterator[Any]:
    """Drop the templates a test built (the session server is shared)."""
    before = set(_templates(postgres_server))
    yield postgres_server
    with postgres_server._connect() as conn:
        for name in set(_templates(postgres_server)) - before:
            conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(
                sql.Identifier(name)))
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _backends(workdir: Path, server: Any, rulebook: Any, logs: list[str],
              today: dt.date = TODAY, build: str = "sqlite") -> Backends:
    return Backends(workdir, seed=SEED, today=today, rulebook=rulebook, log=logs.append,
                    pg_server=server, pg_build=build)


def _sqlite_fingerprint(path: Path) -> dict[str, Any]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return fingerprint(RawSQL(conn, "sqlite"))
    finally:
        conn.close()


def test_template_is_built_once_then_copied_per_run(clean_templates, rulebook,
                                                    tmp_path: Path) -> None:
    server = clean_templates
    logs: list[str] = []
    with _backends(tmp_path, server, rulebook, logs) as first:
        key = first._key(TINY)
        bench_db = first.database("postgres", TINY)
        assert not bench_db.cached
        assert _templates(server).get(template_name(key)) is True
        assert any("copying" in line for line in logs)
        with raw(bench_db.db) as conn:
            copied = fingerprint(conn)
        # a measurement writes into its copy: the template must not see it
        with raw(bench_db.db) as conn:
            conn.execute("DELETE FROM declaration_revisions")
            conn.commit()
        run_db_name = bench_db.db.engine.url.database
    # the run's copy is gone, the template stays
    with server._connect() as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert run_db_name not in names and template_name(key) in names
    sqlite_file = tmp_path / f"{key}.sqlite3"
    assert copied == _sqlite_fingerprint(sqlite_file)
    assert copied["hour_declarations"][0] > 500

    # the next run (a new process would do the same) reuses the template: no generation, no copy
    logs.clear()
    with _backends(tmp_path, server, rulebook, logs) as second:
        again = second.database("postgres", TINY)
        assert again.cached
        assert again.report.year_declarations == bench_db.report.year_declarations
        assert not any("generating" in line or "copying" in line for line in logs)
        with raw(again.db) as conn:
            assert fingerprint(conn) == copied  # the deletion above did not reach the template


def test_copy_from_sqlite_holds_what_the_generator_writes_on_postgres(
        clean_templates, rulebook, tmp_path: Path, postgres_url: str) -> None:
    logs: list[str] = []
    with _backends(tmp_path, clean_templates, rulebook, logs) as backends:
        copied_db = backends.database("postgres", TINY)
        with raw(copied_db.db) as conn:
            copied = fingerprint(conn)
    generated_db = Database(postgres_url)
    try:
        generate(generated_db, TINY, rulebook, seed=SEED, today=TODAY)
        with raw(generated_db) as conn:
            generated = fingerprint(conn)
    finally:
        generated_db.dispose()
    assert copied == generated


def test_another_key_gets_its_own_template_and_a_stale_one_is_rebuilt(
        clean_templates, rulebook, tmp_path: Path) -> None:
    server = clean_templates
    logs: list[str] = []
    later = TODAY + dt.timedelta(days=31)
    with _backends(tmp_path, server, rulebook, logs) as backends:
        backends.database("postgres", TINY)
        first_key = backends._key(TINY)
    with _backends(tmp_path, server, rulebook, logs, today=later, build="generate") as backends:
        other = backends.database("postgres", TINY)
        other_key = backends._key(TINY)
        assert not other.cached and any("generating" in line for line in logs)
        assert other.report.today == later
    assert other_key != first_key
    templates = _templates(server)
    assert templates.get(template_name(first_key)) and templates.get(template_name(other_key))
    # a template whose comment names another key (a hash collision, a hand edit) is rebuilt
    with server._connect() as conn:
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(template_name(other_key)), sql.Literal('{"key": "something else"}')))
    logs.clear()
    with _backends(tmp_path, server, rulebook, logs, today=later) as backends:
        rebuilt = backends.database("postgres", TINY)
        assert not rebuilt.cached and any("copying" in line for line in logs)
        assert rebuilt.report.today == later


def test_unknown_build_is_refused(tmp_path: Path, rulebook) -> None:
    with pytest.raises(ValueError, match="unknown PostgreSQL build"):
        Backends(tmp_path, seed=SEED, today=TODAY, rulebook=rulebook, pg_build="pg_dump")


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A work directory the ``postgres`` user can reach (pytest's tmp_path is private to root)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="clausebot-benchpg-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_bench_cluster_is_shared_by_runs_and_keeps_its_databases(workdir: Path) -> None:
    from bench.pg_cluster import PersistentCluster

    tmp_path = workdir
    first = PersistentCluster.in_workdir(tmp_path).start()
    try:
        first.create_database("kept")
        second = PersistentCluster.in_workdir(tmp_path).start()
        assert second.port == first.port and second.proc is None  # found running, not spawned
        first.stop()  # the other run still uses it: it keeps running
        assert "kept" in second.list_databases()
        second.stop()  # the last run leaves: the server stops
        assert not (tmp_path / "pg15" / "port").exists()
        assert not (first.datadir / "postmaster.pid").exists()
        # the next run starts it again from the same data directory: the database is still there
        third = PersistentCluster.in_workdir(tmp_path).start()
        try:
            assert "kept" in third.list_databases()
        finally:
            third.stop()
    finally:
        first.stop()
