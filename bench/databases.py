"""The benchmark's databases: generated once per size, on SQLite and on PostgreSQL.

SQLite files are cached in the work directory (keyed by size, history, seed, today, the
generator's version and the schema head), because the national file takes minutes to build;
every run works on a fresh copy so that a measurement that writes never alters the cache.

PostgreSQL keeps the same cache as TEMPLATE databases, one per key, in a cluster that survives
the run (:class:`bench.pg_cluster.PersistentCluster` under ``<workdir>/pg15``, or the server of
``--pg-url``); a template is built once, by copying the cached SQLite file with COPY (default,
minutes at national size, checked row for row against the file by :func:`bench.loader.fingerprint`)
or by the generator (``--pg-build generate``, 30–40 minutes at national size), and each run gets
its own ``CREATE DATABASE ... TEMPLATE`` copy (seconds). The key and the generator's report are
the template's comment, so a template of another key is never used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from bench.generator import GENERATOR_VERSION, GenerationReport, generate, stamp_head
from bench.sizes import Size
from storage.db import Database
from storage.migrate import head_revision

Log = Callable[[str], None]


@dataclass
class BenchDatabase:
    """One generated database and what the generator reported about it."""

    backend: str
    db: Database
    size: Size
    report: GenerationReport
    today: dt.date
    cached: bool = False

    @property
    def label(self) -> str:
        return f"{self.size.name}/{self.backend}"


class Backends:
    """Starts PostgreSQL lazily and hands out generated databases; stops everything on exit."""

    def __init__(self, workdir: Path, *, pg_url: str | None = None, seed: int,
                 today: dt.date, rulebook: Any, log: Log = print, pg_server: Any = None,
                 pg_build: str = "sqlite") -> None:
        if pg_build not in PG_BUILDS:
            raise ValueError(f"unknown PostgreSQL build {pg_build!r} ({', '.join(PG_BUILDS)})")
        self.workdir = workdir
        self.pg_url = pg_url
        self.pg_build = pg_build
        self._given_pg = pg_server
        """A running server handed in by the caller (the tests' fixture): used, never stopped."""
        self.seed = seed
        self.today = today
        self.rulebook = rulebook
        self.log = log
        self._pg: Any = None
        self._dovecot: Any = None
        self._opened: list[Database] = []
        self._pg_databases: list[str] = []
        workdir.mkdir(parents=True, exist_ok=True)

    # -- servers -------------------------------------------------------------------------------
    def postgres(self) -> Any:
        if self._pg is None:
            if self._given_pg is not None:
                self._pg = self._given_pg
                return self._pg
            from bench.pg_cluster import PersistentCluster
            from tests.servers.postgres import ExternalPostgres

            server = ExternalPostgres(self.pg_url) if self.pg_url else \
                PersistentCluster.in_workdir(self.workdir)
            server.start()
            self._pg = server
        return self._pg

    def dovecot(self) -> Any:
        """A private Dovecot (the test-suite's :class:`tests.servers.dovecot.DovecotServer`)."""
        if self._dovecot is None:
            from tests.servers.dovecot import DovecotServer

            server = DovecotServer()
            server.start()
            self._dovecot = server
        return self._dovecot

    def postgres_version(self) -> str:
        import psycopg

        with psycopg.connect(**self.postgres().admin_conninfo()) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"

    # -- databases -----------------------------------------------------------------------------
    def _key(self, size: Size) -> str:
        return (f"{size.name}-s{size.scale:g}-h{size.history_years}-seed{self.seed}-"
                f"{self.today.isoformat()}-v{GENERATOR_VERSION}-schema{head_revision()}")

    def database(self, backend: str, size: Size) -> BenchDatabase:
        if backend == "sqlite":
            return self._sqlite(size)
        if backend == "postgres":
            return self._postgres(size)
        raise ValueError(f"unknown backend {backend!r} (sqlite or postgres)")

    def _sqlite_cache(self, size: Size) -> tuple[Path, GenerationReport, bool]:
        """The cached SQLite file of ``size`` (generated if missing), its report, and whether
        it was already there."""
        key = self._key(size)
        cached = self.workdir / f"{key}.sqlite3"
        meta = self.workdir / f"{key}.json"
        # Several bench runs may share a workdir: one generates, the others wait for it.
        with FileLock(str(self.workdir / f"{key}.generate.lock")):
            hit = self._generate_sqlite(size, cached, meta)
        return cached, _report_from(json.loads(meta.read_text())), hit

    def _sqlite(self, size: Size) -> BenchDatabase:
        cached, report, hit = self._sqlite_cache(size)
        # A working copy per process: concurrent runs never write into each other's copy.
        work = self.workdir / f"work-{size.name}-{os.getpid()}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{work}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(cached, work)
        db = Database(f"sqlite:///{work}")
        self._opened.append(db)
        return BenchDatabase("sqlite", db, size, report, self.today, cached=hit)

    def _generate_sqlite(self, size: Size, cached: Path, meta: Path) -> bool:
        """Build the cached file unless it exists; True when it was already there."""
        key = cached.stem
        hit = cached.exists() and meta.exists()
        if not hit:
            for leftover in (cached, meta):
                leftover.unlink(missing_ok=True)
            building = self.workdir / f"{key}.building.sqlite3"
            building.unlink(missing_ok=True)
            self.log(f"generating {size.name} on sqlite ...")
            db = Database(f"sqlite:///{building}")
            report = generate(db, size, self.rulebook, seed=self.seed, today=self.today,
                              log=self.log)
            db.dispose()
            for line in report.lines():
                self.log(line)
            building.rename(cached)
            meta.write_text(json.dumps(asdict(report), default=str))
        return hit

    def _postgres(self, size: Size) -> BenchDatabase:
        server = self.postgres()
        key = self._key(size)
        template = template_name(key)
        with FileLock(str(self.workdir / f"{key}.pg.lock")):
            report, hit = self._template(server, size, key, template)
        name = f"bench_{size.name.replace('-', '_')}_{os.getpid()}"
        began = time.monotonic()
        _copy_database(server, template, name)
        self.log(f"{size.name} on postgres: fresh copy of the template in "
                 f"{time.monotonic() - began:.1f}s")
        self._pg_databases.append(name)
        db = Database(server.url(name))
        self._opened.append(db)
        return BenchDatabase("postgres", db, size, report, self.today, cached=hit)

    def _template(self, server: Any, size: Size, key: str,
                  template: str) -> tuple[GenerationReport, bool]:
        """The report of the template database for ``key``, built first if missing or stale;
        True when it was already there."""
        from psycopg import sql

        with server._connect() as conn:
            row = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE datname = %s", [template]).fetchone()
        if row is not None and row[0]:
            meta = json.loads(row[0])
            if meta.get("key") == key:
                return _report_from(meta["report"]), True
        began = time.monotonic()
        building = f"{template}_building"
        with server._connect() as conn:
            if row is not None:  # a stale template: templates cannot be dropped
                conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(
                    sql.Identifier(template)))
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(template)))
        db = Database(server.create_database(building))
        try:
            if self.pg_build == "generate":
                self.log(f"generating {size.name} on postgres ...")
                report = generate(db, size, self.rulebook, seed=self.seed, today=self.today,
                                  log=self.log)
                for line in report.lines():
                    self.log(line)
            else:
                report = self._load_from_sqlite(size, db)
        finally:
            db.dispose()
        with server._connect() as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(building), sql.Identifier(template)))
            conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true").format(
                sql.Identifier(template)))
            comment = json.dumps({"key": key, "built_by": self.pg_build,
                                  "report": asdict(report)}, default=str)
            conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(template), sql.Literal(comment)))
        self.log(f"{size.name} on postgres: template {template} built ({self.pg_build}) in "
                 f"{time.monotonic() - began:.1f}s")
        return report, False

    def _load_from_sqlite(self, size: Size, db: Database) -> GenerationReport:
        """Copy the cached SQLite file into ``db`` and check that both hold the same rows."""
        from bench.loader import copy_sqlite_into_postgres, fingerprint
        from bench.sql import RawSQL, raw

        cached, report, _hit = self._sqlite_cache(size)
        self.log(f"copying {cached.name} into postgres ...")
        copy_sqlite_into_postgres(str(cached), db, dt.datetime.now(dt.UTC), log=self.log)
        stamp_head(db)
        source = sqlite3.connect(f"file:{cached}?mode=ro&immutable=1", uri=True)
        try:
            expected = fingerprint(RawSQL(source, "sqlite"))
        finally:
            source.close()
        with raw(db) as conn:
            got = fingerprint(conn)
        wrong = sorted(k for k in expected if expected[k] != got.get(k))
        if wrong:
            raise RuntimeError(f"the PostgreSQL copy of {cached.name} differs: {wrong}")
        self.log(f"  same rows as the SQLite file: {len(expected) - 2} tables, "
                 f"{sum(n for n, _ in (expected[t.name] for t in _tables())):,} rows")
        return report

    def clone(self, source: BenchDatabase | Database, suffix: str) -> Database:
        """A throwaway copy of ``source`` (a measurement that writes works on copies).

        SQLite copies the file; PostgreSQL creates a database from it as a template (which needs
        the source to have no open connection: its pool is emptied first).
        """
        db = source.db if isinstance(source, BenchDatabase) else source
        db.dispose()
        if db.dialect == "sqlite":
            path = Path(str(db.engine.url.database))
            target = path.with_name(f"{path.stem}-{suffix}.sqlite3")
            for extra in ("-wal", "-shm"):
                Path(f"{target}{extra}").unlink(missing_ok=True)
            shutil.copyfile(path, target)
            return Database(f"sqlite:///{target}")
        source_name = str(db.engine.url.database)
        name = f"{source_name}_{suffix}"[:63]
        server = self.postgres()
        _copy_database(server, source_name, name)
        self._pg_databases.append(name)
        return Database(server.url(name))

    def drop_clone(self, db: Database) -> None:
        db.dispose()
        if db.dialect == "sqlite":
            path = str(db.engine.url.database)
            for extra in ("", "-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)
            return
        name = str(db.engine.url.database)
        if self._pg is not None and name in self._pg_databases:
            with contextlib.suppress(Exception):
                self._pg.drop_database(name)
            self._pg_databases.remove(name)

    def release(self, bench_db: BenchDatabase) -> None:
        """Free a database once its measurements are done (disk and server memory)."""
        bench_db.db.dispose()
        if bench_db.backend == "postgres" and self._pg is not None:
            name = bench_db.db.engine.url.database
            if name in self._pg_databases:
                with contextlib.suppress(Exception):
                    self._pg.drop_database(name)
                self._pg_databases.remove(name)
        elif bench_db.backend == "sqlite":
            path = bench_db.db.engine.url.database
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        for db in self._opened:
            with contextlib.suppress(Exception):
                db.dispose()
        if self._dovecot is not None:
            self._dovecot.stop()
            self._dovecot = None
        if self._pg is not None:
            for name in list(self._pg_databases):
                with contextlib.suppress(Exception):
                    self._pg.drop_database(name)
            if self._pg is not self._given_pg:
                self._pg.stop()
            self._pg = None

    def __enter__(self) -> Backends:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


PG_BUILDS = ("sqlite", "generate")
"""How a missing PostgreSQL template is built: copied from the cached SQLite file, or generated."""


def template_name(key: str) -> str:
    """The template database of a cache key (keys are too long and too free for a name)."""
    return "tpl_" + hashlib.sha1(key.encode()).hexdigest()[:24]


def _tables() -> list[Any]:
    from storage.models import Base

    return list(Base.metadata.sorted_tables)


def _copy_database(server: Any, source: str, target: str) -> None:
    """``CREATE DATABASE target TEMPLATE source`` (dropping a leftover ``target``).

    ``STRATEGY FILE_COPY`` (PostgreSQL 15+): copy the files after a checkpoint instead of
    WAL-logging every block, which is what makes a 3 GB copy take seconds.
    """
    from psycopg import sql

    with server._connect() as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        strategy = sql.SQL(" STRATEGY FILE_COPY") if version and int(version[0]) >= 150000 \
            else sql.SQL("")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(target)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}{}").format(
            sql.Identifier(target), sql.Identifier(source), strategy))


def _report_from(data: dict[str, Any]) -> GenerationReport:
    from decimal import Decimal

    data["today"] = dt.date.fromisoformat(data["today"])
    data["year_hours"] = Decimal(data["year_hours"])
    return GenerationReport(**data)
