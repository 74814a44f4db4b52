"""The benchmark's databases: generated once per size, on SQLite and on PostgreSQL.

SQLite files are cached in the work directory (keyed by size, history, seed, today and the
generator's version), because the national file takes minutes to build; every run works on a
fresh copy so that a measurement that writes never alters the cache. PostgreSQL runs as a
throwaway cluster (the test-suite's :class:`tests.servers.postgres.PostgresServer`), or on an
existing server given by ``--pg-url``, and is generated per run with COPY.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from bench.generator import GENERATOR_VERSION, GenerationReport, generate
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
                 today: dt.date, rulebook: Any, log: Log = print) -> None:
        self.workdir = workdir
        self.pg_url = pg_url
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
            from tests.servers.postgres import ExternalPostgres, PostgresServer

            server = ExternalPostgres(self.pg_url) if self.pg_url else \
                PostgresServer(base_dir=self.workdir)
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

    def _sqlite(self, size: Size) -> BenchDatabase:
        key = self._key(size)
        cached = self.workdir / f"{key}.sqlite3"
        meta = self.workdir / f"{key}.json"
        # Several bench runs may share a workdir: one generates, the others wait for it.
        with FileLock(str(self.workdir / f"{key}.generate.lock")):
            hit = self._generate_sqlite(size, cached, meta)
        report = _report_from(json.loads(meta.read_text()))
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
        name = f"bench_{size.name.replace('-', '_')}"
        url = server.create_database(name)
        self._pg_databases.append(name)
        db = Database(url)
        self.log(f"generating {size.name} on postgres ...")
        report = generate(db, size, self.rulebook, seed=self.seed, today=self.today, log=self.log)
        for line in report.lines():
            self.log(line)
        db.dispose()
        db = Database(url)
        self._opened.append(db)
        return BenchDatabase("postgres", db, size, report, self.today)

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
        from psycopg import sql

        source_name = str(db.engine.url.database)
        name = f"{source_name}_{suffix}"[:63]
        server = self.postgres()
        with server._connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(source_name)))
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
            self._pg.stop()
            self._pg = None

    def __enter__(self) -> Backends:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _report_from(data: dict[str, Any]) -> GenerationReport:
    from decimal import Decimal

    data["today"] = dt.date.fromisoformat(data["today"])
    data["year_hours"] = Decimal(data["year_hours"])
    return GenerationReport(**data)
